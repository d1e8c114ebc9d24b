//! Delivers webhooks to the daemon the way Shopify does: the raw JSON body
//! signed with the app's secret (`X-Shopify-Hmac-Sha256`, base64 of
//! HMAC-SHA256) and every header Shopify sends.
//!
//! The caller chooses `X-Shopify-Webhook-Id`: Shopify reuses it when it
//! retries a delivery, and a second subscription to the same topic gets the
//! same change under a new id. `X-Shopify-Event-Id` names the change itself,
//! so it is derived from the topic and body and stays the same across both.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::Value;
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

    /// The inbox id of an accepted delivery.
    pub fn inbox_id(&self) -> Option<i64> {
        self.body["inbox_id"].as_i64()
    }
}

/// Signs and posts webhooks for one shop.
#[derive(Debug, Clone)]
pub struct WebhookSender {
    client: reqwest::Client,
    endpoint: String,
    secret: Vec<u8>,
    shop_domain: String,
    api_version: String,
}

impl WebhookSender {
    /// Posts to `{daemon_base_url}/webhooks/shopify`, signing with `secret`.
    pub fn new(daemon_base_url: &str, secret: &str, shop_domain: &str, api_version: &str) -> Self {
        Self {
            client: reqwest::Client::new(),
            endpoint: format!("{}/webhooks/shopify", daemon_base_url.trim_end_matches('/')),
            secret: secret.as_bytes().to_vec(),
            shop_domain: shop_domain.to_owned(),
            api_version: api_version.to_owned(),
        }
    }

    /// Sends `body` as `topic` under `webhook_id`, correctly signed.
    pub async fn send(
        &self,
        topic: &str,
        webhook_id: &str,
        body: &Value,
    ) -> anyhow::Result<WebhookAnswer> {
        let raw = serde_json::to_vec(body)?;
        let signature = hmac_sha256_base64(&self.secret, &raw);
        self.send_raw(topic, webhook_id, raw, &signature).await
    }

    /// Sends raw bytes with the given `X-Shopify-Hmac-Sha256`, right or wrong.
    pub async fn send_raw(
        &self,
        topic: &str,
        webhook_id: &str,
        body: Vec<u8>,
        signature: &str,
    ) -> anyhow::Result<WebhookAnswer> {
        let event_id = event_id(topic, &body);
        let response = self
            .client
            .post(&self.endpoint)
            .header("Content-Type", "application/json")
            .header("User-Agent", "Shopify-Captain-Hook")
            .header("X-Shopify-Topic", topic)
            .header("X-Shopify-Hmac-Sha256", signature)
            .header("X-Shopify-Shop-Domain", &self.shop_domain)
            .header("X-Shopify-Webhook-Id", webhook_id)
            .header("X-Shopify-Event-Id", event_id)
            .header("X-Shopify-Triggered-At", rfc3339_now())
            .header("X-Shopify-API-Version", &self.api_version)
            .body(body)
            .send()
            .await
            .with_context(|| format!("posting {topic} to {}", self.endpoint))?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        Ok(WebhookAnswer {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        })
    }
}

/// base64(HMAC-SHA256(secret, body)): Shopify's `X-Shopify-Hmac-Sha256`.
pub fn hmac_sha256_base64(secret: &[u8], body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        unreachable!("HMAC-SHA256 takes a key of any length")
    };
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// A UUID-shaped id of the change: the same body on the same topic is the
/// same event.
fn event_id(topic: &str, body: &[u8]) -> String {
    let digest = Sha256::new()
        .chain_update(topic.as_bytes())
        .chain_update(body)
        .finalize();
    let h = hex::encode(&digest[..16]);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Now as `2026-03-02T08:14:05.123Z`.
pub fn rfc3339_now() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        now.subsec_millis()
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_matches_shopifys_published_test_vector() {
        // From shopify-app-js's webhook validation tests.
        assert_eq!(
            hmac_sha256_base64(b"test_secret_key", br#"{"foo": "bar"}"#),
            "B23tXN681gZ0qIWNRrgtzBE9XSDo5yaUu6wfmhu3a7g="
        );
    }

    #[test]
    fn dates_are_gregorian() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_514), (2026, 3, 2));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
