//! `BillingCountry` to ISO 3166-1 alpha-2.
//!
//! Without State and Country Picklists, `BillingCountry` is free text: a
//! code (`DE`), an English name (`Germany`) or anything a user typed. Codes
//! and the English names of the countries in this small table are mapped;
//! anything else becomes no country rather than a wrong one.

/// English names (lower case) and their alpha-2 codes.
const NAMES: &[(&str, &str)] = &[
    ("argentina", "AR"),
    ("australia", "AU"),
    ("austria", "AT"),
    ("belgium", "BE"),
    ("brazil", "BR"),
    ("bulgaria", "BG"),
    ("canada", "CA"),
    ("chile", "CL"),
    ("china", "CN"),
    ("croatia", "HR"),
    ("czech republic", "CZ"),
    ("czechia", "CZ"),
    ("denmark", "DK"),
    ("estonia", "EE"),
    ("finland", "FI"),
    ("france", "FR"),
    ("germany", "DE"),
    ("greece", "GR"),
    ("hungary", "HU"),
    ("iceland", "IS"),
    ("india", "IN"),
    ("ireland", "IE"),
    ("israel", "IL"),
    ("italy", "IT"),
    ("japan", "JP"),
    ("latvia", "LV"),
    ("liechtenstein", "LI"),
    ("lithuania", "LT"),
    ("luxembourg", "LU"),
    ("mexico", "MX"),
    ("netherlands", "NL"),
    ("new zealand", "NZ"),
    ("norway", "NO"),
    ("poland", "PL"),
    ("portugal", "PT"),
    ("romania", "RO"),
    ("singapore", "SG"),
    ("slovakia", "SK"),
    ("slovenia", "SI"),
    ("south africa", "ZA"),
    ("south korea", "KR"),
    ("spain", "ES"),
    ("sweden", "SE"),
    ("switzerland", "CH"),
    ("the netherlands", "NL"),
    ("turkey", "TR"),
    ("united arab emirates", "AE"),
    ("united kingdom", "GB"),
    ("united states", "US"),
    ("united states of america", "US"),
    ("uk", "GB"),
    ("usa", "US"),
];

/// The alpha-2 code of a `BillingCountry` value: two letters as they are
/// (upper-cased; `UK` is `GB`), or a known English name.
pub fn alpha2(text: &str) -> Option<String> {
    let text = text.trim();
    if text.len() == 2 && text.bytes().all(|b| b.is_ascii_alphabetic()) {
        let code = text.to_ascii_uppercase();
        return Some(if code == "UK" { "GB".to_owned() } else { code });
    }
    let lower = text.to_lowercase();
    NAMES
        .iter()
        .find(|(name, _)| *name == lower)
        .map(|(_, code)| (*code).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_known_names_map_and_the_rest_does_not() {
        assert_eq!(alpha2("de").as_deref(), Some("DE"));
        assert_eq!(alpha2(" Germany ").as_deref(), Some("DE"));
        assert_eq!(alpha2("UNITED STATES").as_deref(), Some("US"));
        assert_eq!(alpha2("UK").as_deref(), Some("GB"));
        assert_eq!(alpha2("Deutschland"), None);
        assert_eq!(alpha2("D"), None);
    }

    #[test]
    fn the_table_is_well_formed() {
        for (name, code) in NAMES {
            assert_eq!(*name, name.to_lowercase());
            assert!(code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase()));
        }
    }
}
