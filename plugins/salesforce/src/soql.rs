//! The SOQL statements the connector sends, built from the cursor.
//!
//! Every statement has the same shape:
//!
//! ```text
//! SELECT <fields> FROM <object> [WHERE <bound> [AND <filter>]]
//! ORDER BY SystemModstamp, Id LIMIT <page size>
//! ```
//!
//! The bound starts each sync of an object at its high-water mark,
//! inclusively (`SystemModstamp >= 2026-05-01T07:25:37.000Z`), because
//! several records can share one `SystemModstamp` and one of them may have
//! been saved after the last sync read the others; the host drops the
//! repeats. Within a sync, the next page continues after the last record
//! read, ordered by `(SystemModstamp, Id)`, so a page never repeats and
//! never stalls, however many records share a modstamp.

use crate::settings::Purchases;
use crate::timestamp::soql_literal;

/// The objects the connector reads, in the order a sync reads them: the
/// companies first, so that nothing names an account the engine has not
/// seen yet.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum SObject {
    /// Companies.
    Account,
    /// People at companies.
    Contact,
    /// Deals; closed ones are purchases.
    Opportunity,
    /// Orders; activated ones are purchases.
    Order,
    /// Contracts.
    Contract,
    /// Contacts' participation in campaigns (events, webinars).
    CampaignMember,
}

impl SObject {
    /// The object's API name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Account => "Account",
            Self::Contact => "Contact",
            Self::Opportunity => "Opportunity",
            Self::Order => "Order",
            Self::Contract => "Contract",
            Self::CampaignMember => "CampaignMember",
        }
    }

    /// The objects a sync reads, in order.
    pub fn stages(purchases: Purchases) -> [Self; 5] {
        let purchase = match purchases {
            Purchases::Opportunities => Self::Opportunity,
            Purchases::Orders => Self::Order,
        };
        [
            Self::Account,
            Self::Contact,
            purchase,
            Self::Contract,
            Self::CampaignMember,
        ]
    }
}

/// What the statements select beyond the standard fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Select `CurrencyIsoCode` (multi-currency orgs only).
    pub multi_currency: bool,
    /// The custom Account field holding the tax id.
    pub tax_id_field: Option<String>,
    /// The custom Account field holding the SAP business partner number.
    pub sap_number_field: Option<String>,
    /// The Opportunity or Order field holding the referral code.
    pub referral_code_field: Option<String>,
    /// The campaign member status that means attended.
    pub attended_status: String,
}

/// Where a page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bound {
    /// No lower bound: the first sync reads everything.
    Everything,
    /// Records changed at or after this moment (ms).
    Since(i64),
    /// Records after this one in `(SystemModstamp, Id)` order.
    After {
        /// The last record's `SystemModstamp` (ms).
        modstamp: i64,
        /// The last record's id.
        id: String,
    },
}

/// The fields every statement selects first.
const COMMON: &str = "Id, IsDeleted, SystemModstamp";

/// The line items of an opportunity, as a relationship subquery.
pub const OPPORTUNITY_LINES: &str = "(SELECT Id, ProductCode, Name, Quantity, UnitPrice, TotalPrice, Discount, Product2.Name, Product2.Family FROM OpportunityLineItems)";

/// The items of an order, as a relationship subquery.
pub const ORDER_ITEMS: &str = "(SELECT Id, Quantity, UnitPrice, TotalPrice, Product2.ProductCode, Product2.Name, Product2.Family FROM OrderItems)";

/// The statement for one page of `object`.
pub fn statement(object: SObject, options: &Options, bound: &Bound, limit: u32) -> String {
    let mut conditions = Vec::new();
    match bound {
        Bound::Everything => {}
        Bound::Since(ms) => conditions.push(format!("SystemModstamp >= {}", soql_literal(*ms))),
        Bound::After { modstamp, id } => {
            let at = soql_literal(*modstamp);
            conditions.push(format!(
                "(SystemModstamp > {at} OR (SystemModstamp = {at} AND Id > {}))",
                string_literal(id)
            ));
        }
    }
    if let Some(filter) = filter(object, options) {
        conditions.push(filter);
    }
    let mut soql = format!("SELECT {} FROM {}", fields(object, options), object.name());
    if !conditions.is_empty() {
        soql.push_str(" WHERE ");
        soql.push_str(&conditions.join(" AND "));
    }
    soql.push_str(&format!(" ORDER BY SystemModstamp, Id LIMIT {limit}"));
    soql
}

/// The select list of `object`.
fn fields(object: SObject, options: &Options) -> String {
    let mut fields = vec![COMMON.to_owned()];
    let specific = match object {
        SObject::Account => {
            "Name, Industry, NumberOfEmployees, AnnualRevenue, ParentId, BillingCountry, Website"
        }
        SObject::Contact => "AccountId, Email, FirstName, LastName, Title",
        SObject::Opportunity => {
            "AccountId, ContactId, Name, StageName, IsClosed, IsWon, Amount, CloseDate"
        }
        SObject::Order => {
            "AccountId, BillToContactId, OrderNumber, StatusCode, EffectiveDate, TotalAmount"
        }
        SObject::Contract => "AccountId, ContractNumber, Name, StatusCode, StartDate, EndDate",
        SObject::CampaignMember => {
            "CampaignId, Campaign.Name, ContactId, Contact.AccountId, Status, FirstRespondedDate"
        }
    };
    fields.push(specific.to_owned());
    let has_money = matches!(
        object,
        SObject::Account | SObject::Opportunity | SObject::Order
    );
    if options.multi_currency && has_money {
        fields.push("CurrencyIsoCode".to_owned());
    }
    if object == SObject::Account {
        fields.extend(options.tax_id_field.iter().cloned());
        fields.extend(
            options
                .sap_number_field
                .iter()
                .filter(|f| options.tax_id_field.as_ref() != Some(*f))
                .cloned(),
        );
    }
    if matches!(object, SObject::Opportunity | SObject::Order) {
        fields.extend(options.referral_code_field.iter().cloned());
    }
    match object {
        SObject::Opportunity => fields.push(OPPORTUNITY_LINES.to_owned()),
        SObject::Order => fields.push(ORDER_ITEMS.to_owned()),
        _ => {}
    }
    fields.join(", ")
}

/// The object's own filter: which records matter at all.
fn filter(object: SObject, options: &Options) -> Option<String> {
    match object {
        // Won and lost ones: a won deal moved to a lost stage is a
        // cancellation the engine must see.
        SObject::Opportunity => Some("IsClosed = true".to_owned()),
        SObject::Order => Some("StatusCode = 'Activated'".to_owned()),
        SObject::CampaignMember => Some(format!(
            "Status = {}",
            string_literal(&options.attended_status)
        )),
        _ => None,
    }
}

/// A SOQL string literal: single quotes, with `\` and `'` escaped.
pub fn string_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('\'');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_escape_quotes_and_backslashes() {
        assert_eq!(string_literal(r"O'Hara \ Co"), r"'O\'Hara \\ Co'");
    }
}
