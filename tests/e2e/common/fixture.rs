//! Shared by the tests that drive a store directly: feed it events the way
//! the inbox worker does, one stored delivery at a time.

#![allow(dead_code, reason = "each test crate uses the part it needs")]

use std::collections::BTreeMap;
use std::sync::Arc;

use loyaltyd::core::event::{AccountUpsert, Event};
use loyaltyd::core::program::{Program, Rounding};
use loyaltyd::store::{Appended, Completion, CompletionResult, NewDelivery, Store};
use rust_decimal::Decimal;

/// EUR program rules rounding down, with the given points per euro.
pub fn program(points_per_unit: Decimal, version: &str) -> Arc<Program> {
    let mut program = Program::basic("EUR", points_per_unit, Rounding::Floor);
    program.version = version.to_owned();
    Arc::new(program)
}

/// An account event with only a name.
pub fn account(id: &str, version: u64, name: &str) -> Event {
    Event::Account(AccountUpsert {
        source_id: id.to_owned(),
        version,
        name: name.to_owned(),
        domain: None,
        tax_id: None,
        industry: None,
        employees: None,
        annual_revenue: None,
        country: None,
        external_refs: Vec::new(),
    })
}

/// Stores an empty delivery of connector `shop` and returns its inbox id.
pub async fn store_delivery(store: &dyn Store, delivery_id: &str) -> i64 {
    store_delivery_of(store, "shop", delivery_id).await
}

/// Stores an empty delivery of `connector` and returns its inbox id.
pub async fn store_delivery_of(store: &dyn Store, connector: &str, delivery_id: &str) -> i64 {
    let delivery = NewDelivery {
        connector: connector.to_owned(),
        delivery_id: delivery_id.to_owned(),
        topic: "orders/paid".to_owned(),
        method: "POST".to_owned(),
        url: "https://loyalty.example/webhooks/shop".to_owned(),
        headers: Vec::new(),
        body: Vec::new(),
        received_at: 0,
    };
    match store.append_delivery(delivery).await.unwrap() {
        Appended::Stored(inbox_id) => inbox_id,
        other => panic!("delivery {delivery_id}: {other:?}"),
    }
}

/// The completion of an inbox item with `events` and no state writes.
pub fn completion(inbox_id: i64, events: Vec<Event>, program: &Arc<Program>) -> Completion {
    Completion {
        inbox_id,
        topic: "orders/paid".to_owned(),
        events,
        state: BTreeMap::new(),
        program: program.clone(),
        plugin_sha256: "sha".to_owned(),
    }
}

/// Stores a delivery and applies `events` as its result.
pub async fn apply(
    store: &dyn Store,
    delivery_id: &str,
    events: Vec<Event>,
    program: &Arc<Program>,
) -> CompletionResult {
    apply_from(store, "shop", delivery_id, events, program).await
}

/// Stores a delivery of `connector` and applies `events` as its result.
pub async fn apply_from(
    store: &dyn Store,
    connector: &str,
    delivery_id: &str,
    events: Vec<Event>,
    program: &Arc<Program>,
) -> CompletionResult {
    let inbox_id = store_delivery_of(store, connector, delivery_id).await;
    store
        .complete(vec![completion(inbox_id, events, program)])
        .await
        .unwrap()
        .remove(0)
}
