//! The trait a connector implements, and the macro that exports it.

use crate::types::{
    CampaignDelivery, CampaignReport, Delivery, Error, Event, Fulfilment, PluginInfo, PollPage,
    PollRequest, RewardRequest, Statement, WebhookRequest,
};

/// A connector. Implement the operations your vendor supports; the others
/// answer [`Error::Unsupported`], which the host reports to the operator.
///
/// The functions take no `self`, and a connector keeps nothing in statics
/// from one call to the next: the host may make several `handle_webhook`
/// calls one after the other on one component instance (the deliveries of
/// one inbox batch) and makes every other call on a fresh one. What must
/// survive a call is stored with [`crate::host::state_set`].
pub trait Connector {
    /// Names the connector and declares the hosts, credentials, secrets and
    /// settings it needs.
    fn describe() -> PluginInfo;

    /// Checks a webhook's signature and names the delivery. No outbound calls.
    fn verify_webhook(request: WebhookRequest) -> Result<Delivery, Error> {
        let _ = request;
        Err(Error::Unsupported(
            "this connector receives no webhooks".to_owned(),
        ))
    }

    /// Turns a verified webhook into events.
    fn handle_webhook(request: WebhookRequest) -> Result<Vec<Event>, Error> {
        let _ = request;
        Err(Error::Unsupported(
            "this connector receives no webhooks".to_owned(),
        ))
    }

    /// Returns the next page of changes after the cursor.
    fn poll(request: PollRequest) -> Result<PollPage, Error> {
        let _ = request;
        Err(Error::Unsupported(
            "this connector does not poll".to_owned(),
        ))
    }

    /// Pushes one campaign batch to the vendor.
    fn push_campaign(delivery: CampaignDelivery) -> Result<CampaignReport, Error> {
        let _ = delivery;
        Err(Error::Unsupported(
            "this connector does not deliver campaigns".to_owned(),
        ))
    }

    /// Fulfils one redemption in the vendor system.
    fn fulfil_reward(request: RewardRequest) -> Result<Fulfilment, Error> {
        let _ = request;
        Err(Error::Unsupported(
            "this connector does not fulfil rewards".to_owned(),
        ))
    }

    /// Sends one reward statement.
    fn deliver_statement(statement: Statement) -> Result<String, Error> {
        let _ = statement;
        Err(Error::Unsupported(
            "this connector does not deliver statements".to_owned(),
        ))
    }
}

/// Exports a [`Connector`] as the component's `connector` world.
///
/// On a native target (unit tests) it only checks that the type implements
/// [`Connector`], so the same crate builds both ways.
#[macro_export]
macro_rules! export_connector {
    ($connector:ty) => {
        #[cfg(not(target_arch = "wasm32"))]
        const _: fn() -> $crate::types::PluginInfo = <$connector as $crate::Connector>::describe;

        #[cfg(target_arch = "wasm32")]
        const _: () = {
            use $crate::bindings::exports::loyalty::connector::{
                plugin as __plugin, sink as __sink, source as __source,
            };
            use $crate::types as __types;

            struct __Exports;

            impl __plugin::Guest for __Exports {
                fn describe() -> __types::PluginInfo {
                    <$connector as $crate::Connector>::describe()
                }
            }

            impl __source::Guest for __Exports {
                fn verify_webhook(
                    request: __types::WebhookRequest,
                ) -> Result<__types::Delivery, __types::Error> {
                    <$connector as $crate::Connector>::verify_webhook(request)
                }

                fn handle_webhook(
                    request: __types::WebhookRequest,
                ) -> Result<Vec<__types::Event>, __types::Error> {
                    <$connector as $crate::Connector>::handle_webhook(request)
                }

                fn poll(
                    request: __types::PollRequest,
                ) -> Result<__types::PollPage, __types::Error> {
                    <$connector as $crate::Connector>::poll(request)
                }
            }

            impl __sink::Guest for __Exports {
                fn push_campaign(
                    delivery: __types::CampaignDelivery,
                ) -> Result<__types::CampaignReport, __types::Error> {
                    <$connector as $crate::Connector>::push_campaign(delivery)
                }

                fn fulfil_reward(
                    request: __types::RewardRequest,
                ) -> Result<__types::Fulfilment, __types::Error> {
                    <$connector as $crate::Connector>::fulfil_reward(request)
                }

                fn deliver_statement(
                    statement: __types::Statement,
                ) -> Result<String, __types::Error> {
                    <$connector as $crate::Connector>::deliver_statement(statement)
                }
            }

    $crate::bindings::__export_connector_world!(__Exports with_types_in $crate::bindings);
        };
    };
}
