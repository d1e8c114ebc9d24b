//! Configuration problems, each located by file, line, column and dotted key,
//! so that an operator can fix them all in one pass.

use std::fmt;
use std::path::PathBuf;

/// One problem in a configuration file.
///
/// Displays as `FILE:LINE:COL: KEY: MESSAGE`. A problem with the file as a
/// whole (it cannot be read) has `line` 0 and displays as `FILE: MESSAGE`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The configuration file, as it was named to [`load`](crate::config::load).
    pub file: PathBuf,
    /// 1-based line; 0 when the problem is not at a position in the file.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// The dotted key the problem is about, e.g. `connectors.shopify.plugin`.
    pub key: String,
    /// What is wrong and how to fix it. Never contains a secret value.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found in a configuration file, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    /// One problem per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

/// Rewrites serde's messages into the configuration's vocabulary (keys,
/// tables, lists), suggests the closest known name for a misspelt one, and
/// drops string values from type errors: the value of a mistyped key may be a
/// secret pasted in the wrong place.
pub(crate) fn humanize(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("unknown field ") {
        return unknown("key", rest);
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        return unknown("value", rest);
    }
    if let Some(rest) = message.strip_prefix("invalid type: ")
        && let Some((found, expected)) = rest.rsplit_once(", expected ")
    {
        let (expected, hint) = expected_noun(expected);
        return format!("expected {expected}, found {}{hint}", found_noun(found));
    }
    if let Some(rest) = message.strip_prefix("invalid value: integer ")
        && let Some((value, expected)) = rest.rsplit_once(", expected ")
        && let Some(max) = unsigned_max(expected)
    {
        return if value.starts_with("`-") {
            format!("{value} must not be negative: write a whole number, zero or more")
        } else {
            format!("{value} is too large: at most {max}")
        };
    }
    match message {
        "wanted string or table" => "expected a string".to_owned(),
        "wanted exactly 1 element, more than 1 element" => "expected a single value".to_owned(),
        other => other.to_owned(),
    }
}

/// The largest value of an unsigned integer type serde names.
fn unsigned_max(name: &str) -> Option<u64> {
    Some(match name {
        "u8" => u64::from(u8::MAX),
        "u16" => u64::from(u16::MAX),
        "u32" => u64::from(u32::MAX),
        "u64" => u64::MAX,
        "usize" => usize::MAX.try_into().unwrap_or(u64::MAX),
        _ => return None,
    })
}

/// `` `listn`, expected one of `listen`, `public_base_url` `` (serde's text
/// after "unknown field ") becomes a message with a suggestion.
fn unknown(what: &str, rest: &str) -> String {
    let names = backticked(rest);
    match names.split_first() {
        Some((given, known)) => unknown_name(what, given, known),
        None => format!("unknown {what} {rest}"),
    }
}

/// "unknown key `listn`: did you mean `listen`? (expected one of ...)".
pub(crate) fn unknown_name(what: &str, given: &str, known: &[impl AsRef<str>]) -> String {
    let expected = known
        .iter()
        .map(|name| format!("`{}`", name.as_ref()))
        .collect::<Vec<_>>()
        .join(", ");
    let expected = match known.len() {
        0 => return format!("unknown {what} `{given}`: this table takes no keys"),
        1 => format!("expected {expected}"),
        _ => format!("expected one of {expected}"),
    };
    match suggest(given, known.iter().map(AsRef::as_ref)) {
        Some(close) => format!("unknown {what} `{given}`: did you mean `{close}`? ({expected})"),
        None => format!("unknown {what} `{given}`: {expected}"),
    }
}

/// The backticked names in a serde message, in order.
fn backticked(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// What serde expected, in TOML's words, and a hint on writing it.
fn expected_noun(expected: &str) -> (String, &'static str) {
    if expected.starts_with("struct ") || expected == "a map" {
        ("a table".to_owned(), "")
    } else if expected == "a sequence" {
        (
            "a list".to_owned(),
            ": write the values in brackets, e.g. [\"...\"]",
        )
    } else if matches!(
        expected,
        "u8" | "u16" | "u32" | "u64" | "usize" | "i8" | "i16" | "i32" | "i64" | "isize"
    ) {
        ("an integer".to_owned(), ": write it without quotes")
    } else {
        (expected.to_owned(), "")
    }
}

fn found_noun(found: &str) -> String {
    if found.starts_with("string ") {
        "a string".to_owned()
    } else if found == "sequence" {
        "a list".to_owned()
    } else if found == "map" {
        "a table".to_owned()
    } else if found.starts_with("integer") {
        format!("an {found}")
    } else {
        format!("a {found}")
    }
}

/// The candidate closest to `given` by edit distance, if it is close enough
/// to be a plausible typo.
pub(crate) fn suggest<'a>(
    given: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (given.chars().count() / 3).max(1);
    candidates
        .map(|candidate| (edit_distance(given, candidate), candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_file_line_column_key_and_message() {
        let error = ConfigError {
            file: "loyalty.toml".into(),
            line: 3,
            column: 1,
            key: "server.listn".to_owned(),
            message: "unknown key `listn`".to_owned(),
        };
        assert_eq!(
            error.to_string(),
            "loyalty.toml:3:1: server.listn: unknown key `listn`"
        );
        let whole_file = ConfigError {
            line: 0,
            key: String::new(),
            message: "cannot read it".to_owned(),
            ..error.clone()
        };
        assert_eq!(whole_file.to_string(), "loyalty.toml: cannot read it");
        assert_eq!(
            ConfigErrors(vec![error.clone(), error])
                .to_string()
                .lines()
                .count(),
            2
        );
    }

    #[test]
    fn unknown_keys_get_a_suggestion_when_one_is_close() {
        assert_eq!(
            humanize("unknown field `listn`, expected one of `listen`, `public_base_url`"),
            "unknown key `listn`: did you mean `listen`? (expected one of `listen`, `public_base_url`)"
        );
        assert_eq!(
            humanize("unknown field `colour`, expected `plugin`"),
            "unknown key `colour`: expected `plugin`"
        );
        assert_eq!(
            humanize("unknown variant `heder`, expected one of `bearer`, `header`, `basic`"),
            "unknown value `heder`: did you mean `header`? (expected one of `bearer`, `header`, `basic`)"
        );
    }

    #[test]
    fn out_of_range_integers_say_the_range() {
        assert_eq!(
            humanize("invalid value: integer `-1`, expected u32"),
            "`-1` must not be negative: write a whole number, zero or more"
        );
        assert_eq!(
            humanize("invalid value: integer `70000`, expected u16"),
            "`70000` is too large: at most 65535"
        );
    }

    #[test]
    fn type_errors_never_repeat_a_string_value() {
        let message = humanize("invalid type: string \"hunter2\", expected struct SecretSource");
        assert_eq!(message, "expected a table, found a string");
        assert_eq!(
            humanize("invalid type: integer `5`, expected a string"),
            "expected a string, found an integer `5`"
        );
    }
}
