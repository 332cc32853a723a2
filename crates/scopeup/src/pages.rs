//! The HTML pages: the scope picker and the result pages, rendered with askama (which escapes
//! every value), and the headers every page carries.

use std::sync::LazyLock;

use askama::Template;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

use crate::text::PageText;

/// What a page is, which decides its HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PageKind {
    /// The scope picker.
    Picker,
    /// A redirect to the provider's authorization endpoint.
    Redirect,
    /// The upgrade was stored.
    Completed,
    /// The user declined.
    Declined,
    /// The attempt failed; nothing was stored.
    Failed,
    /// The request was malformed (an unknown scope, a bad form).
    BadRequest,
    /// The request was refused (a missing CSRF token, another browser).
    Forbidden,
    /// No such elicitation.
    NotFound,
    /// The elicitation expired.
    Expired,
    /// The store or the provider is unavailable.
    Unavailable,
}

/// A page, ready for an HTTP adapter to send. Its `Debug` hides the cookie (the browser
/// binding) and the redirect target (which carries the OAuth `state`).
#[derive(Clone)]
#[non_exhaustive]
pub struct Page {
    /// What the page is.
    pub kind: PageKind,
    /// The HTML body (empty for a redirect).
    pub html: String,
    /// The redirect target, for [`PageKind::Redirect`].
    pub location: Option<String>,
    /// A `Set-Cookie` value to send.
    pub set_cookie: Option<String>,
    /// Origins the page's forms may submit or redirect to, besides its own.
    form_targets: Vec<String>,
}

impl std::fmt::Debug for Page {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |value: &Option<String>| value.as_ref().map(|_| "<redacted>");
        f.debug_struct("Page")
            .field("kind", &self.kind)
            .field("html_len", &self.html.len())
            .field("location", &hidden(&self.location))
            .field("set_cookie", &hidden(&self.set_cookie))
            .finish_non_exhaustive()
    }
}

impl Page {
    /// The HTTP status for the page.
    pub fn status(&self) -> u16 {
        match self.kind {
            PageKind::Picker | PageKind::Completed | PageKind::Declined => 200,
            PageKind::Redirect => 303,
            PageKind::Failed => 403,
            PageKind::BadRequest => 400,
            PageKind::Forbidden => 403,
            PageKind::NotFound => 404,
            PageKind::Expired => 410,
            PageKind::Unavailable => 503,
        }
    }

    /// Every header the page needs: content type, the security headers of the design's
    /// invariant 9, the cookie and the redirect.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut form_action = String::from("'self'");
        for target in &self.form_targets {
            form_action.push(' ');
            form_action.push_str(target);
        }
        let mut headers = vec![
            ("content-type", "text/html; charset=utf-8".to_owned()),
            (
                "content-security-policy",
                format!(
                    "default-src 'none'; style-src '{}'; img-src 'self'; form-action {form_action}; \
                     frame-ancestors 'none'; base-uri 'none'",
                    *STYLE_HASH
                ),
            ),
            ("referrer-policy", "no-referrer".to_owned()),
            ("cache-control", "no-store".to_owned()),
            ("x-content-type-options", "nosniff".to_owned()),
            ("x-frame-options", "DENY".to_owned()),
        ];
        if let Some(location) = &self.location {
            headers.push(("location", location.clone()));
        }
        if let Some(cookie) = &self.set_cookie {
            headers.push(("set-cookie", cookie.clone()));
        }
        headers
    }

    pub(crate) fn redirect(location: String, form_target: String) -> Self {
        Self {
            kind: PageKind::Redirect,
            html: String::new(),
            location: Some(location),
            set_cookie: None,
            form_targets: vec![form_target],
        }
    }

    pub(crate) fn html(kind: PageKind, html: String) -> Self {
        Self {
            kind,
            html,
            location: None,
            set_cookie: None,
            form_targets: Vec::new(),
        }
    }

    pub(crate) fn with_cookie(mut self, cookie: Option<String>) -> Self {
        self.set_cookie = cookie;
        self
    }

    pub(crate) fn with_form_target(mut self, origin: String) -> Self {
        self.form_targets.push(origin);
        self
    }
}

/// The pages' style sheet, inline so that the policy needs no origin but its hash.
const CSS: &str = "\
:root{color-scheme:light dark;--fg:#1a1a1a;--bg:#fff;--muted:#555;--accent:#0b57d0;\
--border:#c4c7c5;--error:#b3261e}\
@media (prefers-color-scheme:dark){:root{--fg:#e6e6e6;--bg:#121212;--muted:#b0b0b0;\
--accent:#8ab4f8;--border:#5f6368;--error:#f2b8b5}}\
body{font:16px/1.5 system-ui,sans-serif;color:var(--fg);background:var(--bg);margin:0}\
main{max-width:42rem;margin:0 auto;padding:1.5rem}\
h1{font-size:1.5rem;line-height:1.3}\
fieldset{border:1px solid var(--border);border-radius:.5rem;margin:1rem 0;padding:.5rem 1rem}\
legend{font-weight:600;padding:0 .25rem}\
ul{list-style:none;padding:0;margin:0}li{margin:.4rem 0}\
label{cursor:pointer}code{font-size:.95em}\
.lead{font-size:1.05rem}.upstream,.note,footer{color:var(--muted)}\
.label{font-weight:600}.error{color:var(--error);font-weight:600}\
.description{color:var(--muted);margin-left:.5rem}\
button{font:inherit;padding:.5rem 1rem;border-radius:.4rem;border:1px solid var(--border);\
background:var(--bg);color:var(--fg);cursor:pointer}\
button.primary{background:var(--accent);color:var(--bg);border-color:var(--accent)}\
:focus-visible{outline:3px solid var(--accent);outline-offset:2px}\
.actions{display:flex;flex-wrap:wrap;gap:.75rem;margin-top:1.5rem}\
footer{max-width:42rem;margin:0 auto;padding:0 1.5rem 1.5rem;font-size:.9rem}";

static STYLE_HASH: LazyLock<String> =
    LazyLock::new(|| format!("sha256-{}", STANDARD.encode(Sha256::digest(CSS.as_bytes()))));

/// One scope row on the picker.
pub(crate) struct ScopeRow {
    pub(crate) id: String,
    pub(crate) scope: String,
    pub(crate) description: String,
}

/// A titled group of optional scopes on the picker.
pub(crate) struct GroupView {
    pub(crate) name: String,
    pub(crate) rows: Vec<ScopeRow>,
}

/// A template button on the picker.
pub(crate) struct TemplateView {
    pub(crate) key: String,
    pub(crate) name: String,
    pub(crate) description: String,
}

#[derive(Template)]
#[template(path = "picker.html")]
pub(crate) struct PickerPage<'a> {
    pub(crate) css: &'static str,
    pub(crate) text: &'a PageText,
    pub(crate) host_name: String,
    pub(crate) title: String,
    pub(crate) heading: String,
    pub(crate) lead: String,
    pub(crate) provider_said: String,
    pub(crate) continue_to: String,
    pub(crate) correlation_id: String,
    pub(crate) upstream_message: Option<String>,
    pub(crate) error: Option<String>,
    pub(crate) action: String,
    pub(crate) csrf: String,
    pub(crate) needed: Vec<ScopeRow>,
    pub(crate) granted: Vec<ScopeRow>,
    pub(crate) templates: Vec<TemplateView>,
    pub(crate) groups: Vec<GroupView>,
    pub(crate) limit_note: Option<String>,
}

#[derive(Template)]
#[template(path = "message.html")]
pub(crate) struct MessagePage<'a> {
    pub(crate) css: &'static str,
    pub(crate) text: &'a PageText,
    pub(crate) host_name: String,
    pub(crate) correlation_id: String,
    pub(crate) title: String,
    pub(crate) paragraphs: Vec<String>,
    pub(crate) granted: Vec<String>,
    pub(crate) declined: Vec<String>,
    pub(crate) declined_heading: String,
    pub(crate) retry_url: Option<String>,
}

pub(crate) fn css() -> &'static str {
    CSS
}

/// Renders a template; a rendering failure (which askama only reports for a failing `Display`
/// of a value) becomes a plain page rather than a panic.
pub(crate) fn render(template: &impl Template) -> String {
    template.render().unwrap_or_else(|error| {
        tracing::warn!(%error, "page rendering failed");
        String::from("<!doctype html><title>Error</title><p>This page could not be shown.</p>")
    })
}

/// A message page with no scope lists.
pub(crate) fn message(
    kind: PageKind,
    text: &PageText,
    host_name: &str,
    correlation_id: &str,
    title: &str,
    paragraphs: Vec<String>,
) -> Page {
    let page = MessagePage {
        css: CSS,
        text,
        host_name: host_name.to_owned(),
        correlation_id: correlation_id.to_owned(),
        title: title.to_owned(),
        paragraphs,
        granted: Vec::new(),
        declined: Vec::new(),
        declined_heading: String::new(),
        retry_url: None,
    };
    Page::html(kind, render(&page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_carries_the_security_headers() {
        let text = PageText::english();
        let page = message(PageKind::NotFound, &text, "Host", "", "Not found", vec![]);
        let headers = page.headers();
        let get = |name: &str| {
            headers
                .iter()
                .find(|(header, _)| *header == name)
                .map(|(_, v)| v.as_str())
        };
        let policy = get("content-security-policy").unwrap();
        assert!(policy.contains("frame-ancestors 'none'"));
        assert!(policy.contains("default-src 'none'"));
        assert!(!policy.contains("unsafe-inline"));
        assert_eq!(get("referrer-policy"), Some("no-referrer"));
        assert_eq!(get("cache-control"), Some("no-store"));
        assert_eq!(page.status(), 404);
    }

    #[test]
    fn debug_hides_the_cookie_and_the_redirect() {
        let page = Page::redirect(
            "https://auth.example/authorize?state=s3cret".to_owned(),
            "https://auth.example".to_owned(),
        )
        .with_cookie(Some("scopeup-browser=b-s3cret".to_owned()));
        let shown = format!("{page:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("Redirect"), "{shown}");
    }

    #[test]
    fn upstream_text_is_escaped() {
        let page = message(
            PageKind::Failed,
            &PageText::english(),
            "Host",
            "",
            "Failed",
            vec!["<script>alert(1)</script>".to_owned()],
        );
        assert!(!page.html.contains("<script>"));
        assert!(page.html.contains("&#60;script&#62;") || page.html.contains("&lt;script&gt;"));
    }
}
