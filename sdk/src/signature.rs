//! Webhook signature checks. The secret stays on the host: these helpers
//! decode the vendor's signature and ask the host to compare.

use base64::Engine as _;

use crate::host;
use crate::types::{Error, HmacAlgorithm};

/// Checks a base64-encoded HMAC-SHA256 over `message` against the named
/// secret (Shopify's `X-Shopify-Hmac-Sha256`, HubSpot's v3 signature).
pub fn verify_base64_hmac_sha256(
    secret: &str,
    message: &[u8],
    signature: &str,
) -> Result<(), Error> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(signature.trim())
        .map_err(|_| Error::Unauthorized("signature is not valid base64".to_owned()))?;
    verify(secret, HmacAlgorithm::Sha256, message, &decoded)
}

/// Checks a hex-encoded HMAC over `message` against the named secret.
pub fn verify_hex_hmac(
    secret: &str,
    algorithm: HmacAlgorithm,
    message: &[u8],
    signature: &str,
) -> Result<(), Error> {
    let decoded = hex::decode(signature.trim())
        .map_err(|_| Error::Unauthorized("signature is not valid hex".to_owned()))?;
    verify(secret, algorithm, message, &decoded)
}

fn verify(
    secret: &str,
    algorithm: HmacAlgorithm,
    message: &[u8],
    signature: &[u8],
) -> Result<(), Error> {
    match host::verify_hmac(secret, algorithm, message, signature) {
        Ok(true) => Ok(()),
        Ok(false) => Err(Error::Unauthorized("signature does not match".to_owned())),
        Err(e) => Err(Error::Permanent(e)),
    }
}
