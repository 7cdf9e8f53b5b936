//! The settings of each notification target as form fields: what each field is, how it is
//! drawn, and how a POST becomes the target's `config` (the API checks the rest). Secrets
//! are write-only: shown as `********`, which keeps the stored one.

use maud::{html, Markup};
use serde_json::{json, Map, Value};

use super::super::form::{list, FormData};
use super::super::layout::{field_errors, invalid};
use crate::domain::validation::FieldError;

/// How a field is entered.
#[derive(Clone, Copy, PartialEq)]
enum Input {
    Text,
    /// Write-only: shown masked, sent back masked to keep the stored value.
    Secret,
    Number,
    /// Comma- or newline-separated values.
    List,
    Choice(&'static [&'static str]),
    Multiline,
}

struct Field {
    name: &'static str,
    label: &'static str,
    input: Input,
    placeholder: &'static str,
}

const fn field(
    name: &'static str,
    label: &'static str,
    input: Input,
    placeholder: &'static str,
) -> Field {
    Field {
        name,
        label,
        input,
        placeholder,
    }
}

const GITHUB_API: Field = field(
    "api_url",
    "API URL",
    Input::Text,
    "https://api.github.com (Enterprise: https://github.example.com/api/v3)",
);
const GITLAB_API: Field = field(
    "api_url",
    "API URL",
    Input::Text,
    "https://gitlab.com/api/v4",
);
const OWNER: Field = field("owner", "Owner", Input::Text, "acme");
const REPO: Field = field("repo", "Repository", Input::Text, "site");
const PROJECT: Field = field("project", "Project", Input::Text, "acme/site or 42");
const TOKEN: Field = field(
    "token",
    "Token",
    Input::Secret,
    "a token that may write statuses",
);

const EMAIL: &[Field] = &[
    field("host", "SMTP host", Input::Text, "smtp.example.com"),
    field("port", "Port", Input::Number, "587"),
    field(
        "tls",
        "TLS",
        Input::Choice(&["starttls", "tls", "none"]),
        "",
    ),
    field("username", "User", Input::Text, "optional"),
    field("password", "Password", Input::Secret, "optional"),
    field("from", "From", Input::Text, "hookrelay@example.com"),
    field("to", "To", Input::List, "team@example.com, ops@example.com"),
    field(
        "subject_template",
        "Subject template",
        Input::Text,
        "default: the notice's title",
    ),
    field(
        "text_template",
        "Text template",
        Input::Multiline,
        "default: title, facts, log tail and link",
    ),
];
const SLACK: &[Field] = &[
    field(
        "url",
        "Incoming webhook URL",
        Input::Secret,
        "https://hooks.slack.com/services/…",
    ),
    field(
        "template",
        "Message template (JSON)",
        Input::Multiline,
        "default: text and blocks from the notice",
    ),
];
const GITHUB_STATUS: &[Field] = &[
    GITHUB_API,
    OWNER,
    REPO,
    TOKEN,
    field("context", "Context", Input::Text, "hookrelay/deploy"),
];
const GITHUB_COMMENT: &[Field] = &[GITHUB_API, OWNER, REPO, TOKEN];
const GITLAB_STATUS: &[Field] = &[
    GITLAB_API,
    PROJECT,
    TOKEN,
    field("name", "Status name", Input::Text, "hookrelay/deploy"),
];
const GITLAB_NOTE: &[Field] = &[GITLAB_API, PROJECT, TOKEN];

/// Each target type's fields, as its settings in `domain::targets` name them.
fn fields_of(kind: &str) -> &'static [Field] {
    match kind {
        "email" => EMAIL,
        "slack" => SLACK,
        "github_commit_status" => GITHUB_STATUS,
        "github_pr_comment" => GITHUB_COMMENT,
        "gitlab_commit_status" => GITLAB_STATUS,
        "gitlab_mr_comment" => GITLAB_NOTE,
        _ => &[],
    }
}

/// What a new webhook may send to, for the type picker: `(type, label)`.
pub const TYPES: [(&str, &str); 7] = [
    ("http", "HTTP URL"),
    ("email", "Email"),
    ("slack", "Slack"),
    ("github_commit_status", "GitHub commit status"),
    ("github_pr_comment", "GitHub pull-request comment"),
    ("gitlab_commit_status", "GitLab commit status"),
    ("gitlab_mr_comment", "GitLab merge-request note"),
];

/// Whether `kind` is a type the form knows.
pub fn is_known(kind: &str) -> bool {
    TYPES.iter().any(|(t, _)| *t == kind)
}

fn input_name(field: &Field) -> String {
    format!("config_{}", field.name)
}

/// A stored value as the field shows it.
fn shown(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join(", "),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// The target's settings from a POST: blank fields are left out (the target's defaults).
pub fn read(kind: &str, form: &FormData) -> Value {
    let mut config = Map::new();
    for f in fields_of(kind) {
        let Some(text) = form.optional(&input_name(f)) else {
            continue;
        };
        let value = match f.input {
            Input::Number => text
                .trim()
                .parse::<u64>()
                .map_or_else(|_| json!(text), |n| json!(n)),
            Input::List => json!(list(&text)),
            Input::Multiline => json!(text),
            _ => json!(text.trim()),
        };
        config.insert(f.name.to_owned(), value);
    }
    Value::Object(config)
}

/// The target's fields, filled from `config` (as the API shows it: secrets masked).
pub fn draw(kind: &str, config: Option<&Value>, errors: &[FieldError]) -> Markup {
    let label = TYPES
        .iter()
        .find(|(t, _)| *t == kind)
        .map_or(kind, |(_, l)| *l);
    html! {
        legend { (label) }
        p.field-hint { "Secrets are write-only: " code { "********" } " keeps the one stored; changing the address asks for it again." }
        @for f in fields_of(kind) {
            @let name = input_name(f);
            @let error = format!("config.{}", f.name);
            @let value = shown(config.and_then(|c| c.get(f.name)));
            label for=(name) { (f.label) }
            @match f.input {
                Input::Multiline => {
                    textarea id=(name) name=(name) rows="4" placeholder=(f.placeholder) aria-invalid=[invalid(errors, &error)] { (value) }
                }
                Input::Choice(options) => {
                    select id=(name) name=(name) aria-invalid=[invalid(errors, &error)] {
                        @for o in options { option value=(o) selected[value == *o] { (o) } }
                    }
                }
                Input::Secret => {
                    input id=(name) type="password" name=(name) value=(value) placeholder=(f.placeholder) autocomplete="new-password" aria-invalid=[invalid(errors, &error)];
                }
                Input::Number => {
                    input id=(name) type="number" name=(name) value=(value) placeholder=(f.placeholder) aria-invalid=[invalid(errors, &error)];
                }
                Input::Text | Input::List => {
                    input id=(name) type="text" name=(name) value=(value) placeholder=(f.placeholder) aria-invalid=[invalid(errors, &error)];
                }
            }
            (field_errors(errors, &error))
        }
        (field_errors(errors, "config"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn posted(pairs: &[(&str, &str)]) -> FormData {
        let body: String = pairs
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k}={}&",
                    url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
                )
            })
            .collect();
        FormData::parse(body.as_bytes()).unwrap()
    }

    #[test]
    fn a_post_becomes_the_targets_config_and_blank_fields_keep_defaults() {
        let form = posted(&[
            ("config_host", " smtp.example.com "),
            ("config_port", "465"),
            ("config_tls", "tls"),
            ("config_username", ""),
            ("config_to", "a@example.com, b@example.com"),
            ("config_from", "hr@example.com"),
        ]);
        assert_eq!(
            read("email", &form),
            json!({"host": "smtp.example.com", "port": 465, "tls": "tls",
                   "to": ["a@example.com", "b@example.com"], "from": "hr@example.com"})
        );
        assert_eq!(read("nonsense", &form), json!({}));
    }

    #[test]
    fn every_type_but_http_has_fields_and_secrets_are_password_inputs() {
        for (kind, _) in TYPES.iter().skip(1) {
            assert!(!fields_of(kind).is_empty(), "{kind}");
        }
        let html = draw(
            "github_commit_status",
            Some(&json!({"token": "********", "owner": "acme"})),
            &[],
        )
        .into_string();
        assert!(
            html.contains(r#"type="password" name="config_token" value="********""#),
            "{html}"
        );
        assert!(html.contains(r#"name="config_owner" value="acme""#));
    }
}
