//! Where each field of a script file is: a map from field path
//! (`pool.keepalive.interval`, `faults[1].at`, `client.targets[0]`) to the
//! byte ranges of its key and value.
//!
//! Checks that run after deserializing (zero durations, unknown hosts, pool
//! limits) know the field they reject, not its position; this index turns
//! the field back into a line and column.

use std::{collections::BTreeMap, ops::Range};

use toml::de::{DeTable, DeValue};

/// The key and value ranges of one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldSpan {
    /// `None` for array elements, which have no key.
    pub(crate) key: Option<Range<usize>>,
    pub(crate) value: Range<usize>,
}

/// Field path → position, in path order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Spans {
    fields: BTreeMap<String, FieldSpan>,
    /// False when the source is not TOML at all (a syntax error).
    pub(crate) parsed: bool,
}

impl Spans {
    /// Indexes `source`. A source that does not parse gives an empty index
    /// (the deserializer reports its syntax error with a position already).
    pub(crate) fn index(source: &str) -> Self {
        let mut spans = Self::default();
        if let Ok(root) = DeTable::parse(source) {
            spans.parsed = true;
            spans.table("", root.get_ref());
        }
        spans
    }

    fn table(&mut self, prefix: &str, table: &DeTable<'_>) {
        for (key, value) in table {
            let path = if prefix.is_empty() {
                key.get_ref().to_string()
            } else {
                format!("{prefix}.{}", key.get_ref())
            };
            self.value(&path, Some(key.span()), value);
        }
    }

    fn value(&mut self, path: &str, key: Option<Range<usize>>, value: &toml::Spanned<DeValue<'_>>) {
        self.fields.insert(
            path.to_owned(),
            FieldSpan {
                key,
                value: value.span(),
            },
        );
        match value.get_ref() {
            DeValue::Table(table) => self.table(path, table),
            DeValue::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    self.value(&format!("{path}[{index}]"), None, item);
                }
            }
            _ => {}
        }
    }

    /// The value's range of `path`, or of the nearest enclosing field the
    /// file has (a missing `pool.backoff.max` points at `[pool.backoff]`).
    pub(crate) fn value_or_parent(&self, path: &str) -> Option<Range<usize>> {
        let mut path = path;
        loop {
            if let Some(span) = self.fields.get(path) {
                return Some(span.value.clone());
            }
            path = &path[..path.rfind(['.', '['])?];
        }
    }

    /// The deepest field whose key or value contains `span`.
    pub(crate) fn path_at(&self, span: &Range<usize>) -> Option<String> {
        let inside = |r: &Range<usize>| r.start <= span.start && span.end <= r.end.max(r.start + 1);
        self.fields
            .iter()
            .filter(|(_, s)| inside(&s.value) || s.key.as_ref().is_some_and(inside))
            .max_by_key(|(path, _)| path.matches(['.', '[']).count())
            .map(|(path, _)| path.clone())
    }

    /// The key's range of `path`, if the file has that field.
    pub(crate) fn key(&self, path: &str) -> Option<Range<usize>> {
        self.fields.get(path).and_then(|s| s.key.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_reach_nested_tables_and_array_elements() {
        let source = "seed = 1\n[pool.keepalive]\ninterval = \"2s\"\n[[faults]]\nat = \"5s\"\n[client]\ntargets = [\"a\", \"b\"]\n";
        let spans = Spans::index(source);
        let at = |path: &str| &source[spans.value_or_parent(path).unwrap()];
        assert_eq!(at("seed"), "1");
        assert_eq!(at("pool.keepalive.interval"), "\"2s\"");
        assert_eq!(at("faults[0].at"), "\"5s\"");
        assert_eq!(at("client.targets[1]"), "\"b\"");
        // Missing fields fall back to their table.
        assert_eq!(at("pool.keepalive.timeout"), at("pool.keepalive"));
        assert_eq!(&source[spans.key("faults[0].at").unwrap()], "at");
        assert!(spans.value_or_parent("nowhere").is_none());
    }
}
