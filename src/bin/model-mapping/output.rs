//! Human-readable tables and fields, JSON, and writing to stdout/stderr.

use std::io::Write;

use serde::Serialize;
use serde_json::Value;

use model_mapping::Mapping;

use crate::error::CliError;

/// What a command produced: a JSON value for `--json`, a text for people, and an exit code.
pub struct Outcome {
    pub json: Value,
    pub human: String,
    pub exit: u8,
}

impl Outcome {
    pub fn ok(json: Value, human: String) -> Outcome {
        Outcome {
            json,
            human,
            exit: crate::error::exit::OK,
        }
    }

    pub fn with_exit(mut self, exit: u8) -> Outcome {
        self.exit = exit;
        self
    }
}

/// Any serialisable value as JSON (`Null` if it cannot be, which our types never do).
pub fn to_json(value: &impl Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// Writes to stdout; a closed pipe (`| head`) ends the process quietly instead of panicking.
pub fn print_stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    let result = out.write_all(text.as_bytes()).and_then(|()| {
        if text.ends_with('\n') || text.is_empty() {
            Ok(())
        } else {
            out.write_all(b"\n")
        }
    });
    if let Err(e) = result.and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
    }
}

/// Prints a result the way the user asked.
pub fn print_outcome(outcome: &Outcome, json: bool) {
    if json {
        print_stdout(&pretty(&outcome.json));
    } else {
        print_stdout(&outcome.human);
    }
}

/// Pretty JSON text.
pub fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".into())
}

/// Prints an error on stderr: `model-mapping: <code>: <detail>`, or one JSON line.
pub fn print_error(err: &CliError, json: bool) {
    let text = if json {
        serde_json::json!({"error": err.code, "message": err.detail}).to_string()
    } else {
        format!("model-mapping: {err}")
    };
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// A note for people on stderr (never in the way of JSON on stdout).
pub fn note(text: &str) {
    let _ = writeln!(std::io::stderr(), "model-mapping: {text}");
}

/// A left-aligned text table with a header row.
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&'static str]) -> Table {
        Table {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Renders the table, each line indented by `indent` spaces.
    pub fn render(&self, indent: usize) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let header: Vec<String> = self.headers.iter().map(|h| h.to_string()).collect();
        for cells in std::iter::once(&header).chain(&self.rows) {
            let mut line = " ".repeat(indent);
            for (i, cell) in cells.iter().enumerate() {
                if i + 1 == cells.len() {
                    line.push_str(cell);
                } else {
                    let pad = widths[i] - cell.chars().count();
                    line.push_str(cell);
                    line.push_str(&" ".repeat(pad + 2));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// `name  value` lines with the values aligned.
pub fn fields(pairs: &[(&str, String)]) -> String {
    let width = pairs
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (k, v) in pairs {
        out.push_str(&format!("{k:<width$}  {v}\n"));
    }
    out
}

/// `-` for nothing.
pub fn opt(v: Option<&str>) -> String {
    v.map_or_else(|| "-".to_owned(), str::to_owned)
}

pub fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_owned()
}

/// A candidate list short enough for a table cell.
pub fn short_list(items: &[String], max_chars: usize) -> String {
    if items.is_empty() {
        return "-".into();
    }
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        if i > 0 && out.chars().count() + sep.len() + item.chars().count() > max_chars {
            out.push_str(&format!(", … (+{})", items.len() - i));
            return out;
        }
        out.push_str(sep);
        out.push_str(item);
    }
    out
}

/// Every field of one mapping.
pub fn mapping_fields(m: &Mapping) -> String {
    let metadata = serde_json::to_string(&m.metadata).unwrap_or_default();
    fields(&[
        ("id", m.id.clone()),
        ("name", opt(m.name.as_deref())),
        ("default_model", opt(m.default_model.as_deref())),
        (
            "candidates",
            if m.candidates.is_empty() {
                "-".into()
            } else {
                m.candidates.join(", ")
            },
        ),
        ("is_active", yes_no(m.is_active)),
        ("updated_at", opt(m.updated_at.as_deref())),
        ("metadata", metadata),
    ])
}

/// A table of mappings, one per line.
pub fn mapping_table<'a>(mappings: impl IntoIterator<Item = &'a Mapping>) -> String {
    let mut t = Table::new(&[
        "ID",
        "NAME",
        "DEFAULT",
        "CANDIDATES",
        "ACTIVE",
        "UPDATED AT",
    ]);
    for m in mappings {
        t.row(vec![
            m.id.clone(),
            opt(m.name.as_deref()),
            opt(m.default_model.as_deref()),
            short_list(&m.candidates, 40),
            yes_no(m.is_active),
            opt(m.updated_at.as_deref()),
        ]);
    }
    t.render(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns_and_trim_line_ends() {
        let mut t = Table::new(&["ID", "MODEL"]);
        t.row(vec!["mapping:xai".into(), "grok-4".into()]);
        t.row(vec!["g".into(), "".into()]);
        assert_eq!(
            t.render(2),
            "  ID           MODEL\n  mapping:xai  grok-4\n  g\n"
        );
    }

    #[test]
    fn long_candidate_lists_are_shortened() {
        let items: Vec<String> = (0..10).map(|i| format!("model-{i}")).collect();
        assert_eq!(short_list(&items[..2], 40), "model-0, model-1");
        let s = short_list(&items, 20);
        assert!(s.starts_with("model-0, model-1"), "{s}");
        assert!(s.ends_with("(+8)"), "{s}");
        assert_eq!(short_list(&[], 20), "-");
    }
}
