//! The durable sync cursor: one pass over business partners, then one over
//! sales orders, each from its own high-water mark.
//!
//! The cursor is JSON, committed by the host with each page:
//!
//! ```json
//! {"stage":"orders",
//!  "partners":{"since_ms":1777593600000,"skip":0,"newest_ms":null},
//!  "orders":{"since_ms":1777640400123,"skip":2},
//!  "next":"https://.../A_SalesOrder?...&$skiptoken=..","taken":2}
//! ```
//!
//! - `partners.since_ms` is the lower bound (a day) of the current pass,
//!   `skip` how many partners of the pass were read (they are read in
//!   partner-number order), `newest_ms` the newest version the pass saw,
//!   which becomes the next pass's lower bound.
//! - `orders.since_ms` is the newest `LastChangeDateTime` read, `skip` how
//!   many orders changed exactly then were read (orders are read in change
//!   order, so they come first at that instant and are skipped).
//! - `next` is the server's `__next` link of the current query when it has
//!   more, and `taken` how many records the query has returned so far: a
//!   query that returned all it was asked for may have more behind it.

use loyalty_sdk::types::Error;
use serde::{Deserialize, Serialize};

use crate::time;

/// Which entity set the sync reads now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Business partners; accounts come before the purchases naming them.
    Partners,
    /// Sales orders.
    Orders,
}

/// The pass over business partners.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerPass {
    /// Partners changed or created on or after this day are read.
    pub since_ms: i64,
    /// Partners of this pass already read.
    pub skip: u32,
    /// The newest partner version seen in this pass.
    pub newest_ms: Option<i64>,
}

/// The high-water mark of sales orders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderMark {
    /// The newest `LastChangeDateTime` read.
    pub since_ms: i64,
    /// Orders changed exactly at `since_ms` already read.
    pub skip: u32,
}

/// Where the sync stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The entity set read now.
    pub stage: Stage,
    /// Business partners.
    pub partners: PartnerPass,
    /// Sales orders.
    pub orders: OrderMark,
    /// The `__next` link of the current query, already resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// Records the current query has returned so far.
    #[serde(default)]
    pub taken: u32,
}

/// What the sync does after a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Another page of the same stage is ready.
    More,
    /// The partners are done; the orders come next, at once.
    OrdersNext,
    /// The sync is complete.
    Done,
}

impl Cursor {
    /// A cursor that reads everything changed at or after `since_ms`.
    pub fn starting_at(since_ms: i64) -> Self {
        Self {
            stage: Stage::Partners,
            partners: PartnerPass {
                since_ms: time::start_of_day(since_ms),
                skip: 0,
                newest_ms: None,
            },
            orders: OrderMark { since_ms, skip: 0 },
            next: None,
            taken: 0,
        }
    }

    /// Parses a cursor this connector wrote.
    pub fn parse(text: &str) -> Result<Self, Error> {
        serde_json::from_str(text).map_err(|e| {
            Error::Permanent(format!(
                "the committed cursor `{text}` is not one this connector writes ({e}); reset the connector's sync state"
            ))
        })
    }

    /// The cursor as the host commits it.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Records a page of `count` partners, the newest version among them and
    /// the resolved `__next` link.
    pub fn partners_read(
        &mut self,
        count: u32,
        newest: Option<i64>,
        next: Option<String>,
        page_size: u32,
    ) -> After {
        self.partners.skip = self.partners.skip.saturating_add(count);
        if let Some(newest) = newest {
            self.partners.newest_ms =
                Some(self.partners.newest_ms.map_or(newest, |n| n.max(newest)));
        }
        if self.query_continues(count, next, page_size) {
            return After::More;
        }
        self.partners = PartnerPass {
            since_ms: time::start_of_day(self.partners.newest_ms.unwrap_or(self.partners.since_ms)),
            skip: 0,
            newest_ms: None,
        };
        self.stage = Stage::Orders;
        After::OrdersNext
    }

    /// Records a page of orders with the versions of its records (in the
    /// order returned) and the resolved `__next` link.
    pub fn orders_read(&mut self, versions: &[i64], next: Option<String>, page_size: u32) -> After {
        for &version in versions {
            if version > self.orders.since_ms {
                self.orders = OrderMark {
                    since_ms: version,
                    skip: 1,
                };
            } else if version == self.orders.since_ms {
                self.orders.skip = self.orders.skip.saturating_add(1);
            }
        }
        let count = u32::try_from(versions.len()).unwrap_or(u32::MAX);
        if self.query_continues(count, next, page_size) {
            return After::More;
        }
        self.stage = Stage::Partners;
        After::Done
    }

    /// Whether the current query has more: the server said so with
    /// `__next`, or the query returned all it was asked for. Resets the
    /// query's state when it starts over.
    fn query_continues(&mut self, count: u32, next: Option<String>, page_size: u32) -> bool {
        self.taken = self.taken.saturating_add(count);
        if next.is_some() {
            self.next = next;
            return true;
        }
        self.next = None;
        let full = self.taken >= page_size;
        self.taken = 0;
        full
    }
}
