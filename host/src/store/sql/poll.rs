//! Poll pages and pushed campaign batches on SQLite. Poll pages: each page's events, the connector's state writes and
//! the stream's cursor commit together, so a crash between two pages resumes
//! from the last committed cursor with nothing lost or applied twice.

use sha2::{Digest, Sha256};

use crate::store::apply::{ApplyError, Context, apply_events};
use crate::store::db::Db;
use crate::store::sql::book::SqlBook;
use crate::store::sql::cluster;
use crate::store::sql::{Env, write_state};
use crate::store::{
    CampaignBatch, PageCompletion, PageResult, PollPosition, PollStream, StoreError,
};

/// Where a stream stands; the default before its first page.
pub(crate) fn position(
    conn: &dyn Db,
    connector: &str,
    stream: PollStream,
) -> Result<PollPosition, StoreError> {
    conn.row(
        "SELECT cursor, pages, events FROM poll_cursors WHERE connector = ?1 AND stream = ?2",
        &[&connector, &stream.as_str()],
        |row| {
            Ok(PollPosition {
                cursor: row.get(0)?,
                pages: row.get::<i64>(1)?.unsigned_abs(),
                events: row.get::<i64>(2)?.unsigned_abs(),
            })
        },
    )
    .map(Option::unwrap_or_default)
}

/// Forgets a stream's cursor.
pub(crate) fn reset(conn: &dyn Db, connector: &str, stream: PollStream) -> Result<(), StoreError> {
    conn.execute(
        "DELETE FROM poll_cursors WHERE connector = ?1 AND stream = ?2",
        &[&connector, &stream.as_str()],
    )
    .map(drop)
}

/// Applies a page's events one by one (a refused event becomes a dead letter
/// and the others still apply), then writes the state and the cursor.
pub(crate) fn commit_page(
    conn: &dyn Db,
    env: &Env,
    page: &PageCompletion,
) -> Result<PageResult, StoreError> {
    let now = env.now;
    let cx = Context {
        program: env.history.at(now).map_or(&page.program, |current| current),
        history: &env.history,
        identity: &env.identity,
        source: &page.connector,
        now,
    };
    if let Some(lease) = &page.lease {
        cluster::fence(conn, lease, now)?;
    }
    let mut result = PageResult::default();
    for event in &page.events {
        conn.execute("SAVEPOINT poll_event", &[])?;
        let mut book = SqlBook::new(conn, now);
        match apply_events(&mut book, &cx, std::slice::from_ref(event)) {
            Ok(applied) => {
                conn.execute("RELEASE poll_event", &[])?;
                result.applied.changed += applied.changed;
                result.applied.unchanged += applied.unchanged;
                result.applied.entries += applied.entries;
            }
            Err(ApplyError::Store(e)) => {
                conn.execute("ROLLBACK TO poll_event", &[])?;
                conn.execute("RELEASE poll_event", &[])?;
                return Err(e);
            }
            Err(ApplyError::Core(e)) => {
                conn.execute("ROLLBACK TO poll_event", &[])?;
                conn.execute("RELEASE poll_event", &[])?;
                let message = e.to_string();
                refused(conn, page, &format!("{event:#?}"), &message, now)?;
                result.refused.push(message);
            }
        }
    }
    write_state(conn, &page.connector, &page.state)?;
    if page.finished && page.stream == PollStream::Backfill {
        reset(conn, &page.connector, page.stream)?;
    } else {
        conn.execute(
            "INSERT INTO poll_cursors (connector, stream, cursor, pages, events, updated_at)
             VALUES (?1, ?2, ?3, 1, ?4, ?5)
             ON CONFLICT (connector, stream) DO UPDATE SET cursor = excluded.cursor,
                 pages = poll_cursors.pages + 1, events = poll_cursors.events + excluded.events,
                 updated_at = excluded.updated_at",
            &[
                &page.connector,
                &page.stream.as_str(),
                &page.cursor,
                &i64::try_from(page.events.len()).unwrap_or(i64::MAX),
                &now,
            ],
        )?;
    }
    Ok(result)
}

/// Keeps a refused event as a dead letter: the inbox row carries the event
/// as the connector normalized it (method `POLL`), so the operator sees what
/// was refused and why. The same event refused again updates the letter.
fn refused(
    conn: &dyn Db,
    page: &PageCompletion,
    event: &str,
    error: &str,
    now: i64,
) -> Result<(), StoreError> {
    let digest = hex::encode(Sha256::digest(event.as_bytes()));
    let delivery_id = format!("poll:{}", &digest[..32]);
    let inbox_id: i64 = conn.one(
            "INSERT INTO inbox (connector, delivery_id, topic, method, url, received_at, status, attempts, last_error, processed_at)
             VALUES (?1, ?2, 'poll', 'POLL', ?3, ?4, 'dead', 1, ?5, ?4)
             ON CONFLICT (connector, delivery_id) DO UPDATE SET last_error = excluded.last_error,
                 processed_at = excluded.processed_at
             RETURNING id",
            &[
                &page.connector,
                &delivery_id,
                &format!("poll:{}", page.stream.as_str()),
                &now,
                &error,
            ],
            |row| row.get(0),
        )?;
    // The same event refused again has the same body (its id is the
    // event's digest).
    conn.execute(
        "INSERT INTO inbox_bodies (inbox_id, headers, body) VALUES (?1, '[]', ?2)
         ON CONFLICT (inbox_id) DO NOTHING",
        &[&inbox_id, &event.as_bytes()],
    )?;
    conn.execute(
        "INSERT INTO dead_letters (inbox_id, error, plugin_sha256, failed_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (inbox_id) DO UPDATE SET error = excluded.error,
             plugin_sha256 = excluded.plugin_sha256, failed_at = excluded.failed_at",
        &[&inbox_id, &error, &page.plugin_sha256, &now],
    )
    .map(drop)
}

/// The report of a campaign batch pushed earlier.
pub(crate) fn campaign_batch(
    conn: &dyn Db,
    connector: &str,
    key: &str,
) -> Result<Option<serde_json::Value>, StoreError> {
    let report: Option<String> = conn.row(
        "SELECT report FROM campaign_batches WHERE connector = ?1 AND idempotency_key = ?2",
        &[&connector, &key],
        |row| row.get(0),
    )?;
    report
        .map(|text| serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(e.to_string())))
        .transpose()
}

/// Records a pushed batch with the connector's state writes.
pub(crate) fn record_campaign_batch(
    conn: &dyn Db,
    env: &Env,
    batch: &CampaignBatch,
) -> Result<(), StoreError> {
    write_state(conn, &batch.connector, &batch.state)?;
    conn.execute(
        "INSERT INTO campaign_batches (connector, idempotency_key, campaign_id, report, pushed_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (connector, idempotency_key) DO NOTHING",
        &[
            &batch.connector,
            &batch.idempotency_key,
            &batch.campaign_id,
            &batch.report.to_string(),
            &env.now,
        ],
    )
    .map(drop)
}
