//! Slack's settings: an incoming-webhook URL (the credential and the destination at once)
//! and an optional template (their delivery is `targets/slack.rs`).

use serde::{Deserialize, Serialize};

use super::{TargetSettings, MASK};
use crate::domain::destination::check_url;
use crate::domain::template;
use crate::domain::validation::Violations;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    /// `https://hooks.slack.com/services/…`: the URL is the credential.
    pub url: String,
    /// Mustache, rendered against the event into the JSON body Slack gets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
}

impl TargetSettings for SlackConfig {
    fn validate(&self, allow_private_targets: bool, v: &mut Violations) {
        if let Err(problem) = check_url(&self.url, allow_private_targets) {
            v.add("config.url", problem.to_string());
        }
        if let Some(source) = &self.template {
            if let Err(e) = template::compile(source) {
                v.add("config.template", e.to_string());
            }
        }
    }

    fn masked(&self) -> Self {
        // The incoming-webhook URL is the credential: show where it goes, not its secret
        // path.
        let shown = url::Url::parse(&self.url)
            .map(|u| {
                format!(
                    "{}://{}/{}",
                    u.scheme(),
                    u.host_str().unwrap_or_default(),
                    MASK
                )
            })
            .unwrap_or_else(|_| MASK.to_owned());
        SlackConfig {
            url: shown,
            template: self.template.clone(),
        }
    }

    fn keep_secrets(&mut self, stored: &Self) -> Vec<&'static str> {
        // The URL is the secret and the destination at once: kept whole, it cannot move.
        if self.url.ends_with(MASK) {
            self.url.clone_from(&stored.url);
        }
        Vec::new()
    }

    fn destination(&self) -> String {
        self.url.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_is_masked_and_kept() {
        let stored = SlackConfig {
            url: "https://hooks.slack.com/services/T0/B0/secret".into(),
            template: None,
        };
        let shown = stored.masked();
        assert_eq!(shown.url, "https://hooks.slack.com/********");
        let mut back = shown.clone();
        back.keep_secrets(&stored);
        assert_eq!(back, stored);
    }
}
