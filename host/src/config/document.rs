//! The parsed TOML document and the problems found in it.
//!
//! Tables are deserialized one at a time from the span-carrying tree
//! (`toml::de::DeTable`), so one bad table does not hide the problems of the
//! others. Within a table, a value that fails to deserialize is reported,
//! removed, and the table deserialized again, so an unknown key does not hide
//! the mistyped key after it either.

use std::fmt;
use std::ops::Range;
use std::path::Path;

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue, ValueDeserializer};

use crate::config::errors::{ConfigError, ConfigErrors, humanize};

/// Attempts to deserialize one table before giving up on it; each attempt
/// removes one bad value, so this bounds the problems reported per table.
const ATTEMPTS_MAX: usize = 100;

/// A dotted key such as `connectors.shopify.allowed_hosts[1]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct KeyPath(Vec<Segment>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

impl KeyPath {
    /// The document itself.
    pub(crate) fn root() -> Self {
        Self::default()
    }

    /// A key of this table.
    pub(crate) fn key(&self, key: &str) -> Self {
        let mut path = self.clone();
        path.0.push(Segment::Key(key.to_owned()));
        path
    }

    /// An element of this array.
    pub(crate) fn index(&self, index: usize) -> Self {
        let mut path = self.clone();
        path.0.push(Segment::Index(index));
        path
    }

    fn starts_with(&self, prefix: &KeyPath) -> bool {
        self.0.starts_with(&prefix.0)
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    let bare = !key.is_empty()
                        && key
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                    if bare {
                        f.write_str(key)?;
                    } else {
                        write!(f, "{key:?}")?;
                    }
                }
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// A parsed configuration file and the problems found in it so far.
pub(crate) struct Document<'a> {
    file: &'a Path,
    text: &'a str,
    root: Spanned<DeTable<'a>>,
    errors: Vec<ConfigError>,
    /// Values that failed to deserialize, were reported and removed: a later
    /// check must not report them again as missing.
    removed: Vec<KeyPath>,
}

impl<'a> Document<'a> {
    /// The file's text at `span`.
    pub(crate) fn raw(&self, span: Range<usize>) -> Option<&'a str> {
        self.text.get(span)
    }

    /// Parses `text`, or returns its syntax errors.
    pub(crate) fn parse(file: &'a Path, text: &'a str) -> Result<Self, ConfigErrors> {
        let (root, syntax) = DeTable::parse_recoverable(text);
        let mut document = Self {
            file,
            text,
            root,
            errors: Vec::new(),
            removed: Vec::new(),
        };
        if syntax.is_empty() {
            return Ok(document);
        }
        // After the first error on a line, the parser's recovery tends to
        // report the rest of that line again in other words.
        let mut lines_seen = Vec::new();
        let mut syntax: Vec<_> = syntax
            .into_iter()
            .map(|e| (e.span().unwrap_or(0..0), e.message().to_owned()))
            .collect();
        syntax.sort_by_key(|(span, _)| span.start);
        for (span, message) in syntax {
            let (line, _) = document.position(span.start);
            if lines_seen.contains(&line) {
                continue;
            }
            lines_seen.push(line);
            let key = syntax_key(text, span.start);
            let message = match message.as_str() {
                "duplicate key" => {
                    "duplicate key: each key and table may be defined only once".to_owned()
                }
                _ => format!("TOML syntax error: {message}"),
            };
            document.push(span, key, message);
        }
        Err(document.finish().err().unwrap_or(ConfigErrors(Vec::new())))
    }

    /// Reports a problem at `span`.
    pub(crate) fn error(&mut self, span: Range<usize>, key: &KeyPath, message: impl Into<String>) {
        self.push(span, key.to_string(), message.into());
    }

    /// Reports a problem at `span`, about the key found there.
    pub(crate) fn error_at_span(&mut self, span: Range<usize>, message: impl Into<String>) {
        let (key, _) = self.deepest_at(&span);
        self.error(span, &key, message);
    }

    /// Reports a problem about `key`, at the key's position in the file (or
    /// the start of the file if it is not there).
    pub(crate) fn error_at_key(&mut self, key: &KeyPath, message: impl Into<String>) {
        let span = self.span_of(key).unwrap_or(0..0);
        self.error(span, key, message);
    }

    fn push(&mut self, span: Range<usize>, key: String, message: String) {
        let (line, column) = self.position(span.start);
        self.errors.push(ConfigError {
            file: self.file.to_path_buf(),
            line,
            column,
            key,
            message,
        });
    }

    /// Whether `key` failed to deserialize and was reported already.
    pub(crate) fn was_reported(&self, key: &KeyPath) -> bool {
        self.removed.contains(key)
    }

    /// Whether anything at or under `key` failed to deserialize.
    pub(crate) fn was_reported_under(&self, key: &KeyPath) -> bool {
        self.removed.iter().any(|removed| removed.starts_with(key))
    }

    /// The problems found, in file order, or `Ok` if there are none.
    pub(crate) fn finish(mut self) -> Result<(), ConfigErrors> {
        if self.errors.is_empty() {
            return Ok(());
        }
        self.errors.sort_by_key(|e| (e.line, e.column));
        Err(ConfigErrors(self.errors))
    }

    /// The keys of the table at `key` with their spans, or `None` if there is
    /// no table there.
    pub(crate) fn table_keys(&self, key: &KeyPath) -> Option<Vec<(String, Range<usize>)>> {
        let table = match self.lookup(key)? {
            Lookup::Root(table) => table,
            Lookup::Value(value) => value.get_ref().as_table()?,
        };
        Some(
            table
                .iter()
                .map(|(k, _)| (k.get_ref().to_string(), k.span()))
                .collect(),
        )
    }

    /// Whether there is a table at `key`; a value of another type there is
    /// reported.
    pub(crate) fn table(&mut self, key: &KeyPath) -> Presence {
        let (span, found) = match self.lookup(key) {
            None => return Presence::Missing,
            Some(Lookup::Root(_)) => return Presence::Table,
            Some(Lookup::Value(value)) => match value.get_ref() {
                DeValue::Table(_) => return Presence::Table,
                other => (value.span(), a_type(other)),
            },
        };
        self.error(span, key, format!("expected a table, found {found}"));
        self.removed.push(key.clone());
        Presence::NotATable
    }

    /// The span of the value at `key` (for a `[table]`, its header).
    pub(crate) fn span_of(&self, key: &KeyPath) -> Option<Range<usize>> {
        match self.lookup(key)? {
            Lookup::Root(_) => Some(self.root.span()),
            Lookup::Value(value) => Some(value.span()),
        }
    }

    /// The string at `key`: `None` if absent, and reported if not a string.
    pub(crate) fn string(&mut self, key: &KeyPath) -> Option<Spanned<String>> {
        let Lookup::Value(value) = self.lookup(key)? else {
            return None;
        };
        let span = value.span();
        match value.get_ref().as_str() {
            Some(text) => Some(Spanned::new(span, text.to_owned())),
            None => {
                let found = a_type(value.get_ref());
                self.error(span, key, format!("expected a string, found {found}"));
                self.removed.push(key.clone());
                None
            }
        }
    }

    /// Deserializes the value at `key`. Every value in it that fails is
    /// reported and removed, and the rest tried again. `None` if there is no
    /// value at `key` or it cannot be deserialized at all (which has been
    /// reported).
    pub(crate) fn section<T: DeserializeOwned>(&mut self, key: &KeyPath) -> Option<T> {
        let mut working = match self.lookup(key)? {
            Lookup::Root(table) => Spanned::new(self.root.span(), DeValue::Table(table.clone())),
            Lookup::Value(value) => value.clone(),
        };
        for _ in 0..ATTEMPTS_MAX {
            let error = match T::deserialize(ValueDeserializer::from(working.clone())) {
                Ok(value) => return Some(value),
                Err(error) => error,
            };
            let span = error.span().unwrap_or_else(|| working.span());
            let (at, trail) = self.deepest_at(&span);
            let at = if at.starts_with(key) { at } else { key.clone() };
            self.error(span, &at, humanize(error.message()));
            if at.0.len() <= key.0.len() || !remove(working.get_mut(), &trail[key.0.len()..]) {
                return None;
            }
            self.removed.push(at);
        }
        None
    }

    /// The index in the file of the element of the array at `array` whose
    /// value is at `span`. Deserialized elements are found by their span:
    /// their positions shift when an element before them was removed.
    pub(crate) fn element_index(&self, array: &KeyPath, span: &Range<usize>) -> Option<usize> {
        let Lookup::Value(value) = self.lookup(array)? else {
            return None;
        };
        value
            .get_ref()
            .as_array()?
            .iter()
            .position(|element| element.span() == *span)
    }

    /// 1-based line and column (in characters) of a byte offset.
    fn position(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &self.text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line = before.matches('\n').count() + 1;
        let column = before[line_start..].chars().count() + 1;
        (line, column)
    }

    fn lookup(&self, key: &KeyPath) -> Option<Lookup<'_, 'a>> {
        let mut segments = key.0.iter();
        let Some(first) = segments.next() else {
            return Some(Lookup::Root(self.root.get_ref()));
        };
        let Segment::Key(first) = first else {
            return None;
        };
        let mut value = self.root.get_ref().get(first.as_str())?;
        for segment in segments {
            value = match (value.get_ref(), segment) {
                (DeValue::Table(table), Segment::Key(k)) => table.get(k.as_str())?,
                (DeValue::Array(array), Segment::Index(i)) => array.get(*i)?,
                _ => return None,
            };
        }
        Some(Lookup::Value(value))
    }

    /// The deepest key whose name or value contains `span`, and for each of
    /// its segments how to find it again in a copy of the tree.
    fn deepest_at(&self, span: &Range<usize>) -> (KeyPath, Vec<Step>) {
        let mut best = (Vec::new(), Vec::new());
        let mut path = (Vec::new(), Vec::new());
        deepest_in_table(self.root.get_ref(), span, &mut path, &mut best);
        (KeyPath(best.0), best.1)
    }
}

/// What [`Document::table`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Presence {
    /// Nothing.
    Missing,
    /// A value of another type, which has been reported.
    NotATable,
    /// A table.
    Table,
}

/// "an integer", "a list": a TOML value's type for a message.
fn a_type(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(..) => "a string",
        DeValue::Integer(..) => "an integer",
        DeValue::Float(..) => "a float",
        DeValue::Boolean(..) => "a boolean",
        DeValue::Datetime(..) => "a date-time",
        DeValue::Array(..) => "a list",
        DeValue::Table(..) => "a table",
    }
}

enum Lookup<'d, 'a> {
    Root(&'d DeTable<'a>),
    Value(&'d Spanned<DeValue<'a>>),
}

/// How to find one segment of a path again in a copy of the tree that may
/// have lost elements: a table entry by its key, an array element by its
/// span (indices shift as elements are removed; spans do not).
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Element(Range<usize>),
}

type Trail = (Vec<Segment>, Vec<Step>);

fn covers(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end
}

fn deepest_in_table(table: &DeTable<'_>, span: &Range<usize>, path: &mut Trail, best: &mut Trail) {
    for (key, value) in table {
        path.0.push(Segment::Key(key.get_ref().to_string()));
        path.1.push(Step::Key(key.get_ref().to_string()));
        if (covers(&key.span(), span) || covers(&value.span(), span)) && path.0.len() > best.0.len()
        {
            *best = path.clone();
        }
        deepest_in_value(value.get_ref(), span, path, best);
        path.0.pop();
        path.1.pop();
    }
}

fn deepest_in_value(value: &DeValue<'_>, span: &Range<usize>, path: &mut Trail, best: &mut Trail) {
    match value {
        DeValue::Table(table) => deepest_in_table(table, span, path, best),
        DeValue::Array(array) => {
            for (index, element) in array.iter().enumerate() {
                path.0.push(Segment::Index(index));
                path.1.push(Step::Element(element.span()));
                if covers(&element.span(), span) && path.0.len() > best.0.len() {
                    *best = path.clone();
                }
                deepest_in_value(element.get_ref(), span, path, best);
                path.0.pop();
                path.1.pop();
            }
        }
        _ => {}
    }
}

/// Removes the value `steps` lead to; false if it is not there.
fn remove(value: &mut DeValue<'_>, steps: &[Step]) -> bool {
    let Some((step, rest)) = steps.split_first() else {
        return false;
    };
    match (value, step) {
        (DeValue::Table(table), Step::Key(key)) => {
            if rest.is_empty() {
                table.remove(key.as_str()).is_some()
            } else {
                table
                    .get_mut(key.as_str())
                    .is_some_and(|child| remove(child.get_mut(), rest))
            }
        }
        (DeValue::Array(array), Step::Element(span)) => {
            let Some(position) = array.iter().position(|e| e.span() == *span) else {
                return false;
            };
            if rest.is_empty() {
                let kept: DeArray<'_> = std::mem::replace(array, DeArray::new())
                    .into_iter()
                    .enumerate()
                    .filter(|(i, _)| *i != position)
                    .map(|(_, element)| element)
                    .collect();
                *array = kept;
                true
            } else {
                let mut elements: Vec<_> = std::mem::replace(array, DeArray::new())
                    .into_iter()
                    .collect();
                let removed = elements
                    .get_mut(position)
                    .is_some_and(|child| remove(child.get_mut(), rest));
                *array = elements.into_iter().collect();
                removed
            }
        }
        _ => false,
    }
}

/// A best guess at the key a syntax error is in, from the text around it:
/// the parse tree is unreliable there.
fn syntax_key(text: &str, offset: usize) -> String {
    let before = text.get(..offset).unwrap_or(text);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("");
    if let Some(header) = header_name(line) {
        return header;
    }
    let table = text[..line_start]
        .lines()
        .rev()
        .find_map(header_name)
        .unwrap_or_default();
    let key = line
        .split_once('=')
        .map(|(key, _)| key.trim())
        .filter(|key| !key.is_empty() && !key.starts_with('#'));
    match key {
        Some(key) if table.is_empty() => key.to_owned(),
        Some(key) => format!("{table}.{key}"),
        None if table.is_empty() => "toml".to_owned(),
        None => table,
    }
}

/// `connectors.shopify` for a line `[connectors.shopify]` (or `[[...]]`).
fn header_name(line: &str) -> Option<String> {
    let inner = line.trim().strip_prefix('[')?;
    let inner = inner.strip_prefix('[').unwrap_or(inner);
    let name = inner.split(']').next().unwrap_or(inner).trim();
    Some(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Document<'_> {
        Document::parse(Path::new("t.toml"), text).unwrap()
    }

    #[test]
    fn key_paths_quote_what_is_not_a_bare_key() {
        let path = KeyPath::root()
            .key("connectors")
            .key("my shop")
            .key("allowed_hosts")
            .index(1);
        assert_eq!(path.to_string(), "connectors.\"my shop\".allowed_hosts[1]");
    }

    #[test]
    fn positions_are_one_based_and_count_characters() {
        let document = parse("a = \"é\"\nb = 1\n");
        assert_eq!(document.position(0), (1, 1));
        assert_eq!(document.position(9), (2, 1));
        assert_eq!(document.position(7), (1, 7));
        assert_eq!(document.position(6), (1, 6), "inside a character");
    }

    #[test]
    fn every_bad_value_of_a_table_is_reported() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Table {
            #[serde(default)]
            hosts: Vec<String>,
            #[serde(default)]
            count: u32,
        }
        let text = "[t]\nhosts = [\"a\", 5, \"b\", 6]\ncolour = \"red\"\ncount = \"x\"\n";
        let mut document = parse(text);
        let table: Table = document.section(&KeyPath::root().key("t")).unwrap();
        assert_eq!(
            (table.hosts, table.count),
            (vec!["a".to_owned(), "b".to_owned()], 0)
        );
        let keys: Vec<_> = document.errors.iter().map(|e| e.key.clone()).collect();
        assert_eq!(keys.len(), 4, "{:?}", document.errors);
        for expected in ["t.hosts[1]", "t.hosts[3]", "t.colour", "t.count"] {
            assert!(
                keys.iter().any(|k| k == expected),
                "{expected} not in {keys:?}"
            );
        }
        assert!(document.was_reported(&KeyPath::root().key("t").key("count")));
    }

    #[test]
    fn syntax_errors_are_located_and_named() {
        let errors = Document::parse(Path::new("t.toml"), "[server]\nlisten = \"x\nport = 1\n")
            .err()
            .unwrap();
        let first = &errors.0[0];
        assert_eq!((first.line, first.key.as_str()), (2, "server.listen"));
        assert!(
            first.message.starts_with("TOML syntax error"),
            "{}",
            first.message
        );
    }
}
