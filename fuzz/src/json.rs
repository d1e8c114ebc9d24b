//! Structured JSON for webhook bodies. The connectors parse their bodies
//! inside the sandbox, where libFuzzer sees no coverage, so random bytes
//! would rarely get past the JSON parser: bodies are built instead from a
//! tree whose keys and strings come mostly from the vendor's vocabulary, or
//! from a real vendor payload with a few edits.

use std::fmt::Write as _;

use arbitrary::{Arbitrary, Result, Unstructured};

/// Words a vendor's payloads use, and real payloads to edit.
#[derive(Debug, Clone, Default)]
pub struct Vocabulary {
    /// Object keys.
    pub keys: Vec<String>,
    /// String values.
    pub strings: Vec<String>,
    /// Real payloads, as the vendor sends them.
    pub templates: Vec<Json>,
}

impl Vocabulary {
    /// The payloads `templates` (JSON texts), and every key and string in
    /// them, with `extra` strings besides.
    pub fn from_templates(templates: &[&str], extra: &[&str]) -> Self {
        let mut words = Self::default();
        for text in templates {
            match serde_json::from_str(text) {
                Ok(value) => {
                    let tree = Json::from_value(&value);
                    tree.collect(&mut words);
                    words.templates.push(tree);
                }
                Err(e) => panic!("a template is not JSON: {e}"),
            }
        }
        words.strings.extend(extra.iter().map(|s| (*s).to_owned()));
        words.keys.sort();
        words.keys.dedup();
        words.strings.sort();
        words.strings.dedup();
        words
    }
}

/// A JSON value. Numbers keep their text, which need not be valid JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true`, `false`.
    Bool(bool),
    /// A number's text.
    Number(String),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Json>),
    /// An object; keys may repeat.
    Object(Vec<(String, Json)>),
}

/// Nesting beyond which generated values are leaves, so generation stays
/// cheap; the connectors' parsers refuse deeper documents anyway.
const DEPTH_MAX: usize = 8;

impl Json {
    /// A value built from `u`, its keys and strings mostly from `words`.
    pub fn generate(u: &mut Unstructured<'_>, words: &Vocabulary, depth: usize) -> Result<Self> {
        let leaf = depth >= DEPTH_MAX;
        Ok(match u.int_in_range(0..=if leaf { 3 } else { 5 })? {
            0 => Self::String(word(u, &words.strings)?),
            1 => Self::Number(number(u)?),
            2 => Self::Bool(bool::arbitrary(u)?),
            3 => Self::Null,
            4 => {
                let mut items = Vec::new();
                while items.len() < 16 && u.arbitrary()? {
                    items.push(Self::generate(u, words, depth + 1)?);
                }
                Self::Array(items)
            }
            _ => {
                let mut fields = Vec::new();
                while fields.len() < 16 && u.arbitrary()? {
                    let key = word(u, &words.keys)?;
                    fields.push((key, Self::generate(u, words, depth + 1)?));
                }
                Self::Object(fields)
            }
        })
    }

    /// Converts a parsed document (numbers keep their text).
    pub fn from_value(value: &serde_json::Value) -> Self {
        match value {
            serde_json::Value::Null => Self::Null,
            serde_json::Value::Bool(b) => Self::Bool(*b),
            serde_json::Value::Number(n) => Self::Number(n.to_string()),
            serde_json::Value::String(s) => Self::String(s.clone()),
            serde_json::Value::Array(items) => {
                Self::Array(items.iter().map(Self::from_value).collect())
            }
            serde_json::Value::Object(fields) => Self::Object(
                fields
                    .iter()
                    .map(|(k, v)| (k.clone(), Self::from_value(v)))
                    .collect(),
            ),
        }
    }

    /// The JSON text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            Self::Null => out.push_str("null"),
            Self::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Self::Number(text) => out.push_str(text),
            Self::String(s) => string(out, s),
            Self::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Self::Object(fields) => {
                out.push('{');
                for (i, (key, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    string(out, key);
                    out.push(':');
                    value.write(out);
                }
                out.push('}');
            }
        }
    }

    fn collect(&self, words: &mut Vocabulary) {
        match self {
            Self::String(s) => words.strings.push(s.clone()),
            Self::Array(items) => items.iter().for_each(|item| item.collect(words)),
            Self::Object(fields) => {
                for (key, value) in fields {
                    words.keys.push(key.clone());
                    value.collect(words);
                }
            }
            _ => {}
        }
    }

    /// The values of this tree, depth first, this one included.
    fn count(&self) -> usize {
        1 + match self {
            Self::Array(items) => items.iter().map(Self::count).sum(),
            Self::Object(fields) => fields.iter().map(|(_, v)| v.count()).sum(),
            _ => 0,
        }
    }

    /// The `index`th value, depth first.
    fn nth(&mut self, index: usize) -> Option<&mut Self> {
        if index == 0 {
            return Some(self);
        }
        let mut rest = index - 1;
        let children: Vec<&mut Self> = match self {
            Self::Array(items) => items.iter_mut().collect(),
            Self::Object(fields) => fields.iter_mut().map(|(_, v)| v).collect(),
            _ => return None,
        };
        for child in children {
            let size = child.count();
            if rest < size {
                return child.nth(rest);
            }
            rest -= size;
        }
        None
    }
}

fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A word of the vocabulary, or now and then any string.
fn word(u: &mut Unstructured<'_>, words: &[String]) -> Result<String> {
    if words.is_empty() || crate::rarely(u, 8)? {
        return String::arbitrary(u);
    }
    Ok(u.choose(words)?.clone())
}

/// A number's text: mostly amounts and ids as vendors write them, sometimes
/// text no JSON parser accepts.
fn number(u: &mut Unstructured<'_>) -> Result<String> {
    Ok(match u.int_in_range(0..=6)? {
        0 => i64::arbitrary(u)?.to_string(),
        1 => u64::arbitrary(u)?.to_string(),
        2 => {
            let mantissa = i64::arbitrary(u)?;
            let scale = u.int_in_range(0..=30)?;
            rust_decimal::Decimal::try_from_i128_with_scale(i128::from(mantissa), scale)
                .map_or_else(|_| mantissa.to_string(), |d| d.to_string())
        }
        3 => format!("{}e{}", i32::arbitrary(u)?, i16::arbitrary(u)?),
        4 => format!("{}E+{}", u16::arbitrary(u)?, u8::arbitrary(u)?),
        5 => (*u.choose(&[
            "0", "-0", "0.0", "1e400", "-1e-400", "9007199254740993", "18446744073709551616",
            "79228162514264337593543950336", "0.0000000000000000000000000001", "1.285E9",
        ])?)
        .to_owned(),
        _ => String::arbitrary(u)?,
    })
}

/// An edit to a template.
#[derive(Debug)]
enum Edit {
    /// Replace the value with a generated one.
    Replace(Json),
    /// Remove the value from its array or object (a top-level value becomes
    /// `null`).
    Remove,
    /// Add a field (to an object) or an item (to an array).
    Add(String, Json),
    /// Repeat an array's items or an object's fields.
    Repeat,
}

/// A webhook body.
#[derive(Debug)]
pub enum Body {
    /// A real payload of the vendor, edited.
    Template(String),
    /// A generated document.
    Generated(String),
    /// Any bytes.
    Raw(Vec<u8>),
}

impl Body {
    /// A body built from `u`: mostly an edited template.
    pub fn generate(u: &mut Unstructured<'_>, words: &Vocabulary) -> Result<Self> {
        Ok(match u.int_in_range(0..=7)? {
            0..=5 if !words.templates.is_empty() => Self::Template(template(u, words)?),
            6 => Self::Raw(Vec::arbitrary(u)?),
            _ => Self::Generated(Json::generate(u, words, 0)?.render()),
        })
    }

    /// The bytes sent.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Self::Template(text) | Self::Generated(text) => text.as_bytes(),
            Self::Raw(bytes) => bytes,
        }
    }
}

fn template(u: &mut Unstructured<'_>, words: &Vocabulary) -> Result<String> {
    let mut tree = u.choose(&words.templates)?.clone();
    let mut edits = 0;
    while edits < 8 && !u.is_empty() && u.arbitrary()? {
        edits += 1;
        let size = tree.count();
        let at = u.choose_index(size)?;
        let edit = match u.int_in_range(0..=3)? {
            0 => Edit::Replace(Json::generate(u, words, 4)?),
            1 => Edit::Remove,
            2 => Edit::Add(word(u, &words.keys)?, Json::generate(u, words, 4)?),
            _ => Edit::Repeat,
        };
        apply(&mut tree, at, edit);
    }
    Ok(tree.render())
}

fn apply(tree: &mut Json, at: usize, edit: Edit) {
    match edit {
        Edit::Remove => remove(tree, at),
        other => {
            let Some(target) = tree.nth(at) else { return };
            match (other, target) {
                (Edit::Replace(value), target) => *target = value,
                (Edit::Add(key, value), Json::Object(fields)) => fields.push((key, value)),
                (Edit::Add(_, value), Json::Array(items)) => items.push(value),
                (Edit::Repeat, Json::Object(fields)) => fields.extend(fields.clone()),
                (Edit::Repeat, Json::Array(items)) => items.extend(items.clone()),
                _ => {}
            }
        }
    }
}

/// Removes the `at`th value from its parent.
fn remove(tree: &mut Json, at: usize) {
    if at == 0 {
        *tree = Json::Null;
        return;
    }
    // Find the parent by walking: the child's index within it.
    let mut rest = at - 1;
    match tree {
        Json::Array(items) => {
            for i in 0..items.len() {
                let size = items[i].count();
                if rest == 0 {
                    items.remove(i);
                    return;
                }
                if rest < size {
                    return remove(&mut items[i], rest);
                }
                rest -= size;
            }
        }
        Json::Object(fields) => {
            for i in 0..fields.len() {
                let size = fields[i].1.count();
                if rest == 0 {
                    fields.remove(i);
                    return;
                }
                if rest < size {
                    return remove(&mut fields[i].1, rest);
                }
                rest -= size;
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = r#"{"id": 9007199254740993, "lines": [{"price": "1.50"}, 2]}"#;

    fn tree() -> Json {
        Json::from_value(&serde_json::from_str(TEMPLATE).unwrap())
    }

    #[test]
    fn a_template_renders_with_its_numbers_exact() {
        assert_eq!(
            tree().render(),
            r#"{"id":9007199254740993,"lines":[{"price":"1.50"},2]}"#
        );
        assert_eq!(tree().count(), 6);
    }

    #[test]
    fn the_vocabulary_holds_the_templates_keys_and_strings() {
        let words = Vocabulary::from_templates(&[TEMPLATE], &["EUR"]);
        assert_eq!(words.keys, ["id", "lines", "price"]);
        assert_eq!(words.strings, ["1.50", "EUR"]);
        assert_eq!(words.templates, [tree()]);
    }

    #[test]
    fn removing_a_nested_value_keeps_the_rest() {
        let mut tree = tree();
        // Depth first: 0 root, 1 id, 2 lines, 3 {price}, 4 "1.50", 5 2.
        remove(&mut tree, 4);
        assert_eq!(tree.render(), r#"{"id":9007199254740993,"lines":[{},2]}"#);
        remove(&mut tree, 2);
        assert_eq!(tree.render(), r#"{"id":9007199254740993}"#);
    }

    #[test]
    fn strings_are_escaped() {
        let tree = Json::String("a\"b\\c\n".to_owned());
        assert_eq!(tree.render(), r#""a\"b\\c\u000a""#);
    }
}
