//! One B2B customer in four systems, emulated: Brandt Maschinenbau GmbH is
//! an account in Salesforce, a company in HubSpot, business partner 10042 in
//! SAP S/4HANA and a B2B company in Shopify. The CRMs and the shop keep its
//! SAP number (zero-padded in some places, not in others), which is how the
//! engine knows the four records are one customer. Each system holds one
//! purchase. Used by the demo and by the cross-system test.

use serde_json::{Value, json};

use crate::hubspot::{HubSpotEmulator, ObjectType, Record};
use crate::official_plugin;
use crate::salesforce::SalesforceEmulator;
use crate::sap::{BusinessPartner, SalesOrder, SalesOrderItem, SapEmulator};
use crate::shopify::ShopifyEmulator;
use crate::shopify::samples::{self, API_VERSION, SHOP_DOMAIN};

/// The customer's name in every system.
pub const NAME: &str = "Brandt Maschinenbau GmbH";
/// Its SAP business partner number, as the engine normalizes it.
pub const SAP_NUMBER: &str = "10042";
/// Its Salesforce account id.
pub const SALESFORCE_ACCOUNT: &str = "001Dn0000000042AAA";
/// Its HubSpot company id.
pub const HUBSPOT_COMPANY: u64 = 5_100_042;
/// Its Shopify B2B company id.
pub const SHOPIFY_COMPANY: u64 = samples::COMPANY_ID;
/// The HubSpot portal.
pub const HUBSPOT_PORTAL: &str = "143553137";

/// Points the four purchases earn at 2 points per EUR, rounded down:
/// Salesforce 1000.00, HubSpot 500.00, SAP 250.00 and Shopify 1044.05 EUR.
pub const POINTS: i64 = 2000 + 1000 + 500 + 2088;

/// `2026-05-01T07:00:00Z` plus `minute` minutes, in ms.
fn at_ms(minute: i64) -> i64 {
    1_777_618_800_000 + minute * 60_000
}

/// Salesforce's wire form of the same moment.
fn salesforce_time(minute: u32) -> String {
    format!("2026-05-01T07:{minute:02}:00.000+0000")
}

/// The four emulators with the customer in them, and the credentials they
/// accept.
#[derive(Debug)]
pub struct Landscape {
    /// Salesforce (OAuth 2.0 client credentials).
    pub salesforce: SalesforceEmulator,
    /// HubSpot (a private app token).
    pub hubspot: HubSpotEmulator,
    /// SAP S/4HANA (basic auth and CSRF tokens).
    pub sap: SapEmulator,
    /// Shopify (an Admin API access token).
    pub shopify: ShopifyEmulator,
    salesforce_secret: String,
    hubspot_token: String,
    sap_password: String,
    shopify_token: String,
    shopify_webhook_secret: String,
}

const SALESFORCE_CLIENT_ID: &str = "3MVG9LoyaltyDemoConnectedApp";
const SAP_USER: &str = "LOYALTY_COMM";

impl Landscape {
    /// Starts the emulators on loopback with fresh random credentials.
    pub async fn start() -> anyhow::Result<Self> {
        let salesforce_secret = crate::daemon::random_token()?;
        let hubspot_token = format!("pat-eu1-{}", &crate::daemon::random_token()?[..32]);
        let sap_password = crate::daemon::random_token()?;
        let shopify_token = format!("shpat_{}", &crate::daemon::random_token()?[..32]);
        let landscape = Self {
            salesforce: SalesforceEmulator::start(SALESFORCE_CLIENT_ID, &salesforce_secret).await?,
            hubspot: HubSpotEmulator::start(&hubspot_token).await?,
            sap: SapEmulator::start(SAP_USER, &sap_password, 100).await?,
            shopify: ShopifyEmulator::start(&shopify_token).await?,
            salesforce_secret,
            hubspot_token,
            sap_password,
            shopify_token,
            shopify_webhook_secret: crate::daemon::random_token()?,
        };
        landscape.populate();
        Ok(landscape)
    }

    fn populate(&self) {
        let org = &self.salesforce;
        org.add_field("Account", "SAP_Number__c");
        org.put(
            "Account",
            json!({"Id": SALESFORCE_ACCOUNT, "IsDeleted": false, "SystemModstamp": salesforce_time(1),
                   "Name": NAME, "Industry": "Machinery", "NumberOfEmployees": 250,
                   "AnnualRevenue": number("2.5E7"), "ParentId": null, "BillingCountry": "Germany",
                   "Website": "https://www.brandt-maschinenbau.de/", "OwnerId": "005Dn0000000001AAA",
                   "SAP_Number__c": "0000010042"}),
        );
        org.put(
            "Contact",
            json!({"Id": "003Dn0000000042AAA", "IsDeleted": false, "SystemModstamp": salesforce_time(2),
                   "AccountId": SALESFORCE_ACCOUNT, "Email": "jana.brandt@brandt-maschinenbau.de",
                   "FirstName": "Jana", "LastName": "Brandt", "Title": "Head of Purchasing"}),
        );
        org.put(
            "Opportunity",
            json!({"Id": "006Dn0000000042AAA", "IsDeleted": false, "SystemModstamp": salesforce_time(3),
                   "AccountId": SALESFORCE_ACCOUNT, "ContactId": null, "Name": "Service contract 2026",
                   "StageName": "Closed Won", "IsClosed": true, "IsWon": true,
                   "Amount": number("1000.00"), "CloseDate": "2026-04-30"}),
        );

        let portal = &self.hubspot;
        portal.put(
            ObjectType::Companies,
            Record::new(HUBSPOT_COMPANY, at_ms(1))
                .with("name", NAME)
                .with("domain", "brandt-maschinenbau.de")
                .with("industry", "MACHINERY")
                .with("numberofemployees", "250")
                .with("sap_bp_number", SAP_NUMBER),
        );
        portal.put(
            ObjectType::Deals,
            Record::new(7_100_042, at_ms(2))
                .with("dealname", "Spare parts Q2")
                .with("amount", "500.00")
                .with("deal_currency_code", "EUR")
                .with("closedate", "2026-04-29T00:00:00Z")
                .with("dealstage", "closedwon")
                .with("hs_is_closed_won", "true")
                .with("hs_is_closed_lost", "false"),
        );
        portal.associate(
            (ObjectType::Deals, 7_100_042),
            (ObjectType::Companies, HUBSPOT_COMPANY),
            true,
        );

        let mut partner = BusinessPartner::organization(SAP_NUMBER, NAME, at_ms(0));
        partner.tax_numbers = vec![("DE0".to_owned(), "DE811907980".to_owned())];
        partner.industry = "MACH".to_owned();
        self.sap.put_partner(partner);
        self.sap.put_order(SalesOrder::new(
            "5001",
            SAP_NUMBER,
            at_ms(4),
            vec![SalesOrderItem::new("10", "VALVE-200", "5", "250.00")],
        ));

        self.shopify.put_company(samples::company());
        self.shopify.put_order(&samples::paid(
            samples::b2b_order(),
            "2026-03-05T16:40:12+01:00",
        ));
    }

    /// The secret files the connectors' configuration reads.
    pub fn secrets(&self) -> Vec<(String, String)> {
        [
            ("salesforce_client_secret", &self.salesforce_secret),
            ("hubspot_token", &self.hubspot_token),
            ("hubspot_webhook", &self.hubspot_token),
            ("sap_password", &self.sap_password),
            ("shopify_token", &self.shopify_token),
            ("shopify_webhook", &self.shopify_webhook_secret),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.clone()))
        .collect()
    }

    /// `[connectors.*]` for the connectors named (`salesforce`, `hubspot`,
    /// `sap`, `shopify`), each polled hourly and synced at start.
    pub fn connectors_toml(&self, names: &[&str]) -> String {
        let s = |text: &str| Value::from(text).to_string();
        let plugin = |name: &str| s(&official_plugin(name).to_string_lossy());
        let mut toml = String::new();
        for name in names {
            let section = match *name {
                "salesforce" => {
                    let base = s(&self.salesforce.base_url());
                    format!(
                        r#"
[connectors.salesforce]
plugin = {plugin}
allowed_hosts = [{base}]
settings = {{ instance_url = {base}, currency = "EUR", sap_number_field = "SAP_Number__c" }}
poll = {{ interval_seconds = 3600, page_size = 50 }}

[connectors.salesforce.credentials.api]
inject = "oauth2"
token_url = {token_url}
client_id = {client_id}
file = "secrets/salesforce_client_secret"
hosts = [{base}]
"#,
                        plugin = plugin("salesforce"),
                        token_url = s(&self.salesforce.token_url()),
                        client_id = s(SALESFORCE_CLIENT_ID),
                    )
                }
                "hubspot" => {
                    let base = s(&self.hubspot.base_url());
                    format!(
                        r#"
[connectors.hubspot]
plugin = {plugin}
allowed_hosts = [{base}]
settings = {{ portal_id = "{HUBSPOT_PORTAL}", api_base_url = {base}, currency = "EUR", sap_number_property = "sap_bp_number" }}
poll = {{ interval_seconds = 3600, page_size = 50 }}

[connectors.hubspot.secrets.webhook]
file = "secrets/hubspot_webhook"

[connectors.hubspot.credentials.api]
file = "secrets/hubspot_token"
hosts = [{base}]
"#,
                        plugin = plugin("hubspot"),
                    )
                }
                "sap" => {
                    let base = s(&self.sap.base_url());
                    format!(
                        r#"
[connectors.sap]
plugin = {plugin}
allowed_hosts = [{base}]
settings = {{ base_url = {base}, sap_client = "100", sales_organization = "1010", distribution_channel = "10" }}
poll = {{ interval_seconds = 3600, page_size = 50 }}

[connectors.sap.credentials.api]
inject = "basic"
username = "{SAP_USER}"
file = "secrets/sap_password"
csrf = true
hosts = [{base}]
"#,
                        plugin = plugin("sap"),
                    )
                }
                "shopify" => {
                    let base = s(&self.shopify.base_url());
                    format!(
                        r#"
[connectors.shopify]
plugin = {plugin}
allowed_hosts = [{base}]
settings = {{ shop_domain = "{SHOP_DOMAIN}", api_version = "{API_VERSION}", admin_base_url = {base}, external_id_system = "sap" }}
poll = {{ interval_seconds = 3600, page_size = 50 }}

[connectors.shopify.secrets.webhook]
file = "secrets/shopify_webhook"

[connectors.shopify.credentials.admin]
file = "secrets/shopify_token"
inject = "header"
header = "X-Shopify-Access-Token"
hosts = [{base}]
"#,
                        plugin = plugin("shopify"),
                    )
                }
                other => panic!("no connector `{other}` in the landscape"),
            };
            toml.push_str(&section);
        }
        toml
    }
}

/// A JSON number with its exact text.
fn number(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}
