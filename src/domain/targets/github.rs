//! GitHub's settings: the repository and a token, for commit statuses and pull-request
//! comments (their delivery is `targets/github.rs`).

use serde::{Deserialize, Serialize};

use super::{keep_secret, mask_secret, TargetSettings};
use crate::domain::destination::check_url;
use crate::domain::validation::Violations;

fn default_api_url() -> String {
    "https://api.github.com".into()
}

fn default_context() -> String {
    "hookrelay/deploy".into()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitStatusConfig {
    /// GitHub Enterprise: `https://github.example.com/api/v3`.
    #[serde(default = "default_api_url")]
    pub api_url: String,
    pub owner: String,
    pub repo: String,
    /// A token allowed to write commit statuses.
    pub token: Option<String>,
    /// The status's name on the commit.
    #[serde(default = "default_context")]
    pub context: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrCommentConfig {
    #[serde(default = "default_api_url")]
    pub api_url: String,
    pub owner: String,
    pub repo: String,
    /// A token allowed to write issues and pull requests.
    pub token: Option<String>,
}

fn validate_repo(
    api_url: &str,
    owner: &str,
    repo: &str,
    token: &Option<String>,
    allow_private_targets: bool,
    v: &mut Violations,
) {
    if let Err(problem) = check_url(api_url, allow_private_targets) {
        v.add("config.api_url", problem.to_string());
    }
    for (field, value) in [("config.owner", owner), ("config.repo", repo)] {
        let well_formed = !value.is_empty()
            && value.len() <= 100
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !well_formed {
            v.add(
                field,
                "must be a GitHub name: letters, digits, '-', '_' or '.'",
            );
        }
    }
    if token.as_deref().is_none_or(str::is_empty) {
        v.add(
            "config.token",
            "is required: a GitHub token that may write to the repository",
        );
    }
}

impl TargetSettings for CommitStatusConfig {
    fn validate(&self, allow_private_targets: bool, v: &mut Violations) {
        validate_repo(
            &self.api_url,
            &self.owner,
            &self.repo,
            &self.token,
            allow_private_targets,
            v,
        );
        v.text("config.context", &self.context, 100);
    }

    fn masked(&self) -> Self {
        CommitStatusConfig {
            token: mask_secret(&self.token),
            ..self.clone()
        }
    }

    fn keep_secrets(&mut self, stored: &Self) -> Vec<&'static str> {
        keep_secret(&mut self.token, &stored.token, "token")
            .into_iter()
            .collect()
    }

    fn destination(&self) -> String {
        self.api_url.clone()
    }

    fn own_ordering_key(&self) -> Option<&'static str> {
        Some("/entity/commit_ref")
    }
}

impl TargetSettings for PrCommentConfig {
    fn validate(&self, allow_private_targets: bool, v: &mut Violations) {
        validate_repo(
            &self.api_url,
            &self.owner,
            &self.repo,
            &self.token,
            allow_private_targets,
            v,
        );
    }

    fn masked(&self) -> Self {
        PrCommentConfig {
            token: mask_secret(&self.token),
            ..self.clone()
        }
    }

    fn keep_secrets(&mut self, stored: &Self) -> Vec<&'static str> {
        keep_secret(&mut self.token, &stored.token, "token")
            .into_iter()
            .collect()
    }

    fn destination(&self) -> String {
        self.api_url.clone()
    }

    fn own_ordering_key(&self) -> Option<&'static str> {
        Some("/entity/pull_request")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn settings_need_a_repository_and_a_token() {
        let config: CommitStatusConfig =
            serde_json::from_value(json!({"owner": "acme", "repo": "site/../x"})).unwrap();
        assert_eq!(config.api_url, "https://api.github.com");
        assert_eq!(config.context, "hookrelay/deploy");
        let mut v = Violations::default();
        config.validate(false, &mut v);
        let fields: Vec<_> = v.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["config.repo", "config.token"]);
        assert_eq!(
            CommitStatusConfig {
                token: Some("ghp_x".into()),
                ..config
            }
            .masked()
            .token
            .as_deref(),
            Some(super::super::MASK)
        );
    }
}
