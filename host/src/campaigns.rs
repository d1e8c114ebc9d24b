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

use crate::core::campaigns::{CampaignKind, CampaignStatus, Offer};
use crate::core::program::Program;
use crate::runtime::wit::latest::exports::loyalty::connector::sink as wit;
use crate::runtime::{CallError, Plugin};
use crate::store::campaigns::{Batch, CampaignView, Recipient};
use crate::store::{BatchFailure, CampaignBatch, Store};

/// Recipients per `push-campaign` call.
pub const BATCH_MAX: usize = 100;
/// How often the dispatcher looks for due campaigns without being woken.
const TICK: Duration = Duration::from_secs(1);
/// The lease dispatch runs under: one instance dispatches at a time.
pub const LEASE: &str = "campaigns";

/// Why a template cannot be used.
pub fn check_template(name: &str, text: &str) -> Result<(), String> {
    let mut env = Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.add_template(name, text)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The values a template may use, for one recipient.
#[derive(serde::Serialize)]
struct Variables<'a> {
    campaign: &'a str,
    account_name: &'a str,
    first_name: Option<&'a str>,
    last_name: Option<&'a str>,
    email: Option<&'a str>,
    tier: Option<&'a str>,
    next_tier: Option<&'a str>,
    spend_to_next_tier: Option<String>,
    /// Tiers are reached by spend: this is the spend still needed, in the
    /// points it earns at the base rate, rounded up.
    points_to_next_tier: Option<String>,
    balance: i64,
    offer: Option<String>,
    offer_code: Option<&'a str>,
    reward_name: Option<&'a str>,
    reward_points: Option<i64>,
    currency: &'a str,
}

fn variables<'a>(
    campaign: &'a CampaignView,
    program: &'a Program,
    recipient: &'a Recipient,
) -> Variables<'a> {
    let reward = match &campaign.definition.offer {
        Some(Offer::Reward { reward }) => program.rewards.iter().find(|r| &r.id == reward),
        _ => None,
    };
    Variables {
        campaign: &campaign.definition.name,
        account_name: &recipient.account_name,
        first_name: recipient.first_name.as_deref(),
        last_name: recipient.last_name.as_deref(),
        email: recipient.email.as_deref(),
        tier: recipient.tier.as_deref(),
        next_tier: recipient.next_tier.as_deref(),
        spend_to_next_tier: recipient.spend_to_next_tier.map(|d| d.to_string()),
        points_to_next_tier: recipient
            .spend_to_next_tier
            .map(|d| d.saturating_mul(program.points_per_unit).ceil().to_string()),
        balance: recipient.balance,
        offer: campaign
            .definition
            .offer
            .as_ref()
            .map(|offer| describe(offer, program)),
        offer_code: recipient.offer_code.as_deref(),
        reward_name: reward.map(|r| r.name.as_str()),
        reward_points: reward.map(|r| r.points),
        currency: &program.currency,
    }
}

/// An offer in words, for templates.
pub(crate) fn describe(offer: &Offer, program: &Program) -> String {
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
            let context = minijinja::Value::from_serialize(&values);
            let mut fields: BTreeMap<String, String> = BTreeMap::new();
            fields.insert(
                "message".to_owned(),
                message
                    .render(&context)
                    .map_err(|e| format!("template: {e}"))?,
            );
            if let Some(subject) = &subject {
                fields.insert(
                    "subject".to_owned(),
                    subject
                        .render(&context)
                        .map_err(|e| format!("subject: {e}"))?,
                );
            }
            if let Ok(serde_json::Value::Object(object)) = serde_json::to_value(&values) {
                for (name, value) in object {
                    let text = match value {
                        serde_json::Value::Null => continue,
                        serde_json::Value::String(text) => text,
                        other => other.to_string(),
                    };
                    fields.entry(name).or_insert(text);
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

/// A discount-code offer as the channel's `fulfil-reward` makes it.
fn wit_offer(campaign: &CampaignView, program: &Program) -> Option<wit::Offer> {
    let Some(Offer::DiscountCode {
        percent_off,
        amount_off,
        ends_at,
    }) = &campaign.definition.offer
    else {
        return None;
    };
    Some(wit::Offer {
        id: format!("campaign-{}", campaign.definition.id),
        code: None,
        percent_off: percent_off.map(|p| p.normalize().to_string()),
        amount_off: amount_off.map(|a| wit::Money {
            amount: a.normalize().to_string(),
            currency: program.currency.clone(),
        }),
        ends_at: *ends_at,
    })
}

/// Runs campaigns until shutdown.
pub struct Dispatcher {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Dispatches only while this instance holds `campaigns`.
    pub leases: Arc<crate::lease::Leases>,
    /// The program.
    pub program: Arc<Program>,
    /// Connectors by name.
    pub plugins: BTreeMap<String, Plugin>,
}

impl Dispatcher {
    /// Works through due campaigns every [`TICK`].
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        loop {
            if let Some(Err(e)) = self.leases.exclusive(LEASE, self.work()).await {
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
            let campaign = if campaign.status == CampaignStatus::Scheduled {
                self.store
                    .start_campaign(id.clone(), self.program.clone())
                    .await?;
                match self.store.campaign(id.clone()).await? {
                    Some(started) => started,
                    None => continue,
                }
            } else {
                campaign
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
            let (code, state) = match plugin.fulfil_reward(&reward).await {
                Ok(output) => {
                    let state = Some((campaign.definition.channel.clone(), output.state));
                    match output.value.code {
                        Some(code) => (Ok(code), state),
                        None => (
                            Err(format!(
                                "`{}` made no code (external id {})",
                                campaign.definition.channel, output.value.external_id
                            )),
                            state,
                        ),
                    }
                }
                Err(error) if error.is_retryable() => {
                    tracing::warn!(campaign = id.as_str(), account = request.account_id, error = %error, "discount code not made yet; retried");
                    waiting += 1;
                    continue;
                }
                Err(error) => (Err(error.to_string()), None),
            };
            self.store
                .record_campaign_code(id.clone(), request.account_id, code, state)
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
                self.store
                    .fail_campaign_batch(key, problem, BatchFailure::GiveUp)
                    .await?;
                return Ok(());
            }
        };
        // Each recipient carries its rendered `subject` and `message`, and
        // its own discount code: the delivery itself names no shared offer
        // (a vendor would make one code for everybody from it).
        let delivery = wit::CampaignDelivery {
            idempotency_key: key.clone(),
            campaign_id: id.clone(),
            name: campaign.definition.name.clone(),
            subject: None,
            body: Some(campaign.definition.template.clone()),
            offer: None,
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
                let failure = match &error {
                    CallError::CircuitOpen { retry_in_ms, .. } => BatchFailure::Wait(*retry_in_ms),
                    e if e.is_retryable() => BatchFailure::Retry,
                    _ => BatchFailure::GiveUp,
                };
                tracing::warn!(campaign = id.as_str(), batch = key.as_str(), error = %error, ?failure, "campaign batch failed");
                self.store
                    .fail_campaign_batch(key, error.to_string(), failure)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::program::Rounding;
    use crate::store::campaigns::{CampaignDefinition, DeliveryCounts};
    use crate::store::segments::Origin;

    fn campaign(template: &str, offer: Option<Offer>) -> CampaignView {
        CampaignView {
            definition: CampaignDefinition {
                id: "spring".to_owned(),
                name: "Spring offer".to_owned(),
                kind: CampaignKind::Message,
                segment: "gold".to_owned(),
                channel: "hubspot".to_owned(),
                subject: Some("{{ first_name }}, {{ offer }}".to_owned()),
                template: template.to_owned(),
                offer,
                holdout_percent: Decimal::TEN,
                attribution_days: 30,
                send_at: None,
                origin: Origin::Api,
            },
            status: CampaignStatus::Sending,
            started_at: Some(0),
            finished_at: None,
            last_error: None,
            targeted: 1,
            held_out: 0,
            deliveries: DeliveryCounts::default(),
        }
    }

    fn recipient() -> Recipient {
        Recipient {
            delivery: 1,
            account_id: 7,
            account_ref: "C-7".to_owned(),
            contact_ref: Some("P-1".to_owned()),
            email: Some("anna@brandt.example".to_owned()),
            first_name: Some("Anna".to_owned()),
            last_name: None,
            account_name: "Brandt Maschinenbau GmbH".to_owned(),
            tier: Some("Silver".to_owned()),
            next_tier: Some("Gold".to_owned()),
            spend_to_next_tier: Some(Decimal::new(124_950, 2)),
            balance: 5588,
            offer_code: None,
        }
    }

    #[test]
    fn each_recipient_gets_its_own_subject_message_and_fields() {
        let program = Program::basic("EUR", Decimal::TWO, Rounding::Floor);
        let campaign = campaign(
            "{{ account_name }} holds {{ balance }} points; {{ points_to_next_tier }} more for {{ next_tier }}.{% if last_name %} Dear {{ last_name }}{% endif %}",
            Some(Offer::BonusPoints { points: 500 }),
        );
        let batch = Batch {
            key: "spring:1".to_owned(),
            recipients: vec![recipient()],
        };
        let rendered = render(&campaign, &program, &batch).unwrap();
        let field = |name: &str| {
            rendered[0]
                .fields
                .iter()
                .find(|f| f.name == name)
                .map(|f| f.value.clone())
        };
        // 1249.50 still to spend x 2 points per euro = 2499 points.
        assert_eq!(
            field("message").as_deref(),
            Some("Brandt Maschinenbau GmbH holds 5588 points; 2499 more for Gold.")
        );
        assert_eq!(field("subject").as_deref(), Some("Anna, 500 bonus points"));
        assert_eq!(field("balance").as_deref(), Some("5588"));
        assert_eq!(field("last_name"), None);
        assert_eq!(rendered[0].account_id, "C-7");
        assert_eq!(rendered[0].contact_id.as_deref(), Some("P-1"));
    }

    #[test]
    fn a_campaign_is_checked_for_every_problem_at_once() {
        let program = Program::basic("EUR", Decimal::ONE, Rounding::Floor);
        let spec = CampaignSpec {
            id: None,
            name: " ".to_owned(),
            kind: None,
            segment: "Gold Buyers".to_owned(),
            channel: "hubspto".to_owned(),
            subject: None,
            template: "Hello {{ first_name }".to_owned(),
            offer: Some(OfferSpec {
                kind: "discount_code".to_owned(),
                points: Some(5),
                factor: None,
                ends_at: None,
                percent_off: Some(Decimal::TEN),
                amount_off: None,
                reward: None,
            }),
            holdout_percent: Some(Decimal::ONE_HUNDRED),
            attribution_days: Some(0),
            send_at: None,
        };
        let problems = check(
            "spring",
            &spec,
            &program,
            &["hubspot".to_owned()],
            Origin::Api,
        )
        .unwrap_err();
        assert_eq!(problems.len(), 7, "{problems:#?}");
        assert!(problems[0].contains("`name` must not be empty"));
        assert!(problems[1].contains("`segment` `Gold Buyers` is not a segment id"));
        assert!(
            problems[2].contains("`channel` `hubspto` is not a configured connector (hubspot)")
        );
        assert!(problems[3].starts_with("`template`: syntax error"));
        assert!(problems[4].contains("`offer.points` does not apply"));
        assert!(problems[5].contains("`holdout_percent` is 100"));
        assert!(problems[6].contains("`attribution_days` must be above 0"));
    }
}
