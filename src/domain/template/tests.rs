use super::*;
use proptest::prelude::*;
use serde_json::json;

fn render(template: &str, data: Value, escape: Escape) -> String {
    compile(template).unwrap().render(&data, escape).unwrap()
}

/// Every case of the official spec files (tests/vectors/mustache), with HTML escaping
/// as the spec prescribes.
#[test]
fn passes_the_mustache_spec() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/mustache");
    let mut ran = 0;
    for file in [
        "interpolation",
        "sections",
        "inverted",
        "comments",
        "delimiters",
        "partials",
    ] {
        let text =
            std::fs::read_to_string(format!("{dir}/{file}.json")).expect("spec file present");
        let doc: Value = serde_json::from_str(&text).unwrap();
        for case in doc["tests"].as_array().unwrap() {
            let partials: HashMap<String, String> = case
                .get("partials")
                .and_then(Value::as_object)
                .map(|p| {
                    p.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                        .collect()
                })
                .unwrap_or_default();
            let template = compile(case["template"].as_str().unwrap())
                .unwrap_or_else(|e| panic!("{file}: {}: {e}", case["name"]));
            let got = template
                .render_with_partials(&case["data"], Escape::Html, &partials)
                .unwrap();
            assert_eq!(
                got,
                case["expected"].as_str().unwrap(),
                "{file}: {}",
                case["name"]
            );
            ran += 1;
        }
    }
    assert_eq!(ran, 136, "all required spec cases ran");
}

#[test]
fn the_design_example_renders() {
    let template = r#"{"message": "{{event_type}} event triggered on {{entity_type}}!", "entity_id": "{{#entity}}{{id}}{{/entity}}"}"#;
    let data = json!({"entity_type": "item", "event_type": "update", "environment": "main", "entity": {"id": "293467"}});
    assert_eq!(
        render(template, data, Escape::Json),
        r#"{"message": "update event triggered on item!", "entity_id": "293467"}"#
    );
}

#[test]
fn json_escaping_keeps_quotes_newlines_and_html_characters_valid() {
    let out = render(
        r#"{"t": "{{t}}"}"#,
        json!({"t": "a \"b\"\n<c> & 'd' \\ \u{1}"}),
        Escape::Json,
    );
    let parsed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(parsed["t"], "a \"b\"\n<c> & 'd' \\ \u{1}");
}

#[test]
fn json_mode_writes_non_strings_as_json() {
    let data = json!({"n": 4.5, "b": true, "o": {"k": [1, "x"]}, "nothing": null});
    let out = render(
        r#"{"n": {{n}}, "b": {{b}}, "o": {{o}}, "z": "{{nothing}}"}"#,
        data,
        Escape::Json,
    );
    assert_eq!(out, r#"{"n": 4.5, "b": true, "o": {"k":[1,"x"]}, "z": ""}"#);
}

#[test]
fn triple_and_ampersand_tags_are_never_escaped() {
    let data = json!({"x": "<\"q\">"});
    assert_eq!(
        render("{{{x}}}{{& x}}", data.clone(), Escape::Json),
        "<\"q\"><\"q\">"
    );
    assert_eq!(render("{{x}}", data, Escape::Raw), "<\"q\">");
}

#[test]
fn content_types_choose_the_escaping() {
    assert_eq!(
        Escape::for_content_type("application/json; charset=utf-8"),
        Escape::Json
    );
    assert_eq!(
        Escape::for_content_type("application/vnd.api+json"),
        Escape::Json
    );
    assert_eq!(Escape::for_content_type("text/html"), Escape::Html);
    assert_eq!(
        Escape::for_content_type("application/atom+xml"),
        Escape::Html
    );
    assert_eq!(Escape::for_content_type("text/plain"), Escape::Raw);
    assert_eq!(
        Escape::for_content_type("application/x-www-form-urlencoded; charset=utf-8"),
        Escape::Form
    );
}

#[test]
fn form_values_are_percent_encoded_and_triple_braces_are_not() {
    let t = compile("title={{title}}&n={{n}}&raw={{{raw}}}").unwrap();
    let data = serde_json::json!({"title": "Tom & Jerry = 1+1\nend", "n": 3, "raw": "a&b"});
    assert_eq!(
        t.render(&data, Escape::Form).unwrap(),
        "title=Tom+%26+Jerry+%3D+1%2B1%0Aend&n=3&raw=a&b"
    );
}

#[test]
fn errors_name_line_and_column() {
    let e = compile("{\n  \"a\": \"{{#entity}}{{id}}\"\n}").unwrap_err();
    assert_eq!((e.line, e.column), (2, 9));
    assert!(e.message.contains("never closed"), "{e}");
    let e = compile("ok\nx {{/nope}}").unwrap_err();
    assert_eq!((e.line, e.column), (2, 3));
    assert!(e.message.contains("never opened"));
    let e = compile("{{#a}}\n{{/b}}").unwrap_err();
    assert_eq!((e.line, e.column), (2, 1));
    let e = compile("text {{name").unwrap_err();
    assert_eq!((e.line, e.column), (1, 6));
    assert!(e.to_string().starts_with("line 1, column 6: "));
    assert!(compile("{{= | =}}").is_err());
    assert!(compile("{{}}").is_err());
}

#[test]
fn a_rendering_that_explodes_is_stopped_at_a_limit() {
    let list: Vec<u32> = (0..200).collect();
    let data = json!({"a": list});
    // 200 × 200 × 200 items, each writing a few bytes: 8 000 000 steps, 16 MB.
    let wide = compile("{{#a}}{{#a}}{{#a}}{{.}},{{/a}}{{/a}}{{/a}}").unwrap();
    assert_eq!(wide.render(&data, Escape::Raw), Err(RenderLimit::Output));
    // The same loops writing nothing: only the step count stops it.
    let idle = compile("{{#a}}{{#a}}{{#a}}{{/a}}{{/a}}{{/a}}").unwrap();
    assert_eq!(idle.render(&data, Escape::Raw), Err(RenderLimit::Steps));
    let fine = compile("{{#a}}{{.}}{{/a}}")
        .unwrap()
        .render(&data, Escape::Raw);
    assert_eq!(fine.map(|s| s.len()), Ok(490));
}

/// The attack that aborted the process: 8 000 nested sections under changed delimiters,
/// within the 64 KiB source limit. Compiling must refuse it (naming the limit) before
/// anything recurses per level, and the refused source must drop without recursing.
#[test]
fn sections_nested_past_the_limit_are_refused_without_recursing() {
    let levels = 8_000;
    let source = format!(
        "{{{{=[ ]=}}}}{}x{}",
        "[^a]".repeat(levels),
        "[/a]".repeat(levels)
    );
    assert!(source.len() < 64 * 1024);
    let error = compile(&source).unwrap_err();
    assert!(error.message.contains("deeper than 32 levels"), "{error}");
    for (open, close) in [("{{#a}}", "{{/a}}"), ("{{^a}}", "{{/a}}")] {
        let at_limit = format!("{}x{}", open.repeat(MAX_NESTING), close.repeat(MAX_NESTING));
        assert!(
            compile(&at_limit).is_ok(),
            "{MAX_NESTING} levels are allowed"
        );
        let past = format!(
            "{}x{}",
            open.repeat(MAX_NESTING + 1),
            close.repeat(MAX_NESTING + 1)
        );
        assert!(
            compile(&past).is_err(),
            "{} levels are not",
            MAX_NESTING + 1
        );
    }
}

/// Partials that include each other nest sections without a compile seeing it: the
/// rendering stops descending at its own depth limit instead of the stack's.
#[test]
fn partials_that_nest_sections_stop_at_the_render_depth() {
    let partials = HashMap::from([(
        "p".to_owned(),
        format!("{}{{{{>p}}}}{}", "{{#a}}".repeat(31), "{{/a}}".repeat(31)),
    )]);
    let data = json!({"a": true});
    let out = compile("{{>p}}")
        .unwrap()
        .render_with_partials(&data, Escape::Raw, &partials)
        .unwrap();
    assert_eq!(out, "");
}

#[test]
fn probing_fills_only_missing_values() {
    let t = compile(r#"{"a": {{{meta}}}, "b": "{{title}}", "c": {{title}}}"#).unwrap();
    assert_eq!(
        t.render_probe(&json!({"title": "x"}), Escape::Json)
            .unwrap(),
        r#"{"a": 0, "b": "x", "c": x}"#
    );
}

#[test]
fn partials_are_detected_and_never_read_from_disk() {
    let t = compile("a {{> ../../etc/passwd}} b").unwrap();
    assert!(t.has_partials());
    assert_eq!(t.render(&json!({}), Escape::Raw).unwrap(), "a  b");
    assert!(!compile("{{#x}}{{y}}{{/x}}").unwrap().has_partials());
}

#[test]
fn recursive_partials_stop() {
    let partials = HashMap::from([("p".to_owned(), "x{{>p}}".to_owned())]);
    let out = compile("{{>p}}")
        .unwrap()
        .render_with_partials(&json!({}), Escape::Raw, &partials);
    assert_eq!(out.map(|s| s.len()), Ok(MAX_RENDER_DEPTH));
}

proptest! {
    /// Whatever a string holds, JSON-mode rendering inside quotes parses back to it.
    #[test]
    fn json_rendering_round_trips_any_string(value in any::<String>(), other in "[\"\\\\\\n\\t\\u{0}-\\u{1f}<>&'a-zé😀]{0,40}") {
        let template = compile(r#"{"v": "{{v}}", "w": "{{#w}}{{.}}{{/w}}"}"#).unwrap();
        let out = template.render(&json!({"v": value, "w": [other]}), Escape::Json).unwrap();
        let parsed: Value = serde_json::from_str(&out).expect("valid JSON");
        prop_assert_eq!(parsed["v"].as_str().unwrap(), value.as_str());
        prop_assert_eq!(parsed["w"].as_str().unwrap(), other.as_str());
    }
}
