//! A small SOQL parser and evaluator: exactly the statements the connector
//! sends, and Salesforce's errors for everything else.
//!
//! Grammar (keywords case-insensitive):
//!
//! ```text
//! SELECT field {, field | , (SELECT path {, path} FROM ChildRelationship)}
//! FROM Object
//! [WHERE condition]          condition: term {OR term}; term: factor {AND factor};
//!                            factor: ( condition ) | path op literal
//! [ORDER BY path [ASC] {, path [ASC]}]
//! [LIMIT n]
//! ```
//!
//! `op` is `=`, `!=`, `<`, `<=`, `>`, `>=`; a literal is a quoted string, an
//! unquoted datetime (`2026-05-01T07:25:37.000Z`), `true`, `false` or `null`.
//! A malformed statement is `MALFORMED_QUERY`; a field the object does not
//! have is `INVALID_FIELD`, with Salesforce's messages.

use std::cmp::Ordering;

use serde_json::Value;

/// An error Salesforce answers with 400 `[{"message","errorCode"}]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoqlError {
    /// `MALFORMED_QUERY` or `INVALID_FIELD`.
    pub code: &'static str,
    /// Salesforce's message.
    pub message: String,
}

impl SoqlError {
    fn malformed(message: impl Into<String>) -> Self {
        Self {
            code: "MALFORMED_QUERY",
            message: message.into(),
        }
    }

    fn no_column(field: &str, object: &str) -> Self {
        Self {
            code: "INVALID_FIELD",
            message: format!(
                "No such column '{field}' on entity '{object}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names."
            ),
        }
    }
}

/// A parsed statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// The select list, in order.
    pub fields: Vec<Selected>,
    /// The object.
    pub object: String,
    /// The WHERE clause.
    pub filter: Option<Condition>,
    /// ORDER BY paths, ascending.
    pub order_by: Vec<String>,
    /// LIMIT.
    pub limit: Option<usize>,
}

/// One entry of the select list.
#[derive(Debug, Clone, PartialEq)]
pub enum Selected {
    /// A field or a relationship path (`Product2.Family`).
    Path(String),
    /// A child relationship subquery.
    Children {
        /// The child relationship (`OpportunityLineItems`).
        relationship: String,
        /// Its select list.
        fields: Vec<String>,
    },
}

/// A WHERE condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// Both hold.
    And(Box<Condition>, Box<Condition>),
    /// Either holds.
    Or(Box<Condition>, Box<Condition>),
    /// A comparison of a path with a literal.
    Compare {
        /// The field or path.
        path: String,
        /// The operator.
        op: Op,
        /// The literal.
        value: Literal,
    },
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// A literal in a condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// A datetime, in ms.
    DateTime(i64),
    /// A string.
    Text(String),
    /// A boolean.
    Bool(bool),
    /// `null`.
    Null,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Bare(String),
    Punct(&'static str),
}

fn tokenize(soql: &str) -> Result<Vec<Token>, SoqlError> {
    let chars: Vec<char> = soql.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '_' | '.'))
            {
                i += 1;
            }
            tokens.push(Token::Word(chars[start..i].iter().collect()));
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], ':' | '.' | '-' | '+'))
            {
                i += 1;
            }
            tokens.push(Token::Bare(chars[start..i].iter().collect()));
        } else if c == '\'' {
            i += 1;
            let mut text = String::new();
            loop {
                match chars.get(i) {
                    None => return Err(SoqlError::malformed("unterminated string literal")),
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some('\\') => {
                        let escaped = match chars.get(i + 1) {
                            Some('n') => '\n',
                            Some('r') => '\r',
                            Some('t') => '\t',
                            Some(c @ ('\\' | '\'' | '"')) => *c,
                            _ => {
                                return Err(SoqlError::malformed(
                                    "invalid escape sequence in a string literal",
                                ));
                            }
                        };
                        text.push(escaped);
                        i += 2;
                    }
                    Some(c) => {
                        text.push(*c);
                        i += 1;
                    }
                }
            }
            tokens.push(Token::Text(text));
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let punct = match (two.as_str(), c) {
                ("!=", _) => "!=",
                ("<=", _) => "<=",
                (">=", _) => ">=",
                (_, '=') => "=",
                (_, '<') => "<",
                (_, '>') => ">",
                (_, '(') => "(",
                (_, ')') => ")",
                (_, ',') => ",",
                _ => return Err(SoqlError::malformed(format!("unexpected token: '{c}'"))),
            };
            i += punct.len();
            tokens.push(Token::Punct(punct));
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn is_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(keyword))
    }

    fn keyword(&mut self, keyword: &str) -> Result<(), SoqlError> {
        if self.is_keyword(keyword) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.unexpected(&format!("expecting '{keyword}'")))
        }
    }

    fn punct(&mut self, punct: &str) -> bool {
        if matches!(self.peek(), Some(Token::Punct(p)) if *p == punct) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn word(&mut self) -> Result<String, SoqlError> {
        match self.next() {
            Some(Token::Word(w)) => Ok(w),
            _ => {
                self.at -= 1;
                Err(self.unexpected("expecting a field or object name"))
            }
        }
    }

    fn unexpected(&self, why: &str) -> SoqlError {
        let near = match self.peek() {
            Some(Token::Word(w) | Token::Bare(w)) => w.clone(),
            Some(Token::Text(t)) => format!("'{t}'"),
            Some(Token::Punct(p)) => (*p).to_owned(),
            None => "<end of statement>".to_owned(),
        };
        SoqlError::malformed(format!("unexpected token: '{near}' ({why})"))
    }

    fn select_list(&mut self, allow_children: bool) -> Result<Vec<Selected>, SoqlError> {
        let mut fields = Vec::new();
        loop {
            if allow_children && self.punct("(") {
                self.keyword("SELECT")?;
                let inner = self
                    .select_list(false)?
                    .into_iter()
                    .map(|f| match f {
                        Selected::Path(p) => p,
                        Selected::Children { relationship, .. } => relationship,
                    })
                    .collect();
                self.keyword("FROM")?;
                let relationship = self.word()?;
                if !self.punct(")") {
                    return Err(self.unexpected("expecting ')' after a subquery"));
                }
                fields.push(Selected::Children {
                    relationship,
                    fields: inner,
                });
            } else {
                fields.push(Selected::Path(self.word()?));
            }
            if !self.punct(",") {
                return Ok(fields);
            }
        }
    }

    fn condition(&mut self) -> Result<Condition, SoqlError> {
        let mut left = self.term()?;
        while self.is_keyword("OR") {
            self.at += 1;
            left = Condition::Or(Box::new(left), Box::new(self.term()?));
        }
        Ok(left)
    }

    fn term(&mut self) -> Result<Condition, SoqlError> {
        let mut left = self.factor()?;
        while self.is_keyword("AND") {
            self.at += 1;
            left = Condition::And(Box::new(left), Box::new(self.factor()?));
        }
        Ok(left)
    }

    fn factor(&mut self) -> Result<Condition, SoqlError> {
        if self.punct("(") {
            let inner = self.condition()?;
            if !self.punct(")") {
                return Err(self.unexpected("expecting ')'"));
            }
            return Ok(inner);
        }
        let path = self.word()?;
        let op = match self.next() {
            Some(Token::Punct("=")) => Op::Eq,
            Some(Token::Punct("!=")) => Op::Ne,
            Some(Token::Punct("<")) => Op::Lt,
            Some(Token::Punct("<=")) => Op::Le,
            Some(Token::Punct(">")) => Op::Gt,
            Some(Token::Punct(">=")) => Op::Ge,
            _ => {
                self.at -= 1;
                return Err(self.unexpected("expecting a comparison operator"));
            }
        };
        let value = match self.next() {
            Some(Token::Text(t)) => Literal::Text(t),
            Some(Token::Bare(b)) => match datetime_ms(&b) {
                Some(ms) if b.contains('T') => Literal::DateTime(ms),
                _ => {
                    self.at -= 1;
                    return Err(self.unexpected("this emulator accepts datetime literals only"));
                }
            },
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("true") => Literal::Bool(true),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("false") => Literal::Bool(false),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("null") => Literal::Null,
            _ => {
                self.at -= 1;
                return Err(self.unexpected("expecting a literal"));
            }
        };
        Ok(Condition::Compare { path, op, value })
    }
}

/// Parses a statement.
pub fn parse(soql: &str) -> Result<Query, SoqlError> {
    let mut p = Parser {
        tokens: tokenize(soql)?,
        at: 0,
    };
    p.keyword("SELECT")?;
    let fields = p.select_list(true)?;
    p.keyword("FROM")?;
    let object = p.word()?;
    let mut query = Query {
        fields,
        object,
        filter: None,
        order_by: Vec::new(),
        limit: None,
    };
    if p.is_keyword("WHERE") {
        p.at += 1;
        query.filter = Some(p.condition()?);
    }
    if p.is_keyword("ORDER") {
        p.at += 1;
        p.keyword("BY")?;
        loop {
            query.order_by.push(p.word()?);
            if p.is_keyword("ASC") {
                p.at += 1;
            }
            if !p.punct(",") {
                break;
            }
        }
    }
    if p.is_keyword("LIMIT") {
        p.at += 1;
        match p.next() {
            Some(Token::Bare(n)) if n.bytes().all(|b| b.is_ascii_digit()) => {
                query.limit = Some(
                    n.parse()
                        .map_err(|_| SoqlError::malformed("LIMIT too large"))?,
                );
            }
            _ => {
                p.at -= 1;
                return Err(p.unexpected("expecting a number after LIMIT"));
            }
        }
    }
    if p.peek().is_some() {
        return Err(p.unexpected("expecting the end of the statement"));
    }
    Ok(query)
}

impl Query {
    /// Every path the statement names outside subqueries.
    pub fn paths(&self) -> Vec<&str> {
        let mut paths: Vec<&str> = self
            .fields
            .iter()
            .filter_map(|f| match f {
                Selected::Path(p) => Some(p.as_str()),
                Selected::Children { .. } => None,
            })
            .collect();
        paths.extend(self.order_by.iter().map(String::as_str));
        if let Some(filter) = &self.filter {
            filter.paths(&mut paths);
        }
        paths
    }
}

impl Condition {
    fn paths<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Self::And(a, b) | Self::Or(a, b) => {
                a.paths(out);
                b.paths(out);
            }
            Self::Compare { path, .. } => out.push(path),
        }
    }

    /// Whether the condition holds; `get` reads a path of the record.
    pub fn holds(&self, get: &dyn Fn(&str) -> Option<Value>) -> bool {
        match self {
            Self::And(a, b) => a.holds(get) && b.holds(get),
            Self::Or(a, b) => a.holds(get) || b.holds(get),
            Self::Compare { path, op, value } => {
                let field = get(path).filter(|v| !v.is_null());
                let ordering = match (value, &field) {
                    (Literal::Null, None) => Some(Ordering::Equal),
                    (Literal::Null, Some(_)) | (_, None) => None,
                    (Literal::DateTime(ms), Some(Value::String(s))) => {
                        datetime_ms(s).map(|f| f.cmp(ms))
                    }
                    (Literal::Text(t), Some(Value::String(s))) => Some(s.as_str().cmp(t.as_str())),
                    (Literal::Bool(b), Some(Value::Bool(f))) => Some(f.cmp(b)),
                    _ => None,
                };
                match (op, ordering) {
                    (Op::Ne, None) => !matches!(value, Literal::Null) || field.is_some(),
                    (_, None) => false,
                    (Op::Eq, Some(o)) => o == Ordering::Equal,
                    (Op::Ne, Some(o)) => o != Ordering::Equal,
                    (Op::Lt, Some(o)) => o == Ordering::Less,
                    (Op::Le, Some(o)) => o != Ordering::Greater,
                    (Op::Gt, Some(o)) => o == Ordering::Greater,
                    (Op::Ge, Some(o)) => o != Ordering::Less,
                }
            }
        }
    }
}

/// Orders two field values as Salesforce sorts ascending: nulls first,
/// datetimes by instant, everything else by its text.
pub fn compare(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match (a.filter(|v| !v.is_null()), b.filter(|v| !v.is_null())) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => {
            let (ta, tb) = (text(a), text(b));
            match (datetime_ms(&ta), datetime_ms(&tb)) {
                (Some(x), Some(y)) if ta.contains('T') && tb.contains('T') => x.cmp(&y),
                _ => ta.cmp(&tb),
            }
        }
    }
}

/// Milliseconds since the epoch of `YYYY-MM-DDTHH:MM:SS[.fff](Z|±HHMM|±HH:MM)`.
pub fn datetime_ms(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let s = text.get(from..from + len)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') || b.get(10) != Some(&b'T') {
        return None;
    }
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    let mut pos = 19;
    let mut millis = 0;
    if b.get(pos) == Some(&b'.') {
        let start = pos + 1;
        pos = start;
        while b.get(pos).is_some_and(u8::is_ascii_digit) {
            pos += 1;
        }
        let digits = format!("{:0<3}", &text[start..pos]);
        millis = digits[..3].parse().ok()?;
    }
    let offset = match &text[pos..] {
        "Z" => 0,
        rest if rest.len() == 5 || rest.len() == 6 => {
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            let digits: String = rest[1..].chars().filter(char::is_ascii_digit).collect();
            let h: i64 = digits.get(0..2)?.parse().ok()?;
            let m: i64 = digits.get(2..4)?.parse().ok()?;
            sign * (h * 60 + m) * 60_000
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    Some(days * 86_400_000 + hour * 3_600_000 + minute * 60_000 + second * 1000 + millis - offset)
}

/// Formats ms as Salesforce writes datetimes: `2026-05-01T07:25:37.000+0000`.
pub fn format_datetime(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rest = ms.rem_euclid(86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}+0000",
        rest / 3_600_000,
        rest % 3_600_000 / 60_000,
        rest % 60_000 / 1000,
        rest % 1000
    )
}

fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The INVALID_FIELD error for `field` of `object`.
pub fn no_column(field: &str, object: &str) -> SoqlError {
    SoqlError::no_column(field, object)
}
