//! What the MCP client on the other end can take: its protocol version and whether it declared
//! URL-mode elicitation, and the answer shape that follows from them.

use rmcp::model::{ClientCapabilities, ProtocolVersion};

/// The first protocol version with URL-mode elicitation (and the `-32042` error).
const URL_ELICITATION_SINCE: &str = "2025-11-25";

/// The first protocol version with `InputRequiredResult` (multi round-trip requests).
const INPUT_REQUIRED_SINCE: &str = "2026-07-28";

/// What one MCP client declared about itself, as far as the answer to a refused call depends
/// on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientProfile {
    protocol: Option<ProtocolVersion>,
    url_elicitation: bool,
}

/// How a refused tool call is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AnswerShape {
    /// Protocol `2026-07-28` or later with URL elicitation: an `InputRequiredResult` holding an
    /// `elicitation/create` request in URL mode and a sealed `requestState`; the client retries
    /// the call once the user is done.
    InputRequired,
    /// Protocol `2025-11-25` with URL elicitation: the JSON-RPC error `-32042`
    /// (`URLElicitationRequiredError`), then `notifications/elicitation/complete` on the
    /// session when the upgrade lands.
    UrlElicitationError,
    /// Everything else, form-only clients included: a tool result with `isError: true` whose
    /// text holds the link and says to retry.
    ToolResultLink,
}

impl ClientProfile {
    /// A profile from a negotiated protocol version and the client's declared capabilities.
    ///
    /// In the `elicitation` capability (2025-11-25), `{}` and `{"form": {}}` mean form mode
    /// only; URL mode needs `{"url": {}}`.
    pub fn new(
        protocol: Option<ProtocolVersion>,
        capabilities: Option<&ClientCapabilities>,
    ) -> Self {
        let url_elicitation = capabilities
            .and_then(|capabilities| capabilities.elicitation.as_ref())
            .is_some_and(|elicitation| elicitation.url.is_some());
        Self {
            protocol,
            url_elicitation,
        }
    }

    /// The profile of the client that sent a request, from its request context.
    ///
    /// Capabilities of a client that sent `initialize` are known only in session mode; a
    /// stateless `2025-11-25` request therefore gets the link shape.
    #[cfg(feature = "server")]
    pub fn from_context(context: &rmcp::service::RequestContext<rmcp::RoleServer>) -> Self {
        Self::new(
            context.protocol_version(),
            context.client_capabilities().as_ref(),
        )
    }

    /// The protocol version, when known.
    pub fn protocol_version(&self) -> Option<&ProtocolVersion> {
        self.protocol.as_ref()
    }

    /// Whether the client declared URL-mode elicitation.
    pub fn supports_url_elicitation(&self) -> bool {
        self.url_elicitation
    }

    /// The best answer shape this client supports.
    pub fn answer_shape(&self) -> AnswerShape {
        let Some(protocol) = &self.protocol else {
            return AnswerShape::ToolResultLink;
        };
        if !self.url_elicitation {
            return AnswerShape::ToolResultLink;
        }

        // Revisions are dated `YYYY-MM-DD`, so text order is time order, unknown ones included.
        let version = protocol.as_str();
        if version >= INPUT_REQUIRED_SINCE {
            AnswerShape::InputRequired
        } else if version >= URL_ELICITATION_SINCE {
            AnswerShape::UrlElicitationError
        } else {
            AnswerShape::ToolResultLink
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn shape(protocol: Option<&'static str>, capabilities: serde_json::Value) -> AnswerShape {
        let capabilities: ClientCapabilities = serde_json::from_value(capabilities).unwrap();
        let protocol = protocol.map(|version| serde_json::from_value(json!(version)).unwrap());
        ClientProfile::new(protocol, Some(&capabilities)).answer_shape()
    }

    #[test]
    fn each_client_gets_the_best_shape_it_declared() {
        use AnswerShape::*;
        let table = [
            (Some("2025-06-18"), json!({}), ToolResultLink),
            (
                Some("2025-06-18"),
                json!({"elicitation": {}}),
                ToolResultLink,
            ),
            (
                Some("2025-06-18"),
                json!({"elicitation": {"url": {}}}),
                ToolResultLink,
            ),
            (Some("2025-11-25"), json!({}), ToolResultLink),
            (
                Some("2025-11-25"),
                json!({"elicitation": {}}),
                ToolResultLink,
            ),
            (
                Some("2025-11-25"),
                json!({"elicitation": {"form": {}}}),
                ToolResultLink,
            ),
            (
                Some("2025-11-25"),
                json!({"elicitation": {"url": {}}}),
                UrlElicitationError,
            ),
            (
                Some("2025-11-25"),
                json!({"elicitation": {"form": {}, "url": {}}}),
                UrlElicitationError,
            ),
            (
                Some("2026-07-28"),
                json!({"elicitation": {"url": {}}}),
                InputRequired,
            ),
            (
                Some("2026-07-28"),
                json!({"elicitation": {}}),
                ToolResultLink,
            ),
            (Some("2026-07-28"), json!({}), ToolResultLink),
            (
                Some("2027-01-01"),
                json!({"elicitation": {"url": {}}}),
                InputRequired,
            ),
            (None, json!({"elicitation": {"url": {}}}), ToolResultLink),
        ];
        for (protocol, capabilities, expected) in table {
            assert_eq!(
                shape(protocol, capabilities.clone()),
                expected,
                "{protocol:?} {capabilities}"
            );
        }
    }

    #[test]
    fn form_only_client_never_gets_url_mode() {
        // anthropics/claude-code#48164: `elicitation: {}` is form mode only.
        let capabilities: ClientCapabilities =
            serde_json::from_value(json!({"elicitation": {}})).unwrap();
        let profile = ClientProfile::new(Some(ProtocolVersion::V_2025_11_25), Some(&capabilities));
        assert!(!profile.supports_url_elicitation());
        assert_eq!(profile.answer_shape(), AnswerShape::ToolResultLink);
    }

    #[test]
    fn unknown_capabilities_get_the_link() {
        let profile = ClientProfile::new(Some(ProtocolVersion::V_2026_07_28), None);
        assert_eq!(profile.answer_shape(), AnswerShape::ToolResultLink);
        assert_eq!(
            profile.protocol_version(),
            Some(&ProtocolVersion::V_2026_07_28)
        );
    }
}
