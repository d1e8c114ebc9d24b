//! SAP document and partner numbers.
//!
//! SAP keeps numeric keys in fixed-width character fields and pads them with
//! leading zeros (the ALPHA conversion): the business partner `0017100001`
//! is the sold-to party `17100001` of a sales order, and OData APIs show one
//! form or the other depending on the field. The connector strips the zeros
//! of every purely numeric id it reports, so that each entity has one id
//! everywhere. Alphanumeric keys (`ACME-01`) are never padded by SAP and are
//! kept as they are.

/// The id with leading zeros stripped when it is purely numeric (`0` stays
/// `0`); other ids are only trimmed.
///
/// ```
/// use sap::ids::normalize;
/// assert_eq!(normalize("0017100001"), "17100001");
/// assert_eq!(normalize("17100001"), "17100001");
/// assert_eq!(normalize("0000000000"), "0");
/// assert_eq!(normalize(" ACME-01 "), "ACME-01");
/// ```
pub fn normalize(id: &str) -> String {
    let id = id.trim();
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return id.to_owned();
    }
    match id.trim_start_matches('0') {
        "" => "0".to_owned(),
        stripped => stripped.to_owned(),
    }
}

/// [`normalize`] for an optional field: blank means absent.
pub fn normalize_present(id: Option<&str>) -> Option<String> {
    id.map(normalize).filter(|id| !id.is_empty())
}
