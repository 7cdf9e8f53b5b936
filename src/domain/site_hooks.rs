//! Site-id hooks: build hook URLs addressed by the site's id instead of a secret token, as
//! Gatsby Cloud and Netlify Connect hand out. A site id is no secret (it is in every
//! form's HTML and every call's `x-site-id`), so these URLs are off unless a site turns
//! them on, with one of the two rules those products follow.

use serde::{Deserialize, Serialize};

use super::job::JobKind;

/// When a site answers its site-id URLs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SiteHookRule {
    /// Never: the URLs answer 404 like any unknown hook.
    #[default]
    Off,
    /// Netlify Connect's rule: only while the site has no named hook.
    Connect,
    /// Gatsby Cloud's rule: always, beside any named hooks.
    Gatsby,
}

impl SiteHookRule {
    pub fn as_str(self) -> &'static str {
        match self {
            SiteHookRule::Off => "off",
            SiteHookRule::Connect => "connect",
            SiteHookRule::Gatsby => "gatsby",
        }
    }

    pub fn parse(text: &str) -> Option<SiteHookRule> {
        match text {
            "off" => Some(SiteHookRule::Off),
            "connect" => Some(SiteHookRule::Connect),
            "gatsby" => Some(SiteHookRule::Gatsby),
            _ => None,
        }
    }
}

/// A site's setting for its site-id URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SiteHooks {
    #[serde(default)]
    pub rule: SiteHookRule,
    /// The job `POST /hooks/sites/{site}` starts (the other shapes name their own).
    #[serde(default = "default_kind")]
    pub kind: JobKind,
}

fn default_kind() -> JobKind {
    JobKind::Build
}

impl Default for SiteHooks {
    fn default() -> Self {
        SiteHooks {
            rule: SiteHookRule::Off,
            kind: default_kind(),
        }
    }
}

/// The URL shapes a site-id hook comes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SiteHookShape {
    /// `/hooks/sites/{site}`: the kind the setting names.
    Own,
    /// Gatsby's `/hooks/builds/trigger/{site}`: a build.
    GatsbyBuild,
    /// Gatsby's `/hooks/data_source/{site}`: a preview.
    GatsbyPreview,
    /// Connect's `/hooks/data_layer/data_source/publish/{site}[/{source}]`: a data sync.
    Connect,
}

/// Why a site-id URL starts no job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SiteHookRefusal {
    /// The site has its site-id URLs off: answered like an unknown hook (404).
    Off,
    /// Connect's rule and the site has named hooks: they must be used instead (401).
    NamedHooksExist,
}

impl SiteHooks {
    /// The job a trigger at `shape` starts, given how many named hooks the site has.
    pub fn admit(
        &self,
        shape: SiteHookShape,
        named_hooks: i64,
    ) -> Result<JobKind, SiteHookRefusal> {
        match self.rule {
            SiteHookRule::Off => return Err(SiteHookRefusal::Off),
            SiteHookRule::Connect if named_hooks > 0 => {
                return Err(SiteHookRefusal::NamedHooksExist)
            }
            SiteHookRule::Connect | SiteHookRule::Gatsby => {}
        }
        Ok(match shape {
            SiteHookShape::Own => self.kind,
            SiteHookShape::GatsbyBuild => JobKind::Build,
            SiteHookShape::GatsbyPreview => JobKind::Preview,
            SiteHookShape::Connect => JobKind::Sync,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_by_default_and_refused_like_an_unknown_hook() {
        let hooks = SiteHooks::default();
        assert_eq!(hooks.rule, SiteHookRule::Off);
        assert_eq!(
            hooks.admit(SiteHookShape::Own, 0),
            Err(SiteHookRefusal::Off)
        );
    }

    #[test]
    fn connect_works_only_without_named_hooks_and_syncs() {
        let hooks = SiteHooks {
            rule: SiteHookRule::Connect,
            kind: JobKind::Build,
        };
        assert_eq!(hooks.admit(SiteHookShape::Connect, 0), Ok(JobKind::Sync));
        assert_eq!(hooks.admit(SiteHookShape::Own, 0), Ok(JobKind::Build));
        assert_eq!(
            hooks.admit(SiteHookShape::Connect, 1),
            Err(SiteHookRefusal::NamedHooksExist)
        );
    }

    #[test]
    fn gatsby_works_beside_named_hooks_with_each_shape_its_kind() {
        let hooks = SiteHooks {
            rule: SiteHookRule::Gatsby,
            kind: JobKind::Preview,
        };
        assert_eq!(
            hooks.admit(SiteHookShape::GatsbyBuild, 3),
            Ok(JobKind::Build)
        );
        assert_eq!(
            hooks.admit(SiteHookShape::GatsbyPreview, 3),
            Ok(JobKind::Preview)
        );
        assert_eq!(hooks.admit(SiteHookShape::Own, 3), Ok(JobKind::Preview));
        assert_eq!(SiteHookRule::parse("gatsby"), Some(SiteHookRule::Gatsby));
        assert_eq!(SiteHookRule::parse("on"), None);
    }
}
