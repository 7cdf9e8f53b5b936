//! The webhook form drawn: each field with its errors beside it, read-only for viewers.

use maud::{html, Markup};

use super::super::layout::{field_errors, invalid};
use super::form::{TriggerRow, WebhookForm, ENTITY_TYPES, SPARE_TRIGGER_ROWS};
use crate::domain::ordering::{self, OrderingMode};
use crate::domain::validation::FieldError;

const ORDERING_CHOICES: [(OrderingMode, &str); 3] = [
    (OrderingMode::None, "None: concurrent, fastest"),
    (OrderingMode::Key, "In order, per key"),
    (OrderingMode::Latest, "Latest only, per key"),
];

/// The form's fields (the caller wraps them in a `<form>` with its action and buttons).
pub fn fields(f: &WebhookForm, errors: &[FieldError], editable: bool) -> Markup {
    let rows = f.triggers.len() + SPARE_TRIGGER_ROWS;
    let blank = TriggerRow::default();
    let http = f.kind == "http";
    html! {
        fieldset disabled[!editable] {
            legend { "Destination" }
            label for="name" { "Name" }
            input #name type="text" name="name" value=(f.name) maxlength="200" required aria-invalid=[invalid(errors, "name")];
            (field_errors(errors, "name"))
            input type="hidden" name="kind" value=(f.kind);
            @if http {
                label for="url" { "URL" }
                input #url type="url" name="url" value=(f.url) required placeholder="https://example.com/hooks/cms" aria-invalid=[invalid(errors, "url")] aria-describedby="url-hint";
                p.field-hint #url-hint { "Called with a signed POST. Private and loopback addresses are refused unless the server allows them." }
                (field_errors(errors, "url"))
            }
            label.inline { input type="checkbox" name="enabled" checked[f.enabled]; "Enabled" }
        }
        @if !http {
            fieldset.target disabled[!editable] {
                (super::target_form::draw(&f.kind, f.config.as_ref(), errors))
            }
        }
        fieldset disabled[!editable] {
            legend { "Triggers" }
            p.field-hint { "The webhook is called when any row matches. Event types are comma-separated (" code { "create, update, publish, *" } "); ids and models narrow a row to those entities." }
            (field_errors(errors, "triggers"))
            datalist #entity-types { @for t in ENTITY_TYPES { option value=(t) {} } }
            @for i in 0..rows {
                @let row = f.triggers.get(i).unwrap_or(&blank);
                @let field = format!("triggers[{i}]");
                div.row.trigger-row {
                    div {
                        label for={ "trigger_" (i) "_entity_type" } { "Entity type" }
                        input id={ "trigger_" (i) "_entity_type" } type="text" name={ "trigger_" (i) "_entity_type" } value=(row.entity_type) list="entity-types" placeholder="item" aria-invalid=[invalid(errors, &format!("{field}.entity_type"))];
                    }
                    div {
                        label for={ "trigger_" (i) "_event_types" } { "Event types" }
                        input id={ "trigger_" (i) "_event_types" } type="text" name={ "trigger_" (i) "_event_types" } value=(row.event_types) placeholder="publish, unpublish" aria-invalid=[invalid(errors, &format!("{field}.event_types"))];
                    }
                    div {
                        label for={ "trigger_" (i) "_entity_ids" } { "Only entity ids" }
                        input id={ "trigger_" (i) "_entity_ids" } type="text" name={ "trigger_" (i) "_entity_ids" } value=(row.entity_ids) placeholder="any";
                    }
                    div {
                        label for={ "trigger_" (i) "_model_ids" } { "Only models" }
                        input id={ "trigger_" (i) "_model_ids" } type="text" name={ "trigger_" (i) "_model_ids" } value=(row.model_ids) placeholder="any";
                    }
                }
                (field_errors(errors, &field))
            }
        }
        @if !http {
            fieldset disabled[!editable] {
                legend { "Delivery" }
                label for="timeout_ms" { "Timeout (ms)" }
                input #timeout_ms type="number" name="timeout_ms" min="100" max="60000" value=(f.timeout_ms) aria-invalid=[invalid(errors, "timeout_ms")];
                (field_errors(errors, "timeout_ms"))
            }
        }
        @if http {
        fieldset disabled[!editable] {
            legend { "Request" }
            label for="headers" { "Custom headers" }
            textarea #headers name="headers" rows="3" placeholder="X-Team: web" aria-invalid=[invalid(errors, "headers")] { (f.headers) }
            p.field-hint { "One " code { "Name: value" } " per line. Values of headers whose name suggests a credential are masked once saved; leave " code { "********" } " to keep them." }
            (field_errors(errors, "headers"))
            label for="public_headers" { "Headers viewers may read" }
            input #public_headers type="text" name="public_headers" value=(f.public_headers) placeholder="X-Team" aria-invalid=[invalid(errors, "public_headers")];
            p.field-hint { "Names, comma-separated. Viewers see every other header value masked." }
            (field_errors(errors, "public_headers"))
            div.row {
                div {
                    label for="basic_user" { "Basic auth user" }
                    input #basic_user type="text" name="basic_user" value=(f.basic_user) autocomplete="off" aria-invalid=[invalid(errors, "basic_auth")];
                    (field_errors(errors, "basic_auth"))
                }
                div {
                    label for="basic_password" { "Basic auth password" }
                    input #basic_password type="password" name="basic_password" value=(f.basic_password) autocomplete="new-password";
                }
                div {
                    label for="timeout_ms" { "Timeout (ms)" }
                    input #timeout_ms type="number" name="timeout_ms" min="100" max="60000" value=(f.timeout_ms) aria-invalid=[invalid(errors, "timeout_ms")];
                    (field_errors(errors, "timeout_ms"))
                }
            }
        }
        fieldset disabled[!editable] {
            legend { "When the receiver struggles" }
            div.row {
                div {
                    label for="rate_limit_per_s" { "Rate limit (calls a second)" }
                    input #rate_limit_per_s type="number" name="rate_limit_per_s" min="1" max="10000" value=(f.rate_limit_per_s) placeholder="no limit" aria-invalid=[invalid(errors, "rate_limit_per_s")];
                    (field_errors(errors, "rate_limit_per_s"))
                }
                div {
                    label for="disable_after" { "Disable after failing for" }
                    input #disable_after type="text" name="disable_after" value=(f.disable_after) placeholder="server default (5 days)" aria-invalid=[invalid(errors, "disable_after")];
                    (field_errors(errors, "disable_after"))
                }
            }
            p.field-hint { "Calls over the rate limit wait their turn, across every hookrelay process; none is dropped. A webhook whose calls all fail for this long (" code { "5d" } ", " code { "36h" } ", " code { "never" } ") is disabled; its pending calls wait until it is enabled again." }
        }
        fieldset disabled[!editable] {
            legend { "Order" }
            div.row {
                div {
                    label for="ordering" { "Ordering" }
                    select #ordering name="ordering" aria-invalid=[invalid(errors, "ordering")] {
                        @for (mode, label) in ORDERING_CHOICES {
                            option value=(mode.as_str()) selected[f.ordering == mode.as_str()] { (label) }
                        }
                    }
                    (field_errors(errors, "ordering"))
                }
                div {
                    label for="ordering_key" { "Ordering key" }
                    input #ordering_key type="text" name="ordering_key" value=(f.ordering_key) placeholder=(ordering::DEFAULT_KEY) aria-invalid=[invalid(errors, "ordering_key")];
                    (field_errors(errors, "ordering_key"))
                }
            }
            p.field-hint { "In order: calls with the same key go one at a time, in the order their events were accepted; a failing call holds back only its own key. Latest only: a newer call replaces older ones not yet sent. The key is a JSON pointer into the event (" code { "/entity/id" } ", " code { "/entity/relationships/item_type/data/id" } ") or " code { "*" } " for one order across the webhook." }
        }
        fieldset disabled[!editable] {
            legend { "Payload" }
            p.field-hint { "Empty: the event as published. Otherwise a " a href="https://mustache.github.io/mustache.5.html" { "Mustache" } " template rendered against " code { "{entity_type, event_type, environment, entity}" } "." }
            label for="payload_template" { "Template" }
            textarea #payload_template name="payload_template" rows="6" placeholder="{\"message\": \"{{event_type}} on {{entity_type}}\", \"id\": \"{{entity.id}}\"}" aria-invalid=[invalid(errors, "payload_template")] { (f.payload_template) }
            (field_errors(errors, "payload_template"))
            label for="content_type" { "Content type" }
            input #content_type type="text" name="content_type" value=(f.content_type) aria-invalid=[invalid(errors, "content_type")];
            (field_errors(errors, "content_type"))
            label for="sample" { "Sample event for the preview" }
            textarea #sample name="sample" rows="8" { (f.sample) }
            div.actions { button #preview-button type="button" { "Preview" } }
            p #preview-verdict.hint aria-live="polite" {}
            pre #preview-output aria-live="polite" { "The preview appears here as you type (it needs JavaScript)." }
        }
        fieldset disabled[!editable] {
            legend { "X-Nf-Sign (JWS)" }
            p.field-hint { "Optional: also sign each call with an HS256 JWT in " code { "X-Nf-Sign" } ", for receivers written for Netlify-style hooks." }
            div.row {
                div {
                    label for="jws_secret" { "JWS secret" }
                    input #jws_secret type="password" name="jws_secret" value=(f.jws_secret) autocomplete="new-password" aria-invalid=[invalid(errors, "jws_secret")];
                    (field_errors(errors, "jws_secret"))
                }
                div {
                    label for="jws_issuer" { "JWS issuer" }
                    input #jws_issuer type="text" name="jws_issuer" value=(f.jws_issuer) placeholder="hookrelay";
                    (field_errors(errors, "jws_issuer"))
                }
                div {
                    label for="signature_header" { "Header name" }
                    input #signature_header type="text" name="signature_header" value=(f.signature_header) placeholder="X-Nf-Sign" aria-invalid=[invalid(errors, "signature_header")];
                    (field_errors(errors, "signature_header"))
                }
            }
        }
        }
    }
}
