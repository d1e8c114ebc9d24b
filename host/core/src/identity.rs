//! Identity resolution: the same company reaches the engine from several
//! systems (a Salesforce Account, an SAP business partner, a Shopify
//! company); these rules decide when two records are one loyalty account.

use std::collections::BTreeSet;

use crate::accounts::AccountId;

/// A key two records can be matched on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchKey {
    /// One system names the other's id for the company (an `external-ref`).
    ExternalRef,
    /// The same tax id (VAT number, EIN), compared without spaces or
    /// punctuation and case-insensitively.
    TaxId,
    /// The same verified business domain; free-mail domains never match.
    Domain,
}

impl MatchKey {
    /// The configured name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ExternalRef => "external_ref",
            Self::TaxId => "tax_id",
            Self::Domain => "domain",
        }
    }
}

/// Which keys match accounts, in order of trust.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IdentityRules {
    /// The keys, strongest first; an empty list matches nothing, so every
    /// source record is its own account.
    pub match_on: Vec<MatchKey>,
    /// Domains that never identify a company, on top of the built-in list.
    pub free_mail_domains: BTreeSet<String>,
}

impl Default for IdentityRules {
    fn default() -> Self {
        Self {
            match_on: vec![MatchKey::ExternalRef, MatchKey::TaxId, MatchKey::Domain],
            free_mail_domains: BTreeSet::new(),
        }
    }
}

/// Mailbox providers whose domain says nothing about the company.
const FREE_MAIL: &[&str] = &[
    "aol.com",
    "gmail.com",
    "gmx.at",
    "gmx.de",
    "gmx.net",
    "googlemail.com",
    "hotmail.com",
    "icloud.com",
    "live.com",
    "mail.com",
    "mail.ru",
    "me.com",
    "msn.com",
    "outlook.com",
    "proton.me",
    "protonmail.com",
    "qq.com",
    "t-online.de",
    "web.de",
    "yahoo.com",
    "yandex.ru",
    "zoho.com",
];

impl IdentityRules {
    /// Whether `key` is configured.
    pub fn uses(&self, key: MatchKey) -> bool {
        self.match_on.contains(&key)
    }

    /// Whether `domain` (normalized) is a free-mail domain.
    pub fn is_free_mail(&self, domain: &str) -> bool {
        FREE_MAIL.contains(&domain) || self.free_mail_domains.contains(domain)
    }

    /// The matching form of a business domain or website: lower case,
    /// without scheme, `www.`, port, path or trailing dot; `None` when empty,
    /// not a domain, or a free-mail domain.
    pub fn domain_key(&self, text: &str) -> Option<String> {
        let text = text.trim().to_ascii_lowercase();
        let text = text
            .split_once("://")
            .map_or(text.as_str(), |(_, rest)| rest);
        let host = text.split(['/', '?', '#', ':']).next().unwrap_or_default();
        let host = host.trim_end_matches('.');
        let host = host.strip_prefix("www.").unwrap_or(host);
        let valid = host.contains('.')
            && host.split('.').all(|label| {
                !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        (valid && !self.is_free_mail(host)).then(|| host.to_owned())
    }

    /// The matching form of an email's domain, `None` for free mail.
    pub fn email_domain_key(&self, email: &str) -> Option<String> {
        let (_, domain) = email.trim().rsplit_once('@')?;
        self.domain_key(domain)
    }
}

/// The matching form of a tax id: upper case, letters and digits only;
/// `None` when nothing is left.
pub fn tax_id_key(text: &str) -> Option<String> {
    let key: String = text
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (!key.is_empty()).then_some(key)
}

/// The accounts that share a key with an incoming record, found by the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Candidates {
    /// An account that another system's record claims with this record's
    /// (system, id) as an external reference.
    pub by_external_ref: Option<AccountId>,
    /// Accounts with the same tax id key.
    pub by_tax_id: Vec<AccountId>,
    /// Accounts with the same domain key.
    pub by_domain: Vec<AccountId>,
}

/// What identity resolution decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// The record belongs to this existing account, matched on this key.
    Existing(AccountId, MatchKey),
    /// No match: a new account.
    New,
}

/// Picks the account a new source record belongs to: the first configured
/// key with exactly one candidate wins. A key with several candidates is
/// ambiguous and skipped, so two different companies are never joined by
/// guesswork (an admin can merge them).
pub fn resolve(rules: &IdentityRules, candidates: &Candidates) -> Resolution {
    for key in &rules.match_on {
        let found: Vec<AccountId> = match key {
            MatchKey::ExternalRef => candidates.by_external_ref.into_iter().collect(),
            MatchKey::TaxId => dedup(&candidates.by_tax_id),
            MatchKey::Domain => dedup(&candidates.by_domain),
        };
        if let [account] = found.as_slice() {
            return Resolution::Existing(*account, *key);
        }
    }
    Resolution::New
}

fn dedup(accounts: &[AccountId]) -> Vec<AccountId> {
    let set: BTreeSet<AccountId> = accounts.iter().copied().collect();
    set.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tax_ids_match_without_punctuation() {
        assert_eq!(tax_id_key("de 123.456-789"), Some("DE123456789".to_owned()));
        assert_eq!(tax_id_key(" - "), None);
    }

    #[test]
    fn domains_are_normalized_and_free_mail_never_matches() {
        let rules = IdentityRules {
            free_mail_domains: BTreeSet::from(["mailbox.example".to_owned()]),
            ..IdentityRules::default()
        };
        assert_eq!(
            rules.domain_key("https://WWW.Acme.example/about"),
            Some("acme.example".to_owned())
        );
        assert_eq!(
            rules.domain_key("acme.example."),
            Some("acme.example".to_owned())
        );
        assert_eq!(rules.domain_key("gmail.com"), None);
        assert_eq!(rules.domain_key("mailbox.example"), None);
        assert_eq!(rules.domain_key("localhost"), None);
        assert_eq!(rules.domain_key("bad domain.example"), None);
        assert_eq!(
            rules.email_domain_key("Anna@Acme.Example"),
            Some("acme.example".to_owned())
        );
        assert_eq!(rules.email_domain_key("anna@gmail.com"), None);
    }

    #[test]
    fn the_strongest_unambiguous_key_wins() {
        let rules = IdentityRules::default();
        let both = Candidates {
            by_external_ref: Some(7),
            by_tax_id: vec![9],
            by_domain: vec![9],
        };
        assert_eq!(
            resolve(&rules, &both),
            Resolution::Existing(7, MatchKey::ExternalRef)
        );
        let ambiguous_tax = Candidates {
            by_external_ref: None,
            by_tax_id: vec![3, 4],
            by_domain: vec![4, 4],
        };
        assert_eq!(
            resolve(&rules, &ambiguous_tax),
            Resolution::Existing(4, MatchKey::Domain)
        );
        let only_domain = IdentityRules {
            match_on: vec![MatchKey::TaxId],
            ..IdentityRules::default()
        };
        assert_eq!(resolve(&only_domain, &ambiguous_tax), Resolution::New);
        assert_eq!(resolve(&rules, &Candidates::default()), Resolution::New);
    }
}
