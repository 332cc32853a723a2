//! Which of scopeup's routes a request is for, and the cookie it carries; the target-independent
//! half of the request mapping.

/// The largest picker form accepted, in bytes.
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// One of the routes scopeup serves under the engine's public URL.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Route {
    /// `GET {base}connect/{id}`: the scope picker.
    ConnectPage {
        /// The elicitation id as it appeared in the path (the engine checks it).
        id: String,
    },
    /// `POST {base}connect/{id}`: the picker's submission.
    ConnectSubmit {
        /// The elicitation id as it appeared in the path.
        id: String,
    },
    /// `GET {base}oauth/callback`: the provider's redirect back.
    Callback,
    /// One of the paths above with another method.
    MethodNotAllowed {
        /// The methods the path takes.
        allow: &'static str,
    },
}

impl Route {
    /// The route of a request with `method` and `path`, under the engine's base path (`/` or
    /// `/prefix/`), or `None` when the path is not one of scopeup's.
    pub fn parse(base_path: &str, method: &str, path: &str) -> Option<Self> {
        let rest = path.strip_prefix(base_path)?;
        if rest == "oauth/callback" {
            return Some(match method {
                "GET" => Self::Callback,
                _ => Self::MethodNotAllowed { allow: "GET" },
            });
        }

        let id = rest.strip_prefix("connect/")?;
        if id.is_empty() || id.contains('/') {
            return None;
        }
        let id = id.to_owned();
        Some(match method {
            "GET" => Self::ConnectPage { id },
            "POST" => Self::ConnectSubmit { id },
            _ => Self::MethodNotAllowed { allow: "GET, POST" },
        })
    }
}

/// The value of the cookie `name` among the request's `Cookie` header values.
pub fn cookie_value<'a>(headers: impl IntoIterator<Item = &'a str>, name: &str) -> Option<String> {
    headers
        .into_iter()
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == name)
        .map(|cookie| cookie.value().to_owned())
}

/// The field values of a header as the fetch API's `Headers.get` returns them, joined with
/// `", "`. Cookie values hold no comma (RFC 6265 §4.1.1), so splitting there is exact for
/// `Cookie`.
pub fn fetch_header_values(joined: &str) -> impl Iterator<Item = &str> {
    joined
        .split(',')
        .map(str::trim)
        .filter(|value| !value.is_empty())
}

/// Whether a `Content-Type` value announces a URL-encoded form.
pub fn is_form(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|value| {
        value
            .trim_start()
            .to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
    })
}

/// The pairs of a URL-encoded form or query string.
pub fn form_pairs(encoded: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(encoded).into_owned().collect()
}

/// The path part of a base URL, ending in `/`.
pub fn base_path(public_url: &url::Url) -> String {
    let path = public_url.path();
    if path.ends_with('/') {
        path.to_owned()
    } else {
        format!("{path}/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_found_under_the_base_path() {
        assert_eq!(
            Route::parse("/", "GET", "/connect/abc"),
            Some(Route::ConnectPage { id: "abc".into() })
        );
        assert_eq!(
            Route::parse("/", "POST", "/connect/abc"),
            Some(Route::ConnectSubmit { id: "abc".into() })
        );
        assert_eq!(
            Route::parse("/mcp-host/", "GET", "/mcp-host/oauth/callback"),
            Some(Route::Callback)
        );
        assert_eq!(
            Route::parse("/", "POST", "/oauth/callback"),
            Some(Route::MethodNotAllowed { allow: "GET" })
        );
        assert_eq!(
            Route::parse("/", "DELETE", "/connect/abc"),
            Some(Route::MethodNotAllowed { allow: "GET, POST" })
        );
    }

    #[test]
    fn other_paths_are_left_to_the_host() {
        for path in [
            "/mcp",
            "/connect/",
            "/connect/a/b",
            "/oauth/callback/x",
            "/other/connect/a",
        ] {
            assert_eq!(Route::parse("/", "GET", path), None, "{path}");
        }
        assert_eq!(Route::parse("/prefix/", "GET", "/connect/abc"), None);
    }

    #[test]
    fn cookies_are_found_in_fields_the_fetch_api_joined() {
        let joined = "theme=dark; a=1, scopeup-browser=abc123; b=2";
        let values = || fetch_header_values(joined);
        assert_eq!(
            cookie_value(values(), "scopeup-browser").as_deref(),
            Some("abc123")
        );
        assert_eq!(cookie_value(values(), "a").as_deref(), Some("1"));
        assert_eq!(cookie_value(values(), "b").as_deref(), Some("2"));
        assert_eq!(cookie_value(fetch_header_values(""), "a"), None);
    }

    #[test]
    fn cookies_are_found_among_several_headers() {
        let headers = ["a=1; scopeup-browser=xyz", "b=2"];
        assert_eq!(
            cookie_value(headers, "scopeup-browser").as_deref(),
            Some("xyz")
        );
        assert_eq!(cookie_value(headers, "b").as_deref(), Some("2"));
        assert_eq!(cookie_value(headers, "missing"), None);
    }

    #[test]
    fn forms_are_recognised_by_content_type() {
        assert!(is_form(Some(
            "application/x-www-form-urlencoded; charset=utf-8"
        )));
        assert!(is_form(Some("Application/X-WWW-Form-Urlencoded")));
        assert!(!is_form(Some("application/json")));
        assert!(!is_form(None));
        assert_eq!(
            form_pairs(b"scope=a+b&csrf=%26"),
            vec![("scope".into(), "a b".into()), ("csrf".into(), "&".into())]
        );
    }
}
