//! Signed, expiring tokens: sign-in links, enrollment links and sessions.
//! A token is its claims in clear, dot-separated, and an HMAC-SHA256 over
//! them; the purpose is signed too, so a session cannot be passed off as a
//! link nor a link for another account. Links are single use: their nonce
//! is recorded when used (see the store).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::core::accounts::AccountId;

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A magic link that signs a contact in.
    SignIn,
    /// An invitation's link to enroll and accept the terms.
    Enroll,
    /// A signed-in member's session cookie.
    Session,
    /// A signed-in admin's session cookie (contact 0).
    Admin,
}

impl Purpose {
    /// As written in a token.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignIn => "signin",
            Self::Enroll => "enroll",
            Self::Session => "session",
            Self::Admin => "admin",
        }
    }
}

/// What a token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// What it is for.
    pub purpose: Purpose,
    /// The account it is bound to (0 for an admin session).
    pub account: AccountId,
    /// The contact (its internal id; 0 for an admin session).
    pub contact: i64,
    /// The first millisecond it is no longer valid.
    pub expires_at: i64,
    /// Random, so that each token is unique (links are used once by it).
    pub nonce: String,
}

/// Why a token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a token at all, or for another purpose.
    #[error("the link is not valid: it may have been cut short or altered")]
    Malformed,
    /// Its signature does not match: altered, or signed with another key.
    #[error("the link is not valid: it may have been altered")]
    BadSignature,
    /// Past its expiry.
    #[error("the link has expired")]
    Expired,
}

/// Signs and checks tokens with the portal's secret.
#[derive(Clone)]
pub struct Signer {
    /// Keyed once; cloned for each token.
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(..)")
    }
}

impl Signer {
    /// A signer with `secret`.
    pub fn new(secret: &[u8]) -> Result<Self, hmac::digest::InvalidLength> {
        Ok(Self {
            mac: <Hmac<Sha256> as Mac>::new_from_slice(secret)?,
        })
    }

    fn mac(&self, payload: &str) -> Hmac<Sha256> {
        let mut mac = self.mac.clone();
        mac.update(payload.as_bytes());
        mac
    }

    /// A fresh token for `purpose`, bound to `account` and `contact`,
    /// valid until `expires_at`.
    pub fn issue(
        &self,
        purpose: Purpose,
        account: AccountId,
        contact: i64,
        expires_at: i64,
    ) -> (String, Claims) {
        let mut nonce = [0u8; 16];
        fastrand::fill(&mut nonce);
        let claims = Claims {
            purpose,
            account,
            contact,
            expires_at,
            nonce: hex::encode(nonce),
        };
        (self.sign(&claims), claims)
    }

    /// The token for `claims`.
    pub fn sign(&self, claims: &Claims) -> String {
        let payload = format!(
            "{}.{}.{}.{}.{}",
            claims.purpose.as_str(),
            claims.account,
            claims.contact,
            claims.expires_at,
            claims.nonce
        );
        let tag = URL_SAFE_NO_PAD.encode(self.mac(&payload).finalize().into_bytes());
        format!("{payload}.{tag}")
    }

    /// The claims of `token` if it is for `purpose`, signed with this key
    /// and not expired at `now`.
    pub fn verify(&self, token: &str, purpose: Purpose, now: i64) -> Result<Claims, TokenError> {
        let (payload, tag) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| TokenError::Malformed)?;
        self.mac(payload)
            .verify_slice(&tag)
            .map_err(|_| TokenError::BadSignature)?;
        let parts: Vec<&str> = payload.split('.').collect();
        let [kind, account, contact, expires_at, nonce] = parts.as_slice() else {
            return Err(TokenError::Malformed);
        };
        if *kind != purpose.as_str() {
            return Err(TokenError::Malformed);
        }
        let claims = Claims {
            purpose,
            account: account.parse().map_err(|_| TokenError::Malformed)?,
            contact: contact.parse().map_err(|_| TokenError::Malformed)?,
            expires_at: expires_at.parse().map_err(|_| TokenError::Malformed)?,
            nonce: (*nonce).to_owned(),
        };
        if now >= claims.expires_at {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

/// Makes the links the admin API hands out: sign-in links and invitations'
/// enrollment links, under the public URL.
#[derive(Debug, Clone)]
pub struct Links {
    signer: Signer,
    base: String,
    link_minutes: u32,
    invitation_days: u32,
}

impl Links {
    /// Links signed with `[portal]`'s secret under `public_base_url`.
    pub fn new(
        config: &crate::config::PortalConfig,
        public_base_url: &str,
    ) -> Result<Self, hmac::digest::InvalidLength> {
        Ok(Self {
            signer: Signer::new(config.secret.expose())?,
            base: public_base_url.trim_end_matches('/').to_owned(),
            link_minutes: config.link_minutes,
            invitation_days: config.invitation_days,
        })
    }

    fn link(
        &self,
        path: &str,
        purpose: Purpose,
        account: AccountId,
        contact: i64,
        expires: i64,
    ) -> (String, i64) {
        let (token, _) = self.signer.issue(purpose, account, contact, expires);
        (format!("{}{path}?token={token}", self.base), expires)
    }

    /// A sign-in link for `contact` of `account`, with its expiry.
    pub fn sign_in(&self, account: AccountId, contact: i64, now: i64) -> (String, i64) {
        let expires = now.saturating_add(i64::from(self.link_minutes) * 60_000);
        self.link(
            "/portal/sign-in",
            Purpose::SignIn,
            account,
            contact,
            expires,
        )
    }

    /// A sign-in link for `contact` of `account` valid until `expires`
    /// (a statement's, which lives longer than one asked for).
    pub fn sign_in_until(&self, account: AccountId, contact: i64, expires: i64) -> String {
        self.link(
            "/portal/sign-in",
            Purpose::SignIn,
            account,
            contact,
            expires,
        )
        .0
    }

    /// An enrollment link for `contact` of `account`, with its expiry.
    pub fn enrollment(&self, account: AccountId, contact: i64, now: i64) -> (String, i64) {
        let expires = now.saturating_add(i64::from(self.invitation_days) * 86_400_000);
        self.link("/portal/join", Purpose::Enroll, account, contact, expires)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> Signer {
        Signer::new(b"0123456789abcdef0123456789abcdef").unwrap()
    }

    #[test]
    fn a_token_verifies_until_it_expires() {
        let (token, claims) = signer().issue(Purpose::SignIn, 7, 42, 1_000);
        assert_eq!(signer().verify(&token, Purpose::SignIn, 999), Ok(claims));
        assert_eq!(
            signer().verify(&token, Purpose::SignIn, 1_000),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn an_altered_token_is_refused() {
        let (token, _) = signer().issue(Purpose::Session, 7, 42, 1_000);
        // Another account, the same signature.
        let forged = token.replacen("session.7.", "session.8.", 1);
        assert_eq!(
            signer().verify(&forged, Purpose::Session, 0),
            Err(TokenError::BadSignature)
        );
        let other_key = Signer::new(b"another secret of thirty-two bytes").unwrap();
        assert_eq!(
            other_key.verify(&token, Purpose::Session, 0),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            signer().verify("nonsense", Purpose::Session, 0),
            Err(TokenError::Malformed)
        );
    }

    #[test]
    fn a_token_serves_only_its_purpose() {
        let (token, _) = signer().issue(Purpose::SignIn, 7, 42, 1_000);
        assert_eq!(
            signer().verify(&token, Purpose::Session, 0),
            Err(TokenError::Malformed)
        );
    }

    #[test]
    fn every_token_is_unique() {
        let (a, _) = signer().issue(Purpose::SignIn, 7, 42, 1_000);
        let (b, _) = signer().issue(Purpose::SignIn, 7, 42, 1_000);
        assert_ne!(a, b);
    }
}
