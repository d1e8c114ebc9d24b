//! The sync cursor: where an incremental sync stands, as the JSON text the
//! host stores with each committed page.
//!
//! ```json
//! {"stage": "Contact",
//!  "marks": {"Account": "2026-05-01T07:25:37.000Z"},
//!  "after": {"modstamp": "2026-05-01T07:25:37.000Z", "id": "003..."},
//!  "next": {"url": "/services/data/v60.0/query/01g...-2000", "limit": 100}}
//! ```
//!
//! - `stage`: the object being read; a sync reads the objects in a fixed
//!   order and ends after the last.
//! - `marks`: per object, the `SystemModstamp` of the newest record read;
//!   the next sync of that object starts there (inclusively).
//! - `after`: within this sync, the last record read of the current object;
//!   the next page starts after it.
//! - `next`: a batch of the current page's query that Salesforce has not
//!   sent yet (its `nextRecordsUrl`) and the `LIMIT` that query had.

use std::collections::BTreeMap;

use loyalty_sdk::types::Error;
use serde::{Deserialize, Serialize};

use crate::soql::{Bound, SObject};
use crate::timestamp::{parse_datetime_ms, soql_literal};

/// Where a sync stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The object being read.
    pub stage: SObject,
    /// Per object API name, the newest `SystemModstamp` read, as a SOQL
    /// literal.
    #[serde(default)]
    pub marks: BTreeMap<String, String>,
    /// The last record read of `stage` in this sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Position>,
    /// A batch still to fetch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<Pending>,
}

/// A record's place in `(SystemModstamp, Id)` order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// Its `SystemModstamp`, as a SOQL literal.
    pub modstamp: String,
    /// Its id.
    pub id: String,
}

/// The rest of a query whose answer came in batches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// The `nextRecordsUrl`.
    pub url: String,
    /// The query's `LIMIT`: a query that returned that many records may
    /// have left some out.
    pub limit: u32,
}

impl Cursor {
    /// The start of the very first sync.
    pub fn start(stage: SObject) -> Self {
        Self {
            stage,
            marks: BTreeMap::new(),
            after: None,
            next: None,
        }
    }

    /// The start of a backfill from `since` (ms): every object from there.
    pub fn backfill(stage: SObject, stages: &[SObject], since: i64) -> Self {
        let mark = soql_literal(since.max(0));
        Self {
            stage,
            marks: stages
                .iter()
                .map(|s| (s.name().to_owned(), mark.clone()))
                .collect(),
            after: None,
            next: None,
        }
    }

    /// Reads the cursor text the host stored.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let cursor: Self = serde_json::from_str(text).map_err(|e| {
            Error::Permanent(format!(
                "the stored sync cursor is not understood ({e}): `{text}`; reset the connector's cursor"
            ))
        })?;
        for mark in cursor.marks.values() {
            parse_datetime_ms(mark)
                .map_err(|e| Error::Permanent(format!("the stored sync cursor: {e}")))?;
        }
        if let Some(after) = &cursor.after {
            parse_datetime_ms(&after.modstamp)
                .map_err(|e| Error::Permanent(format!("the stored sync cursor: {e}")))?;
        }
        Ok(cursor)
    }

    /// The cursor as the text the host stores.
    pub fn to_text(&self) -> Result<String, Error> {
        serde_json::to_string(self)
            .map_err(|e| Error::Permanent(format!("cannot encode the sync cursor: {e}")))
    }

    /// Where the next query of the current stage starts.
    pub fn bound(&self) -> Bound {
        let ms = |literal: &str| parse_datetime_ms(literal).unwrap_or_default();
        match (&self.after, self.marks.get(self.stage.name())) {
            (Some(after), _) => Bound::After {
                modstamp: ms(&after.modstamp),
                id: after.id.clone(),
            },
            (None, Some(mark)) => Bound::Since(ms(mark)),
            (None, None) => Bound::Everything,
        }
    }

    /// Records that a record of the current stage was read.
    pub fn read(&mut self, modstamp: i64, id: &str) {
        let literal = soql_literal(modstamp);
        let newer = self
            .marks
            .get(self.stage.name())
            .and_then(|m| parse_datetime_ms(m).ok())
            .is_none_or(|mark| modstamp > mark);
        if newer {
            self.marks
                .insert(self.stage.name().to_owned(), literal.clone());
        }
        self.after = Some(Position {
            modstamp: literal,
            id: id.to_owned(),
        });
    }

    /// Moves on to `stage` (or back to the first, for the next sync).
    pub fn enter(&mut self, stage: SObject) {
        self.stage = stage;
        self.after = None;
        self.next = None;
    }
}
