//! Membership: who is in the program. Open programs enroll every account
//! they learn of; invite-only programs enroll accounts an admin invited once
//! they accept; contract programs make an account a member while one of its
//! contracts is in force. Only active members earn and redeem.

use rust_decimal::Decimal;

use crate::event::{Contract, ContractStatus, TimestampMs};
use crate::program::{Eligibility, Enrollment, Program};

/// An account's membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MembershipStatus {
    /// Invited, not yet enrolled.
    Invited,
    /// A member: earns and redeems.
    Active,
    /// Paused by an admin: keeps its points, earns and redeems nothing.
    Suspended,
    /// Left the program.
    Closed,
}

impl MembershipStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invited => "invited",
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Closed => "closed",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Invited, Self::Active, Self::Suspended, Self::Closed]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// The membership a newly known account starts with.
pub fn initial_status(program: &Program) -> Option<MembershipStatus> {
    match program.membership.enrollment {
        Enrollment::Open => Some(MembershipStatus::Active),
        Enrollment::InviteOnly | Enrollment::Contract => None,
    }
}

/// Whether a contract is in force at `at`.
pub fn contract_in_force(contract: &Contract, at: TimestampMs) -> bool {
    contract.status == ContractStatus::Active
        && contract.starts_at.is_none_or(|start| start <= at)
        && contract.ends_at.is_none_or(|end| at <= end)
}

/// The membership a contract program gives an account whose contracts are
/// `contracts`: active while one is in force; a suspension or closure by an
/// admin stands.
pub fn by_contracts(
    current: Option<MembershipStatus>,
    contracts: &[Contract],
    at: TimestampMs,
) -> Option<MembershipStatus> {
    match current {
        Some(MembershipStatus::Suspended | MembershipStatus::Closed) => current,
        _ if contracts.iter().any(|c| contract_in_force(c, at)) => Some(MembershipStatus::Active),
        Some(MembershipStatus::Active) => None,
        other => other,
    }
}

/// What eligibility looks at in an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountFacts<'a> {
    /// ISO 3166-1 alpha-2 country.
    pub country: Option<&'a str>,
    /// Industry.
    pub industry: Option<&'a str>,
    /// Employees.
    pub employees: Option<u32>,
    /// Qualifying spend over the eligibility window, program currency.
    pub spend: Decimal,
    /// Whether the loyalty classification counts it loyal.
    pub loyal: bool,
}

/// Why an account may not be invited into an invite-only program: one
/// sentence per rule it fails; empty when it is eligible.
pub fn eligibility_problems(rules: &Eligibility, account: &AccountFacts<'_>) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(min) = rules.min_spend
        && account.spend < min
    {
        problems.push(format!(
            "qualifying spend over {} days is {}, below the {min} required",
            rules.window_days, account.spend
        ));
    }
    if !rules.countries.is_empty()
        && !account.country.is_some_and(|c| {
            rules
                .countries
                .iter()
                .any(|allowed| allowed.eq_ignore_ascii_case(c))
        })
    {
        problems.push(format!(
            "country {} is not one of {}",
            account.country.unwrap_or("(unknown)"),
            rules.countries.join(", ")
        ));
    }
    if !rules.industries.is_empty()
        && !account.industry.is_some_and(|i| {
            rules
                .industries
                .iter()
                .any(|allowed| allowed.eq_ignore_ascii_case(i))
        })
    {
        problems.push(format!(
            "industry {} is not one of {}",
            account.industry.unwrap_or("(unknown)"),
            rules.industries.join(", ")
        ));
    }
    if rules.loyal && !account.loyal {
        problems.push(
            "not loyal: its NPS class or its CLV rank is outside [program.scoring.loyalty]"
                .to_owned(),
        );
    }
    if let Some(min) = rules.min_employees
        && account.employees.is_none_or(|e| e < min)
    {
        problems.push(format!(
            "{} employees, below the {min} required",
            account
                .employees
                .map_or_else(|| "unknown".to_owned(), |e| e.to_string())
        ));
    }
    problems
}

/// Whether an admin may move a membership from `from` to `to`.
pub fn transition_allowed(from: Option<MembershipStatus>, to: MembershipStatus) -> bool {
    use MembershipStatus::{Active, Closed, Invited, Suspended};
    matches!(
        (from, to),
        (None | Some(Closed), Invited)
            | (None | Some(Invited | Suspended | Closed), Active)
            | (Some(Active), Suspended)
            | (Some(Invited | Active | Suspended), Closed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contract(status: ContractStatus, starts: i64, ends: i64) -> Contract {
        Contract {
            source_id: "k1".to_owned(),
            version: 1,
            account_id: "a1".to_owned(),
            status,
            name: None,
            starts_at: Some(starts),
            ends_at: Some(ends),
            value: None,
        }
    }

    #[test]
    fn a_contract_makes_a_member_only_while_in_force() {
        let active = [contract(ContractStatus::Active, 10, 20)];
        assert_eq!(
            by_contracts(None, &active, 15),
            Some(MembershipStatus::Active)
        );
        assert_eq!(
            by_contracts(Some(MembershipStatus::Active), &active, 21),
            None
        );
        assert_eq!(by_contracts(None, &active, 9), None);
        let cancelled = [contract(ContractStatus::Cancelled, 10, 20)];
        assert_eq!(
            by_contracts(Some(MembershipStatus::Active), &cancelled, 15),
            None
        );
        assert_eq!(
            by_contracts(Some(MembershipStatus::Suspended), &active, 15),
            Some(MembershipStatus::Suspended)
        );
    }

    #[test]
    fn eligibility_names_every_rule_an_account_fails() {
        let rules = Eligibility {
            min_spend: Some(Decimal::from(10_000)),
            window_days: 365,
            countries: vec!["DE".to_owned(), "AT".to_owned()],
            industries: vec!["Manufacturing".to_owned()],
            min_employees: Some(50),
            loyal: false,
        };
        let fits = AccountFacts {
            country: Some("de"),
            industry: Some("manufacturing"),
            employees: Some(120),
            spend: Decimal::from(12_000),
            loyal: false,
        };
        assert!(eligibility_problems(&rules, &fits).is_empty());
        let small = AccountFacts {
            country: Some("FR"),
            industry: None,
            employees: Some(10),
            spend: Decimal::from(900),
            loyal: false,
        };
        assert_eq!(
            eligibility_problems(&rules, &small),
            [
                "qualifying spend over 365 days is 900, below the 10000 required",
                "country FR is not one of DE, AT",
                "industry (unknown) is not one of Manufacturing",
                "10 employees, below the 50 required",
            ]
        );
        assert!(eligibility_problems(&Eligibility::default(), &small).is_empty());
    }

    #[test]
    fn admins_move_memberships_along_allowed_paths() {
        assert!(transition_allowed(None, MembershipStatus::Invited));
        assert!(transition_allowed(
            Some(MembershipStatus::Invited),
            MembershipStatus::Active
        ));
        assert!(transition_allowed(
            Some(MembershipStatus::Active),
            MembershipStatus::Suspended
        ));
        assert!(!transition_allowed(
            Some(MembershipStatus::Active),
            MembershipStatus::Invited
        ));
        assert!(!transition_allowed(
            Some(MembershipStatus::Closed),
            MembershipStatus::Suspended
        ));
    }
}
