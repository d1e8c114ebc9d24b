//! Outbound HTTP through the host, with vendor answers mapped onto the
//! connector error variant (so that the host, not the guest, waits and retries).

use serde::de::DeserializeOwned;

use crate::host;
use crate::request::find_header;
use crate::types::{Error, Header, HttpError, IncomingResponse, OutgoingRequest, RetryAfter};

/// Builds an outbound request.
#[derive(Debug, Clone)]
pub struct Request {
    inner: OutgoingRequest,
}

impl Request {
    /// A request with a method and an absolute URL.
    pub fn new(method: &str, url: &str) -> Self {
        Self {
            inner: OutgoingRequest {
                method: method.to_owned(),
                url: url.to_owned(),
                headers: Vec::new(),
                body: None,
                credential: None,
                idempotency_key: None,
            },
        }
    }

    /// A GET request.
    pub fn get(url: &str) -> Self {
        Self::new("GET", url)
    }

    /// A POST request.
    pub fn post(url: &str) -> Self {
        Self::new("POST", url)
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.inner.headers.push(Header {
            name: name.to_owned(),
            value: value.to_owned(),
        });
        self
    }

    /// Asks the host to inject the named credential.
    pub fn credential(mut self, name: &str) -> Self {
        self.inner.credential = Some(name.to_owned());
        self
    }

    /// Sets the idempotency key the host passes to the vendor.
    pub fn idempotency_key(mut self, key: &str) -> Self {
        self.inner.idempotency_key = Some(key.to_owned());
        self
    }

    /// Sets a JSON body and its content type.
    pub fn json<T: serde::Serialize>(mut self, body: &T) -> Result<Self, Error> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| Error::Permanent(format!("cannot encode request body: {e}")))?;
        self.inner.body = Some(bytes);
        Ok(self.header("Content-Type", "application/json"))
    }

    /// Sets a raw body.
    pub fn body(mut self, body: Vec<u8>) -> Self {
        self.inner.body = Some(body);
        self
    }

    /// Sends the request; any status is returned as a response.
    pub fn send(&self) -> Result<IncomingResponse, Error> {
        host::http_request(&self.inner).map_err(from_http_error)
    }

    /// Sends the request and maps non-2xx statuses onto [`Error`].
    pub fn send_ok(&self) -> Result<IncomingResponse, Error> {
        let response = self.send()?;
        check_status(&response)?;
        Ok(response)
    }

    /// Sends the request, requires a 2xx status and parses the JSON body.
    pub fn send_json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        let response = self.send_ok()?;
        crate::json::parse(&response.body)
    }

    /// The request as the host receives it.
    pub fn as_outgoing(&self) -> &OutgoingRequest {
        &self.inner
    }
}

/// Maps a host-side HTTP failure onto the connector error variant.
pub fn from_http_error(error: HttpError) -> Error {
    match error {
        HttpError::Denied(m) => Error::Permanent(format!("outbound request denied: {m}")),
        HttpError::InvalidRequest(m) => Error::Permanent(format!("invalid outbound request: {m}")),
        HttpError::Timeout(m) => Error::Transient(format!("timeout: {m}")),
        HttpError::ConnectionFailed(m) => Error::Transient(format!("connection failed: {m}")),
        HttpError::ResponseTooLarge(m) => Error::Permanent(format!("response too large: {m}")),
    }
}

/// Maps a vendor's status code onto [`Error`]: 429 is rate-limited (with the
/// `Retry-After` seconds when given), 5xx transient, 401 and 403 unauthorized,
/// other non-2xx permanent.
pub fn check_status(response: &IncomingResponse) -> Result<(), Error> {
    let status = response.status;
    if (200..300).contains(&status) {
        return Ok(());
    }
    let snippet =
        String::from_utf8_lossy(&response.body[..response.body.len().min(300)]).into_owned();
    let message = format!("HTTP {status}: {snippet}");
    Err(match status {
        429 => Error::RateLimited(RetryAfter {
            delay_ms: find_header(&response.headers, "retry-after")
                .and_then(|v| crate::decimal::parse_decimal(v).ok())
                .and_then(|seconds| {
                    (seconds * rust_decimal::Decimal::ONE_THOUSAND)
                        .ceil()
                        .try_into()
                        .ok()
                }),
            message,
        }),
        401 | 403 => Error::Unauthorized(message),
        500..=599 => Error::Transient(message),
        _ => Error::Permanent(message),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, headers: &[(&str, &str)]) -> IncomingResponse {
        IncomingResponse {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| Header {
                    name: (*n).to_owned(),
                    value: (*v).to_owned(),
                })
                .collect(),
            body: b"nope".to_vec(),
        }
    }

    #[test]
    fn status_codes_map_to_retry_decisions() {
        assert!(check_status(&response(204, &[])).is_ok());
        match check_status(&response(429, &[("Retry-After", "2.5")])) {
            Err(Error::RateLimited(r)) => assert_eq!(r.delay_ms, Some(2500)),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            check_status(&response(503, &[])),
            Err(Error::Transient(_))
        ));
        assert!(matches!(
            check_status(&response(401, &[])),
            Err(Error::Unauthorized(_))
        ));
        assert!(matches!(
            check_status(&response(404, &[])),
            Err(Error::Permanent(_))
        ));
    }
}
