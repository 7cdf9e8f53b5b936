//! The API reference at `/api/docs`, rendered from the OpenAPI document: every operation
//! by tag, with its parameters, body and answers. No script, nothing from elsewhere.

use axum::extract::State;
use maud::{html, Markup, DOCTYPE};

use crate::api::AppState;

/// One operation of the document, as the reference page lists it.
struct Operation {
    tag: String,
    method: String,
    path: String,
    op: serde_json::Value,
}

fn operations(doc: &serde_json::Value) -> Vec<Operation> {
    let mut found = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            found.push(Operation {
                tag: op["tags"][0].as_str().unwrap_or_default().to_owned(),
                method: method.to_uppercase(),
                path: path.clone(),
                op: op.clone(),
            });
        }
    }
    found.sort_by(|a, b| a.tag.cmp(&b.tag));
    found
}

/// `#/components/schemas/X` as `X`; inline schemas as their type.
fn schema_name(schema: &serde_json::Value) -> String {
    match schema.get("$ref").and_then(|r| r.as_str()) {
        Some(reference) => reference.rsplit('/').next().unwrap_or_default().to_owned(),
        None => schema["type"].as_str().unwrap_or("object").to_owned(),
    }
}

/// The reference, rendered from the same document: every operation by tag, with its
/// parameters, body and answers. No script, nothing from elsewhere.
pub async fn reference(State(state): State<AppState>) -> Markup {
    let doc = serde_json::to_value(state.openapi.as_ref()).unwrap_or_default();
    let operations = operations(&doc);
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "API reference · hookrelay" }
                link rel="stylesheet" href=(super::CSS_PATH);
            }
            body {
                main {
                    h1 { "hookrelay API" }
                    p.lead { "Every route, from " a href="/api/v1/openapi.json" { "the OpenAPI document" } " (point any OpenAPI tool or client generator at it). Send " code { "Authorization: Bearer <token>" } "." }
                    @for (i, o) in operations.iter().enumerate() {
                        @if i == 0 || operations[i - 1].tag != o.tag { h2 { (o.tag) } }
                        section.card id=(text(&o.op["operationId"])) {
                            h3 { code { (o.method) " " (o.path) } }
                            p { (text(&o.op["summary"])) }
                            @if let Some(params) = o.op["parameters"].as_array() {
                                dl.facts {
                                    @for p in params {
                                        dt { code { (text(&p["name"])) } }
                                        dd { (text(&p["in"])) " · " (text(&p["description"])) }
                                    }
                                }
                            }
                            @if let Some(body) = o.op["requestBody"]["content"]["application/json"].get("schema") {
                                p { "Body: " code { (schema_name(body)) } }
                            }
                            ul {
                                @for (status, answer) in o.op["responses"].as_object().into_iter().flatten() {
                                    li { strong { (status) } " " (text(&answer["description"])) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
