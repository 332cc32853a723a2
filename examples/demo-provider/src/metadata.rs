//! The RFC 8414 authorization server metadata document.

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use crate::DemoProvider;
use crate::config::SCOPES;

/// The metadata document, as served.
#[derive(Debug, Serialize)]
pub(crate) struct Metadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    userinfo_endpoint: String,
    revocation_endpoint: String,
    scopes_supported: Vec<&'static str>,
    response_types_supported: [&'static str; 1],
    response_modes_supported: [&'static str; 1],
    grant_types_supported: [&'static str; 2],
    code_challenge_methods_supported: [&'static str; 1],
    token_endpoint_auth_methods_supported: [&'static str; 2],
    revocation_endpoint_auth_methods_supported: [&'static str; 2],
    authorization_response_iss_parameter_supported: bool,
}

/// The client authentication methods of the token and revocation endpoints.
const CLIENT_AUTH_METHODS: [&str; 2] = ["client_secret_basic", "client_secret_post"];

/// `GET /.well-known/oauth-authorization-server` and `/.well-known/openid-configuration`.
#[tracing::instrument(name = "DemoProvider::metadata", skip_all)]
pub(crate) async fn document(State(provider): State<DemoProvider>) -> Json<Metadata> {
    let settings = provider.settings();
    Json(Metadata {
        issuer: settings.issuer.clone(),
        authorization_endpoint: settings.endpoint("/authorize"),
        token_endpoint: settings.endpoint("/token"),
        userinfo_endpoint: settings.endpoint("/userinfo"),
        revocation_endpoint: settings.endpoint("/revoke"),
        scopes_supported: SCOPES.iter().map(|scope| scope.name).collect(),
        response_types_supported: ["code"],
        response_modes_supported: ["query"],
        grant_types_supported: ["authorization_code", "refresh_token"],
        code_challenge_methods_supported: ["S256"],
        token_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS,
        revocation_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS,
        authorization_response_iss_parameter_supported: true,
    })
}
