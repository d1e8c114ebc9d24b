//! Purchases and refunds: a paid purchase earns once; refunds and
//! cancellations reverse proportionally and cumulatively, never more than was
//! earned, whatever order and however many times they are announced.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use crate::CoreError;
use crate::event::{Money, Purchase, PurchaseStatus, Refund, TimestampMs};
use crate::ledger::{EntryKind, NewEntry};
use crate::program::Program;
use crate::rules::{self, EarnContext, LineWeight};

/// Everything the core remembers about one purchase.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PurchaseRecord {
    /// The connector it came from.
    pub source: String,
    /// The source's id.
    pub id: String,
    /// Newest entity version applied; 0 while only refunds are known.
    pub version: u64,
    /// Newest status; `None` while only refunds are known.
    pub status: Option<PurchaseStatus>,
    /// When it was placed; `None` while only refunds are known.
    #[serde(default)]
    pub placed_at: Option<TimestampMs>,
    /// Net amount: the newest until the purchase earns, then frozen as the
    /// base refunds are measured against.
    pub net_amount: Option<Money>,
    /// Whether the earn entry exists.
    pub earned: bool,
    /// Points earned.
    pub earned_points: i64,
    /// Exchange rate into the program currency, fixed when the purchase is
    /// first seen paid; refunds reverse at it.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub rate: Option<Decimal>,
    /// Refunds applied, by refund id, with their net amounts.
    pub refunds: BTreeMap<String, Money>,
    /// What each line contributed to the points earned.
    #[serde(default)]
    pub line_weights: Vec<LineWeight>,
    /// Net refunded per line id, from itemized refunds.
    #[serde(default)]
    pub refunded_lines: BTreeMap<String, Money>,
    /// Points reversed so far (positive).
    pub reversed_points: i64,
}

impl PurchaseRecord {
    /// A record for a purchase not seen before.
    pub fn new(source: &str, id: &str) -> Self {
        Self {
            source: source.to_owned(),
            id: id.to_owned(),
            version: 0,
            status: None,
            placed_at: None,
            net_amount: None,
            earned: false,
            earned_points: 0,
            rate: None,
            refunds: BTreeMap::new(),
            line_weights: Vec::new(),
            refunded_lines: BTreeMap::new(),
            reversed_points: 0,
        }
    }

    /// Total merchandise refunded so far.
    pub fn refunded(&self) -> Decimal {
        self.refunds
            .values()
            .fold(Decimal::ZERO, |sum, m| sum.saturating_add(m.amount))
    }

    /// What the purchase adds to qualifying spend, in the program currency:
    /// its net amount less refunds while paid, nothing otherwise.
    pub fn qualifying_amount(&self) -> Decimal {
        match (&self.status, &self.net_amount, self.rate) {
            (Some(PurchaseStatus::Paid), Some(net), Some(rate)) => net
                .amount
                .checked_sub(self.refunded())
                .map(|left| left.max(Decimal::ZERO))
                .and_then(|left| left.checked_mul(rate))
                .unwrap_or(Decimal::MAX),
            _ => Decimal::ZERO,
        }
    }
}

/// The result of applying a purchase or refund event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The record to store.
    pub record: PurchaseRecord,
    /// Whether anything changed (a stale or repeated event changes nothing).
    pub changed: bool,
    /// Ledger entries to append.
    pub entries: Vec<NewEntry>,
}

impl Outcome {
    fn unchanged(record: PurchaseRecord) -> Self {
        Self {
            record,
            changed: false,
            entries: Vec::new(),
        }
    }
}

/// Applies a purchase event. `earn` is what the buying account brings to
/// earning, `None` when the purchase cannot earn now (no account is known,
/// or the account is not an active member): it is recorded, counts towards
/// spend, and earns if a later version arrives when it can.
pub fn on_purchase(
    stored: Option<PurchaseRecord>,
    source: &str,
    event: &Purchase,
    earn: Option<&EarnContext<'_>>,
    program: &Program,
) -> Result<Outcome, CoreError> {
    let mut record = stored.unwrap_or_else(|| PurchaseRecord::new(source, &event.source_id));
    if record.version > event.version {
        return Ok(Outcome::unchanged(record));
    }
    let before = record.clone();
    record.version = event.version;
    record.status = Some(event.status);
    record.placed_at = Some(event.placed_at);
    if !record.earned {
        record.net_amount = Some(event.net_amount.clone());
        if event.status == PurchaseStatus::Paid {
            record.rate = Some(program.rate(&event.net_amount.currency)?);
        }
    }
    let mut entries = Vec::new();
    if event.status == PurchaseStatus::Paid
        && !record.earned
        && let Some(context) = earn
    {
        let earned = rules::earn_purchase(program, event, context)?;
        record.earned = true;
        record.earned_points = earned.points;
        record.rate = Some(earned.rate);
        record.line_weights = earned.lines;
        if earned.points != 0 {
            entries.push(NewEntry {
                kind: EntryKind::Earn,
                points: earned.points,
                effect_key: format!("earn/{source}/{}", record.id),
                source: source.to_owned(),
                reference: record.id.clone(),
                amount: Some(event.net_amount.clone()),
                rate: Some(earned.rate),
                reason: Some(earned.explanation),
                occurred_at: event.placed_at,
            });
        }
    }
    let trigger = if event.status == PurchaseStatus::Cancelled {
        "cancel".to_owned()
    } else {
        format!("v{}", event.version)
    };
    entries.extend(reconcile(&mut record, &trigger, None, event.placed_at)?);
    let changed = record != before;
    Ok(Outcome {
        record,
        changed,
        entries,
    })
}

/// Applies a refund event. A refund seen before changes nothing; a refund
/// of a purchase not seen yet is remembered and reversed once it earns.
pub fn on_refund(
    stored: Option<PurchaseRecord>,
    source: &str,
    event: &Refund,
) -> Result<Outcome, CoreError> {
    let mut record = stored.unwrap_or_else(|| PurchaseRecord::new(source, &event.purchase_id));
    if record.refunds.contains_key(&event.source_id) {
        return Ok(Outcome::unchanged(record));
    }
    if event.net_amount.amount.is_sign_negative() && !event.net_amount.amount.is_zero() {
        return Err(CoreError::NegativeAmount {
            what: format!("refund `{}`", event.source_id),
            amount: event.net_amount.amount.to_string(),
        });
    }
    if let Some(net) = &record.net_amount
        && net.currency != event.net_amount.currency
    {
        return Err(CoreError::CurrencyMismatch {
            refund: event.source_id.clone(),
            refund_currency: event.net_amount.currency.clone(),
            purchase: record.id.clone(),
            purchase_currency: net.currency.clone(),
        });
    }
    let itemized: Decimal = event.lines.iter().map(|l| l.net_amount.amount).sum();
    for line in &event.lines {
        if line.net_amount.currency != event.net_amount.currency {
            return Err(CoreError::CurrencyMismatch {
                refund: format!("{}` line `{}", event.source_id, line.line_id),
                refund_currency: line.net_amount.currency.clone(),
                purchase: record.id.clone(),
                purchase_currency: event.net_amount.currency.clone(),
            });
        }
        if line.net_amount.amount.is_sign_negative() && !line.net_amount.amount.is_zero() {
            return Err(CoreError::NegativeAmount {
                what: format!("refund `{}` line `{}`", event.source_id, line.line_id),
                amount: line.net_amount.amount.to_string(),
            });
        }
    }
    if itemized > event.net_amount.amount {
        return Err(CoreError::NegativeAmount {
            what: format!(
                "refund `{}`'s amount less its lines ({} < {itemized})",
                event.source_id, event.net_amount.amount
            ),
            amount: (event.net_amount.amount - itemized).to_string(),
        });
    }
    for line in &event.lines {
        record
            .refunded_lines
            .entry(line.line_id.clone())
            .and_modify(|m| m.amount += line.net_amount.amount)
            .or_insert_with(|| line.net_amount.clone());
    }
    record
        .refunds
        .insert(event.source_id.clone(), event.net_amount.clone());
    let entries = reconcile(
        &mut record,
        &format!("refund/{}", event.source_id),
        Some(&event.net_amount),
        event.refunded_at,
    )?;
    Ok(Outcome {
        record,
        changed: true,
        entries: entries.into_iter().collect(),
    })
}

/// The points a purchase's refunds take back, exactly (before rounding),
/// at most `earned`. Itemized refunds of lines the purchase earned on take
/// back each line's share of the points (its weight) in proportion to how
/// much of the line was refunded; whatever is refunded for the purchase as a
/// whole (or for lines it did not earn on) takes back points in proportion
/// to the purchase's net amount. Each term multiplies before it divides, so
/// that a whole refund of a part lands on its exact points.
fn refunded_points(record: &PurchaseRecord, earned: Decimal) -> Result<Decimal, CoreError> {
    let overflow = || CoreError::PointsOutOfRange(format!("reversal of {earned} points"));
    let base = record
        .net_amount
        .as_ref()
        .map_or(Decimal::ZERO, |m| m.amount);
    if base.is_zero() {
        return Ok(if record.refunded() > Decimal::ZERO {
            earned
        } else {
            Decimal::ZERO
        });
    }
    let total_weight: Decimal = record.line_weights.iter().map(|l| l.weight).sum();
    let mut whole = record.refunded();
    let mut points = Decimal::ZERO;
    if total_weight > Decimal::ZERO {
        for line in &record.line_weights {
            let Some(refunded) = record.refunded_lines.get(&line.id) else {
                continue;
            };
            whole -= refunded.amount;
            if line.net > Decimal::ZERO {
                let refunded = refunded.amount.min(line.net);
                let part = earned
                    .checked_mul(line.weight)
                    .and_then(|v| v.checked_mul(refunded))
                    .and_then(|v| v.checked_div(line.net.checked_mul(total_weight)?))
                    .ok_or_else(overflow)?;
                points = points.checked_add(part).ok_or_else(overflow)?;
            }
        }
    }
    if whole > Decimal::ZERO {
        let part = earned
            .checked_mul(whole)
            .and_then(|v| v.checked_div(base))
            .ok_or_else(overflow)?;
        points = points.checked_add(part).ok_or_else(overflow)?;
    }
    Ok(points.min(earned))
}

/// Brings the reversed points up to what the refunds and status call for.
/// The target is cumulative (floor of earned x refunded / net), so partial
/// refunds leave no rounding residue and a full refund reverses exactly the
/// rest; it never exceeds what was earned.
fn reconcile(
    record: &mut PurchaseRecord,
    trigger: &str,
    amount: Option<&Money>,
    at: TimestampMs,
) -> Result<Option<NewEntry>, CoreError> {
    if !record.earned {
        return Ok(None);
    }
    let earned = record.earned_points;
    let target = if record.status == Some(PurchaseStatus::Cancelled) {
        earned
    } else {
        // A sum of quotients may fall a hair short of the exact rational
        // (1/3 + 2/3 = 0.99...); amounts have far fewer places than 9, so
        // snapping there before the floor is exact.
        refunded_points(record, Decimal::from(earned))?
            .round_dp(9)
            .floor()
            .to_i64()
            .ok_or_else(|| CoreError::PointsOutOfRange(earned.to_string()))?
    };
    let delta = target - record.reversed_points;
    if delta <= 0 {
        return Ok(None);
    }
    record.reversed_points += delta;
    Ok(Some(NewEntry {
        kind: EntryKind::Reverse,
        points: -delta,
        effect_key: format!("reverse/{}/{}/{trigger}", record.source, record.id),
        source: record.source.clone(),
        reference: record.id.clone(),
        amount: amount.cloned(),
        rate: record.rate,
        reason: None,
        occurred_at: at,
    }))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::program::Rounding;

    fn program() -> Program {
        Program::basic("EUR", Decimal::ONE, Rounding::Floor)
    }

    static NO_TAGS: BTreeSet<String> = BTreeSet::new();

    fn member() -> EarnContext<'static> {
        EarnContext {
            tier: None,
            tags: &NO_TAGS,
            earned_in_period: 0,
            campaign: None,
        }
    }

    fn eur(amount: &str) -> Money {
        Money {
            amount: amount.parse().unwrap(),
            currency: "EUR".to_owned(),
        }
    }

    fn purchase(version: u64, status: PurchaseStatus, net: &str) -> Purchase {
        Purchase {
            source_id: "o1".to_owned(),
            version,
            account_id: Some("acme".to_owned()),
            contact_id: None,
            status,
            placed_at: 0,
            net_amount: eur(net),
            lines: Vec::new(),
            referral_code: None,
        }
    }

    fn refund(id: &str, net: &str) -> Refund {
        Refund {
            source_id: id.to_owned(),
            version: 1,
            purchase_id: "o1".to_owned(),
            net_amount: eur(net),
            refunded_at: 0,
            lines: Vec::new(),
        }
    }

    fn points(entries: &[NewEntry]) -> Vec<i64> {
        entries.iter().map(|e| e.points).collect()
    }

    #[test]
    fn a_paid_purchase_earns_once_and_later_versions_do_not_re_earn() {
        let p = program();
        let created = on_purchase(
            None,
            "shop",
            &purchase(1, PurchaseStatus::Pending, "100.00"),
            Some(&member()),
            &p,
        )
        .unwrap();
        assert!(created.entries.is_empty());
        let paid = on_purchase(
            Some(created.record),
            "shop",
            &purchase(2, PurchaseStatus::Paid, "100.00"),
            Some(&member()),
            &p,
        )
        .unwrap();
        assert_eq!(points(&paid.entries), [100]);
        let again = on_purchase(
            Some(paid.record.clone()),
            "shop",
            &purchase(2, PurchaseStatus::Paid, "100.00"),
            Some(&member()),
            &p,
        )
        .unwrap();
        assert!(again.entries.is_empty() && !again.changed);
        let edited = on_purchase(
            Some(paid.record),
            "shop",
            &purchase(3, PurchaseStatus::Paid, "120.00"),
            Some(&member()),
            &p,
        )
        .unwrap();
        assert!(edited.entries.is_empty());
        assert_eq!(
            edited.record.net_amount,
            Some(eur("100.00")),
            "the earned base stays frozen"
        );
    }

    #[test]
    fn partial_refunds_reverse_cumulatively_without_residue() {
        let p = program();
        // 3 points on 10.00: a third refunded three times reverses 1 + 1 + 1.
        let paid = on_purchase(
            None,
            "shop",
            &purchase(1, PurchaseStatus::Paid, "10.00"),
            Some(&member()),
            &p,
        )
        .unwrap();
        assert_eq!(paid.record.earned_points, 10);
        let r1 = on_refund(Some(paid.record), "shop", &refund("r1", "3.33")).unwrap();
        let r2 = on_refund(Some(r1.record.clone()), "shop", &refund("r2", "3.33")).unwrap();
        let r3 = on_refund(Some(r2.record.clone()), "shop", &refund("r3", "3.34")).unwrap();
        assert_eq!(
            [
                points(&r1.entries),
                points(&r2.entries),
                points(&r3.entries)
            ]
            .concat(),
            [-3, -3, -4]
        );
        assert_eq!(r3.record.reversed_points, 10);
        let repeat = on_refund(Some(r3.record), "shop", &refund("r2", "3.33")).unwrap();
        assert!(repeat.entries.is_empty() && !repeat.changed);
    }

    #[test]
    fn a_cancellation_and_its_refund_reverse_once_in_either_order() {
        let p = program();
        let paid = on_purchase(
            None,
            "shop",
            &purchase(1, PurchaseStatus::Paid, "50.00"),
            Some(&member()),
            &p,
        )
        .unwrap();
        let cancelled = on_purchase(
            Some(paid.record.clone()),
            "shop",
            &purchase(2, PurchaseStatus::Cancelled, "50.00"),
            Some(&member()),
            &p,
        )
        .unwrap();
        let refunded = on_refund(Some(cancelled.record), "shop", &refund("r1", "50.00")).unwrap();
        assert_eq!(
            [points(&cancelled.entries), points(&refunded.entries)].concat(),
            [-50]
        );

        let refunded = on_refund(Some(paid.record), "shop", &refund("r1", "50.00")).unwrap();
        let cancelled = on_purchase(
            Some(refunded.record),
            "shop",
            &purchase(2, PurchaseStatus::Cancelled, "50.00"),
            Some(&member()),
            &p,
        )
        .unwrap();
        assert_eq!(
            [points(&refunded.entries), points(&cancelled.entries)].concat(),
            [-50]
        );
        let twice = on_purchase(
            Some(cancelled.record),
            "shop",
            &purchase(2, PurchaseStatus::Cancelled, "50.00"),
            Some(&member()),
            &p,
        )
        .unwrap();
        assert!(twice.entries.is_empty());
    }

    #[test]
    fn a_refund_before_its_purchase_is_reversed_when_the_purchase_earns() {
        let p = program();
        let early = on_refund(None, "shop", &refund("r1", "25.00")).unwrap();
        assert!(early.entries.is_empty());
        let paid = on_purchase(
            Some(early.record),
            "shop",
            &purchase(1, PurchaseStatus::Paid, "100.00"),
            Some(&member()),
            &p,
        )
        .unwrap();
        assert_eq!(points(&paid.entries), [100, -25]);
    }

    #[test]
    fn a_purchase_that_cannot_earn_yet_earns_on_a_later_version() {
        let p = program();
        let unattributed = on_purchase(
            None,
            "shop",
            &purchase(1, PurchaseStatus::Paid, "40.00"),
            None,
            &p,
        )
        .unwrap();
        assert!(unattributed.entries.is_empty() && unattributed.changed);
        assert_eq!(
            unattributed.record.qualifying_amount(),
            "40.00".parse().unwrap()
        );
        let attributed = on_purchase(
            Some(unattributed.record),
            "shop",
            &purchase(2, PurchaseStatus::Paid, "40.00"),
            Some(&member()),
            &p,
        )
        .unwrap();
        assert_eq!(points(&attributed.entries), [40]);
    }

    #[test]
    fn a_refunded_line_reverses_what_that_line_earned() {
        let mut p = program();
        p.earning.multipliers = vec![crate::program::Multiplier {
            target: crate::program::MultiplierTarget::Sku("DRILL".to_owned()),
            factor: "3".parse().unwrap(),
        }];
        let line = |id: &str, sku: &str| crate::event::PurchaseLine {
            id: id.to_owned(),
            sku: Some(sku.to_owned()),
            category: None,
            quantity: 2,
            net_amount: eur("100"),
        };
        let mut order = purchase(1, PurchaseStatus::Paid, "200");
        order.lines = vec![line("l1", "DRILL"), line("l2", "GLOVE")];
        // 100 x 3 + 100 = 400.
        let paid = on_purchase(None, "shop", &order, Some(&member()), &p).unwrap();
        assert_eq!(points(&paid.entries), [400]);
        let itemized = |id: &str, line_id: &str, net: &str| {
            let mut r = refund(id, net);
            r.lines = vec![crate::event::RefundLine {
                line_id: line_id.to_owned(),
                quantity: 1,
                net_amount: eur(net),
            }];
            r
        };
        // Half the drill line: half of its 300.
        let r1 = on_refund(Some(paid.record), "shop", &itemized("r1", "l1", "50")).unwrap();
        assert_eq!(points(&r1.entries), [-150]);
        // The whole glove line: its 100.
        let r2 = on_refund(Some(r1.record), "shop", &itemized("r2", "l2", "100")).unwrap();
        assert_eq!(points(&r2.entries), [-100]);
        // 25 refunded for the order as a whole: 25/200 of 400 = 50 more.
        let r3 = on_refund(Some(r2.record), "shop", &refund("r3", "25")).unwrap();
        assert_eq!(points(&r3.entries), [-50]);
        assert_eq!(r3.record.reversed_points, 300);
        let mut odd = itemized("r4", "l1", "10");
        odd.lines[0].net_amount.currency = "USD".to_owned();
        assert!(matches!(
            on_refund(Some(r3.record), "shop", &odd),
            Err(CoreError::CurrencyMismatch { .. })
        ));
    }

    #[test]
    fn a_line_share_that_is_a_repeating_decimal_reverses_exactly() {
        let p = program();
        let line = |id: &str, net: &str| crate::event::PurchaseLine {
            id: id.to_owned(),
            sku: None,
            category: None,
            quantity: 1,
            net_amount: eur(net),
        };
        let mut order = purchase(1, PurchaseStatus::Paid, "1700");
        order.lines = vec![line("l1", "600"), line("l2", "1100")];
        let paid = on_purchase(None, "shop", &order, Some(&member()), &p).unwrap();
        let mut r = refund("r1", "600");
        r.lines = vec![crate::event::RefundLine {
            line_id: "l1".to_owned(),
            quantity: 1,
            net_amount: eur("600"),
        }];
        // 1700 x 600/1700 is 600, not 599.
        let refunded = on_refund(Some(paid.record), "shop", &r).unwrap();
        assert_eq!(points(&refunded.entries), [-600]);
    }

    #[test]
    fn a_stale_version_changes_nothing() {
        let p = program();
        let cancelled = on_purchase(
            None,
            "shop",
            &purchase(5, PurchaseStatus::Cancelled, "10.00"),
            Some(&member()),
            &p,
        )
        .unwrap();
        let late_paid = on_purchase(
            Some(cancelled.record),
            "shop",
            &purchase(3, PurchaseStatus::Paid, "10.00"),
            Some(&member()),
            &p,
        )
        .unwrap();
        assert!(late_paid.entries.is_empty() && !late_paid.changed);
    }
}
