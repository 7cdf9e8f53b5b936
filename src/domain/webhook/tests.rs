use super::*;

pub(super) fn valid() -> WebhookSettings {
    WebhookSettings {
        triggers: vec![Trigger {
            entity_type: "item".into(),
            event_types: vec!["publish".into()],
            entity_ids: vec![],
            model_ids: vec![],
        }],
        headers: BTreeMap::from([("X-Team".into(), "blue".into())]),
        public_headers: Vec::new(),
        ..WebhookSettings::new("Rebuild site", "https://example.com/hook")
    }
}

fn fields(settings: &WebhookSettings) -> Vec<String> {
    match settings.validate(false) {
        Ok(()) => vec![],
        Err(v) => v.0.into_iter().map(|e| e.field).collect(),
    }
}

#[test]
fn disable_after_reads_durations_and_never() {
    assert_eq!(parse_disable_after("5d"), Ok(5 * 86_400_000));
    assert_eq!(parse_disable_after(" never "), Ok(0));
    assert!(parse_disable_after("soon").is_err());
    for out_of_range in ["0s", "30s", "366d", "99999999999d"] {
        assert!(parse_disable_after(out_of_range).is_err(), "{out_of_range}");
    }
    assert_eq!(format_disable_after(36 * 3_600_000), "1day 12h");
    assert_eq!(format_disable_after(0), "never");
    let mut s = valid();
    s.disable_after_ms = Some(1000);
    s.rate_limit_per_s = Some(0);
    assert_eq!(fields(&s), ["rate_limit_per_s", "disable_after"]);
    s.disable_after_ms = Some(0);
    s.rate_limit_per_s = Some(50);
    assert!(fields(&s).is_empty());
}

#[test]
fn preview_renders_the_template_or_names_its_fault() {
    let mut s = valid();
    s.payload_template = Some(r#"{"id": "{{entity.id}}", "t": "{{event_type}}"}"#.into());
    let event = sample_event();
    let shown = s.preview(&event).expect("renders");
    assert_eq!(shown.body, r#"{"id": "sample-item", "t": "update"}"#);
    assert!(
        !shown.matches,
        "the sample is an update, the trigger wants publish"
    );
    assert_eq!(shown.content_type, DEFAULT_CONTENT_TYPE);

    s.payload_template = Some("{{#entity}}".into());
    let fault = s.preview(&event).expect_err("unclosed section");
    assert_eq!(fault.0[0].field, "payload_template");

    s.payload_template = None;
    assert_eq!(
        s.preview(&event).expect("default").body,
        event.default_body()
    );
}

#[test]
fn a_huge_header_value_is_refused() {
    let mut s = valid();
    s.headers.insert("X-Big".into(), "x".repeat(100 * 1024));
    assert_eq!(fields(&s), ["headers.X-Big"]);
}

#[test]
fn valid_settings_pass() {
    assert!(fields(&valid()).is_empty());
}

#[test]
fn every_problem_is_reported_with_its_field() {
    let mut s = valid();
    s.name = String::new();
    s.url = "not a url".into();
    s.triggers.clear();
    s.timeout_ms = 10;
    assert_eq!(fields(&s), ["name", "url", "triggers", "timeout_ms"]);
}

#[test]
fn reserved_and_malformed_headers_are_refused() {
    let mut s = valid();
    s.headers = BTreeMap::from([
        ("Webhook-Signature".into(), "forged".into()),
        ("bad header".into(), "x".into()),
        ("X-Ok".into(), "line\nbreak".into()),
    ]);
    let mut got = fields(&s);
    got.sort();
    assert_eq!(
        got,
        [
            "headers.Webhook-Signature",
            "headers.X-Ok",
            "headers.bad header"
        ]
    );
}

#[test]
fn basic_auth_user_must_be_usable() {
    let mut s = valid();
    s.basic_auth = Some(BasicAuth {
        username: "a:b".into(),
        password: "p".into(),
    });
    assert_eq!(fields(&s), ["basic_auth.username"]);
}

#[test]
fn private_targets_depend_on_the_operator_setting() {
    let mut s = valid();
    s.url = "http://127.0.0.1:9000/".into();
    assert_eq!(fields(&s), ["url"]);
    assert!(s.validate(true).is_ok());
}

#[test]
fn templates_are_checked_when_saved() {
    let mut s = valid();
    s.payload_template = Some("{\"id\": \"{{#entity}}{{id}}\"}".into());
    let problem = s.validate(false).unwrap_err().0.remove(0);
    assert_eq!(problem.field, "payload_template");
    assert!(
        problem.message.starts_with("line 1, column 9: "),
        "{}",
        problem.message
    );

    s.payload_template = Some("{\"id\": {{entity.id}}}".into());
    let problem = s.validate(false).unwrap_err().0.remove(0);
    assert!(
        problem.message.contains("does not render valid JSON"),
        "{}",
        problem.message
    );

    s.payload_template = Some("{{> header}}".into());
    assert!(s.validate(false).unwrap_err().0[0]
        .message
        .contains("partials"));

    s.payload_template = Some(
        "{\"t\": \"{{entity.attributes.title}}\", \"n\": {{entity.attributes.position}}}".into(),
    );
    assert!(s.validate(false).is_ok());
}

#[test]
fn non_json_bodies_need_a_template_and_a_real_media_type() {
    let mut s = valid();
    s.content_type = "text/plain".into();
    assert_eq!(fields(&s), ["content_type"]);
    s.payload_template = Some("{{event_type}} on {{entity.id}}".into());
    assert!(s.validate(false).is_ok(), "non-JSON output is not parsed");
    s.content_type = "plain".into();
    assert_eq!(fields(&s), ["content_type"]);
}

#[test]
fn rendering_uses_the_event_and_the_content_types_escaping() {
    let mut s = valid();
    let event: NewEvent = serde_json::from_value(serde_json::json!({
        "entity_type": "item", "event_type": "update", "entity": {"id": "1", "title": "say \"hi\""}
    }))
    .unwrap();
    assert_eq!(
        s.render_body(&event),
        Ok(None),
        "no template: the default body"
    );
    s.payload_template = Some("{\"t\": \"{{entity.title}}\"}".into());
    assert_eq!(
        s.render_body(&event).unwrap().unwrap(),
        "{\"t\": \"say \\\"hi\\\"\"}"
    );
    s.content_type = "text/html".into();
    assert_eq!(
        s.render_body(&event).unwrap().unwrap(),
        "{\"t\": \"say &quot;hi&quot;\"}"
    );
}

#[test]
fn sensitive_header_names_are_recognised() {
    for name in [
        "Authorization",
        "X-Api-Key",
        "x-auth-token",
        "Cookie",
        "X-Client-Secret",
    ] {
        assert!(is_sensitive_header(name), "{name}");
    }
    assert!(!is_sensitive_header("X-Team"));
}
