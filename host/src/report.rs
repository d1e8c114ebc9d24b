//! Reports for people: the quarterly review, gathered from the store and
//! rendered as one self-contained HTML page (inline SVG charts, no script,
//! no external resource) beside the same data as JSON.

pub mod charts;
mod html;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;

use crate::core::analytics::review::{self, CampaignResult, Review, SegmentMembers};
use crate::core::analytics::{self, Period};
use crate::core::goals::Goal;
use crate::core::program::Program;
use crate::store::{Store, StoreError};

pub use html::{goals_chart, render, review_charts};

/// The analytics of `period`, from the store.
pub async fn analytics(
    store: &dyn Store,
    program: Arc<Program>,
    period: &Period,
) -> Result<analytics::Report, StoreError> {
    let book = store.analytics_book(program.clone()).await?;
    Ok(analytics::report(&book, &program, period))
}

/// The goals' standing at `now`, from the store.
pub async fn goals(
    store: &dyn Store,
    program: Arc<Program>,
    goals: &[Goal],
    now: i64,
) -> Result<Vec<review::GoalStanding>, StoreError> {
    let book = store.analytics_book(program.clone()).await?;
    Ok(review::standings(&book, &program, goals, now))
}

/// Every segment with its accounts now.
async fn segment_members(store: &dyn Store) -> Result<Vec<SegmentMembers>, StoreError> {
    let mut segments = Vec::new();
    for segment in store.segments().await? {
        let members = store
            .segment_members(segment.definition.id.clone(), u32::MAX)
            .await?
            .unwrap_or_default();
        segments.push(SegmentMembers {
            id: segment.definition.id,
            name: segment.definition.name,
            members: members.into_iter().map(|m| m.account_id).collect(),
        });
    }
    Ok(segments)
}

/// Each segment's retention in `quarter` and the quarter before, from the
/// store.
pub async fn segment_retention(
    store: &dyn Store,
    program: Arc<Program>,
    quarter: &Period,
) -> Result<Vec<review::SegmentRetention>, StoreError> {
    let book = store.analytics_book(program).await?;
    let segments = segment_members(store).await?;
    Ok(review::segment_retention(&book, &segments, quarter))
}

/// The review of `quarter` as of `now`, from the store.
pub async fn quarterly(
    store: &dyn Store,
    program: Arc<Program>,
    goals: &[Goal],
    quarter: &Period,
    now: i64,
) -> Result<Review, StoreError> {
    let book = store.analytics_book(program.clone()).await?;
    let mut campaigns = Vec::new();
    for campaign in store.campaigns().await? {
        let report = store
            .campaign_report(campaign.definition.id.clone())
            .await?;
        campaigns.push(CampaignResult {
            id: campaign.definition.id,
            name: campaign.definition.name,
            started_at: campaign.started_at,
            attribution: report.and_then(|r| r.attribution),
        });
    }
    let segments = segment_members(store).await?;
    Ok(review::review(
        &book, &program, quarter, goals, campaigns, &segments, now,
    ))
}

/// Writes `review` into `dir` as `index.html` and `review.json`; returns
/// both paths.
pub fn write(dir: &Path, review: &Review, generated_at: i64) -> anyhow::Result<[PathBuf; 2]> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let html_path = dir.join("index.html");
    let json_path = dir.join("review.json");
    let page = render(review, generated_at).context("rendering the review")?;
    std::fs::write(&html_path, page).with_context(|| format!("writing {}", html_path.display()))?;
    let json = serde_json::to_vec_pretty(review).context("serializing the review")?;
    std::fs::write(&json_path, json).with_context(|| format!("writing {}", json_path.display()))?;
    Ok([html_path, json_path])
}
