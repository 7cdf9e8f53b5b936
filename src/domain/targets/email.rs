//! Email's settings: the relay (host, port, TLS, login), sender, recipients and optional
//! templates (their delivery is `targets/email.rs`).

use lettre::message::Mailbox;
use serde::{Deserialize, Serialize};

use super::{keep_secret, mask_secret, TargetSettings};
use crate::domain::destination::check_url;
use crate::domain::template;
use crate::domain::validation::Violations;

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

/// An address as a mail header takes it (`Name <a@b.example>` or a bare address).
pub fn mailbox(text: &str) -> Result<Mailbox, String> {
    text.parse::<Mailbox>()
        .map_err(|e| format!("{text:?} is not an email address: {e}"))
}

impl TargetSettings for EmailConfig {
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
}

/// Settings for tests of the settings and of the delivery.
#[cfg(test)]
pub(crate) fn example() -> EmailConfig {
    serde_json::from_value(serde_json::json!({
        "host": "smtp.example.com", "from": "Hookrelay <deploys@example.com>",
        "to": ["ops@example.com"], "username": "u", "password": "p"
    }))
    .expect("example settings parse")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> EmailConfig {
        example()
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
}
