//! `[program]` and `[identity]`: the loyalty program's rules as written.
//! Each table here becomes part of [`crate::core::program::Program`] or
//! [`crate::core::identity::IdentityRules`]; the checks across entries
//! (unique ids, tiers in order, references to tiers and connectors, terms
//! files) happen in `validate`.
//!
//! ```toml
//! [program]
//! currency = "EUR"
//! points_per_unit = "1"
//! rounding = "floor"
//! effective_from = 2026-01-01T00:00:00Z
//!
//! [program.earning]
//! min_order = "250.00"
//!
//! [[program.tiers.levels]]
//! id = "silver"
//! name = "Silver"
//! min_spend = "0"
//!
//! [[program.rewards]]
//! id = "gift-card-100"
//! name = "EUR 100 gift card"
//! kind = "gift_card"
//! points = 10000
//!
//! [identity]
//! match_on = ["external_ref", "tax_id", "domain"]
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use super::{
    Count, CurrencyCode, Days, Id, NonNegativeDecimal, Percent, Points, PositiveDecimal, Timestamp,
};
use crate::core::commissions::{PayIn, PayoutSchedule};
use crate::core::identity::MatchKey;
use crate::core::program::{EngagementKind, Enrollment, Period, RewardKind, Rounding};

/// Default of `window_days` of `[[program.milestones]]` and
/// `[program.tiers]`.
pub const DEFAULT_WINDOW_DAYS: u32 = 365;

/// Default of `[program.tiers] grace_days`.
pub const DEFAULT_GRACE_DAYS: u32 = 90;

/// `[program]`: how members earn points, which tiers and rewards exist, when
/// points expire, who may join, and the terms. Every rule here is part of
/// the program's version, which each ledger entry records.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Program {
    /// ISO 4217 code of the currency points are earned in, e.g. `"EUR"`.
    /// Required.
    pub currency: Option<CurrencyCode>,
    /// Points earned per one unit of `currency`, as a decimal string
    /// (`"1"`, `"0.5"`), never a float. Required.
    pub points_per_unit: Option<PositiveDecimal>,
    /// How a fractional point amount becomes whole points: `"floor"`,
    /// `"half_up"` or `"half_even"`. Required.
    pub rounding: Option<Rounding>,
    /// `[program.exchange_rates]`: for each other currency (ISO 4217 code),
    /// the decimal string converting one unit of it into `currency`.
    /// Purchases in a currency without a rate earn nothing. Default: none.
    #[serde(default)]
    pub exchange_rates: BTreeMap<CurrencyCode, PositiveDecimal>,
    /// When these rules come into force, as a TOML date-time with a UTC
    /// offset (`2026-01-01T00:00:00Z`); events that happened earlier are
    /// judged by the rules in force then. Default: from when the daemon
    /// first loads them.
    pub effective_from: Option<Timestamp>,
    /// How accounts become members: `"open"` (every known account),
    /// `"invite_only"` (an admin invites, the account enrolls) or
    /// `"contract"` (while one of its contracts is active). Default
    /// `"open"`.
    pub enrollment: Option<Enrollment>,
    /// Whether a reversal may take a balance below zero (later earnings
    /// repay it); when `false`, the reversal is still recorded in full and
    /// an explicit `adjust` entry writes the negative balance off. Default
    /// `true`.
    pub allow_negative_balance: Option<bool>,
    /// `[program.eligibility]`: who may be invited into an `invite_only`
    /// program. Default: everyone.
    #[serde(default)]
    pub eligibility: Eligibility,
    /// `[program.earning]`: minimum order, caps and multipliers. Default:
    /// none of them.
    #[serde(default)]
    pub earning: Earning,
    /// `[[program.milestones]]`: one-time bonuses for reaching a spend over
    /// a rolling window. Default: none.
    #[serde(default)]
    pub milestones: Vec<Spanned<Milestone>>,
    /// `[[program.engagement]]`: points for engaging (answering a survey,
    /// attending an event), one rule per kind. Default: none.
    #[serde(default)]
    pub engagement: Vec<Spanned<Engagement>>,
    /// `[program.tiers]`: tiers on rolling qualifying spend. Default: no
    /// tiers.
    #[serde(default)]
    pub tiers: Tiers,
    /// `[[program.rewards]]`: the catalog members redeem points for.
    /// Default: none.
    #[serde(default)]
    pub rewards: Vec<Spanned<Reward>>,
    /// `[program.expiry]`: when unspent points expire. Default: never.
    pub expiry: Option<Spanned<Expiry>>,
    /// `[[program.terms]]`: the terms and conditions, oldest first.
    /// Default: none.
    #[serde(default)]
    pub terms: Vec<Spanned<Terms>>,
    /// `[program.referrals]`: referral codes, commissions and payouts.
    /// Default: codes without commissions.
    pub referrals: Option<Spanned<Referrals>>,
    /// `[program.scoring]`: NPS, lifetime value and loyalty. Default: the
    /// defaults of each key.
    pub scoring: Option<Spanned<Scoring>>,
    /// `[program.analytics]`: costs and the baseline analytics need.
    /// Default: no costs, a 365-day baseline.
    pub analytics: Option<Spanned<Analytics>>,
}

/// `[program.analytics]`: what the program costs and how a member's
/// baseline is measured.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Analytics {
    /// What one point costs when redeemed for a reward without a money
    /// value, in the program currency, a decimal string (`"0.01"`); also
    /// values outstanding points as a liability. Default `"0"`.
    pub point_cost: Option<NonNegativeDecimal>,
    /// A member's baseline revenue is measured over this many days before
    /// it enrolled. Default 365.
    pub baseline_days: Option<Days>,
    /// `[[program.analytics.fixed_costs]]`: costs of running the program
    /// each month. Default: none.
    #[serde(default)]
    pub fixed_costs: Vec<Spanned<FixedCost>>,
}

/// `[[program.analytics.fixed_costs]]`: a monthly cost.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixedCost {
    /// What it is (`"platform"`). Required.
    pub name: Option<Spanned<String>>,
    /// Per calendar month, in the program currency, a decimal string.
    /// Required.
    pub monthly: Option<NonNegativeDecimal>,
}

/// `[program.scoring]`: how accounts are scored.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scoring {
    /// NPS responses older than this many days do not count. Default 365.
    pub nps_window_days: Option<Days>,
    /// Gross margin in percent of revenue (`"35"`): historical and
    /// predicted CLV then also state gross margin. Default: unknown.
    pub margin_percent: Option<Percent>,
    /// Retention (and so the expected lifetime) is measured over windows of
    /// this many days. Default 365.
    pub retention_window_days: Option<Days>,
    /// The longest expected lifetime predicted CLV assumes, in years, a
    /// decimal string. Default `"10"`.
    pub lifetime_cap_years: Option<PositiveDecimal>,
    /// `[program.scoring.loyalty]`: who counts as loyal.
    pub loyalty: Option<Loyalty>,
}

/// `[program.scoring.loyalty]`: loyal accounts are in the top
/// `clv_top_percent` by historical CLV with an NPS class in `nps_classes`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Loyalty {
    /// `"promoter"`, `"passive"`, `"detractor"`; empty: any class, or
    /// none. Default `["promoter"]`.
    pub nps_classes: Option<Vec<crate::core::scoring::NpsClass>>,
    /// The top share of accounts by CLV, in percent, above 0. Default `"25"`.
    pub clv_top_percent: Option<Spanned<Percent>>,
}

/// `[program.referrals]`: how referrers are paid.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Referrals {
    /// Prefix of generated referral codes: 1 to 8 upper-case letters or
    /// digits (`"RW"` gives codes like `RW-7KQ2M9XD`). Default `"REF"`.
    pub code_prefix: Option<Spanned<String>>,
    /// Where a referral link (`{public_base_url}/r/CODE`) sends the visitor,
    /// with `?ref=CODE` added: the sign-up or shop page that carries the
    /// code into the first order. Default: links are not served.
    pub landing_url: Option<Spanned<super::PublicUrl>>,
    /// When money commissions are gathered into payout batches:
    /// `"monthly"` (one batch per calendar month, UTC, once it has ended)
    /// or `"per_purchase"` (a batch as soon as a purchase accrues
    /// commissions). Default `"monthly"`.
    pub payouts: Option<PayoutSchedule>,
    /// `[[program.referrals.commissions]]`: what referrers earn. Default:
    /// none (a referral then earns only the `referral` engagement bonus).
    #[serde(default)]
    pub commissions: Vec<Spanned<Commission>>,
}

/// `[[program.referrals.commissions]]`: one commission rule.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Commission {
    /// Stable name, unique among commissions; recorded with every
    /// commission it pays. Required.
    pub id: Option<Spanned<Id>>,
    /// `"flat"` (per qualified referral), `"revenue_share"` (a percentage
    /// of the referred account's purchases for some months) or
    /// `"goal_bonus"` (once per period in which a referrer's qualified
    /// referrals reach a number). Required.
    pub kind: Option<Spanned<CommissionKindName>>,
    /// `flat`, `goal_bonus`: money paid, a decimal string in the program
    /// currency. At least one of `amount` and `points`.
    pub amount: Option<Spanned<PositiveDecimal>>,
    /// `flat`, `goal_bonus`: points paid.
    pub points: Option<Spanned<Points>>,
    /// `revenue_share`: percent of each purchase's net amount. Required.
    pub percent: Option<Spanned<Percent>>,
    /// `revenue_share`: calendar months after the qualification the share
    /// runs for. Required.
    pub months: Option<Spanned<Count>>,
    /// `revenue_share`: `"money"` or `"points"` (the share converted at
    /// `points_per_unit`). Default `"money"`.
    pub pay_in: Option<Spanned<PayIn>>,
    /// `goal_bonus`: qualified referrals needed in one period. Required.
    pub referrals: Option<Spanned<Count>>,
    /// `goal_bonus`: `"month"`, `"quarter"` or `"year"`. Required.
    pub period: Option<Spanned<Period>>,
}

/// The kind of a commission rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommissionKindName {
    /// Per qualified referral.
    Flat,
    /// A share of the referred account's revenue.
    RevenueShare,
    /// A bonus for reaching a number of referrals in a period.
    GoalBonus,
}

/// `[program.earning]`: limits and multipliers on earning from purchases.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Earning {
    /// A purchase whose net amount (in the program currency) is below this
    /// decimal string earns nothing. Default: no minimum.
    pub min_order: Option<PositiveDecimal>,
    /// At most this many points from one purchase. Default: no cap.
    pub order_cap: Option<Points>,
    /// At most this many points from the purchases of one calendar period
    /// (UTC), e.g. `{ points = 120000, period = "year" }`. Default: no cap.
    pub period_cap: Option<Spanned<PeriodCap>>,
    /// `[[program.earning.multipliers]]`: earn a factor of the base points
    /// on what one target matches. Default: none.
    #[serde(default)]
    pub multipliers: Vec<Spanned<Multiplier>>,
}

/// `period_cap`: the most points per calendar period.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeriodCap {
    /// The most points. Required.
    pub points: Option<Points>,
    /// `"month"`, `"quarter"` or `"year"`. Required.
    pub period: Option<Period>,
}

/// `[[program.earning.multipliers]]`: exactly one of `sku`, `category` and
/// `tag`, and a `factor`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Multiplier {
    /// Purchase lines with this SKU.
    pub sku: Option<Spanned<String>>,
    /// Purchase lines in this category.
    pub category: Option<Spanned<String>>,
    /// Every purchase of accounts carrying this segment tag.
    pub tag: Option<Spanned<String>>,
    /// The factor, a decimal string greater than zero (`"2"`, `"1.5"`).
    /// Required.
    pub factor: Option<PositiveDecimal>,
}

/// `[[program.milestones]]`: a bonus paid once per account when its
/// qualifying spend over a rolling window first reaches a threshold.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Milestone {
    /// Stable name, `[a-z0-9][a-z0-9_-]*`, unique among milestones; it is
    /// part of the bonus's ledger key, so the bonus is paid once. Required.
    pub id: Option<Spanned<Id>>,
    /// The qualifying spend to reach, a decimal string in the program
    /// currency. Required.
    pub spend: Option<PositiveDecimal>,
    /// The rolling window the spend is summed over, in days. Default 365.
    pub window_days: Option<Days>,
    /// The bonus, in points. Required.
    pub points: Option<Points>,
}

/// `[[program.engagement]]`: points for one kind of engagement.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Engagement {
    /// `"nps_response"`, `"survey_answered"`, `"event_attended"`,
    /// `"social_action"`, `"form_submitted"` or `"referral"`; one rule per
    /// kind. Required.
    pub kind: Option<Spanned<EngagementKind>>,
    /// Points per engagement. Required.
    pub points: Option<Points>,
    /// At most this many rewarded engagements per account and calendar
    /// period, e.g. `{ count = 1, period = "quarter" }`. Default: no limit.
    pub limit: Option<Spanned<EngagementLimit>>,
}

/// `limit` of an engagement rule.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngagementLimit {
    /// How many times, greater than zero. Required.
    pub count: Option<Count>,
    /// `"month"`, `"quarter"` or `"year"`. Required.
    pub period: Option<Period>,
}

/// `[program.tiers]`: tiers on rolling qualifying spend.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tiers {
    /// The rolling window qualifying spend is summed over, in days. Default
    /// 365.
    pub window_days: Option<Days>,
    /// How long an account's spend must stay below its tier before it moves
    /// down, in days (0: at once). Default 90.
    pub grace_days: Option<u32>,
    /// `[[program.tiers.levels]]`: the tiers, lowest first, each with a
    /// higher `min_spend` than the one before. Default: none.
    #[serde(default)]
    pub levels: Vec<Spanned<Tier>>,
}

/// `[[program.tiers.levels]]`: a tier and its benefits.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    /// Stable name, `[a-z0-9][a-z0-9_-]*`, unique among tiers; rewards name
    /// tiers by it. Required.
    pub id: Option<Spanned<Id>>,
    /// Display name. Required.
    pub name: Option<Spanned<String>>,
    /// Qualifying spend over the window needed for the tier, a decimal
    /// string in the program currency, zero or more. Required.
    pub min_spend: Option<Spanned<NonNegativeDecimal>>,
    /// Discount on purchases in percent, from `"0"` to `"100"` (a benefit
    /// the storefront applies). Default `"0"`.
    pub discount_percent: Option<Percent>,
    /// Multiplier on points earned from purchases, greater than zero.
    /// Default `"1"`.
    pub earn_multiplier: Option<PositiveDecimal>,
    /// Other benefits, as text shown to members. Default: none.
    #[serde(default)]
    pub perks: Vec<String>,
}

/// `[[program.rewards]]`: a reward in the catalog.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reward {
    /// Stable name, `[a-z0-9][a-z0-9_-]*`, unique among rewards; redemptions
    /// record it. Required.
    pub id: Option<Spanned<Id>>,
    /// Display name. Required.
    pub name: Option<Spanned<String>>,
    /// `"discount"`, `"gift_card"`, `"exclusive_product"`, `"service"` or
    /// `"vip_event"`. Required.
    pub kind: Option<RewardKind>,
    /// Its price in points. Required.
    pub points: Option<Points>,
    /// What it is worth, when it has a money value, e.g.
    /// `{ amount = "100.00", currency = "EUR" }`. Default: none.
    pub value: Option<Spanned<RewardValue>>,
    /// How many can be redeemed in all. Default: unlimited.
    pub stock: Option<u32>,
    /// Ids of the tiers whose members may redeem it, from
    /// `[[program.tiers.levels]]`. Default: everyone.
    #[serde(default)]
    pub tiers: Vec<Spanned<String>>,
    /// The connector whose `fulfil-reward` fulfils it, a
    /// `[connectors.NAME]`. Default: a person fulfils it and confirms it
    /// through the admin API.
    pub connector: Option<Spanned<String>>,
    /// Description shown to members. Default: empty.
    #[serde(default)]
    pub description: String,
}

/// `value` of a reward.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewardValue {
    /// The amount, a decimal string greater than zero. Required.
    pub amount: Option<PositiveDecimal>,
    /// ISO 4217 code. Required.
    pub currency: Option<CurrencyCode>,
}

/// `[program.expiry]`: when unspent points expire.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expiry {
    /// Points expire this many days after they were earned, oldest first.
    /// Required.
    pub after_days: Option<Days>,
}

/// `[[program.terms]]`: a version of the terms and conditions, with its
/// text in exactly one of `file` and `text`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Terms {
    /// Version name, unique, e.g. `"2026-01"`. Required.
    pub version: Option<Spanned<String>>,
    /// When this version applies from, as a TOML date-time with a UTC
    /// offset; later than the entry before. Required.
    pub effective_from: Option<Spanned<Timestamp>>,
    /// A UTF-8 (Markdown) file holding the text, relative to the
    /// configuration file's directory; read when the configuration is
    /// loaded, so the program's version covers the text.
    pub file: Option<Spanned<PathBuf>>,
    /// The text itself (Markdown).
    pub text: Option<Spanned<String>>,
}

/// `[program.eligibility]`: rules an account must meet to be invited; each
/// rule left out admits everyone.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Eligibility {
    /// Qualifying spend over `window_days` the account needs, a decimal
    /// string in the program currency. Default: none needed.
    pub min_spend: Option<NonNegativeDecimal>,
    /// The window `min_spend` is summed over, in days. Default 365.
    pub window_days: Option<Days>,
    /// Countries (ISO 3166-1 alpha-2, e.g. `"DE"`) accounts must be in.
    /// Default: any.
    #[serde(default)]
    pub countries: Vec<Spanned<String>>,
    /// Industries accounts must be in, compared case-insensitively.
    /// Default: any.
    #[serde(default)]
    pub industries: Vec<String>,
    /// Employees an account needs. Default: none needed.
    pub min_employees: Option<u32>,
    /// Only loyal accounts (see `[program.scoring.loyalty]`) may be
    /// invited. Default `false`.
    pub loyal: Option<bool>,
}

/// `[identity]`: when records from several systems are one company.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// The keys records are matched on, strongest first, each once:
    /// `"external_ref"`, `"tax_id"`, `"domain"`. An empty list matches
    /// nothing. Default: all three, in this order.
    pub match_on: Option<Vec<Spanned<MatchKey>>>,
    /// Domains that never identify a company, on top of the built-in
    /// free-mail list (compared in lower case). Default: none.
    #[serde(default)]
    pub free_mail_domains: Vec<Spanned<String>>,
}
