//! What the client prints: aligned tables for people, the API's JSON for scripts.

use serde_json::Value;

/// A field of a JSON object as one line of text (nested values as compact JSON).
pub fn cell(item: &Value, field: &str) -> String {
    let value = field
        .split('.')
        .try_fold(item, |v, part| v.get(part))
        .unwrap_or(&Value::Null);
    match value {
        Value::Null => "-".into(),
        Value::String(s) => s.replace('\n', " "),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    }
}

/// Rows under a header, each column as wide as its widest cell.
pub fn table(items: &[Value], columns: &[(&str, &str)]) -> String {
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|item| columns.iter().map(|(_, field)| cell(item, field)).collect())
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, (title, _))| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([title.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut out = vec![line(columns.iter().map(|(t, _)| t.to_string()).collect())];
    out.extend(rows.into_iter().map(line));
    out.join("\n")
}

/// Label and value lines for one object.
pub fn details(item: &Value, fields: &[(&str, &str)]) -> String {
    let width = fields
        .iter()
        .map(|(label, _)| label.len())
        .max()
        .unwrap_or(0);
    fields
        .iter()
        .map(|(label, field)| format!("{label:<width$}  {}", cell(item, field)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Where a command's answer goes: a person's terminal or a script's pipe.
pub struct Out {
    pub json: bool,
}

impl Out {
    pub fn show(&self, value: &Value, human: impl FnOnce(&Value) -> String) {
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(value).unwrap_or_default()
            );
        } else {
            let text = human(value);
            if !text.is_empty() {
                println!("{text}");
            }
        }
    }

    pub fn list(&self, page: &Value, columns: &[(&str, &str)]) {
        self.show(page, |p| {
            let items = p["data"].as_array().cloned().unwrap_or_default();
            if items.is_empty() {
                "(none)".to_owned()
            } else {
                table(&items, columns)
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_align_and_show_missing_values_as_dashes() {
        let items = [
            json!({"id": "a", "n": 10, "t": {"x": "deep"}}),
            json!({"id": "bbb"}),
        ];
        let text = table(&items, &[("ID", "id"), ("N", "n"), ("X", "t.x")]);
        assert_eq!(text, "ID   N   X\na    10  deep\nbbb  -   -");
        assert_eq!(
            details(&items[0], &[("Id", "id"), ("Number", "n")]),
            "Id      a\nNumber  10"
        );
    }
}
