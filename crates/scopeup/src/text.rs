//! Every sentence the connect page and the result pages show, in one place, so that a host can
//! translate them: start from [`PageText::english`] (the default) and replace what it needs.
//!
//! Sentences name what they depend on in braces: `{host}` (the host's name), `{provider}` (the
//! provider's display name), `{scopes}` (scope names), `{count}` and `{limit}` (numbers) and
//! `{error}` (a detail, in English). Each value is put in once, as text: a value is never read
//! for braces of its own, and the pages escape everything they show.

use std::borrow::Cow;

use scopeup_core::FailureReason;

/// The sentences of the pages. `EngineConfig::page_text` holds the set in use.
///
/// ```
/// let mut text = scopeup::PageText::english();
/// text.language = "de".into();
/// text.cancel = "Abbrechen".into();
/// text.continue_to = "Weiter zu {provider}".into();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PageText {
    /// The pages' language, as a BCP 47 tag (`<html lang>`).
    pub language: Cow<'static, str>,
    /// The footer's label before the correlation id.
    pub reference: Cow<'static, str>,

    /// The picker's title. `{provider}`.
    pub picker_title: Cow<'static, str>,
    /// The picker's heading. `{host}`, `{provider}`.
    pub picker_heading: Cow<'static, str>,
    /// The sentence under the heading. `{provider}`.
    pub picker_lead: Cow<'static, str>,
    /// The picker's heading when nothing is held yet: a first connect. `{host}`, `{provider}`.
    pub connect_heading: Cow<'static, str>,
    /// The sentence under the first connect's heading. `{host}`, `{provider}`.
    pub connect_lead: Cow<'static, str>,
    /// Labels the provider's own words about the refusal. `{provider}`.
    pub provider_said: Cow<'static, str>,
    /// The group of scopes the tool needs.
    pub needed_legend: Cow<'static, str>,
    /// The group of scopes already held.
    pub granted_legend: Cow<'static, str>,
    /// The group of template buttons.
    pub templates_legend: Cow<'static, str>,
    /// How many scopes the provider takes in one request. `{provider}`, `{limit}`.
    pub limit_note: Cow<'static, str>,
    /// The request needs more scopes than the provider takes. `{count}`, `{limit}`.
    pub over_limit: Cow<'static, str>,
    /// The chosen scopes are more than the provider takes. `{error}`.
    pub too_many_chosen: Cow<'static, str>,
    /// The submit button. `{provider}`.
    pub continue_to: Cow<'static, str>,
    /// The cancel button.
    pub cancel: Cow<'static, str>,

    /// The title after an upgrade was stored.
    pub completed_title: Cow<'static, str>,
    /// What to do after an upgrade was stored. `{provider}`.
    pub completed: Cow<'static, str>,
    /// A scope the tool needs was not granted. `{scopes}`.
    pub needed_not_granted: Cow<'static, str>,
    /// The heading of the scopes granted.
    pub granted_heading: Cow<'static, str>,
    /// The heading of the scopes declined. `{provider}`.
    pub declined_heading: Cow<'static, str>,
    /// The title after the user declined.
    pub declined_title: Cow<'static, str>,
    /// What declining means.
    pub declined: Cow<'static, str>,
    /// The title after an attempt failed.
    pub failed_title: Cow<'static, str>,
    /// The link back to the picker after a failure.
    pub try_again: Cow<'static, str>,
    /// The account that came back is not the principal's.
    pub wrong_account: Cow<'static, str>,
    /// No account binding to check against.
    pub unverified_account: Cow<'static, str>,
    /// The provider granted less than was held.
    pub narrower_grant: Cow<'static, str>,
    /// The provider refused the authorization.
    pub provider_error: Cow<'static, str>,
    /// The provider could not be reached.
    pub provider_unavailable: Cow<'static, str>,
    /// The provider granted none of the scopes the tool needs.
    pub needed_scope_declined: Cow<'static, str>,

    /// The title of a form for a finished request.
    pub already_finished_title: Cow<'static, str>,
    /// A form for a finished request.
    pub already_finished: Cow<'static, str>,
    /// The title of a form without its CSRF token.
    pub refused_title: Cow<'static, str>,
    /// A form without its CSRF token, or from another browser.
    pub csrf_refused: Cow<'static, str>,
    /// The title of a form that named something unknown.
    pub invalid_choice_title: Cow<'static, str>,
    /// A form that named a scope outside the catalog. `{error}`.
    pub unknown_scope: Cow<'static, str>,
    /// A form that named an unknown template. `{error}`.
    pub unknown_template: Cow<'static, str>,
    /// The title of a request that can no longer move on.
    pub not_available_title: Cow<'static, str>,
    /// A request that can no longer move on. `{error}`.
    pub not_available: Cow<'static, str>,
    /// The title of an unknown link.
    pub link_not_found_title: Cow<'static, str>,
    /// An unknown link.
    pub link_not_found: Cow<'static, str>,
    /// The title of an expired link.
    pub link_expired_title: Cow<'static, str>,
    /// An expired link.
    pub link_expired: Cow<'static, str>,
    /// The title when the store or the provider is unavailable.
    pub unavailable_title: Cow<'static, str>,
    /// The store or the provider is unavailable.
    pub unavailable: Cow<'static, str>,
    /// The title of a callback that cannot be used.
    pub invalid_response_title: Cow<'static, str>,
    /// A callback without a usable `state`.
    pub no_state: Cow<'static, str>,
    /// A callback whose `state` is unknown, expired or used.
    pub unknown_state: Cow<'static, str>,
    /// A callback for an elicitation that expired meanwhile.
    pub expired_during_sign_in: Cow<'static, str>,
    /// A callback without a `code`.
    pub no_code: Cow<'static, str>,
    /// The title of a callback in another browser.
    pub different_browser_title: Cow<'static, str>,
    /// A callback in another browser than the one that started.
    pub different_browser: Cow<'static, str>,
}

impl Default for PageText {
    fn default() -> Self {
        Self::english()
    }
}

impl PageText {
    /// The English sentences.
    pub fn english() -> Self {
        Self {
            language: "en".into(),
            reference: "Reference:".into(),

            picker_title: "Grant access to {provider}".into(),
            picker_heading: "{host} needs more access to {provider}".into(),
            picker_lead: "A tool needs access that your {provider} connection does not have \
                          yet. Choose what to grant; you will confirm at {provider}."
                .into(),
            connect_heading: "Connect {host} to {provider}".into(),
            connect_lead: "A tool of {host} needs access to your {provider} account. Choose \
                           what to grant; you will confirm at {provider}."
                .into(),
            provider_said: "{provider} said:".into(),
            needed_legend: "Needed by the tool".into(),
            granted_legend: "Already granted (kept)".into(),
            templates_legend: "Templates".into(),
            limit_note: "{provider} accepts at most {limit} scopes in one request.".into(),
            over_limit: "This request already needs {count} scopes, more than the {limit} the \
                         provider accepts at once. Ask the server's operator to narrow the \
                         access it requests."
                .into(),
            too_many_chosen: "{error}. Choose fewer scopes.".into(),
            continue_to: "Continue to {provider}".into(),
            cancel: "Cancel".into(),

            completed_title: "Access updated".into(),
            completed: "{provider} access was updated. Return to your MCP client and retry the \
                        tool."
                .into(),
            needed_not_granted: "The tool needs {scopes}, which was not granted, so it will \
                                 still be refused. It will not ask again for a while."
                .into(),
            granted_heading: "Granted".into(),
            declined_heading: "Declined by you or by {provider}".into(),
            declined_title: "Nothing was changed".into(),
            declined: "You declined the request. The tool that asked will report that access \
                       was declined."
                .into(),
            failed_title: "Access not updated".into(),
            try_again: "Try again".into(),
            wrong_account: "The account you signed in with at the provider is not the account \
                            you are connected as. Nothing was stored. Sign in as the connected \
                            account and try again."
                .into(),
            unverified_account: "This server cannot tell which account you are connected as, so \
                                 it refused to store the new access. Nothing was stored."
                .into(),
            narrower_grant: "The provider granted less than you already had, so the existing \
                             access was kept. Nothing was replaced."
                .into(),
            provider_error: "The provider refused the authorization. Nothing was stored.".into(),
            provider_unavailable: "The provider could not be reached or gave an unreadable \
                                   answer. Nothing was stored; try again in a moment."
                .into(),
            needed_scope_declined: "The provider did not grant the access the tool needs. \
                                    Nothing was changed."
                .into(),

            already_finished_title: "Already finished".into(),
            already_finished: "This request is already finished; nothing was changed.".into(),
            refused_title: "Request refused".into(),
            csrf_refused: "The form was not sent from this browser's page (its security token \
                           is missing or wrong). Open the link again and retry."
                .into(),
            invalid_choice_title: "Invalid choice".into(),
            unknown_scope: "The form named a scope this provider does not offer ({error}).".into(),
            unknown_template: "The form named an unknown template ({error}).".into(),
            not_available_title: "Request not available".into(),
            not_available: "This request can no longer be continued: {error}.".into(),
            link_not_found_title: "Link not found".into(),
            link_not_found: "This link does not exist or has expired. Call the tool again to get \
                             a new one."
                .into(),
            link_expired_title: "Link expired".into(),
            link_expired: "This link has expired. Call the tool again to get a new one.".into(),
            unavailable_title: "Temporarily unavailable".into(),
            unavailable: "The server could not complete this step right now. Nothing was lost; \
                          try again in a moment."
                .into(),
            invalid_response_title: "Invalid sign-in response".into(),
            no_state: "The response from the provider had no usable state. Nothing was stored."
                .into(),
            unknown_state: "This sign-in response is unknown, expired or was already used. \
                            Nothing was stored. Open the link from your MCP client again."
                .into(),
            expired_during_sign_in: "This request has expired. Nothing was stored.".into(),
            no_code: "The response from the provider had no code. Nothing was stored.".into(),
            different_browser_title: "Different browser".into(),
            different_browser: "This sign-in was started in another browser, so it was refused. \
                                Nothing was stored. Open the link again in the browser you want \
                                to use."
                .into(),
        }
    }

    /// The sentence that explains a failed attempt.
    pub fn failure(&self, reason: FailureReason) -> &str {
        match reason {
            FailureReason::WrongAccount => &self.wrong_account,
            FailureReason::UnverifiedAccount => &self.unverified_account,
            FailureReason::NarrowerGrant => &self.narrower_grant,
            FailureReason::ProviderError => &self.provider_error,
            FailureReason::ProviderUnavailable => &self.provider_unavailable,
            FailureReason::NeededScopeDeclined => &self.needed_scope_declined,
            // A reason a later core adds, until a sentence of its own is added here.
            other => other.explain(),
        }
    }
}

/// `sentence` with each `{name}` of `values` replaced by its value; other braces stay as they
/// are. Values are put in as they are and never read for braces themselves.
pub(crate) fn fill(sentence: &str, values: &[(&str, &str)]) -> String {
    let mut filled = String::with_capacity(sentence.len() + 32);
    let mut rest = sentence;
    while let Some(open) = rest.find('{') {
        filled.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let value = after.find('}').and_then(|close| {
            let name = &after[..close];
            let (_, value) = values.iter().find(|(key, _)| *key == name)?;
            Some((value, close))
        });
        match value {
            Some((value, close)) => {
                filled.push_str(value);
                rest = &after[close + 1..];
            }
            None => {
                filled.push('{');
                rest = after;
            }
        }
    }
    filled.push_str(rest);
    filled
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_once_and_unknown_braces_stay() {
        let cases = [
            ("Continue to {provider}", "Continue to Notes {host}"),
            ("{provider} and {provider}", "Notes {host} and Notes {host}"),
            ("{unknown} {provider", "{unknown} {provider"),
            ("no braces", "no braces"),
            ("{}{", "{}{"),
        ];
        for (sentence, expected) in cases {
            assert_eq!(
                fill(sentence, &[("provider", "Notes {host}"), ("host", "X")]),
                expected
            );
        }
    }

    #[test]
    fn every_english_sentence_names_only_the_values_it_is_given() {
        let text = PageText::english();
        let known = ["host", "provider", "scopes", "count", "limit", "error"];
        let sentences = [
            &text.picker_title,
            &text.picker_heading,
            &text.picker_lead,
            &text.connect_heading,
            &text.connect_lead,
            &text.provider_said,
            &text.limit_note,
            &text.over_limit,
            &text.too_many_chosen,
            &text.continue_to,
            &text.completed,
            &text.needed_not_granted,
            &text.declined_heading,
            &text.unknown_scope,
            &text.unknown_template,
            &text.not_available,
        ];
        for sentence in sentences {
            let values: Vec<(&str, &str)> = known.iter().map(|name| (*name, "")).collect();
            assert!(
                !fill(sentence, &values).contains('{'),
                "an unknown placeholder in {sentence:?}"
            );
        }
    }

    #[test]
    fn every_failure_has_its_sentence() {
        let text = PageText::english();
        for reason in [
            FailureReason::WrongAccount,
            FailureReason::UnverifiedAccount,
            FailureReason::NarrowerGrant,
            FailureReason::ProviderError,
            FailureReason::ProviderUnavailable,
            FailureReason::NeededScopeDeclined,
        ] {
            assert_eq!(text.failure(reason), reason.explain());
        }
    }
}
