//! Accounts and contacts: upserts ordered by entity version, so a stale
//! update is ignored however late it arrives.

use crate::event::{AccountUpsert, ContactUpsert};

/// Internal account id.
pub type AccountId = i64;

/// What the engine knows about a B2B account.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccountData {
    /// Name.
    pub name: String,
    /// Verified business domain.
    pub domain: Option<String>,
    /// Tax id.
    pub tax_id: Option<String>,
    /// Industry.
    pub industry: Option<String>,
    /// Employees.
    pub employees: Option<u32>,
    /// Annual revenue as the source reports it.
    pub annual_revenue: Option<crate::event::Money>,
    /// Country.
    pub country: Option<String>,
}

/// What the engine knows about a contact.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContactData {
    /// The account the contact belongs to.
    pub account: Option<AccountId>,
    /// Email.
    pub email: Option<String>,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Role.
    pub role: Option<String>,
}

/// A record as stored: its data and the version of the source entity it
/// came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<T> {
    /// The data.
    pub data: T,
    /// The source entity version it reflects; 0 for a placeholder created
    /// because another record referred to it.
    pub version: u64,
}

/// What to do with an upsert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upsert<T> {
    /// Store this (new or newer) record.
    Write(Versioned<T>),
    /// The stored record is newer: change nothing.
    Stale,
}

/// The version of a placeholder record, older than any real one.
pub const PLACEHOLDER_VERSION: u64 = 0;

/// A placeholder account for a source id seen only as a reference (an order
/// naming a company not synced yet). The real record replaces it.
pub fn placeholder_account(source: &str, source_id: &str) -> Versioned<AccountData> {
    Versioned {
        data: AccountData {
            name: format!("{source} account {source_id}"),
            ..AccountData::default()
        },
        version: PLACEHOLDER_VERSION,
    }
}

/// Applies an account upsert over the stored record, if any. An equal
/// version is applied again (a redelivery carries the same content).
pub fn upsert_account(
    stored: Option<&Versioned<AccountData>>,
    event: &AccountUpsert,
) -> Upsert<AccountData> {
    if stored.is_some_and(|s| s.version > event.version) {
        return Upsert::Stale;
    }
    Upsert::Write(Versioned {
        data: AccountData {
            name: event.name.clone(),
            domain: event.domain.clone(),
            tax_id: event.tax_id.clone(),
            industry: event.industry.clone(),
            employees: event.employees,
            annual_revenue: event.annual_revenue.clone(),
            country: event.country.clone(),
        },
        version: event.version,
    })
}

/// Applies a contact upsert. `account` is the resolved account the event
/// names; an event that names none keeps the contact's current account.
pub fn upsert_contact(
    stored: Option<&Versioned<ContactData>>,
    event: &ContactUpsert,
    account: Option<AccountId>,
) -> Upsert<ContactData> {
    if stored.is_some_and(|s| s.version > event.version) {
        return Upsert::Stale;
    }
    let record = Versioned {
        data: ContactData {
            account: account.or_else(|| stored.and_then(|s| s.data.account)),
            email: event.email.clone(),
            first_name: event.first_name.clone(),
            last_name: event.last_name.clone(),
            role: event.role.clone(),
        },
        version: event.version,
    };
    if stored == Some(&record) {
        // A repeat (a redelivery, an overlapping poll page): nothing to write.
        return Upsert::Stale;
    }
    Upsert::Write(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(version: u64, email: &str, account: Option<&str>) -> ContactUpsert {
        ContactUpsert {
            source_id: "c1".to_owned(),
            version,
            account_id: account.map(str::to_owned),
            email: Some(email.to_owned()),
            first_name: None,
            last_name: None,
            role: None,
        }
    }

    #[test]
    fn a_stale_contact_update_changes_nothing() {
        let Upsert::Write(newer) =
            upsert_contact(None, &contact(20, "new@acme.example", None), Some(7))
        else {
            panic!()
        };
        assert_eq!(
            upsert_contact(Some(&newer), &contact(10, "old@acme.example", None), None),
            Upsert::Stale
        );
    }

    #[test]
    fn a_repeated_contact_changes_nothing_but_a_corrected_one_at_the_same_version_does() {
        let event = contact(5, "anna@acme.example", Some("acme"));
        let Upsert::Write(stored) = upsert_contact(None, &event, Some(7)) else {
            panic!()
        };
        assert_eq!(
            upsert_contact(Some(&stored), &event, Some(7)),
            Upsert::Stale
        );
        let corrected = contact(5, "anna.k@acme.example", Some("acme"));
        assert!(matches!(
            upsert_contact(Some(&stored), &corrected, Some(7)),
            Upsert::Write(_)
        ));
    }

    #[test]
    fn an_update_without_account_keeps_the_link() {
        let Upsert::Write(linked) =
            upsert_contact(None, &contact(1, "a@acme.example", Some("acme")), Some(7))
        else {
            panic!()
        };
        let Upsert::Write(updated) =
            upsert_contact(Some(&linked), &contact(2, "b@acme.example", None), None)
        else {
            panic!()
        };
        assert_eq!(
            (updated.data.account, updated.data.email.as_deref()),
            (Some(7), Some("b@acme.example"))
        );
    }

    #[test]
    fn a_real_account_replaces_its_placeholder() {
        let placeholder = placeholder_account("shopify", "42");
        let event = AccountUpsert {
            source_id: "42".to_owned(),
            version: 1,
            name: "Acme GmbH".to_owned(),
            domain: None,
            tax_id: None,
            industry: None,
            employees: None,
            annual_revenue: None,
            country: None,
            external_refs: Vec::new(),
        };
        let Upsert::Write(real) = upsert_account(Some(&placeholder), &event) else {
            panic!()
        };
        assert_eq!(real.data.name, "Acme GmbH");
    }
}
