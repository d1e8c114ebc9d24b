//! The program's earning rule: how money becomes points.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use crate::CoreError;
use crate::event::{Money, TimestampMs};

/// How a fractional point amount becomes whole points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rounding {
    /// Down to the whole point (never awards a fraction not earned).
    Floor,
    /// To the nearest, halves away from zero.
    HalfUp,
    /// To the nearest, halves to even (banker's rounding).
    HalfEven,
}

/// A loyalty program: how members earn, which tiers and rewards exist, when
/// points expire, who may join. Programs are versioned: every ledger entry
/// records the version that produced it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Program {
    /// ISO 4217 code points are earned in.
    pub currency: String,
    /// Points per one unit of `currency`.
    #[serde(with = "rust_decimal::serde::str")]
    pub points_per_unit: Decimal,
    /// Rounding of fractional points.
    pub rounding: Rounding,
    /// Rate converting one unit of another currency into `currency`.
    pub exchange_rates: BTreeMap<String, Decimal>,
    /// Recorded with every entry, so an entry always says which rule made it.
    pub version: String,
    /// When this version comes into force; events that happened earlier are
    /// judged by the version in force then. `None` in a configuration that
    /// does not say: the version is in force from when the daemon first
    /// loads it.
    pub effective_from: Option<TimestampMs>,
    /// Multipliers, minimums and caps on earning from purchases.
    pub earning: EarningRules,
    /// One-time bonuses for reaching a rolling spend.
    pub milestones: Vec<Milestone>,
    /// Points for engaging (answering a survey, attending an event).
    pub engagement: Vec<EngagementRule>,
    /// Tiers on rolling qualifying spend.
    pub tiers: TierRules,
    /// What members can redeem points for.
    pub rewards: Vec<Reward>,
    /// When unspent points expire; `None`: never.
    pub expiry: Option<Expiry>,
    /// Who is a member.
    pub membership: Membership,
    /// Terms and conditions, oldest version first.
    pub terms: Vec<Terms>,
    /// Referral codes, commissions and payouts.
    #[serde(default)]
    pub referrals: crate::commissions::ReferralRules,
    /// How accounts are scored: NPS, lifetime value, loyalty.
    #[serde(default)]
    pub scoring: crate::profiles::Settings,
    /// What analytics need beyond the records: costs and the baseline.
    #[serde(default)]
    pub analytics: crate::analytics::Settings,
}

/// Every version of the program, each in force from its `effective_from`
/// until the next one's: events are judged by the version in force when
/// they happened, so a rule change never rewrites history.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProgramHistory {
    versions: Vec<std::sync::Arc<Program>>,
}

impl ProgramHistory {
    /// A history of these versions; each must have an `effective_from`
    /// (a version without one counts from the start of time). Versions
    /// with the same `effective_from` keep their order, the later winning.
    pub fn new(mut versions: Vec<std::sync::Arc<Program>>) -> Self {
        versions.sort_by_key(|p| p.effective_from.unwrap_or(TimestampMs::MIN));
        Self { versions }
    }

    /// The version in force at `at`; before the first version, the first.
    pub fn at(&self, at: TimestampMs) -> Option<&std::sync::Arc<Program>> {
        self.versions
            .iter()
            .rev()
            .find(|p| p.effective_from.unwrap_or(TimestampMs::MIN) <= at)
            .or_else(|| self.versions.first())
    }

    /// Every version, oldest first.
    pub fn versions(&self) -> &[std::sync::Arc<Program>] {
        &self.versions
    }
}

/// A calendar period in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// A calendar month.
    Month,
    /// A calendar quarter.
    Quarter,
    /// A calendar year.
    Year,
}

impl Period {
    /// The period containing `at`, as `[start, end)` in milliseconds.
    /// Timestamps outside the calendar's range fall into one period
    /// spanning everything, so that no input makes this fail.
    pub fn bounds(self, at: TimestampMs) -> (TimestampMs, TimestampMs) {
        self.civil_bounds(at)
            .unwrap_or((TimestampMs::MIN, TimestampMs::MAX))
    }

    fn civil_bounds(self, at: TimestampMs) -> Option<(TimestampMs, TimestampMs)> {
        let date = jiff::Timestamp::from_millisecond(at)
            .ok()?
            .to_zoned(jiff::tz::TimeZone::UTC)
            .date();
        let (first_month, months) = match self {
            Self::Month => (date.month(), 1),
            Self::Quarter => ((date.month() - 1) / 3 * 3 + 1, 3),
            Self::Year => (1, 12),
        };
        let start = jiff::civil::date(date.year(), first_month, 1);
        let end = start.checked_add(jiff::Span::new().months(months)).ok()?;
        let ms = |d: jiff::civil::Date| {
            d.to_zoned(jiff::tz::TimeZone::UTC)
                .ok()
                .map(|z| z.timestamp().as_millisecond())
        };
        Some((ms(start)?, ms(end)?))
    }
}

/// Limits and multipliers on earning from purchases.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EarningRules {
    /// A purchase worth less than this (in the program currency, net) earns
    /// nothing.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub min_order: Option<Decimal>,
    /// At most this many points from one purchase.
    pub order_cap: Option<i64>,
    /// At most this many points from purchases placed in one period.
    pub period_cap: Option<PeriodCap>,
    /// Multipliers on what lines or accounts earn.
    pub multipliers: Vec<Multiplier>,
}

/// A cap on points per period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PeriodCap {
    /// The most points.
    pub points: i64,
    /// Per which period.
    pub period: Period,
}

/// What a multiplier applies to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MultiplierTarget {
    /// Lines with this SKU.
    Sku(String),
    /// Lines in this category.
    Category(String),
    /// Every purchase of accounts carrying this segment tag.
    Tag(String),
}

/// Earn `factor` times the base points on what `target` matches.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Multiplier {
    /// What it applies to.
    pub target: MultiplierTarget,
    /// The factor (greater than zero).
    #[serde(with = "rust_decimal::serde::str")]
    pub factor: Decimal,
}

/// A bonus paid once per account when its qualifying spend over a rolling
/// window first reaches a threshold.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Milestone {
    /// Stable name; part of the bonus's effect key, so it is paid once.
    pub id: String,
    /// Qualifying spend to reach, in the program currency.
    #[serde(with = "rust_decimal::serde::str")]
    pub spend: Decimal,
    /// The rolling window the spend is summed over, in days.
    pub window_days: u32,
    /// Bonus points.
    pub points: i64,
}

/// Kinds of engagement that can earn points.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum EngagementKind {
    /// Answered an NPS survey.
    NpsResponse,
    /// Answered a survey.
    SurveyAnswered,
    /// Attended an event.
    EventAttended,
    /// Took a social action (a review, a share).
    SocialAction,
    /// Submitted a form.
    FormSubmitted,
    /// Referred an account that qualified.
    Referral,
}

impl EngagementKind {
    /// The configured and stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NpsResponse => "nps_response",
            Self::SurveyAnswered => "survey_answered",
            Self::EventAttended => "event_attended",
            Self::SocialAction => "social_action",
            Self::FormSubmitted => "form_submitted",
            Self::Referral => "referral",
        }
    }
}

/// Points for one kind of engagement, at most `limit` times per period.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EngagementRule {
    /// The kind rewarded.
    pub kind: EngagementKind,
    /// Points per engagement.
    pub points: i64,
    /// At most this many rewarded engagements of this kind per account and
    /// period; `None`: no limit.
    pub limit: Option<EngagementLimit>,
}

/// How often an engagement kind is rewarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EngagementLimit {
    /// How many times.
    pub count: u32,
    /// Per which period.
    pub period: Period,
}

/// Tiers on rolling qualifying spend.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TierRules {
    /// The rolling window qualifying spend is summed over, in days.
    pub window_days: u32,
    /// How long spend must stay below the current tier before the account
    /// moves down, in days.
    pub grace_days: u32,
    /// The tiers, lowest first.
    pub tiers: Vec<Tier>,
}

/// A tier and its benefits.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Tier {
    /// Stable name.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Qualifying spend needed, in the program currency.
    #[serde(with = "rust_decimal::serde::str")]
    pub min_spend: Decimal,
    /// Discount on purchases, in percent (a benefit the storefront applies).
    #[serde(with = "rust_decimal::serde::str")]
    pub discount_percent: Decimal,
    /// Multiplier on points earned from purchases.
    #[serde(with = "rust_decimal::serde::str")]
    pub earn_multiplier: Decimal,
    /// Other benefits, as text.
    pub perks: Vec<String>,
}

/// What a reward is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RewardKind {
    /// A discount on future purchases.
    Discount,
    /// A digital gift card.
    GiftCard,
    /// An exclusive product or early access.
    ExclusiveProduct,
    /// A training session or another business service.
    Service,
    /// An invitation to a VIP event.
    VipEvent,
}

/// Who fulfils a redemption.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fulfilment {
    /// A person, who confirms or fails it through the admin API.
    Manual,
    /// A connector's `fulfil-reward`.
    Connector(String),
}

/// A reward in the catalog.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Reward {
    /// Stable name.
    pub id: String,
    /// Display name.
    pub name: String,
    /// What it is.
    pub kind: RewardKind,
    /// Its price in points.
    pub points: i64,
    /// What it is worth, when it has a money value (a gift card's amount).
    pub value: Option<Money>,
    /// How many can be redeemed in all; `None`: unlimited.
    pub stock: Option<u32>,
    /// Tiers whose members may redeem it; empty: everyone.
    pub tiers: Vec<String>,
    /// Who fulfils it.
    pub fulfilment: Fulfilment,
    /// Description shown to members.
    pub description: String,
}

/// When points expire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Expiry {
    /// Points expire this many days after they were earned, oldest first.
    pub after_days: u32,
}

/// How accounts become members.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Enrollment {
    /// Every account is a member from the moment it is known.
    Open,
    /// Accounts are invited (by an admin) and then enroll.
    InviteOnly,
    /// An account is a member while one of its contracts is active.
    Contract,
}

/// Who is a member.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Membership {
    /// How accounts join.
    pub enrollment: Enrollment,
    /// Whether a reversal may take the balance below zero (it is then repaid
    /// by later earnings). When `false`, the reversal is still recorded in
    /// full and an explicit `adjust` entry writes the negative balance off.
    pub allow_negative_balance: bool,
    /// Who may be invited into an invite-only program.
    #[serde(default)]
    pub eligibility: Eligibility,
}

/// Rules an account must meet to be invited; empty rules admit everyone.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Eligibility {
    /// Qualifying spend over `window_days` the account needs, in the program
    /// currency.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub min_spend: Option<Decimal>,
    /// The window `min_spend` is summed over, in days.
    pub window_days: u32,
    /// Countries (ISO 3166-1 alpha-2) accounts must be in; empty: any.
    pub countries: Vec<String>,
    /// Industries accounts must be in; empty: any.
    pub industries: Vec<String>,
    /// Employees the account needs.
    pub min_employees: Option<u32>,
    /// Only loyal accounts (see [`crate::profiles::Settings::loyalty`]).
    #[serde(default)]
    pub loyal: bool,
}

impl Default for Eligibility {
    fn default() -> Self {
        Self {
            min_spend: None,
            window_days: 365,
            countries: Vec::new(),
            industries: Vec::new(),
            min_employees: None,
            loyal: false,
        }
    }
}

impl Default for Membership {
    fn default() -> Self {
        Self {
            enrollment: Enrollment::Open,
            allow_negative_balance: true,
            eligibility: Eligibility::default(),
        }
    }
}

/// A version of the terms and conditions.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Terms {
    /// Version name, e.g. `"2026-01"`.
    pub version: String,
    /// When it applies from.
    pub effective_from: TimestampMs,
    /// The full text (Markdown).
    pub text: String,
}

impl Program {
    /// A program with only a base earning rate: no multipliers, caps, tiers,
    /// rewards or expiry; open enrollment.
    pub fn basic(currency: &str, points_per_unit: Decimal, rounding: Rounding) -> Self {
        Self {
            currency: currency.to_owned(),
            points_per_unit,
            rounding,
            exchange_rates: BTreeMap::new(),
            version: "basic".to_owned(),
            effective_from: None,
            earning: EarningRules::default(),
            milestones: Vec::new(),
            engagement: Vec::new(),
            tiers: TierRules::default(),
            rewards: Vec::new(),
            expiry: None,
            membership: Membership::default(),
            terms: Vec::new(),
            referrals: crate::commissions::ReferralRules::default(),
            scoring: crate::profiles::Settings::default(),
            analytics: crate::analytics::Settings::default(),
        }
    }

    /// The terms in force at `at`: the newest version whose
    /// `effective_from` has passed.
    pub fn terms_at(&self, at: TimestampMs) -> Option<&Terms> {
        self.terms.iter().rev().find(|t| t.effective_from <= at)
    }

    /// The reward with this id.
    pub fn reward(&self, id: &str) -> Option<&Reward> {
        self.rewards.iter().find(|r| r.id == id)
    }

    /// The tier with this id.
    pub fn tier(&self, id: &str) -> Option<&Tier> {
        self.tiers.tiers.iter().find(|t| t.id == id)
    }

    /// The rate converting `currency` into the program currency.
    pub fn rate(&self, currency: &str) -> Result<Decimal, CoreError> {
        if currency == self.currency {
            return Ok(Decimal::ONE);
        }
        self.exchange_rates
            .get(currency)
            .copied()
            .ok_or_else(|| CoreError::NoExchangeRate {
                from: currency.to_owned(),
                to: self.currency.clone(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_in_force_is_the_newest_already_effective() {
        let version = |name: &str, from: i64| {
            let mut p = Program::basic("EUR", Decimal::ONE, Rounding::Floor);
            p.version = name.to_owned();
            p.effective_from = Some(from);
            std::sync::Arc::new(p)
        };
        let history = ProgramHistory::new(vec![version("b", 200), version("a", 100)]);
        let at = |t: i64| history.at(t).map(|p| p.version.clone());
        assert_eq!(at(50).as_deref(), Some("a"), "before the first: the first");
        assert_eq!(at(100).as_deref(), Some("a"));
        assert_eq!(at(199).as_deref(), Some("a"));
        assert_eq!(at(200).as_deref(), Some("b"));
        assert_eq!(ProgramHistory::default().at(0), None);
    }

    #[test]
    fn periods_are_utc_calendar_periods() {
        // 2026-05-17T10:00:00Z
        let at = 1_779_012_000_000;
        // 2026-05-01, 2026-06-01, 2026-04-01, 2026-07-01, 2026-01-01, 2027-01-01.
        assert_eq!(
            Period::Month.bounds(at),
            (1_777_593_600_000, 1_780_272_000_000)
        );
        assert_eq!(
            Period::Quarter.bounds(at),
            (1_775_001_600_000, 1_782_864_000_000)
        );
        assert_eq!(
            Period::Year.bounds(at),
            (1_767_225_600_000, 1_798_761_600_000)
        );
        let (start, end) = Period::Month.bounds(1_777_593_600_000);
        assert_eq!((start, end), (1_777_593_600_000, 1_780_272_000_000));
    }
}
