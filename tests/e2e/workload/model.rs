//! An in-memory model of the loyalty program, written from the README's
//! "Program rules" and independently of `loyalty-core`: it shares the event
//! vocabulary with the engine and nothing else.
//!
//! It replays the same operations in the same order as the store sees them
//! (the tier held before a purchase sets its multiplier, so order matters)
//! and keeps, per account, the ledger it expects: kind, points and date of
//! every entry, the open lots expiry consumes oldest first, the tier with
//! its grace period, and the tier history with the spend behind each change.

use std::collections::{BTreeMap, HashMap, VecDeque};

use loyaltyd::core::event::{Event, Purchase as PurchaseEvent, PurchaseStatus, Refund};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

pub const DAY: i64 = 86_400_000;

/// A tier: the qualifying spend (EUR) it needs, and its earn multiplier.
pub struct TierRule {
    pub id: &'static str,
    pub min_spend: i64,
    pub multiplier: &'static str,
}

/// A reward of the catalog.
pub struct RewardRule {
    pub id: &'static str,
    pub points: i64,
    pub stock: Option<u32>,
    /// Tiers that may redeem it; empty: everyone.
    pub tiers: &'static [&'static str],
}

/// The program, as plain figures both the engine's configuration and the
/// model are built from.
pub struct Rules {
    pub points_per_euro: i64,
    /// Lowest first.
    pub tiers: &'static [TierRule],
    pub window_days: i64,
    pub grace_days: i64,
    pub expiry_days: i64,
    pub rewards: &'static [RewardRule],
}

/// One expected ledger entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: &'static str,
    pub points: i64,
    pub occurred_at: i64,
}

/// One expected tier change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub from: Option<&'static str>,
    pub to: Option<&'static str>,
    pub kind: &'static str,
    pub spend: Decimal,
    pub at: i64,
}

#[derive(Clone, Default, PartialEq, Eq)]
struct Purchase {
    account: Option<String>,
    version: u64,
    status: Option<PurchaseStatus>,
    placed_at: Option<i64>,
    /// The newest net amount until the purchase earns, then frozen.
    net_cents: i64,
    earned: Option<i64>,
    refunds: BTreeMap<String, i64>,
    reversed: i64,
}

struct Tier {
    /// Index into `Rules::tiers`; `None`: no tier.
    rank: Option<usize>,
    since: i64,
    below_since: Option<i64>,
}

/// Points of one positive entry not spent yet.
struct Lot {
    remaining: i64,
    at: i64,
}

#[derive(Default)]
struct Account {
    purchases: Vec<String>,
    tier: Option<Tier>,
    history: Vec<Change>,
    ledger: Vec<Entry>,
    /// Oldest first by date, ties in the order they were earned.
    lots: VecDeque<Lot>,
    /// Points debited when no lot was left, repaid by the next credits.
    deficit: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Reserved,
    Fulfilled,
    Failed,
}

pub struct Redemption {
    pub account: String,
    pub reward: &'static str,
    pub points: i64,
    pub status: Status,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    UnknownReward,
    TierNotEligible,
    OutOfStock,
    InsufficientPoints { balance: i64, cost: i64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redeemed {
    Created(usize),
    Replayed(usize),
    Conflict,
    Refused(Refusal),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    Settled,
    AlreadySettled,
    Conflict,
}

/// What one run of the scheduled jobs should do.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Jobs {
    pub tier_changes: usize,
    pub expirations: usize,
    pub points_expired: i64,
}

/// Counts that show the run exercised what it claims to.
#[derive(Debug, Default)]
pub struct Tally {
    pub upgrades: usize,
    pub downgrades: usize,
    pub multiplied_earnings: usize,
    pub expirations: usize,
    /// Debits beyond the unspent points (a refund after a redemption).
    pub overdrafts: usize,
    pub replays: usize,
    pub conflicts: usize,
    pub refusals: BTreeMap<&'static str, usize>,
    pub settled_again: usize,
    pub settle_conflicts: usize,
}

pub struct Model {
    rules: &'static Rules,
    pub now: i64,
    purchases: HashMap<String, Purchase>,
    accounts: BTreeMap<String, Account>,
    pub redemptions: Vec<Redemption>,
    /// Idempotency key -> (request, redemption).
    keys: HashMap<String, (String, usize)>,
    pub tally: Tally,
}

fn cents(amount: Decimal) -> i64 {
    (amount * Decimal::ONE_HUNDRED).to_i64().unwrap()
}

impl Model {
    pub fn new(rules: &'static Rules, now: i64) -> Self {
        Self {
            rules,
            now,
            purchases: HashMap::new(),
            accounts: BTreeMap::new(),
            redemptions: Vec::new(),
            keys: HashMap::new(),
            tally: Tally::default(),
        }
    }

    pub fn exists(&self, account: &str) -> bool {
        self.accounts.contains_key(account)
    }

    pub fn accounts(&self) -> impl Iterator<Item = &String> {
        self.accounts.keys()
    }

    pub fn ledger(&self, account: &str) -> &[Entry] {
        &self.accounts[account].ledger
    }

    pub fn balance(&self, account: &str) -> i64 {
        self.accounts[account].ledger.iter().map(|e| e.points).sum()
    }

    pub fn tier(&self, account: &str) -> (Option<&'static str>, Option<i64>) {
        match &self.accounts[account].tier {
            Some(t) => (t.rank.map(|r| self.rules.tiers[r].id), Some(t.since)),
            None => (None, None),
        }
    }

    pub fn history(&self, account: &str) -> &[Change] {
        &self.accounts[account].history
    }

    pub fn deliver(&mut self, events: &[Event]) {
        for event in events {
            match event {
                Event::Account(upsert) => {
                    self.accounts.entry(upsert.source_id.clone()).or_default();
                }
                Event::Purchase(p) => self.purchase(p),
                Event::Refund(r) => self.refund(r),
                other => panic!("the workload sends no {other:?}"),
            }
        }
    }

    /// A purchase version: stale versions change nothing; the first paid
    /// version earns at the tier held before it; refunds known so far and
    /// a cancellation are reversed.
    fn purchase(&mut self, event: &PurchaseEvent) {
        let mut record = self
            .purchases
            .get(&event.source_id)
            .cloned()
            .unwrap_or_default();
        if event.version < record.version {
            return;
        }
        let before = record.clone();
        if record.account.is_none() {
            let account = event.account_id.clone().unwrap();
            let buyer = self.accounts.entry(account.clone()).or_default();
            buyer.purchases.push(event.source_id.clone());
            record.account = Some(account);
        }
        let account = record.account.clone().unwrap();
        record.version = event.version;
        record.status = Some(event.status);
        record.placed_at = Some(event.placed_at);
        let mut entries = Vec::new();
        if record.earned.is_none() {
            record.net_cents = cents(event.net_amount.amount);
            if event.status == PurchaseStatus::Paid {
                let multiplier = match self.accounts[&account].tier.as_ref().and_then(|t| t.rank) {
                    Some(rank) => self.rules.tiers[rank].multiplier.parse().unwrap(),
                    None => Decimal::ONE,
                };
                if multiplier != Decimal::ONE {
                    self.tally.multiplied_earnings += 1;
                }
                let exact = event.net_amount.amount
                    * Decimal::from(self.rules.points_per_euro)
                    * multiplier;
                let points = exact.floor().to_i64().unwrap();
                record.earned = Some(points);
                if points != 0 {
                    entries.push(("earn", points, event.placed_at));
                }
            }
        }
        entries.extend(reverse(&mut record, event.placed_at));
        if record == before {
            return;
        }
        self.purchases.insert(event.source_id.clone(), record);
        self.after_spend_change(&account, entries);
    }

    /// A refund, once by its id, even before its purchase is known.
    fn refund(&mut self, event: &Refund) {
        let record = self.purchases.entry(event.purchase_id.clone()).or_default();
        if record.refunds.contains_key(&event.source_id) {
            return;
        }
        record
            .refunds
            .insert(event.source_id.clone(), cents(event.net_amount.amount));
        let entries: Vec<_> = reverse(record, event.refunded_at).into_iter().collect();
        if let Some(account) = record.account.clone() {
            self.after_spend_change(&account, entries);
        }
    }

    fn after_spend_change(&mut self, account: &str, entries: Vec<(&'static str, i64, i64)>) {
        for (kind, points, at) in entries {
            self.append(account, kind, points, at);
        }
        self.evaluate_tier(account);
    }

    /// Qualifying spend: paid purchases placed in (now - window, now], net
    /// of their refunds.
    fn spend(&self, account: &str) -> Decimal {
        let start = self.now - self.rules.window_days * DAY;
        self.accounts[account]
            .purchases
            .iter()
            .map(|id| &self.purchases[id])
            .filter(|p| p.status == Some(PurchaseStatus::Paid))
            .filter(|p| p.placed_at.is_some_and(|at| at > start && at <= self.now))
            .map(|p| Decimal::new((p.net_cents - p.refunds.values().sum::<i64>()).max(0), 2))
            .sum()
    }

    /// Up at once; down to what the spend reaches once it has stayed below
    /// the tier for the grace period.
    fn evaluate_tier(&mut self, account: &str) -> bool {
        let spend = self.spend(account);
        let reached = self
            .rules
            .tiers
            .iter()
            .rposition(|t| Decimal::from(t.min_spend) <= spend);
        let now = self.now;
        let grace = self.rules.grace_days * DAY;
        let tiers = self.rules.tiers;
        let a = self.accounts.get_mut(account).unwrap();
        let tier = a.tier.get_or_insert(Tier {
            rank: None,
            since: now,
            below_since: None,
        });
        let kind = if reached > tier.rank {
            "upgrade"
        } else if reached == tier.rank {
            tier.below_since = None;
            return false;
        } else {
            let below_since = *tier.below_since.get_or_insert(now);
            if now - below_since < grace {
                return false;
            }
            "downgrade"
        };
        a.history.push(Change {
            from: tier.rank.map(|r| tiers[r].id),
            to: reached.map(|r| tiers[r].id),
            kind,
            spend,
            at: now,
        });
        *tier = Tier {
            rank: reached,
            since: now,
            below_since: None,
        };
        if kind == "upgrade" {
            self.tally.upgrades += 1;
        } else {
            self.tally.downgrades += 1;
        }
        true
    }

    /// Appends an entry: a credit repays any deficit, then opens a lot; a
    /// debit consumes the oldest lots first.
    fn append(&mut self, account: &str, kind: &'static str, points: i64, occurred_at: i64) {
        let a = self.accounts.get_mut(account).unwrap();
        a.ledger.push(Entry {
            kind,
            points,
            occurred_at,
        });
        if points > 0 {
            let repaid = points.min(a.deficit);
            a.deficit -= repaid;
            if points > repaid {
                let at = a.lots.iter().take_while(|l| l.at <= occurred_at).count();
                let lot = Lot {
                    remaining: points - repaid,
                    at: occurred_at,
                };
                a.lots.insert(at, lot);
            }
        } else {
            let mut owed = -points;
            while owed > 0 {
                let Some(oldest) = a.lots.front_mut() else {
                    break;
                };
                let taken = owed.min(oldest.remaining);
                oldest.remaining -= taken;
                owed -= taken;
                if oldest.remaining == 0 {
                    a.lots.pop_front();
                }
            }
            if owed > 0 {
                a.deficit += owed;
                self.tally.overdrafts += 1;
            }
        }
    }

    /// Asks for a reward once per idempotency key: a key seen with the same
    /// request replays it, with another is a conflict; a refused request
    /// leaves the key unused.
    pub fn redeem(&mut self, account: &str, reward_id: &str, key: &str) -> Redeemed {
        let request = format!("{account}/{reward_id}");
        if let Some((earlier, redemption)) = self.keys.get(key) {
            return if *earlier == request {
                self.tally.replays += 1;
                Redeemed::Replayed(*redemption)
            } else {
                self.tally.conflicts += 1;
                Redeemed::Conflict
            };
        }
        let refusal = self.refusal(account, reward_id);
        if let Err(refusal) = refusal {
            let name = match refusal {
                Refusal::UnknownReward => "unknown reward",
                Refusal::TierNotEligible => "tier not eligible",
                Refusal::OutOfStock => "out of stock",
                Refusal::InsufficientPoints { .. } => "insufficient points",
            };
            *self.tally.refusals.entry(name).or_default() += 1;
            return Redeemed::Refused(refusal);
        }
        let reward = self
            .rules
            .rewards
            .iter()
            .find(|r| r.id == reward_id)
            .unwrap();
        self.redemptions.push(Redemption {
            account: account.to_owned(),
            reward: reward.id,
            points: reward.points,
            status: Status::Reserved,
        });
        let id = self.redemptions.len() - 1;
        self.keys.insert(key.to_owned(), (request, id));
        self.append(account, "reserve", -reward.points, self.now);
        Redeemed::Created(id)
    }

    fn refusal(&self, account: &str, reward_id: &str) -> Result<(), Refusal> {
        let reward = self
            .rules
            .rewards
            .iter()
            .find(|r| r.id == reward_id)
            .ok_or(Refusal::UnknownReward)?;
        let tier = self.tier(account).0;
        if !reward.tiers.is_empty() && !tier.is_some_and(|t| reward.tiers.contains(&t)) {
            return Err(Refusal::TierNotEligible);
        }
        let taken = self
            .redemptions
            .iter()
            .filter(|r| r.reward == reward.id && r.status != Status::Failed)
            .count();
        if reward.stock.is_some_and(|stock| taken >= stock as usize) {
            return Err(Refusal::OutOfStock);
        }
        let balance = self.balance(account);
        if balance < reward.points {
            return Err(Refusal::InsufficientPoints {
                balance,
                cost: reward.points,
            });
        }
        Ok(())
    }

    /// Settles a reservation once: fulfilled releases the hold and redeems,
    /// failed only releases it.
    pub fn settle(&mut self, redemption: usize, fulfilled: bool) -> Settlement {
        let wanted = if fulfilled {
            Status::Fulfilled
        } else {
            Status::Failed
        };
        let r = &mut self.redemptions[redemption];
        if r.status == wanted {
            self.tally.settled_again += 1;
            return Settlement::AlreadySettled;
        }
        if r.status != Status::Reserved {
            self.tally.settle_conflicts += 1;
            return Settlement::Conflict;
        }
        r.status = wanted;
        let (account, points) = (r.account.clone(), r.points);
        self.append(&account, "release", points, self.now);
        if fulfilled {
            self.append(&account, "redeem", -points, self.now);
        }
        Settlement::Settled
    }

    /// The scheduled jobs: every account that bought is re-evaluated (so
    /// grace periods end), then every lot whose expiry has come expires.
    pub fn run_jobs(&mut self) -> Jobs {
        let mut jobs = Jobs::default();
        let buyers: Vec<String> = self
            .accounts
            .iter()
            .filter(|(_, a)| !a.purchases.is_empty())
            .map(|(id, _)| id.clone())
            .collect();
        for account in &buyers {
            jobs.tier_changes += usize::from(self.evaluate_tier(account));
        }
        let after = self.rules.expiry_days * DAY;
        let ids: Vec<String> = self.accounts.keys().cloned().collect();
        for account in ids {
            let due: Vec<(i64, i64)> = self.accounts[&account]
                .lots
                .iter()
                .take_while(|l| l.at + after <= self.now)
                .map(|l| (l.remaining, l.at + after))
                .collect();
            for (points, expires_at) in due {
                self.append(&account, "expire", -points, expires_at);
                jobs.expirations += 1;
                jobs.points_expired += points;
            }
        }
        self.tally.expirations += jobs.expirations;
        jobs
    }
}

/// Brings the points reversed up to what the refunds and the status call
/// for: everything when cancelled or fully refunded, otherwise
/// floor(earned x refunded / net), in whole cents so no rounding creeps in.
fn reverse(record: &mut Purchase, at: i64) -> Option<(&'static str, i64, i64)> {
    let earned = record.earned?;
    let refunded: i64 = record.refunds.values().sum();
    let target = if record.status == Some(PurchaseStatus::Cancelled) {
        earned
    } else if refunded == 0 {
        0
    } else if refunded >= record.net_cents {
        earned
    } else {
        i64::try_from(i128::from(earned) * i128::from(refunded) / i128::from(record.net_cents))
            .unwrap()
    };
    let delta = target - record.reversed;
    if delta <= 0 {
        return None;
    }
    record.reversed = target;
    Some(("reverse", -delta, at))
}
