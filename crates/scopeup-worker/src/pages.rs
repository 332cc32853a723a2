//! The connect page and the OAuth callback as Worker routes: a request is mapped to the engine's
//! call and the engine's page back to a response. Every decision is the engine's.

use scopeup::{CallbackParams, Engine, Page};
use worker::{Headers, Request, Response};

use crate::routes::{
    MAX_FORM_BYTES, Route, base_path, cookie_value, fetch_header_values, form_pairs, is_form,
};
use crate::runtime::read_limited;

/// Serves `request` when it is for one of scopeup's routes (`/connect/{id}`, `/oauth/callback`
/// under the engine's public URL); `None` leaves it to the host.
pub async fn serve(engine: &Engine, request: &mut Request) -> worker::Result<Option<Response>> {
    let url = request.url()?;
    let base = base_path(&engine.config().public_url);
    let method = request.method().to_string();
    let Some(route) = Route::parse(&base, &method, url.path()) else {
        return Ok(None);
    };

    // `Headers.get` joins several `Cookie` fields with ", " (`getAll` throws in workerd for any
    // header but `Set-Cookie`).
    let cookies = request.headers().get("cookie")?.unwrap_or_default();
    let browser = cookie_value(fetch_header_values(&cookies), engine.browser_cookie_name());
    let page = match route {
        Route::ConnectPage { id } => engine.connect_page(&id, browser.as_deref()).await,
        Route::ConnectSubmit { id } => {
            let content_type = request.headers().get("content-type").ok().flatten();
            if !is_form(content_type.as_deref()) {
                return Response::error("expected a form submission", 415).map(Some);
            }
            let headers = request.headers().clone();
            let body = read_limited(&headers, request.stream(), MAX_FORM_BYTES).await?;
            let Some(body) = body else {
                return Response::error("the form is too large", 413).map(Some);
            };
            let fields = form_pairs(&body);
            engine
                .connect_submit(&id, browser.as_deref(), &fields)
                .await
        }
        Route::Callback => {
            let pairs = form_pairs(url.query().unwrap_or_default().as_bytes());
            let params = CallbackParams::from_pairs(
                pairs
                    .iter()
                    .map(|(name, value)| (name.as_str(), value.as_str())),
            );
            engine.oauth_callback(params, browser.as_deref()).await
        }
        Route::MethodNotAllowed { allow } => {
            let headers = Headers::new();
            headers.set("allow", allow)?;
            let response = Response::error("method not allowed", 405)?.with_headers(headers);
            return Ok(Some(response));
        }
    };
    page_response(page).map(Some)
}

/// Turns an engine page into a response with its status and headers.
pub fn page_response(page: Page) -> worker::Result<Response> {
    let headers = Headers::new();
    for (name, value) in page.headers() {
        headers.append(name, &value)?;
    }
    let status = page.status();
    Ok(Response::from_html(&page.html)?
        .with_status(status)
        .with_headers(headers))
}
