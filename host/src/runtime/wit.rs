//! Bindings of the WIT contract, one module per supported version.
//!
//! A released version is frozen in `wit/since_vX.Y.Z/`; its module here
//! implements the host imports for it and converts its exports to the newest
//! types, so the rest of the host speaks only [`latest`].

use wasmtime::Store;
use wasmtime::component::{Component, Linker};

use crate::runtime::call::CallState;
use latest::exports::loyalty::connector::plugin::PluginInfo;
use latest::exports::loyalty::connector::sink::{
    CampaignDelivery, CampaignReport, Fulfilment, RewardRequest, Statement,
};
use latest::exports::loyalty::connector::source::{PollPage, PollRequest};
use latest::loyalty::connector::types::{Delivery, Error, Event, WebhookRequest};

pub mod since_v0_1_0;
pub mod since_v0_2_0;

/// The newest contract version; the host's own code uses its types.
pub use since_v0_2_0 as latest;

/// Contract versions this host runs, newest first.
pub const SUPPORTED_VERSIONS: &[&str] = &["0.2.0", "0.1.0"];

/// A call into a connector.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Request<'a> {
    Describe,
    VerifyWebhook(&'a WebhookRequest),
    HandleWebhook(&'a WebhookRequest),
    Poll(&'a PollRequest),
    PushCampaign(&'a CampaignDelivery),
    FulfilReward(&'a RewardRequest),
    DeliverStatement(&'a Statement),
}

impl Request<'_> {
    /// The export's name, for errors and logs.
    pub(crate) fn operation(&self) -> &'static str {
        match self {
            Self::Describe => "describe",
            Self::VerifyWebhook(_) => "verify-webhook",
            Self::HandleWebhook(_) => "handle-webhook",
            Self::Poll(_) => "poll",
            Self::PushCampaign(_) => "push-campaign",
            Self::FulfilReward(_) => "fulfil-reward",
            Self::DeliverStatement(_) => "deliver-statement",
        }
    }
}

/// A connector's answer, in the newest types.
#[derive(Debug)]
pub(crate) enum Response {
    Describe(PluginInfo),
    VerifyWebhook(Result<Delivery, Error>),
    HandleWebhook(Result<Vec<Event>, Error>),
    Poll(Result<PollPage, Error>),
    PushCampaign(Result<CampaignReport, Error>),
    FulfilReward(Result<Fulfilment, Error>),
    DeliverStatement(Result<String, Error>),
}

/// A linked connector of some supported version.
pub(crate) enum Bindings {
    V0_2_0(since_v0_2_0::ConnectorPre<CallState>),
    V0_1_0(since_v0_1_0::ConnectorPre<CallState>),
}

impl Bindings {
    /// Links a component of the given contract version.
    pub(crate) fn link(
        engine: &wasmtime::Engine,
        component: &Component,
        version: &str,
    ) -> wasmtime::Result<Self> {
        let mut linker = Linker::<CallState>::new(engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        match version {
            "0.2.0" => {
                since_v0_2_0::add_to_linker(&mut linker)?;
                let pre = linker.instantiate_pre(component)?;
                Ok(Self::V0_2_0(since_v0_2_0::ConnectorPre::new(pre)?))
            }
            "0.1.0" => {
                since_v0_1_0::add_to_linker(&mut linker)?;
                let pre = linker.instantiate_pre(component)?;
                Ok(Self::V0_1_0(since_v0_1_0::ConnectorPre::new(pre)?))
            }
            other => Err(wasmtime::Error::msg(format!(
                "unsupported contract version {other}"
            ))),
        }
    }

    /// Instantiates the component in `store`.
    pub(crate) async fn instantiate(
        &self,
        store: &mut Store<CallState>,
    ) -> wasmtime::Result<Bound> {
        Ok(match self {
            Self::V0_2_0(pre) => Bound::V0_2_0(pre.instantiate_async(store).await?),
            Self::V0_1_0(pre) => Bound::V0_1_0(pre.instantiate_async(store).await?),
        })
    }
}

/// An instance of a connector, bound to the store it lives in.
pub(crate) enum Bound {
    V0_2_0(since_v0_2_0::Connector),
    V0_1_0(since_v0_1_0::Connector),
}

impl Bound {
    /// Makes one call on the instance.
    pub(crate) async fn call(
        &self,
        store: &mut Store<CallState>,
        request: Request<'_>,
    ) -> wasmtime::Result<Response> {
        match self {
            Self::V0_2_0(connector) => since_v0_2_0::invoke(connector, store, request).await,
            Self::V0_1_0(connector) => since_v0_1_0::invoke(connector, store, request).await,
        }
    }
}

/// The contract version a component was built against, read from the names
/// of its exports (`loyalty:connector/source@0.1.0`).
pub(crate) fn contract_version(engine: &wasmtime::Engine, component: &Component) -> Option<String> {
    component
        .component_type()
        .exports(engine)
        .find_map(|(name, _)| {
            name.strip_prefix("loyalty:connector/source@")
                .map(str::to_owned)
        })
}
