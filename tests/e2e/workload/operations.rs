//! The workload's operations: what the vendors, the members and the
//! scheduler do over about three simulated years, then the disorder of real
//! delivery (reordering within a window, repeats a little later).

use loyaltyd::core::event::{Event, Money, Purchase, PurchaseStatus, Refund};
use rust_decimal::Decimal;

use crate::model::DAY;
use crate::{RULES, UNKNOWN_REWARD, fixture};

/// Operations besides clock moves and job runs: deliveries, redemption
/// requests and settlements.
const OPERATIONS: usize = 10_000;
const ACCOUNTS: usize = 40;
/// Deliveries are shuffled within windows of this many operations: out of
/// order, but not unboundedly so, as with real vendors.
const REORDER_WINDOW: usize = 8;
/// A repeated delivery arrives at most this many operations after the first.
const REPEAT_HORIZON: usize = 2_000;
/// 2026-03-02T00:00:00Z.
pub const T0: i64 = 1_772_409_600_000;
const HOUR: i64 = 3_600_000;
/// Every account's activity changes with the season.
const SEASON_DAYS: i64 = 120;
const JOBS_EVERY_DAYS: i64 = 7;

fn eur(cents: i64) -> Money {
    Money {
        amount: Decimal::new(cents, 2),
        currency: "EUR".to_owned(),
    }
}

/// One step of the workload, in the order the store sees it.
#[derive(Clone)]
pub enum Op {
    /// A webhook delivery; `seq` is its place in the order it was sent.
    Deliver { seq: usize, events: Vec<Event> },
    /// A member asks for a reward.
    Redeem {
        account: usize,
        reward: &'static str,
        key: String,
    },
    /// Fulfilment reports on a reserved redemption (`again`: on one settled
    /// already), picked among them by `pick`; on one of the others when
    /// there is none.
    Settle {
        pick: usize,
        fulfilled: bool,
        again: bool,
    },
    /// The clock moves on.
    Advance(i64),
    /// The scheduled jobs run.
    RunJobs,
}

/// What the generator knows about one purchase.
struct Plan {
    account: usize,
    net_cents: i64,
    placed_at: i64,
    version: u64,
    cancelled: bool,
    refunded_cents: i64,
    refunds: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Season {
    Quiet,
    Light,
    Busy,
}

/// A recent purchase, mostly: payments and refunds follow orders closely.
fn recent(rng: &mut fastrand::Rng, len: usize) -> usize {
    if rng.u32(0..10) == 0 {
        rng.usize(0..len)
    } else {
        rng.usize(len.saturating_sub(60)..len)
    }
}

/// The operations of one run, before reordering and repeats.
pub fn generate(rng: &mut fastrand::Rng) -> Vec<Op> {
    let mut ops = Vec::new();
    let mut plans: Vec<Plan> = Vec::new();
    let mut requests: Vec<(usize, &'static str, String)> = Vec::new();
    let mut seasons = [Season::Light; ACCOUNTS];
    let (mut now, mut next_jobs, mut next_season) = (T0, T0 + JOBS_EVERY_DAYS * DAY, T0);
    let (mut counted, mut sent, mut next_refund) = (0, 0, 0);
    let mut deliver = |ops: &mut Vec<Op>, event: Event| {
        ops.push(Op::Deliver {
            seq: sent,
            events: vec![event],
        });
        sent += 1;
    };
    while counted < OPERATIONS {
        if now >= next_season {
            for season in &mut seasons {
                *season = match rng.u32(0..100) {
                    0..30 => Season::Quiet,
                    30..75 => Season::Light,
                    _ => Season::Busy,
                };
            }
            next_season += SEASON_DAYS * DAY;
        }
        // In a hundred steps: 12 clock moves (and the weekly jobs), 24 new
        // orders, 20 payments or cancellations, 13 refunds, 4 account
        // records, 17 reward requests and 10 settlements.
        match rng.u32(0..100) {
            0..12 => {
                let step = rng.i64(1..=40) * HOUR;
                now += step;
                ops.push(Op::Advance(step));
                if now >= next_jobs {
                    ops.push(Op::RunJobs);
                    next_jobs += JOBS_EVERY_DAYS * DAY;
                }
                continue;
            }
            12..36 => {
                let mut account = rng.usize(0..ACCOUNTS);
                for _ in 0..4 {
                    if seasons[account] != Season::Quiet {
                        break;
                    }
                    account = rng.usize(0..ACCOUNTS);
                }
                let net_cents = match seasons[account] {
                    Season::Busy => rng.i64(50_000..2_000_000),
                    _ => rng.i64(1_000..200_000),
                };
                plans.push(Plan {
                    account,
                    net_cents,
                    // Whole hours, as the clock moves: windows, grace periods and
                    // expiry sometimes end exactly when they are checked.
                    placed_at: now - rng.i64(0..48) * HOUR,
                    version: 1,
                    cancelled: false,
                    refunded_cents: 0,
                    refunds: 0,
                });
                let status = if rng.bool() {
                    PurchaseStatus::Pending
                } else {
                    PurchaseStatus::Paid
                };
                deliver(
                    &mut ops,
                    purchase(plans.len() - 1, &plans[plans.len() - 1], status),
                );
            }
            36..56 if !plans.is_empty() => {
                let i = recent(rng, plans.len());
                let plan = &mut plans[i];
                plan.version += rng.u64(1..1_000);
                let status = if plan.cancelled || rng.u32(0..10) == 0 {
                    plan.cancelled = true;
                    PurchaseStatus::Cancelled
                } else {
                    PurchaseStatus::Paid
                };
                deliver(&mut ops, purchase(i, &plans[i], status));
            }
            56..69 if !plans.is_empty() => {
                let i = recent(rng, plans.len());
                let plan = &mut plans[i];
                let left = plan.net_cents - plan.refunded_cents;
                if left == 0 || plan.refunds >= 5 {
                    continue;
                }
                let cents = if rng.u32(0..4) == 0 {
                    left
                } else {
                    rng.i64(1..=left)
                };
                plan.refunded_cents += cents;
                plan.refunds += 1;
                next_refund += 1;
                deliver(
                    &mut ops,
                    Event::Refund(Refund {
                        source_id: format!("r{next_refund}"),
                        version: 1,
                        purchase_id: format!("o{i}"),
                        net_amount: eur(cents),
                        refunded_at: now,
                        lines: Vec::new(),
                    }),
                );
            }
            69..73 => {
                let account = rng.usize(0..ACCOUNTS);
                let name = format!("Account {account}");
                let event = fixture::account(&format!("a{account}"), rng.u64(1..1_000_000), &name);
                deliver(&mut ops, event);
            }
            73..90 => {
                let roll = rng.u32(0..100);
                let (account, reward, key) = if roll < 15 && !requests.is_empty() {
                    let (account, reward, key) = &requests[rng.usize(0..requests.len())];
                    // The same request again, or another reward under its key.
                    let reward = if roll < 12 {
                        *reward
                    } else {
                        RULES.rewards[rng.usize(0..RULES.rewards.len())].id
                    };
                    (*account, reward, key.clone())
                } else {
                    let reward = match rng.u32(0..100) {
                        0..50 => RULES.rewards[0].id,
                        50..75 => RULES.rewards[1].id,
                        75..97 => RULES.rewards[2].id,
                        _ => UNKNOWN_REWARD,
                    };
                    let request = (
                        rng.usize(0..ACCOUNTS),
                        reward,
                        format!("k{}", requests.len()),
                    );
                    requests.push(request.clone());
                    request
                };
                ops.push(Op::Redeem {
                    account,
                    reward,
                    key,
                });
            }
            90.. => ops.push(Op::Settle {
                pick: rng.usize(..),
                fulfilled: rng.u32(0..10) < 7,
                again: rng.u32(0..10) < 2,
            }),
            _ => continue,
        }
        counted += 1;
    }
    ops
}

fn purchase(i: usize, plan: &Plan, status: PurchaseStatus) -> Event {
    Event::Purchase(Purchase {
        source_id: format!("o{i}"),
        version: plan.version,
        account_id: Some(format!("a{}", plan.account)),
        contact_id: None,
        status,
        placed_at: plan.placed_at,
        net_amount: eur(plan.net_cents),
        lines: Vec::new(),
        referral_code: None,
    })
}

/// Reorders the deliveries within windows and repeats about 6% of them a
/// little later; returns the operations and how many were repeats.
pub fn disorder(rng: &mut fastrand::Rng, mut ops: Vec<Op>) -> (Vec<Op>, usize) {
    for window in ops.chunks_mut(REORDER_WINDOW) {
        let slots: Vec<usize> = (0..window.len())
            .filter(|&i| matches!(window[i], Op::Deliver { .. }))
            .collect();
        let mut deliveries: Vec<Op> = slots.iter().map(|&i| window[i].clone()).collect();
        rng.shuffle(&mut deliveries);
        for (slot, op) in slots.into_iter().zip(deliveries) {
            window[slot] = op;
        }
    }
    let sent = ops
        .iter()
        .filter(|op| matches!(op, Op::Deliver { .. }))
        .count();
    let repeats = sent * 6 / 100;
    for _ in 0..repeats {
        let from = loop {
            let i = rng.usize(0..ops.len());
            if matches!(ops[i], Op::Deliver { .. }) {
                break i;
            }
        };
        let at = rng.usize(from + 1..=ops.len().min(from + REPEAT_HORIZON));
        ops.insert(at, ops[from].clone());
    }
    (ops, repeats)
}
