//! `requestState` for `2026-07-28` retries: an HMAC-SHA256 token bound to the principal, the
//! elicitation, an expiry and a digest of the original tool call.
//!
//! The client echoes the state back verbatim, so it is untrusted input: every value is checked
//! for its tag before its payload is even parsed, and every kind of failure gets the same
//! answer. The payload is readable by the client (it is signed, not encrypted), so it holds a
//! keyed hash of the principal's subject, never the subject itself.
//!
//! rmcp's `RequestStateCodec` is not used: it reads the wall clock through `chrono` on every seal
//! and open, even without a TTL, so tests cannot move time, the host's `Clock` port is bypassed,
//! and on `wasm32-unknown-unknown` (the Worker) the call panics; its clock-taking methods are
//! private.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use rmcp::ErrorData;
use rmcp::model::JsonObject;
use scopeup_core::{ElicitationId, Principal, Random, RandomError, UnixTime};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop};

type HmacSha256 = Hmac<Sha256>;

/// The payload format this module writes and reads.
const VERSION: u8 = 1;

/// Domain-separation labels, so that no tag or hash made here can stand in for another.
const DOMAIN_STATE: &[u8] = b"scopeup/mcp/request-state/v1";
const DOMAIN_SUBJECT: &[u8] = b"scopeup/mcp/request-state/subject/v1";
const DOMAIN_REQUEST: &[u8] = b"scopeup/mcp/request-state/request/v1";

/// The longest state accepted; a sealed state is about 250 bytes.
const MAX_STATE_LEN: usize = 1024;

/// The one answer to every unusable state, so that a client learns nothing from the failure.
const REFUSAL: &str = "requestState was altered, expired, or belongs to another request";

/// The secret that seals `requestState` values. Every instance that may receive a retry needs
/// the same key; generate it once and keep it with the host's other secrets.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct RequestStateKey([u8; RequestStateKey::LEN]);

impl RequestStateKey {
    /// The key length in bytes.
    pub const LEN: usize = 32;

    /// A key from its bytes (from the host's secret store).
    pub fn from_bytes(bytes: [u8; Self::LEN]) -> Self {
        Self(bytes)
    }

    /// A fresh random key.
    pub fn generate(random: &dyn Random) -> Result<Self, RandomError> {
        let mut bytes = [0_u8; Self::LEN];
        random.fill(&mut bytes)?;
        Ok(Self(bytes))
    }

    /// An HMAC-SHA256 over `domain` and `data`, each length-prefixed.
    fn mac(&self, domain: &[u8], data: &[u8]) -> HmacSha256 {
        #[expect(
            clippy::expect_used,
            reason = "HMAC takes keys of any length, and this one is always 32 bytes"
        )]
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC accepts a 32-byte key");
        mac.update(&(domain.len() as u64).to_be_bytes());
        mac.update(domain);
        mac.update(&(data.len() as u64).to_be_bytes());
        mac.update(data);
        mac
    }
}

impl fmt::Debug for RequestStateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RequestStateKey(<redacted>)")
    }
}

/// Seals the state handed out with an elicitation: valid for `principal` retrying the tool
/// `tool_name` with the same `arguments`, until `expires_at`.
pub fn seal_request_state(
    key: &RequestStateKey,
    principal: &Principal,
    tool_name: &str,
    arguments: Option<&JsonObject>,
    elicitation: &ElicitationId,
    expires_at: UnixTime,
) -> String {
    let payload = Payload {
        v: VERSION,
        sub: subject_hash(key, principal),
        eid: elicitation.as_str().to_owned(),
        dig: request_digest(tool_name, arguments),
        exp: expires_at.as_secs(),
    };
    // Serializing a struct of strings and integers cannot fail.
    let json = serde_json::to_vec(&payload).unwrap_or_default();

    let encoded = URL_SAFE_NO_PAD.encode(json);
    let tag = key
        .mac(DOMAIN_STATE, encoded.as_bytes())
        .finalize()
        .into_bytes();
    format!("{encoded}.{}", URL_SAFE_NO_PAD.encode(tag))
}

/// Checks a `requestState` echoed back by a retry and returns the elicitation it was issued
/// with. A state that was altered, has expired, was issued to another principal, or was issued
/// for another tool or other arguments is refused with `invalid_params`.
pub fn verify_request_state(
    key: &RequestStateKey,
    state: &str,
    principal: &Principal,
    tool_name: &str,
    arguments: Option<&JsonObject>,
    now: UnixTime,
) -> Result<ElicitationId, ErrorData> {
    open(key, state, principal, tool_name, arguments, now).map_err(|reason| {
        tracing::debug!(reason, "refused a requestState");
        ErrorData::invalid_params(REFUSAL, None)
    })
}

/// What a sealed state holds. Short field names keep the state short.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    /// The format version.
    v: u8,
    /// A keyed hash of the principal's subject.
    sub: String,
    /// The elicitation id.
    eid: String,
    /// A digest of the tool name and arguments.
    dig: String,
    /// Expiry, in seconds since the Unix epoch.
    exp: u64,
}

fn open(
    key: &RequestStateKey,
    state: &str,
    principal: &Principal,
    tool_name: &str,
    arguments: Option<&JsonObject>,
    now: UnixTime,
) -> Result<ElicitationId, &'static str> {
    // Check the framing and the tag before reading anything else.
    if state.len() > MAX_STATE_LEN {
        return Err("too long");
    }
    let Some((encoded, tag)) = state.split_once('.') else {
        return Err("malformed");
    };
    let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| "malformed tag")?;
    key.mac(DOMAIN_STATE, encoded.as_bytes())
        .verify_slice(&tag)
        .map_err(|_| "bad tag")?;

    // The payload is ours; check what it is bound to.
    let json = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| "malformed payload")?;
    let payload: Payload = serde_json::from_slice(&json).map_err(|_| "malformed payload")?;
    if payload.v != VERSION {
        return Err("unknown version");
    }
    if payload.sub != subject_hash(key, principal) {
        return Err("another principal");
    }
    if payload.dig != request_digest(tool_name, arguments) {
        return Err("another request");
    }
    if now.as_secs() >= payload.exp {
        return Err("expired");
    }
    ElicitationId::parse(&payload.eid).map_err(|_| "malformed elicitation id")
}

/// A keyed hash of the principal's subject: stable for one key, meaningless without it.
fn subject_hash(key: &RequestStateKey, principal: &Principal) -> String {
    let tag = key
        .mac(DOMAIN_SUBJECT, principal.subject().as_bytes())
        .finalize()
        .into_bytes();
    URL_SAFE_NO_PAD.encode(tag)
}

/// SHA-256 over the tool name and the canonical JSON of the arguments. Absent arguments and
/// `{}` are the same call.
fn request_digest(tool_name: &str, arguments: Option<&JsonObject>) -> String {
    let mut canonical = String::new();
    match arguments {
        Some(arguments) => write_canonical_object(arguments, &mut canonical),
        None => canonical.push_str("{}"),
    }

    let mut hasher = Sha256::new();
    for part in [DOMAIN_REQUEST, tool_name.as_bytes(), canonical.as_bytes()] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    URL_SAFE_NO_PAD.encode(hasher.finalize())
}

/// JSON with object keys sorted and no whitespace, whatever order the client sent them in.
fn write_canonical(value: &serde_json::Value, out: &mut String) {
    use serde_json::Value;

    match value {
        Value::Object(object) => write_canonical_object(object, out),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        // Scalars print the same way whatever map type serde_json was built with.
        scalar => out.push_str(&scalar.to_string()),
    }
}

fn write_canonical_object(object: &JsonObject, out: &mut String) {
    let mut entries: Vec<_> = object.iter().collect();
    entries.sort_by_key(|(name, _)| *name);

    out.push('{');
    for (index, (name, value)) in entries.into_iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::Value::String(name.clone()).to_string());
        out.push(':');
        write_canonical(value, out);
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    // The key can be neither displayed nor serialized.
    static_assertions::assert_not_impl_any!(RequestStateKey: std::fmt::Display, serde::Serialize);

    const ELICITATION: &str = "AAECAwQFBgcICQoLDA0ODw";

    fn key() -> RequestStateKey {
        RequestStateKey::from_bytes([7; 32])
    }

    fn alice() -> Principal {
        Principal::new("alice@example.com").unwrap()
    }

    fn arguments(value: serde_json::Value) -> JsonObject {
        match value {
            serde_json::Value::Object(object) => object,
            _ => panic!("arguments must be an object"),
        }
    }

    fn sealed(arguments: &JsonObject) -> String {
        seal_request_state(
            &key(),
            &alice(),
            "list_repos",
            Some(arguments),
            &ElicitationId::parse(ELICITATION).unwrap(),
            UnixTime::from_secs(1_000),
        )
    }

    fn verify(state: &str, principal: &Principal, args: &JsonObject, now: u64) -> bool {
        verify_request_state(
            &key(),
            state,
            principal,
            "list_repos",
            Some(args),
            UnixTime::from_secs(now),
        )
        .is_ok()
    }

    /// The segment with its first character changed (the last one may hold only padding bits).
    fn flip_first_char(segment: &str) -> String {
        let replacement = if segment.starts_with('A') { 'B' } else { 'A' };
        format!("{replacement}{}", &segment[1..])
    }

    #[test]
    fn sealed_state_round_trips_to_its_elicitation() {
        let args = arguments(json!({"org": "acme", "page": 2}));
        let state = sealed(&args);

        let id = verify_request_state(
            &key(),
            &state,
            &alice(),
            "list_repos",
            Some(&args),
            UnixTime::from_secs(999),
        )
        .unwrap();

        assert_eq!(id.as_str(), ELICITATION);
        assert!(
            !state.contains("alice"),
            "the subject must not be readable: {state}"
        );
    }

    #[test]
    fn argument_order_does_not_change_the_request() {
        let state = sealed(&arguments(
            json!({"org": "acme", "page": 2, "filter": {"b": 1, "a": [1, {"y": 0, "x": 1}]}}),
        ));
        let reordered: JsonObject = serde_json::from_str(
            r#"{"filter": {"a": [1, {"x": 1, "y": 0}], "b": 1}, "page": 2, "org": "acme"}"#,
        )
        .unwrap();
        assert!(verify(&state, &alice(), &reordered, 999));
    }

    #[test]
    fn tampered_payload_is_refused() {
        let args = arguments(json!({"org": "acme"}));
        let state = sealed(&args);
        let (payload, tag) = state.split_once('.').unwrap();

        // A payload re-encoded with a later expiry keeps the old tag.
        let mut decoded: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        decoded["exp"] = json!(u64::MAX);
        let forged = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&decoded).unwrap());
        assert!(!verify(&format!("{forged}.{tag}"), &alice(), &args, 999));

        assert!(!verify(
            &format!("{}.{tag}", flip_first_char(payload)),
            &alice(),
            &args,
            999
        ));
    }

    #[test]
    fn tampered_mac_is_refused() {
        let args = arguments(json!({"org": "acme"}));
        let state = sealed(&args);
        let (payload, tag) = state.split_once('.').unwrap();

        assert!(!verify(
            &format!("{payload}.{}", flip_first_char(tag)),
            &alice(),
            &args,
            999
        ));
        assert!(!verify(&format!("{payload}."), &alice(), &args, 999));
        assert!(!verify(payload, &alice(), &args, 999));
        assert!(!verify(&format!("{state}.extra"), &alice(), &args, 999));
    }

    #[test]
    fn state_of_another_principal_is_refused() {
        let args = arguments(json!({"org": "acme"}));
        let state = sealed(&args);
        assert!(!verify(
            &state,
            &Principal::new("mallory").unwrap(),
            &args,
            999
        ));
    }

    #[test]
    fn state_of_another_request_is_refused() {
        let state = sealed(&arguments(json!({"org": "acme"})));
        assert!(!verify(
            &state,
            &alice(),
            &arguments(json!({"org": "evil"})),
            999
        ));
        assert!(!verify(&state, &alice(), &arguments(json!({})), 999));

        let other_tool = verify_request_state(
            &key(),
            &state,
            &alice(),
            "delete_repo",
            Some(&arguments(json!({"org": "acme"}))),
            UnixTime::from_secs(999),
        );
        assert!(other_tool.is_err());
    }

    #[test]
    fn expired_state_is_refused() {
        let args = arguments(json!({"org": "acme"}));
        let state = sealed(&args);
        assert!(verify(&state, &alice(), &args, 999));
        assert!(!verify(&state, &alice(), &args, 1_000));
        assert!(!verify(&state, &alice(), &args, 5_000));
    }

    #[test]
    fn state_sealed_under_another_key_is_refused() {
        let args = arguments(json!({"org": "acme"}));
        let state = sealed(&args);
        let other = verify_request_state(
            &RequestStateKey::from_bytes([8; 32]),
            &state,
            &alice(),
            "list_repos",
            Some(&args),
            UnixTime::from_secs(999),
        );
        assert!(other.is_err());
    }

    #[test]
    fn every_refusal_is_the_same_invalid_params_error() {
        let args = arguments(json!({"org": "acme"}));
        let error = verify_request_state(
            &key(),
            "garbage",
            &alice(),
            "list_repos",
            Some(&args),
            UnixTime::from_secs(999),
        )
        .unwrap_err();
        assert_eq!(
            serde_json::to_value(&error).unwrap(),
            json!({
                "code": -32602,
                "message": "requestState was altered, expired, or belongs to another request"
            })
        );
    }

    #[test]
    fn hostile_states_do_not_panic() {
        let args = arguments(json!({"org": "acme"}));
        let state = sealed(&args);
        let mut corpus = vec![
            String::new(),
            ".".to_owned(),
            "..".to_owned(),
            "💥.💥".to_owned(),
            "a".repeat(MAX_STATE_LEN + 1),
        ];
        for end in 0..state.len() {
            corpus.push(state[..end].to_owned());
        }
        for index in 0..state.len() {
            let mut bytes = state.as_bytes().to_vec();
            bytes[index] = b'!';
            corpus.push(String::from_utf8(bytes).unwrap());
        }
        for candidate in corpus {
            assert!(!verify(&candidate, &alice(), &args, 999), "{candidate}");
        }
    }

    #[test]
    fn key_debug_is_redacted() {
        assert_eq!(format!("{:?}", key()), "RequestStateKey(<redacted>)");
    }
}
