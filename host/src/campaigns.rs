//! The campaign dispatcher: starts scheduled campaigns, has the channel
//! make each targeted account's discount code, renders every recipient's
//! message and pushes batches through the channel's `push-campaign`,
//! retrying refused recipients and passing failures with backoff, until
//! every delivery settles.
//!
//! Each batch's key is stored with its deliveries before the push, so a
//! push interrupted by a crash is repeated under the same key (the
//! connector turns it into something the vendor dedupes on), and a batch
//! the store already recorded as pushed is settled from that record
//! instead of being pushed again.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use minijinja::Environment;
use serde_json::json;
use tokio::sync::watch;

use rust_decimal::Decimal;

use crate::core::campaigns::{CampaignKind, Offer};
use crate::core::program::Program;
use crate::runtime::Plugin;
use crate::runtime::wit::latest::exports::loyalty::connector::sink as wit;
use crate::store::campaigns::{Batch, CampaignView, Recipient};
use crate::store::{CampaignBatch, Store};

/// Recipients per `push-campaign` call.
pub const BATCH_MAX: usize = 100;
/// How often the dispatcher looks for due campaigns without being woken.
const TICK: Duration = Duration::from_secs(1);

/// Why a template cannot be used.
pub fn check_template(name: &str, text: &str) -> Result<(), String> {
    let mut env = Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.add_template(name, text)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The values a template may use, for one recipient.
fn variables(
    campaign: &CampaignView,
    program: &Program,
    recipient: &Recipient,
) -> serde_json::Value {
    let offer = campaign
        .definition
        .offer
        .as_ref()
        .map(|offer| describe(offer, program));
    let reward = match &campaign.definition.offer {
        Some(Offer::Reward { reward }) => program.rewards.iter().find(|r| &r.id == reward),
        _ => None,
    };
    json!({
        "campaign": campaign.definition.name,
        "account_name": recipient.account_name,
        "first_name": recipient.first_name,
        "last_name": recipient.last_name,
        "email": recipient.email,
        "tier": recipient.tier,
        "next_tier": recipient.next_tier,
        "spend_to_next_tier": recipient.spend_to_next_tier.map(|d| d.to_string()),
        "balance": recipient.balance,
        "offer": offer,
        "offer_code": recipient.offer_code,
        "reward_name": reward.map(|r| r.name.clone()),
        "reward_points": reward.map(|r| r.points),
        "currency": program.currency,
    })
}

/// An offer in words, for templates.
fn describe(offer: &Offer, program: &Program) -> String {
    match offer {
        Offer::BonusPoints { points } => format!("{points} bonus points"),
        Offer::Multiplier { factor, .. } => format!("{factor}x points on every order"),
        Offer::DiscountCode {
            percent_off: Some(p),
            ..
        } => format!("{p}% off your next order"),
        Offer::DiscountCode {
            amount_off: Some(a),
            ..
        } => format!("{a} {} off your next order", program.currency),
        Offer::DiscountCode { .. } => "a discount".to_owned(),
        Offer::Reward { reward } => program
            .rewards
            .iter()
            .find(|r| &r.id == reward)
            .map_or_else(|| reward.clone(), |r| r.name.clone()),
    }
}

/// Renders the subject and the message of every recipient of a batch.
fn render(
    campaign: &CampaignView,
    program: &Program,
    batch: &Batch,
) -> Result<Vec<wit::Recipient>, String> {
    let mut env = Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
    env.add_template("message", &campaign.definition.template)
        .map_err(|e| format!("template: {e}"))?;
    if let Some(subject) = &campaign.definition.subject {
        env.add_template("subject", subject)
            .map_err(|e| format!("subject: {e}"))?;
    }
    let message = env.get_template("message").map_err(|e| e.to_string())?;
    let subject = env.get_template("subject").ok();
    batch
        .recipients
        .iter()
        .map(|recipient| {
            let values = variables(campaign, program, recipient);
            let mut fields: BTreeMap<String, String> = BTreeMap::new();
            fields.insert(
                "message".to_owned(),
                message
                    .render(&values)
                    .map_err(|e| format!("template: {e}"))?,
            );
            if let Some(subject) = &subject {
                fields.insert(
                    "subject".to_owned(),
                    subject
                        .render(&values)
                        .map_err(|e| format!("subject: {e}"))?,
                );
            }
            if let Some(object) = values.as_object() {
                for (name, value) in object {
                    let text = match value {
                        serde_json::Value::Null => continue,
                        serde_json::Value::String(text) => text.clone(),
                        other => other.to_string(),
                    };
                    fields.entry(name.clone()).or_insert(text);
                }
            }
            Ok(wit::Recipient {
                account_id: recipient.account_ref.clone(),
                contact_id: recipient.contact_ref.clone(),
                email: recipient.email.clone(),
                fields: fields
                    .into_iter()
                    .map(|(name, value)| wit::Attribute { name, value })
                    .collect(),
            })
        })
        .collect()
}

fn wit_offer(campaign: &CampaignView, program: &Program) -> Option<wit::Offer> {
    let offer = campaign.definition.offer.as_ref()?;
    let (percent_off, amount_off, ends_at) = match offer {
        Offer::DiscountCode {
            percent_off,
            amount_off,
            ends_at,
        } => (*percent_off, *amount_off, *ends_at),
        Offer::Multiplier { ends_at, .. } => (None, None, Some(*ends_at)),
        _ => (None, None, None),
    };
    Some(wit::Offer {
        id: format!("campaign-{}", campaign.definition.id),
        code: None,
        percent_off: percent_off.map(|p| p.normalize().to_string()),
        amount_off: amount_off.map(|a| wit::Money {
            amount: a.normalize().to_string(),
            currency: program.currency.clone(),
        }),
        ends_at,
    })
}

/// Runs campaigns until shutdown.
pub struct Dispatcher {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The program.
    pub program: Arc<Program>,
    /// Connectors by name.
    pub plugins: BTreeMap<String, Plugin>,
}

impl Dispatcher {
    /// Works through due campaigns every [`TICK`].
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        loop {
            if let Err(e) = self.work().await {
                tracing::warn!(error = %e, "campaign dispatch failed; it runs again shortly");
            }
            tokio::select! {
                () = tokio::time::sleep(TICK) => {}
                changed = stop.changed() => if changed.is_err() || *stop.borrow() {
                    return;
                },
            }
        }
    }

    async fn work(&self) -> anyhow::Result<()> {
        for campaign in self.store.due_campaigns().await? {
            let id = campaign.definition.id.clone();
            let Some(plugin) = self.plugins.get(&campaign.definition.channel).cloned() else {
                // Checked when the campaign was defined; a connector removed
                // from the configuration since leaves it waiting.
                tracing::warn!(
                    campaign = id.as_str(),
                    channel = campaign.definition.channel.as_str(),
                    "campaign channel is not configured"
                );
                continue;
            };
            self.store
                .start_campaign(id.clone(), self.program.clone())
                .await?;
            let Some(campaign) = self.store.campaign(id.clone()).await? else {
                continue;
            };
            if matches!(campaign.definition.offer, Some(Offer::DiscountCode { .. }))
                && self.make_codes(&campaign, &plugin).await? > 0
            {
                // Messages carry the codes: they wait until every code is
                // made or refused.
                continue;
            }
            while let Some(batch) = self
                .store
                .next_campaign_batch(id.clone(), BATCH_MAX, self.program.clone())
                .await?
            {
                self.push(&campaign, &plugin, batch).await?;
            }
            if let Some(status) = self.store.finish_campaign(id.clone()).await? {
                tracing::info!(
                    campaign = id.as_str(),
                    status = status.as_str(),
                    "campaign finished"
                );
            }
        }
        Ok(())
    }

    /// Has the channel make each targeted account's unique discount code;
    /// returns how many are still to be made (the channel failed in
    /// passing).
    async fn make_codes(&self, campaign: &CampaignView, plugin: &Plugin) -> anyhow::Result<usize> {
        let id = &campaign.definition.id;
        let mut waiting = 0;
        for request in self.store.campaign_code_requests(id.clone()).await? {
            let reward = wit::RewardRequest {
                idempotency_key: format!("campaign-{id}-{}", request.account_id),
                redemption_id: format!("campaign-{id}-{}", request.account_id),
                account_id: request.account_ref.clone(),
                contact_id: request.contact_ref.clone(),
                kind: wit::RewardKind::Discount,
                reward_id: format!("campaign-{id}"),
                name: campaign.definition.name.clone(),
                offer: wit_offer(campaign, &self.program),
                attributes: Vec::new(),
            };
            let code = match plugin.fulfil_reward(&reward).await {
                Ok(output) => match output.value.code {
                    Some(code) => Ok(code),
                    None => Err(format!(
                        "`{}` made no code (external id {})",
                        campaign.definition.channel, output.value.external_id
                    )),
                },
                Err(error) if error.is_retryable() => {
                    tracing::warn!(campaign = id.as_str(), account = request.account_id, error = %error, "discount code not made yet; retried");
                    waiting += 1;
                    continue;
                }
                Err(error) => Err(error.to_string()),
            };
            self.store
                .record_campaign_code(id.clone(), request.account_id, code)
                .await?;
        }
        Ok(waiting)
    }

    async fn push(
        &self,
        campaign: &CampaignView,
        plugin: &Plugin,
        batch: Batch,
    ) -> anyhow::Result<()> {
        let id = &campaign.definition.id;
        let channel = &campaign.definition.channel;
        let key = batch.key.clone();
        if let Some(report) = self.store.campaign_batch(channel, &key).await? {
            self.store
                .settle_campaign_batch(id.clone(), key, rejected_of(&report))
                .await?;
            return Ok(());
        }
        let recipients = match render(campaign, &self.program, &batch) {
            Ok(recipients) => recipients,
            Err(problem) => {
                self.store.fail_campaign_batch(key, problem, false).await?;
                return Ok(());
            }
        };
        let delivery = wit::CampaignDelivery {
            idempotency_key: key.clone(),
            campaign_id: id.clone(),
            name: campaign.definition.name.clone(),
            subject: campaign.definition.subject.clone(),
            body: Some(campaign.definition.template.clone()),
            offer: wit_offer(campaign, &self.program),
            recipients,
        };
        match plugin.push_campaign(&delivery).await {
            Ok(output) => {
                let report = json!({
                    "idempotency_key": key,
                    "external_id": output.value.external_id,
                    "accepted": output.value.accepted,
                    "rejected": output.value.rejected.iter().map(|r| json!({
                        "account_id": r.account_id,
                        "reason": r.reason,
                    })).collect::<Vec<_>>(),
                });
                self.store
                    .record_campaign_batch(CampaignBatch {
                        connector: channel.clone(),
                        idempotency_key: key.clone(),
                        campaign_id: id.clone(),
                        report: report.clone(),
                        state: output.state,
                    })
                    .await?;
                tracing::info!(
                    campaign = id.as_str(),
                    batch = key.as_str(),
                    accepted = output.value.accepted,
                    rejected = output.value.rejected.len(),
                    "campaign batch pushed"
                );
                self.store
                    .settle_campaign_batch(id.clone(), key, rejected_of(&report))
                    .await?;
            }
            Err(error) => {
                let retryable = error.is_retryable();
                tracing::warn!(campaign = id.as_str(), batch = key.as_str(), error = %error, retryable, "campaign batch failed");
                self.store
                    .fail_campaign_batch(key, error.to_string(), retryable)
                    .await?;
            }
        }
        Ok(())
    }
}

/// The refused recipients of a recorded batch report.
fn rejected_of(report: &serde_json::Value) -> Vec<(String, String)> {
    report["rejected"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|r| {
                    Some((
                        r["account_id"].as_str()?.to_owned(),
                        r["reason"].as_str().unwrap_or("refused").to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A campaign as written in `[[campaigns]]` or sent to the API, before
/// its checks.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignSpec {
    /// Stable id.
    pub id: Option<String>,
    /// Display name.
    pub name: String,
    /// `message` (default), `nps_survey` or `invitation`.
    #[serde(default)]
    pub kind: Option<CampaignKind>,
    /// The segment it targets.
    pub segment: String,
    /// The connector that delivers it.
    pub channel: String,
    /// Subject template.
    #[serde(default)]
    pub subject: Option<String>,
    /// Message template.
    pub template: String,
    /// What it offers.
    #[serde(default)]
    pub offer: Option<OfferSpec>,
    /// Share of the segment held out, percent (decimal string). Default 0.
    #[serde(default)]
    pub holdout_percent: Option<Decimal>,
    /// Days purchases are attributed to it. Default 30.
    #[serde(default)]
    pub attribution_days: Option<u32>,
    /// When to send: ms since the epoch; `None`: a draft.
    #[serde(default)]
    pub send_at: Option<i64>,
}

/// An offer as written.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfferSpec {
    /// `bonus_points`, `multiplier`, `discount_code` or `reward`.
    pub kind: String,
    /// `bonus_points`: the points.
    #[serde(default)]
    pub points: Option<i64>,
    /// `multiplier`: the factor.
    #[serde(default)]
    pub factor: Option<Decimal>,
    /// `multiplier`, `discount_code`: when it ends (ms since the epoch).
    #[serde(default)]
    pub ends_at: Option<i64>,
    /// `discount_code`: percent off.
    #[serde(default)]
    pub percent_off: Option<Decimal>,
    /// `discount_code`: amount off in the program currency.
    #[serde(default)]
    pub amount_off: Option<Decimal>,
    /// `reward`: the reward's id.
    #[serde(default)]
    pub reward: Option<String>,
}

/// Default attribution window, days.
pub const ATTRIBUTION_DAYS_DEFAULT: u32 = 30;

fn offer(spec: &OfferSpec, program: &Program, problems: &mut Vec<String>) -> Option<Offer> {
    let stray = |problems: &mut Vec<String>, present: bool, key: &str| {
        if present {
            problems.push(format!(
                "`offer.{key}` does not apply to an offer of kind `{}`: remove it",
                spec.kind
            ));
        }
    };
    match spec.kind.as_str() {
        "bonus_points" => {
            stray(problems, spec.factor.is_some(), "factor");
            stray(problems, spec.percent_off.is_some(), "percent_off");
            stray(problems, spec.amount_off.is_some(), "amount_off");
            stray(problems, spec.reward.is_some(), "reward");
            match spec.points {
                Some(points) if points > 0 => Some(Offer::BonusPoints { points }),
                _ => {
                    problems.push(
                        "`offer.points` must be a whole number above 0, e.g. points = 500"
                            .to_owned(),
                    );
                    None
                }
            }
        }
        "multiplier" => {
            stray(problems, spec.points.is_some(), "points");
            stray(problems, spec.percent_off.is_some(), "percent_off");
            stray(problems, spec.amount_off.is_some(), "amount_off");
            stray(problems, spec.reward.is_some(), "reward");
            let factor = spec.factor.filter(|f| *f > Decimal::ONE);
            if factor.is_none() {
                problems.push(
                    "`offer.factor` must be a decimal above 1, e.g. factor = \"2\"".to_owned(),
                );
            }
            if spec.ends_at.is_none() {
                problems.push(
                    "`offer.ends_at` is missing: a multiplier runs from the send until then"
                        .to_owned(),
                );
            }
            Some(Offer::Multiplier {
                factor: factor?,
                ends_at: spec.ends_at?,
            })
        }
        "discount_code" => {
            stray(problems, spec.points.is_some(), "points");
            stray(problems, spec.factor.is_some(), "factor");
            stray(problems, spec.reward.is_some(), "reward");
            match (spec.percent_off, spec.amount_off) {
                (Some(p), None) if p > Decimal::ZERO && p <= Decimal::ONE_HUNDRED => {}
                (None, Some(a)) if a > Decimal::ZERO => {}
                (Some(_), Some(_)) => {
                    problems.push(
                        "`offer` has both `percent_off` and `amount_off`: keep one".to_owned(),
                    );
                    return None;
                }
                (None, None) => {
                    problems.push("`offer` of kind `discount_code` needs `percent_off` (above 0, at most 100) or `amount_off` (above 0)".to_owned());
                    return None;
                }
                _ => {
                    problems.push("`offer.percent_off` must be above 0 and at most 100, `offer.amount_off` above 0".to_owned());
                    return None;
                }
            }
            Some(Offer::DiscountCode {
                percent_off: spec.percent_off,
                amount_off: spec.amount_off,
                ends_at: spec.ends_at,
            })
        }
        "reward" => {
            stray(problems, spec.points.is_some(), "points");
            stray(problems, spec.factor.is_some(), "factor");
            stray(problems, spec.percent_off.is_some(), "percent_off");
            stray(problems, spec.amount_off.is_some(), "amount_off");
            match &spec.reward {
                Some(reward) if program.rewards.iter().any(|r| &r.id == reward) => {
                    Some(Offer::Reward {
                        reward: reward.clone(),
                    })
                }
                Some(reward) => {
                    problems.push(format!(
                        "`offer.reward` `{reward}` is not in [[program.rewards]]"
                    ));
                    None
                }
                None => {
                    problems.push(
                        "`offer.reward` is missing: name the reward of the catalog".to_owned(),
                    );
                    None
                }
            }
        }
        other => {
            problems.push(format!(
                "unknown offer kind `{other}`: use bonus_points, multiplier, discount_code or reward"
            ));
            None
        }
    }
}

/// Checks a campaign: its id, name, channel (a configured connector),
/// templates, offer, holdout and window. Every problem is reported.
pub fn check(
    id: &str,
    spec: &CampaignSpec,
    program: &Program,
    channels: &[String],
    origin: crate::store::segments::Origin,
) -> Result<crate::store::campaigns::CampaignDefinition, Vec<String>> {
    let mut problems = Vec::new();
    if !crate::store::segments::valid_id(id) {
        problems.push(format!(
            "`id` `{id}` is not an id: use lower-case letters, digits, `-` and `_`"
        ));
    }
    if spec.name.trim().is_empty() {
        problems.push("`name` must not be empty".to_owned());
    }
    if !crate::store::segments::valid_id(&spec.segment) {
        problems.push(format!("`segment` `{}` is not a segment id", spec.segment));
    }
    if !channels.contains(&spec.channel) {
        problems.push(format!(
            "`channel` `{}` is not a configured connector ({})",
            spec.channel,
            if channels.is_empty() {
                "none is configured".to_owned()
            } else {
                channels.join(", ")
            }
        ));
    }
    if let Err(problem) = check_template("template", &spec.template) {
        problems.push(format!("`template`: {problem}"));
    }
    if let Some(subject) = &spec.subject
        && let Err(problem) = check_template("subject", subject)
    {
        problems.push(format!("`subject`: {problem}"));
    }
    let offer = spec
        .offer
        .as_ref()
        .and_then(|o| offer(o, program, &mut problems));
    let holdout_percent = spec.holdout_percent.unwrap_or(Decimal::ZERO);
    if holdout_percent < Decimal::ZERO || holdout_percent >= Decimal::ONE_HUNDRED {
        problems.push(format!(
            "`holdout_percent` is {holdout_percent}: use 0 or more and below 100"
        ));
    }
    let attribution_days = spec.attribution_days.unwrap_or(ATTRIBUTION_DAYS_DEFAULT);
    if attribution_days == 0 {
        problems.push("`attribution_days` must be above 0".to_owned());
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(crate::store::campaigns::CampaignDefinition {
        id: id.to_owned(),
        name: spec.name.clone(),
        kind: spec.kind.unwrap_or(CampaignKind::Message),
        segment: spec.segment.clone(),
        channel: spec.channel.clone(),
        subject: spec.subject.clone(),
        template: spec.template.clone(),
        offer,
        holdout_percent: holdout_percent.normalize(),
        attribution_days,
        send_at: spec.send_at,
        origin,
    })
}
