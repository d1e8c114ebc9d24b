//! SAP's wire format: OData dates and times, zero-padded numbers, `__next`
//! links, error bodies, and the mapping of sales orders and partners.

use loyalty_sdk::types::{Error, IncomingResponse, PurchaseStatus};
use sap::settings::PaidWhen;
use sap::{ids, odata, partner, sales_order, time};
use serde_json::json;

#[test]
fn odata_dates_are_utc_milliseconds_whatever_the_offset_suffix() {
    assert_eq!(
        time::parse_date("d", "/Date(1552867200000)/").unwrap(),
        1_552_867_200_000
    );
    assert_eq!(
        time::parse_date("d", "/Date(1552895997855+0000)/").unwrap(),
        1_552_895_997_855
    );
    assert_eq!(
        time::parse_date("d", "/Date(1552895997855+0060)/").unwrap(),
        1_552_895_997_855
    );
    assert_eq!(
        time::parse_date("d", "/Date(-86400000)/").unwrap(),
        -86_400_000
    );
    for bad in [
        "",
        "1552867200000",
        "/Date()/",
        "/Date(12a)/",
        "/Date(1+00)/",
        "2019-03-18",
    ] {
        match time::parse_date("CreationDate", bad) {
            Err(Error::InvalidInput(m)) => assert!(m.contains("`CreationDate`"), "{m}"),
            other => panic!("{bad}: {other:?}"),
        }
    }
}

#[test]
fn odata_times_of_day_are_milliseconds_since_midnight() {
    assert_eq!(
        time::parse_time_of_day("t", "PT17H49M05S").unwrap(),
        64_145_000
    );
    assert_eq!(time::parse_time_of_day("t", "PT00H00M00S").unwrap(), 0);
    assert_eq!(
        time::parse_time_of_day("t", "PT1H2M3.5S").unwrap(),
        3_723_500
    );
    for bad in ["17:49:05", "PT25H00M00S", "PTxH"] {
        assert!(time::parse_time_of_day("t", bad).is_err(), "{bad}");
    }
}

#[test]
fn numeric_ids_lose_their_zero_padding_and_others_stay() {
    assert_eq!(ids::normalize("0017100001"), "17100001");
    assert_eq!(ids::normalize("17100001"), "17100001");
    assert_eq!(ids::normalize("0000000000"), "0");
    assert_eq!(ids::normalize(" 000164 "), "164");
    assert_eq!(ids::normalize("00AB12"), "00AB12");
    assert_eq!(ids::normalize_present(Some("  ")), None);
}

#[test]
fn next_links_resolve_whether_absolute_or_relative() {
    let request =
        "https://my.s4/sap/opu/odata/sap/API_SALES_ORDER_SRV/A_SalesOrder?$top=3&sap-client=100";
    assert_eq!(
        odata::resolve(
            request,
            "https://my.s4/sap/opu/odata/sap/API_SALES_ORDER_SRV/A_SalesOrder?$skiptoken=2"
        )
        .unwrap(),
        "https://my.s4/sap/opu/odata/sap/API_SALES_ORDER_SRV/A_SalesOrder?$skiptoken=2"
    );
    assert_eq!(
        odata::resolve(request, "A_SalesOrder?$skiptoken=2").unwrap(),
        "https://my.s4/sap/opu/odata/sap/API_SALES_ORDER_SRV/A_SalesOrder?$skiptoken=2"
    );
    assert_eq!(
        odata::resolve(
            request,
            "/sap/opu/odata/sap/API_SALES_ORDER_SRV/A_SalesOrder?$skiptoken=2"
        )
        .unwrap(),
        "https://my.s4/sap/opu/odata/sap/API_SALES_ORDER_SRV/A_SalesOrder?$skiptoken=2"
    );
    assert!(odata::resolve(request, "").is_err());
}

#[test]
fn odata_error_bodies_give_sap_s_message() {
    let body = br#"{"error":{"code":"VK/021","message":{"lang":"en","value":"Customer 4711 is not defined"}}}"#;
    assert_eq!(
        odata::error_message(body).as_deref(),
        Some("VK/021: Customer 4711 is not defined")
    );
    let response = |status: u16, headers: Vec<(&str, &str)>, body: &[u8]| IncomingResponse {
        status,
        headers: headers
            .into_iter()
            .map(|(n, v)| loyalty_sdk::types::Header {
                name: n.to_owned(),
                value: v.to_owned(),
            })
            .collect(),
        body: body.to_vec(),
    };
    match odata::status_error("reading", &response(400, vec![], body)) {
        Error::Permanent(m) => assert!(m.contains("Customer 4711 is not defined"), "{m}"),
        other => panic!("{other:?}"),
    }
    match odata::status_error(
        "reading",
        &response(403, vec![], b"No authorization for A_SalesOrder"),
    ) {
        Error::Unauthorized(m) => assert!(m.contains("No authorization"), "{m}"),
        other => panic!("{other:?}"),
    }
    match odata::status_error("reading", &response(429, vec![("Retry-After", "7")], b"")) {
        Error::RateLimited(r) => assert_eq!(r.delay_ms, Some(7_000)),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        odata::status_error("reading", &response(401, vec![], b"<html/>")),
        Error::Unauthorized(_)
    ));
    assert!(matches!(
        odata::status_error("reading", &response(503, vec![], b"")),
        Error::Transient(_)
    ));
}

fn order(items: serde_json::Value, rejection: &str, process: &str) -> serde_json::Value {
    json!({
        "SalesOrder": "0000001003",
        "SoldToParty": "0017100003",
        "CreationDate": "/Date(1777593600000)/",
        "LastChangeDateTime": "/Date(1777640400123+0000)/",
        "TransactionCurrency": "EUR",
        "TotalNetAmount": "400.00",
        "OverallSDProcessStatus": process,
        "OverallSDDocumentRejectionSts": rejection,
        "to_Item": { "results": items },
    })
}

#[test]
fn rejected_items_are_left_out_of_the_value_and_the_lines() {
    let items = json!([
        {"SalesOrderItem": "10", "Material": "TG11", "SalesOrderItemText": "Trailer hitch", "MaterialGroup": "L004",
         "RequestedQuantity": "3", "NetAmount": "100.00", "TransactionCurrency": "EUR", "SalesDocumentRjcnReason": ""},
        {"SalesOrderItem": "20", "Material": "TG12", "RequestedQuantity": "1", "NetAmount": "300.00",
         "TransactionCurrency": "EUR", "SalesDocumentRjcnReason": "02"},
    ]);
    let purchase = sales_order::purchase(order(items, "B", "A"), PaidWhen::Created).unwrap();
    assert_eq!(purchase.id, "1003");
    assert_eq!(purchase.account_id.as_deref(), Some("17100003"));
    assert_eq!(purchase.version, 1_777_640_400_123);
    assert_eq!(purchase.placed_at, 1_777_593_600_000);
    assert_eq!(purchase.status, PurchaseStatus::Paid);
    assert_eq!(purchase.net_amount.amount, "100.00");
    assert_eq!(purchase.net_amount.currency, "EUR");
    assert_eq!(purchase.lines.len(), 1);
    let line = &purchase.lines[0];
    assert_eq!(
        (line.id.as_str(), line.sku.as_deref(), line.title.as_str()),
        ("10", Some("TG11"), "Trailer hitch")
    );
    assert_eq!(line.category.as_deref(), Some("L004"));
    assert_eq!(line.quantity, 3);
    assert_eq!(line.unit_price.amount, "33.333333333333333333333333333");
    assert!(
        purchase
            .attributes
            .iter()
            .any(|a| a.name == "rejected_items" && a.value == "20")
    );
}

#[test]
fn status_follows_rejection_and_the_paid_when_setting() {
    use PurchaseStatus::{Cancelled, Paid, Pending};
    let cases = [
        (Some("C"), Some("C"), PaidWhen::Created, Cancelled),
        (Some("C"), Some("A"), PaidWhen::Completed, Cancelled),
        (Some("A"), Some("A"), PaidWhen::Created, Paid),
        (Some("B"), Some("B"), PaidWhen::Created, Paid),
        (Some("A"), Some("A"), PaidWhen::Completed, Pending),
        (Some("A"), Some("B"), PaidWhen::Completed, Pending),
        (Some("A"), Some("C"), PaidWhen::Completed, Paid),
        (None, None, PaidWhen::Created, Paid),
    ];
    for (rejection, process, paid_when, want) in cases {
        assert_eq!(
            sales_order::status(rejection, process, paid_when),
            want,
            "{rejection:?} {process:?} {paid_when:?}"
        );
    }
}

#[test]
fn fractional_quantities_round_up_and_keep_the_exact_net_amount() {
    let items = json!([{"SalesOrderItem": "10", "Material": "BULK1", "RequestedQuantity": "2.500",
                        "NetAmount": "125.00", "SalesDocumentRjcnReason": ""}]);
    let purchase = sales_order::purchase(order(items, "A", "A"), PaidWhen::Created).unwrap();
    let line = &purchase.lines[0];
    assert_eq!(line.quantity, 3);
    assert_eq!(line.net_amount.amount, "125.00");
    assert_eq!(line.unit_price.amount, "41.666666666666666666666666667");
    assert_eq!(
        line.title, "BULK1",
        "the material names a line without text"
    );
}

#[test]
fn bad_records_are_invalid_input_naming_the_order_and_field() {
    let items = json!([{"SalesOrderItem": "20", "RequestedQuantity": "1", "NetAmount": "12,50"}]);
    match sales_order::purchase(order(items, "A", "A"), PaidWhen::Created) {
        Err(Error::InvalidInput(m)) => {
            assert!(
                m.contains("SalesOrder `1003`")
                    && m.contains("item `20`")
                    && m.contains("`NetAmount`"),
                "{m}"
            );
        }
        other => panic!("{other:?}"),
    }
    let mut record = order(json!([]), "A", "A");
    record["LastChangeDateTime"] = json!("2026-05-01T13:00:00Z");
    match sales_order::purchase(record, PaidWhen::Created) {
        Err(Error::InvalidInput(m)) => assert!(
            m.contains("SalesOrder `1003`") && m.contains("LastChangeDateTime"),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
    let items = json!([{"SalesOrderItem": "10", "RequestedQuantity": "1", "NetAmount": "1.00", "TransactionCurrency": "USD"}]);
    assert!(matches!(
        sales_order::purchase(order(items, "A", "A"), PaidWhen::Created),
        Err(Error::InvalidInput(_))
    ));
}

#[test]
fn organizations_map_to_accounts_with_the_vat_number_and_a_business_domain() {
    let record = json!({
        "BusinessPartner": "0017100001",
        "BusinessPartnerCategory": "2",
        "OrganizationBPName1": "Acme Industrie",
        "OrganizationBPName2": "GmbH",
        "Industry": "MACH",
        "CreationDate": "/Date(1776988800000)/",
        "CreationTime": "PT08H00M00S",
        "LastChangeDate": "/Date(1777593600000)/",
        "LastChangeTime": "PT13H00M05S",
        "to_BusinessPartnerAddress": {"results": [{
            "Country": "de",
            "to_EmailAddress": {"results": [{"EmailAddress": "info@gmail.com"}, {"EmailAddress": "sales@acme.de"}]},
            "to_URLAddress": {"results": []}
        }]},
        "to_BusinessPartnerTax": {"results": [
            {"BPTaxType": "DE1", "BPTaxNumber": "21/815/08150"},
            {"BPTaxType": "DE0", "BPTaxNumber": "DE123456789"}
        ]}
    });
    let account = partner::account(record).unwrap().unwrap();
    assert_eq!(account.id, "17100001");
    assert_eq!(account.name, "Acme Industrie GmbH");
    assert_eq!(account.version, 1_777_593_600_000 + 13 * 3_600_000 + 5_000);
    assert_eq!(account.tax_id.as_deref(), Some("DE123456789"));
    assert_eq!(
        account.domain.as_deref(),
        Some("acme.de"),
        "free mail is skipped"
    );
    assert_eq!(account.country.as_deref(), Some("DE"));
    assert_eq!(account.industry.as_deref(), Some("MACH"));

    let never_changed = json!({
        "BusinessPartner": "17100002", "BusinessPartnerCategory": "2", "OrganizationBPName1": "Bolt",
        "CreationDate": "/Date(1776988800000)/", "CreationTime": "PT08H00M00S",
        "LastChangeDate": null, "LastChangeTime": "PT00H00M00S"
    });
    let account = partner::account(never_changed).unwrap().unwrap();
    assert_eq!(account.version, 1_776_988_800_000 + 8 * 3_600_000);
    assert_eq!(account.tax_id, None);

    let person = json!({"BusinessPartner": "17100009", "BusinessPartnerCategory": "1", "CreationDate": "/Date(0)/"});
    assert!(partner::account(person).unwrap().is_none());
}
