//! A site's settings for the jobs its build hooks start.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::job::JobKind;
use super::site_hooks::SiteHooks;
use super::validation::Violations;

pub const DEFAULT_JOB_TIMEOUT_S: u64 = 1800;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SiteSettings {
    pub name: String,
    pub build_command: Option<String>,
    pub preview_command: Option<String>,
    pub sync_command: Option<String>,
    /// Where commands run; default: `<data dir>/sites/<site id>`.
    pub working_dir: Option<String>,
    /// Emptied before a job whose trigger asked to clear the cache.
    pub cache_dir: Option<String>,
    pub job_timeout_s: u64,
    /// Extra environment variables for every job.
    pub env: BTreeMap<String, String>,
    /// Whether the site answers hooks addressed by its id (off by default).
    pub site_hooks: SiteHooks,
}

impl SiteSettings {
    pub fn named(name: &str) -> Self {
        SiteSettings {
            name: name.to_owned(),
            build_command: None,
            preview_command: None,
            sync_command: None,
            working_dir: None,
            cache_dir: None,
            job_timeout_s: DEFAULT_JOB_TIMEOUT_S,
            env: BTreeMap::new(),
            site_hooks: SiteHooks::default(),
        }
    }

    pub fn command(&self, kind: JobKind) -> Option<&str> {
        match kind {
            JobKind::Build => self.build_command.as_deref(),
            JobKind::Preview => self.preview_command.as_deref(),
            JobKind::Sync => self.sync_command.as_deref(),
        }
    }

    /// What an update changes, for the audit log: the settings that decide what runs on
    /// the server, with their new values (the environment's names only: its values may be
    /// secrets), and the name.
    pub fn changes_from(&self, old: &SiteSettings) -> serde_json::Map<String, serde_json::Value> {
        use serde_json::json;
        let mut changed = serde_json::Map::new();
        for (field, new, before) in [
            ("name", Some(&self.name), Some(&old.name)),
            (
                "build_command",
                self.build_command.as_ref(),
                old.build_command.as_ref(),
            ),
            (
                "preview_command",
                self.preview_command.as_ref(),
                old.preview_command.as_ref(),
            ),
            (
                "sync_command",
                self.sync_command.as_ref(),
                old.sync_command.as_ref(),
            ),
            (
                "working_dir",
                self.working_dir.as_ref(),
                old.working_dir.as_ref(),
            ),
            ("cache_dir", self.cache_dir.as_ref(), old.cache_dir.as_ref()),
        ] {
            if new != before {
                changed.insert(field.into(), json!(new));
            }
        }
        if self.job_timeout_s != old.job_timeout_s {
            changed.insert("job_timeout_s".into(), json!(self.job_timeout_s));
        }
        if self.site_hooks != old.site_hooks {
            changed.insert("site_hooks".into(), json!(self.site_hooks));
        }
        if self.env != old.env {
            changed.insert("env".into(), json!(self.env.keys().collect::<Vec<_>>()));
        }
        changed
    }

    pub fn validate(&self) -> Result<(), Violations> {
        let mut v = Violations::default();
        v.text("name", &self.name, 200);
        for (field, command) in [
            ("build_command", &self.build_command),
            ("preview_command", &self.preview_command),
            ("sync_command", &self.sync_command),
        ] {
            if let Some(command) = command {
                v.text(field, command, 4096);
            }
        }
        for (field, dir) in [
            ("working_dir", &self.working_dir),
            ("cache_dir", &self.cache_dir),
        ] {
            if dir.as_deref().is_some_and(|d| !Path::new(d).is_absolute()) {
                v.add(field, "must be an absolute path");
            }
        }
        if !(1..=86_400).contains(&self.job_timeout_s) {
            v.add("job_timeout_s", "must be between 1 and 86400 seconds");
        }
        for (name, value) in &self.env {
            let well_formed = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !well_formed {
                v.add(
                    format!("env.{name}"),
                    "must be a name of letters, digits and _, not starting with a digit",
                );
            } else if name.starts_with("HOOKRELAY_") {
                v.add(
                    format!("env.{name}"),
                    "HOOKRELAY_* variables are set by hookrelay itself",
                );
            } else if value.contains('\0') {
                v.add(format!("env.{name}"), "must not contain NUL");
            }
        }
        v.into_result()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_name_what_moved_and_hide_environment_values() {
        let old = SiteSettings::named("Blog");
        let mut new = old.clone();
        new.build_command = Some("npm run build".into());
        new.env.insert("API_KEY".into(), "s3cret".into());
        let changed = new.changes_from(&old);
        assert_eq!(changed.len(), 2);
        assert_eq!(changed["build_command"], "npm run build");
        assert_eq!(changed["env"], serde_json::json!(["API_KEY"]));
        assert!(!serde_json::to_string(&changed).unwrap().contains("s3cret"));
        assert!(old.changes_from(&old).is_empty());
    }

    #[test]
    fn defaults_are_valid_and_commands_follow_the_kind() {
        let mut s = SiteSettings::named("Blog");
        assert!(s.validate().is_ok());
        s.preview_command = Some("npm run preview".into());
        assert_eq!(s.command(JobKind::Preview), Some("npm run preview"));
        assert_eq!(s.command(JobKind::Build), None);
    }

    #[test]
    fn bad_settings_name_their_fields() {
        let mut s = SiteSettings::named("Blog");
        s.build_command = Some(" ".into());
        s.working_dir = Some("relative/dir".into());
        s.job_timeout_s = 0;
        s.env = BTreeMap::from([
            ("1X".into(), "v".into()),
            ("HOOKRELAY_KIND".into(), "v".into()),
        ]);
        let fields: Vec<_> = s
            .validate()
            .unwrap_err()
            .0
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            [
                "build_command",
                "working_dir",
                "job_timeout_s",
                "env.1X",
                "env.HOOKRELAY_KIND"
            ]
        );
    }
}
