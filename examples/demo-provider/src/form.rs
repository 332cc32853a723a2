//! Reading `application/x-www-form-urlencoded` parameters the way OAuth wants them: a repeated
//! parameter is an error, an empty one counts as absent (RFC 6749 §3.1), and a checkbox group
//! may repeat on purpose.

use axum::http::{HeaderMap, header};
use url::form_urlencoded;

/// The decoded parameters of a query string or a form body, in their order.
#[derive(Debug, Default)]
pub(crate) struct Parameters(Vec<(String, String)>);

/// A parameter that must appear at most once appeared more than once.
#[derive(Debug, thiserror::Error)]
#[error("parameter {name} is repeated")]
pub(crate) struct RepeatedParameter {
    /// The parameter's name.
    pub(crate) name: &'static str,
}

/// A percent-encoded component of a Basic credential did not decode to UTF-8 text.
#[derive(Debug, thiserror::Error)]
#[error("credential component is not valid form-urlencoded UTF-8")]
pub(crate) struct MalformedComponent;

impl Parameters {
    /// Decodes a query string or a form body.
    pub(crate) fn parse(encoded: &[u8]) -> Self {
        let pairs = form_urlencoded::parse(encoded).into_owned().collect();
        Self(pairs)
    }

    /// The value of a parameter that may appear once; an empty value counts as absent.
    pub(crate) fn single(&self, name: &'static str) -> Result<Option<&str>, RepeatedParameter> {
        let mut values = self.all(name);
        let first = values.next();
        match values.next() {
            Some(_) => Err(RepeatedParameter { name }),
            None => Ok(first),
        }
    }

    /// Every non-empty value of a parameter that may repeat.
    pub(crate) fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(key, value)| key == name && !value.is_empty())
            .map(|(_, value)| value.as_str())
    }
}

/// Whether a request says its body is a form.
pub(crate) fn is_form(headers: &HeaderMap) -> bool {
    let Some(content_type) = headers.get(header::CONTENT_TYPE) else {
        return false;
    };
    let Ok(content_type) = content_type.to_str() else {
        return false;
    };
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    media_type.eq_ignore_ascii_case("application/x-www-form-urlencoded")
}

/// Decodes one component of a Basic credential, which RFC 6749 §2.3.1 encodes with
/// `application/x-www-form-urlencoded` before base64: `+` is a space and `%XX` a byte.
pub(crate) fn decode_component(encoded: &str) -> Result<String, MalformedComponent> {
    let mut bytes = Vec::with_capacity(encoded.len());
    let mut input = encoded.bytes();
    while let Some(byte) = input.next() {
        match byte {
            b'+' => bytes.push(b' '),
            b'%' => {
                let high = input.next().and_then(hex_value).ok_or(MalformedComponent)?;
                let low = input.next().and_then(hex_value).ok_or(MalformedComponent)?;
                bytes.push(high << 4 | low);
            }
            other => bytes.push(other),
        }
    }
    String::from_utf8(bytes).map_err(|_| MalformedComponent)
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameter_is_an_error() {
        let parameters = Parameters::parse(b"state=a&state=b");
        assert!(parameters.single("state").is_err());
    }

    #[test]
    fn empty_parameter_counts_as_absent() {
        let parameters = Parameters::parse(b"state=&scope=notes%3Aread");
        assert_eq!(parameters.single("state").unwrap(), None);
        assert_eq!(parameters.single("scope").unwrap(), Some("notes:read"));
    }

    #[test]
    fn checkbox_groups_may_repeat() {
        let parameters = Parameters::parse(b"scope=a&scope=b&other=c");
        assert_eq!(parameters.all("scope").collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn credential_components_are_form_decoded() {
        assert_eq!(
            decode_component("my+client%3A1%25").unwrap(),
            "my client:1%"
        );
        assert_eq!(decode_component("caf%C3%A9").unwrap(), "café");
        assert!(decode_component("bad%2").is_err());
        assert!(decode_component("bad%zz").is_err());
        assert!(decode_component("%FF").is_err());
    }
}
