//! Email over SMTP (lettre): a subject and a text body from Mustache templates, or by
//! default the notification's title, facts, a failed build's log tail and a link, with an
//! HTML part beside the text.

use lettre::message::header::ContentType;
use lettre::message::{MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use maud::html;
use serde_json::{json, Value};

use super::notice::{notice, Notice};
use super::{Context, Deliver, Outcome};
use crate::domain::destination::is_non_public;
use crate::domain::targets::email::{mailbox, EmailConfig, TlsMode};
use crate::domain::template::{self, Escape};
use crate::store::NewAttempt;

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

impl Deliver for EmailConfig {
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

    use crate::domain::targets::email::example as config;

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
