//! Form bodies (`application/x-www-form-urlencoded`) as ordered pairs, since a field may
//! repeat, with helpers that read them the way the pages write them.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};

use super::error::PageError;

pub struct FormData(Vec<(String, String)>);

impl FormData {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The trimmed value; empty when absent.
    pub fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or_default().trim().to_owned()
    }

    /// The trimmed value, `None` when absent or blank.
    pub fn optional(&self, name: &str) -> Option<String> {
        Some(self.text(name)).filter(|v| !v.is_empty())
    }

    /// A checkbox is sent only when ticked.
    pub fn checked(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

impl FormData {
    pub fn parse(body: &[u8]) -> Result<Self, PageError> {
        serde_urlencoded::from_bytes(body)
            .map(FormData)
            .map_err(|e| PageError::BadRequest(format!("could not read the form: {e}")))
    }
}

impl<S: Send + Sync> FromRequest<S> for FormData {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &S) -> Result<Self, PageError> {
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|e| PageError::BadRequest(format!("could not read the form: {e}")))?;
        FormData::parse(&body)
    }
}

/// Splits a comma- or newline-separated list, dropping blanks.
pub fn list(text: &str) -> Vec<String> {
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_split_on_commas_and_lines() {
        assert_eq!(
            list(" publish, unpublish\n*,, "),
            ["publish", "unpublish", "*"]
        );
        assert!(list("  ").is_empty());
    }

    #[test]
    fn fields_read_trimmed_and_checkboxes_by_presence() {
        let form = FormData(vec![
            ("name".into(), "  Blog ".into()),
            ("enabled".into(), "on".into()),
            ("blank".into(), " ".into()),
        ]);
        assert_eq!(form.text("name"), "Blog");
        assert_eq!(form.optional("blank"), None);
        assert_eq!(form.text("missing"), "");
        assert!(form.checked("enabled"));
        assert!(!form.checked("disabled"));
    }
}
