//! The connect page: `GET` renders the scope picker for an elicitation, `POST` checks the CSRF
//! token and the chosen scopes, stores single-use OAuth state and sends the browser to the
//! provider. These and the callback are the only ways an elicitation's state changes over HTTP.

use scopeup_core::ports::AuditKind;
use scopeup_core::secret::constant_time_eq;
use scopeup_core::{
    Catalog, Elicitation, ElicitationEvent, ElicitationId, ElicitationState, Grant, ScopeSet,
    UpgradeInputs,
};
use scopeup_oauth::{AuthorizeContext, Provider};

use crate::Engine;
use crate::error::EngineError;
use crate::pages::{self, GroupView, Page, PageKind, PickerPage, ScopeRow, TemplateView};
use crate::records::{self, OAuthState};
use crate::text::{PageText, fill};

/// How long OAuth state lives (design invariant 4).
const OAUTH_STATE_TTL: std::time::Duration = std::time::Duration::from_secs(10 * 60);

/// The most form fields a picker submission may carry.
const MAX_FORM_FIELDS: usize = 600;

impl Engine {
    /// The name of the cookie that binds a browser to the OAuth state it started.
    pub fn browser_cookie_name(&self) -> &'static str {
        if self.inner.config.dangerous_allow_http_loopback {
            "scopeup-browser"
        } else {
            "__Host-scopeup-browser"
        }
    }

    /// `GET /connect/{id}`: the scope picker, or the elicitation's outcome when it is finished.
    /// `browser` is the value of the [`Engine::browser_cookie_name`] cookie, if sent.
    #[tracing::instrument(level = "debug", name = "Engine::connect_page", skip_all)]
    pub async fn connect_page(&self, id: &str, browser: Option<&str>) -> Page {
        match self.connect_page_inner(id, browser).await {
            Ok(page) => page,
            Err(error) => self.unavailable_page(&error),
        }
    }

    /// `POST /connect/{id}`: checks the CSRF token and the chosen scopes, then redirects to the
    /// provider. `fields` are the decoded form fields in order (`scope` may repeat).
    #[tracing::instrument(level = "debug", name = "Engine::connect_submit", skip_all)]
    pub async fn connect_submit(
        &self,
        id: &str,
        browser: Option<&str>,
        fields: &[(String, String)],
    ) -> Page {
        match self.connect_submit_inner(id, browser, fields).await {
            Ok(page) => page,
            Err(error) => self.unavailable_page(&error),
        }
    }

    async fn connect_page_inner(
        &self,
        id: &str,
        browser: Option<&str>,
    ) -> Result<Page, EngineError> {
        let elicitation = match self.open_elicitation(id).await? {
            Ok(elicitation) => elicitation,
            Err(page) => return Ok(page),
        };
        let provider = self.provider(&elicitation.provider)?;

        match &elicitation.state {
            ElicitationState::Completed { granted, declined } => {
                return Ok(self.completed_page(&elicitation, provider, granted, declined));
            }
            ElicitationState::Declined => return Ok(self.declined_page(&elicitation)),
            _ => {}
        }

        // Bind the browser: reuse its cookie or give it one.
        let (browser, set_cookie) = match browser.filter(|value| is_browser_id(value)) {
            Some(browser) => (browser.to_owned(), None),
            None => {
                let browser = self.random_token(32)?;
                let cookie = self.browser_cookie(&browser);
                (browser, Some(cookie))
            }
        };

        let failure = match &elicitation.state {
            ElicitationState::Failed { reason } => Some(self.text().failure(*reason).to_owned()),
            _ => None,
        };
        let page = self
            .picker(&elicitation, provider, &browser, failure)
            .await?;
        Ok(page.with_cookie(set_cookie))
    }

    async fn connect_submit_inner(
        &self,
        id: &str,
        browser: Option<&str>,
        fields: &[(String, String)],
    ) -> Result<Page, EngineError> {
        let elicitation = match self.open_elicitation(id).await? {
            Ok(elicitation) => elicitation,
            Err(page) => return Ok(page),
        };
        let provider = self.provider(&elicitation.provider)?;
        if elicitation.is_finished() {
            let text = self.text();
            return Ok(self.simple_page(
                PageKind::BadRequest,
                &elicitation,
                &text.already_finished_title,
                &text.already_finished,
            ));
        }

        // The CSRF token must be the one issued to this browser for this elicitation.
        let browser = browser.filter(|value| is_browser_id(value));
        let csrf = field(fields, "csrf");
        let csrf_valid = match (browser, csrf) {
            (Some(browser), Some(csrf)) if fields.len() <= MAX_FORM_FIELDS => {
                let key = records::csrf_key(&elicitation.id, browser);
                let expected: Option<String> = records::load(self.store(), &key).await?;
                expected
                    .is_some_and(|expected| constant_time_eq(expected.as_bytes(), csrf.as_bytes()))
            }
            _ => false,
        };
        let Some(browser) = browser.filter(|_| csrf_valid) else {
            let text = self.text();
            return Ok(self.simple_page(
                PageKind::Forbidden,
                &elicitation,
                &text.refused_title,
                &text.csrf_refused,
            ));
        };

        if field(fields, "action") == Some("cancel") {
            return self
                .decline(
                    elicitation,
                    ElicitationEvent::Cancelled,
                    "cancelled on the picker",
                )
                .await;
        }

        // Every submitted scope must be in the catalog; nothing unknown is forwarded.
        let catalog = &provider.config.catalog;
        let submitted = fields
            .iter()
            .filter(|(name, _)| name == "scope")
            .map(|(_, v)| v.as_str());
        let mut chosen = match catalog.validate_choice(submitted) {
            Ok(chosen) => chosen,
            Err(error) => {
                let text = self.text();
                let error = error.to_string();
                return Ok(self.simple_page(
                    PageKind::BadRequest,
                    &elicitation,
                    &text.invalid_choice_title,
                    &fill(&text.unknown_scope, &[("error", &error)]),
                ));
            }
        };
        if let Some(key) = field(fields, "template") {
            match catalog.template(key) {
                Ok(template) => chosen = chosen.union(&template.scopes),
                Err(error) => {
                    let text = self.text();
                    let error = error.to_string();
                    return Ok(self.simple_page(
                        PageKind::BadRequest,
                        &elicitation,
                        &text.invalid_choice_title,
                        &fill(&text.unknown_template, &[("error", &error)]),
                    ));
                }
            }
        }

        let grant = self.held_grant(&elicitation).await?;
        let (granted, previously_requested) = match &grant {
            Some(grant) => (grant.scopes.clone(), grant.requested.clone()),
            None => (ScopeSet::new(), ScopeSet::new()),
        };
        let requested = catalog.upgrade_request(UpgradeInputs {
            granted: &granted,
            previously_requested: &previously_requested,
            needed: &elicitation.needed,
            chosen: &chosen,
        });
        let requested = match requested {
            Ok(requested) => requested,
            Err(error) => {
                let error = error.to_string();
                let message = fill(&self.text().too_many_chosen, &[("error", &error)]);
                let mut page = self
                    .picker(&elicitation, provider, browser, Some(message))
                    .await?;
                page.kind = PageKind::BadRequest;
                return Ok(page);
            }
        };

        // Single-use state, bound to this browser, with the PKCE verifier.
        let state = self.random_token(32)?;
        let verifier = scopeup_oauth::pkce_verifier(self.inner.random.as_ref())?;
        let oauth_state = OAuthState {
            elicitation: elicitation.id.clone(),
            provider: elicitation.provider.clone(),
            browser: browser.to_owned(),
            verifier: verifier.clone(),
            requested: requested.clone(),
        };
        records::save(
            self.store(),
            &records::oauth_state_key(&state),
            &oauth_state,
            Some(OAUTH_STATE_TTL),
        )
        .await?;

        let now = self.inner.clock.now();
        let event = ElicitationEvent::Submitted {
            requested: requested.clone(),
        };
        if let Err(error) = self.transition(&elicitation.id, event, now).await? {
            let text = self.text();
            let error = error.to_string();
            return Ok(self.simple_page(
                PageKind::BadRequest,
                &elicitation,
                &text.not_available_title,
                &fill(&text.not_available, &[("error", &error)]),
            ));
        }
        self.audit(
            &elicitation,
            AuditKind::AuthorizationStarted,
            &requested,
            None,
        );

        let context = AuthorizeContext {
            holds_refresh_token: grant.is_some_and(|g| g.refresh_token.is_some()),
        };
        let location =
            scopeup_oauth::authorize_url(provider, &requested, &state, &verifier, &context);
        let origin = location.origin().ascii_serialization();
        Ok(Page::redirect(location.to_string(), origin))
    }

    /// Loads an elicitation by the id in a URL, or the page to show when there is none.
    pub(crate) async fn open_elicitation(
        &self,
        id: &str,
    ) -> Result<Result<Elicitation, Page>, EngineError> {
        let host = &self.inner.config.host_name;
        let text = self.text();
        let not_found = || {
            pages::message(
                PageKind::NotFound,
                text,
                host,
                "",
                &text.link_not_found_title,
                vec![text.link_not_found.to_string()],
            )
        };
        let Ok(id) = ElicitationId::parse(id) else {
            return Ok(Err(not_found()));
        };
        let Some(elicitation) =
            records::load::<Elicitation>(self.store(), &records::elicitation_key(&id)).await?
        else {
            return Ok(Err(not_found()));
        };
        if elicitation.is_expired(self.inner.clock.now()) && !elicitation.is_finished() {
            return Ok(Err(pages::message(
                PageKind::Expired,
                text,
                host,
                &elicitation.correlation_id,
                &text.link_expired_title,
                vec![text.link_expired.to_string()],
            )));
        }
        Ok(Ok(elicitation))
    }

    /// Applies an event to a stored elicitation with compare-and-swap. The outer error is the
    /// store's; the inner one says the event did not fit.
    pub(crate) async fn transition(
        &self,
        id: &ElicitationId,
        event: ElicitationEvent,
        now: scopeup_core::UnixTime,
    ) -> Result<Result<Elicitation, scopeup_core::elicitation::TransitionError>, EngineError> {
        let key = records::elicitation_key(id);
        let ttl = Some(self.inner.config.elicitation_ttl);
        records::update(self.store(), &key, ttl, |current: Option<Elicitation>| {
            let Some(mut elicitation) = current else {
                return Ok((
                    None,
                    Err(scopeup_core::elicitation::TransitionError::Expired),
                ));
            };
            match elicitation.apply(event.clone(), now) {
                Ok(()) => Ok((Some(elicitation.clone()), Ok(elicitation))),
                Err(error) => Ok((None, Err(error))),
            }
        })
        .await
    }

    pub(crate) async fn held_grant(
        &self,
        elicitation: &Elicitation,
    ) -> Result<Option<Grant>, EngineError> {
        records::load(
            self.store(),
            &records::grant_key(&elicitation.subject, &elicitation.provider),
        )
        .await
    }

    async fn picker(
        &self,
        elicitation: &Elicitation,
        provider: &Provider,
        browser: &str,
        error: Option<String>,
    ) -> Result<Page, EngineError> {
        // A fresh CSRF token for this browser and elicitation.
        let csrf = self.random_token(32)?;
        let now = self.inner.clock.now();
        let ttl = elicitation.expires_at.saturating_duration_since(now);
        let csrf_key = records::csrf_key(&elicitation.id, browser);
        records::save(self.store(), &csrf_key, &csrf, Some(ttl)).await?;

        let granted = self
            .held_grant(elicitation)
            .await?
            .map(|grant| grant.scopes)
            .unwrap_or_default();
        let catalog = &provider.config.catalog;
        let text = self.text();
        let host = self.inner.config.host_name.as_str();
        let provider_name = ("provider", provider.config.display_name.as_str());
        let names = [("host", host), provider_name];
        let limit_note = catalog.limit().map(|limit| {
            let limit = limit.to_string();
            fill(&text.limit_note, &[provider_name, ("limit", &limit)])
        });
        let view = PickerPage {
            css: pages::css(),
            text,
            host_name: host.to_owned(),
            title: fill(&text.picker_title, &names),
            heading: match granted.is_empty() {
                true => fill(&text.connect_heading, &names),
                false => fill(&text.picker_heading, &names),
            },
            lead: match granted.is_empty() {
                true => fill(&text.connect_lead, &names),
                false => fill(&text.picker_lead, &names),
            },
            provider_said: fill(&text.provider_said, &names),
            continue_to: fill(&text.continue_to, &names),
            correlation_id: elicitation.correlation_id.clone(),
            upstream_message: elicitation.upstream_message.clone(),
            error: error.or_else(|| limit_warning(text, catalog, &granted, &elicitation.needed)),
            action: self
                .inner
                .config
                .connect_url(&elicitation.id)
                .path()
                .to_owned(),
            csrf,
            needed: rows(catalog, elicitation.needed.iter(), "needed"),
            granted: rows(
                catalog,
                granted.difference(&elicitation.needed).iter(),
                "granted",
            ),
            templates: catalog
                .templates()
                .iter()
                .map(|template| TemplateView {
                    key: template.key.clone(),
                    name: template.name.clone(),
                    description: template.description.clone(),
                })
                .collect(),
            groups: catalog
                .groups()
                .iter()
                .map(|group| GroupView {
                    name: group.name.clone(),
                    rows: group
                        .scopes
                        .iter()
                        .filter(|entry| {
                            !granted.contains(&entry.scope)
                                && !elicitation.needed.contains(&entry.scope)
                        })
                        .map(|entry| ScopeRow {
                            id: format!("scope-{}", css_id(entry.scope.as_str())),
                            scope: entry.scope.to_string(),
                            description: entry.description.clone(),
                        })
                        .collect(),
                })
                .filter(|group| !group.rows.is_empty())
                .collect(),
            limit_note,
        };
        let origin = provider
            .config
            .authorization_endpoint
            .origin()
            .ascii_serialization();
        Ok(Page::html(PageKind::Picker, pages::render(&view)).with_form_target(origin))
    }

    pub(crate) fn completed_page(
        &self,
        elicitation: &Elicitation,
        provider: &Provider,
        granted: &ScopeSet,
        declined: &ScopeSet,
    ) -> Page {
        let text = self.text();
        let provider_name = ("provider", provider.config.display_name.as_str());
        let mut paragraphs = vec![fill(&text.completed, &[provider_name])];
        let needed_declined = elicitation.needed.intersection(declined);
        if !needed_declined.is_empty() {
            let scopes = needed_declined.to_string();
            paragraphs.push(fill(&text.needed_not_granted, &[("scopes", &scopes)]));
        }
        let page = pages::MessagePage {
            css: pages::css(),
            text,
            host_name: self.inner.config.host_name.clone(),
            correlation_id: elicitation.correlation_id.clone(),
            title: text.completed_title.to_string(),
            paragraphs,
            granted: granted.iter().map(ToString::to_string).collect(),
            declined: declined.iter().map(ToString::to_string).collect(),
            declined_heading: fill(&text.declined_heading, &[provider_name]),
            retry_url: None,
        };
        Page::html(PageKind::Completed, pages::render(&page))
    }

    pub(crate) fn declined_page(&self, elicitation: &Elicitation) -> Page {
        let text = self.text();
        self.simple_page(
            PageKind::Declined,
            elicitation,
            &text.declined_title,
            &text.declined,
        )
    }

    pub(crate) fn simple_page(
        &self,
        kind: PageKind,
        elicitation: &Elicitation,
        title: &str,
        paragraph: &str,
    ) -> Page {
        pages::message(
            kind,
            self.text(),
            &self.inner.config.host_name,
            &elicitation.correlation_id,
            title,
            vec![paragraph.to_owned()],
        )
    }

    pub(crate) fn unavailable_page(&self, error: &EngineError) -> Page {
        tracing::warn!(%error, "connect flow failed");
        let text = self.text();
        pages::message(
            PageKind::Unavailable,
            text,
            &self.inner.config.host_name,
            "",
            &text.unavailable_title,
            vec![text.unavailable.to_string()],
        )
    }

    /// The sentences of the pages.
    pub(crate) fn text(&self) -> &PageText {
        &self.inner.config.page_text
    }

    fn browser_cookie(&self, browser: &str) -> String {
        let name = self.browser_cookie_name();
        if self.inner.config.dangerous_allow_http_loopback {
            format!("{name}={browser}; Path=/; HttpOnly; SameSite=Lax")
        } else {
            format!("{name}={browser}; Path=/; Secure; HttpOnly; SameSite=Lax")
        }
    }
}

fn rows<'a>(
    catalog: &Catalog,
    scopes: impl Iterator<Item = &'a scopeup_core::Scope>,
    prefix: &str,
) -> Vec<ScopeRow> {
    scopes
        .map(|scope| ScopeRow {
            id: format!("{prefix}-{}", css_id(scope.as_str())),
            scope: scope.to_string(),
            description: catalog
                .entry(scope)
                .map(|entry| entry.description.clone())
                .unwrap_or_default(),
        })
        .collect()
}

fn limit_warning(
    text: &PageText,
    catalog: &Catalog,
    granted: &ScopeSet,
    needed: &ScopeSet,
) -> Option<String> {
    let limit = catalog.limit()?;
    let minimum = catalog.required().union(granted).union(needed).len();
    (minimum > limit).then(|| {
        let (count, limit) = (minimum.to_string(), limit.to_string());
        fill(&text.over_limit, &[("count", &count), ("limit", &limit)])
    })
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(field, _)| field == name)
        .map(|(_, value)| value.as_str())
}

/// A browser id is 32 random bytes, base64url.
fn is_browser_id(value: &str) -> bool {
    value.len() == 43
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// An HTML id for a scope: letters and digits kept, every other byte as `_xx`, so distinct
/// scopes never share an id.
fn css_id(scope: &str) -> String {
    let mut id = String::with_capacity(scope.len());
    for byte in scope.bytes() {
        if byte.is_ascii_alphanumeric() {
            id.push(char::from(byte));
        } else {
            id.push_str(&format!("_{byte:02x}"));
        }
    }
    id
}
