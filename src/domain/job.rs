//! Jobs started by build hooks: kinds, states, and what a trigger's headers ask for.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    Build,
    Preview,
    Sync,
}

impl JobKind {
    /// A job started by API without a kind is a build.
    pub const DEFAULT: JobKind = JobKind::Build;

    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Build => "build",
            JobKind::Preview => "preview",
            JobKind::Sync => "sync",
        }
    }

    pub fn parse(text: &str) -> Option<JobKind> {
        match text {
            "build" => Some(JobKind::Build),
            "preview" => Some(JobKind::Preview),
            "sync" => Some(JobKind::Sync),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
    /// A newer trigger for the same site and kind arrived while this one waited.
    Superseded,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
            JobStatus::Superseded => "superseded",
        }
    }

    pub fn parse(text: &str) -> Option<JobStatus> {
        [
            JobStatus::Queued,
            JobStatus::Running,
            JobStatus::Succeeded,
            JobStatus::Failed,
            JobStatus::Cancelled,
            JobStatus::Superseded,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    /// The outgoing event a job's move into this state publishes (entity type `deploy`).
    pub fn deploy_event(self) -> Option<&'static str> {
        match self {
            JobStatus::Running => Some("deploy_started"),
            JobStatus::Succeeded => Some("deploy_succeeded"),
            JobStatus::Failed => Some("deploy_failed"),
            JobStatus::Cancelled => Some("deploy_cancelled"),
            JobStatus::Queued | JobStatus::Superseded => None,
        }
    }
}

/// What a trigger asks of its job, read from the request headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerParams {
    pub kind: JobKind,
    pub data_source: Option<String>,
    pub clear_cache: bool,
    pub refs: SourceRefs,
}

/// What a job builds, as a forge knows it: notifications to GitHub and GitLab report on
/// this commit and comment on this pull or merge request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SourceRefs {
    pub commit_ref: Option<String>,
    pub pull_request: Option<String>,
    pub merge_request: Option<String>,
}

/// The headers that carry [`SourceRefs`] on a trigger.
const REF_HEADERS: [&str; 3] = ["x-commit-ref", "x-pull-request", "x-merge-request"];

impl SourceRefs {
    /// Each value at most 200 visible characters; blank means absent.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let values = [&self.commit_ref, &self.pull_request, &self.merge_request];
        for (name, value) in REF_HEADERS.iter().zip(values) {
            if let Some(value) = value {
                if value.chars().count() > 200 || value.chars().any(char::is_control) {
                    return Err((name, "must be at most 200 characters on one line".into()));
                }
            }
        }
        Ok(())
    }
}

/// The last `lines` lines of a job's output, for a failure notice.
pub fn log_tail(log: &str, lines: usize) -> String {
    let kept: Vec<&str> = log.trim_end().lines().rev().take(lines).collect();
    kept.into_iter().rev().collect::<Vec<_>>().join("\n")
}

/// A header the trigger got wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderProblem {
    pub header: &'static str,
    pub message: String,
}

/// Reads the Netlify / Gatsby Cloud / Netlify Connect steering headers. `header(name)` looks
/// a header up case-insensitively.
pub fn read_trigger_headers<'a>(
    hook_kind: JobKind,
    header: impl Fn(&str) -> Option<&'a str>,
) -> Result<TriggerParams, HeaderProblem> {
    const GATSBY_SOURCE: &str = "x-gatsby-cloud-data-source";
    if let Some(value) = header(GATSBY_SOURCE) {
        if !value.contains("gatsby-source") {
            return Err(HeaderProblem {
                header: GATSBY_SOURCE,
                message: format!(
                    "must name a Gatsby source plugin (a value containing \"gatsby-source\"), got {value:?}"
                ),
            });
        }
    }
    let data_source = ["x-data-source", "x-connect-data-source", GATSBY_SOURCE]
        .into_iter()
        .find_map(&header)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned);
    let clear_cache = ["x-cache", "x-gatsby-cache"]
        .into_iter()
        .filter_map(&header)
        .any(|v| v.trim().eq_ignore_ascii_case("false"));
    let preview = header("x-runner-type").is_some_and(|v| v.trim().eq_ignore_ascii_case("preview"));
    let read = |name: &str| {
        header(name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let refs = SourceRefs {
        commit_ref: read(REF_HEADERS[0]),
        pull_request: read(REF_HEADERS[1]),
        merge_request: read(REF_HEADERS[2]),
    };
    refs.check()
        .map_err(|(header, message)| HeaderProblem { header, message })?;
    Ok(TriggerParams {
        kind: if preview { JobKind::Preview } else { hook_kind },
        data_source,
        clear_cache,
        refs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(kind: JobKind, headers: &[(&str, &str)]) -> Result<TriggerParams, HeaderProblem> {
        let map: HashMap<String, String> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        read_trigger_headers(kind, |name| map.get(name).map(String::as_str))
    }

    #[test]
    fn commit_and_request_come_from_their_headers() {
        let params = read(
            JobKind::Build,
            &[
                ("x-commit-ref", " abc123 "),
                ("x-pull-request", "42"),
                ("x-merge-request", ""),
            ],
        )
        .unwrap();
        assert_eq!(params.refs.commit_ref.as_deref(), Some("abc123"));
        assert_eq!(params.refs.pull_request.as_deref(), Some("42"));
        assert_eq!(params.refs.merge_request, None);
        let long = "x".repeat(201);
        let refused = read(JobKind::Build, &[("x-commit-ref", long.as_str())]).unwrap_err();
        assert_eq!(refused.header, "x-commit-ref");
    }

    #[test]
    fn the_log_tail_keeps_the_last_lines() {
        assert_eq!(log_tail("a\nb\nc\nd\n", 2), "c\nd");
        assert_eq!(log_tail("only", 5), "only");
    }

    #[test]
    fn no_headers_means_the_hooks_own_kind_and_defaults() {
        assert_eq!(
            read(JobKind::Sync, &[]).unwrap(),
            TriggerParams {
                kind: JobKind::Sync,
                data_source: None,
                clear_cache: false,
                refs: SourceRefs::default(),
            }
        );
    }

    #[test]
    fn data_source_headers_in_order_of_precedence() {
        assert_eq!(
            read(JobKind::Build, &[("x-data-source", "contentful")])
                .unwrap()
                .data_source
                .as_deref(),
            Some("contentful")
        );
        assert_eq!(
            read(JobKind::Build, &[("x-connect-data-source", "sanity")])
                .unwrap()
                .data_source
                .as_deref(),
            Some("sanity")
        );
        assert_eq!(
            read(
                JobKind::Build,
                &[("x-gatsby-cloud-data-source", "gatsby-source-drupal")]
            )
            .unwrap()
            .data_source
            .as_deref(),
            Some("gatsby-source-drupal")
        );
        let both = read(
            JobKind::Build,
            &[("x-data-source", "a"), ("x-connect-data-source", "b")],
        )
        .unwrap();
        assert_eq!(both.data_source.as_deref(), Some("a"));
    }

    #[test]
    fn a_gatsby_data_source_must_name_a_gatsby_source() {
        let problem =
            read(JobKind::Build, &[("x-gatsby-cloud-data-source", "drupal")]).unwrap_err();
        assert_eq!(problem.header, "x-gatsby-cloud-data-source");
        assert!(problem.message.contains("gatsby-source"));
    }

    #[test]
    fn cache_false_in_either_spelling_clears_the_cache() {
        assert!(
            read(JobKind::Build, &[("x-cache", "false")])
                .unwrap()
                .clear_cache
        );
        assert!(
            read(JobKind::Build, &[("x-gatsby-cache", "FALSE")])
                .unwrap()
                .clear_cache
        );
        assert!(
            !read(JobKind::Build, &[("x-cache", "true")])
                .unwrap()
                .clear_cache
        );
    }

    #[test]
    fn a_preview_runner_makes_a_preview_job() {
        assert_eq!(
            read(JobKind::Build, &[("x-runner-type", "PREVIEW")])
                .unwrap()
                .kind,
            JobKind::Preview
        );
        assert_eq!(
            read(JobKind::Build, &[("x-runner-type", "BUILD")])
                .unwrap()
                .kind,
            JobKind::Build
        );
    }

    #[test]
    fn statuses_and_kinds_round_trip_and_map_to_events() {
        for k in [JobKind::Build, JobKind::Preview, JobKind::Sync] {
            assert_eq!(JobKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(JobStatus::parse("superseded"), Some(JobStatus::Superseded));
        assert_eq!(JobStatus::parse("done"), None);
        assert_eq!(JobStatus::Running.deploy_event(), Some("deploy_started"));
        assert_eq!(JobStatus::Superseded.deploy_event(), None);
    }
}
