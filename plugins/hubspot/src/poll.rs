//! Incremental sync: one durable cursor over companies, contacts, deals and
//! feedback submissions, read in that order (so that a page of contacts
//! finds its companies known, and a deal its company and contact).
//!
//! Each call reads one search page of one type. The cursor holds, for each
//! type, the latest modified time read in a finished pass (its *mark*), and
//! where the pass in progress stands: the type, the lower bound of its
//! search window, HubSpot's `after` token and the latest modified time read
//! so far. A pass over a type searches `modified >= mark`, so the records at
//! the mark itself are read again; the host drops them as repeats of the
//! same version.
//!
//! HubSpot pages through at most 10,000 results of one search. When the
//! next `after` would reach that cap, the pass starts a new search window at
//! the last record's modified time instead of paging on.

use std::collections::BTreeMap;

use loyalty_sdk::host;
use loyalty_sdk::types::{Error, PollPage, PollRequest};
use serde::{Deserialize, Serialize};

use crate::crm::ObjectType;
use crate::ids::Id;
use crate::records;
use crate::search::Search;
use crate::settings::Settings;

/// The types synced, in the order each sync reads them.
pub const SYNCED: [ObjectType; 4] = [
    ObjectType::Company,
    ObjectType::Contact,
    ObjectType::Deal,
    ObjectType::FeedbackSubmission,
];

/// Where the sync stands; committed by the host with each page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The type being read, by its API name (`companies`).
    pub stage: String,
    /// The lower bound (UTC ms, inclusive) of the current search window.
    pub window: i64,
    /// HubSpot's token for the next page of the current search window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// The latest modified time read in the current pass.
    pub seen: i64,
    /// For each type, by API name: where its next pass starts.
    pub marks: BTreeMap<String, i64>,
}

/// What one page moves the cursor to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The cursor after the page.
    pub cursor: Cursor,
    /// Whether another page is ready now.
    pub more: bool,
}

impl Cursor {
    /// A cursor at the start of a pass over every type from `at` on: the
    /// first sync (`at` = 0) and a backfill (`at` = its `since`).
    pub fn start(at: i64) -> Self {
        let first = SYNCED[0];
        Self {
            stage: first.path().to_owned(),
            window: at,
            after: None,
            seen: at,
            marks: SYNCED.iter().map(|t| (t.path().to_owned(), at)).collect(),
        }
    }

    /// Reads a committed cursor.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let cursor: Self = serde_json::from_str(text).map_err(|e| {
            Error::Permanent(format!(
                "the committed sync cursor `{text}` is not one this connector writes ({e}); reset the cursor of connector `hubspot`"
            ))
        })?;
        cursor.kind()?;
        Ok(cursor)
    }

    /// The cursor as committed.
    pub fn encode(&self) -> Result<String, Error> {
        serde_json::to_string(self)
            .map_err(|e| Error::Permanent(format!("cannot encode the sync cursor: {e}")))
    }

    /// The type being read.
    pub fn kind(&self) -> Result<ObjectType, Error> {
        ObjectType::from_path(&self.stage)
            .filter(|t| SYNCED.contains(t))
            .ok_or_else(|| {
                Error::Permanent(format!(
                    "the sync cursor names `{}`, which is not a synced object type",
                    self.stage
                ))
            })
    }

    /// The mark of a type: where its next pass starts.
    pub fn mark(&self, kind: ObjectType) -> i64 {
        self.marks.get(kind.path()).copied().unwrap_or(0)
    }

    /// The search that reads the next page.
    pub fn search(&self, settings: &Settings, page_size: u32) -> Result<Search, Error> {
        let kind = self.kind()?;
        Ok(Search {
            kind,
            since_ms: self.window,
            after: self.after.clone(),
            limit: page_size.clamp(1, crate::search::LIMIT_MAX),
            properties: records::properties(settings, kind),
        })
    }

    /// Moves past a page whose latest record changed at `last_modified`
    /// (`None` for an empty page) and whose next page is `next_after`.
    /// `result_limit` is how far one search can page (HubSpot: 10,000).
    pub fn advance(
        &self,
        last_modified: Option<i64>,
        next_after: Option<&str>,
        result_limit: u32,
    ) -> Result<Step, Error> {
        let kind = self.kind()?;
        let mut next = self.clone();
        if let Some(ms) = last_modified {
            next.seen = next.seen.max(ms);
        }
        if let Some(after) = next_after {
            let reaches_limit = after
                .trim()
                .parse::<u64>()
                .is_ok_and(|offset| offset >= u64::from(result_limit));
            if !reaches_limit {
                next.after = Some(after.to_owned());
                return Ok(Step {
                    cursor: next,
                    more: true,
                });
            }
            let last = last_modified.unwrap_or(self.window);
            next.window = if last > self.window {
                last
            } else {
                // Every result of this window changed in the same
                // millisecond: the window cannot start later without
                // moving past that millisecond.
                host::warn(&format!(
                    "more than {result_limit} HubSpot {} changed at {last} ms; the sync goes on after that millisecond and may miss some of them",
                    kind.path()
                ));
                last.saturating_add(1)
            };
            next.after = None;
            return Ok(Step {
                cursor: next,
                more: true,
            });
        }
        next.marks.insert(kind.path().to_owned(), next.seen);
        let position = SYNCED.iter().position(|t| *t == kind).unwrap_or(0);
        let (following, more) = match SYNCED.get(position + 1) {
            Some(following) => (*following, true),
            None => (SYNCED[0], false),
        };
        next.stage = following.path().to_owned();
        next.window = next.mark(following);
        next.seen = next.window;
        next.after = None;
        Ok(Step { cursor: next, more })
    }
}

/// One page of the sync.
pub fn poll(request: &PollRequest) -> Result<PollPage, Error> {
    let settings = Settings::load()?;
    let cursor = match (request.since, request.cursor.as_deref()) {
        (Some(since), _) => Cursor::start(since),
        (None, Some(text)) => Cursor::parse(text)?,
        (None, None) => Cursor::start(0),
    };
    let kind = cursor.kind()?;
    if kind == ObjectType::FeedbackSubmission && !settings.feedback_submissions {
        // Turned off: the pass over feedback ends at once.
        let step = cursor.advance(None, None, settings.search_result_limit)?;
        return Ok(PollPage {
            events: Vec::new(),
            next_cursor: Some(step.cursor.encode()?),
            more: step.more,
        });
    }
    let page = cursor
        .search(&settings, request.page_size)?
        .run(&settings)?;
    let ids: Vec<Id> = page.results.iter().map(|o| o.id.clone()).collect();
    let related = records::read_related(&settings, kind, &ids)?;
    let events = records::to_events(&settings, kind, &page.results, &related)?;
    let mut last_modified = None;
    for object in &page.results {
        let ms = object.modified_ms(kind)?;
        last_modified = Some(last_modified.map_or(ms, |last: i64| last.max(ms)));
    }
    let step = cursor.advance(
        last_modified,
        page.next_after(),
        settings.search_result_limit,
    )?;
    Ok(PollPage {
        events,
        next_cursor: Some(step.cursor.encode()?),
        more: step.more,
    })
}
