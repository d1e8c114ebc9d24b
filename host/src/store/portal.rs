//! What the member portal shows of an account, read in one transaction.

use crate::core::accounts::AccountId;
use crate::core::campaigns::Offer;
use crate::core::membership::MembershipStatus;
use crate::core::tiers::TierProgress;

/// An account as its members see it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MemberView {
    /// The account.
    pub account_id: AccountId,
    /// Its name.
    pub name: String,
    /// Its membership.
    pub membership: Option<MembershipStatus>,
    /// Its balance.
    pub balance: i64,
    /// Where it stands against the tiers.
    pub tier: TierProgress,
    /// Current offers of campaigns that target it (sending or completed).
    pub offers: Vec<OfferView>,
}

/// A campaign's offer to an account.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OfferView {
    /// The campaign.
    pub campaign: String,
    /// Its name.
    pub name: String,
    /// The offer.
    pub offer: Offer,
    /// The account's own discount code, if the offer made one.
    pub code: Option<String>,
}
