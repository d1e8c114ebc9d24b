//! Segments: saved filters over accounts, and over their contacts, that
//! target campaigns ("the procurement contacts of gold accounts in
//! Germany"). Operators write filters in TOML or send them through the API,
//! so a filter is parsed and type-checked once, up front, and every mistake
//! is reported with the column of the offending token and what was expected
//! there; evaluation then cannot fail.
//!
//! # The language
//!
//! ```text
//! filter  = or
//! or      = and { "or" and }
//! and     = unary { "and" unary }
//! unary   = "not" unary | "(" or ")" | test
//! test    = operand cmp literal                      cmp: = != < <= > >=
//!         | operand ["not"] "in" "[" literal {"," literal} "]"
//!         | listfield "contains" string
//!         | operand "is" ["not"] "null"
//!         | boolfield
//! operand = field | "frequency" "(" days ")" | "monetary" "(" days ")"
//! literal = string | number | "true" | "false"
//! ```
//!
//! `and` binds tighter than `or`, so `a or b and c` means `a or (b and c)`.
//! `not` applies to the test or parenthesised group right after it, so
//! `not a and b` means `(not a) and b`.
//! Keywords (`and or not in contains is null true false`) and field names
//! are lower case; whitespace is free. Strings are in double quotes, with
//! `\"` and `\\` as the only escapes. Numbers are exact decimals with an
//! optional leading `-` (`10000`, `-12.5`).
//!
//! ## Account fields
//!
//! | field | type | value |
//! |---|---|---|
//! | `industry`, `country`, `tier`, `name` | string | as recorded (`country` is ISO alpha-2) |
//! | `status` | string | `invited`, `active`, `suspended`, `closed`, or `none` when not a member |
//! | `nps_class` | string | `detractor`, `passive` or `promoter` |
//! | `employees`, `annual_revenue`, `balance`, `nps`, `clv`, `predicted_clv` | number | as recorded |
//! | `recency_days` | number | whole days since the latest purchase placed at or before now (floor) |
//! | `frequency(D)` | number | purchases placed in the last `D` days: `(now - D days, now]` |
//! | `monetary(D)` | number | the sum of those purchases' amounts |
//! | `tags` | list | the account's tags |
//! | `roles` | list | the roles of the account's contacts |
//! | `member` | boolean | the membership is active |
//! | `loyal` | boolean | the loyalty classification |
//!
//! Contact filters read the contact's strings `role`, `email`, `first_name`
//! and `last_name`.
//!
//! ## Meaning
//!
//! - Strings compare with `=`, `!=`, `in` and `not in`, ignoring ASCII case;
//!   `status` and `nps_class` only accept their listed values.
//! - Numbers compare as exact decimals with all six operators and `in`.
//! - Booleans are used bare (`loyal`) or with `=` / `!=` and `true`/`false`.
//! - `contains` asks whether a list holds a string, ignoring ASCII case.
//! - A test on an unknown value is false whatever its operator, so
//!   `employees != 5` is false when the head count is unknown; `is null` and
//!   `is not null` ask for exactly that, and `not` inverts a whole test.
//!
//! ## Examples
//!
//! ```text
//! tier in ["gold", "platinum"] and country = "DE"
//! monetary(365) >= 10000 and not (tags contains "churn-risk")
//! recency_days > 180 or frequency(90) = 0
//! roles contains "procurement" and employees is not null and employees >= 250
//! nps_class = "promoter" and member
//! role = "procurement"                                   (a contact filter)
//! ```

mod eval;
mod parse;

use rust_decimal::Decimal;

use crate::event::TimestampMs;
use crate::scoring::NpsClass;
use crate::tiers::SpendItem;

/// What a filter sees of one account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    /// The account id.
    pub id: i64,
    /// The account's name.
    pub name: String,
    /// The industry, if recorded.
    pub industry: Option<String>,
    /// The ISO 3166-1 alpha-2 country code, if recorded.
    pub country: Option<String>,
    /// The head count, if recorded.
    pub employees: Option<u32>,
    /// The annual revenue, if recorded.
    pub annual_revenue: Option<Decimal>,
    /// The current tier id, if any.
    pub tier: Option<String>,
    /// The membership status (`invited`, `active`, `suspended`, `closed`);
    /// `None` when the account is not a member.
    pub status: Option<String>,
    /// The account's tags.
    pub tags: Vec<String>,
    /// The points balance.
    pub balance: i64,
    /// The account NPS, from -100 to 100, if anyone has answered.
    pub nps: Option<Decimal>,
    /// Where the account NPS puts the account, if known.
    pub nps_class: Option<NpsClass>,
    /// Historical customer lifetime value (revenue), in the program currency.
    pub clv: Decimal,
    /// Predicted customer lifetime value, in the program currency.
    pub predicted_clv: Decimal,
    /// The loyalty classification.
    pub loyal: bool,
    /// Paid purchases, net of refunds, in the program currency.
    pub purchases: Vec<SpendItem>,
    /// The account's contacts.
    pub contacts: Vec<ContactProfile>,
}

/// What a filter sees of one contact.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactProfile {
    /// The contact id.
    pub id: i64,
    /// The email address, if known.
    pub email: Option<String>,
    /// The first name, if known.
    pub first_name: Option<String>,
    /// The last name, if known.
    pub last_name: Option<String>,
    /// The role in the account ("procurement", "finance", ...), if known.
    pub role: Option<String>,
}

/// Which facts a filter reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// Account fields: firmographics, membership, scores, purchases.
    Account,
    /// Contact fields: role, email and names.
    Contact,
}

/// A parsed, type-checked segment filter and the text it was parsed from.
///
/// ```
/// use loyalty_core::segments::{Filter, Profile, Subject};
///
/// let filter = Filter::parse(r#"country = "de" and not loyal"#, Subject::Account)?;
/// let account = Profile { country: Some("DE".into()), ..Profile::default() };
/// assert!(filter.matches(&account, 0));
/// # Ok::<(), loyalty_core::segments::SyntaxError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    source: String,
    subject: Subject,
    expr: Expr,
}

impl Filter {
    /// Parses and type-checks `text` as a filter over `subject`.
    pub fn parse(text: &str, subject: Subject) -> Result<Filter, SyntaxError> {
        let expr = parse::parse(text, subject)?;
        Ok(Filter {
            source: text.to_owned(),
            subject,
            expr,
        })
    }

    /// The text the filter was parsed from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Which facts the filter reads.
    pub fn subject(&self) -> Subject {
        self.subject
    }

    /// Account filters: whether the account matches at `now`. A contact
    /// filter matches no account, so that passing the wrong filter selects
    /// nobody rather than everybody.
    pub fn matches(&self, account: &Profile, now: TimestampMs) -> bool {
        self.subject == Subject::Account
            && eval::matches(&self.expr, &eval::Account { account, now })
    }

    /// Contact filters: whether the contact matches. An account filter
    /// matches no contact.
    pub fn matches_contact(&self, contact: &ContactProfile) -> bool {
        self.subject == Subject::Contact && eval::matches(&self.expr, contact)
    }
}

impl serde::Serialize for Filter {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.source)
    }
}

/// Why a filter does not parse: where, and what was expected there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct SyntaxError {
    /// The column of the offending token's first character, 1-based, in
    /// characters (not bytes).
    pub column: usize,
    /// What is wrong, and what was expected.
    pub message: String,
}

/// A filter expression. `Or` and `And` hold two or more operands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Not(Box<Expr>),
    Test(Test),
}

/// One type-checked test; the parser only builds tests whose field and
/// values have matching types.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Test {
    /// The string equals one of `values` (ASCII case ignored), or with
    /// `negated` none of them. `=` and `!=` are one-value lists.
    Text {
        field: TextField,
        values: Vec<String>,
        negated: bool,
    },
    /// The number compares with `value`.
    Compare {
        field: NumberField,
        cmp: Cmp,
        value: Decimal,
    },
    /// The number is one of `values`, or with `negated` none of them.
    NumberIn {
        field: NumberField,
        values: Vec<Decimal>,
        negated: bool,
    },
    /// The boolean equals `value`.
    Flag { field: FlagField, value: bool },
    /// The list holds `value` (ASCII case ignored).
    Contains { field: ListField, value: String },
    /// The value is unknown, or with `negated` known.
    Null { field: Scalar, negated: bool },
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A field that can be unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scalar {
    Text(TextField),
    Number(NumberField),
}

/// String fields of both subjects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TextField {
    Industry,
    Country,
    Tier,
    Status,
    NpsClass,
    Name,
    Role,
    Email,
    FirstName,
    LastName,
}

/// Number fields; the windows are in days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NumberField {
    Employees,
    AnnualRevenue,
    Balance,
    Nps,
    Clv,
    PredictedClv,
    RecencyDays,
    Frequency(u32),
    Monetary(u32),
}

/// Boolean fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FlagField {
    Member,
    Loyal,
}

/// List-of-strings fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListField {
    Tags,
    Roles,
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY_MS: i64 = 86_400_000;
    const NOW: TimestampMs = 20_000 * DAY_MS;

    fn dec(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    fn account_filter(text: &str) -> Filter {
        Filter::parse(text, Subject::Account).unwrap()
    }

    #[test]
    fn a_filter_keeps_its_source_and_serializes_as_it() {
        let text = r#"tier = "gold"  or loyal"#;
        let filter = account_filter(text);
        assert_eq!(filter.source(), text);
        assert_eq!(filter.subject(), Subject::Account);
        assert_eq!(
            serde_json::to_string(&filter).unwrap(),
            r#""tier = \"gold\"  or loyal""#
        );
    }

    #[test]
    fn filters_are_equal_when_their_text_is() {
        assert_eq!(account_filter("loyal"), account_filter("loyal"));
        assert_ne!(account_filter("loyal"), account_filter("(loyal)"));
    }

    #[test]
    fn a_contact_filter_matches_no_account_and_an_account_filter_no_contact() {
        let by_role = Filter::parse(r#"not (role = "x")"#, Subject::Contact).unwrap();
        assert!(by_role.matches_contact(&ContactProfile::default()));
        assert!(!by_role.matches(&Profile::default(), NOW));
        let not_loyal = account_filter("not loyal");
        assert!(not_loyal.matches(&Profile::default(), NOW));
        assert!(!not_loyal.matches_contact(&ContactProfile::default()));
    }

    #[test]
    fn the_gold_and_platinum_german_big_spenders_not_at_risk() {
        let filter = account_filter(
            r#"tier in ["gold", "platinum"] and country = "DE" and monetary(365) >= 10000 and not (tags contains "churn-risk")"#,
        );
        let purchase = |days_ago: i64, amount: &str| SpendItem {
            placed_at: NOW - days_ago * DAY_MS,
            amount: dec(amount),
        };
        let account = Profile {
            tier: Some("Platinum".into()),
            country: Some("de".into()),
            tags: vec!["enterprise".into()],
            // 6000 + 4000 in the year; the purchase 365 days ago is outside it.
            purchases: vec![
                purchase(10, "6000"),
                purchase(364, "4000"),
                purchase(365, "50000"),
            ],
            ..Profile::default()
        };
        assert!(filter.matches(&account, NOW));

        let short = Profile {
            purchases: vec![purchase(10, "6000"), purchase(364, "3999.99")],
            ..account.clone()
        };
        assert!(!filter.matches(&short, NOW));

        let at_risk = Profile {
            tags: vec!["CHURN-RISK".into()],
            ..account.clone()
        };
        assert!(!filter.matches(&at_risk, NOW));

        let silver = Profile {
            tier: Some("silver".into()),
            ..account.clone()
        };
        assert!(!filter.matches(&silver, NOW));

        let untiered = Profile {
            tier: None,
            ..account.clone()
        };
        assert!(!filter.matches(&untiered, NOW));

        let french = Profile {
            country: Some("FR".into()),
            ..account
        };
        assert!(!filter.matches(&french, NOW));
    }
}
