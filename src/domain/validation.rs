//! Field-level validation errors, collected so a client sees every problem at once.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// JSON path of the offending field, e.g. `triggers[0].event_types`.
    pub field: String,
    pub message: String,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Violations(pub Vec<FieldError>);

impl Violations {
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    /// Checks a required, bounded, human-entered string.
    pub fn text(&mut self, field: &str, value: &str, max_chars: usize) {
        if value.trim().is_empty() {
            self.add(field, "must not be empty");
        } else if value.chars().count() > max_chars {
            self.add(field, format!("must be at most {max_chars} characters"));
        }
    }

    pub fn into_result(self) -> Result<(), Violations> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_rule_refuses_blank_and_long_values() {
        let mut v = Violations::default();
        v.text("name", "  ", 5);
        v.text("title", "abcdef", 5);
        v.text("ok", "abc", 5);
        let fields: Vec<_> = v.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "title"]);
        assert!(v.into_result().is_err());
        assert!(Violations::default().into_result().is_ok());
    }
}
