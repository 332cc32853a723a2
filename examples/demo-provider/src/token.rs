//! The token endpoint (authorization code and refresh token grants), the revocation endpoint
//! (RFC 7009), and the client authentication both share.

use std::time::SystemTime;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_PAD_INDIFFERENT;
use serde::Serialize;
use url::Url;

use crate::DemoProvider;
use crate::config::DemoClient;
use crate::form::{Parameters, RepeatedParameter, decode_component, is_form};
use crate::scope::ScopeList;
use crate::secret::{Key, RandomUnavailable, is_pkce_value, pkce_s256_matches};
use crate::state::{Grantee, IssuedTokens, State as Records, capped_lifetime, expiry};

/// Why a token or revocation request failed; each maps to an RFC 6749 §5.2 error code.
#[derive(Debug, thiserror::Error)]
enum TokenError {
    #[error("the body must be application/x-www-form-urlencoded")]
    NotAForm,
    #[error("parameter {name} is required")]
    MissingParameter { name: &'static str },
    #[error(transparent)]
    Repeated(#[from] RepeatedParameter),
    #[error("the client used more than one authentication method")]
    SeveralClientAuthentications,
    #[error("client authentication failed")]
    ClientAuthentication,
    #[error("the authorization code is unknown, expired or issued to another client")]
    UnknownCode,
    #[error("the authorization code was already used; tokens issued from it are revoked")]
    ReusedCode,
    #[error("redirect_uri does not match the authorization request")]
    RedirectUriMismatch,
    #[error("code_verifier is not a valid PKCE verifier")]
    MalformedVerifier,
    #[error("code_verifier does not match the code_challenge")]
    VerifierMismatch,
    #[error("the refresh token is unknown, revoked, already used or issued to another client")]
    UnknownRefreshToken,
    #[error("the requested scope is unknown or not covered by the grant")]
    ScopeNotInGrant,
    #[error("the grant type is not supported")]
    UnsupportedGrantType,
    #[error(transparent)]
    Unavailable(#[from] RandomUnavailable),
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    scope: String,
}

/// An error response (RFC 6749 §5.2).
#[derive(Debug, Serialize)]
struct ErrorBody {
    error: &'static str,
    error_description: String,
}

/// `POST /token`.
#[tracing::instrument(name = "DemoProvider::token", skip_all)]
pub(crate) async fn token(
    State(provider): State<DemoProvider>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match exchange(&provider, &headers, &body) {
        Ok(tokens) => no_store(Json(tokens).into_response()),
        Err(error) => error.into_response(),
    }
}

/// `POST /revoke`.
#[tracing::instrument(name = "DemoProvider::revoke", skip_all)]
pub(crate) async fn revoke(
    State(provider): State<DemoProvider>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match revoke_token(&provider, &headers, &body) {
        Ok(()) => no_store(StatusCode::OK.into_response()),
        Err(error) => error.into_response(),
    }
}

impl TokenError {
    fn code(&self) -> &'static str {
        match self {
            Self::NotAForm
            | Self::MissingParameter { .. }
            | Self::Repeated(_)
            | Self::SeveralClientAuthentications
            | Self::MalformedVerifier => "invalid_request",
            Self::ClientAuthentication => "invalid_client",
            Self::UnknownCode
            | Self::ReusedCode
            | Self::RedirectUriMismatch
            | Self::VerifierMismatch
            | Self::UnknownRefreshToken => "invalid_grant",
            Self::ScopeNotInGrant => "invalid_scope",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::Unavailable(_) => "server_error",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::ClientAuthentication => StatusCode::UNAUTHORIZED,
            Self::Unavailable(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl IntoResponse for TokenError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code(),
            error_description: self.to_string(),
        };
        let mut response = no_store((self.status(), Json(body)).into_response());
        if let Self::ClientAuthentication = self {
            let challenge = HeaderValue::from_static("Basic realm=\"demo\"");
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

/// Authenticates the client and runs the grant.
fn exchange(
    provider: &DemoProvider,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<TokenResponse, TokenError> {
    if !is_form(headers) {
        return Err(TokenError::NotAForm);
    }
    let parameters = Parameters::parse(body);
    let client = authenticate_client(provider, headers, &parameters)?;
    let grant_type = required(&parameters, "grant_type")?;

    let (grant_type, issued) = match grant_type {
        "authorization_code" => (
            "authorization_code",
            redeem_code(provider, client, &parameters)?,
        ),
        "refresh_token" => ("refresh_token", refresh(provider, client, &parameters)?),
        _ => return Err(TokenError::UnsupportedGrantType),
    };
    provider.lock().count_token_request(grant_type);

    tracing::debug!(
        client_id = %client.client_id,
        grant_type,
        scope = %issued.scopes.to_parameter(),
        refresh_token = issued.refresh_token.is_some(),
        "tokens issued"
    );
    let ttl = capped_lifetime(provider.settings().access_token_ttl);
    Ok(TokenResponse {
        access_token: issued.access_token.into_exposed(),
        token_type: "Bearer",
        expires_in: ttl.as_secs(),
        refresh_token: issued.refresh_token.map(|token| token.into_exposed()),
        scope: issued.scopes.to_parameter(),
    })
}

/// The authorization code grant (RFC 6749 §4.1.3) with the PKCE check (RFC 7636 §4.6).
fn redeem_code(
    provider: &DemoProvider,
    client: &DemoClient,
    parameters: &Parameters,
) -> Result<IssuedTokens, TokenError> {
    let code = required(parameters, "code")?;
    let verifier = required(parameters, "code_verifier")?;
    let redirect_uri = parameters.single("redirect_uri")?;
    let now = SystemTime::now();
    let key = Key::of(code);

    // Find the code; a second presentation revokes what the first one got.
    let mut state = provider.lock();
    state.prune(now);
    let Some(record) = state.codes.get(&key) else {
        return Err(TokenError::UnknownCode);
    };
    if record.client_id != client.client_id {
        tracing::warn!(client_id = %client.client_id, "client presented another client's code");
        return Err(TokenError::UnknownCode);
    }
    if let Some(grant) = record.redeemed {
        tracing::warn!(client_id = %client.client_id, "authorization code replayed");
        state.revoke_grant(grant);
        return Err(TokenError::ReusedCode);
    }
    if now >= record.expires_at {
        return Err(TokenError::UnknownCode);
    }

    // The code is spent from here on, whatever the remaining checks say.
    let grant = state.new_grant();
    let Some(record) = state.codes.get_mut(&key) else {
        return Err(TokenError::UnknownCode);
    };
    record.redeemed = Some(grant);
    let redirect_uri_matches = match (record.redirect_uri_given, redirect_uri) {
        (_, Some(given)) => Url::parse(given).is_ok_and(|given| given == record.redirect_uri),
        (true, None) => false,
        (false, None) => true,
    };
    if !redirect_uri_matches {
        return Err(TokenError::RedirectUriMismatch);
    }
    if !is_pkce_value(verifier) {
        return Err(TokenError::MalformedVerifier);
    }
    if !pkce_s256_matches(verifier, &record.code_challenge) {
        tracing::debug!(client_id = %client.client_id, "PKCE verification failed");
        return Err(TokenError::VerifierMismatch);
    }

    let grantee = Grantee {
        username: record.username.clone(),
        client_id: record.client_id.clone(),
        grant,
    };
    let scopes = record.scopes.clone();
    let access_expires_at = expiry(now, provider.settings().access_token_ttl);
    Ok(state.issue_tokens(&grantee, scopes.clone(), &scopes, access_expires_at)?)
}

/// The refresh token grant (RFC 6749 §6): single use, rotating, narrowing allowed.
fn refresh(
    provider: &DemoProvider,
    client: &DemoClient,
    parameters: &Parameters,
) -> Result<IssuedTokens, TokenError> {
    let refresh_token = required(parameters, "refresh_token")?;
    let requested_scope = parameters.single("scope")?;
    let now = SystemTime::now();

    let mut state = provider.lock();
    let Some(record) = state.refresh_tokens.get_mut(&Key::of(refresh_token)) else {
        return Err(TokenError::UnknownRefreshToken);
    };
    if record.client_id != client.client_id {
        let client_id = &client.client_id;
        tracing::warn!(%client_id, "client presented another client's refresh token");
        return Err(TokenError::UnknownRefreshToken);
    }
    if !record.active {
        tracing::warn!(client_id = %client.client_id, "spent or revoked refresh token presented");
        return Err(TokenError::UnknownRefreshToken);
    }

    // A scope parameter may narrow the new access token, never widen it.
    let access_scopes = match requested_scope {
        None => record.scopes.clone(),
        Some(requested) => {
            let requested = ScopeList::parse(requested).map_err(|_| TokenError::ScopeNotInGrant)?;
            if requested.is_empty() || !requested.is_subset_of(&record.scopes) {
                return Err(TokenError::ScopeNotInGrant);
            }
            requested
        }
    };

    // Rotate: the presented token is spent, and a new one carries the grant's full scope.
    record.active = false;
    let grantee = Grantee {
        username: record.username.clone(),
        client_id: record.client_id.clone(),
        grant: record.grant,
    };
    let grant_scopes = record.scopes.clone();
    let access_expires_at = expiry(now, provider.settings().access_token_ttl);
    Ok(state.issue_tokens(&grantee, access_scopes, &grant_scopes, access_expires_at)?)
}

/// Revokes the named token if it is a live token of this client (RFC 7009 §2.1). Unknown
/// tokens, and tokens of other clients, are answered as success with nothing done.
fn revoke_token(
    provider: &DemoProvider,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), TokenError> {
    if !is_form(headers) {
        return Err(TokenError::NotAForm);
    }
    let parameters = Parameters::parse(body);
    let client = authenticate_client(provider, headers, &parameters)?;
    let token = required(&parameters, "token")?;
    let hint = parameters.single("token_type_hint")?;
    let key = Key::of(token);
    let now = SystemTime::now();

    let mut state = provider.lock();
    let revoked = match hint {
        Some("refresh_token") => {
            revoke_refresh(&mut state, &key, client) || revoke_access(&mut state, &key, client, now)
        }
        _ => {
            revoke_access(&mut state, &key, client, now) || revoke_refresh(&mut state, &key, client)
        }
    };
    if revoked {
        state.revoked_tokens += 1;
    }
    tracing::debug!(client_id = %client.client_id, revoked, "revocation request");
    Ok(())
}

fn revoke_access(state: &mut Records, key: &Key, client: &DemoClient, now: SystemTime) -> bool {
    let Some(record) = state.active_access_token(key, now) else {
        return false;
    };
    if record.client_id != client.client_id {
        let client_id = &client.client_id;
        tracing::warn!(%client_id, "client tried to revoke another client's token");
        return false;
    }
    state.access_tokens.remove(key);
    true
}

/// Revokes a refresh token and, with it, every token of its grant (RFC 7009 §2.1).
fn revoke_refresh(state: &mut Records, key: &Key, client: &DemoClient) -> bool {
    let Some(record) = state.refresh_tokens.get(key) else {
        return false;
    };
    if record.client_id != client.client_id {
        let client_id = &client.client_id;
        tracing::warn!(%client_id, "client tried to revoke another client's token");
        return false;
    }
    if !record.active {
        return false;
    }
    let grant = record.grant;
    state.revoke_grant(grant);
    true
}

/// Authenticates the client by `client_secret_basic` or `client_secret_post`, not both
/// (RFC 6749 §2.3.1).
fn authenticate_client<'a>(
    provider: &'a DemoProvider,
    headers: &HeaderMap,
    parameters: &Parameters,
) -> Result<&'a DemoClient, TokenError> {
    let basic = basic_credentials(headers)?;
    let form_id = parameters.single("client_id")?;
    let form_secret = parameters.single("client_secret")?;

    let (client_id, secret) = match (basic, form_secret) {
        (Some(_), Some(_)) => return Err(TokenError::SeveralClientAuthentications),
        (Some((client_id, secret)), None) => {
            if form_id.is_some_and(|form_id| form_id != client_id) {
                return Err(TokenError::ClientAuthentication);
            }
            (client_id, secret)
        }
        (None, Some(secret)) => {
            let client_id = form_id.ok_or(TokenError::ClientAuthentication)?;
            (client_id.to_owned(), secret.to_owned())
        }
        (None, None) => return Err(TokenError::ClientAuthentication),
    };

    let client = provider.settings().authenticate_client(&client_id, &secret);
    client.ok_or_else(|| {
        tracing::warn!(%client_id, "client authentication failed");
        TokenError::ClientAuthentication
    })
}

/// The client id and secret of an `Authorization: Basic` header, if there is one.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, TokenError> {
    let Some(authorization) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let authorization = authorization
        .to_str()
        .map_err(|_| TokenError::ClientAuthentication)?;
    let Some((scheme, encoded)) = authorization.split_once(' ') else {
        return Err(TokenError::ClientAuthentication);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(TokenError::ClientAuthentication);
    }

    let decoded = STANDARD_PAD_INDIFFERENT
        .decode(encoded.trim())
        .map_err(|_| TokenError::ClientAuthentication)?;
    let decoded = String::from_utf8(decoded).map_err(|_| TokenError::ClientAuthentication)?;
    let Some((client_id, secret)) = decoded.split_once(':') else {
        return Err(TokenError::ClientAuthentication);
    };
    let client_id = decode_component(client_id).map_err(|_| TokenError::ClientAuthentication)?;
    let secret = decode_component(secret).map_err(|_| TokenError::ClientAuthentication)?;
    Ok(Some((client_id, secret)))
}

fn required<'a>(parameters: &'a Parameters, name: &'static str) -> Result<&'a str, TokenError> {
    parameters
        .single(name)?
        .ok_or(TokenError::MissingParameter { name })
}

fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}
