//! Fulfils redemptions through connectors: a reserved redemption of a
//! reward whose fulfilment is a connector is sent to that connector's
//! `fulfil-reward`. Success settles it fulfilled (with the vendor's code);
//! a permanent failure settles it failed, which releases the points; a
//! passing failure is retried on the next round, up to [`ATTEMPTS_MAX`]
//! attempts. The idempotency key is derived from the redemption, so a retry
//! after a crash never fulfils twice at a vendor that honours it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::core::program::{Fulfilment as Channel, Program, RewardKind};
use crate::core::rewards::RedemptionStatus;
use crate::runtime::wit::latest::exports::loyalty::connector::sink as wit;
use crate::runtime::{CallError, Plugin};
use crate::store::{Redemption, SettleRequest, Store};

/// How often reserved redemptions are looked at.
const ROUND: Duration = Duration::from_secs(1);
/// The lease fulfilment runs under: one instance fulfils at a time.
pub const LEASE: &str = "fulfil";
/// Attempts before a redemption that keeps failing transiently is failed.
pub const ATTEMPTS_MAX: u32 = 10;

/// The dispatcher.
pub struct Fulfiller {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Fulfils only while this instance holds `fulfil`.
    pub leases: Arc<crate::lease::Leases>,
    /// The program (for the catalog).
    pub program: Arc<Program>,
    /// Loaded connectors by name.
    pub plugins: BTreeMap<String, Plugin>,
}

fn kind(kind: RewardKind) -> wit::RewardKind {
    match kind {
        RewardKind::Discount => wit::RewardKind::Discount,
        RewardKind::GiftCard => wit::RewardKind::GiftCard,
        RewardKind::ExclusiveProduct => wit::RewardKind::Product,
        RewardKind::Service => wit::RewardKind::Service,
        RewardKind::VipEvent => wit::RewardKind::Event,
    }
}

/// What to do with a redemption after one attempt.
enum Verdict {
    Settle(SettleRequest),
    Retry(String),
    /// The connector's circuit breaker is open: not an attempt, try later.
    Wait,
}

impl Fulfiller {
    /// Runs rounds until shutdown.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut attempts: HashMap<i64, u32> = HashMap::new();
        let mut ticks = tokio::time::interval(ROUND);
        loop {
            tokio::select! {
                _ = ticks.tick() => {
                    self.leases.exclusive(LEASE, self.round(&mut attempts)).await;
                }
                changed = stop.changed() => if changed.is_err() || *stop.borrow() {
                    return;
                },
            }
        }
    }

    async fn round(&self, attempts: &mut HashMap<i64, u32>) {
        let reserved = match self
            .store
            .redemptions(None, Some(RedemptionStatus::Reserved))
            .await
        {
            Ok(list) => list,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list reserved redemptions");
                return;
            }
        };
        for redemption in reserved.iter().rev() {
            let Some(connector) = redemption.fulfilment.strip_prefix("connector:") else {
                continue;
            };
            let Some(plugin) = self.plugins.get(connector) else {
                tracing::warn!(
                    connector,
                    redemption = redemption.id,
                    "the reward's connector is not configured; the redemption stays reserved"
                );
                continue;
            };
            let verdict = self.attempt(plugin, redemption).await;
            match verdict {
                Verdict::Settle(request) => {
                    attempts.remove(&redemption.id);
                    let fulfilled = request.fulfilled;
                    match self.store.settle(request).await {
                        Ok(_) => tracing::info!(
                            connector,
                            redemption = redemption.id,
                            fulfilled,
                            "redemption settled"
                        ),
                        Err(e) => tracing::warn!(
                            connector,
                            redemption = redemption.id,
                            error = %e,
                            "cannot settle the redemption; it is tried again"
                        ),
                    }
                }
                Verdict::Wait => {}
                Verdict::Retry(error) => {
                    let count = attempts.entry(redemption.id).or_insert(0);
                    *count += 1;
                    tracing::warn!(
                        connector,
                        redemption = redemption.id,
                        attempt = *count,
                        error,
                        "fulfilment failed for now"
                    );
                    if *count >= ATTEMPTS_MAX {
                        attempts.remove(&redemption.id);
                        let request = SettleRequest {
                            redemption_id: redemption.id,
                            fulfilled: false,
                            detail: Some(format!("gave up after {ATTEMPTS_MAX} attempts: {error}")),
                            actor: format!("connector:{connector}"),
                            state: None,
                        };
                        if let Err(e) = self.store.settle(request).await {
                            tracing::warn!(redemption = redemption.id, error = %e, "cannot settle");
                        }
                    }
                }
            }
        }
    }

    async fn attempt(&self, plugin: &Plugin, redemption: &Redemption) -> Verdict {
        let connector = plugin.name().to_owned();
        let actor = format!("connector:{connector}");
        let failed = |detail: String| {
            Verdict::Settle(SettleRequest {
                redemption_id: redemption.id,
                fulfilled: false,
                detail: Some(detail),
                actor: actor.clone(),
                state: None,
            })
        };
        let Some(reward) = self.program.reward(&redemption.reward_id) else {
            return failed(format!(
                "reward `{}` is no longer in the catalog",
                redemption.reward_id
            ));
        };
        if reward.fulfilment != Channel::Connector(connector.clone()) {
            return failed(format!(
                "reward `{}` is no longer fulfilled by connector `{connector}`",
                reward.id
            ));
        }
        let account = match self.store.account(redemption.account_id).await {
            Ok(Some(account)) => account,
            Ok(None) => return failed(format!("account {} is gone", redemption.account_id)),
            Err(e) => return Verdict::Retry(e.to_string()),
        };
        let account_id = account
            .summary
            .external_refs
            .iter()
            .find(|r| r.source == connector)
            .map_or_else(|| account.summary.id.to_string(), |r| r.id.clone());
        let offer = match (reward.kind, &reward.value) {
            (RewardKind::Discount | RewardKind::GiftCard, Some(value)) => Some(wit::Offer {
                id: reward.id.clone(),
                code: None,
                percent_off: None,
                amount_off: Some(wit::Money {
                    amount: value.amount.to_string(),
                    currency: value.currency.clone(),
                }),
                ends_at: None,
            }),
            _ => None,
        };
        let request = wit::RewardRequest {
            idempotency_key: format!("redemption-{}", redemption.id),
            redemption_id: redemption.id.to_string(),
            account_id,
            contact_id: redemption.contact.clone(),
            kind: kind(reward.kind),
            reward_id: reward.id.clone(),
            name: reward.name.clone(),
            offer,
            attributes: Vec::new(),
        };
        match plugin.fulfil_reward(&request).await {
            Ok(output) => {
                let fulfilment = output.value;
                let detail = match (&fulfilment.code, fulfilment.status) {
                    (Some(code), _) => format!("code {code} ({})", fulfilment.external_id),
                    (None, wit::FulfilmentStatus::Pending) => {
                        format!("accepted by the vendor as {}", fulfilment.external_id)
                    }
                    (None, wit::FulfilmentStatus::Fulfilled) => fulfilment.external_id.clone(),
                };
                Verdict::Settle(SettleRequest {
                    redemption_id: redemption.id,
                    fulfilled: true,
                    detail: Some(detail),
                    actor,
                    state: Some((connector, output.state)),
                })
            }
            Err(CallError::CircuitOpen { .. }) => Verdict::Wait,
            Err(e) if e.is_retryable() => Verdict::Retry(e.to_string()),
            Err(e) => failed(e.to_string()),
        }
    }
}
