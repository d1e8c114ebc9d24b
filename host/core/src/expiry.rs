//! Points expiry: unspent points expire a configured number of days after
//! they were earned, oldest first.
//!
//! Which points are unspent follows a first-in, first-out model over an
//! account's ledger, walked in append order:
//!
//! - A positive entry (any kind: earn, bonus, release, positive adjust,
//!   transfer in) opens a *lot*: its id, its points as what remains, and its
//!   `occurred_at`, from which its expiry is counted.
//! - A negative entry (any kind: redeem, reserve, reverse, expire, negative
//!   adjust, transfer out) consumes the oldest lots that still have points
//!   first. What no lot covers becomes a deficit, and later positive entries
//!   pay the deficit before they open a lot with what is left, so points
//!   owed are never counted as unspent.
//! - A zero-point entry changes nothing.
//!
//! "Oldest" is by `occurred_at`, ties in append order. Ledger order alone
//! would not do: an event delivered late is appended after newer ones, and
//! its lot expires first, so only consuming by `occurred_at` makes the
//! expired lots a prefix of the open ones. That is what makes expiry
//! idempotent: an expire entry for the whole remainder of each [`due`] lot,
//! appended in the order returned, consumes exactly those lots, so running
//! [`due`] again afterwards returns nothing. The effect key of
//! [`expire_entry`] guards the same property at the ledger.

use std::collections::VecDeque;

use crate::event::TimestampMs;
use crate::ledger::{EntryKind, NewEntry};
use crate::program::Expiry;

/// One day in milliseconds.
const DAY_MS: i64 = 86_400_000;

/// A ledger entry as expiry sees it, in ledger (append) order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LotEntry {
    /// The ledger entry id; a positive entry's lot is named by it.
    pub id: i64,
    /// Signed points.
    pub points: i64,
    /// When the effect happened; a lot's expiry counts from it.
    pub occurred_at: TimestampMs,
}

/// Points of one lot that expire (or will).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Expiration {
    /// The id of the entry that opened the lot.
    pub lot: i64,
    /// Its unspent points.
    pub points: i64,
    /// When the lot was earned.
    pub earned_at: TimestampMs,
    /// When its unspent points expire.
    pub expires_at: TimestampMs,
}

/// A lot still holding points.
struct Lot {
    id: i64,
    remaining: i64,
    occurred_at: TimestampMs,
}

/// The lots with unspent points after walking `entries`, oldest first.
fn open_lots(entries: &[LotEntry]) -> VecDeque<Lot> {
    let mut lots: VecDeque<Lot> = VecDeque::new();
    let mut deficit: i64 = 0;
    for entry in entries {
        if entry.points > 0 {
            let repaid = entry.points.min(deficit);
            deficit -= repaid;
            let remaining = entry.points - repaid;
            if remaining > 0 {
                // After every lot of the same moment, so ties stay in
                // append order.
                let at = lots.partition_point(|lot| lot.occurred_at <= entry.occurred_at);
                lots.insert(
                    at,
                    Lot {
                        id: entry.id,
                        remaining,
                        occurred_at: entry.occurred_at,
                    },
                );
            }
        } else if entry.points < 0 {
            let mut owed = entry.points.saturating_neg();
            while owed > 0 {
                let Some(oldest) = lots.front_mut() else {
                    break;
                };
                let taken = owed.min(oldest.remaining);
                oldest.remaining -= taken;
                owed -= taken;
                if oldest.remaining == 0 {
                    lots.pop_front();
                }
            }
            deficit = deficit.saturating_add(owed);
        }
    }
    lots
}

/// Every lot with unspent points, oldest first, with its expiry moment.
fn expirations(entries: &[LotEntry], expiry: Expiry) -> impl Iterator<Item = Expiration> {
    // Cannot overflow: u32::MAX days is about 3.7e17 ms.
    let after_ms = i64::from(expiry.after_days) * DAY_MS;
    open_lots(entries).into_iter().map(move |lot| Expiration {
        lot: lot.id,
        points: lot.remaining,
        earned_at: lot.occurred_at,
        expires_at: lot.occurred_at.saturating_add(after_ms),
    })
}

/// Lots whose expiry moment (`occurred_at + after_days`) is at or before
/// `now` and that still have unspent points, oldest first: append their
/// [`expire_entry`] in this order.
pub fn due(entries: &[LotEntry], expiry: Expiry, now: TimestampMs) -> Vec<Expiration> {
    expirations(entries, expiry)
        .filter(|e| e.expires_at <= now)
        .collect()
}

/// Lots with unspent points whose expiry moment is in
/// `(now, now + within_ms]`, oldest first: what will expire soon unless it
/// is spent. Lots already due are not included; a negative `within_ms`
/// gives nothing.
pub fn upcoming(
    entries: &[LotEntry],
    expiry: Expiry,
    now: TimestampMs,
    within_ms: i64,
) -> Vec<Expiration> {
    let end = now.saturating_add(within_ms);
    expirations(entries, expiry)
        .filter(|e| e.expires_at > now && e.expires_at <= end)
        .collect()
}

/// A timestamp as RFC 3339 for people, or raw milliseconds when it is out
/// of the calendar's range.
fn instant(ms: TimestampMs) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map_or_else(|_| format!("{ms} ms since the epoch"), |t| t.to_string())
}

/// The ledger entry expiring one lot of `account`. It is dated at the
/// expiry moment rather than when expiry ran, so a late run records when
/// the points really lapsed. The effect key names the lot, so a lot is
/// expired once however often expiry runs.
pub fn expire_entry(account: i64, e: &Expiration) -> NewEntry {
    NewEntry {
        kind: EntryKind::Expire,
        points: e.points.saturating_neg(),
        effect_key: format!("expire/{account}/{}", e.lot),
        source: "expiry".to_owned(),
        reference: e.lot.to_string(),
        amount: None,
        rate: None,
        reason: Some(format!(
            "{} unspent points of lot {} earned at {} expired",
            e.points,
            e.lot,
            instant(e.earned_at)
        )),
        occurred_at: e.expires_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: TimestampMs = 1_000 * DAY_MS;
    const THIRTY_DAYS: Expiry = Expiry { after_days: 30 };

    /// An entry `day` days after T0.
    fn entry(id: i64, points: i64, day: i64) -> LotEntry {
        LotEntry {
            id,
            points,
            occurred_at: T0 + day * DAY_MS,
        }
    }

    fn day(day: i64) -> TimestampMs {
        T0 + day * DAY_MS
    }

    fn expiration(lot: i64, points: i64, earned_day: i64) -> Expiration {
        Expiration {
            lot,
            points,
            earned_at: day(earned_day),
            expires_at: day(earned_day + 30),
        }
    }

    /// Appends the expire entries for what is due at `now`, as the runner
    /// would, and returns what was due.
    fn run_expiry(ledger: &mut Vec<LotEntry>, now: TimestampMs) -> Vec<Expiration> {
        let due = due(ledger, THIRTY_DAYS, now);
        for e in &due {
            let written = expire_entry(7, e);
            let id = ledger.last().map_or(1, |last| last.id + 1);
            ledger.push(LotEntry {
                id,
                points: written.points,
                occurred_at: written.occurred_at,
            });
        }
        due
    }

    #[test]
    fn unspent_points_expire_after_the_configured_days() {
        let ledger = [entry(1, 100, 0)];
        // Expires at day 0 + 30: one ms earlier nothing is due.
        assert!(due(&ledger, THIRTY_DAYS, day(30) - 1).is_empty());
        assert_eq!(
            due(&ledger, THIRTY_DAYS, day(30)),
            vec![expiration(1, 100, 0)]
        );
        assert_eq!(
            due(&ledger, THIRTY_DAYS, day(400)),
            vec![expiration(1, 100, 0)]
        );
    }

    #[test]
    fn spent_points_do_not_expire() {
        // 100 earned, 100 redeemed five days later: nothing left to expire.
        let ledger = [entry(1, 100, 0), entry(2, -100, 5)];
        assert!(due(&ledger, THIRTY_DAYS, day(60)).is_empty());
        assert!(upcoming(&ledger, THIRTY_DAYS, day(0), 60 * DAY_MS).is_empty());
    }

    #[test]
    fn redemptions_consume_the_oldest_lots_first() {
        // Lot 1: 100 (day 0), lot 2: 50 (day 10); -120 takes all of lot 1
        // and 20 of lot 2, leaving 30 in lot 2, expiring at day 40.
        let ledger = [entry(1, 100, 0), entry(2, 50, 10), entry(3, -120, 12)];
        assert!(due(&ledger, THIRTY_DAYS, day(39)).is_empty());
        assert_eq!(
            due(&ledger, THIRTY_DAYS, day(40)),
            vec![expiration(2, 30, 10)]
        );
    }

    #[test]
    fn a_partly_spent_lot_expires_its_remainder() {
        // 100 - 30 - 25 = 45 left of lot 1; lot 4 (day 20) is untouched.
        let ledger = [
            entry(1, 100, 0),
            entry(2, -30, 1),
            entry(3, -25, 2),
            entry(4, 10, 20),
        ];
        assert_eq!(
            due(&ledger, THIRTY_DAYS, day(30)),
            vec![expiration(1, 45, 0)]
        );
        assert_eq!(
            due(&ledger, THIRTY_DAYS, day(50)),
            vec![expiration(1, 45, 0), expiration(4, 10, 20)]
        );
    }

    #[test]
    fn a_deficit_is_repaid_by_later_lots_first() {
        // -40 with no lot: deficit 40. +100 pays it and opens lot 2 with 60.
        // +25 opens lot 3 with 25.
        let ledger = [entry(1, -40, 0), entry(2, 100, 1), entry(3, 25, 2)];
        assert_eq!(
            due(&ledger, THIRTY_DAYS, day(35)),
            vec![expiration(2, 60, 1), expiration(3, 25, 2)]
        );
        // -100: deficit 100. +30 is swallowed (deficit 70), +80 pays 70 and
        // opens lot 3 with 10.
        let ledger = [entry(1, -100, 0), entry(2, 30, 1), entry(3, 80, 2)];
        assert_eq!(
            due(&ledger, THIRTY_DAYS, day(35)),
            vec![expiration(3, 10, 2)]
        );
    }

    #[test]
    fn zero_point_entries_are_ignored() {
        let ledger = [entry(1, 0, 0), entry(2, 20, 1), entry(3, 0, 2)];
        assert_eq!(
            due(&ledger, THIRTY_DAYS, day(40)),
            vec![expiration(2, 20, 1)]
        );
    }

    #[test]
    fn upcoming_excludes_now_and_includes_the_window_end() {
        // Lots expire at days 30, 31 and 40.
        let ledger = [entry(1, 5, 0), entry(2, 6, 1), entry(3, 7, 10)];
        // (day 30, day 40]: lot 1 is already due, so not upcoming.
        assert_eq!(
            upcoming(&ledger, THIRTY_DAYS, day(30), 10 * DAY_MS),
            vec![expiration(2, 6, 1), expiration(3, 7, 10)]
        );
        // (day 30, day 40 - 1 ms]: lot 3 just outside.
        assert_eq!(
            upcoming(&ledger, THIRTY_DAYS, day(30), 10 * DAY_MS - 1),
            vec![expiration(2, 6, 1)]
        );
        assert!(upcoming(&ledger, THIRTY_DAYS, day(30), 0).is_empty());
        assert!(upcoming(&ledger, THIRTY_DAYS, day(30), -DAY_MS).is_empty());
    }

    #[test]
    fn running_expiry_twice_expires_nothing_more() {
        // Lot 1: 100 (day 0), lot 2: 50 (day 5); -120 empties lot 1 and
        // leaves 30 in lot 2. Lot 4: 70 (day 20); -10 takes lot 2 down to
        // 20. Lot 6: 40 (day 50).
        let mut ledger = vec![
            entry(1, 100, 0),
            entry(2, 50, 5),
            entry(3, -120, 6),
            entry(4, 70, 20),
            entry(5, -10, 21),
            entry(6, 40, 50),
        ];
        // Day 55: lot 2 (expired day 35) and lot 4 (day 50) are due.
        let first = run_expiry(&mut ledger, day(55));
        assert_eq!(first, vec![expiration(2, 20, 5), expiration(4, 70, 20)]);
        assert_eq!(
            ledger[6..],
            [
                LotEntry {
                    id: 7,
                    points: -20,
                    occurred_at: day(35)
                },
                LotEntry {
                    id: 8,
                    points: -70,
                    occurred_at: day(50)
                },
            ]
        );
        assert!(run_expiry(&mut ledger, day(55)).is_empty());
        assert!(run_expiry(&mut ledger, day(79)).is_empty());
        // The balance left is exactly the one lot still open:
        // 100 + 50 - 120 + 70 - 10 + 40 - 20 - 70 = 40.
        assert_eq!(ledger.iter().map(|e| e.points).sum::<i64>(), 40);
        // Spend 15 of it; at day 80 the other 25 of lot 6 are due, once.
        ledger.push(entry(9, -15, 60));
        assert_eq!(
            run_expiry(&mut ledger, day(80)),
            vec![expiration(6, 25, 50)]
        );
        assert!(run_expiry(&mut ledger, day(80)).is_empty());
        assert!(run_expiry(&mut ledger, day(10_000)).is_empty());
        assert_eq!(ledger.iter().map(|e| e.points).sum::<i64>(), 0);
    }

    #[test]
    fn a_late_lot_with_an_older_date_is_spent_and_expired_first() {
        // Lot 1: 100 dated day 10; lot 2: 50 dated day 0 but appended later.
        // The -30 takes lot 2 first (older): lot 2 has 20, lot 1 has 100.
        let mut ledger = vec![entry(1, 100, 10), entry(2, 50, 0), entry(3, -30, 12)];
        assert_eq!(run_expiry(&mut ledger, day(30)), vec![expiration(2, 20, 0)]);
        assert!(run_expiry(&mut ledger, day(30)).is_empty());
        assert_eq!(
            run_expiry(&mut ledger, day(40)),
            vec![expiration(1, 100, 10)]
        );
        assert!(run_expiry(&mut ledger, day(40)).is_empty());
    }

    #[test]
    fn lots_of_the_same_moment_are_spent_in_append_order() {
        let ledger = [entry(1, 10, 0), entry(2, 10, 0), entry(3, -15, 1)];
        assert_eq!(
            due(&ledger, THIRTY_DAYS, day(30)),
            vec![expiration(2, 5, 0)]
        );
    }

    #[test]
    fn the_expire_entry_names_the_lot_and_when_it_was_earned() {
        // 2026-05-17T10:00:00Z, expiring 30 days later.
        let earned_at = 1_779_012_000_000;
        let e = Expiration {
            lot: 42,
            points: 120,
            earned_at,
            expires_at: earned_at + 30 * DAY_MS,
        };
        assert_eq!(
            expire_entry(7, &e),
            NewEntry {
                kind: EntryKind::Expire,
                points: -120,
                effect_key: "expire/7/42".to_owned(),
                source: "expiry".to_owned(),
                reference: "42".to_owned(),
                amount: None,
                rate: None,
                reason: Some(
                    "120 unspent points of lot 42 earned at 2026-05-17T10:00:00Z expired"
                        .to_owned()
                ),
                occurred_at: earned_at + 30 * DAY_MS,
            }
        );
    }

    #[test]
    fn extreme_values_do_not_overflow() {
        let ledger = [
            LotEntry {
                id: 1,
                points: i64::MIN,
                occurred_at: 0,
            },
            LotEntry {
                id: 2,
                points: i64::MAX,
                occurred_at: 0,
            },
            LotEntry {
                id: 3,
                points: i64::MAX,
                occurred_at: TimestampMs::MAX - 1,
            },
        ];
        // -MIN saturates to a deficit of MAX, which lot 2 pays in full; lot
        // 3's expiry saturates at MAX instead of wrapping into the past.
        let never = Expiry {
            after_days: u32::MAX,
        };
        assert!(due(&ledger, never, TimestampMs::MAX - 1).is_empty());
        assert_eq!(
            due(&ledger, never, TimestampMs::MAX),
            vec![Expiration {
                lot: 3,
                points: i64::MAX,
                earned_at: TimestampMs::MAX - 1,
                expires_at: TimestampMs::MAX,
            }]
        );
        assert!(upcoming(&ledger, never, TimestampMs::MAX, i64::MAX).is_empty());
        let entry = expire_entry(1, &due(&ledger, never, TimestampMs::MAX)[0]);
        assert_eq!(entry.points, -i64::MAX);
        assert!(entry.reason.unwrap().contains("ms since the epoch"));
    }
}
