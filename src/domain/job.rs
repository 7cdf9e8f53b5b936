//! Jobs started by build hooks: kinds, states, and what a trigger's headers ask for.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
    Ok(TriggerParams {
        kind: if preview { JobKind::Preview } else { hook_kind },
        data_source,
        clear_cache,
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
    fn no_headers_means_the_hooks_own_kind_and_defaults() {
        assert_eq!(
            read(JobKind::Sync, &[]).unwrap(),
            TriggerParams {
                kind: JobKind::Sync,
                data_source: None,
                clear_cache: false
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
