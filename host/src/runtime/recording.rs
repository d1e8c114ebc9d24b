//! A connector's outbound exchanges, kept in order while recording is on
//! (`loyaltyd plugins record` writes them as a cassette). Only what the
//! connector sent and what the vendor answered is kept: the credential by
//! name, never its value or the tokens the host obtained for it, and the
//! answers as the connector saw them (the host keeps cookies to itself).

use std::sync::{Mutex, PoisonError};

use crate::runtime::wit::latest::loyalty::connector::host::IncomingResponse;

/// One request of the connector and the vendor's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedExchange {
    /// The method, upper case.
    pub method: String,
    /// The path with its query, as sent.
    pub path: String,
    /// The credential the connector named.
    pub credential: Option<String>,
    /// The request body.
    pub request_body: Option<Vec<u8>>,
    /// The answer's status.
    pub status: u16,
    /// The answer's headers, in order.
    pub headers: Vec<(String, String)>,
    /// The answer's body.
    pub body: Vec<u8>,
}

/// The exchanges recorded so far.
#[derive(Debug, Default)]
pub struct Recording {
    exchanges: Mutex<Vec<RecordedExchange>>,
}

impl Recording {
    pub(crate) fn push(
        &self,
        method: &str,
        url: &url::Url,
        credential: Option<&str>,
        request_body: Option<&[u8]>,
        answer: &IncomingResponse,
    ) {
        let path = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        };
        let exchange = RecordedExchange {
            method: method.to_owned(),
            path,
            credential: credential.map(str::to_owned),
            request_body: request_body.map(<[u8]>::to_vec),
            status: answer.status,
            headers: answer
                .headers
                .iter()
                .map(|h| (h.name.clone(), h.value.clone()))
                .collect(),
            body: answer.body.clone(),
        };
        self.exchanges
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(exchange);
    }

    /// The exchanges recorded so far, oldest first.
    pub fn exchanges(&self) -> Vec<RecordedExchange> {
        self.exchanges
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}
