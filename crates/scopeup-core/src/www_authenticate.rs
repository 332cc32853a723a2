//! `WWW-Authenticate` challenges (RFC 7235 §4.1) and the Bearer scheme's parameters
//! (RFC 6750 §3, RFC 9470, RFC 9728 §5.1): a parser for headers from untrusted peers and a
//! renderer for the challenges scopeup sends.
//!
//! The parser takes several challenges in one value and several values of one header
//! ([`parse_header_values`]), quoted strings with backslash escapes, token68 credentials, and
//! compares scheme and parameter names case-insensitively. Anything that does not follow the
//! grammar is a [`ChallengeError`], never a panic; the fuzz target in `fuzz/` checks that, and
//! that whatever it accepts renders and parses back to the same challenges.

use std::fmt::{self, Write as _};

use crate::scope::{ScopeError, ScopeSet};

/// The longest header value the parser reads, in bytes.
pub const MAX_HEADER_LEN: usize = 16 * 1024;

/// One challenge: a scheme with either a token68 or a list of parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The authentication scheme as sent (compare with [`Challenge::is_scheme`]).
    pub scheme: String,
    /// The token68 form of the credentials, where the challenge used it.
    pub token68: Option<String>,
    /// The parameters in order, names as sent, values unquoted.
    pub params: Vec<(String, String)>,
}

/// Why a header value is not a list of challenges.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChallengeError {
    /// The header was longer than [`MAX_HEADER_LEN`].
    #[error("header of {len} bytes is longer than the limit")]
    TooLong {
        /// The length seen.
        len: usize,
    },
    /// The header held no challenge.
    #[error("no challenge in header")]
    Empty,
    /// The header did not follow the grammar.
    #[error("malformed challenge at byte {position}: {expected}")]
    Malformed {
        /// Where the parser stopped.
        position: usize,
        /// What it expected there.
        expected: &'static str,
    },
}

impl Challenge {
    /// A challenge with parameters.
    pub fn new(scheme: impl Into<String>) -> Self {
        Self {
            scheme: scheme.into(),
            token68: None,
            params: Vec::new(),
        }
    }

    /// Adds a parameter.
    pub fn with_param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.push((name.into(), value.into()));
        self
    }

    /// Whether the scheme is `scheme`, compared case-insensitively.
    pub fn is_scheme(&self, scheme: &str) -> bool {
        self.scheme.eq_ignore_ascii_case(scheme)
    }

    /// The first parameter named `name`, compared case-insensitively.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(param, _)| param.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

impl fmt::Display for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.scheme)?;
        if let Some(token68) = &self.token68 {
            return write!(f, " {token68}");
        }
        for (index, (name, value)) in self.params.iter().enumerate() {
            f.write_str(if index == 0 { " " } else { ", " })?;
            write!(f, "{name}=\"")?;
            for character in value.chars() {
                if matches!(character, '"' | '\\') {
                    f.write_char('\\')?;
                }
                // A header value cannot carry control characters; a tab may stay.
                let shown = if character.is_ascii_control() && character != '\t' {
                    ' '
                } else {
                    character
                };
                f.write_char(shown)?;
            }
            f.write_char('"')?;
        }
        Ok(())
    }
}

/// Parses a `WWW-Authenticate` value into its challenges.
pub fn parse_challenges(header: &str) -> Result<Vec<Challenge>, ChallengeError> {
    if header.len() > MAX_HEADER_LEN {
        return Err(ChallengeError::TooLong { len: header.len() });
    }
    let mut parser = Parser {
        text: header.as_bytes(),
        position: 0,
    };
    let mut challenges = Vec::new();

    loop {
        parser.skip_list_separators();
        if parser.at_end() {
            break;
        }
        challenges.push(parser.challenge()?);
    }

    if challenges.is_empty() {
        return Err(ChallengeError::Empty);
    }
    Ok(challenges)
}

/// Parses every value of a `WWW-Authenticate` header (a response may send the header more
/// than once) into one list of challenges, in order. Values that hold no challenge are skipped;
/// a malformed value is an error. The combined length is limited to [`MAX_HEADER_LEN`].
pub fn parse_header_values<'a>(
    values: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<Challenge>, ChallengeError> {
    let mut challenges = Vec::new();
    let mut total = 0_usize;
    for value in values {
        total = total.saturating_add(value.len());
        if total > MAX_HEADER_LEN {
            return Err(ChallengeError::TooLong { len: total });
        }
        match parse_challenges(value) {
            Ok(found) => challenges.extend(found),
            Err(ChallengeError::Empty) => {}
            Err(error) => return Err(error),
        }
    }
    if challenges.is_empty() {
        return Err(ChallengeError::Empty);
    }
    Ok(challenges)
}

/// Renders challenges as one `WWW-Authenticate` value.
///
/// Parameter values are quoted and escaped; control characters other than tab, which a header
/// cannot carry, are rendered as spaces. Scheme names, parameter names and token68 values are
/// written as given: build them from tokens (what [`parse_challenges`] returns always is).
pub fn render_challenges(challenges: &[Challenge]) -> String {
    let mut rendered = String::new();
    for (index, challenge) in challenges.iter().enumerate() {
        if index > 0 {
            rendered.push_str(", ");
        }
        // Writing to a String cannot fail.
        let _ = write!(rendered, "{challenge}");
    }
    rendered
}

/// The parameters of a Bearer challenge that scopeup acts on.
///
/// Non-exhaustive, since RFCs keep adding parameters: start from a constructor or
/// [`BearerChallenge::default`] and set fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BearerChallenge {
    /// `realm`.
    pub realm: Option<String>,
    /// `error`: `invalid_request`, `invalid_token`, `insufficient_scope`, or another code.
    pub error: Option<String>,
    /// `error_description`: text from the peer, never to be trusted or shown unescaped.
    pub error_description: Option<String>,
    /// `scope`: for `insufficient_scope`, the scopes the resource needs.
    pub scope: Option<ScopeSet>,
    /// `resource_metadata` (RFC 9728): where the resource's metadata lives.
    pub resource_metadata: Option<String>,
    /// `acr_values` (RFC 9470): the authentication context the resource wants.
    pub acr_values: Option<String>,
    /// `max_age` (RFC 9470): the most seconds since the user authenticated.
    pub max_age: Option<u64>,
}

impl BearerChallenge {
    /// Finds the first Bearer challenge in a header value and reads its parameters. A `scope`
    /// that is not a valid scope list is an error rather than silently ignored.
    pub fn from_header(header: &str) -> Result<Option<Self>, BearerChallengeError> {
        let challenges = parse_challenges(header)?;
        let Some(bearer) = challenges
            .iter()
            .find(|challenge| challenge.is_scheme("Bearer"))
        else {
            return Ok(None);
        };
        Self::from_challenge(bearer).map(Some)
    }

    /// Finds the first Bearer challenge among every value of a `WWW-Authenticate` header.
    pub fn from_header_values<'a>(
        values: impl IntoIterator<Item = &'a str>,
    ) -> Result<Option<Self>, BearerChallengeError> {
        let challenges = parse_header_values(values)?;
        let Some(bearer) = challenges
            .iter()
            .find(|challenge| challenge.is_scheme("Bearer"))
        else {
            return Ok(None);
        };
        Self::from_challenge(bearer).map(Some)
    }

    /// Reads the parameters of a Bearer challenge.
    pub fn from_challenge(challenge: &Challenge) -> Result<Self, BearerChallengeError> {
        let owned = |name: &str| challenge.param(name).map(str::to_owned);
        let scope = challenge.param("scope").map(ScopeSet::parse).transpose()?;
        let max_age = challenge
            .param("max_age")
            .map(|value| {
                value
                    .parse::<u64>()
                    .map_err(|_| BearerChallengeError::MaxAge)
            })
            .transpose()?;

        Ok(Self {
            realm: owned("realm"),
            error: owned("error"),
            error_description: owned("error_description"),
            scope,
            resource_metadata: owned("resource_metadata"),
            acr_values: owned("acr_values"),
            max_age,
        })
    }

    /// An `insufficient_scope` challenge naming `scope`, and the resource metadata URL where
    /// given (MCP authorization, step-up).
    pub fn insufficient_scope(scope: ScopeSet, resource_metadata: Option<String>) -> Self {
        Self {
            error: Some("insufficient_scope".to_owned()),
            scope: Some(scope),
            resource_metadata,
            ..Self::default()
        }
    }

    /// The challenge for a request that carried no credentials: no error code, as RFC 6750
    /// §3.1 asks, and the resource metadata URL where given (RFC 9728 §5.1), so that the client
    /// can find the authorization server.
    pub fn authentication_required(resource_metadata: Option<String>) -> Self {
        Self {
            resource_metadata,
            ..Self::default()
        }
    }

    /// An `invalid_token` challenge: the credentials sent were expired, revoked or not
    /// recognized (RFC 6750 §3.1).
    pub fn invalid_token(resource_metadata: Option<String>) -> Self {
        Self {
            error: Some("invalid_token".to_owned()),
            resource_metadata,
            ..Self::default()
        }
    }

    /// Whether the challenge's error is `insufficient_scope`.
    pub fn is_insufficient_scope(&self) -> bool {
        self.error.as_deref() == Some("insufficient_scope")
    }

    /// Whether the challenge's error is `invalid_token`.
    pub fn is_invalid_token(&self) -> bool {
        self.error.as_deref() == Some("invalid_token")
    }

    /// This challenge in the generic form.
    pub fn to_challenge(&self) -> Challenge {
        let mut challenge = Challenge::new("Bearer");
        let mut push = |name: &str, value: Option<String>| {
            if let Some(value) = value {
                challenge.params.push((name.to_owned(), value));
            }
        };
        push("realm", self.realm.clone());
        push("error", self.error.clone());
        push("error_description", self.error_description.clone());
        push("scope", self.scope.as_ref().map(ToString::to_string));
        push("resource_metadata", self.resource_metadata.clone());
        push("acr_values", self.acr_values.clone());
        push("max_age", self.max_age.map(|age| age.to_string()));
        challenge
    }
}

impl fmt::Display for BearerChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.to_challenge(), f)
    }
}

/// Why a Bearer challenge could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BearerChallengeError {
    /// The header was not a list of challenges.
    #[error("malformed WWW-Authenticate header")]
    Header(#[from] ChallengeError),
    /// The `scope` parameter was not a scope list.
    #[error("malformed scope parameter")]
    Scope(#[from] ScopeError),
    /// The `max_age` parameter was not a whole number.
    #[error("max_age is not a whole number of seconds")]
    MaxAge,
}

struct Parser<'a> {
    text: &'a [u8],
    position: usize,
}

impl Parser<'_> {
    fn challenge(&mut self) -> Result<Challenge, ChallengeError> {
        let scheme = self
            .token()
            .ok_or(self.malformed("an authentication scheme"))?;
        let mut challenge = Challenge::new(scheme);

        // The scheme may stand alone, or be followed by one space and a token68 or parameters.
        if !self.skip_spaces() {
            return Ok(challenge);
        }
        if let Some(token68) = self.token68() {
            challenge.token68 = Some(token68);
            return Ok(challenge);
        }

        loop {
            let before = self.position;
            let Some(name) = self.token() else {
                return Ok(challenge);
            };
            self.skip_spaces();
            if !self.eat(b'=') {
                // A bare token after a comma begins the next challenge.
                self.position = before;
                return Ok(challenge);
            }
            self.skip_spaces();
            let value = match self.peek() {
                Some(b'"') => self.quoted_string()?,
                _ => self
                    .token()
                    .ok_or(self.malformed("a token or quoted string"))?,
            };
            challenge.params.push((name, value));

            self.skip_spaces();
            if self.at_end() {
                return Ok(challenge);
            }
            if !self.eat(b',') {
                return Err(self.malformed("a comma"));
            }
            self.skip_list_separators();
        }
    }

    // A token68 is only taken when it is the whole rest of this challenge: followed by the end or
    // a comma, not by `=` and a value (which would make it a parameter name).
    fn token68(&mut self) -> Option<String> {
        let start = self.position;
        let mut end = start;
        while end < self.text.len() && is_token68_char(self.text[end]) {
            end += 1;
        }
        if end == start {
            return None;
        }
        let mut after = end;
        while after < self.text.len() && self.text[after] == b'=' {
            after += 1;
        }
        let mut next = after;
        while next < self.text.len() && matches!(self.text[next], b' ' | b'\t') {
            next += 1;
        }
        let ends_here = next == self.text.len() || self.text[next] == b',';
        if !ends_here {
            return None;
        }
        self.position = after;
        Some(String::from_utf8_lossy(&self.text[start..after]).into_owned())
    }

    fn token(&mut self) -> Option<String> {
        let start = self.position;
        while self.peek().is_some_and(is_token_char) {
            self.position += 1;
        }
        (self.position > start)
            .then(|| String::from_utf8_lossy(&self.text[start..self.position]).into_owned())
    }

    fn quoted_string(&mut self) -> Result<String, ChallengeError> {
        self.position += 1;
        let mut value = Vec::new();
        loop {
            match self.peek() {
                None => return Err(self.malformed("a closing quote")),
                Some(b'"') => {
                    self.position += 1;
                    return String::from_utf8(value).map_err(|_| self.malformed("UTF-8 text"));
                }
                Some(b'\\') => {
                    // quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
                    self.position += 1;
                    let escaped = self.peek().ok_or(self.malformed("an escaped character"))?;
                    if !is_quoted_text(escaped) {
                        return Err(self.malformed("a printable escaped character"));
                    }
                    value.push(escaped);
                    self.position += 1;
                }
                Some(byte) if is_quoted_text(byte) => {
                    value.push(byte);
                    self.position += 1;
                }
                Some(_) => return Err(self.malformed("a printable character")),
            }
        }
    }

    fn skip_spaces(&mut self) -> bool {
        let start = self.position;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.position += 1;
        }
        self.position > start
    }

    fn skip_list_separators(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.position += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        if found {
            self.position += 1;
        }
        found
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.position).copied()
    }

    fn at_end(&self) -> bool {
        self.position >= self.text.len()
    }

    fn malformed(&self, expected: &'static str) -> ChallengeError {
        ChallengeError::Malformed {
            position: self.position,
            expected,
        }
    }
}

fn is_token_char(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

// HTAB, SP, VCHAR and obs-text: what a quoted string may hold.
fn is_quoted_text(byte: u8) -> bool {
    byte == b'\t' || byte >= 0x20 && byte != 0x7F
}

fn is_token68_char(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"-._~+/".contains(&byte)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(header: &str, expected: &str) {
        let challenges = parse_challenges(header).unwrap();
        let shown: Vec<String> = challenges
            .iter()
            .map(|challenge| {
                let params: Vec<String> = challenge
                    .params
                    .iter()
                    .map(|(name, value)| format!("{name}={value}"))
                    .collect();
                format!("{}[{}]{}", challenge.scheme, params.join(";"), {
                    challenge
                        .token68
                        .as_deref()
                        .map(|t| format!("<{t}>"))
                        .unwrap_or_default()
                })
            })
            .collect();
        assert_eq!(shown.join(" | "), expected);
    }

    #[test]
    fn parses_the_shapes_providers_send() {
        check(
            r#"Bearer error="insufficient_scope", scope="a b c""#,
            "Bearer[error=insufficient_scope;scope=a b c]",
        );
        check(r#"Bearer realm="example""#, "Bearer[realm=example]");
        check("Bearer", "Bearer[]");
        check(
            "Basic YWxhZGRpbjpvcGVuc2VzYW1l==",
            "Basic[]<YWxhZGRpbjpvcGVuc2VzYW1l==>",
        );
        check(
            r#"Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple""#,
            r#"Newauth[realm=apps;type=1;title=Login to "apps"] | Basic[realm=simple]"#,
        );
        check(
            r#"bearer  Error = "x" ,scope="y""#,
            "bearer[Error=x;scope=y]",
        );
        check(
            "Negotiate, Bearer error=invalid_token",
            "Negotiate[] | Bearer[error=invalid_token]",
        );
    }

    #[test]
    fn refuses_malformed_headers() {
        assert_eq!(parse_challenges(""), Err(ChallengeError::Empty));
        assert!(parse_challenges(r#"Bearer realm="open"#).is_err());
        assert!(parse_challenges("Bearer realm=\"a\u{1}\"").is_err());
        assert!(parse_challenges("Bearer a=b c=d").is_err());
        let long = format!("Bearer realm=\"{}\"", "x".repeat(MAX_HEADER_LEN));
        assert!(matches!(
            parse_challenges(&long),
            Err(ChallengeError::TooLong { .. })
        ));
    }

    #[test]
    fn bearer_parameters_are_read_case_insensitively() {
        let challenge = BearerChallenge::from_header(
            r#"Basic realm="x", Bearer ERROR="insufficient_scope", Scope="b a", max_age=300"#,
        )
        .unwrap()
        .unwrap();
        assert!(challenge.is_insufficient_scope());
        assert_eq!(challenge.scope.unwrap().to_string(), "a b");
        assert_eq!(challenge.max_age, Some(300));
        assert!(
            BearerChallenge::from_header(r#"Basic realm="x""#)
                .unwrap()
                .is_none()
        );
        assert!(BearerChallenge::from_header(r#"Bearer scope="bad\"scope""#).is_err());
    }

    #[test]
    fn renders_insufficient_scope_step_up() {
        let scope = ScopeSet::parse("notes:read notes:write").unwrap();
        let challenge = BearerChallenge::insufficient_scope(
            scope,
            Some("https://mcp.example.com/.well-known/oauth-protected-resource".into()),
        );
        assert_eq!(
            challenge.to_string(),
            r#"Bearer error="insufficient_scope", scope="notes:read notes:write", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource""#
        );
    }

    #[test]
    fn rendering_escapes_and_round_trips() {
        let original = Challenge::new("Bearer")
            .with_param("realm", r#"say "hi" \ bye"#)
            .with_param("error", "invalid_token");
        let rendered = render_challenges(&[original.clone(), Challenge::new("Basic")]);
        assert_eq!(
            rendered,
            r#"Bearer realm="say \"hi\" \\ bye", error="invalid_token", Basic"#
        );
        assert_eq!(
            parse_challenges(&rendered).unwrap(),
            vec![original, Challenge::new("Basic")]
        );
    }

    #[test]
    fn parses_real_headers() {
        // Google APIs: alternatives in `scope`, a realm first.
        check(
            r#"Bearer realm="https://accounts.google.com/", error="insufficient_scope", scope="https://www.googleapis.com/auth/drive https://www.googleapis.com/auth/drive.file""#,
            "Bearer[realm=https://accounts.google.com/;error=insufficient_scope;\
             scope=https://www.googleapis.com/auth/drive https://www.googleapis.com/auth/drive.file]",
        );
        // RFC 9470 step-up: acr_values and max_age, and a description with escapes.
        check(
            r#"Bearer error="insufficient_user_authentication", error_description="A different \"authentication\" level is required", acr_values="myACR", max_age=5"#,
            r#"Bearer[error=insufficient_user_authentication;error_description=A different "authentication" level is required;acr_values=myACR;max_age=5]"#,
        );
        // RFC 9728 resource metadata, with an MCP server's path.
        check(
            r#"Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp""#,
            "Bearer[resource_metadata=https://mcp.example.com/.well-known/oauth-protected-resource/mcp]",
        );
        // Several schemes, one of them a token68 challenge, in one value.
        check(
            r#"Negotiate YIIBhwYGKwYBBQUCoIIBezCCAXeg, Bearer realm="api", error="invalid_token", Basic realm="x", charset="UTF-8""#,
            "Negotiate[]<YIIBhwYGKwYBBQUCoIIBezCCAXeg> | Bearer[realm=api;error=invalid_token] \
             | Basic[realm=x;charset=UTF-8]",
        );
        // Empty list elements and tabs are allowed around commas.
        check(
            ",\tBearer realm=\"a\" ,, error=\"b\",",
            "Bearer[realm=a;error=b]",
        );
        // Non-ASCII text in a quoted string.
        check(
            r#"Bearer error_description="accès refusé""#,
            "Bearer[error_description=accès refusé]",
        );
    }

    #[test]
    fn several_header_values_are_one_list() {
        let challenges =
            parse_header_values([r#"Basic realm="x""#, "", r#"Bearer scope="a""#]).unwrap();
        assert_eq!(challenges.len(), 2);
        let bearer = BearerChallenge::from_header_values([r#"Basic realm="x""#, "Bearer scope=a"])
            .unwrap()
            .unwrap();
        assert_eq!(bearer.scope.unwrap().to_string(), "a");
        assert_eq!(parse_header_values([""]), Err(ChallengeError::Empty));
        assert!(parse_header_values(["Bearer a=\"", "Basic"]).is_err());
        let half = "x".repeat(MAX_HEADER_LEN / 2 + 1);
        let value = format!("Bearer realm=\"{half}\"");
        assert!(matches!(
            parse_header_values([value.as_str(), value.as_str()]),
            Err(ChallengeError::TooLong { .. })
        ));
    }

    #[test]
    fn refuses_more_malformed_headers() {
        for header in [
            "=",
            "Bearer =x",
            "Bearer realm=",
            "Bearer realm=\"a\" error=\"b\"",
            "Bearer realm=\"a\\\u{1}\"",
            "Bearer realm=\"a\\",
            "Bearer realm=\"a\u{7f}\"",
            "Bearer, =x",
            "\"Bearer\"",
            "Bearer realm=a b",
        ] {
            let parsed = parse_challenges(header);
            // `Bearer realm=` reads as a token68 credential, which the grammar allows.
            if header == "Bearer realm=" {
                assert_eq!(parsed.unwrap()[0].token68.as_deref(), Some("realm="));
                continue;
            }
            assert!(parsed.is_err(), "{header:?} parsed as {parsed:?}");
        }
        assert!(matches!(
            BearerChallenge::from_header("Bearer max_age=-1"),
            Err(BearerChallengeError::MaxAge)
        ));
        assert!(matches!(
            BearerChallenge::from_header("Bearer max_age=99999999999999999999999"),
            Err(BearerChallengeError::MaxAge)
        ));
    }

    #[test]
    fn every_bearer_parameter_renders_and_parses_back() {
        let challenge = BearerChallenge {
            realm: Some("api".into()),
            error: Some("insufficient_user_authentication".into()),
            error_description: Some(r#"needs "mfa" \ now"#.into()),
            scope: Some(ScopeSet::parse("b a").unwrap()),
            resource_metadata: Some(
                "https://r.example/.well-known/oauth-protected-resource".into(),
            ),
            acr_values: Some("urn:mace:incommon:iap:silver mfa".into()),
            max_age: Some(300),
        };
        let rendered = challenge.to_string();
        assert_eq!(
            rendered,
            r#"Bearer realm="api", error="insufficient_user_authentication", error_description="needs \"mfa\" \\ now", scope="a b", resource_metadata="https://r.example/.well-known/oauth-protected-resource", acr_values="urn:mace:incommon:iap:silver mfa", max_age="300""#
        );
        assert_eq!(
            BearerChallenge::from_header(&rendered).unwrap(),
            Some(challenge)
        );
    }

    #[test]
    fn control_characters_render_as_spaces() {
        let challenge = Challenge::new("Bearer").with_param("error_description", "a\r\nb\tc");
        assert_eq!(
            challenge.to_string(),
            "Bearer error_description=\"a  b\tc\""
        );
        assert!(parse_challenges(&challenge.to_string()).is_ok());
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        fn token() -> impl Strategy<Value = String> {
            "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}"
        }

        fn token68() -> impl Strategy<Value = String> {
            "[A-Za-z0-9._~+/-]{1,24}={0,2}"
        }

        fn value() -> impl Strategy<Value = String> {
            // Printable text, quotes, backslashes, tabs and non-ASCII letters.
            "[ -~\t\"\\\\éß日本]{0,24}"
        }

        fn challenge() -> impl Strategy<Value = Challenge> {
            let with_params = (token(), prop::collection::vec((token(), value()), 0..5)).prop_map(
                |(scheme, params)| Challenge {
                    scheme,
                    token68: None,
                    params,
                },
            );
            let with_token68 = (token(), token68()).prop_map(|(scheme, token68)| Challenge {
                scheme,
                token68: Some(token68),
                params: Vec::new(),
            });
            prop_oneof![3 => with_params, 1 => with_token68]
        }

        proptest! {
            #[test]
            fn rendered_challenges_parse_back(challenges in prop::collection::vec(challenge(), 1..4)) {
                let rendered = render_challenges(&challenges);
                prop_assert_eq!(parse_challenges(&rendered), Ok(challenges));
            }

            #[test]
            fn bearer_challenges_parse_back(
                error in prop::option::of(token()),
                description in prop::option::of(value()),
                scopes in prop::collection::btree_set("[a-z:._/]{1,10}", 0..4),
                max_age in prop::option::of(any::<u64>()),
            ) {
                let scope = (!scopes.is_empty()).then(|| {
                    ScopeSet::parse(&scopes.into_iter().collect::<Vec<_>>().join(" ")).unwrap()
                });
                let challenge = BearerChallenge {
                    error,
                    error_description: description,
                    scope,
                    max_age,
                    ..BearerChallenge::default()
                };
                let parsed = BearerChallenge::from_header(&challenge.to_string());
                prop_assert_eq!(parsed, Ok(Some(challenge)));
            }

            #[test]
            fn any_text_parses_or_fails_without_panicking(text in "\\PC{0,64}") {
                if let Ok(challenges) = parse_challenges(&text) {
                    let rendered = render_challenges(&challenges);
                    prop_assert_eq!(parse_challenges(&rendered), Ok(challenges));
                }
            }
        }
    }
}
