//! Evaluation of parsed segment filters against an account or a contact.
//! The parser has already checked every type, so evaluation only has to
//! read facts: an unknown fact makes its test false.

use rust_decimal::Decimal;

use super::{
    Cmp, ContactProfile, Expr, FlagField, ListField, NumberField, Profile, Scalar, Test, TextField,
};
use crate::event::TimestampMs;
use crate::tiers::qualifying_spend;

/// One day in milliseconds.
const DAY_MS: i64 = 86_400_000;

/// The facts one subject offers a filter; `None` for a fact that is
/// unknown or that the subject does not have.
pub(super) trait Facts {
    fn text(&self, field: TextField) -> Option<&str>;
    fn number(&self, field: NumberField) -> Option<Decimal>;
    fn flag(&self, field: FlagField) -> Option<bool>;
    fn list_contains(&self, field: ListField, value: &str) -> bool;
}

/// An account as seen at `now`, which the purchase windows count back from.
pub(super) struct Account<'a> {
    pub(super) account: &'a Profile,
    pub(super) now: TimestampMs,
}

/// Whether `facts` satisfy `expr`.
pub(super) fn matches(expr: &Expr, facts: &impl Facts) -> bool {
    match expr {
        Expr::Or(operands) => operands.iter().any(|operand| matches(operand, facts)),
        Expr::And(operands) => operands.iter().all(|operand| matches(operand, facts)),
        Expr::Not(operand) => !matches(operand, facts),
        Expr::Test(test) => holds(test, facts),
    }
}

fn holds(test: &Test, facts: &impl Facts) -> bool {
    match test {
        Test::Text {
            field,
            values,
            negated,
        } => facts.text(*field).is_some_and(|actual| {
            values
                .iter()
                .any(|value| value.eq_ignore_ascii_case(actual))
                != *negated
        }),
        Test::Compare { field, cmp, value } => {
            facts.number(*field).is_some_and(|actual| match cmp {
                Cmp::Eq => actual == *value,
                Cmp::Ne => actual != *value,
                Cmp::Lt => actual < *value,
                Cmp::Le => actual <= *value,
                Cmp::Gt => actual > *value,
                Cmp::Ge => actual >= *value,
            })
        }
        Test::NumberIn {
            field,
            values,
            negated,
        } => facts
            .number(*field)
            .is_some_and(|actual| values.contains(&actual) != *negated),
        Test::Flag { field, value } => facts.flag(*field).is_some_and(|actual| actual == *value),
        Test::Contains { field, value } => facts.list_contains(*field, value),
        Test::Null { field, negated } => {
            let known = match field {
                Scalar::Text(field) => facts.text(*field).is_some(),
                Scalar::Number(field) => facts.number(*field).is_some(),
            };
            known == *negated
        }
    }
}

impl Facts for Account<'_> {
    fn text(&self, field: TextField) -> Option<&str> {
        let account = self.account;
        match field {
            TextField::Industry => account.industry.as_deref(),
            TextField::Country => account.country.as_deref(),
            TextField::Tier => account.tier.as_deref(),
            TextField::Status => Some(account.status.as_deref().unwrap_or("none")),
            TextField::NpsClass => account.nps_class.map(|class| class.as_str()),
            TextField::Name => Some(&account.name),
            TextField::Role | TextField::Email | TextField::FirstName | TextField::LastName => None,
        }
    }

    fn number(&self, field: NumberField) -> Option<Decimal> {
        let account = self.account;
        match field {
            NumberField::Employees => account.employees.map(Decimal::from),
            NumberField::AnnualRevenue => account.annual_revenue,
            NumberField::Balance => Some(Decimal::from(account.balance)),
            NumberField::Nps => account.nps,
            NumberField::Clv => Some(account.clv),
            NumberField::PredictedClv => Some(account.predicted_clv),
            NumberField::RecencyDays => self.recency_days().map(Decimal::from),
            NumberField::Frequency(days) => Some(Decimal::from(self.frequency(days))),
            NumberField::Monetary(days) => {
                Some(qualifying_spend(&account.purchases, days, self.now))
            }
        }
    }

    fn flag(&self, field: FlagField) -> Option<bool> {
        Some(match field {
            FlagField::Member => self
                .account
                .status
                .as_deref()
                .is_some_and(|status| status.eq_ignore_ascii_case("active")),
            FlagField::Loyal => self.account.loyal,
        })
    }

    fn list_contains(&self, field: ListField, value: &str) -> bool {
        match field {
            ListField::Tags => self
                .account
                .tags
                .iter()
                .any(|tag| tag.eq_ignore_ascii_case(value)),
            ListField::Roles => self
                .account
                .contacts
                .iter()
                .filter_map(|contact| contact.role.as_deref())
                .any(|role| role.eq_ignore_ascii_case(value)),
        }
    }
}

impl Account<'_> {
    /// Whole days since the latest purchase placed at or before `now`;
    /// purchases dated after `now` have not happened yet as far as the
    /// filter is concerned, like in the purchase windows.
    fn recency_days(&self) -> Option<i64> {
        self.account
            .purchases
            .iter()
            .map(|purchase| purchase.placed_at)
            .filter(|placed_at| *placed_at <= self.now)
            .max()
            .map(|latest| self.now.saturating_sub(latest) / DAY_MS)
    }

    /// Purchases placed in `(now - days, now]`, the window
    /// [`qualifying_spend`] sums over.
    fn frequency(&self, days: u32) -> usize {
        let start = self.now.saturating_sub(i64::from(days) * DAY_MS);
        self.account
            .purchases
            .iter()
            .filter(|purchase| purchase.placed_at > start && purchase.placed_at <= self.now)
            .count()
    }
}

impl Facts for ContactProfile {
    fn text(&self, field: TextField) -> Option<&str> {
        match field {
            TextField::Role => self.role.as_deref(),
            TextField::Email => self.email.as_deref(),
            TextField::FirstName => self.first_name.as_deref(),
            TextField::LastName => self.last_name.as_deref(),
            TextField::Industry
            | TextField::Country
            | TextField::Tier
            | TextField::Status
            | TextField::NpsClass
            | TextField::Name => None,
        }
    }

    fn number(&self, _: NumberField) -> Option<Decimal> {
        None
    }

    fn flag(&self, _: FlagField) -> Option<bool> {
        None
    }

    fn list_contains(&self, _: ListField, _: &str) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Filter, Subject};
    use super::*;
    use crate::scoring::NpsClass;
    use crate::tiers::SpendItem;

    const NOW: TimestampMs = 20_000 * DAY_MS;

    fn dec(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    fn matches(text: &str, account: &Profile) -> bool {
        Filter::parse(text, Subject::Account)
            .unwrap()
            .matches(account, NOW)
    }

    fn contact_matches(text: &str, contact: &ContactProfile) -> bool {
        Filter::parse(text, Subject::Contact)
            .unwrap()
            .matches_contact(contact)
    }

    fn purchase(placed_at: TimestampMs, amount: &str) -> SpendItem {
        SpendItem {
            placed_at,
            amount: dec(amount),
        }
    }

    fn contact(role: Option<&str>) -> ContactProfile {
        ContactProfile {
            role: role.map(str::to_owned),
            ..ContactProfile::default()
        }
    }

    /// An account with every fact known.
    fn acme() -> Profile {
        Profile {
            id: 7,
            name: "Acme GmbH".into(),
            industry: Some("Manufacturing".into()),
            country: Some("DE".into()),
            employees: Some(250),
            annual_revenue: Some(dec("12500000.50")),
            tier: Some("gold".into()),
            status: Some("active".into()),
            tags: vec!["Enterprise".into(), "pilot".into()],
            balance: 1200,
            nps: Some(dec("42.5")),
            nps_class: Some(NpsClass::Promoter),
            clv: dec("80000"),
            predicted_clv: dec("95000.25"),
            loyal: true,
            purchases: vec![purchase(NOW - 3 * DAY_MS, "100")],
            contacts: vec![contact(Some("Procurement")), contact(None)],
        }
    }

    /// An account with every optional fact unknown.
    fn blank() -> Profile {
        Profile {
            name: "Blank Ltd".into(),
            ..Profile::default()
        }
    }

    #[test]
    fn string_fields_compare_ignoring_ascii_case() {
        let acme = acme();
        assert!(matches(r#"industry = "manufacturing""#, &acme));
        assert!(matches(r#"country = "de""#, &acme));
        assert!(matches(r#"tier = "GOLD""#, &acme));
        assert!(matches(r#"status = "Active""#, &acme));
        assert!(matches(r#"nps_class = "promoter""#, &acme));
        assert!(matches(r#"name = "acme gmbh""#, &acme));
        assert!(!matches(r#"name = "acme""#, &acme));
        assert!(matches(r#"country != "FR""#, &acme));
        assert!(!matches(r#"country != "DE""#, &acme));
    }

    #[test]
    fn in_and_not_in_test_membership_of_a_list() {
        let acme = acme();
        assert!(matches(r#"country in ["FR", "de", "AT"]"#, &acme));
        assert!(!matches(r#"country in ["FR", "AT"]"#, &acme));
        assert!(matches(r#"country not in ["FR", "AT"]"#, &acme));
        assert!(!matches(r#"country not in ["FR", "DE"]"#, &acme));
        assert!(matches("employees in [100, 250.0]", &acme));
        assert!(matches("employees not in [100, 251]", &acme));
        assert!(!matches("balance not in [1200]", &acme));
    }

    #[test]
    fn number_fields_compare_as_exact_decimals() {
        let acme = acme();
        assert!(matches("employees = 250", &acme));
        assert!(matches("employees >= 250 and employees <= 250", &acme));
        assert!(!matches("employees > 250", &acme));
        assert!(matches("annual_revenue > 12500000.49", &acme));
        assert!(!matches("annual_revenue < 12500000.5", &acme));
        assert!(matches("balance = 1200.00", &acme));
        assert!(matches("nps >= 42.5 and nps < 42.51", &acme));
        assert!(matches("clv != 79999.99", &acme));
        assert!(matches("predicted_clv = 95000.25", &acme));
        let negative = Profile {
            balance: -30,
            nps: Some(dec("-12")),
            ..acme
        };
        assert!(matches("balance < -29.5 and nps = -12", &negative));
    }

    #[test]
    fn boolean_fields_are_tested_bare_or_against_true_and_false() {
        let acme = acme();
        assert!(matches("loyal", &acme));
        assert!(matches("member", &acme));
        assert!(matches("loyal = true and member != false", &acme));
        assert!(!matches("loyal = false", &acme));
        let suspended = Profile {
            status: Some("suspended".into()),
            loyal: false,
            ..acme
        };
        assert!(!matches("member", &suspended));
        assert!(matches("not loyal and member = false", &suspended));
    }

    #[test]
    fn a_non_member_has_status_none_and_is_no_member() {
        let blank = blank();
        assert!(matches(r#"status = "none""#, &blank));
        assert!(matches("not member", &blank));
        assert!(matches("status is not null", &blank));
    }

    #[test]
    fn list_fields_contain_strings_ignoring_ascii_case() {
        let acme = acme();
        assert!(matches(r#"tags contains "enterprise""#, &acme));
        assert!(matches(r#"tags contains "PILOT""#, &acme));
        assert!(!matches(r#"tags contains "pil""#, &acme));
        assert!(matches(r#"roles contains "procurement""#, &acme));
        assert!(!matches(r#"roles contains "finance""#, &acme));
        assert!(!matches(
            r#"roles contains "x" or tags contains "x""#,
            &blank()
        ));
    }

    #[test]
    fn a_test_on_an_unknown_value_is_false_whatever_the_operator() {
        let blank = blank();
        for text in [
            r#"industry = "x""#,
            r#"industry != "x""#,
            r#"country in ["DE"]"#,
            r#"country not in ["DE"]"#,
            r#"tier != "gold""#,
            r#"nps_class != "promoter""#,
            "employees = 5",
            "employees != 5",
            "employees < 5",
            "employees >= 5",
            "annual_revenue not in [1]",
            "nps > -100",
            "recency_days >= 0",
        ] {
            assert!(!matches(text, &blank), "{text}");
        }
    }

    #[test]
    fn is_null_and_not_invert_the_unknown() {
        let blank = blank();
        let acme = acme();
        for field in [
            "industry",
            "country",
            "tier",
            "nps_class",
            "employees",
            "annual_revenue",
            "nps",
            "recency_days",
        ] {
            assert!(matches(&format!("{field} is null"), &blank), "{field}");
            assert!(!matches(&format!("{field} is not null"), &blank), "{field}");
            assert!(!matches(&format!("{field} is null"), &acme), "{field}");
            assert!(matches(&format!("{field} is not null"), &acme), "{field}");
        }
        assert!(matches("not (employees = 5)", &blank));
        assert!(matches("clv is not null and balance is not null", &blank));
    }

    #[test]
    fn and_binds_tighter_than_or() {
        // loyal = false, member = false, tags contains "pilot" = true.
        let account = Profile {
            tags: vec!["pilot".into()],
            ..blank()
        };
        let a_or_b_and_c = r#"tags contains "pilot" or loyal and member"#;
        assert!(matches(a_or_b_and_c, &account));
        assert!(!matches(
            r#"(tags contains "pilot" or loyal) and member"#,
            &account
        ));
        let b_and_c_or_a = r#"loyal and member or tags contains "pilot""#;
        assert!(matches(b_and_c_or_a, &account));
    }

    #[test]
    fn nested_parentheses_and_negations_evaluate_inside_out() {
        let acme = acme();
        assert!(matches(
            r#"((country = "DE" and (tier = "silver" or (employees > 200))))"#,
            &acme
        ));
        assert!(!matches(
            r#"not ((country = "DE") and not (tier = "silver"))"#,
            &acme
        ));
        assert!(matches("not not loyal", &acme));
    }

    #[test]
    fn purchase_windows_exclude_their_start_and_include_now() {
        let account = Profile {
            purchases: vec![
                // Exactly 90 days back: outside `frequency(90)`.
                purchase(NOW - 90 * DAY_MS, "1000"),
                // One ms inside the window.
                purchase(NOW - 90 * DAY_MS + 1, "200"),
                purchase(NOW - 30 * DAY_MS, "30.5"),
                // At `now` itself: inside.
                purchase(NOW, "4"),
                // After `now`: not yet.
                purchase(NOW + 1, "50000"),
            ],
            ..blank()
        };
        assert!(matches("frequency(90) = 3", &account));
        assert!(matches("monetary(90) = 234.5", &account));
        assert!(matches(
            "frequency(91) = 4 and monetary(91) = 1234.5",
            &account
        ));
        assert!(matches("frequency(1) = 1 and monetary(1) = 4", &account));
        assert!(matches("frequency(30) = 1", &account));
        let none = blank();
        assert!(matches("frequency(365) = 0 and monetary(365) = 0", &none));
    }

    #[test]
    fn recency_counts_whole_days_since_the_latest_past_purchase() {
        let at = |ago_ms: i64| Profile {
            purchases: vec![
                purchase(NOW - 400 * DAY_MS, "1"),
                purchase(NOW - ago_ms, "1"),
                purchase(NOW + DAY_MS, "1"),
            ],
            ..blank()
        };
        assert!(matches("recency_days = 0", &at(0)));
        assert!(matches("recency_days = 0", &at(DAY_MS - 1)));
        assert!(matches("recency_days = 1", &at(DAY_MS)));
        assert!(matches("recency_days = 45", &at(45 * DAY_MS + DAY_MS / 2)));
        let only_future = Profile {
            purchases: vec![purchase(NOW + 1, "1")],
            ..blank()
        };
        assert!(matches("recency_days is null", &only_future));
    }

    #[test]
    fn contact_filters_read_the_contact() {
        let buyer = ContactProfile {
            id: 3,
            email: Some("Anna@Example.com".into()),
            first_name: Some("Anna".into()),
            last_name: Some("Schmidt".into()),
            role: Some("Procurement".into()),
        };
        assert!(contact_matches(r#"role = "procurement""#, &buyer));
        assert!(contact_matches(r#"email = "anna@example.com""#, &buyer));
        assert!(contact_matches(
            r#"first_name in ["anna", "ben"] and last_name != "Meyer""#,
            &buyer
        ));
        assert!(!contact_matches(r#"role = "finance""#, &buyer));
        let unknown = ContactProfile::default();
        assert!(!contact_matches(r#"role != "finance""#, &unknown));
        assert!(contact_matches("role is null and email is null", &unknown));
    }
}
