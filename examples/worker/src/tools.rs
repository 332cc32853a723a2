//! The Worker's tools: which ones it offers and the upstream request each makes. Two sets, one
//! per provider the Worker can be configured with: Cloudflare's own API (the default, with the
//! Cloudflare preset) and the demo notes API (any OAuth provider described by variables, which
//! the end-to-end test uses with the demo provider).

use rmcp::ErrorData;
use rmcp::model::{JsonObject, Tool};
use scopeup_core::{HttpMethod, HttpRequest};
use serde_json::{Value, json};
use url::Url;

/// The tools a Worker offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ToolSet {
    /// Cloudflare's API at `api.cloudflare.com`: who you are, your accounts, zones, DNS records
    /// and Workers. A refusal is Cloudflare's error 10000, judged by the preset's classifier
    /// from the call.
    Cloudflare,
    /// The demo notes API: list, create and delete notes.
    Notes,
}

impl ToolSet {
    /// The base URL of the API these tools call, where it is fixed.
    pub fn default_api_base(self) -> Option<&'static str> {
        match self {
            Self::Cloudflare => Some("https://api.cloudflare.com/"),
            Self::Notes => None,
        }
    }

    /// The tools and their input schemas.
    pub fn tools(self) -> Vec<Tool> {
        match self {
            Self::Cloudflare => cloudflare_tools(),
            Self::Notes => notes_tools(),
        }
    }

    /// The upstream request of `tool` with `arguments`, against `api_base`, without its token.
    pub fn request(
        self,
        api_base: &Url,
        tool: &str,
        arguments: Option<&JsonObject>,
    ) -> Result<HttpRequest, ErrorData> {
        let argument = |name: &str| arguments.and_then(|arguments| arguments.get(name));
        let (method, path, body) = match (self, tool) {
            (Self::Cloudflare, "whoami") => (HttpMethod::Get, "client/v4/user".to_owned(), None),
            (Self::Cloudflare, "list_accounts") => {
                (HttpMethod::Get, "client/v4/accounts".to_owned(), None)
            }
            (Self::Cloudflare, "list_zones") => {
                (HttpMethod::Get, "client/v4/zones".to_owned(), None)
            }
            (Self::Cloudflare, "list_dns_records") => {
                let zone = identifier(argument("zone_id"), "zone_id")?;
                let path = format!("client/v4/zones/{zone}/dns_records");
                (HttpMethod::Get, path, None)
            }
            (Self::Cloudflare, "list_workers") => {
                let account = identifier(argument("account_id"), "account_id")?;
                let path = format!("client/v4/accounts/{account}/workers/scripts");
                (HttpMethod::Get, path, None)
            }
            (Self::Notes, "list_notes") => (HttpMethod::Get, "api/notes".to_owned(), None),
            (Self::Notes, "create_note") => {
                let Some(Value::String(title)) = argument("title") else {
                    return Err(ErrorData::invalid_params("`title` must be a string", None));
                };
                let body = match argument("body") {
                    None => "",
                    Some(Value::String(body)) => body.as_str(),
                    Some(_) => {
                        return Err(ErrorData::invalid_params("`body` must be a string", None));
                    }
                };
                let body = json!({ "title": title, "body": body });
                (HttpMethod::Post, "api/notes".to_owned(), Some(body))
            }
            (Self::Notes, "delete_note") => {
                let Some(id) = argument("id").and_then(Value::as_u64) else {
                    return Err(ErrorData::invalid_params("`id` must be a note id", None));
                };
                (HttpMethod::Delete, format!("api/notes/{id}"), None)
            }
            _ => {
                return Err(ErrorData::invalid_params(
                    format!("no tool named `{tool}`"),
                    None,
                ));
            }
        };

        let base = api_base.as_str().trim_end_matches('/');
        let url = Url::parse(&format!("{base}/{path}"))
            .map_err(|_| ErrorData::internal_error("the API's URL is not valid", None))?;
        let mut request = HttpRequest::new(method, url);
        if let Some(body) = body {
            request = request.with_header("content-type", "application/json");
            request.body = body.to_string().into_bytes();
        }
        Ok(request)
    }
}

/// A Cloudflare account or zone id: 32 hexadecimal digits. Anything else is refused before it
/// can reach a URL path.
fn identifier<'a>(value: Option<&'a Value>, name: &str) -> Result<&'a str, ErrorData> {
    match value.and_then(Value::as_str) {
        Some(id) if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) => Ok(id),
        _ => Err(ErrorData::invalid_params(
            format!("`{name}` must be a Cloudflare id of 32 hexadecimal digits"),
            None,
        )),
    }
}

fn schema(value: Value) -> JsonObject {
    match value {
        Value::Object(object) => object,
        _ => JsonObject::new(),
    }
}

fn no_arguments() -> JsonObject {
    schema(json!({ "type": "object", "properties": {} }))
}

fn id_argument(name: &str, description: &str) -> JsonObject {
    schema(json!({
        "type": "object",
        "properties": { name: { "type": "string", "description": description } },
        "required": [name],
    }))
}

fn cloudflare_tools() -> Vec<Tool> {
    vec![
        Tool::new(
            "whoami",
            "Your Cloudflare user. Needs user:read.",
            no_arguments(),
        ),
        Tool::new(
            "list_accounts",
            "The Cloudflare accounts you belong to. Needs account:read.",
            no_arguments(),
        ),
        Tool::new(
            "list_zones",
            "Your zones (domains). Needs zone:read.",
            no_arguments(),
        ),
        Tool::new(
            "list_dns_records",
            "The DNS records of a zone. Needs dns_records:read.",
            id_argument("zone_id", "The zone's id, from list_zones."),
        ),
        Tool::new(
            "list_workers",
            "The Worker scripts of an account. Needs workers:read.",
            id_argument("account_id", "The account's id, from list_accounts."),
        ),
    ]
}

fn notes_tools() -> Vec<Tool> {
    vec![
        Tool::new(
            "list_notes",
            "List your notes. Needs the notes:read scope.",
            no_arguments(),
        ),
        Tool::new(
            "create_note",
            "Create a note with a title and a body. Needs the notes:write scope.",
            schema(json!({
                "type": "object",
                "properties": {
                    "title": { "type": "string", "description": "The note's title." },
                    "body": { "type": "string", "description": "The note's text." },
                },
                "required": ["title"],
            })),
        ),
        Tool::new(
            "delete_note",
            "Delete a note by its id. Needs the notes:delete scope.",
            schema(json!({
                "type": "object",
                "properties": {
                    "id": { "type": "integer", "description": "The id of the note to delete." },
                },
                "required": ["id"],
            })),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use scopeup_core::{HttpResponse, Refusal, ScopeSet, UpstreamCall};
    use scopeup_oauth::presets::{self, PresetClient};

    use super::*;

    const ZONE: &str = "023e105f4ecef8ad9ca31a8372d0c353";

    fn arguments(value: Value) -> JsonObject {
        schema(value)
    }

    #[test]
    fn every_tool_has_an_object_schema_and_a_request() {
        for set in [ToolSet::Cloudflare, ToolSet::Notes] {
            let base =
                Url::parse(set.default_api_base().unwrap_or("https://notes.example/")).unwrap();
            for tool in set.tools() {
                assert_eq!(tool.input_schema.get("type"), Some(&json!("object")));
                let given = arguments(json!({
                    "zone_id": ZONE, "account_id": ZONE, "title": "t", "id": 1,
                }));
                let upstream = set.request(&base, &tool.name, Some(&given)).unwrap();
                assert!(upstream.url.as_str().starts_with(base.as_str()));
            }
        }
    }

    #[test]
    fn ids_that_could_change_the_path_are_refused() {
        let base = Url::parse("https://api.cloudflare.com/").unwrap();
        for id in ["../../accounts", "abc", &format!("{ZONE}/x"), ""] {
            let given = arguments(json!({ "zone_id": id }));
            let refused = ToolSet::Cloudflare.request(&base, "list_dns_records", Some(&given));
            assert!(refused.is_err(), "{id}");
        }
        let missing = ToolSet::Cloudflare.request(&base, "list_dns_records", None);
        assert!(missing.is_err());
    }

    #[test]
    fn a_refused_zone_listing_asks_for_zone_read() {
        // The preset's classifier judges error 10000 from the call this tool makes.
        let provider = presets::cloudflare(PresetClient::new(
            "client",
            None,
            Url::parse("https://worker.example/oauth/callback").unwrap(),
        ))
        .unwrap();
        let base = Url::parse("https://api.cloudflare.com/").unwrap();
        let upstream = ToolSet::Cloudflare
            .request(&base, "list_zones", None)
            .unwrap();
        let refused = HttpResponse::new(403).with_body(
            r#"{"success":false,"errors":[{"code":10000,"message":"Authentication error"}]}"#,
        );
        let held = ScopeSet::parse("user:read account:read offline_access").unwrap();

        let call = UpstreamCall::new(upstream.method, upstream.url);
        let refusal = provider.behaviour.classify_call(&call, &refused, &held);

        let Refusal::MissingScope(missing) = refusal else {
            panic!("expected a missing scope, got {refusal:?}");
        };
        let needed: Vec<&str> = missing
            .needed
            .iter()
            .chain(missing.any_of.iter())
            .map(|scope| scope.as_str())
            .collect();
        assert!(needed.contains(&"zone:read"), "{needed:?}");
    }
}
