//! Campaigns and rewards: each becomes a customer-specific pricing
//! condition record (see [`crate::pricing`]). SAP has no campaign or
//! mailing object to push to, so only offers reach it.
//!
//! Writes are idempotent through connector state: the record created for
//! an idempotency key (and, for campaigns, an account) is remembered, and a
//! retried call answers it again instead of creating a second record.

use std::collections::BTreeMap;

use loyalty_sdk::host;
use loyalty_sdk::types::{
    CampaignDelivery, CampaignReport, Error, Fulfilment, FulfilmentStatus, RejectedRecipient,
    RewardKind, RewardRequest,
};

use crate::ids;
use crate::pricing::{self, Discount};
use crate::settings::Settings;

/// State key of the record created for a campaign batch and an account.
fn campaign_key(idempotency_key: &str, account: &str) -> String {
    format!("campaign/{idempotency_key}/{account}")
}

/// State key of the record created for a redemption.
fn reward_key(idempotency_key: &str) -> String {
    format!("reward/{idempotency_key}")
}

/// One condition record per recipient account (an account's contacts share
/// it). SAP's refusal of one account is reported in `rejected` with SAP's
/// message. A rate limit or outage before any record of the batch is
/// created fails the call, so that the host retries it; after that, the
/// accounts not reached are rejected with the reason, since the records
/// already created must be remembered.
pub fn push_campaign(delivery: &CampaignDelivery) -> Result<CampaignReport, Error> {
    let Some(offer) = &delivery.offer else {
        return Err(Error::Unsupported(format!(
            "campaign `{}` has no offer: SAP S/4HANA receives offers only (as pricing condition records), not messages",
            delivery.campaign_id
        )));
    };
    let settings = Settings::read()?;
    let discount = Discount::from_offer(&settings, offer, host::now())?;
    settings.sales_area()?;

    // Recipients per account, in the order they came.
    let mut accounts: Vec<String> = Vec::new();
    let mut recipients: BTreeMap<String, u32> = BTreeMap::new();
    for recipient in &delivery.recipients {
        let account = ids::normalize(&recipient.account_id);
        let count = recipients.entry(account.clone()).or_default();
        if *count == 0 {
            accounts.push(account);
        }
        *count += 1;
    }

    let mut accepted = 0;
    let mut rejected = Vec::new();
    let mut created_now = false;
    let mut stopped: Option<Error> = None;
    for account in accounts {
        let count = recipients.get(&account).copied().unwrap_or(1);
        if let Some(error) = &stopped {
            rejected.push(RejectedRecipient {
                account_id: account,
                reason: format!("not sent, SAP stopped answering: {}", error.message()),
            });
            continue;
        }
        let key = campaign_key(&delivery.idempotency_key, &account);
        if host::state_get_string(&key).is_some() {
            accepted += count;
            continue;
        }
        match pricing::create(&settings, &account, &discount, &delivery.idempotency_key) {
            Ok(Ok(record)) => {
                host::state_set(&key, Some(record.as_bytes()));
                created_now = true;
                accepted += count;
            }
            Ok(Err(reason)) => rejected.push(RejectedRecipient {
                account_id: account,
                reason,
            }),
            Err(error @ (Error::RateLimited(_) | Error::Transient(_))) if created_now => {
                rejected.push(RejectedRecipient {
                    account_id: account,
                    reason: format!("not sent: {}", error.message()),
                });
                stopped = Some(error);
            }
            Err(error) => return Err(error),
        }
    }
    Ok(CampaignReport {
        external_id: None,
        accepted,
        rejected,
    })
}

/// A discount reward becomes one condition record for the account; its
/// number is the fulfilment's external id.
pub fn fulfil_reward(request: &RewardRequest) -> Result<Fulfilment, Error> {
    if request.kind != RewardKind::Discount {
        return Err(Error::Unsupported(format!(
            "reward `{}` is a {} reward: the SAP connector fulfils discount rewards only",
            request.reward_id,
            kind_name(request.kind)
        )));
    }
    let key = reward_key(&request.idempotency_key);
    if let Some(record) = host::state_get_string(&key) {
        return Ok(fulfilled(record));
    }
    let Some(offer) = &request.offer else {
        return Err(Error::InvalidInput(format!(
            "discount reward `{}` has no offer: give it a `value` in the program",
            request.reward_id
        )));
    };
    let settings = Settings::read()?;
    let discount = Discount::from_offer(&settings, offer, host::now())?;
    let account = ids::normalize(&request.account_id);
    match pricing::create(&settings, &account, &discount, &request.idempotency_key)? {
        Ok(record) => {
            host::state_set(&key, Some(record.as_bytes()));
            Ok(fulfilled(record))
        }
        Err(reason) => Err(Error::Permanent(format!(
            "SAP refused the condition record for customer `{account}`: {reason}"
        ))),
    }
}

fn fulfilled(record: String) -> Fulfilment {
    Fulfilment {
        external_id: record,
        status: FulfilmentStatus::Fulfilled,
        code: None,
    }
}

fn kind_name(kind: RewardKind) -> &'static str {
    match kind {
        RewardKind::Discount => "discount",
        RewardKind::GiftCard => "gift-card",
        RewardKind::Product => "product",
        RewardKind::Service => "service",
        RewardKind::Event => "event",
        RewardKind::Other => "other",
    }
}
