//! The emulated system's data, set by the tests, and its OData V2 JSON form:
//! zero-padded numbers, `/Date(ms)/` values, amounts as strings,
//! `__metadata` and `__deferred` navigation links.

use serde_json::{Map, Value, json};

use super::wire;

/// A business partner (`A_BusinessPartner`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessPartner {
    /// The number without zeros (`17100001`); shown padded to 10 digits.
    pub number: String,
    /// `1` person, `2` organization.
    pub category: String,
    /// `OrganizationBPName1`.
    pub name1: String,
    /// `OrganizationBPName2`.
    pub name2: String,
    /// `Industry`.
    pub industry: String,
    /// The standard address's `Country`.
    pub country: String,
    /// `to_BusinessPartnerTax`: (`BPTaxType`, `BPTaxNumber`).
    pub tax_numbers: Vec<(String, String)>,
    /// The address's web address.
    pub website: Option<String>,
    /// The address's email address.
    pub email: Option<String>,
    /// Created at (ms), shown as `CreationDate` + `CreationTime`.
    pub created_ms: i64,
    /// Last changed at (ms), shown as `LastChangeDate` + `LastChangeTime`;
    /// `None` for a partner never changed (`LastChangeDate: null`).
    pub changed_ms: Option<i64>,
}

impl BusinessPartner {
    /// An organization in Germany, created at `created_ms` and never changed.
    pub fn organization(number: &str, name: &str, created_ms: i64) -> Self {
        Self {
            number: number.to_owned(),
            category: "2".to_owned(),
            name1: name.to_owned(),
            name2: String::new(),
            industry: String::new(),
            country: "DE".to_owned(),
            tax_numbers: Vec::new(),
            website: None,
            email: None,
            created_ms,
            changed_ms: None,
        }
    }

    /// The `LastChangeDate`/`CreationDate` day the filter compares.
    pub fn change_day(&self) -> Option<i64> {
        self.changed_ms.map(wire::day_of)
    }

    /// The partner in OData V2 JSON, with the navigation properties named
    /// in `expand` expanded and the others deferred.
    pub fn to_json(&self, service: &str, expand: &[String]) -> Value {
        let key = padded(&self.number);
        let uri = format!("{service}/A_BusinessPartner('{key}')");
        let full_name = [self.name1.as_str(), self.name2.as_str()]
            .iter()
            .filter(|n| !n.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        let mut record = json!({
            "__metadata": { "id": uri, "uri": uri, "type": "API_BUSINESS_PARTNER.A_BusinessPartnerType" },
            "BusinessPartner": key,
            "Customer": key,
            "Supplier": "",
            "BusinessPartnerCategory": self.category,
            "BusinessPartnerFullName": full_name,
            "BusinessPartnerGrouping": "BP02",
            "BusinessPartnerName": full_name,
            "CreatedByUser": "CB9980000010",
            "CreationDate": wire::date(wire::day_of(self.created_ms)),
            "CreationTime": wire::time_of_day(self.created_ms),
            "FirstName": "",
            "Industry": self.industry,
            "IsNaturalPerson": if self.category == "1" { "X" } else { "" },
            "LastChangeDate": self.changed_ms.map(|ms| wire::date(wire::day_of(ms))),
            "LastChangeTime": wire::time_of_day(self.changed_ms.unwrap_or(0)),
            "LastChangedByUser": if self.changed_ms.is_some() { "CB9980000010" } else { "" },
            "LastName": "",
            "OrganizationBPName1": self.name1,
            "OrganizationBPName2": self.name2,
            "OrganizationBPName3": "",
            "OrganizationBPName4": "",
            "BusinessPartnerIsBlocked": false,
            "IsMarkedForArchiving": false,
        });
        let fields = record
            .as_object_mut()
            .map(std::mem::take)
            .unwrap_or_default();
        let mut fields: Map<String, Value> = fields;
        let address_expanded = expand
            .iter()
            .any(|e| e.starts_with("to_BusinessPartnerAddress"));
        fields.insert(
            "to_BusinessPartnerAddress".to_owned(),
            if address_expanded {
                json!({ "results": [self.address_json(service, expand)] })
            } else {
                deferred(&format!("{uri}/to_BusinessPartnerAddress"))
            },
        );
        fields.insert(
            "to_BusinessPartnerTax".to_owned(),
            if expand.iter().any(|e| e == "to_BusinessPartnerTax") {
                json!({ "results": self.tax_numbers.iter().map(|(kind, number)| {
                    let uri = format!("{service}/A_BusinessPartnerTaxNumber(BusinessPartner='{key}',BPTaxType='{kind}')");
                    json!({
                        "__metadata": { "id": uri, "uri": uri, "type": "API_BUSINESS_PARTNER.A_BusinessPartnerTaxNumberType" },
                        "BusinessPartner": key,
                        "BPTaxType": kind,
                        "BPTaxNumber": number,
                        "BPTaxLongNumber": "",
                        "AuthorizationGroup": "",
                    })
                }).collect::<Vec<_>>() })
            } else {
                deferred(&format!("{uri}/to_BusinessPartnerTax"))
            },
        );
        for nav in [
            "to_BuPaIdentification",
            "to_BusinessPartnerBank",
            "to_BusinessPartnerContact",
            "to_BusinessPartnerRole",
        ] {
            fields.insert(nav.to_owned(), deferred(&format!("{uri}/{nav}")));
        }
        Value::Object(fields)
    }

    fn address_json(&self, service: &str, expand: &[String]) -> Value {
        let key = padded(&self.number);
        let address_id = "28238";
        let uri = format!(
            "{service}/A_BusinessPartnerAddress(BusinessPartner='{key}',AddressID='{address_id}')"
        );
        let email = if expand
            .iter()
            .any(|e| e == "to_BusinessPartnerAddress/to_EmailAddress")
        {
            json!({ "results": self.email.iter().map(|email| json!({
                "__metadata": { "type": "API_BUSINESS_PARTNER.A_AddressEmailAddressType" },
                "AddressID": address_id, "Person": "", "OrdinalNumber": "1",
                "IsDefaultEmailAddress": true, "EmailAddress": email,
            })).collect::<Vec<_>>() })
        } else {
            deferred(&format!("{uri}/to_EmailAddress"))
        };
        let url = if expand
            .iter()
            .any(|e| e == "to_BusinessPartnerAddress/to_URLAddress")
        {
            json!({ "results": self.website.iter().map(|site| json!({
                "__metadata": { "type": "API_BUSINESS_PARTNER.A_AddressHomePageURLType" },
                "AddressID": address_id, "Person": "", "OrdinalNumber": "1",
                "IsDefaultURLAddress": true, "WebsiteURL": site,
            })).collect::<Vec<_>>() })
        } else {
            deferred(&format!("{uri}/to_URLAddress"))
        };
        json!({
            "__metadata": { "id": uri, "uri": uri, "type": "API_BUSINESS_PARTNER.A_BusinessPartnerAddressType" },
            "BusinessPartner": key,
            "AddressID": address_id,
            "ValidityStartDate": wire::date_time_offset(wire::day_of(self.created_ms)),
            "ValidityEndDate": "/Date(253402300799000+0000)/",
            "CityName": "Walldorf",
            "Country": self.country,
            "PostalCode": "69190",
            "StreetName": "Dietmar-Hopp-Allee",
            "HouseNumber": "16",
            "to_EmailAddress": email,
            "to_URLAddress": url,
            "to_PhoneNumber": deferred(&format!("{uri}/to_PhoneNumber")),
        })
    }
}

/// An item of a sales order (`A_SalesOrderItem`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SalesOrderItem {
    /// `SalesOrderItem` (`10`, `20`).
    pub item: String,
    /// `Material`.
    pub material: String,
    /// `SalesOrderItemText`.
    pub text: String,
    /// `MaterialGroup`.
    pub material_group: String,
    /// `RequestedQuantity`, a decimal string.
    pub quantity: String,
    /// `NetAmount`, a decimal string.
    pub net_amount: String,
    /// `SalesDocumentRjcnReason`; empty for an item that stands.
    pub rejection_reason: String,
}

impl SalesOrderItem {
    /// An item that stands.
    pub fn new(item: &str, material: &str, quantity: &str, net_amount: &str) -> Self {
        Self {
            item: item.to_owned(),
            material: material.to_owned(),
            text: format!("Material {material}"),
            material_group: "L004".to_owned(),
            quantity: quantity.to_owned(),
            net_amount: net_amount.to_owned(),
            rejection_reason: String::new(),
        }
    }

    /// The item, rejected for `reason` (`"02"`: delivery date too late).
    pub fn rejected(mut self, reason: &str) -> Self {
        self.rejection_reason = reason.to_owned();
        self
    }
}

/// A sales order (`A_SalesOrder`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SalesOrder {
    /// The number without zeros; shown padded to 10 digits.
    pub number: String,
    /// `SoldToParty`, shown without zeros.
    pub sold_to: String,
    /// `CreationDate` (the day of it).
    pub created_ms: i64,
    /// `LastChangeDateTime`.
    pub changed_ms: i64,
    /// `TransactionCurrency`.
    pub currency: String,
    /// `OverallSDProcessStatus`: `A` open, `C` completed.
    pub process_status: String,
    /// `OverallSDDocumentRejectionSts`: `A` none, `B` partly, `C` fully.
    pub rejection_status: String,
    /// The items.
    pub items: Vec<SalesOrderItem>,
}

impl SalesOrder {
    /// An open order in EUR, created and last changed at `at_ms`.
    pub fn new(number: &str, sold_to: &str, at_ms: i64, items: Vec<SalesOrderItem>) -> Self {
        let mut order = Self {
            number: number.to_owned(),
            sold_to: sold_to.to_owned(),
            created_ms: at_ms,
            changed_ms: at_ms,
            currency: "EUR".to_owned(),
            process_status: "A".to_owned(),
            rejection_status: "A".to_owned(),
            items,
        };
        order.update_rejection_status();
        order
    }

    /// Sets `OverallSDDocumentRejectionSts` from the items, as SAP does.
    pub fn update_rejection_status(&mut self) {
        let rejected = self
            .items
            .iter()
            .filter(|i| !i.rejection_reason.is_empty())
            .count();
        self.rejection_status = match rejected {
            0 => "A",
            n if n == self.items.len() => "C",
            _ => "B",
        }
        .to_owned();
    }

    /// The order in OData V2 JSON, with `to_Item` expanded when asked.
    pub fn to_json(&self, service: &str, expand_items: bool) -> Value {
        let key = padded(&self.number);
        let uri = format!("{service}/A_SalesOrder('{key}')");
        let total = wire::sum_amounts(self.items.iter().map(|i| i.net_amount.as_str()))
            .unwrap_or_else(|| "0.00".to_owned());
        let items = if expand_items {
            json!({ "results": self.items.iter().map(|item| {
                let uri = format!("{service}/A_SalesOrderItem(SalesOrder='{key}',SalesOrderItem='{}')", item.item);
                json!({
                    "__metadata": { "id": uri, "uri": uri, "type": "API_SALES_ORDER_SRV.A_SalesOrderItemType" },
                    "SalesOrder": key,
                    "SalesOrderItem": item.item,
                    "HigherLevelItem": "0",
                    "SalesOrderItemCategory": "TAN",
                    "SalesOrderItemText": item.text,
                    "Material": item.material,
                    "RequestedQuantity": item.quantity,
                    "RequestedQuantityUnit": "EA",
                    "TransactionCurrency": self.currency,
                    "NetAmount": item.net_amount,
                    "MaterialGroup": item.material_group,
                    "SalesDocumentRjcnReason": item.rejection_reason,
                    "SDProcessStatus": self.process_status,
                    "to_Partner": deferred(&format!("{uri}/to_Partner")),
                    "to_PricingElement": deferred(&format!("{uri}/to_PricingElement")),
                })
            }).collect::<Vec<_>>() })
        } else {
            deferred(&format!("{uri}/to_Item"))
        };
        json!({
            "__metadata": {
                "id": uri,
                "uri": uri,
                "type": "API_SALES_ORDER_SRV.A_SalesOrderType",
                "etag": format!("W/\"datetimeoffset'{}'\"", self.changed_ms),
            },
            "SalesOrder": key,
            "SalesOrderType": "OR",
            "SalesOrganization": "1010",
            "DistributionChannel": "10",
            "OrganizationDivision": "00",
            "SoldToParty": self.sold_to,
            "CreationDate": wire::date(wire::day_of(self.created_ms)),
            "CreatedByUser": "CB9980000010",
            "LastChangeDate": null,
            "LastChangeDateTime": wire::date_time_offset(self.changed_ms),
            "PurchaseOrderByCustomer": format!("PO-{}", self.number),
            "SalesOrderDate": wire::date(wire::day_of(self.created_ms)),
            "TotalNetAmount": total,
            "TransactionCurrency": self.currency,
            "OverallSDProcessStatus": self.process_status,
            "OverallTotalDeliveryStatus": self.process_status,
            "OverallSDDocumentRejectionSts": self.rejection_status,
            "to_Item": items,
            "to_Partner": deferred(&format!("{uri}/to_Partner")),
            "to_PricingElement": deferred(&format!("{uri}/to_PricingElement")),
        })
    }
}

/// A number as SAP stores it: numeric keys zero-padded to 10 characters.
pub fn padded(number: &str) -> String {
    if number.bytes().all(|b| b.is_ascii_digit()) {
        format!("{number:0>10}")
    } else {
        number.to_owned()
    }
}

fn deferred(uri: &str) -> Value {
    json!({ "__deferred": { "uri": uri } })
}
