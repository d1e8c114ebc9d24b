//! One customer in four systems becomes one account: Brandt Maschinenbau
//! GmbH arrives from Salesforce, HubSpot, SAP S/4HANA and Shopify, each
//! polled through its real connector from its emulator, and the SAP number
//! the other three keep (zero-padded or not) joins them under the identity
//! rules' `external_ref` key. Its balance holds the four purchases' points.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

use loyalty_e2e::daemon::{Daemon, ProgramRules, Setup, random_token};
use loyalty_e2e::landscape::{
    HUBSPOT_COMPANY, Landscape, NAME, POINTS, SALESFORCE_ACCOUNT, SAP_NUMBER, SHOPIFY_COMPANY,
};

const CONNECTORS: [&str; 4] = ["salesforce", "hubspot", "sap", "shopify"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_company_from_four_systems_is_one_account_with_every_purchase() {
    let landscape = Landscape::start().await.unwrap();
    let setup = Setup {
        admin_token: random_token().unwrap(),
        program: ProgramRules::default(),
        shopify: None,
        extra_toml: landscape.connectors_toml(&CONNECTORS),
        secrets: landscape.secrets(),
    };
    let daemon = Daemon::start(&setup).await.unwrap();
    for connector in CONNECTORS {
        let status = daemon.admin().sync(connector).await.unwrap();
        assert_eq!(
            status.last_error,
            None,
            "{connector}: {status:?}\n{}",
            daemon.log_tail(80)
        );
    }
    let state = daemon.admin().snapshot().await.unwrap();
    let names: Vec<&str> = state.accounts.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, [NAME], "one account, whatever the order of arrival");
    let account = &state.accounts[0];
    for (source, id) in [
        ("sap", SAP_NUMBER.to_owned()),
        ("salesforce", SALESFORCE_ACCOUNT.to_owned()),
        ("hubspot", HUBSPOT_COMPANY.to_string()),
        ("shopify", SHOPIFY_COMPANY.to_string()),
    ] {
        assert!(
            account.is_known_as(source, &id),
            "not known as {source}/{id}: {:?}",
            account.external_refs
        );
    }
    assert_eq!(account.balance, POINTS, "{:#?}", state.ledgers);
    let sources: std::collections::BTreeSet<&str> = state.ledgers[&account.id]
        .entries
        .iter()
        .filter(|e| e.kind == "earn")
        .map(|e| e.source.as_str())
        .collect();
    assert_eq!(sources, CONNECTORS.into_iter().collect());
    assert!(state.dead_letters.is_empty(), "{:?}", state.dead_letters);
}
