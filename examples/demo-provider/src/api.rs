//! The bearer-protected resources: `/userinfo` and the notes API, with RFC 6750 challenges for a
//! missing, invalid or under-scoped token.

use std::time::SystemTime;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::DemoProvider;
use crate::secret::Key;

/// One note of the notes API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    /// The note's id, unique across users.
    pub id: u64,
    /// The title.
    pub title: String,
    /// The text.
    pub body: String,
}

/// The longest title, in characters.
const TITLE_LIMIT: usize = 200;

/// The longest body, in characters.
const BODY_LIMIT: usize = 10_000;

/// Why a resource request failed.
#[derive(Debug, thiserror::Error)]
enum ApiError {
    #[error("the request carries no bearer token")]
    MissingToken,
    #[error("the access token is invalid, expired or revoked")]
    InvalidToken,
    #[error("this request needs the {needed} scope, which the access token does not carry")]
    InsufficientScope { needed: &'static str },
    #[error("the body must be a JSON object with a non-empty title and a body")]
    MalformedNote,
    #[error("the title may have at most 200 characters and the body at most 10000")]
    NoteTooLong,
    #[error("this user has no note with this id")]
    NoSuchNote,
}

/// The notes list.
#[derive(Debug, Serialize)]
struct NoteList {
    notes: Vec<Note>,
}

/// The body of `POST /api/notes`.
#[derive(Debug, Deserialize)]
struct NewNote {
    title: String,
    body: String,
}

/// The answer of `/userinfo`.
#[derive(Debug, Serialize)]
struct UserInfo {
    sub: String,
    preferred_username: String,
    name: String,
}

/// `GET /userinfo`: who the token's user is. It needs no particular scope, so that a client can
/// always learn whose token it holds.
#[tracing::instrument(name = "DemoProvider::userinfo", skip_all)]
pub(crate) async fn userinfo(State(provider): State<DemoProvider>, headers: HeaderMap) -> Response {
    let username = match authenticate(&provider, &headers, None) {
        Ok(username) => username,
        Err(error) => return error.into_response(),
    };
    let Some(user) = provider.settings().user(&username) else {
        return ApiError::InvalidToken.into_response();
    };

    let info = UserInfo {
        sub: user.username.clone(),
        preferred_username: user.username.clone(),
        name: user.display_name.clone(),
    };
    let mut response = Json(info).into_response();
    let no_store = HeaderValue::from_static("no-store");
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, no_store);
    response
}

/// `GET /api/notes`, with `notes:read`.
#[tracing::instrument(name = "DemoProvider::list_notes", skip_all)]
pub(crate) async fn list_notes(
    State(provider): State<DemoProvider>,
    headers: HeaderMap,
) -> Response {
    let username = match authenticate(&provider, &headers, Some("notes:read")) {
        Ok(username) => username,
        Err(error) => return error.into_response(),
    };
    let notes = provider.notes_of(&username);
    Json(NoteList { notes }).into_response()
}

/// `POST /api/notes`, with `notes:write`: creates a note from `{"title", "body"}`.
#[tracing::instrument(name = "DemoProvider::create_note", skip_all)]
pub(crate) async fn create_note(
    State(provider): State<DemoProvider>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let username = match authenticate(&provider, &headers, Some("notes:write")) {
        Ok(username) => username,
        Err(error) => return error.into_response(),
    };
    let new_note = match parse_note(&body) {
        Ok(new_note) => new_note,
        Err(error) => return error.into_response(),
    };

    let mut state = provider.lock();
    let note = Note {
        id: state.new_note_id(),
        title: new_note.title,
        body: new_note.body,
    };
    state
        .notes
        .entry(username.clone())
        .or_default()
        .push(note.clone());
    drop(state);

    tracing::debug!(%username, id = note.id, "note created");
    (StatusCode::CREATED, Json(note)).into_response()
}

/// `DELETE /api/notes/{id}`, with `notes:delete`.
#[tracing::instrument(name = "DemoProvider::delete_note", skip_all)]
pub(crate) async fn delete_note(
    State(provider): State<DemoProvider>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let username = match authenticate(&provider, &headers, Some("notes:delete")) {
        Ok(username) => username,
        Err(error) => return error.into_response(),
    };
    let Ok(id) = id.parse::<u64>() else {
        return ApiError::NoSuchNote.into_response();
    };

    let mut state = provider.lock();
    let notes = state.notes.entry(username.clone()).or_default();
    let Some(position) = notes.iter().position(|note| note.id == id) else {
        return ApiError::NoSuchNote.into_response();
    };
    notes.remove(position);
    drop(state);

    tracing::debug!(%username, id, "note deleted");
    StatusCode::NO_CONTENT.into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let description = self.to_string();
        let (status, challenge, body) = match &self {
            // RFC 6750 §3.1: no error code when the request carried no credentials at all.
            Self::MissingToken => (
                StatusCode::UNAUTHORIZED,
                Some("Bearer realm=\"demo\"".to_owned()),
                serde_json::json!({ "error": "missing_token", "error_description": description }),
            ),
            Self::InvalidToken => (
                StatusCode::UNAUTHORIZED,
                Some("Bearer realm=\"demo\", error=\"invalid_token\"".to_owned()),
                serde_json::json!({ "error": "invalid_token", "error_description": description }),
            ),
            Self::InsufficientScope { needed } => (
                StatusCode::FORBIDDEN,
                Some(format!(
                    "Bearer realm=\"demo\", error=\"insufficient_scope\", scope=\"{needed}\", \
                     error_description=\"{description}\""
                )),
                serde_json::json!({
                    "error": "insufficient_scope",
                    "scope": needed,
                    "error_description": description,
                }),
            ),
            Self::MalformedNote | Self::NoteTooLong => (
                StatusCode::BAD_REQUEST,
                None,
                serde_json::json!({ "error": "invalid_request", "error_description": description }),
            ),
            Self::NoSuchNote => (
                StatusCode::NOT_FOUND,
                None,
                serde_json::json!({ "error": "not_found", "error_description": description }),
            ),
        };

        let mut response = (status, Json(body)).into_response();
        // The challenges are built from fixed text and catalog scope names, all visible ASCII.
        if let Some(challenge) = challenge.and_then(|value| HeaderValue::from_str(&value).ok()) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

/// Checks the bearer token (RFC 6750 §2.1) and, when one is needed, its scope; answers the
/// token's username.
fn authenticate(
    provider: &DemoProvider,
    headers: &HeaderMap,
    needed: Option<&'static str>,
) -> Result<String, ApiError> {
    let token = bearer_token(headers).ok_or(ApiError::MissingToken)?;
    let now = SystemTime::now();

    let state = provider.lock();
    let Some(record) = state.active_access_token(&Key::of(token), now) else {
        tracing::debug!("unknown, expired or revoked access token");
        return Err(ApiError::InvalidToken);
    };
    if let Some(needed) = needed
        && !record.scopes.contains(needed)
    {
        tracing::debug!(username = %record.username, needed, "access token lacks a scope");
        return Err(ApiError::InsufficientScope { needed });
    }
    Ok(record.username.clone())
}

/// The token of an `Authorization: Bearer` header; any other scheme counts as no token.
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let authorization = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = authorization.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn parse_note(body: &[u8]) -> Result<NewNote, ApiError> {
    let note: NewNote = serde_json::from_slice(body).map_err(|_| ApiError::MalformedNote)?;
    if note.title.trim().is_empty() {
        return Err(ApiError::MalformedNote);
    }
    if note.title.chars().count() > TITLE_LIMIT || note.body.chars().count() > BODY_LIMIT {
        return Err(ApiError::NoteTooLong);
    }
    Ok(note)
}
