//! Contract version 0.1.0 (`wit/since_v0.1.0`), the oldest one supported.
//!
//! Its `types` and `host` interfaces are the same as in the newest version,
//! so the bindings reuse the newest Rust types and host functions for them
//! and only register those functions under the 0.1.0 names. Its exports
//! differ in `plugin-info` (hosts named by a setting are `{SETTING}` entries
//! of `hosts` here) and have their own generated types, converted below.

use wasmtime::Store;
use wasmtime::component::{HasSelf, Linker};

use crate::runtime::call::CallState;
use crate::runtime::wit::{Request, Response, latest};

wasmtime::component::bindgen!({
    path: "../wit/since_v0.1.0",
    world: "connector",
    imports: { default: async | trappable },
    exports: { default: async },
    with: {
        "loyalty:connector/types@0.1.0": crate::runtime::wit::latest::loyalty::connector::types,
        "loyalty:connector/host@0.1.0": crate::runtime::wit::latest::loyalty::connector::host,
    },
});

use exports::loyalty::connector::{plugin, sink, source};
use latest::exports::loyalty::connector::{
    plugin as new_plugin, sink as new_sink, source as new_source,
};

/// Registers the newest host functions under this version's interface names.
pub(crate) fn add_to_linker(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    latest::loyalty::connector::types::add_to_linker_instance::<CallState, HasSelf<CallState>>(
        &mut linker.instance("loyalty:connector/types@0.1.0")?,
        |state| state,
    )?;
    latest::loyalty::connector::host::add_to_linker_instance::<CallState, HasSelf<CallState>>(
        &mut linker.instance("loyalty:connector/host@0.1.0")?,
        |state| state,
    )
}

/// Makes one call on an instance of the component.
pub(crate) async fn invoke(
    connector: &Connector,
    store: &mut Store<CallState>,
    request: Request<'_>,
) -> wasmtime::Result<Response> {
    Ok(match request {
        Request::Describe => Response::Describe(plugin_info(
            connector
                .loyalty_connector_plugin()
                .call_describe(store)
                .await?,
        )),
        Request::VerifyWebhook(r) => Response::VerifyWebhook(
            connector
                .loyalty_connector_source()
                .call_verify_webhook(store, r)
                .await?,
        ),
        Request::HandleWebhook(r) => Response::HandleWebhook(
            connector
                .loyalty_connector_source()
                .call_handle_webhook(store, r)
                .await?,
        ),
        Request::Poll(r) => Response::Poll(
            connector
                .loyalty_connector_source()
                .call_poll(store, &poll_request(r))
                .await?
                .map(poll_page),
        ),
        Request::PushCampaign(d) => Response::PushCampaign(
            connector
                .loyalty_connector_sink()
                .call_push_campaign(store, &campaign_delivery(d))
                .await?
                .map(campaign_report),
        ),
        Request::FulfilReward(r) => Response::FulfilReward(
            connector
                .loyalty_connector_sink()
                .call_fulfil_reward(store, &reward_request(r))
                .await?
                .map(fulfilment),
        ),
        Request::DeliverStatement(s) => Response::DeliverStatement(
            connector
                .loyalty_connector_sink()
                .call_deliver_statement(store, &statement(s))
                .await?,
        ),
    })
}

/// The setting a 0.1.0 host entry `{SETTING}` names, if it is one.
fn host_setting(entry: &str) -> Option<&str> {
    entry
        .strip_prefix('{')
        .and_then(|rest| rest.strip_suffix('}'))
        .filter(|name| !name.is_empty())
}

/// `{SETTING}` entries of `hosts` become `host-settings`.
fn plugin_info(info: plugin::PluginInfo) -> new_plugin::PluginInfo {
    let (host_settings, hosts): (Vec<String>, Vec<String>) = info
        .hosts
        .into_iter()
        .partition(|entry| host_setting(entry).is_some());
    new_plugin::PluginInfo {
        name: info.name,
        version: info.version,
        hosts,
        host_settings: host_settings
            .iter()
            .filter_map(|entry| host_setting(entry).map(str::to_owned))
            .collect(),
        credentials: info.credentials,
        secrets: info.secrets,
        settings: info
            .settings
            .into_iter()
            .map(|s| new_plugin::Setting {
                name: s.name,
                required: s.required,
                description: s.description,
            })
            .collect(),
    }
}

fn poll_request(r: &new_source::PollRequest) -> source::PollRequest {
    source::PollRequest {
        cursor: r.cursor.clone(),
        page_size: r.page_size,
        since: r.since,
    }
}

fn poll_page(page: source::PollPage) -> new_source::PollPage {
    new_source::PollPage {
        events: page.events,
        next_cursor: page.next_cursor,
        more: page.more,
    }
}

fn offer(o: &new_sink::Offer) -> sink::Offer {
    sink::Offer {
        id: o.id.clone(),
        code: o.code.clone(),
        percent_off: o.percent_off.clone(),
        amount_off: o.amount_off.clone(),
        ends_at: o.ends_at,
    }
}

fn campaign_delivery(d: &new_sink::CampaignDelivery) -> sink::CampaignDelivery {
    sink::CampaignDelivery {
        idempotency_key: d.idempotency_key.clone(),
        campaign_id: d.campaign_id.clone(),
        name: d.name.clone(),
        subject: d.subject.clone(),
        body: d.body.clone(),
        offer: d.offer.as_ref().map(offer),
        recipients: d
            .recipients
            .iter()
            .map(|r| sink::Recipient {
                account_id: r.account_id.clone(),
                contact_id: r.contact_id.clone(),
                email: r.email.clone(),
                fields: r.fields.clone(),
            })
            .collect(),
    }
}

fn campaign_report(report: sink::CampaignReport) -> new_sink::CampaignReport {
    new_sink::CampaignReport {
        external_id: report.external_id,
        accepted: report.accepted,
        rejected: report
            .rejected
            .into_iter()
            .map(|r| new_sink::RejectedRecipient {
                account_id: r.account_id,
                reason: r.reason,
            })
            .collect(),
    }
}

fn reward_request(r: &new_sink::RewardRequest) -> sink::RewardRequest {
    sink::RewardRequest {
        idempotency_key: r.idempotency_key.clone(),
        redemption_id: r.redemption_id.clone(),
        account_id: r.account_id.clone(),
        contact_id: r.contact_id.clone(),
        kind: match r.kind {
            new_sink::RewardKind::Discount => sink::RewardKind::Discount,
            new_sink::RewardKind::GiftCard => sink::RewardKind::GiftCard,
            new_sink::RewardKind::Product => sink::RewardKind::Product,
            new_sink::RewardKind::Service => sink::RewardKind::Service,
            new_sink::RewardKind::Event => sink::RewardKind::Event,
            new_sink::RewardKind::Other => sink::RewardKind::Other,
        },
        reward_id: r.reward_id.clone(),
        name: r.name.clone(),
        offer: r.offer.as_ref().map(offer),
        attributes: r.attributes.clone(),
    }
}

fn fulfilment(f: sink::Fulfilment) -> new_sink::Fulfilment {
    new_sink::Fulfilment {
        external_id: f.external_id,
        status: match f.status {
            sink::FulfilmentStatus::Fulfilled => new_sink::FulfilmentStatus::Fulfilled,
            sink::FulfilmentStatus::Pending => new_sink::FulfilmentStatus::Pending,
        },
        code: f.code,
    }
}

fn statement(s: &new_sink::Statement) -> sink::Statement {
    sink::Statement {
        idempotency_key: s.idempotency_key.clone(),
        account_id: s.account_id.clone(),
        recipients: s.recipients.clone(),
        subject: s.subject.clone(),
        text: s.text.clone(),
        html: s.html.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(hosts: &[&str]) -> plugin::PluginInfo {
        plugin::PluginInfo {
            name: "old".to_owned(),
            version: "1.0.0".to_owned(),
            hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
            credentials: vec!["api".to_owned()],
            secrets: vec!["webhook".to_owned()],
            settings: vec![plugin::Setting {
                name: "base_url".to_owned(),
                required: true,
                description: "where the API is".to_owned(),
            }],
        }
    }

    #[test]
    fn setting_entries_of_hosts_become_host_settings() {
        let converted = plugin_info(info(&[
            "https://api.vendor.example",
            "{base_url}",
            "https://*.vendor.example",
            "{sandbox_url}",
        ]));
        assert_eq!(
            converted.hosts,
            ["https://api.vendor.example", "https://*.vendor.example"]
        );
        assert_eq!(converted.host_settings, ["base_url", "sandbox_url"]);
        assert_eq!(converted.credentials, ["api"]);
        assert_eq!(converted.secrets, ["webhook"]);
        assert_eq!(converted.settings.len(), 1);
        assert_eq!(converted.settings[0].name, "base_url");
        assert!(converted.settings[0].required);
    }

    #[test]
    fn only_a_braced_name_is_a_setting() {
        assert_eq!(host_setting("{base_url}"), Some("base_url"));
        assert_eq!(host_setting("{}"), None);
        assert_eq!(host_setting("{base_url"), None);
        assert_eq!(host_setting("https://{base_url}"), None);
        let converted = plugin_info(info(&["{}"]));
        assert_eq!(converted.hosts, ["{}"]);
        assert!(converted.host_settings.is_empty());
    }
}
