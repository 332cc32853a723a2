//! The HTML pages (sign-in, consent, messages) and the headers every page carries.
//!
//! Templates live in `templates/` and are rendered by askama, which escapes every value; nothing
//! here marks a value as safe.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};

use crate::config::DemoScope;

/// The sign-in form.
#[derive(Debug, Template)]
#[template(path = "login.html")]
pub(crate) struct LoginPage<'a> {
    /// Where the form posts.
    pub(crate) action: String,
    /// The client that asked.
    pub(crate) client_id: &'a str,
    /// The pending request the form belongs to.
    pub(crate) request_id: &'a str,
    /// The username to show again after a failed attempt.
    pub(crate) username: &'a str,
    /// Why the last attempt failed.
    pub(crate) error: Option<&'a str>,
}

/// The consent form.
#[derive(Debug, Template)]
#[template(path = "consent.html")]
pub(crate) struct ConsentPage<'a> {
    /// Where the form posts.
    pub(crate) action: String,
    /// The link that signs out and shows the sign-in form for the same request.
    pub(crate) logout_href: String,
    /// The client that asked.
    pub(crate) client_id: &'a str,
    /// Who is signed in.
    pub(crate) username: &'a str,
    /// The signed-in person's display name.
    pub(crate) display_name: &'a str,
    /// The pending request the form belongs to.
    pub(crate) request_id: &'a str,
    /// One checkbox per requested scope.
    pub(crate) scopes: Vec<ScopeCheckbox>,
    /// The origin of the redirect URI, where the browser goes next.
    pub(crate) return_to: String,
}

/// A scope as the consent page lists it.
#[derive(Debug)]
pub(crate) struct ScopeCheckbox {
    /// The element id, derived from the scope name.
    pub(crate) id: String,
    /// The scope.
    pub(crate) name: &'static str,
    /// What it allows, for people.
    pub(crate) description: &'static str,
}

/// A page with a heading and one paragraph: errors, and the signed-out notice.
#[derive(Debug, Template)]
#[template(path = "message.html")]
pub(crate) struct MessagePage<'a> {
    /// The heading.
    pub(crate) heading: &'a str,
    /// The paragraph.
    pub(crate) message: &'a str,
}

/// The policy for every page: no scripts, no frames, styles only from the page itself.
///
/// There is no `form-action`: browsers apply it to the redirect that follows the consent form,
/// and that redirect goes to the client.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'";

impl ScopeCheckbox {
    /// The checkbox for one catalog scope.
    pub(crate) fn new(scope: &'static DemoScope) -> Self {
        let id = format!(
            "scope-{}",
            scope
                .name
                .replace(|c: char| !c.is_ascii_alphanumeric(), "-")
        );
        Self {
            id,
            name: scope.name,
            description: scope.description,
        }
    }
}

/// Renders a page with the given status and the page headers.
pub(crate) fn render(status: StatusCode, page: &impl Template) -> Response {
    let html = match page.render() {
        Ok(html) => html,
        Err(error) => {
            tracing::warn!(%error, "a page failed to render");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page failed to render",
            )
                .into_response();
        }
    };

    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// Renders a message page.
pub(crate) fn message(status: StatusCode, heading: &str, message: &str) -> Response {
    render(status, &MessagePage { heading, message })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_strings_are_escaped() {
        let page = LoginPage {
            action: "/login".to_owned(),
            client_id: "<script>alert(1)</script>",
            request_id: "\"><img>",
            username: "<b>mallory</b>",
            error: Some("<i>nope</i>"),
        };
        let html = page.render().unwrap();
        assert!(!html.contains("<script>alert"));
        assert!(!html.contains("<b>mallory"));
        assert!(!html.contains("\"><img>"));
        assert!(!html.contains("<i>nope"));
    }

    #[test]
    fn checkbox_ids_are_plain() {
        let scope = &crate::config::SCOPES[0];
        assert_eq!(ScopeCheckbox::new(scope).id, "scope-notes-read");
    }
}
