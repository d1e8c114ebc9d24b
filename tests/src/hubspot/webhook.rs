//! Delivers webhook batches to the daemon the way HubSpot does: a JSON
//! array of events, signed v3 with the app's client secret over the method,
//! the URL HubSpot called, the raw body and the request timestamp, plus the
//! older v1 signature HubSpot still sends beside it.
//!
//! The caller can sign with an old timestamp (HubSpot's receivers refuse
//! requests older than five minutes) or send a signature of its choosing.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// What the daemon answered.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookAnswer {
    /// HTTP status.
    pub status: u16,
    /// The JSON body (`Null` if it was not JSON).
    pub body: Value,
}

impl WebhookAnswer {
    /// `stored` or `duplicate` for an accepted delivery.
    pub fn outcome(&self) -> Option<&str> {
        self.body["status"].as_str()
    }
}

/// One CRM event as HubSpot writes it in a batch (ids as numbers).
pub fn event(
    portal_id: u64,
    event_id: u64,
    subscription_type: &str,
    object_id: u64,
    occurred_at: i64,
) -> Value {
    json!({
        "eventId": event_id,
        "subscriptionId": 2_426_754,
        "portalId": portal_id,
        "appId": 2_633_736,
        "occurredAt": occurred_at,
        "subscriptionType": subscription_type,
        "attemptNumber": 0,
        "objectId": object_id,
        "changeSource": "CRM_UI",
        "sourceId": "userId:51430432",
    })
}

/// The same batch as HubSpot retries it: every event's `attemptNumber` set.
pub fn retried(batch: &Value, attempt: u32) -> Value {
    let mut batch = batch.clone();
    if let Some(events) = batch.as_array_mut() {
        for event in events {
            event["attemptNumber"] = json!(attempt);
        }
    }
    batch
}

/// Signs and posts batches for one app.
#[derive(Debug, Clone)]
pub struct WebhookSender {
    client: reqwest::Client,
    endpoint: String,
    secret: Vec<u8>,
}

impl WebhookSender {
    /// Posts to `{daemon_base_url}/webhooks/{connector}`, signing with the
    /// app's client secret. The daemon's `public_base_url` is its base URL,
    /// so the URL HubSpot signs is the one posted to.
    pub fn new(daemon_base_url: &str, connector: &str, client_secret: &str) -> Self {
        Self {
            client: reqwest::Client::new(),
            endpoint: format!(
                "{}/webhooks/{connector}",
                daemon_base_url.trim_end_matches('/')
            ),
            secret: client_secret.as_bytes().to_vec(),
        }
    }

    /// Sends a batch signed now.
    pub async fn send(&self, batch: &Value) -> anyhow::Result<WebhookAnswer> {
        self.send_signed_at(batch, now_ms()).await
    }

    /// Sends a batch signed at `timestamp_ms` (an old one is stale).
    pub async fn send_signed_at(
        &self,
        batch: &Value,
        timestamp_ms: i64,
    ) -> anyhow::Result<WebhookAnswer> {
        let body = serde_json::to_vec(batch)?;
        let timestamp = timestamp_ms.to_string();
        let signature = signature_v3(&self.secret, "POST", &self.endpoint, &body, &timestamp);
        self.post(body, &timestamp, &signature).await
    }

    /// Sends a batch signed now with `signature` instead of the right one.
    pub async fn send_with_signature(
        &self,
        batch: &Value,
        signature: &str,
    ) -> anyhow::Result<WebhookAnswer> {
        let body = serde_json::to_vec(batch)?;
        self.post(body, &now_ms().to_string(), signature).await
    }

    async fn post(
        &self,
        body: Vec<u8>,
        timestamp: &str,
        signature: &str,
    ) -> anyhow::Result<WebhookAnswer> {
        let v1 = signature_v1(&self.secret, &body);
        let response = self
            .client
            .post(&self.endpoint)
            .header("Content-Type", "application/json")
            .header(
                "User-Agent",
                "HubSpot Connect 2.0 (http://dev.hubspot.com/)",
            )
            .header("X-HubSpot-Signature", v1)
            .header("X-HubSpot-Signature-Version", "v1")
            .header("X-HubSpot-Signature-v3", signature)
            .header("X-HubSpot-Request-Timestamp", timestamp)
            .body(body)
            .send()
            .await
            .with_context(|| format!("posting a HubSpot batch to {}", self.endpoint))?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        Ok(WebhookAnswer {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        })
    }
}

/// HubSpot's v3 signature: base64(HMAC-SHA256(client secret,
/// method + uri + body + timestamp)).
pub fn signature_v3(
    secret: &[u8],
    method: &str,
    uri: &str,
    body: &[u8],
    timestamp: &str,
) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        unreachable!("HMAC-SHA256 takes a key of any length")
    };
    mac.update(method.as_bytes());
    mac.update(uri.as_bytes());
    mac.update(body);
    mac.update(timestamp.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// HubSpot's v1 signature: hex(SHA-256(client secret + body)).
pub fn signature_v1(secret: &[u8], body: &[u8]) -> String {
    hex::encode(
        Sha256::new()
            .chain_update(secret)
            .chain_update(body)
            .finalize(),
    )
}

/// Now, in UTC milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_v3_signature_matches_the_hubspot_python_sdk_vector() {
        // From hubspot-api-python's signature tests.
        assert_eq!(
            signature_v3(
                b"yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy",
                "POST",
                "https://www.example.com/webhook_uri",
                b"{'example_field':'example_value'}",
                "1693657560000"
            ),
            "K36dawei4A+QBNolUOqo7s91KQDWQ5MXZ/QufNYuk/Y="
        );
    }

    #[test]
    fn retries_keep_the_events_and_raise_the_attempt() {
        let batch = json!([event(1, 7, "contact.creation", 9, 5)]);
        let again = retried(&batch, 2);
        assert_eq!(again[0]["attemptNumber"], 2);
        assert_eq!(again[0]["eventId"], 7);
    }
}
