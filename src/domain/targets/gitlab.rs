//! GitLab's settings: the project and a token, for commit statuses and merge-request
//! notes (their delivery is `targets/gitlab.rs`).

use serde::{Deserialize, Serialize};

use super::{keep_secret, mask_secret, TargetSettings};
use crate::domain::destination::check_url;
use crate::domain::validation::Violations;

fn default_api_url() -> String {
    "https://gitlab.com/api/v4".into()
}

fn default_name() -> String {
    "hookrelay/deploy".into()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitStatusConfig {
    /// Self-managed GitLab: `https://gitlab.example.com/api/v4`.
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// The project's id or its path (`group/project`).
    pub project: String,
    /// A token with the `api` scope.
    pub token: Option<String>,
    /// The status's name on the commit.
    #[serde(default = "default_name")]
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MrCommentConfig {
    #[serde(default = "default_api_url")]
    pub api_url: String,
    pub project: String,
    pub token: Option<String>,
}

fn validate_project(
    api_url: &str,
    project: &str,
    token: &Option<String>,
    allow_private_targets: bool,
    v: &mut Violations,
) {
    if let Err(problem) = check_url(api_url, allow_private_targets) {
        v.add("config.api_url", problem.to_string());
    }
    v.text("config.project", project, 255);
    if token.as_deref().is_none_or(str::is_empty) {
        v.add(
            "config.token",
            "is required: a GitLab token with the api scope",
        );
    }
}

impl TargetSettings for CommitStatusConfig {
    fn validate(&self, allow_private_targets: bool, v: &mut Violations) {
        validate_project(
            &self.api_url,
            &self.project,
            &self.token,
            allow_private_targets,
            v,
        );
        v.text("config.name", &self.name, 100);
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

impl TargetSettings for MrCommentConfig {
    fn validate(&self, allow_private_targets: bool, v: &mut Violations) {
        validate_project(
            &self.api_url,
            &self.project,
            &self.token,
            allow_private_targets,
            v,
        );
    }

    fn masked(&self) -> Self {
        MrCommentConfig {
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
        Some("/entity/merge_request")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_token_is_required() {
        let config: MrCommentConfig =
            serde_json::from_value(json!({"project": "group/site"})).unwrap();
        let mut v = Violations::default();
        config.validate(false, &mut v);
        assert_eq!(v.0[0].field, "config.token");
    }
}
