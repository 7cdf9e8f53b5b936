//! The event types a site's triggers may name: the built-in ones, and those the site
//! registers. A trigger naming an unknown type would never fire, so it is refused, with
//! the nearest known name suggested (`itme` → `item`).

use super::trigger::{Trigger, ANY_EVENT};
use super::validation::Violations;

/// Entity types and their event types, as DESIGN.md names them.
pub const BUILT_IN: &[(&str, &[&str])] = &[
    (
        "item",
        &["create", "update", "delete", "publish", "unpublish"],
    ),
    ("item_type", &["create", "update", "delete"]),
    ("upload", &["create", "update", "delete"]),
    // A field's change also fires its model's triggers (see `trigger.rs`).
    ("field", &["create", "update", "delete"]),
    // `trigger`: whenever a build gets triggered.
    ("build_trigger", &["create", "update", "delete", "trigger"]),
    // `deploy`: whenever an environment gets deployed.
    (
        "environment",
        &["create", "update", "delete", "promote", "deploy"],
    ),
    (
        "deploy",
        &[
            "deploy_started",
            "deploy_succeeded",
            "deploy_failed",
            "deploy_cancelled",
            "deploy_locked",
            "deploy_unlocked",
        ],
    ),
    ("form_submission", &["submission_created"]),
    (super::operator::ENTITY_TYPE, super::operator::EVENT_TYPES),
];

/// The types one site knows: built in, then its own.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    registered: Vec<(String, String)>,
}

/// The closest of `candidates` to `word`, if close enough to be a typo.
fn nearest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let allowed = (word.chars().count() / 3).max(2);
    candidates
        .map(|c| (strsim::damerau_levenshtein(word, c), c))
        .filter(|(distance, _)| *distance <= allowed)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

fn suggestion(near: Option<&str>) -> String {
    match near {
        Some(name) => format!("; did you mean `{name}`?"),
        None => String::new(),
    }
}

impl Catalog {
    /// The built-in types and `registered` (entity type, event type) pairs.
    pub fn new(registered: Vec<(String, String)>) -> Self {
        Catalog { registered }
    }

    fn entity_types(&self) -> impl Iterator<Item = &str> {
        BUILT_IN
            .iter()
            .map(|(entity, _)| *entity)
            .chain(self.registered.iter().map(|(entity, _)| entity.as_str()))
    }

    fn event_types<'a>(&'a self, entity: &'a str) -> impl Iterator<Item = &'a str> {
        BUILT_IN
            .iter()
            .filter(move |(e, _)| *e == entity)
            .flat_map(|(_, events)| events.iter().copied())
            .chain(
                self.registered
                    .iter()
                    .filter(move |(e, _)| e == entity)
                    .map(|(_, event)| event.as_str()),
            )
    }

    pub fn knows(&self, entity_type: &str, event_type: &str) -> bool {
        self.event_types(entity_type).any(|e| e == event_type)
    }

    /// Adds an error for every type the triggers name that this catalog lacks.
    pub fn check_triggers(&self, triggers: &[Trigger], v: &mut Violations) {
        for (i, trigger) in triggers.iter().enumerate() {
            let entity = trigger.entity_type.as_str();
            if !self.entity_types().any(|e| e == entity) {
                v.add(
                    format!("triggers[{i}].entity_type"),
                    format!(
                        "`{entity}` is not a known entity type (register it under \
                         /sites/{{id}}/event_types){}",
                        suggestion(nearest(entity, self.entity_types()))
                    ),
                );
                continue;
            }
            for (j, event) in trigger.event_types.iter().enumerate() {
                if event != ANY_EVENT && !self.knows(entity, event) {
                    v.add(
                        format!("triggers[{i}].event_types[{j}]"),
                        format!(
                            "`{event}` is not an event type of `{entity}`{}",
                            suggestion(nearest(event, self.event_types(entity)))
                        ),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trigger(entity: &str, events: &[&str]) -> Trigger {
        Trigger {
            entity_type: entity.into(),
            event_types: events.iter().map(|e| e.to_string()).collect(),
            entity_ids: vec![],
            model_ids: vec![],
        }
    }

    fn problems(catalog: &Catalog, triggers: &[Trigger]) -> Vec<(String, String)> {
        let mut v = Violations::default();
        catalog.check_triggers(triggers, &mut v);
        v.0.into_iter().map(|e| (e.field, e.message)).collect()
    }

    #[test]
    fn typos_are_refused_with_the_nearest_name() {
        let found = problems(
            &Catalog::default(),
            &[
                trigger("itme", &["publish"]),
                trigger("item", &["publsh", "*", "update"]),
            ],
        );
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].0, "triggers[0].entity_type");
        assert!(
            found[0].1.ends_with("did you mean `item`?"),
            "{}",
            found[0].1
        );
        assert_eq!(found[1].0, "triggers[1].event_types[0]");
        assert!(
            found[1].1.ends_with("did you mean `publish`?"),
            "{}",
            found[1].1
        );
    }

    #[test]
    fn registered_types_are_known_and_far_names_get_no_guess() {
        let catalog = Catalog::new(vec![("order".into(), "paid".into())]);
        assert!(problems(&catalog, &[trigger("order", &["paid"])]).is_empty());
        assert!(catalog.knows("deploy", "deploy_failed"));
        assert!(!catalog.knows("order", "shipped"));
        let far = problems(&catalog, &[trigger("zzzzzzzz", &["*"])]);
        assert!(!far[0].1.contains("did you mean"), "{}", far[0].1);
    }
}
