//! A build hook's sender check on the dashboard: the choice in the New hook form, what a
//! form post makes of it, and how a hook's page names it.

use maud::{html, Markup};

use super::form::FormData;
use super::layout::{field_errors, invalid};
use crate::domain::hook::HookVerify;
use crate::domain::validation::{FieldError, Violations};

/// The checks the form offers: the `type` tag the API uses, and how the form says it.
const CHECKS: [(&str, &str); 6] = [
    ("none", "None: the URL is the credential"),
    ("sanity", "Sanity's signature"),
    ("contentful", "Contentful's request verification"),
    ("github", "GitHub's X-Hub-Signature-256"),
    ("standard_webhooks", "Standard Webhooks signature (whsec_…)"),
    ("header", "A shared secret in a header"),
];

/// How a hook's page names its check.
pub fn describe(verify: Option<&HookVerify>) -> &'static str {
    let tag = match verify {
        None => "none",
        Some(HookVerify::Sanity { .. }) => "sanity",
        Some(HookVerify::Contentful { .. }) => "contentful",
        Some(HookVerify::Github { .. }) => "github",
        Some(HookVerify::StandardWebhooks { .. }) => "standard_webhooks",
        Some(HookVerify::Header { .. }) => "header",
    };
    CHECKS
        .iter()
        .find(|(t, _)| *t == tag)
        .map_or("", |(_, label)| label)
}

/// The sender-check fields of the New hook form, with the choices of a refused post
/// (`typed`) kept; the secret is never sent back.
pub fn fields(errors: &[FieldError], typed: Option<&FormData>) -> Markup {
    let chosen = typed.and_then(|f| f.get("verify")).unwrap_or("none");
    let header = typed.map(|f| f.text("verify_header"));
    html! {
        div.row {
            div {
                label for="verify" { "Check the sender" }
                select #verify name="verify" aria-invalid=[invalid(errors, "verify")] {
                    @for (tag, label) in CHECKS { option value=(tag) selected[tag == chosen] { (label) } }
                }
                (field_errors(errors, "verify"))
            }
            div {
                label for="verify_secret" { "Secret (or the header's value)" }
                input #verify_secret type="password" name="verify_secret" autocomplete="new-password"
                    aria-invalid=[invalid(errors, "verify.secret").or(invalid(errors, "verify.value"))];
                (field_errors(errors, "verify.secret"))
                (field_errors(errors, "verify.value"))
            }
            div {
                label for="verify_header" { "Header name (shared header only)" }
                input #verify_header type="text" name="verify_header" value=[header] placeholder="X-Webhook-Token"
                    aria-invalid=[invalid(errors, "verify.name")];
                (field_errors(errors, "verify.name"))
            }
        }
        p.field-hint { "A request that fails the check is refused (401) and starts nothing. Jobs from a signed check say who sent them: \"Triggered by Sanity via <title>\". The secret is write-only." }
    }
}

/// The check a form post asks for (the API validates the secret itself).
pub fn posted(form: &FormData) -> Result<Option<HookVerify>, Violations> {
    let secret = form.text("verify_secret");
    let check = match form.get("verify").unwrap_or("none") {
        "none" | "" => None,
        "sanity" => Some(HookVerify::Sanity { secret }),
        "contentful" => Some(HookVerify::Contentful { secret }),
        "github" => Some(HookVerify::Github { secret }),
        "standard_webhooks" => Some(HookVerify::StandardWebhooks { secret }),
        "header" => Some(HookVerify::Header {
            name: form.text("verify_header").trim().to_owned(),
            value: secret,
        }),
        _ => {
            let tags: Vec<&str> = CHECKS.iter().map(|(tag, _)| *tag).collect();
            let (last, others) = tags.split_last().expect("CHECKS is not empty");
            let mut v = Violations::default();
            v.add("verify", format!("must be {} or {last}", others.join(", ")));
            return Err(v);
        }
    };
    Ok(check)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &str) -> FormData {
        FormData::parse(pairs.as_bytes()).unwrap()
    }

    #[test]
    fn a_post_becomes_the_check_it_names() {
        assert_eq!(posted(&form("verify=none&verify_secret=x")).unwrap(), None);
        assert_eq!(
            posted(&form("title=t")).unwrap(),
            None,
            "no field, no check"
        );
        assert_eq!(
            posted(&form("verify=sanity&verify_secret=s3cret")).unwrap(),
            Some(HookVerify::Sanity {
                secret: "s3cret".into()
            })
        );
        assert_eq!(
            posted(&form(
                "verify=header&verify_secret=0123456789abcdef&verify_header=+X-Token+"
            ))
            .unwrap(),
            Some(HookVerify::Header {
                name: "X-Token".into(),
                value: "0123456789abcdef".into()
            })
        );
        let refused = posted(&form("verify=telepathy")).unwrap_err();
        assert_eq!(refused.0[0].field, "verify");
        assert_eq!(
            refused.0[0].message,
            "must be none, sanity, contentful, github, standard_webhooks or header"
        );
    }

    #[test]
    fn every_check_has_a_name() {
        let secret = String::from("s");
        for verify in [
            HookVerify::Sanity {
                secret: secret.clone(),
            },
            HookVerify::Contentful {
                secret: secret.clone(),
            },
            HookVerify::Github {
                secret: secret.clone(),
            },
            HookVerify::StandardWebhooks {
                secret: secret.clone(),
            },
            HookVerify::Header {
                name: "X".into(),
                value: secret.clone(),
            },
        ] {
            assert!(!describe(Some(&verify)).is_empty(), "{verify:?}");
        }
        assert_eq!(describe(None), "None: the URL is the credential");
    }
}
