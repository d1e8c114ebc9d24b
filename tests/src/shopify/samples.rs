//! The sample shop the end-to-end tests and the demo share: Acme Supplies
//! (a tools wholesaler on Shopify B2B) and its buyer Brandt Maschinenbau,
//! with ids above 2^53 as real Shopify ids are.
//!
//! The sample order, by hand:
//!
//! | line | units x price | manual discount | code B2B5 (5 %) | net |
//! |---|---|---|---|---|
//! | cordless drill | 4 x 250.00 = 1000.00 | -100.00 | -45.00 (5 % of 900.00) | 855.00 |
//! | cut-resistant gloves | 10 x 19.90 = 199.00 | | -9.95 (5 % of 199.00) | 189.05 |
//! | subtotal (EUR, shop money) | | | | 1044.05 |
//!
//! Tax (19 % per line: 162.45 + 35.92 = 198.37) and pallet freight (35.00)
//! come on top: `total_price` is 1277.42 EUR, and every presentment (USD)
//! amount is 1.085 times its EUR amount.

use super::emulator::Company;
use super::rest::{Address, Cents, CompanyRef, Customer, DiscountCode, LineItem, Order};

/// The shop.
pub const SHOP_DOMAIN: &str = "acme-supplies.myshopify.com";
/// The Admin API version the shop's webhooks use.
pub const API_VERSION: &str = "2024-04";

/// The sample order: 2^53 + 1, not representable as an f64.
pub const ORDER_ID: u64 = 9_007_199_254_740_993;
/// The buying company.
pub const COMPANY_ID: u64 = 9_007_199_254_740_995;
/// The company's location (its Hamburg plant).
pub const COMPANY_LOCATION_ID: u64 = 9_007_199_254_740_996;
/// The buyer.
pub const CUSTOMER_ID: u64 = 9_007_199_254_740_997;
/// The drills line.
pub const DRILL_LINE_ID: u64 = 9_007_199_254_741_011;
/// The gloves line.
pub const GLOVES_LINE_ID: u64 = 9_007_199_254_741_013;

/// The buying company as the GraphQL Admin API shows it. Its `externalId`
/// is its SAP business partner number, zero-padded as SAP shows it.
pub fn company() -> Company {
    Company {
        id: COMPANY_ID,
        name: "Brandt Maschinenbau GmbH".to_owned(),
        external_id: Some("0000010042".to_owned()),
        note: None,
        created_at: "2025-11-18T10:02:44Z".to_owned(),
        updated_at: "2026-02-27T15:30:00Z".to_owned(),
    }
}

/// The buyer, a purchaser at the company.
pub fn buyer() -> Customer {
    Customer {
        id: CUSTOMER_ID,
        email: "jana.brandt@brandt-maschinenbau.example".to_owned(),
        first_name: "Jana".to_owned(),
        last_name: "Brandt".to_owned(),
        phone: Some("+494012345678".to_owned()),
        address: Address {
            address1: "Werftstraße 12".to_owned(),
            city: "Hamburg".to_owned(),
            zip: "20457".to_owned(),
            country: "Germany".to_owned(),
            country_code: "DE".to_owned(),
            company: Some("Brandt Maschinenbau GmbH".to_owned()),
        },
        created_at: "2025-11-18T11:05:10+01:00".to_owned(),
        updated_at: "2025-11-18T11:05:10+01:00".to_owned(),
    }
}

/// The B2B order, as created on payment terms (Net 30): pending.
pub fn b2b_order() -> Order {
    Order {
        id: ORDER_ID,
        number: 1017,
        company: Some(CompanyRef {
            id: COMPANY_ID,
            location_id: COMPANY_LOCATION_ID,
        }),
        customer: buyer(),
        lines: vec![
            LineItem {
                id: DRILL_LINE_ID,
                product_id: 8_412_345_670_001,
                variant_id: 45_123_456_780_001,
                title: "Cordless drill 18V".to_owned(),
                variant_title: "Kit with 2 batteries".to_owned(),
                sku: "DRL-18V-K2".to_owned(),
                vendor: "Acme Tools".to_owned(),
                quantity: 4,
                unit_price: Cents(25_000),
                line_discount: Cents(10_000),
                grams: 2100,
            },
            LineItem {
                id: GLOVES_LINE_ID,
                product_id: 8_412_345_670_002,
                variant_id: 45_123_456_780_002,
                title: "Cut-resistant gloves".to_owned(),
                variant_title: "Size 9".to_owned(),
                sku: "GLV-CR5-09".to_owned(),
                vendor: "Acme Safety".to_owned(),
                quantity: 10,
                unit_price: Cents(1990),
                line_discount: Cents(0),
                grams: 120,
            },
        ],
        discount_code: Some(DiscountCode {
            code: "B2B5".to_owned(),
            percent: 5,
        }),
        shipping: Cents(3500),
        tax_percent: 19,
        financial_status: "pending".to_owned(),
        created_at: "2026-03-02T09:14:05+01:00".to_owned(),
        updated_at: "2026-03-02T09:14:05+01:00".to_owned(),
        cancelled_at: None,
        refunds: Vec::new(),
        po_number: Some("PO-2026-0117".to_owned()),
    }
}

/// The same order once the company paid its invoice.
pub fn paid(mut order: Order, updated_at: &str) -> Order {
    order.financial_status = "paid".to_owned();
    order.updated_at = updated_at.to_owned();
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_order_adds_up_as_documented() {
        let body = b2b_order().body();
        assert_eq!(body["subtotal_price"], "1044.05");
        assert_eq!(
            body["subtotal_price_set"]["presentment_money"]["amount"],
            "1132.79"
        );
        assert_eq!(body["total_tax"], "198.37");
        assert_eq!(body["total_price"], "1277.42");
        assert_eq!(body["discount_codes"][0]["amount"], "54.95");
        let text = serde_json::to_string(&body).unwrap();
        assert!(text.contains(r#""id":9007199254740993,"#));
        assert!(
            text.contains(r#""company":{"id":9007199254740995,"location_id":9007199254740996}"#)
        );
    }

    #[test]
    fn refunding_every_unit_refunds_the_subtotal_exactly() {
        let mut order = b2b_order();
        let gloves = order.refund(1, "2026-03-09T10:00:00+01:00", &[(GLOVES_LINE_ID, 4)]);
        assert_eq!(gloves.subtotal(), Cents(7562));
        order.refunds.push(gloves);
        let drill = order.refund(10, "2026-03-10T10:00:00+01:00", &[(DRILL_LINE_ID, 1)]);
        assert_eq!(drill.subtotal(), Cents(21_375));
        order.refunds.push(drill);
        let rest = order.refund_everything_left(20, "2026-03-11T10:00:00+01:00");
        assert_eq!(rest.subtotal(), Cents(75_468));
        assert_eq!(Cents(7562 + 21_375 + 75_468), order.subtotal());
    }
}
