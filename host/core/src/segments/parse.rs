//! Parsing and type-checking of segment filters: a lexer that records the
//! column of every token, and a recursive-descent parser that resolves field
//! names for the filter's subject and checks the types of every test, so
//! that each mistake is reported once, at parse time, where it was made.

use rust_decimal::Decimal;

use super::{
    Cmp, Expr, FlagField, ListField, NumberField, Scalar, Subject, SyntaxError, Test, TextField,
};

/// Parsing recurses once per `not` and per parenthesis; capping the depth
/// keeps a hostile filter sent through the API from exhausting the stack.
/// Real segments nest a handful of levels.
const MAX_DEPTH: usize = 64;

/// The reserved words, which are never field names.
const KEYWORDS: [&str; 9] = [
    "and", "or", "not", "in", "contains", "is", "null", "true", "false",
];

/// The values `status` can take; anything else is a typo that would
/// silently match nothing.
const STATUSES: [&str; 5] = ["invited", "active", "suspended", "closed", "none"];

/// The values `nps_class` can take.
const NPS_CLASSES: [&str; 3] = ["detractor", "passive", "promoter"];

/// What a field name stands for.
#[derive(Clone, Copy)]
enum Entry {
    Field(Operand),
    /// `frequency` or `monetary`, which take a window of days.
    Window(fn(u32) -> NumberField),
}

/// A resolved field, by type.
#[derive(Clone, Copy)]
enum Operand {
    Text(TextField),
    Number(NumberField),
    Flag(FlagField),
    List(ListField),
}

const fn text(field: TextField) -> Entry {
    Entry::Field(Operand::Text(field))
}

const fn number(field: NumberField) -> Entry {
    Entry::Field(Operand::Number(field))
}

/// The account fields, in the order messages list them.
const ACCOUNT_FIELDS: &[(&str, Entry)] = &[
    ("industry", text(TextField::Industry)),
    ("country", text(TextField::Country)),
    ("tier", text(TextField::Tier)),
    ("status", text(TextField::Status)),
    ("nps_class", text(TextField::NpsClass)),
    ("name", text(TextField::Name)),
    ("employees", number(NumberField::Employees)),
    ("annual_revenue", number(NumberField::AnnualRevenue)),
    ("balance", number(NumberField::Balance)),
    ("nps", number(NumberField::Nps)),
    ("clv", number(NumberField::Clv)),
    ("predicted_clv", number(NumberField::PredictedClv)),
    ("recency_days", number(NumberField::RecencyDays)),
    ("frequency", Entry::Window(NumberField::Frequency)),
    ("monetary", Entry::Window(NumberField::Monetary)),
    ("tags", Entry::Field(Operand::List(ListField::Tags))),
    ("roles", Entry::Field(Operand::List(ListField::Roles))),
    ("member", Entry::Field(Operand::Flag(FlagField::Member))),
    ("loyal", Entry::Field(Operand::Flag(FlagField::Loyal))),
];

/// The contact fields, in the order messages list them.
const CONTACT_FIELDS: &[(&str, Entry)] = &[
    ("role", text(TextField::Role)),
    ("email", text(TextField::Email)),
    ("first_name", text(TextField::FirstName)),
    ("last_name", text(TextField::LastName)),
];

/// Parses and type-checks a filter over `subject`.
pub(super) fn parse(text: &str, subject: Subject) -> Result<Expr, SyntaxError> {
    let (tokens, end) = lex(text)?;
    if tokens.is_empty() {
        let example = match subject {
            Subject::Account => r#"country = "DE""#,
            Subject::Contact => r#"role = "procurement""#,
        };
        return fail(
            1,
            format!("empty filter; expected a test such as `{example}`"),
        );
    }
    let mut parser = Parser {
        tokens,
        end,
        pos: 0,
        subject,
        depth: 0,
    };
    let expr = parser.or()?;
    let next = parser.peek();
    if next.kind != Kind::End {
        return unexpected(next, "expected `and`, `or` or the end");
    }
    Ok(expr)
}

fn fail<T>(column: usize, message: impl Into<String>) -> Result<T, SyntaxError> {
    let message = message.into();
    Err(SyntaxError { column, message })
}

/// Refuses `token`, which came where `lead` says something else belongs.
fn unexpected<T>(token: &Token, lead: &str) -> Result<T, SyntaxError> {
    fail(token.column, format!("{lead}, found {}", describe(token)))
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// A field name or keyword.
    Word,
    /// A string literal, unescaped.
    Str(String),
    /// A number literal; the token text is its digits.
    Number,
    Open,
    Close,
    OpenList,
    CloseList,
    Comma,
    Cmp(Cmp),
    End,
}

#[derive(Debug, Clone)]
struct Token {
    kind: Kind,
    /// 1-based, in characters.
    column: usize,
    /// The source text, as the operator wrote it.
    text: String,
}

impl Token {
    fn is_word(&self, word: &str) -> bool {
        self.kind == Kind::Word && self.text == word
    }
}

/// How a message names a token it did not expect.
fn describe(token: &Token) -> String {
    let lower = token.text.to_ascii_lowercase();
    match token.kind {
        Kind::End => "the end".to_owned(),
        Kind::Word if lower != token.text && is_keyword(&lower) => {
            format!("`{}` (keywords are lower case)", token.text)
        }
        _ => format!("`{}`", token.text),
    }
}

fn is_keyword(word: &str) -> bool {
    KEYWORDS.contains(&word)
}

/// Splits `text` into tokens, and returns them with the end's token.
fn lex(text: &str) -> Result<(Vec<Token>, Token), SyntaxError> {
    let chars: Vec<char> = text.chars().collect();
    let at = |i: usize| chars.get(i).copied();
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(c) = at(i) {
        let start = i;
        let column = start + 1;
        let followed_by_equals = at(i + 1) == Some('=');
        i += 1;
        let kind = match c {
            c if c.is_whitespace() => continue,
            '(' => Kind::Open,
            ')' => Kind::Close,
            '[' => Kind::OpenList,
            ']' => Kind::CloseList,
            ',' => Kind::Comma,
            '=' if followed_by_equals => return fail(column, "`==` is not an operator; write `=`"),
            '=' => Kind::Cmp(Cmp::Eq),
            '!' | '<' | '>' if followed_by_equals => {
                i += 1;
                Kind::Cmp(match c {
                    '!' => Cmp::Ne,
                    '<' => Cmp::Le,
                    _ => Cmp::Ge,
                })
            }
            '<' => Kind::Cmp(Cmp::Lt),
            '>' => Kind::Cmp(Cmp::Gt),
            '"' => {
                let (value, after) = lex_string(&chars, start)?;
                i = after;
                Kind::Str(value)
            }
            '-' | '0'..='9' => {
                i = lex_number(&chars, start)?;
                Kind::Number
            }
            c if c.is_alphabetic() || c == '_' => {
                while at(i).is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    i += 1;
                }
                Kind::Word
            }
            other => {
                let hint = match other {
                    '&' => " (write `and`)",
                    '|' => " (write `or`)",
                    '!' => " (write `!=` or `not`)",
                    '\'' => " (strings are in double quotes)",
                    _ => "",
                };
                return fail(column, format!("unexpected character `{other}`{hint}"));
            }
        };
        let text = chars[start..i].iter().collect();
        tokens.push(Token { kind, column, text });
    }
    let column = chars.len() + 1;
    let end = Token {
        kind: Kind::End,
        column,
        text: String::new(),
    };
    Ok((tokens, end))
}

/// Reads the string whose opening quote is at `start`; returns its value
/// and the index after its closing quote.
fn lex_string(chars: &[char], start: usize) -> Result<(String, usize), SyntaxError> {
    let mut value = String::new();
    let mut i = start + 1;
    loop {
        match (chars.get(i).copied(), chars.get(i + 1).copied()) {
            (Some('"'), _) => return Ok((value, i + 1)),
            (Some('\\'), Some(c @ ('"' | '\\'))) => {
                value.push(c);
                i += 2;
            }
            (Some('\\'), Some(other)) => {
                let message =
                    format!(r#"unknown escape `\{other}`; strings allow only `\"` and `\\`"#);
                return fail(i + 1, message);
            }
            (Some('\\'), None) | (None, _) => {
                return fail(start + 1, "unterminated string: missing the closing `\"`");
            }
            (Some(c), _) => {
                value.push(c);
                i += 1;
            }
        }
    }
}

/// Reads the number starting at `start` (`-`? digits, then `.` digits
/// optionally); returns the index after it.
fn lex_number(chars: &[char], start: usize) -> Result<usize, SyntaxError> {
    let digit = |i: usize| chars.get(i).is_some_and(char::is_ascii_digit);
    let mut i = start;
    if chars.get(i) == Some(&'-') {
        i += 1;
        if !digit(i) {
            return fail(start + 1, "expected a digit after `-`");
        }
    }
    while digit(i) {
        i += 1;
    }
    if chars.get(i) == Some(&'.') {
        i += 1;
        if !digit(i) {
            return fail(i, "expected a digit after `.`");
        }
        while digit(i) {
            i += 1;
        }
    }
    // `5k` or `1.2.3` would otherwise lex as a number followed by something
    // else, and the message would point past the real mistake.
    let word = |i: usize| {
        chars
            .get(i)
            .is_some_and(|c| c.is_alphanumeric() || *c == '_' || *c == '.')
    };
    if word(i) {
        let mut end = i;
        while word(end) {
            end += 1;
        }
        let text: String = chars[start..end].iter().collect();
        return fail(start + 1, format!("invalid number `{text}`"));
    }
    Ok(i)
}

struct Parser {
    tokens: Vec<Token>,
    end: Token,
    pos: usize,
    subject: Subject,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        self.tokens.get(self.pos).unwrap_or(&self.end)
    }

    fn next(&mut self) -> Token {
        let token = self.peek().clone();
        self.pos += 1;
        token
    }

    fn or(&mut self) -> Result<Expr, SyntaxError> {
        let mut operands = vec![self.and()?];
        while self.peek().is_word("or") {
            self.pos += 1;
            operands.push(self.and()?);
        }
        Ok(combine(operands, Expr::Or))
    }

    fn and(&mut self) -> Result<Expr, SyntaxError> {
        let mut operands = vec![self.unary()?];
        while self.peek().is_word("and") {
            self.pos += 1;
            operands.push(self.unary()?);
        }
        Ok(combine(operands, Expr::And))
    }

    fn unary(&mut self) -> Result<Expr, SyntaxError> {
        let token = self.peek().clone();
        let negation = token.is_word("not");
        if !negation && token.kind != Kind::Open {
            return Ok(Expr::Test(self.test()?));
        }
        if self.depth == MAX_DEPTH {
            let message =
                format!("nested too deeply: at most {MAX_DEPTH} levels of `not` and parentheses");
            return fail(token.column, message);
        }
        self.depth += 1;
        self.pos += 1;
        let expr = if negation {
            Expr::Not(Box::new(self.unary()?))
        } else {
            let inner = self.or()?;
            let close = self.next();
            match close.kind {
                Kind::Close => inner,
                Kind::End => {
                    let lead = format!("expected `)` to close the `(` at column {}", token.column);
                    return unexpected(&close, &lead);
                }
                _ => return unexpected(&close, "expected `and`, `or` or `)`"),
            }
        };
        self.depth -= 1;
        Ok(expr)
    }

    fn test(&mut self) -> Result<Test, SyntaxError> {
        let token = self.next();
        if token.kind != Kind::Word || is_keyword(&token.text) {
            return unexpected(&token, "expected a field, `not` or `(`");
        }
        let (operand, name) = self.operand(&token)?;
        match operand {
            Operand::Flag(field) => self.flag(field, &name),
            Operand::List(field) => self.contains(field, &name),
            Operand::Text(field) => self.scalar(Scalar::Text(field), &name),
            Operand::Number(field) => self.scalar(Scalar::Number(field), &name),
        }
    }

    /// Resolves the field named by `token` and, for windowed fields, reads
    /// the window; returns the field and how messages should name it.
    fn operand(&mut self, token: &Token) -> Result<(Operand, String), SyntaxError> {
        let name = token.text.as_str();
        match lookup(self.subject, name) {
            Some(Entry::Field(operand)) => Ok((operand, name.to_owned())),
            Some(Entry::Window(windowed)) => {
                let days = self.window(name)?;
                Ok((Operand::Number(windowed(days)), format!("{name}({days})")))
            }
            None => fail(token.column, unknown(self.subject, name)),
        }
    }

    /// Reads the `(days)` after `frequency` or `monetary`.
    fn window(&mut self, name: &str) -> Result<u32, SyntaxError> {
        let open = self.next();
        if open.kind != Kind::Open {
            return unexpected(
                &open,
                &format!("expected `(` after `{name}`, as in `{name}(90)`"),
            );
        }
        let days = self.next();
        let whole = days.kind == Kind::Number && days.text.chars().all(|c| c.is_ascii_digit());
        let value = match days.text.parse::<u32>() {
            Ok(value) if whole && value > 0 => value,
            Err(_) if whole => {
                let (text, max) = (&days.text, u32::MAX);
                let message = format!("a window of `{text}` days is too long (at most {max})");
                return fail(days.column, message);
            }
            _ => return unexpected(&days, "expected a positive whole number of days"),
        };
        let close = self.next();
        if close.kind != Kind::Close {
            return unexpected(&close, &format!("expected `)` after the days of `{name}`"));
        }
        Ok(value)
    }

    /// A boolean field: bare, or `= true|false`, `!= true|false`.
    fn flag(&mut self, field: FlagField, name: &str) -> Result<Test, SyntaxError> {
        let token = self.peek().clone();
        let misuse = match &token.kind {
            Kind::Cmp(cmp) => !matches!(cmp, Cmp::Eq | Cmp::Ne),
            Kind::Word => ["in", "contains", "is"].contains(&token.text.as_str()),
            _ => false,
        };
        let lead = format!("`{name}` is a boolean field");
        if misuse {
            return unexpected(&token, &format!("{lead}; use it bare or with `=` or `!=`"));
        }
        let Kind::Cmp(cmp) = token.kind else {
            return Ok(Test::Flag { field, value: true });
        };
        self.pos += 1;
        let literal = self.next();
        let value = match literal.text.as_str() {
            "true" if literal.kind == Kind::Word => true,
            "false" if literal.kind == Kind::Word => false,
            _ => return unexpected(&literal, &format!("{lead}; expected `true` or `false`")),
        };
        let value = value == (cmp == Cmp::Eq);
        Ok(Test::Flag { field, value })
    }

    /// A list field: `contains "value"`.
    fn contains(&mut self, field: ListField, name: &str) -> Result<Test, SyntaxError> {
        let token = self.next();
        if !token.is_word("contains") {
            return unexpected(
                &token,
                &format!("`{name}` is a list field; expected `contains`"),
            );
        }
        let literal = self.next();
        match literal.kind {
            Kind::Str(value) => Ok(Test::Contains { field, value }),
            _ => string_expected(&literal, &format!("`{name}` holds strings")),
        }
    }

    /// A string or number field: a comparison, `[not] in`, or `is [not] null`.
    fn scalar(&mut self, field: Scalar, name: &str) -> Result<Test, SyntaxError> {
        let token = self.next();
        let word = if token.kind == Kind::Word {
            token.text.as_str()
        } else {
            ""
        };
        match (&token.kind, field, word) {
            (Kind::Cmp(Cmp::Eq | Cmp::Ne), Scalar::Text(field), _) => {
                let values = vec![text_value(field, name, &self.next())?];
                let negated = token.kind == Kind::Cmp(Cmp::Ne);
                Ok(Test::Text {
                    field,
                    values,
                    negated,
                })
            }
            (Kind::Cmp(_), Scalar::Text(_), _) => {
                let operator = &token.text;
                let message = format!(
                    "`{operator}` does not apply to strings; `{name}` takes `=`, `!=`, `in` or `not in`"
                );
                fail(token.column, message)
            }
            (Kind::Cmp(cmp), Scalar::Number(field), _) => {
                let value = number_value(name, &self.next())?;
                Ok(Test::Compare {
                    field,
                    cmp: *cmp,
                    value,
                })
            }
            (_, _, "in" | "not") => {
                let negated = word == "not";
                if negated {
                    let after = self.next();
                    if !after.is_word("in") {
                        return unexpected(&after, "expected `in` after `not`");
                    }
                }
                Ok(match field {
                    Scalar::Text(field) => {
                        let values = self.list(|literal| text_value(field, name, literal))?;
                        Test::Text {
                            field,
                            values,
                            negated,
                        }
                    }
                    Scalar::Number(field) => {
                        let values = self.list(|literal| number_value(name, literal))?;
                        Test::NumberIn {
                            field,
                            values,
                            negated,
                        }
                    }
                })
            }
            (_, _, "is") => {
                let mut after = self.next();
                let negated = after.is_word("not");
                if negated {
                    after = self.next();
                }
                if !after.is_word("null") {
                    let lead = if negated { "is not" } else { "is" };
                    return unexpected(&after, &format!("expected `null` after `{lead}`"));
                }
                Ok(Test::Null { field, negated })
            }
            (_, _, "contains") => {
                let kind = match field {
                    Scalar::Text(_) => "a string",
                    Scalar::Number(_) => "a number",
                };
                let message = format!(
                    "`contains` applies to list fields only; `{name}` is {kind} field, compare it with `=` or `in`"
                );
                fail(token.column, message)
            }
            _ => {
                let lead = format!(
                    "expected `=`, `!=`, `<`, `<=`, `>`, `>=`, `in`, `not in` or `is` after `{name}`"
                );
                unexpected(&token, &lead)
            }
        }
    }

    /// Reads `[ literal {, literal} ]`, converting each literal with `value`.
    fn list<T>(
        &mut self,
        mut value: impl FnMut(&Token) -> Result<T, SyntaxError>,
    ) -> Result<Vec<T>, SyntaxError> {
        let open = self.next();
        if open.kind != Kind::OpenList {
            return unexpected(&open, "expected `[` after `in`");
        }
        let mut values = Vec::new();
        loop {
            let literal = self.next();
            if literal.kind == Kind::CloseList && values.is_empty() {
                return fail(literal.column, "an `in` list needs at least one value");
            }
            values.push(value(&literal)?);
            let separator = self.next();
            match separator.kind {
                Kind::Comma => {}
                Kind::CloseList => return Ok(values),
                _ => return unexpected(&separator, "expected `,` or `]`"),
            }
        }
    }
}

/// One operand stands alone; two or more are joined by `join`.
fn combine(mut operands: Vec<Expr>, join: fn(Vec<Expr>) -> Expr) -> Expr {
    if operands.len() == 1
        && let Some(only) = operands.pop()
    {
        return only;
    }
    join(operands)
}

/// The string a literal holds, checked against the values `field` can take.
fn text_value(field: TextField, name: &str, literal: &Token) -> Result<String, SyntaxError> {
    let Kind::Str(value) = &literal.kind else {
        return string_expected(literal, &format!("`{name}` is a string field"));
    };
    let allowed: &[&str] = match field {
        TextField::Status => &STATUSES,
        TextField::NpsClass => &NPS_CLASSES,
        _ => &[],
    };
    if !allowed.is_empty() && !allowed.iter().any(|a| a.eq_ignore_ascii_case(value)) {
        let listed: Vec<String> = allowed.iter().map(|a| format!("`{a}`")).collect();
        return unexpected(
            literal,
            &format!("`{name}` is one of {}", listed.join(", ")),
        );
    }
    Ok(value.clone())
}

/// Refuses a literal where a string belongs. A bare word there is most
/// likely a string missing its quotes, so the message shows them.
fn string_expected<T>(literal: &Token, lead: &str) -> Result<T, SyntaxError> {
    let hint = if literal.kind == Kind::Word && !is_keyword(&literal.text) {
        format!(r#" (write `"{}"`)"#, literal.text)
    } else {
        String::new()
    };
    let found = describe(literal);
    let message = format!("{lead}; expected a string in double quotes, found {found}{hint}");
    fail(literal.column, message)
}

/// The exact decimal a literal holds.
fn number_value(name: &str, literal: &Token) -> Result<Decimal, SyntaxError> {
    if literal.kind != Kind::Number {
        return unexpected(
            literal,
            &format!("`{name}` is a number field; expected a number"),
        );
    }
    Decimal::from_str_exact(&literal.text).or_else(|_| {
        let text = &literal.text;
        let message = format!("number `{text}` is too large or too precise to hold exactly");
        fail(literal.column, message)
    })
}

fn fields(subject: Subject) -> &'static [(&'static str, Entry)] {
    match subject {
        Subject::Account => ACCOUNT_FIELDS,
        Subject::Contact => CONTACT_FIELDS,
    }
}

fn lookup(subject: Subject, name: &str) -> Option<Entry> {
    let mut fields = fields(subject).iter();
    fields
        .find(|(field, _)| *field == name)
        .map(|(_, entry)| *entry)
}

/// Why `name` is not a field of `subject`, and what to write instead.
fn unknown(subject: Subject, name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    if is_keyword(&lower) {
        return format!("keywords are lower case: write `{lower}`, found `{name}`");
    }
    let other = match subject {
        Subject::Account => Subject::Contact,
        Subject::Contact => Subject::Account,
    };
    if lookup(other, name).is_some() {
        return match (subject, name) {
            (Subject::Account, "role") => {
                r#"`role` is a contact field; account filters use `roles contains "..."`"#.into()
            }
            (Subject::Account, _) => {
                format!("`{name}` is a contact field; use it in a contact filter")
            }
            (Subject::Contact, "roles") => {
                r#"`roles` is an account field; contact filters use `role = "..."`"#.into()
            }
            (Subject::Contact, _) => {
                let listed = listing(Subject::Contact);
                format!("`{name}` is an account field; contact filters use {listed}")
            }
        };
    }
    if let Some(best) = closest(subject, name) {
        return format!("unknown field `{name}`; did you mean `{best}`?");
    }
    let kind = match subject {
        Subject::Account => "account",
        Subject::Contact => "contact",
    };
    format!(
        "unknown field `{name}`; {kind} fields are {}",
        listing(subject)
    )
}

/// The fields of `subject`, as a message lists them.
fn listing(subject: Subject) -> String {
    let names: Vec<String> = fields(subject)
        .iter()
        .map(|(name, entry)| match entry {
            Entry::Field(_) => format!("`{name}`"),
            Entry::Window(_) => format!("`{name}(days)`"),
        })
        .collect();
    names.join(", ")
}

/// The field of `subject` nearest to `name` within two edits; the first
/// listed wins a tie.
fn closest(subject: Subject, name: &str) -> Option<&'static str> {
    fields(subject)
        .iter()
        .map(|(field, _)| (distance(field, name), *field))
        .filter(|(distance, _)| *distance <= 2)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, field)| field)
}

/// The Levenshtein distance between `a` and `b`, in characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            let substitution = diagonal + usize::from(ca != *cb);
            row[j + 1] = (above + 1).min(row[j] + 1).min(substitution);
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::super::Filter;
    use super::*;

    /// Asserts that `text` fails to parse as a filter over `subject`, at
    /// `column` with `message`.
    fn fails(subject: Subject, text: &str, column: usize, message: &str) {
        let error = Filter::parse(text, subject).unwrap_err();
        assert_eq!(
            (error.column, error.message.as_str()),
            (column, message),
            "{text}"
        );
    }

    fn account_fails(text: &str, column: usize, message: &str) {
        fails(Subject::Account, text, column, message);
    }

    fn contact_fails(text: &str, column: usize, message: &str) {
        fails(Subject::Contact, text, column, message);
    }

    fn expr(text: &str) -> Expr {
        parse(text, Subject::Account).unwrap()
    }

    fn flag(field: FlagField) -> Expr {
        Expr::Test(Test::Flag { field, value: true })
    }

    #[test]
    fn an_empty_filter_is_refused_with_an_example() {
        let example = r#"empty filter; expected a test such as `country = "DE"`"#;
        account_fails("", 1, example);
        account_fails("   \t", 1, example);
        let example = r#"empty filter; expected a test such as `role = "procurement"`"#;
        contact_fails("", 1, example);
    }

    #[test]
    fn a_misspelt_field_suggests_the_closest_one() {
        account_fails(
            r#"indstry = "retail""#,
            1,
            "unknown field `indstry`; did you mean `industry`?",
        );
        account_fails(
            r#"loyal and Tier = "gold""#,
            11,
            "unknown field `Tier`; did you mean `tier`?",
        );
        contact_fails(
            r#"emial is null"#,
            1,
            "unknown field `emial`; did you mean `email`?",
        );
    }

    #[test]
    fn a_field_far_from_any_lists_the_fields_of_the_subject() {
        account_fails(
            "revenue > 5",
            1,
            "unknown field `revenue`; account fields are `industry`, `country`, `tier`, \
             `status`, `nps_class`, `name`, `employees`, `annual_revenue`, `balance`, `nps`, \
             `clv`, `predicted_clv`, `recency_days`, `frequency(days)`, `monetary(days)`, \
             `tags`, `roles`, `member`, `loyal`",
        );
        contact_fails(
            r#"phone = "1""#,
            1,
            "unknown field `phone`; contact fields are `role`, `email`, `first_name`, `last_name`",
        );
    }

    #[test]
    fn a_field_of_the_other_subject_says_where_it_belongs() {
        account_fails(
            r#"loyal and role = "procurement""#,
            11,
            r#"`role` is a contact field; account filters use `roles contains "..."`"#,
        );
        account_fails(
            "email is null",
            1,
            "`email` is a contact field; use it in a contact filter",
        );
        contact_fails(
            r#"tier = "gold""#,
            1,
            "`tier` is an account field; contact filters use `role`, `email`, `first_name`, `last_name`",
        );
        contact_fails(
            r#"roles contains "x""#,
            1,
            r#"`roles` is an account field; contact filters use `role = "..."`"#,
        );
    }

    #[test]
    fn a_number_field_refuses_a_string_and_a_string_field_a_number() {
        account_fails(
            r#"employees >= "250""#,
            14,
            r#"`employees` is a number field; expected a number, found `"250"`"#,
        );
        account_fails(
            "country = 49",
            11,
            "`country` is a string field; expected a string in double quotes, found `49`",
        );
        account_fails(
            "tier = gold",
            8,
            r#"`tier` is a string field; expected a string in double quotes, found `gold` (write `"gold"`)"#,
        );
        account_fails(
            r#"clv in [1, "2"]"#,
            12,
            r#"`clv` is a number field; expected a number, found `"2"`"#,
        );
    }

    #[test]
    fn strings_do_not_order() {
        account_fails(
            r#"industry < "m""#,
            10,
            "`<` does not apply to strings; `industry` takes `=`, `!=`, `in` or `not in`",
        );
    }

    #[test]
    fn contains_needs_a_list_and_a_list_needs_contains() {
        account_fails(
            r#"industry contains "tech""#,
            10,
            "`contains` applies to list fields only; `industry` is a string field, compare it with `=` or `in`",
        );
        account_fails(
            r#"tags = "vip""#,
            6,
            "`tags` is a list field; expected `contains`, found `=`",
        );
        account_fails(
            "tags contains vip",
            15,
            r#"`tags` holds strings; expected a string in double quotes, found `vip` (write `"vip"`)"#,
        );
    }

    #[test]
    fn booleans_are_bare_or_compared_with_true_or_false() {
        account_fails(
            "loyal = 1",
            9,
            "`loyal` is a boolean field; expected `true` or `false`, found `1`",
        );
        account_fails(
            "member > false",
            8,
            "`member` is a boolean field; use it bare or with `=` or `!=`, found `>`",
        );
        account_fails(
            "member is null",
            8,
            "`member` is a boolean field; use it bare or with `=` or `!=`, found `is`",
        );
    }

    #[test]
    fn a_window_must_be_a_positive_whole_number_of_days() {
        account_fails(
            "frequency(0) > 1",
            11,
            "expected a positive whole number of days, found `0`",
        );
        account_fails(
            "monetary(1.5) > 1",
            10,
            "expected a positive whole number of days, found `1.5`",
        );
        account_fails(
            "monetary > 1",
            10,
            "expected `(` after `monetary`, as in `monetary(90)`, found `>`",
        );
        account_fails(
            "frequency(4294967296) > 1",
            11,
            "a window of `4294967296` days is too long (at most 4294967295)",
        );
        account_fails(
            "frequency(30 > 1",
            14,
            "expected `)` after the days of `frequency`, found `>`",
        );
    }

    #[test]
    fn status_and_nps_class_accept_only_their_values() {
        account_fails(
            r#"status in ["active", "actve"]"#,
            22,
            r#"`status` is one of `invited`, `active`, `suspended`, `closed`, `none`, found `"actve"`"#,
        );
        account_fails(
            r#"nps_class = "fan""#,
            13,
            r#"`nps_class` is one of `detractor`, `passive`, `promoter`, found `"fan"`"#,
        );
    }

    #[test]
    fn strings_must_be_terminated_and_escapes_known() {
        account_fails(
            r#"name = "Acme"#,
            8,
            r#"unterminated string: missing the closing `"`"#,
        );
        account_fails(
            r#"name = "Acme\""#,
            8,
            r#"unterminated string: missing the closing `"`"#,
        );
        account_fails(
            r#"name = "a\nb""#,
            10,
            r#"unknown escape `\n`; strings allow only `\"` and `\\`"#,
        );
    }

    #[test]
    fn parentheses_must_balance() {
        account_fails(
            r#"loyal and (tier = "gold" or member"#,
            35,
            "expected `)` to close the `(` at column 11, found the end",
        );
        account_fails("(loyal))", 8, "expected `and`, `or` or the end, found `)`");
        account_fails(
            "(loyal member)",
            8,
            "expected `and`, `or` or `)`, found `member`",
        );
        account_fails("()", 2, "expected a field, `not` or `(`, found `)`");
    }

    #[test]
    fn trailing_input_is_refused() {
        account_fails(
            r#"tier = "gold" xyz"#,
            15,
            "expected `and`, `or` or the end, found `xyz`",
        );
        account_fails(
            r#"tier = "gold" AND loyal"#,
            15,
            "expected `and`, `or` or the end, found `AND` (keywords are lower case)",
        );
    }

    #[test]
    fn misplaced_keywords_and_operators_are_named() {
        account_fails(
            "loyal and",
            10,
            "expected a field, `not` or `(`, found the end",
        );
        account_fails(
            "NOT loyal",
            1,
            "keywords are lower case: write `not`, found `NOT`",
        );
        account_fails(
            "balance",
            8,
            "expected `=`, `!=`, `<`, `<=`, `>`, `>=`, `in`, `not in` or `is` after `balance`, found the end",
        );
        account_fails("balance not 5", 13, "expected `in` after `not`, found `5`");
        account_fails(
            "nps is not 5",
            12,
            "expected `null` after `is not`, found `5`",
        );
        account_fails("balance == 5", 9, "`==` is not an operator; write `=`");
        account_fails(
            "loyal && member",
            7,
            "unexpected character `&` (write `and`)",
        );
    }

    #[test]
    fn in_lists_are_bracketed_and_not_empty() {
        account_fails("tier in []", 10, "an `in` list needs at least one value");
        account_fails(
            r#"tier in "gold""#,
            9,
            r#"expected `[` after `in`, found `"gold"`"#,
        );
        account_fails(
            r#"tier in ["gold" "silver"]"#,
            17,
            r#"expected `,` or `]`, found `"silver"`"#,
        );
    }

    #[test]
    fn numbers_are_exact_decimals() {
        account_fails("clv > 5k", 7, "invalid number `5k`");
        account_fails("clv > 1.2.3", 7, "invalid number `1.2.3`");
        account_fails("clv > 1.", 8, "expected a digit after `.`");
        account_fails("clv > - 1", 7, "expected a digit after `-`");
        account_fails(
            "clv > 99999999999999999999999999999999",
            7,
            "number `99999999999999999999999999999999` is too large or too precise to hold exactly",
        );
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        account_fails(
            r#"name = "Müller" xyz"#,
            17,
            "expected `and`, `or` or the end, found `xyz`",
        );
    }

    #[test]
    fn nesting_is_capped() {
        let deep = format!("{}loyal{}", "(".repeat(64), ")".repeat(64));
        assert!(Filter::parse(&deep, Subject::Account).is_ok());
        let deeper = format!("{}loyal{}", "(".repeat(65), ")".repeat(65));
        account_fails(
            &deeper,
            65,
            "nested too deeply: at most 64 levels of `not` and parentheses",
        );
        let nots = format!("{}loyal", "not ".repeat(100_000));
        let error = Filter::parse(&nots, Subject::Account).unwrap_err();
        assert_eq!(error.column, 257);
    }

    #[test]
    fn and_binds_tighter_than_or() {
        use FlagField::{Loyal, Member};
        assert_eq!(
            expr("loyal or member and loyal"),
            Expr::Or(vec![
                flag(Loyal),
                Expr::And(vec![flag(Member), flag(Loyal)])
            ])
        );
        assert_eq!(
            expr("(loyal or member) and loyal"),
            Expr::And(vec![Expr::Or(vec![flag(Loyal), flag(Member)]), flag(Loyal)])
        );
        assert_eq!(
            expr("not loyal and member"),
            Expr::And(vec![Expr::Not(Box::new(flag(Loyal))), flag(Member)])
        );
    }

    #[test]
    fn not_equal_and_not_in_parse_as_negated_tests() {
        assert_eq!(
            expr(r#"country != "DE""#),
            Expr::Test(Test::Text {
                field: TextField::Country,
                values: vec!["DE".into()],
                negated: true
            })
        );
        assert_eq!(
            expr("balance not in [-1, 2.50]"),
            Expr::Test(Test::NumberIn {
                field: NumberField::Balance,
                values: vec![Decimal::new(-1, 0), Decimal::new(250, 2)],
                negated: true
            })
        );
        assert_eq!(
            expr("loyal != false"),
            Expr::Test(Test::Flag {
                field: FlagField::Loyal,
                value: true
            })
        );
        assert_eq!(
            expr(r#"name = "say \"hi\" \\ bye""#),
            Expr::Test(Test::Text {
                field: TextField::Name,
                values: vec![r#"say "hi" \ bye"#.into()],
                negated: false
            })
        );
    }

    #[test]
    fn edit_distance_counts_insertions_deletions_and_substitutions() {
        assert_eq!(distance("industry", "indstry"), 1);
        assert_eq!(distance("tier", "tire"), 2);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
