//! Earning rules: how a purchase becomes points (base rate, line and account
//! multipliers, minimum order, per-order and per-period caps), which
//! milestone bonuses an account's spend unlocks, and what an engagement
//! earns.
//!
//! The points of a purchase are computed exactly and rounded once:
//!
//! ```text
//! base(line)  = line net x (order net / sum of line nets) x rate x points per unit
//! exact       = sum over lines of base(line) x line factor, x account factor
//! points      = round(exact), then min(order cap), then min(period cap - earned this period)
//! ```
//!
//! The line factor is the SKU multiplier when one matches the line, else the
//! highest matching category multiplier, else 1. The account factor is the
//! tier's earn multiplier times the highest matching tag multiplier. Lines
//! are scaled to the order's net amount, so order-level discounts lower every
//! line alike; a purchase without lines earns on its net amount.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};

use crate::CoreError;
use crate::event::{Purchase, PurchaseLine};
use crate::ledger::{EntryKind, NewEntry};
use crate::program::{EngagementKind, EngagementRule, MultiplierTarget, Program, Rounding, Tier};

/// What the account brings to a purchase's earning.
#[derive(Debug, Clone, Copy)]
pub struct EarnContext<'a> {
    /// The account's tier before this purchase.
    pub tier: Option<&'a Tier>,
    /// The account's segment tags.
    pub tags: &'a BTreeSet<String>,
    /// Points already earned from purchases placed in the period cap's
    /// period containing this purchase's `placed_at`.
    pub earned_in_period: i64,
    /// The highest earn multiplier a campaign offers the account at the
    /// purchase's `placed_at`: the campaign's id and its factor.
    pub campaign: Option<(&'a str, Decimal)>,
}

/// Points a purchase earns, and how they were computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Earned {
    /// Whole points (zero when a rule withholds them).
    pub points: i64,
    /// The exchange rate into the program currency.
    pub rate: Decimal,
    /// How the points were computed, for the ledger and statements.
    pub explanation: String,
    /// What each line contributed, so that a refund of a line reverses what
    /// that line earned; empty for a purchase earned on its total.
    pub lines: Vec<LineWeight>,
}

/// A line's share of a purchase's points.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LineWeight {
    /// The line id.
    pub id: String,
    /// Its exact points before account multipliers and caps.
    #[serde(with = "rust_decimal::serde::str")]
    pub weight: Decimal,
    /// Its net amount.
    #[serde(with = "rust_decimal::serde::str")]
    pub net: Decimal,
}

fn strategy(rounding: Rounding) -> RoundingStrategy {
    match rounding {
        Rounding::Floor => RoundingStrategy::ToNegativeInfinity,
        Rounding::HalfUp => RoundingStrategy::MidpointAwayFromZero,
        Rounding::HalfEven => RoundingStrategy::MidpointNearestEven,
    }
}

fn out_of_range(value: impl ToString) -> CoreError {
    CoreError::PointsOutOfRange(value.to_string())
}

/// The factor of the most specific multiplier matching a line.
fn line_factor(program: &Program, line: &PurchaseLine) -> Option<(Decimal, String)> {
    let best = |matches: &dyn Fn(&MultiplierTarget) -> Option<String>| {
        program
            .earning
            .multipliers
            .iter()
            .filter_map(|m| matches(&m.target).map(|label| (m.factor, label)))
            .max_by(|a, b| a.0.cmp(&b.0))
    };
    let by_sku = best(&|target| match (target, &line.sku) {
        (MultiplierTarget::Sku(sku), Some(line_sku)) if sku == line_sku => {
            Some(format!("sku {sku}"))
        }
        _ => None,
    });
    by_sku.or_else(|| {
        best(&|target| match (target, &line.category) {
            (MultiplierTarget::Category(category), Some(line_category))
                if category == line_category =>
            {
                Some(format!("category {category}"))
            }
            _ => None,
        })
    })
}

/// Points a paid purchase earns.
pub fn earn_purchase(
    program: &Program,
    purchase: &Purchase,
    context: &EarnContext<'_>,
) -> Result<Earned, CoreError> {
    let net = &purchase.net_amount;
    if net.amount.is_sign_negative() && !net.amount.is_zero() {
        return Err(CoreError::NegativeAmount {
            what: "a purchase's net amount".to_owned(),
            amount: net.amount.to_string(),
        });
    }
    let rate = program.rate(&net.currency)?;
    let converted = net
        .amount
        .checked_mul(rate)
        .ok_or_else(|| out_of_range(net.amount))?;
    let mut explanation = format!("{} {}", net.amount, net.currency);
    if rate != Decimal::ONE {
        let _ = write!(explanation, " x rate {rate}");
    }
    if let Some(min) = program.earning.min_order
        && converted < min
    {
        let _ = write!(
            explanation,
            " is below the minimum order of {min} {}: no points",
            program.currency
        );
        return Ok(Earned {
            points: 0,
            rate,
            explanation,
            lines: Vec::new(),
        });
    }
    let per_unit = rate
        .checked_mul(program.points_per_unit)
        .ok_or_else(|| out_of_range(rate))?;
    let _ = write!(
        explanation,
        " x {} points per unit",
        program.points_per_unit
    );

    let mut exact = Decimal::ZERO;
    let mut weights = Vec::new();
    let line_total: Decimal = purchase.lines.iter().map(|l| l.net_amount.amount).sum();
    if purchase.lines.is_empty() || line_total <= Decimal::ZERO {
        exact = net
            .amount
            .checked_mul(per_unit)
            .ok_or_else(|| out_of_range(net.amount))?;
    } else {
        for line in &purchase.lines {
            if line.net_amount.currency != net.currency {
                return Err(CoreError::LineCurrency {
                    purchase: purchase.source_id.clone(),
                    line: line.id.clone(),
                    line_currency: line.net_amount.currency.clone(),
                    currency: net.currency.clone(),
                });
            }
            let share = line
                .net_amount
                .amount
                .checked_mul(net.amount)
                .and_then(|v| v.checked_div(line_total))
                .and_then(|v| v.checked_mul(per_unit))
                .ok_or_else(|| out_of_range(line.net_amount.amount))?;
            let factor = match line_factor(program, line) {
                Some((factor, label)) => {
                    let _ = write!(explanation, "; line {} {label} x{factor}", line.id);
                    factor
                }
                None => Decimal::ONE,
            };
            let weight = share
                .checked_mul(factor)
                .ok_or_else(|| out_of_range(share))?;
            exact = exact
                .checked_add(weight)
                .ok_or_else(|| out_of_range(weight))?;
            weights.push(LineWeight {
                id: line.id.clone(),
                weight,
                net: line.net_amount.amount,
            });
        }
    }
    if let Some(tier) = context.tier
        && tier.earn_multiplier != Decimal::ONE
    {
        let _ = write!(explanation, "; tier {} x{}", tier.id, tier.earn_multiplier);
        exact = exact
            .checked_mul(tier.earn_multiplier)
            .ok_or_else(|| out_of_range(exact))?;
    }
    let tag = program
        .earning
        .multipliers
        .iter()
        .filter_map(|m| match &m.target {
            MultiplierTarget::Tag(tag) if context.tags.contains(tag) => Some((m.factor, tag)),
            _ => None,
        })
        .max_by(|a, b| a.0.cmp(&b.0));
    if let Some((factor, tag)) = tag {
        let _ = write!(explanation, "; tag {tag} x{factor}");
        exact = exact
            .checked_mul(factor)
            .ok_or_else(|| out_of_range(exact))?;
    }
    if let Some((campaign, factor)) = context.campaign {
        let _ = write!(explanation, "; campaign {campaign} x{factor}");
        exact = exact
            .checked_mul(factor)
            .ok_or_else(|| out_of_range(exact))?;
    }
    let mut points = exact
        .round_dp_with_strategy(0, strategy(program.rounding))
        .to_i64()
        .ok_or_else(|| out_of_range(exact))?;
    let _ = write!(explanation, " = {points} points");
    if let Some(cap) = program.earning.order_cap
        && points > cap
    {
        points = cap;
        let _ = write!(explanation, "; capped at {cap} per order");
    }
    if let Some(cap) = program.earning.period_cap {
        let left = cap.points.saturating_sub(context.earned_in_period).max(0);
        if points > left {
            points = left;
            let _ = write!(
                explanation,
                "; capped at {} per {:?} ({left} left)",
                cap.points, cap.period
            );
        }
    }
    Ok(Earned {
        points,
        rate,
        explanation,
        lines: weights,
    })
}

/// The milestone bonuses an account's qualifying spend has reached.
/// `spend(window_days)` is the account's qualifying spend over that rolling
/// window. Each bonus's effect key names the account and the milestone, so
/// it is paid once however often it is proposed.
pub fn milestones_reached(
    program: &Program,
    account: i64,
    spend: &mut dyn FnMut(u32) -> Decimal,
    now: i64,
) -> Vec<NewEntry> {
    program
        .milestones
        .iter()
        .filter_map(|milestone| {
            let reached = spend(milestone.window_days);
            (reached >= milestone.spend).then(|| NewEntry {
                kind: EntryKind::Bonus,
                points: milestone.points,
                effect_key: format!("milestone/{account}/{}", milestone.id),
                source: "program".to_owned(),
                reference: milestone.id.clone(),
                amount: None,
                rate: None,
                reason: Some(format!(
                    "milestone {}: qualifying spend {reached} {} over {} days reached {}",
                    milestone.id, program.currency, milestone.window_days, milestone.spend
                )),
                occurred_at: now,
            })
        })
        .collect()
}

/// The rule rewarding an engagement kind, if any.
pub fn engagement_rule(program: &Program, kind: EngagementKind) -> Option<&EngagementRule> {
    program.engagement.iter().find(|r| r.kind == kind)
}

/// Points for one engagement, given how many of the same kind the account
/// was already rewarded for in the limit's period; `None` when the rule's
/// limit is reached or no rule rewards the kind.
pub fn engagement_points(
    program: &Program,
    kind: EngagementKind,
    rewarded_in_period: u32,
) -> Option<i64> {
    let rule = engagement_rule(program, kind)?;
    match rule.limit {
        Some(limit) if rewarded_in_period >= limit.count => None,
        _ => Some(rule.points),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::event::{Money, PurchaseStatus};
    use crate::program::{Milestone, Multiplier, Period, PeriodCap};

    fn eur(amount: &str) -> Money {
        Money {
            amount: amount.parse().unwrap(),
            currency: "EUR".to_owned(),
        }
    }

    fn line(id: &str, sku: &str, category: &str, net: &str) -> PurchaseLine {
        PurchaseLine {
            id: id.to_owned(),
            sku: Some(sku.to_owned()),
            category: Some(category.to_owned()),
            quantity: 1,
            net_amount: eur(net),
        }
    }

    fn purchase(net: &str, lines: Vec<PurchaseLine>) -> Purchase {
        Purchase {
            source_id: "o1".to_owned(),
            version: 1,
            account_id: Some("a".to_owned()),
            contact_id: None,
            status: PurchaseStatus::Paid,
            placed_at: 0,
            net_amount: eur(net),
            lines,
            referral_code: None,
        }
    }

    fn program() -> Program {
        let mut program = Program::basic("EUR", Decimal::ONE, Rounding::Floor);
        program.exchange_rates = BTreeMap::from([("USD".to_owned(), "0.9".parse().unwrap())]);
        program.earning.multipliers = vec![
            Multiplier {
                target: MultiplierTarget::Category("tools".to_owned()),
                factor: "2".parse().unwrap(),
            },
            Multiplier {
                target: MultiplierTarget::Sku("DRILL-9".to_owned()),
                factor: "3".parse().unwrap(),
            },
            Multiplier {
                target: MultiplierTarget::Tag("strategic".to_owned()),
                factor: "1.5".parse().unwrap(),
            },
        ];
        program
    }

    fn gold() -> Tier {
        Tier {
            id: "gold".to_owned(),
            name: "Gold".to_owned(),
            min_spend: "10000".parse().unwrap(),
            discount_percent: "5".parse().unwrap(),
            earn_multiplier: "1.25".parse().unwrap(),
            perks: Vec::new(),
        }
    }

    fn no_context(tags: &BTreeSet<String>) -> EarnContext<'_> {
        EarnContext {
            tier: None,
            tags,
            earned_in_period: 0,
            campaign: None,
        }
    }

    #[test]
    fn a_sku_multiplier_beats_the_category_one() {
        let tags = BTreeSet::new();
        // Lines 100 (sku DRILL-9, category tools) and 100 (tools) and 100 (other):
        // 100 x 3 + 100 x 2 + 100 x 1 = 600.
        let p = purchase(
            "300",
            vec![
                line("1", "DRILL-9", "tools", "100"),
                line("2", "SAW-1", "tools", "100"),
                line("3", "GLOVE", "safety", "100"),
            ],
        );
        let earned = earn_purchase(&program(), &p, &no_context(&tags)).unwrap();
        assert_eq!(earned.points, 600, "{}", earned.explanation);
        assert!(
            earned.explanation.contains("line 1 sku DRILL-9 x3"),
            "{}",
            earned.explanation
        );
    }

    #[test]
    fn order_discounts_scale_every_line() {
        let tags = BTreeSet::new();
        // Lines sum to 200, the order nets 150 after an order discount:
        // each line counts 3/4. 75 x 2 (tools) + 75 x 1 = 225.
        let p = purchase(
            "150",
            vec![
                line("1", "SAW-1", "tools", "100"),
                line("2", "GLOVE", "safety", "100"),
            ],
        );
        assert_eq!(
            earn_purchase(&program(), &p, &no_context(&tags))
                .unwrap()
                .points,
            225
        );
    }

    #[test]
    fn a_campaign_multiplier_applies_on_top_of_tier_and_tag() {
        let tags = BTreeSet::from(["strategic".to_owned()]);
        let tier = gold();
        let context = EarnContext {
            tier: Some(&tier),
            tags: &tags,
            earned_in_period: 0,
            campaign: Some(("spring", Decimal::TWO)),
        };
        // 101 x 1.25 (gold) x 1.5 (strategic) x 2 (campaign) = 378.75, floored.
        let earned = earn_purchase(&program(), &purchase("101", Vec::new()), &context).unwrap();
        assert_eq!(earned.points, 378);
        assert!(
            earned.explanation.contains("campaign spring x2"),
            "{}",
            earned.explanation
        );
    }

    #[test]
    fn tier_and_tag_multiply_the_whole_purchase() {
        let tags = BTreeSet::from(["strategic".to_owned(), "other".to_owned()]);
        let tier = gold();
        let context = EarnContext {
            tier: Some(&tier),
            tags: &tags,
            earned_in_period: 0,
            campaign: None,
        };
        // 101 x 1.25 x 1.5 = 189.375, floored.
        let earned = earn_purchase(&program(), &purchase("101", Vec::new()), &context).unwrap();
        assert_eq!(earned.points, 189);
        assert!(
            earned
                .explanation
                .contains("tier gold x1.25; tag strategic x1.5")
        );
    }

    #[test]
    fn minimum_order_and_caps_withhold_points() {
        let tags = BTreeSet::new();
        let mut program = program();
        program.earning.min_order = Some("250".parse().unwrap());
        program.earning.order_cap = Some(1000);
        program.earning.period_cap = Some(PeriodCap {
            points: 1500,
            period: Period::Year,
        });
        let below = earn_purchase(
            &program,
            &purchase("249.99", Vec::new()),
            &no_context(&tags),
        );
        assert_eq!(below.unwrap().points, 0);
        // 300 USD x 0.9 = 270 EUR: above the minimum only after conversion.
        let mut usd = purchase("300", Vec::new());
        usd.net_amount.currency = "USD".to_owned();
        let earned = earn_purchase(&program, &usd, &no_context(&tags)).unwrap();
        assert_eq!((earned.points, earned.rate), (270, "0.9".parse().unwrap()));
        let big = purchase("5000", Vec::new());
        assert_eq!(
            earn_purchase(&program, &big, &no_context(&tags))
                .unwrap()
                .points,
            1000
        );
        let context = EarnContext {
            earned_in_period: 1200,
            ..no_context(&tags)
        };
        assert_eq!(earn_purchase(&program, &big, &context).unwrap().points, 300);
        let context = EarnContext {
            earned_in_period: 1700,
            ..no_context(&tags)
        };
        assert_eq!(earn_purchase(&program, &big, &context).unwrap().points, 0);
    }

    #[test]
    fn rounding_rules_are_explicit() {
        let tags = BTreeSet::new();
        let earn = |rounding: Rounding, net: &str| {
            let mut program = Program::basic("EUR", "1.5".parse().unwrap(), rounding);
            program.rounding = rounding;
            earn_purchase(&program, &purchase(net, Vec::new()), &no_context(&tags))
                .unwrap()
                .points
        };
        // 10.33 x 1.5 = 15.495.
        assert_eq!(earn(Rounding::Floor, "10.33"), 15);
        assert_eq!(earn(Rounding::HalfUp, "10.33"), 15);
        // 11.00 x 1.5 = 16.5: half up gives 17, half even 16.
        assert_eq!(earn(Rounding::HalfUp, "11.00"), 17);
        assert_eq!(earn(Rounding::HalfEven, "11.00"), 16);
        assert_eq!(earn(Rounding::Floor, "11.00"), 16);
    }

    #[test]
    fn an_unknown_currency_is_an_error_not_zero() {
        let tags = BTreeSet::new();
        let mut chf = purchase("10", Vec::new());
        chf.net_amount.currency = "CHF".to_owned();
        let error = earn_purchase(&program(), &chf, &no_context(&tags)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "no exchange rate from CHF to the program currency EUR (add CHF to [program.exchange_rates])"
        );
    }

    #[test]
    fn a_line_in_another_currency_is_an_error() {
        let tags = BTreeSet::new();
        let mut odd = line("2", "X", "y", "10");
        odd.net_amount.currency = "USD".to_owned();
        let p = purchase("20", vec![line("1", "X", "y", "10"), odd]);
        assert!(matches!(
            earn_purchase(&program(), &p, &no_context(&tags)),
            Err(CoreError::LineCurrency { .. })
        ));
    }

    #[test]
    fn milestones_are_proposed_once_reached_with_a_stable_key() {
        let mut program = program();
        program.milestones = vec![
            Milestone {
                id: "spend-50k".to_owned(),
                spend: "50000".parse().unwrap(),
                window_days: 365,
                points: 5000,
            },
            Milestone {
                id: "spend-100k".to_owned(),
                spend: "100000".parse().unwrap(),
                window_days: 365,
                points: 12000,
            },
        ];
        let mut spend = |_: u32| Decimal::from(60_000);
        let entries = milestones_reached(&program, 7, &mut spend, 1);
        assert_eq!(entries.len(), 1);
        assert_eq!(
            (
                entries[0].points,
                entries[0].effect_key.as_str(),
                entries[0].kind
            ),
            (5000, "milestone/7/spend-50k", EntryKind::Bonus)
        );
    }

    #[test]
    fn engagement_limits_count_per_period() {
        let mut program = program();
        program.engagement = vec![EngagementRule {
            kind: EngagementKind::NpsResponse,
            points: 50,
            limit: Some(crate::program::EngagementLimit {
                count: 1,
                period: Period::Quarter,
            }),
        }];
        assert_eq!(
            engagement_points(&program, EngagementKind::NpsResponse, 0),
            Some(50)
        );
        assert_eq!(
            engagement_points(&program, EngagementKind::NpsResponse, 1),
            None
        );
        assert_eq!(
            engagement_points(&program, EngagementKind::EventAttended, 0),
            None
        );
    }
}
