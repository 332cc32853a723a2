//! The browser side of the authorization code flow: `/authorize`, `/login`, `/logout` and
//! `/consent`.
//!
//! A valid authorization request becomes a pending request with a random id. The id travels in
//! the forms; the consent form is accepted only from the browser session the request is bound
//! to, which makes the id the form's CSRF token. Problems with the client or its redirect URI are
//! shown on a page; every later problem goes back to the client as an error redirect.

use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use url::Url;

use crate::DemoProvider;
use crate::form::{Parameters, RepeatedParameter};
use crate::pages::{self, ConsentPage, LoginPage, ScopeCheckbox};
use crate::scope::{ScopeList, UnknownScope};
use crate::secret::{Key, RandomUnavailable, Secret, is_pkce_value};
use crate::state::{
    CODE_TTL, CodeRecord, PENDING_REQUEST_TTL, PendingRequest, SESSION_TTL, Session, expiry,
};

/// The name of the session cookie.
const SESSION_COOKIE: &str = "demo_session";

/// A problem that is shown to the person in the browser, never sent to the redirect URI: either
/// the redirect URI cannot be trusted yet, or the form in hand no longer matches anything.
#[derive(Debug, thiserror::Error)]
enum PageError {
    #[error("the request names no client_id")]
    MissingClientId,
    #[error("the client is not registered")]
    UnknownClient,
    #[error("the request names no redirect_uri and the client has several")]
    MissingRedirectUri,
    #[error("the redirect_uri is not registered for this client")]
    UnregisteredRedirectUri,
    #[error(transparent)]
    Repeated(#[from] RepeatedParameter),
    #[error("the pending request is unknown or expired")]
    UnknownRequest,
    #[error("the consent form does not belong to this browser's session")]
    ForeignSession,
    #[error("the consent decision is neither allow nor deny")]
    UnknownDecision,
    #[error(transparent)]
    Unavailable(#[from] RandomUnavailable),
}

/// A problem reported to the client through its redirect URI (RFC 6749 §4.1.2.1).
#[derive(Debug, thiserror::Error)]
enum RedirectError {
    #[error("response_type is required")]
    MissingResponseType,
    #[error("only response_type=code is supported")]
    UnsupportedResponseType,
    #[error("code_challenge is required (PKCE)")]
    MissingCodeChallenge,
    #[error("code_challenge_method must be S256")]
    UnsupportedChallengeMethod,
    #[error("code_challenge is not a base64url S256 challenge")]
    MalformedCodeChallenge,
    #[error("scope is required")]
    MissingScope,
    #[error("a requested scope is not offered by this server")]
    UnknownScope(#[source] UnknownScope),
    #[error(transparent)]
    Repeated(#[from] RepeatedParameter),
    #[error("the user denied the request")]
    Denied,
    #[error("the user allowed no scope")]
    NothingAllowed,
}

/// Where to send a [`RedirectError`].
#[derive(Debug)]
struct ErrorRedirect {
    redirect_uri: Url,
    state: Option<String>,
    error: RedirectError,
}

/// Why an authorization request was not accepted.
#[derive(Debug)]
enum Rejection {
    Page(PageError),
    Redirect(Box<ErrorRedirect>),
}

/// What the consent form said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Decision {
    Allow,
    Deny,
}

/// `GET /authorize`: validates the request, remembers it, and shows the sign-in form or, for a
/// signed-in browser, the consent page.
#[tracing::instrument(name = "DemoProvider::authorize", skip_all)]
pub(crate) async fn authorize(
    State(provider): State<DemoProvider>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let parameters = Parameters::parse(query.unwrap_or_default().as_bytes());
    let now = SystemTime::now();
    let mut request = match validate(&provider, &parameters, now) {
        Ok(request) => request,
        Err(Rejection::Page(error)) => return error_page(&error),
        Err(Rejection::Redirect(redirect)) => return redirect_with_error(&provider, *redirect),
    };
    let request_id = match Secret::generate() {
        Ok(request_id) => request_id,
        Err(error) => return error_page(&error.into()),
    };

    // Remember the request, bound to the browser's session when it has one.
    let session_key = session_key(&headers);
    let mut state = provider.lock();
    state.prune(now);
    let signed_in = session_key.and_then(|key| {
        let session = state.active_session(&key, now)?;
        Some((key, session.username.clone()))
    });
    request.session = signed_in.as_ref().map(|(key, _)| *key);
    state.pending.insert(request_id.key(), request.clone());
    drop(state);

    let client_id = &request.client_id;
    tracing::debug!(%client_id, signed_in = signed_in.is_some(), "request accepted");
    match signed_in {
        Some((_, username)) => consent_page(&provider, &request, request_id.expose(), &username),
        None => login_page(
            &provider,
            &request,
            request_id.expose(),
            StatusCode::OK,
            "",
            None,
        ),
    }
}

/// `POST /login`: checks the password, starts a session and shows the consent page.
#[tracing::instrument(name = "DemoProvider::login", skip_all)]
pub(crate) async fn login(
    State(provider): State<DemoProvider>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let parameters = Parameters::parse(&body);
    let Ok(Some(request_id)) = parameters.single("request") else {
        return error_page(&PageError::UnknownRequest);
    };
    let username = parameters
        .single("username")
        .ok()
        .flatten()
        .unwrap_or_default();
    let password = parameters
        .single("password")
        .ok()
        .flatten()
        .unwrap_or_default();
    let request_key = Key::of(request_id);
    let now = SystemTime::now();

    let pending = provider.lock().active_pending(&request_key, now).cloned();
    let Some(pending) = pending else {
        return error_page(&PageError::UnknownRequest);
    };

    let settings = provider.settings();
    let Some(user) = settings.authenticate_user(username, password) else {
        tracing::debug!("sign-in refused: wrong username or password");
        let message = Some("That username and password do not match. Try again.");
        let status = StatusCode::UNAUTHORIZED;
        return login_page(&provider, &pending, request_id, status, username, message);
    };
    let session = match Secret::generate() {
        Ok(session) => session,
        Err(error) => return error_page(&error.into()),
    };

    // Start a fresh session, end the one the browser had, and bind the request to the new one.
    let mut state = provider.lock();
    if let Some(previous) = session_key(&headers) {
        state.sessions.remove(&previous);
    }
    let record = Session {
        username: user.username.clone(),
        expires_at: expiry(now, SESSION_TTL),
    };
    state.sessions.insert(session.key(), record);
    let Some(pending) = state.active_pending(&request_key, now) else {
        return error_page(&PageError::UnknownRequest);
    };
    pending.session = Some(session.key());
    let pending = pending.clone();
    drop(state);

    tracing::debug!(username = %user.username, "signed in");
    let mut response = consent_page(&provider, &pending, request_id, &user.username);
    set_cookie(&mut response, &session_cookie(&provider, session.expose()));
    response
}

/// `GET /logout?request=…`: ends the browser's session and shows the sign-in form again for the
/// same request.
#[tracing::instrument(name = "DemoProvider::logout", skip_all)]
pub(crate) async fn logout(
    State(provider): State<DemoProvider>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let parameters = Parameters::parse(query.unwrap_or_default().as_bytes());
    let request_id = parameters.single("request").ok().flatten();
    let now = SystemTime::now();

    let mut state = provider.lock();
    if let Some(session) = session_key(&headers) {
        state.sessions.remove(&session);
    }
    let pending = request_id.and_then(|request_id| {
        let pending = state.active_pending(&Key::of(request_id), now)?;
        pending.session = None;
        Some((request_id, pending.clone()))
    });
    drop(state);

    let mut response = match pending {
        Some((request_id, pending)) => {
            login_page(&provider, &pending, request_id, StatusCode::OK, "", None)
        }
        None => pages::message(
            StatusCode::OK,
            "Signed out",
            "You are signed out. Go back to the application to start again.",
        ),
    };
    set_cookie(&mut response, &expired_session_cookie(&provider));
    response
}

/// `POST /consent`: Allow issues a code for the ticked scopes, Deny (or nothing ticked) answers
/// `access_denied`; either way the browser goes back to the client.
#[tracing::instrument(name = "DemoProvider::consent", skip_all)]
pub(crate) async fn consent(
    State(provider): State<DemoProvider>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let parameters = Parameters::parse(&body);
    let Ok(Some(request_id)) = parameters.single("request") else {
        return error_page(&PageError::UnknownRequest);
    };
    let decision = match parameters.single("decision") {
        Ok(Some("allow")) => Decision::Allow,
        Ok(Some("deny")) => Decision::Deny,
        _ => return error_page(&PageError::UnknownDecision),
    };
    let request_key = Key::of(request_id);
    let now = SystemTime::now();
    let code = match Secret::generate() {
        Ok(code) => code,
        Err(error) => return error_page(&error.into()),
    };

    // Only the session the request is bound to may answer it; a stranger's post leaves the
    // request in place for its owner.
    let mut state = provider.lock();
    let Some(pending) = state.active_pending(&request_key, now) else {
        return error_page(&PageError::UnknownRequest);
    };
    let bound_session = pending.session;
    let browser_session = session_key(&headers);
    let username = match (bound_session, browser_session) {
        (Some(bound), Some(browser)) if bound == browser => state
            .active_session(&browser, now)
            .map(|session| session.username.clone()),
        _ => None,
    };
    let Some(username) = username else {
        tracing::warn!("consent form posted from a browser that is not the request's session");
        return error_page(&PageError::ForeignSession);
    };
    let Some(pending) = state.pending.remove(&request_key) else {
        return error_page(&PageError::UnknownRequest);
    };

    // Work out the grant: the ticked scopes among those requested.
    let granted = pending.scopes.retain_named(parameters.all("scope"));
    let refusal = match (decision, granted.is_empty()) {
        (Decision::Deny, _) => Some(RedirectError::Denied),
        (Decision::Allow, true) => Some(RedirectError::NothingAllowed),
        (Decision::Allow, false) => None,
    };
    if let Some(error) = refusal {
        drop(state);
        tracing::debug!(%username, %error, "consent refused");
        let redirect = ErrorRedirect {
            redirect_uri: pending.redirect_uri,
            state: pending.state,
            error,
        };
        return redirect_with_error(&provider, redirect);
    }

    let record = CodeRecord {
        client_id: pending.client_id.clone(),
        redirect_uri: pending.redirect_uri.clone(),
        redirect_uri_given: pending.redirect_uri_given,
        code_challenge: pending.code_challenge.clone(),
        username: username.clone(),
        scopes: granted.clone(),
        expires_at: expiry(now, CODE_TTL),
        redeemed: None,
    };
    state.codes.insert(code.key(), record);
    drop(state);

    let scope = granted.to_parameter();
    tracing::debug!(%username, client_id = %pending.client_id, %scope, "code issued");
    let mut answer = vec![("code", code.expose())];
    if let Some(state) = &pending.state {
        answer.push(("state", state));
    }
    redirect_to_client(&provider, pending.redirect_uri, &answer)
}

/// Checks an authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3) and turns it into a
/// pending request, not yet bound to a session.
fn validate(
    provider: &DemoProvider,
    parameters: &Parameters,
    now: SystemTime,
) -> Result<PendingRequest, Rejection> {
    let settings = provider.settings();
    let page = |error: PageError| Rejection::Page(error);

    // The client and its redirect URI, which must be trusted before anything is redirected.
    let client_id = parameters
        .single("client_id")
        .map_err(|error| page(error.into()))?;
    let client_id = client_id.ok_or_else(|| page(PageError::MissingClientId))?;
    let client = settings
        .client(client_id)
        .ok_or_else(|| page(PageError::UnknownClient))?;
    let given_redirect_uri = parameters
        .single("redirect_uri")
        .map_err(|error| page(error.into()))?;
    let redirect_uri = match (given_redirect_uri, client.redirect_uris.as_slice()) {
        (Some(given), registered) => {
            let given = Url::parse(given).map_err(|_| page(PageError::UnregisteredRedirectUri))?;
            let found = registered.iter().find(|registered| **registered == given);
            found
                .ok_or_else(|| page(PageError::UnregisteredRedirectUri))?
                .clone()
        }
        (None, [only]) => only.clone(),
        (None, _) => return Err(page(PageError::MissingRedirectUri)),
    };

    // From here on, problems go back to the client.
    let state = parameters.single("state");
    let redirect = |state: Option<&str>, error: RedirectError| {
        Rejection::Redirect(Box::new(ErrorRedirect {
            redirect_uri: redirect_uri.clone(),
            state: state.map(str::to_owned),
            error,
        }))
    };
    let state = state.map_err(|error| redirect(None, error.into()))?;
    let fail = |error: RedirectError| redirect(state, error);
    let single = |name| parameters.single(name).map_err(|error| fail(error.into()));

    match single("response_type")? {
        Some("code") => {}
        Some(_) => return Err(fail(RedirectError::UnsupportedResponseType)),
        None => return Err(fail(RedirectError::MissingResponseType)),
    }
    let code_challenge =
        single("code_challenge")?.ok_or_else(|| fail(RedirectError::MissingCodeChallenge))?;
    if single("code_challenge_method")? != Some("S256") {
        return Err(fail(RedirectError::UnsupportedChallengeMethod));
    }
    if !is_pkce_value(code_challenge) || code_challenge.len() != 43 {
        return Err(fail(RedirectError::MalformedCodeChallenge));
    }
    let scope = single("scope")?.ok_or_else(|| fail(RedirectError::MissingScope))?;
    let scopes =
        ScopeList::parse(scope).map_err(|error| fail(RedirectError::UnknownScope(error)))?;
    if scopes.is_empty() {
        return Err(fail(RedirectError::MissingScope));
    }

    Ok(PendingRequest {
        client_id: client.client_id.clone(),
        redirect_uri,
        redirect_uri_given: given_redirect_uri.is_some(),
        scopes,
        state: state.map(str::to_owned),
        code_challenge: code_challenge.to_owned(),
        session: None,
        expires_at: expiry(now, PENDING_REQUEST_TTL),
    })
}

/// The sign-in form for a pending request.
fn login_page(
    provider: &DemoProvider,
    request: &PendingRequest,
    request_id: &str,
    status: StatusCode,
    username: &str,
    error: Option<&str>,
) -> Response {
    let page = LoginPage {
        action: provider.settings().local_path("/login"),
        client_id: &request.client_id,
        request_id,
        username,
        error,
    };
    pages::render(status, &page)
}

/// The consent page for a pending request and the signed-in user.
fn consent_page(
    provider: &DemoProvider,
    request: &PendingRequest,
    request_id: &str,
    username: &str,
) -> Response {
    let settings = provider.settings();
    let display_name = settings
        .user(username)
        .map_or(username, |user| user.display_name.as_str());
    // The request id is one this provider drew (it matched a stored digest): base64url, so it
    // needs no encoding in the query.
    let logout_href = format!("{}?request={request_id}", settings.local_path("/logout"));
    let page = ConsentPage {
        action: settings.local_path("/consent"),
        logout_href,
        client_id: &request.client_id,
        username,
        display_name,
        request_id,
        scopes: request.scopes.iter().map(ScopeCheckbox::new).collect(),
        return_to: request.redirect_uri.origin().ascii_serialization(),
    };
    pages::render(StatusCode::OK, &page)
}

/// The page for a [`PageError`].
fn error_page(error: &PageError) -> Response {
    tracing::debug!(%error, "authorization request stopped");
    let (status, heading, message) = match error {
        PageError::MissingClientId | PageError::UnknownClient => (
            StatusCode::BAD_REQUEST,
            "Unknown application",
            "The application that sent you here is not registered with the demo provider.",
        ),
        PageError::MissingRedirectUri | PageError::UnregisteredRedirectUri => (
            StatusCode::BAD_REQUEST,
            "Unknown return address",
            "The application asked to send you back to an address it did not register, so the \
             demo provider will not send you there.",
        ),
        PageError::Repeated(_) => (
            StatusCode::BAD_REQUEST,
            "Malformed request",
            "The application's request repeats a parameter that may appear only once.",
        ),
        PageError::UnknownRequest => (
            StatusCode::BAD_REQUEST,
            "This request has expired",
            "This sign-in request is unknown or has expired. Go back to the application and \
             start again.",
        ),
        PageError::ForeignSession => (
            StatusCode::FORBIDDEN,
            "This form is not yours",
            "This consent form belongs to another sign-in. Go back to the application and \
             start again.",
        ),
        PageError::UnknownDecision => (
            StatusCode::BAD_REQUEST,
            "No decision",
            "Choose Allow or Deny on the consent page.",
        ),
        PageError::Unavailable(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "The demo provider could not draw a random value. Try again.",
        ),
    };
    pages::message(status, heading, message)
}

/// Sends an error back to the client's redirect URI.
fn redirect_with_error(provider: &DemoProvider, redirect: ErrorRedirect) -> Response {
    let code = match redirect.error {
        RedirectError::UnsupportedResponseType => "unsupported_response_type",
        RedirectError::MissingScope | RedirectError::UnknownScope(_) => "invalid_scope",
        RedirectError::Denied | RedirectError::NothingAllowed => "access_denied",
        RedirectError::MissingResponseType
        | RedirectError::MissingCodeChallenge
        | RedirectError::UnsupportedChallengeMethod
        | RedirectError::MalformedCodeChallenge
        | RedirectError::Repeated(_) => "invalid_request",
    };
    let description = redirect.error.to_string();
    let mut answer = vec![("error", code), ("error_description", description.as_str())];
    if let Some(state) = &redirect.state {
        answer.push(("state", state));
    }
    redirect_to_client(provider, redirect.redirect_uri, &answer)
}

/// A 303 to the client's redirect URI with the given parameters and `iss` (RFC 9207).
fn redirect_to_client(
    provider: &DemoProvider,
    mut redirect_uri: Url,
    parameters: &[(&str, &str)],
) -> Response {
    redirect_uri
        .query_pairs_mut()
        .extend_pairs(parameters)
        .append_pair("iss", &provider.settings().issuer);

    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    match HeaderValue::from_str(redirect_uri.as_str()) {
        Ok(location) => headers.insert(header::LOCATION, location),
        // A serialized URL is always a valid header value.
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// The digest of the browser's session cookie, if it sent one.
fn session_key(headers: &HeaderMap) -> Option<Key> {
    let prefix = format!("{SESSION_COOKIE}=");
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().strip_prefix(prefix.as_str()))
        .find(|value| !value.is_empty())
        .map(Key::of)
}

/// The `Set-Cookie` value that starts a session.
fn session_cookie(provider: &DemoProvider, value: &str) -> String {
    let settings = provider.settings();
    let secure = if settings.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{SESSION_COOKIE}={value}; Path={}; HttpOnly; SameSite=Lax{secure}",
        settings.cookie_path()
    )
}

/// The `Set-Cookie` value that ends a session.
fn expired_session_cookie(provider: &DemoProvider) -> String {
    let settings = provider.settings();
    let secure = if settings.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{SESSION_COOKIE}=; Path={}; HttpOnly; SameSite=Lax; Max-Age=0{secure}",
        settings.cookie_path()
    )
}

fn set_cookie(response: &mut Response, cookie: &str) {
    // The cookie is built from a base64url value and the issuer's path, which a `Url` keeps
    // percent-encoded, so it is always a valid header value.
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}
