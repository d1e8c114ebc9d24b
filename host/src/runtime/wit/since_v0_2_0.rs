//! Contract version 0.2.0 (`wit/since_v0.2.0`), currently the newest.

use wasmtime::Store;
use wasmtime::component::{HasSelf, Linker};

use crate::runtime::call::CallState;
use crate::runtime::wit::{Request, Response};

wasmtime::component::bindgen!({
    path: "../wit/since_v0.2.0",
    world: "connector",
    imports: { default: async | trappable },
    exports: { default: async },
    // `loyaltyd plugins replay` reads requests from JSON files and prints
    // results as JSON the way the SDK writes them.
    additional_derives: [serde::Serialize, serde::Deserialize],
});

use loyalty::connector::host::{
    HmacAlgorithm, HttpError, IncomingResponse, LogLevel, OutgoingRequest,
};
use loyalty::connector::{host, types};

pub(crate) fn add_to_linker(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    Connector::add_to_linker::<CallState, HasSelf<CallState>>(linker, |state| state)
}

/// Makes one call on an instance of the component.
pub(crate) async fn invoke(
    connector: &Connector,
    store: &mut Store<CallState>,
    request: Request<'_>,
) -> wasmtime::Result<Response> {
    Ok(match request {
        Request::Describe => Response::Describe(
            connector
                .loyalty_connector_plugin()
                .call_describe(store)
                .await?,
        ),
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
                .call_poll(store, r)
                .await?,
        ),
        Request::PushCampaign(d) => Response::PushCampaign(
            connector
                .loyalty_connector_sink()
                .call_push_campaign(store, d)
                .await?,
        ),
        Request::FulfilReward(r) => Response::FulfilReward(
            connector
                .loyalty_connector_sink()
                .call_fulfil_reward(store, r)
                .await?,
        ),
        Request::DeliverStatement(s) => Response::DeliverStatement(
            connector
                .loyalty_connector_sink()
                .call_deliver_statement(store, s)
                .await?,
        ),
    })
}

impl types::Host for CallState {}

impl host::Host for CallState {
    async fn log(&mut self, level: LogLevel, message: String) -> wasmtime::Result<()> {
        self.write_log(level, &message);
        Ok(())
    }

    async fn config_get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self.setting(&key))
    }

    async fn state_get(&mut self, key: String) -> wasmtime::Result<Option<Vec<u8>>> {
        self.read_state(&key)
    }

    async fn state_set(&mut self, key: String, value: Option<Vec<u8>>) -> wasmtime::Result<()> {
        self.write_state(key, value)
    }

    async fn http_request(
        &mut self,
        request: OutgoingRequest,
    ) -> wasmtime::Result<Result<IncomingResponse, HttpError>> {
        Ok(self.send_http(request).await)
    }

    async fn verify_hmac(
        &mut self,
        secret: String,
        algorithm: HmacAlgorithm,
        message: Vec<u8>,
        signature: Vec<u8>,
    ) -> wasmtime::Result<Result<bool, String>> {
        Ok(self.check_hmac(&secret, algorithm, &message, &signature))
    }

    async fn now(&mut self) -> wasmtime::Result<i64> {
        Ok(self.now_ms())
    }
}
