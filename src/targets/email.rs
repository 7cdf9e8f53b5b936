//! Email over SMTP (lettre): a subject and a text body from Mustache templates, or by
//! default the notification's title, facts, a failed build's log tail and a link, with an
//! HTML part beside the text.

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use maud::html;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::notice::{notice, Notice};
use super::{keep_secret, mask_secret, Context, Notifier, Outcome};
use crate::domain::destination::{check_url, is_non_public};
use crate::domain::template::{self, Escape};
use crate::domain::validation::Violations;
use crate::store::NewAttempt;

const MAX_RECIPIENTS: usize = 50;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain text: only for a relay on a trusted network.
    None,
    /// Plain connection upgraded with STARTTLS, which must succeed (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

fn default_port() -> u16 {
    587
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    pub host: String,
    #[serde(default = "default_port")]
    pub port: u16,
    #[serde(default)]
    pub tls: TlsMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// `Hookrelay <deploys@example.com>` or a bare address.
    pub from: String,
    pub to: Vec<String>,
    /// Mustache over the event; default: the notification's title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_template: Option<String>,
    /// Mustache over the event; default: title, facts, log tail and link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_template: Option<String>,
}

/// The plain-text body of the default message.
pub fn default_text(n: &Notice, webhook_name: &str) -> String {
    let mut text = format!("{}\n\n", n.title);
    for (label, value) in &n.facts {
        text.push_str(&format!("{label}: {value}\n"));
    }
    if let Some(tail) = &n.log_tail {
        text.push_str("\nThe end of the log:\n\n");
        for line in tail.lines() {
            text.push_str(&format!("    {line}\n"));
        }
    }
    if let Some(link) = &n.link {
        text.push_str(&format!("\n{link}\n"));
    }
    text.push_str(&format!(
        "\n-- \nSent by hookrelay for the notification \"{webhook_name}\".\n"
    ));
    text
}

fn default_html(n: &Notice, webhook_name: &str) -> String {
    html! {
        div style="font-family: system-ui, sans-serif; color: #111827; max-width: 640px" {
            h2 style="font-size: 18px" { (n.title) }
            table style="border-collapse: collapse; font-size: 14px" {
                @for (label, value) in &n.facts {
                    tr {
                        td style="color: #6b7280; padding: 2px 16px 2px 0; vertical-align: top" { (label) }
                        td style="padding: 2px 0" { (value) }
                    }
                }
            }
            @if let Some(tail) = &n.log_tail {
                p style="margin-top: 16px; font-weight: 600" { "The end of the log" }
                pre style="background: #0f172a; color: #e2e8f0; padding: 12px; border-radius: 6px; white-space: pre-wrap; font-size: 12px" { (tail) }
            }
            @if let Some(link) = &n.link {
                p { a href=(link) style="color: #4f46e5" { "Open in hookrelay" } }
            }
            p style="color: #6b7280; font-size: 12px; margin-top: 24px" {
                "Sent by hookrelay for the notification \u{201c}" (webhook_name) "\u{201d}."
            }
        }
    }
    .into_string()
}

fn mailbox(text: &str) -> Result<Mailbox, String> {
    text.parse::<Mailbox>()
        .map_err(|e| format!("{text:?} is not an email address: {e}"))
}

impl EmailConfig {
    /// The message for an event, and its subject and text as the log keeps them.
    fn message(
        &self,
        event: &Value,
        webhook_name: &str,
    ) -> Result<(Message, String, String), String> {
        let n = notice(event);
        let render = |source: &str| {
            template::compile(source)
                .map_err(|e| e.to_string())?
                .render(event, Escape::Raw)
                .map_err(|e| format!("the template {e}"))
        };
        let subject = match &self.subject_template {
            Some(source) => render(source)?
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned(),
            None => n.title.clone(),
        };
        let mut builder = Message::builder()
            .from(mailbox(&self.from)?)
            .subject(subject.clone());
        for to in &self.to {
            builder = builder.to(mailbox(to)?);
        }
        let (message, text) = match &self.text_template {
            Some(source) => {
                let text = render(source)?;
                (builder.singlepart(SinglePart::plain(text.clone())), text)
            }
            None => {
                let text = default_text(&n, webhook_name);
                let html = default_html(&n, webhook_name);
                let parts = MultiPart::alternative()
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_PLAIN)
                            .body(text.clone()),
                    )
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_HTML)
                            .body(html),
                    );
                (builder.multipart(parts), text)
            }
        };
        Ok((message.map_err(|e| e.to_string())?, subject, text))
    }

    /// The relay's address, checked like any destination (the name is resolved here so
    /// that a private address cannot hide behind it).
    async fn relay_address(&self, allow_private_targets: bool) -> Result<String, String> {
        let addresses = tokio::net::lookup_host((self.host.as_str(), self.port))
            .await
            .map_err(|e| format!("cannot resolve {}: {e}", self.host))?;
        addresses
            .map(|a| a.ip())
            .find(|ip| allow_private_targets || !is_non_public(*ip))
            .map(|ip| ip.to_string())
            .ok_or_else(|| {
                format!(
                    "{} resolves only to private, loopback or reserved addresses",
                    self.host
                )
            })
    }

    fn transport(
        &self,
        relay: String,
        ctx: &Context<'_>,
    ) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
        let tls = match self.tls {
            TlsMode::None => Tls::None,
            TlsMode::Starttls | TlsMode::Tls => {
                let parameters =
                    TlsParameters::new(self.host.clone()).map_err(|e| e.to_string())?;
                if self.tls == TlsMode::Tls {
                    Tls::Wrapper(parameters)
                } else {
                    Tls::Required(parameters)
                }
            }
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(relay)
            .port(self.port)
            .tls(tls)
            .timeout(Some(ctx.timeout()));
        if let Some(user) = &self.username {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                self.password.clone().unwrap_or_default(),
            ));
        }
        Ok(builder.build())
    }
}

impl Notifier for EmailConfig {
    fn validate(&self, allow_private_targets: bool, v: &mut Violations) {
        v.text("config.host", &self.host, 253);
        if !self.host.is_empty() {
            if let Err(problem) = check_url(
                &format!("http://{}:{}/", self.host, self.port),
                allow_private_targets,
            ) {
                v.add("config.host", problem.to_string());
            }
        }
        if let Err(problem) = mailbox(&self.from) {
            v.add("config.from", problem);
        }
        if self.to.is_empty() || self.to.len() > MAX_RECIPIENTS {
            v.add(
                "config.to",
                format!("must list 1 to {MAX_RECIPIENTS} addresses"),
            );
        }
        for (i, to) in self.to.iter().enumerate() {
            if let Err(problem) = mailbox(to) {
                v.add(format!("config.to[{i}]"), problem);
            }
        }
        if self.password.is_some() && self.username.is_none() {
            v.add("config.username", "is required with a password");
        }
        for (field, source) in [
            ("config.subject_template", &self.subject_template),
            ("config.text_template", &self.text_template),
        ] {
            if let Some(Err(e)) = source.as_deref().map(template::compile) {
                v.add(field, e.to_string());
            }
        }
    }

    fn masked(&self) -> Self {
        EmailConfig {
            password: mask_secret(&self.password),
            ..self.clone()
        }
    }

    fn keep_secrets(&mut self, stored: &Self) -> Vec<&'static str> {
        keep_secret(&mut self.password, &stored.password, "password")
            .into_iter()
            .collect()
    }

    fn destination(&self) -> String {
        format!("smtp://{}:{}", self.host.to_ascii_lowercase(), self.port)
    }

    async fn deliver(&self, ctx: &Context<'_>) -> Outcome {
        let where_to = format!("smtp://{}:{}", self.host, self.port);
        let built = ctx
            .event()
            .and_then(|event| self.message(&event, &ctx.webhook.settings.name));
        let (message, subject, text) = match built {
            Ok(built) => built,
            Err(e) => return ctx.not_sent(&where_to, e),
        };
        let logged = json!({"from": self.from, "to": self.to.join(", "), "subject": subject});
        let sent = match self.relay_address(ctx.allow_private_targets).await {
            Ok(relay) => match self.transport(relay, ctx) {
                Ok(transport) => transport.send(message).await.map_err(|e| e.to_string()),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        let (response_body, error) = match sent {
            Ok(answer) => {
                let words: Vec<&str> = answer.message().collect();
                (Some(format!("{} {}", answer.code(), words.join(" "))), None)
            }
            Err(e) => (None, Some(e)),
        };
        let delivered = error.is_none();
        Outcome::plain(
            NewAttempt {
                manual: ctx.call.manual,
                started_at: ctx.started_at,
                duration_ms: ctx.elapsed_ms(),
                request_url: where_to,
                request_headers: serde_json::value::to_raw_value(&logged).expect("plain JSON"),
                request_body: Some(text),
                response_status: None,
                response_headers: None,
                response_body,
                error,
            },
            delivered,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> EmailConfig {
        serde_json::from_value(json!({
            "host": "smtp.example.com", "from": "Hookrelay <deploys@example.com>",
            "to": ["ops@example.com"], "username": "u", "password": "p"
        }))
        .unwrap()
    }

    #[test]
    fn defaults_and_rules() {
        let c = config();
        assert_eq!((c.port, c.tls), (587, TlsMode::Starttls));
        let mut v = Violations::default();
        c.validate(false, &mut v);
        assert!(v.0.is_empty(), "{v:?}");
        let bad = EmailConfig {
            host: "127.0.0.1".into(),
            to: vec!["not an address".into()],
            ..c.clone()
        };
        let mut v = Violations::default();
        bad.validate(false, &mut v);
        let fields: Vec<_> = v.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["config.host", "config.to[0]"]);
        assert_eq!(c.masked().password.as_deref(), Some(super::super::MASK));
    }

    #[test]
    fn the_default_mail_tells_what_failed_and_where_to_look() {
        let event = json!({"entity_type": "deploy", "event_type": "deploy_failed", "environment": "main",
            "entity": {"site_name": "Blog", "reason": "the command exited with code 3",
                       "log_tail": "step 1\nnpm ERR! boom", "url": "https://hr.example/sites/s/jobs/j"}});
        let (message, subject, text) = config().message(&event, "Deploy mail").unwrap();
        assert_eq!(
            subject,
            "Deploy failed for Blog: the command exited with code 3"
        );
        assert!(text.contains("    npm ERR! boom\n"), "{text}");
        assert!(text.contains("https://hr.example/sites/s/jobs/j"));
        let raw = String::from_utf8(message.formatted()).unwrap();
        assert!(raw.contains("multipart/alternative"));
        assert!(raw.contains("To: ops@example.com"));
    }

    #[test]
    fn templates_replace_subject_and_text() {
        let c = EmailConfig {
            subject_template: Some("New {{entity.form_name}} message".into()),
            text_template: Some("From {{entity.data.email}}".into()),
            ..config()
        };
        let event = json!({"entity_type": "form_submission", "event_type": "submission_created",
            "entity": {"form_name": "contact", "data": {"email": "a@b.example"}}});
        let (_, subject, text) = c.message(&event, "x").unwrap();
        assert_eq!(subject, "New contact message");
        assert_eq!(text, "From a@b.example");
    }
}
