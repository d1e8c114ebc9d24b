//! Program analytics over a period: participation, points and their
//! liability, revenue members bring and how much of it the program added,
//! retention of members against non-members, referrals, the program's cost
//! and its return. Every figure is computed from the book of accounts with
//! one formula, stated on its field (and in the README), so that the API,
//! the dashboard and the quarterly review always agree.

mod period;
pub mod review;

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;

use crate::accounts::AccountId;
use crate::event::TimestampMs;
use crate::ledger::EntryKind;
use crate::membership::MembershipStatus;
use crate::program::Program;
use crate::rewards::RedemptionStatus;
use crate::scoring::round;
use crate::tiers::SpendItem;

pub use period::{Period, PeriodError};

/// What analytics need to know beyond the records (`[program.analytics]`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Settings {
    /// What one point costs the program when redeemed for a reward without
    /// a money value, in the program currency; also values the outstanding
    /// points.
    #[serde(with = "rust_decimal::serde::str")]
    pub point_cost: Decimal,
    /// Costs of running the program each month, in the program currency.
    pub fixed_costs: Vec<FixedCost>,
    /// A member's baseline is its revenue over this many days before it
    /// enrolled.
    pub baseline_days: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            point_cost: Decimal::ZERO,
            fixed_costs: Vec::new(),
            baseline_days: 365,
        }
    }
}

/// A cost the program carries every month (platform, staff, agency).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FixedCost {
    /// What it is.
    pub name: String,
    /// Per calendar month, in the program currency.
    #[serde(with = "rust_decimal::serde::str")]
    pub monthly: Decimal,
}

/// A change of an account's membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusChange {
    /// When.
    pub at: TimestampMs,
    /// The membership from then on.
    pub status: Option<MembershipStatus>,
}

/// A ledger entry, as analytics see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PointsMove {
    /// When it happened.
    pub at: TimestampMs,
    /// What it was.
    pub kind: EntryKind,
    /// Points, signed.
    pub points: i64,
}

/// A redemption, as analytics see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedemptionFact {
    /// The reward.
    pub reward: String,
    /// Its price when redeemed.
    pub points: i64,
    /// Where it stands.
    pub status: RedemptionStatus,
    /// When it reached that status.
    pub at: TimestampMs,
}

/// A change of an account's tier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierChange {
    /// When.
    pub at: TimestampMs,
    /// The tier from then on.
    pub tier: Option<String>,
}

/// One account's history.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccountHistory {
    /// Id.
    pub id: AccountId,
    /// Name.
    pub name: String,
    /// When the program first learned of it.
    pub known_since: TimestampMs,
    /// Whether it meets `[program.eligibility]` now.
    pub eligible: bool,
    /// Its membership changes, oldest first.
    pub membership: Vec<StatusChange>,
    /// Its paid purchases, net of refunds, in the program currency.
    pub purchases: Vec<SpendItem>,
    /// Its ledger entries.
    pub points: Vec<PointsMove>,
    /// Its redemptions.
    pub redemptions: Vec<RedemptionFact>,
    /// Its tier changes, oldest first.
    pub tiers: Vec<TierChange>,
}

impl AccountHistory {
    /// Its membership just before `at`.
    pub fn status_before(&self, at: TimestampMs) -> Option<MembershipStatus> {
        self.membership
            .iter()
            .take_while(|c| c.at < at)
            .last()
            .and_then(|c| c.status)
    }

    /// Whether it was an active member just before `at`.
    pub fn member_before(&self, at: TimestampMs) -> bool {
        self.status_before(at) == Some(MembershipStatus::Active)
    }

    /// When it first became an active member.
    pub fn enrolled_at(&self) -> Option<TimestampMs> {
        self.membership
            .iter()
            .find(|c| c.status == Some(MembershipStatus::Active))
            .map(|c| c.at)
    }

    /// Its tier just before `at`.
    pub fn tier_before(&self, at: TimestampMs) -> Option<&str> {
        self.tiers
            .iter()
            .take_while(|c| c.at < at)
            .last()
            .and_then(|c| c.tier.as_deref())
    }

    /// Its revenue in `[from, to)`.
    pub fn revenue(&self, from: TimestampMs, to: TimestampMs) -> Decimal {
        self.purchases
            .iter()
            .filter(|p| from <= p.placed_at && p.placed_at < to)
            .map(|p| p.amount)
            .sum()
    }

    fn bought_in(&self, period: &Period) -> bool {
        self.purchases
            .iter()
            .any(|p| period.contains(p.placed_at) && p.amount > Decimal::ZERO)
    }

    fn first_purchase(&self) -> Option<TimestampMs> {
        self.purchases
            .iter()
            .filter(|p| p.amount > Decimal::ZERO)
            .map(|p| p.placed_at)
            .min()
    }
}

/// A referral, as analytics see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReferralFact {
    /// The referring account.
    pub referrer: AccountId,
    /// The referred account.
    pub referred: AccountId,
    /// When the referred account's first purchase qualified it.
    pub qualified_at: Option<TimestampMs>,
}

/// A commission row (money; points commissions are ledger bonuses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommissionFact {
    /// When it was earned.
    pub at: TimestampMs,
    /// Amount in the program currency; negative for a clawback.
    pub amount: Decimal,
}

/// Everything analytics read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Book {
    /// Every account not merged into another.
    pub accounts: Vec<AccountHistory>,
    /// Every referral.
    pub referrals: Vec<ReferralFact>,
    /// Every money commission.
    pub commissions: Vec<CommissionFact>,
}

/// A count out of a base, with its rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Share {
    /// The base.
    pub of: u64,
    /// How many of the base.
    pub count: u64,
    /// `count / of x 100`, 1 dp; `None` when the base is empty.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub rate: Option<Decimal>,
}

impl Share {
    fn new(count: u64, of: u64) -> Self {
        let rate = (of > 0).then(|| {
            round(
                Decimal::from(count) * Decimal::ONE_HUNDRED / Decimal::from(of),
                1,
            )
        });
        Self { of, count, rate }
    }
}

/// Who takes part.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Participation {
    /// Accounts known by the end that meet the eligibility rules now, or are
    /// members.
    pub eligible: u64,
    /// Active members at the end.
    pub members: u64,
    /// `members / eligible x 100`.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub rate: Option<Decimal>,
    /// Members at the end who earned, got a bonus or chose a reward in the
    /// period.
    pub active_members: u64,
    /// Members at the end who first enrolled in the period.
    pub new_members: u64,
}

/// Points in the period.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Points {
    /// Earned, bonus and positive adjustments.
    pub issued: i64,
    /// Reversed by refunds, and negative adjustments.
    pub reversed: i64,
    /// Spent on fulfilled redemptions.
    pub redeemed: i64,
    /// Expired unspent.
    pub expired: i64,
    /// `redeemed / (issued - reversed) x 100`.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub redemption_rate: Option<Decimal>,
    /// Points neither redeemed, expired nor reversed at the end (held
    /// points count: they are about to be redeemed).
    pub outstanding: i64,
    /// `outstanding x point_cost`, 2 dp.
    #[serde(with = "rust_decimal::serde::str")]
    pub liability: Decimal,
}

/// Revenue in the period, in the program currency.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Revenue {
    /// Revenue of the accounts that are members at the end.
    #[serde(with = "rust_decimal::serde::str")]
    pub members: Decimal,
    /// Revenue of the other accounts known by the end.
    #[serde(with = "rust_decimal::serde::str")]
    pub non_members: Decimal,
    /// Members' revenue per member, 2 dp.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub per_member: Option<Decimal>,
    /// Non-members' revenue per non-member, 2 dp.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub per_non_member: Option<Decimal>,
    /// `(per_member - per_non_member) x members`, 2 dp.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub incremental_vs_non_members: Option<Decimal>,
    /// Members at the end who enrolled before the period: the baseline
    /// group.
    pub baseline_members: u64,
    /// What the baseline group would have bought without the program: each
    /// one's revenue over `baseline_days` before enrolling, scaled to the
    /// period's length, 2 dp.
    #[serde(with = "rust_decimal::serde::str")]
    pub baseline: Decimal,
    /// What the baseline group bought in the period.
    #[serde(with = "rust_decimal::serde::str")]
    pub baseline_group_actual: Decimal,
    /// `baseline_group_actual - baseline`: the program-attributed
    /// incremental revenue ROI is computed from.
    #[serde(with = "rust_decimal::serde::str")]
    pub incremental: Decimal,
}

/// Retention of one group: of the accounts that bought in the previous
/// period of the same length, how many bought again in this one.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Retention {
    /// Members at the end.
    pub members: Share,
    /// Non-members at the end.
    pub non_members: Share,
    /// The same by cohort: the quarter of each account's first purchase.
    pub cohorts: Vec<Cohort>,
}

/// Retention of a cohort.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Cohort {
    /// The quarter of the first purchase (`2025Q4`).
    pub cohort: String,
    /// Its members.
    pub members: Share,
    /// Its non-members.
    pub non_members: Share,
}

/// Referrals in the period.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Referrals {
    /// Referrals qualified in the period.
    pub qualified: u64,
    /// Revenue in the period of every account referred so far.
    #[serde(with = "rust_decimal::serde::str")]
    pub referred_revenue: Decimal,
    /// Referrers by referrals qualified in the period, then by their
    /// referred accounts' revenue; the top ten.
    pub top_referrers: Vec<Referrer>,
}

/// One referrer's figures.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Referrer {
    /// The referrer.
    pub account_id: AccountId,
    /// Its name.
    pub name: String,
    /// Its referrals qualified in the period.
    pub qualified: u64,
    /// Its referred accounts' revenue in the period.
    #[serde(with = "rust_decimal::serde::str")]
    pub revenue: Decimal,
}

/// What the program cost in the period, in the program currency.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Cost {
    /// Rewards fulfilled in the period at cost: a reward's money value when
    /// it has one, else its points x `point_cost`; 2 dp.
    #[serde(with = "rust_decimal::serde::str")]
    pub rewards: Decimal,
    /// Money commissions earned in the period, clawbacks netted.
    #[serde(with = "rust_decimal::serde::str")]
    pub commissions: Decimal,
    /// Fixed costs: each month's amount x the share of the month in the
    /// period; 2 dp.
    #[serde(with = "rust_decimal::serde::str")]
    pub fixed: Decimal,
    /// The sum.
    #[serde(with = "rust_decimal::serde::str")]
    pub total: Decimal,
}

/// Return on the program.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Roi {
    /// `revenue.incremental x margin`, 2 dp; `None` without a margin.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub incremental_gross_margin: Option<Decimal>,
    /// `(incremental_gross_margin - cost) / cost x 100`, 1 dp; `None`
    /// without a margin or a cost.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub percent: Option<Decimal>,
}

/// Members in one tier at the end.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TierCount {
    /// The tier; `None`: below the lowest.
    pub tier: Option<String>,
    /// Members in it.
    pub members: u64,
}

/// Fulfilled redemptions of one reward in the period.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RewardUse {
    /// The reward.
    pub reward: String,
    /// Its display name.
    pub name: String,
    /// Redemptions fulfilled.
    pub redemptions: u64,
    /// Points they took.
    pub points: i64,
}

/// The analytics of one period.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    /// The period.
    pub period: Period,
    /// The program currency, which every amount is in.
    pub currency: String,
    /// Who takes part.
    pub participation: Participation,
    /// Points.
    pub points: Points,
    /// Revenue.
    pub revenue: Revenue,
    /// Retention.
    pub retention: Retention,
    /// Referrals.
    pub referrals: Referrals,
    /// Cost.
    pub cost: Cost,
    /// Return.
    pub roi: Roi,
    /// Members by tier at the end, lowest tier first after those below.
    pub tiers: Vec<TierCount>,
    /// Every reward in the catalog with its fulfilled redemptions.
    pub redemption_mix: Vec<RewardUse>,
    /// Settings a figure lacks, said plainly.
    pub notes: Vec<String>,
}

/// Computes the analytics of `period` from `book` under `program`.
pub fn report(book: &Book, program: &Program, period: &Period) -> Report {
    let settings = &program.analytics;
    let known: Vec<&AccountHistory> = book
        .accounts
        .iter()
        .filter(|a| a.known_since < period.to)
        .collect();
    let members: Vec<&AccountHistory> = known
        .iter()
        .copied()
        .filter(|a| a.member_before(period.to))
        .collect();
    let member_ids: BTreeSet<AccountId> = members.iter().map(|a| a.id).collect();
    let non_members: Vec<&AccountHistory> = known
        .iter()
        .copied()
        .filter(|a| !member_ids.contains(&a.id))
        .collect();

    let participation = participation(&known, &members, period);
    let points = points(&known, period, settings.point_cost);
    let revenue = revenue(&members, &non_members, period, settings.baseline_days);
    let retention = retention(&known, &member_ids, period);
    let referrals = referrals(book, period);
    let cost = cost(&known, book, program, period);
    let roi = roi(&revenue, &cost, program.scoring.margin_rate);

    let mut tiers: Vec<TierCount> = std::iter::once(None)
        .chain(program.tiers.tiers.iter().map(|t| Some(t.id.clone())))
        .map(|tier| TierCount {
            members: count(
                members
                    .iter()
                    .filter(|a| a.tier_before(period.to) == tier.as_deref()),
            ),
            tier,
        })
        .collect();
    if program.tiers.tiers.is_empty() {
        tiers.clear();
    }

    let redemption_mix = program
        .rewards
        .iter()
        .map(|reward| {
            let fulfilled: Vec<&RedemptionFact> = fulfilled(&known, period)
                .filter(|r| r.reward == reward.id)
                .collect();
            RewardUse {
                reward: reward.id.clone(),
                name: reward.name.clone(),
                redemptions: count(fulfilled.iter()),
                points: fulfilled.iter().map(|r| r.points).sum(),
            }
        })
        .collect();

    let mut notes = Vec::new();
    if settings.point_cost.is_zero() {
        notes.push(
            "point_cost is not set in [program.analytics]: outstanding points carry no liability and rewards without a money value cost nothing".to_owned(),
        );
    }
    if revenue.baseline_members == 0 {
        notes.push(
            "no member enrolled before the period: without a baseline there is no incremental revenue, so no ROI".to_owned(),
        );
    }
    if program.scoring.margin_rate.is_none() {
        notes.push(
            "margin_percent is not set in [program.scoring]: ROI needs the gross margin of incremental revenue".to_owned(),
        );
    }

    Report {
        period: period.clone(),
        currency: program.currency.clone(),
        participation,
        points,
        revenue,
        retention,
        referrals,
        cost,
        roi,
        tiers,
        redemption_mix,
        notes,
    }
}

fn count<T>(items: impl Iterator<Item = T>) -> u64 {
    u64::try_from(items.count()).unwrap_or(u64::MAX)
}

fn participation(
    known: &[&AccountHistory],
    members: &[&AccountHistory],
    period: &Period,
) -> Participation {
    let eligible = count(
        known
            .iter()
            .filter(|a| a.eligible || a.member_before(period.to)),
    );
    let members_count = count(members.iter());
    let active_members = count(members.iter().filter(|a| {
        a.points.iter().any(|m| {
            period.contains(m.at)
                && matches!(
                    m.kind,
                    EntryKind::Earn | EntryKind::Bonus | EntryKind::Reserve
                )
        })
    }));
    let new_members = count(
        members
            .iter()
            .filter(|a| a.enrolled_at().is_some_and(|at| period.contains(at))),
    );
    Participation {
        eligible,
        members: members_count,
        rate: Share::new(members_count, eligible).rate,
        active_members,
        new_members,
    }
}

fn points(known: &[&AccountHistory], period: &Period, point_cost: Decimal) -> Points {
    let (mut issued, mut reversed, mut redeemed, mut expired, mut outstanding) =
        (0i64, 0i64, 0i64, 0i64, 0i64);
    for m in known.iter().flat_map(|a| a.points.iter()) {
        if m.at >= period.to {
            continue;
        }
        if !matches!(m.kind, EntryKind::Reserve | EntryKind::Release) {
            outstanding = outstanding.saturating_add(m.points);
        }
        if m.at < period.from {
            continue;
        }
        match m.kind {
            EntryKind::Earn | EntryKind::Bonus => issued = issued.saturating_add(m.points),
            EntryKind::Adjust if m.points > 0 => issued = issued.saturating_add(m.points),
            EntryKind::Adjust | EntryKind::Reverse => {
                reversed = reversed.saturating_sub(m.points);
            }
            EntryKind::Redeem => redeemed = redeemed.saturating_sub(m.points),
            EntryKind::Expire => expired = expired.saturating_sub(m.points),
            EntryKind::Reserve | EntryKind::Release | EntryKind::Transfer => {}
        }
    }
    let net = issued.saturating_sub(reversed);
    let redemption_rate = (net > 0).then(|| {
        round(
            Decimal::from(redeemed) * Decimal::ONE_HUNDRED / Decimal::from(net),
            1,
        )
    });
    Points {
        issued,
        reversed,
        redeemed,
        expired,
        redemption_rate,
        outstanding,
        liability: round(Decimal::from(outstanding) * point_cost, 2),
    }
}

fn revenue(
    members: &[&AccountHistory],
    non_members: &[&AccountHistory],
    period: &Period,
    baseline_days: u32,
) -> Revenue {
    let total = |group: &[&AccountHistory]| -> Decimal {
        group
            .iter()
            .map(|a| a.revenue(period.from, period.to))
            .sum()
    };
    // Unrounded, so that the difference is rounded once.
    let per = |sum: Decimal, group: &[&AccountHistory]| {
        (!group.is_empty()).then(|| sum / Decimal::from(group.len()))
    };
    let (members_revenue, others_revenue) = (total(members), total(non_members));
    let (per_member, per_non_member) = (
        per(members_revenue, members),
        per(others_revenue, non_members),
    );
    let incremental_vs_non_members = per_member
        .zip(per_non_member)
        .map(|(m, n)| round((m - n) * Decimal::from(members.len()), 2));
    let (per_member, per_non_member) = (
        per_member.map(|v| round(v, 2)),
        per_non_member.map(|v| round(v, 2)),
    );

    let window = i64::from(baseline_days).saturating_mul(86_400_000);
    let mut baseline = Decimal::ZERO;
    let mut actual = Decimal::ZERO;
    let mut baseline_members = 0u64;
    for account in members {
        let Some(enrolled) = account.enrolled_at().filter(|at| *at < period.from) else {
            continue;
        };
        baseline_members += 1;
        if baseline_days > 0 {
            baseline += account.revenue(enrolled.saturating_sub(window), enrolled)
                * Decimal::from(period.length_days())
                / Decimal::from(baseline_days);
        }
        actual += account.revenue(period.from, period.to);
    }
    let baseline = round(baseline, 2);
    Revenue {
        members: members_revenue,
        non_members: others_revenue,
        per_member,
        per_non_member,
        incremental_vs_non_members,
        baseline_members,
        baseline,
        baseline_group_actual: actual,
        incremental: actual - baseline,
    }
}

fn retention(
    known: &[&AccountHistory],
    member_ids: &BTreeSet<AccountId>,
    period: &Period,
) -> Retention {
    let Some(previous) = period.previous() else {
        return Retention {
            members: Share::default(),
            non_members: Share::default(),
            cohorts: Vec::new(),
        };
    };
    // (cohort, member) -> (base, retained)
    let mut groups: BTreeMap<(String, bool), (u64, u64)> = BTreeMap::new();
    for account in known {
        if !account.bought_in(&previous) {
            continue;
        }
        let cohort = account
            .first_purchase()
            .and_then(Period::quarter_of)
            .map_or_else(String::new, |q| q.label);
        let group = groups
            .entry((cohort, member_ids.contains(&account.id)))
            .or_default();
        group.0 += 1;
        group.1 += u64::from(account.bought_in(period));
    }
    let share = |member: bool, cohort: Option<&str>| {
        let (base, retained) = groups
            .iter()
            .filter(|((c, m), _)| *m == member && cohort.is_none_or(|cohort| c == cohort))
            .fold((0, 0), |(b, r), (_, (base, retained))| {
                (b + base, r + retained)
            });
        Share::new(retained, base)
    };
    let labels: BTreeSet<&String> = groups.keys().map(|(c, _)| c).collect();
    Retention {
        members: share(true, None),
        non_members: share(false, None),
        cohorts: labels
            .into_iter()
            .map(|label| Cohort {
                cohort: label.clone(),
                members: share(true, Some(label)),
                non_members: share(false, Some(label)),
            })
            .collect(),
    }
}

fn referrals(book: &Book, period: &Period) -> Referrals {
    let accounts: BTreeMap<AccountId, &AccountHistory> =
        book.accounts.iter().map(|a| (a.id, a)).collect();
    let revenue_of = |id: AccountId| {
        accounts
            .get(&id)
            .map_or(Decimal::ZERO, |a| a.revenue(period.from, period.to))
    };
    let mut by_referrer: BTreeMap<AccountId, (u64, Decimal)> = BTreeMap::new();
    let mut qualified = 0;
    let mut referred_revenue = Decimal::ZERO;
    for referral in &book.referrals {
        let Some(at) = referral.qualified_at.filter(|at| *at < period.to) else {
            continue;
        };
        let revenue = revenue_of(referral.referred);
        referred_revenue += revenue;
        let entry = by_referrer.entry(referral.referrer).or_default();
        entry.1 += revenue;
        if period.contains(at) {
            qualified += 1;
            entry.0 += 1;
        }
    }
    let mut top_referrers: Vec<Referrer> = by_referrer
        .into_iter()
        .filter(|(_, (count, revenue))| *count > 0 || !revenue.is_zero())
        .map(|(id, (qualified, revenue))| Referrer {
            account_id: id,
            name: accounts
                .get(&id)
                .map(|a| a.name.clone())
                .unwrap_or_default(),
            qualified,
            revenue,
        })
        .collect();
    top_referrers.sort_by(|a, b| {
        b.qualified
            .cmp(&a.qualified)
            .then(b.revenue.cmp(&a.revenue))
            .then(a.account_id.cmp(&b.account_id))
    });
    top_referrers.truncate(10);
    Referrals {
        qualified,
        referred_revenue,
        top_referrers,
    }
}

fn fulfilled<'a>(
    known: &'a [&'a AccountHistory],
    period: &'a Period,
) -> impl Iterator<Item = &'a RedemptionFact> {
    known
        .iter()
        .flat_map(|a| a.redemptions.iter())
        .filter(|r| r.status == RedemptionStatus::Fulfilled && period.contains(r.at))
}

fn cost(known: &[&AccountHistory], book: &Book, program: &Program, period: &Period) -> Cost {
    let settings = &program.analytics;
    let rewards: Decimal = fulfilled(known, period)
        .map(|r| {
            program
                .reward(&r.reward)
                .and_then(|reward| reward.value.as_ref())
                .and_then(|value| {
                    program
                        .rate(&value.currency)
                        .ok()
                        .map(|rate| value.amount * rate)
                })
                .unwrap_or_else(|| Decimal::from(r.points) * settings.point_cost)
        })
        .sum();
    let commissions: Decimal = book
        .commissions
        .iter()
        .filter(|c| period.contains(c.at))
        .map(|c| c.amount)
        .sum();
    let fixed: Decimal = settings
        .fixed_costs
        .iter()
        .flat_map(|cost| {
            period
                .month_shares()
                .into_iter()
                .map(move |(days, of)| cost.monthly * Decimal::from(days) / Decimal::from(of))
        })
        .sum();
    let (rewards, fixed) = (round(rewards, 2), round(fixed, 2));
    Cost {
        rewards,
        commissions,
        fixed,
        total: rewards + commissions + fixed,
    }
}

fn roi(revenue: &Revenue, cost: &Cost, margin: Option<Decimal>) -> Roi {
    // Without members who joined before the period there is no baseline,
    // so no incremental revenue to weigh the cost against.
    let incremental_gross_margin = margin
        .filter(|_| revenue.baseline_members > 0)
        .map(|m| round(revenue.incremental * m, 2));
    let percent = incremental_gross_margin
        .filter(|_| cost.total > Decimal::ZERO)
        .map(|igm| round((igm - cost.total) * Decimal::ONE_HUNDRED / cost.total, 1));
    Roi {
        incremental_gross_margin,
        percent,
    }
}

#[cfg(test)]
mod tests;
