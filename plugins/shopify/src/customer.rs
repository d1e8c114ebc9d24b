//! Customers: the body of `customers/create` and `customers/update`, and the
//! `customer` embedded in an order. Both become a contact.

use loyalty_sdk::types::{Contact, Error, Event};
use serde::Deserialize;

use crate::ids::Id;
use crate::timestamp::version_ms;

/// The fields of a REST Customer the engine uses. Everything but the id may
/// be missing: orders embed a sparse copy.
#[derive(Debug, Clone, Deserialize)]
pub struct Customer {
    /// The customer id.
    pub id: Id,
    /// Email address; `null` for customers known only by phone.
    #[serde(default)]
    pub email: Option<String>,
    /// Given name.
    #[serde(default)]
    pub first_name: Option<String>,
    /// Family name.
    #[serde(default)]
    pub last_name: Option<String>,
    /// Last change, with the shop's offset; the contact's version.
    #[serde(default)]
    pub updated_at: Option<String>,
}

/// Maps a `customers/create` or `customers/update` body to its contact event.
pub fn handle(body: &[u8]) -> Result<Vec<Event>, Error> {
    let customer: Customer = loyalty_sdk::json::parse(body)?;
    Ok(vec![event(&customer)?])
}

/// The contact event for a whole customer (a webhook body or a listed
/// customer), which must carry its own `updated_at`.
pub fn event(customer: &Customer) -> Result<Event, Error> {
    let version = version_ms("updated_at", updated_at(customer)?)?;
    Ok(Event::Contact(contact(customer, version, None)))
}

/// The customer's `updated_at`, required outside orders.
pub fn updated_at(customer: &Customer) -> Result<&str, Error> {
    customer
        .updated_at
        .as_deref()
        .ok_or_else(|| Error::InvalidInput("JSON field `updated_at`: missing".to_owned()))
}

/// The contact for a customer. `version` is the customer's `updated_at` in
/// milliseconds (or the order's, for a sparse embedded customer);
/// `account_id` is the B2B company the customer bought for, if any.
pub fn contact(customer: &Customer, version: u64, account_id: Option<String>) -> Contact {
    Contact {
        id: customer.id.to_string(),
        version,
        account_id,
        email: present(customer.email.as_deref()),
        first_name: present(customer.first_name.as_deref()),
        last_name: present(customer.last_name.as_deref()),
        // Shopify has no buying-committee role on a customer; B2B roles live
        // on company contacts, which the order does not carry.
        role: None,
        attributes: Vec::new(),
    }
}

/// A trimmed, non-empty text, so that `""` and `null` both read as absent.
pub fn present(text: Option<&str>) -> Option<String> {
    text.map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}
