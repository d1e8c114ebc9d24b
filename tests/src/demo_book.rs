//! The demo's book: the program an industrial-supplies vendor runs
//! ("Rheinwerk Partner Rewards") and a believable quarter of its business
//! customers, sent through the admin API as the vendor's ERP would send
//! them: twenty companies in Germany, Austria, Switzerland and the
//! Netherlands with their buyers and engineers, about eighty days of paid
//! orders (a few partly returned), NPS answers, a workshop, a webinar and a
//! survey, two referrals, and rewards redeemed and fulfilled.
//!
//! The book is fixed (no randomness: a seeded generator spreads the
//! orders), and dated relative to the moment it is seeded. It goes back
//! about eighty days because memberships start when the daemon first
//! learns of an account: older orders would only count as the time before
//! joining. The program is here too because the book redeems its rewards
//! and reaches its tiers.

use std::collections::BTreeMap;

use anyhow::{Context as _, bail};
use reqwest::Method;
use serde_json::{Value, json};

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const DAY_MS: i64 = 24 * HOUR_MS;
/// Orders go back at most this many days.
const HISTORY_DAYS: i64 = 80;

/// The admin API over loopback HTTP with a bearer token; every answer is
/// JSON and anything but a 2xx is an error naming the request.
#[derive(Debug, Clone)]
pub struct AdminHttp {
    http: reqwest::Client,
    base_url: String,
    token: String,
}

impl AdminHttp {
    /// A client of the daemon at `base_url` (`http://127.0.0.1:PORT`).
    pub fn new(base_url: &str, token: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            base_url: base_url.to_owned(),
            token: token.to_owned(),
        }
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call(Method::GET, path, None, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.call(Method::POST, path, Some(body), None).await
    }

    /// `POST path` with a JSON body and an `Idempotency-Key`.
    pub async fn post_once(&self, path: &str, key: &str, body: &Value) -> anyhow::Result<Value> {
        self.call(Method::POST, path, Some(body), Some(key)).await
    }

    /// `PUT path` with a JSON body.
    pub async fn put(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.call(Method::PUT, path, Some(body), None).await
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        key: Option<&str>,
    ) -> anyhow::Result<Value> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base_url))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            bail!("{method} {path} answered {status}: {text}");
        }
        serde_json::from_str(&text).with_context(|| format!("{method} {path} answered {text}"))
    }
}

/// A calendar quarter, UTC: the period the dashboard shows by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quarter {
    /// The year.
    pub year: i64,
    /// 1 to 4.
    pub number: i64,
}

impl Quarter {
    /// The quarter holding `at_ms` (ms since the epoch).
    pub fn containing(at_ms: i64) -> Self {
        let (year, month) = year_month(at_ms.div_euclid(DAY_MS));
        Self {
            year,
            number: (month - 1) / 3 + 1,
        }
    }

    /// `2026Q4`, as the admin API names periods.
    pub fn label(&self) -> String {
        format!("{}Q{}", self.year, self.number)
    }

    /// Its first day, `2026-10-01`.
    pub fn first_day(&self) -> String {
        format!("{}-{:02}-01", self.year, self.number * 3 - 2)
    }

    /// Its last day, `2026-12-31`.
    pub fn last_day(&self) -> String {
        // A quarter ends in March, June, September or December.
        let day = if matches!(self.number, 2 | 3) { 30 } else { 31 };
        format!("{}-{:02}-{day}", self.year, self.number * 3)
    }
}

/// The year and month (1 to 12) of a day counted from 1970-01-01, by the
/// proleptic Gregorian calendar (Howard Hinnant's `civil_from_days`).
fn year_month(days: i64) -> (i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month)
}

/// The program the book runs under, as TOML to append after the harness's
/// `[program]` (which sets two points per euro, rounded down): tiers,
/// rewards, engagement bonuses, a milestone, referrals, terms, scoring,
/// analytics costs, two segments, and two goals running through `quarter`.
pub fn program_toml(quarter: &Quarter) -> String {
    format!(
        "{PROGRAM_RULES}{}",
        GOALS
            .replace("{start}", &quarter.first_day())
            .replace("{deadline}", &quarter.last_day())
    )
}

/// The rules that do not depend on the calendar.
const PROGRAM_RULES: &str = r#"
[[program.milestones]]
id = "spend-50k"
spend = "50000"
window_days = 365
points = 5000

[[program.engagement]]
kind = "nps_response"
points = 10
limit = { count = 1, period = "quarter" }

[[program.engagement]]
kind = "survey_answered"
points = 100
limit = { count = 2, period = "quarter" }

[[program.engagement]]
kind = "event_attended"
points = 500
limit = { count = 6, period = "year" }

[[program.engagement]]
kind = "referral"
points = 2500
limit = { count = 4, period = "year" }

[program.tiers]
window_days = 365
grace_days = 90

[[program.tiers.levels]]
id = "silver"
name = "Silver"
min_spend = "0"
perks = ["Order tracking in the partner portal"]

[[program.tiers.levels]]
id = "gold"
name = "Gold"
min_spend = "20000"
discount_percent = "3"
earn_multiplier = "1.25"
perks = ["Free standard shipping", "Dedicated account manager"]

[[program.tiers.levels]]
id = "platinum"
name = "Platinum"
min_spend = "60000"
discount_percent = "5"
earn_multiplier = "1.5"
perks = ["Free express shipping", "Priority access to allocated stock", "Quarterly business review"]

[[program.rewards]]
id = "express-shipping"
name = "Free express shipping on one order"
kind = "service"
points = 2000
description = "Your next order leaves our warehouse the same day, by express courier."

[[program.rewards]]
id = "gift-card-100"
name = "EUR 100 gift card"
kind = "gift_card"
points = 10000
value = { amount = "100.00", currency = "EUR" }
stock = 500
description = "A digital gift card from our partner network, sent to your purchasing contact."

[[program.rewards]]
id = "hannover-messe-vip"
name = "VIP day at Hannover Messe"
kind = "vip_event"
points = 30000
stock = 20
tiers = ["gold", "platinum"]
description = "Two VIP passes, a guided tour of our booth and dinner with our product team."

[[program.rewards]]
id = "torque-wrench-pro"
name = "Rheinwerk Pro torque wrench (limited edition)"
kind = "exclusive_product"
points = 40000
stock = 50
tiers = ["gold", "platinum"]
description = "The limited edition of our calibrated torque wrench, engraved with your company name."

[[program.rewards]]
id = "maintenance-training"
name = "On-site maintenance training day"
kind = "service"
points = 60000
value = { amount = "1200.00", currency = "EUR" }
tiers = ["platinum"]
description = "An application engineer trains up to eight of your technicians on valve maintenance, at your site."

[program.expiry]
after_days = 730

[[program.terms]]
version = "2026-01"
effective_from = 2026-01-01T00:00:00Z
text = """
# Rheinwerk Partner Rewards: terms of participation

1. Companies that buy from Rheinwerk Industriebedarf GmbH on business terms may take part.
2. Paid orders earn two points per euro of net order value; returns take their points back.
3. Points expire two years after they were earned, oldest first.
4. Rewards are subject to availability; some are reserved for Gold and Platinum partners.
5. We may change these terms with one month's notice; points already earned are kept.
"""

[program.referrals]
code_prefix = "RW"
landing_url = "https://www.rheinwerk-supplies.example/partner-werben"
payouts = "monthly"

[[program.referrals.commissions]]
id = "welcome"
kind = "flat"
amount = "150.00"

[program.scoring]
margin_percent = "33"

[program.scoring.loyalty]
nps_classes = ["promoter"]
clv_top_percent = "25"

[program.analytics]
point_cost = "0.01"
baseline_days = 365

[[program.analytics.fixed_costs]]
name = "Platform and support"
monthly = "400"

[[program.analytics.fixed_costs]]
name = "Program manager, a fifth"
monthly = "1800"

[[segments]]
id = "gold-dach-buyers"
name = "Gold and platinum buyers, DACH"
filter = 'tier in ["gold", "platinum"] and country in ["DE", "AT", "CH"]'
contacts = 'role = "procurement"'

[[segments]]
id = "unhappy"
name = "Accounts whose contacts would not recommend us"
filter = 'nps_class = "detractor"'
"#;

/// The goals, from `{start}` to `{deadline}` (TOML dates).
const GOALS: &str = r#"
[[goals]]
id = "members-25"
name = "Twenty-five partner companies in the program"
metric = "members"
baseline = "0"
target = "25"
start = {start}
deadline = {deadline}
owner = "Head of partner sales"

[[goals]]
id = "referrals-6"
name = "Six companies referred by partners this quarter"
metric = "referrals"
baseline = "0"
target = "6"
start = {start}
deadline = {deadline}
owner = "Channel marketing"
"#;

/// Text in the book's tables.
type Text = &'static str;

/// A company: ERP id, name, country, industry, employees, domain, paid
/// orders over the last eighty days, a typical order's net EUR.
type Company = (Text, Text, Text, Text, u32, Text, i64, i64);

#[rustfmt::skip]
const COMPANIES: [Company; 20] = [
    ("C-1001", "Kessler Hydraulik KG", "DE", "Hydraulics", 80, "kessler-hydraulik.example", 9, 3_600),
    ("C-1002", "Alpenland Logistik AG", "AT", "Logistics", 120, "alpenland-logistik.example", 6, 1_500),
    ("C-1003", "Rhein Chemie Anlagenbau GmbH", "DE", "Chemicals", 500, "rhein-chemie.example", 14, 6_800),
    ("C-1004", "Voss Lebensmitteltechnik GmbH", "DE", "Food processing", 210, "voss-lebensmitteltechnik.example", 8, 2_900),
    ("C-1005", "Huber Metallbau GmbH", "AT", "Metalworking", 45, "huber-metallbau.example", 5, 1_300),
    ("C-1006", "Zürcher Präzisionsmechanik AG", "CH", "Precision engineering", 160, "zuercher-praezision.example", 9, 4_200),
    ("C-1007", "Van der Meer Installatietechniek B.V.", "NL", "Building services", 65, "vandermeer-installatie.example", 6, 1_700),
    ("C-1008", "Lindemann Energietechnik GmbH", "DE", "Energy", 340, "lindemann-energie.example", 10, 4_500),
    ("C-1009", "Steiner Papierfabrik GmbH", "AT", "Paper", 410, "steiner-papier.example", 8, 3_500),
    ("C-1010", "Bachmann Werkzeugbau AG", "CH", "Toolmaking", 75, "bachmann-werkzeugbau.example", 5, 1_900),
    ("C-1011", "De Vries Scheepsreparatie B.V.", "NL", "Shipbuilding", 140, "devries-scheepsreparatie.example", 6, 2_600),
    ("C-1012", "Nordhafen Umschlag GmbH", "DE", "Logistics", 260, "nordhafen-umschlag.example", 8, 3_000),
    ("C-1013", "Oberland Brauerei GmbH", "DE", "Food and beverage", 95, "oberland-brauerei.example", 4, 1_100),
    ("C-1014", "Keller Pharma Produktion AG", "CH", "Pharmaceuticals", 720, "keller-pharma.example", 12, 5_900),
    ("C-1015", "Jansen Agrotechniek B.V.", "NL", "Agriculture", 38, "jansen-agrotechniek.example", 3, 900),
    ("C-1016", "Wagner Kunststofftechnik GmbH", "DE", "Plastics", 180, "wagner-kunststoff.example", 7, 2_200),
    ("C-1017", "Gruber Seilbahnen GmbH", "AT", "Transport", 130, "gruber-seilbahnen.example", 4, 2_100),
    ("C-1018", "Schmitz Wasserwerke GmbH", "DE", "Utilities", 290, "schmitz-wasserwerke.example", 6, 2_500),
    ("C-1019", "Bakker Koeltechniek B.V.", "NL", "Refrigeration", 55, "bakker-koeltechniek.example", 4, 1_400),
    ("C-1020", "Brunner Textilwerke AG", "CH", "Textiles", 150, "brunner-textil.example", 0, 0),
];

/// A contact: ERP id, company, first name, last name, role. A company's
/// first contact places its orders.
type Person = (Text, Text, Text, Text, Text);

#[rustfmt::skip]
const PEOPLE: [Person; 28] = [
    ("P-1001-1", "C-1001", "Lena", "Kessler", "procurement"),
    ("P-1001-2", "C-1001", "Tobias", "Brandl", "maintenance"),
    ("P-1002-1", "C-1002", "Markus", "Eder", "procurement"),
    ("P-1003-1", "C-1003", "Claudia", "Hoffmann", "procurement"),
    ("P-1003-2", "C-1003", "Stefan", "Krause", "maintenance"),
    ("P-1004-1", "C-1004", "Julia", "Neumann", "procurement"),
    ("P-1004-2", "C-1004", "Frank", "Voss", "management"),
    ("P-1005-1", "C-1005", "Andreas", "Huber", "management"),
    ("P-1006-1", "C-1006", "Nicole", "Meier", "procurement"),
    ("P-1006-2", "C-1006", "Reto", "Baumann", "engineering"),
    ("P-1007-1", "C-1007", "Sanne", "de Jong", "procurement"),
    ("P-1008-1", "C-1008", "Thomas", "Wolf", "procurement"),
    ("P-1008-2", "C-1008", "Katrin", "Schubert", "engineering"),
    ("P-1009-1", "C-1009", "Martina", "Pichler", "procurement"),
    ("P-1010-1", "C-1010", "Daniel", "Frei", "procurement"),
    ("P-1011-1", "C-1011", "Pieter", "de Vries", "maintenance"),
    ("P-1012-1", "C-1012", "Sven", "Petersen", "procurement"),
    ("P-1012-2", "C-1012", "Anke", "Jensen", "operations"),
    ("P-1013-1", "C-1013", "Florian", "Maier", "maintenance"),
    ("P-1014-1", "C-1014", "Sabine", "Ammann", "procurement"),
    ("P-1014-2", "C-1014", "Lukas", "Widmer", "engineering"),
    ("P-1015-1", "C-1015", "Joost", "Jansen", "management"),
    ("P-1016-1", "C-1016", "Melanie", "Schulte", "procurement"),
    ("P-1017-1", "C-1017", "Johann", "Gruber", "maintenance"),
    ("P-1018-1", "C-1018", "Birgit", "Lange", "procurement"),
    ("P-1018-2", "C-1018", "Ralf", "Otto", "maintenance"),
    ("P-1019-1", "C-1019", "Emma", "Bakker", "procurement"),
    ("P-1020-1", "C-1020", "Simone", "Roth", "procurement"),
];

/// NPS answers: contact, score, days ago, comment.
#[rustfmt::skip]
const NPS: [(&str, u8, i64, &str); 16] = [
    ("P-1001-1", 10, 34, "Fast deliveries and real advice on seals."),
    ("P-1002-1", 8, 38, ""),
    ("P-1003-1", 9, 40, "The framework agreement saves us a lot of paperwork."),
    ("P-1003-2", 7, 40, "Lead times on DN80 valves are too long."),
    ("P-1004-1", 6, 27, "Two deliveries arrived incomplete."),
    ("P-1006-1", 9, 52, ""),
    ("P-1008-1", 10, 18, "Our account manager knows our plants."),
    ("P-1008-2", 8, 18, ""),
    ("P-1009-1", 9, 45, ""),
    ("P-1011-1", 3, 30, "Invoices and manuals in German only; we need English."),
    ("P-1012-1", 8, 22, ""),
    ("P-1014-1", 10, 12, "Certificates come with every batch, as they should."),
    ("P-1014-2", 9, 12, ""),
    ("P-1016-1", 7, 25, ""),
    ("P-1018-1", 9, 15, ""),
    ("P-1019-1", 10, 9, "Glad we were introduced."),
];

/// Other engagement: contact, kind, name, days ago.
#[rustfmt::skip]
const ENGAGEMENTS: [(&str, &str, &str, i64); 5] = [
    ("P-1001-2", "event_attended", "Valve maintenance workshop, Neuss", 21),
    ("P-1003-2", "event_attended", "Valve maintenance workshop, Neuss", 21),
    ("P-1013-1", "event_attended", "Valve maintenance workshop, Neuss", 21),
    ("P-1008-2", "event_attended", "Webinar: condition monitoring for pumps", 47),
    ("P-1006-2", "survey_answered", "Fasteners catalogue survey", 33),
];

/// Returns: company, which of its orders (oldest first), percent of the
/// order returned, days after the order.
const RETURNS: [(&str, usize, i64, i64); 3] = [
    ("C-1004", 1, 15, 6),
    ("C-1012", 2, 30, 9),
    ("C-1016", 0, 100, 4),
];

/// The referral by code: the referrer's code is on the first order of the
/// referred company (the landing page put it in the cart).
const REFERRED_BY_CODE: (&str, &str) = ("C-1001", "C-1005");
/// The referral an account manager records: referrer, referred.
const REFERRED_BY_ADMIN: (&str, &str) = ("C-1007", "C-1019");

/// Redemptions: company, reward, contact, what the person who fulfilled it
/// wrote (none: still waiting).
#[rustfmt::skip]
const REDEMPTIONS: [(&str, &str, &str, Option<&str>); 8] = [
    ("C-1003", "maintenance-training", "P-1003-2", Some("Training day booked with application engineering")),
    ("C-1014", "torque-wrench-pro", "P-1014-2", Some("Shipped engraved, DHL 00340434161094042557")),
    ("C-1001", "gift-card-100", "P-1001-1", Some("Gift card GC-7Q2K-4M9X sent by email")),
    ("C-1006", "gift-card-100", "P-1006-1", Some("Gift card GC-3HWD-8T1L sent by email")),
    ("C-1009", "gift-card-100", "P-1009-1", Some("Gift card GC-9ZPA-2R6C sent by email")),
    ("C-1005", "express-shipping", "P-1005-1", Some("Applied to the next order")),
    ("C-1013", "express-shipping", "P-1013-1", Some("Applied to the next order")),
    ("C-1008", "hannover-messe-vip", "P-1008-1", None),
];

/// The company whose buyer the demo signs in to the member portal.
const SHOWCASE: (&str, &str) = ("C-1001", "P-1001-1");
/// The prospect the demo invites: known to the ERP, not ordering yet.
const PROSPECT: (&str, &str) = ("C-1020", "P-1020-1");

/// A paid order of the book.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Order {
    id: String,
    company: &'static str,
    placed_at: i64,
    net_cents: i64,
}

/// A small deterministic generator (Knuth's MMIX LCG): the same orders on
/// every run.
struct Lcg(u64);

impl Lcg {
    /// A number in `0..n`.
    fn below(&mut self, n: i64) -> i64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let high = i64::try_from(self.0 >> 33).unwrap_or_default();
        high % n.max(1)
    }
}

/// Every company's paid orders, oldest first and numbered in that order:
/// spread over the last eighty days, placed in business hours (UTC), each
/// within 30 % of the company's typical order.
fn orders(now: i64) -> Vec<Order> {
    let mut rng = Lcg(0x5EED_2026);
    let today = now.div_euclid(DAY_MS) * DAY_MS;
    let mut all = Vec::new();
    for (company, _, _, _, _, _, count, typical) in COMPANIES {
        for k in 0..count {
            // One order in each of `count` equal stretches of the history,
            // the last at least three days ago so its business hours are past.
            let gap = (HISTORY_DAYS - 2) / count;
            let days_ago = HISTORY_DAYS - k * gap - rng.below(gap);
            let placed_at = today - days_ago * DAY_MS + 7 * HOUR_MS + rng.below(9 * HOUR_MS);
            let net_cents = typical * (70 + rng.below(61)) + rng.below(100);
            all.push(Order {
                id: String::new(),
                company,
                placed_at,
                net_cents,
            });
        }
    }
    all.sort_by_key(|order| order.placed_at);
    for (n, order) in all.iter_mut().enumerate() {
        order.id = format!("SO-{}", 48_201 + n);
    }
    all
}

/// `1234.50` from 123450 cents.
fn eur(cents: i64) -> Value {
    json!({ "amount": format!("{}.{:02}", cents / 100, cents % 100), "currency": "EUR" })
}

/// `l.kessler@kessler-hydraulik.example`.
fn email(person: &Person) -> String {
    let (_, company, first, last, _) = *person;
    let domain = COMPANIES
        .iter()
        .find(|c| c.0 == company)
        .map_or("", |c| c.5);
    let initial = first.chars().next().unwrap_or('x').to_ascii_lowercase();
    let last: String = last
        .chars()
        .filter(char::is_ascii_alphabetic)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    format!("{initial}.{last}@{domain}")
}

fn person(id: &str) -> anyhow::Result<&'static Person> {
    PEOPLE
        .iter()
        .find(|p| p.0 == id)
        .with_context(|| format!("no contact {id} in the book"))
}

/// A seeded account and one of its contacts, by their ids in the daemon.
#[derive(Debug, Clone)]
pub struct Member {
    /// The account's id.
    pub account_id: i64,
    /// The contact's id.
    pub contact_id: i64,
    /// The company's name.
    pub company: String,
    /// `First Last <email>`.
    pub contact: String,
}

/// What [`seed`] sent, and the two accounts the demo opens in the portal.
#[derive(Debug, Clone)]
pub struct Seeded {
    /// Companies.
    pub companies: usize,
    /// Their contacts.
    pub contacts: usize,
    /// Paid orders.
    pub purchases: usize,
    /// Returns.
    pub refunds: usize,
    /// NPS answers, events attended and surveys answered.
    pub engagements: usize,
    /// Referrals, by code and by an account manager.
    pub referrals: usize,
    /// Redemptions fulfilled.
    pub fulfilled: usize,
    /// Redemptions still waiting to be fulfilled.
    pub reserved: usize,
    /// A member with orders, redemptions and a referral, for a sign-in link.
    pub showcase: Member,
    /// A company that has not ordered yet, to invite.
    pub prospect: Member,
}

/// Seeds the book as of `now` (ms since the epoch) through the admin API:
/// accounts, contacts, orders, returns and engagement through `POST
/// /api/v1/events` (source `erp`), then the referrals and the redemptions.
/// Run it once on a fresh store: its idempotency keys are fixed.
pub async fn seed(api: &AdminHttp, now: i64) -> anyhow::Result<Seeded> {
    let accounts: Vec<Value> = COMPANIES
        .iter()
        .map(|&(id, name, country, industry, employees, domain, _, _)| {
            json!({ "type": "account", "id": id, "version": 1, "name": name, "domain": domain,
                    "country": country, "industry": industry, "employees": employees })
        })
        .collect();
    send_events(api, "demo-book-accounts", accounts).await?;
    let contacts: Vec<Value> = PEOPLE
        .iter()
        .map(|p| {
            json!({ "type": "contact", "id": p.0, "version": 1, "account_id": p.1,
                    "first_name": p.2, "last_name": p.3, "role": p.4, "email": email(p) })
        })
        .collect();
    send_events(api, "demo-book-contacts", contacts).await?;
    let ids = account_ids(api).await?;
    let id_of = |erp: &str| {
        ids.get(erp)
            .copied()
            .with_context(|| format!("the daemon has no account for {erp}"))
    };

    let code = api
        .get(&format!(
            "/api/v1/accounts/{}/referral-code",
            id_of(REFERRED_BY_CODE.0)?
        ))
        .await?["code"]
        .as_str()
        .context("a referral code")?
        .to_owned();
    let orders = orders(now);
    let mut coded = false;
    let mut events: Vec<Value> = orders
        .iter()
        .map(|order| {
            let buyer = PEOPLE.iter().find(|p| p.1 == order.company).map(|p| p.0);
            let mut purchase = json!({
                "type": "purchase", "id": order.id, "version": 1, "account_id": order.company,
                "contact_id": buyer, "status": "paid", "placed_at": order.placed_at,
                "net_amount": eur(order.net_cents),
            });
            if order.company == REFERRED_BY_CODE.1 && !coded {
                coded = true;
                purchase["referral_code"] = Value::from(code.as_str());
            }
            purchase
        })
        .collect();
    // In the order they happened, as the ERP would have sent them, so that
    // every ledger reads in date order.
    events.extend(returns(&orders)?);
    events.extend(engagement(now));
    events.sort_by_key(happened_at);
    for (n, batch) in events.chunks(50).enumerate() {
        send_events(api, &format!("demo-book-events-{n}"), batch.to_vec()).await?;
    }

    api.post(
        &format!("/api/v1/accounts/{}/referrals", id_of(REFERRED_BY_ADMIN.0)?),
        &json!({ "referred": id_of(REFERRED_BY_ADMIN.1)? }),
    )
    .await?;
    for (n, (company, reward, contact, fulfilled)) in REDEMPTIONS.iter().enumerate() {
        let redemption = api
            .post_once(
                &format!("/api/v1/accounts/{}/redemptions", id_of(company)?),
                &format!("demo-book-redemption-{n}"),
                &json!({ "reward": reward, "contact": email(person(contact)?) }),
            )
            .await?;
        if let Some(detail) = fulfilled {
            let id = redemption["id"].as_i64().context("a redemption id")?;
            api.post(
                &format!("/api/v1/redemptions/{id}/fulfil"),
                &json!({ "detail": detail }),
            )
            .await?;
        }
    }

    let fulfilled = REDEMPTIONS.iter().filter(|r| r.3.is_some()).count();
    Ok(Seeded {
        companies: COMPANIES.len(),
        contacts: PEOPLE.len(),
        purchases: orders.len(),
        refunds: RETURNS.len(),
        engagements: NPS.len() + ENGAGEMENTS.len(),
        referrals: 2,
        fulfilled,
        reserved: REDEMPTIONS.len() - fulfilled,
        showcase: member(api, id_of(SHOWCASE.0)?, SHOWCASE).await?,
        prospect: member(api, id_of(PROSPECT.0)?, PROSPECT).await?,
    })
}

/// The refunds of [`RETURNS`], each a share of one of the company's orders.
fn returns(orders: &[Order]) -> anyhow::Result<Vec<Value>> {
    RETURNS
        .iter()
        .enumerate()
        .map(|(n, &(company, which, percent, days_after))| {
            let order = orders
                .iter()
                .filter(|o| o.company == company)
                .nth(which)
                .with_context(|| format!("{company} has no order {which}"))?;
            Ok(json!({
                "type": "refund", "id": format!("RE-{}", 7_301 + n), "version": 1,
                "purchase_id": order.id, "refunded_at": order.placed_at + days_after * DAY_MS,
                "net_amount": eur(order.net_cents * percent / 100),
            }))
        })
        .collect()
}

/// The NPS answers and the other engagement, as of `now`.
fn engagement(now: i64) -> Vec<Value> {
    let nps = NPS
        .iter()
        .enumerate()
        .map(|(n, &(contact, score, days, comment))| {
            let mut answer = json!({
                "type": "engagement", "id": format!("NPS-{}", 501 + n), "version": 1,
                "contact_id": contact, "kind": "nps_response", "score": score,
                "occurred_at": now - days * DAY_MS,
            });
            if !comment.is_empty() {
                answer["comment"] = Value::from(comment);
            }
            answer
        });
    let other = ENGAGEMENTS
        .iter()
        .enumerate()
        .map(|(n, &(contact, kind, name, days))| {
            json!({
                "type": "engagement", "id": format!("ENG-{}", 201 + n), "version": 1,
                "contact_id": contact, "kind": kind, "name": name,
                "occurred_at": now - days * DAY_MS,
            })
        });
    nps.chain(other).collect()
}

/// When an order was placed, a return made or an engagement happened.
fn happened_at(event: &Value) -> i64 {
    ["placed_at", "refunded_at", "occurred_at"]
        .iter()
        .find_map(|key| event[key].as_i64())
        .unwrap_or_default()
}

/// `POST /api/v1/events` as the ERP.
async fn send_events(api: &AdminHttp, key: &str, events: Vec<Value>) -> anyhow::Result<()> {
    api.post_once(
        "/api/v1/events",
        key,
        &json!({ "source": "erp", "events": events }),
    )
    .await
    .with_context(|| format!("seeding {key}"))?;
    Ok(())
}

/// The daemon's account ids by ERP id.
async fn account_ids(api: &AdminHttp) -> anyhow::Result<BTreeMap<String, i64>> {
    let listed = api.get("/api/v1/accounts").await?;
    let mut ids = BTreeMap::new();
    for account in listed["accounts"].as_array().into_iter().flatten() {
        for reference in account["external_refs"].as_array().into_iter().flatten() {
            if reference["source"] == "erp"
                && let (Some(erp), Some(id)) = (reference["id"].as_str(), account["id"].as_i64())
            {
                ids.insert(erp.to_owned(), id);
            }
        }
    }
    Ok(ids)
}

/// The account and the daemon's id of its contact `(company, contact)`.
async fn member(
    api: &AdminHttp,
    account_id: i64,
    (company, contact): (&str, &str),
) -> anyhow::Result<Member> {
    let account = api.get(&format!("/api/v1/accounts/{account_id}")).await?;
    let contact_id = account["contacts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["source"] == "erp" && c["external_id"] == contact)
        .and_then(|c| c["id"].as_i64())
        .with_context(|| format!("{company} has no contact {contact} in the daemon"))?;
    let person = person(contact)?;
    Ok(Member {
        account_id,
        contact_id,
        company: account["name"].as_str().unwrap_or(company).to_owned(),
        contact: format!("{} {} <{}>", person.2, person.3, email(person)),
    })
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use super::*;

    /// 2026-12-04T17:36:00Z.
    const NOW: i64 = 1_796_405_760_000;

    /// The demo's program loaded as `loyaltyd` loads it, behind the
    /// `[program]` the harness writes.
    fn load_program() -> loyaltyd::config::Config {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("loyaltyd.toml");
        let header = format!(
            "[server]\nlisten = \"127.0.0.1:8080\"\npublic_base_url = \"http://127.0.0.1:8080\"\n\
             admin_token_sha256 = [\"{}\"]\n\n[store]\ntype = \"sqlite\"\npath = \"data/loyalty.db\"\n\n\
             [runtime]\ncache_dir = \"data/cache\"\n\n[program]\ncurrency = \"EUR\"\n\
             points_per_unit = \"2\"\nrounding = \"floor\"\n",
            "0".repeat(64)
        );
        let toml = format!("{header}{}", program_toml(&Quarter::containing(NOW)));
        std::fs::write(&path, toml).unwrap();
        loyaltyd::config::load(&path).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_quarter_is_named_and_bounded_by_its_calendar_days() {
        let bounds = |q: Quarter| (q.label(), q.first_day(), q.last_day());
        let owned = |a: &str, b: &str, c: &str| (a.to_owned(), b.to_owned(), c.to_owned());
        assert_eq!(
            bounds(Quarter::containing(0)),
            owned("1970Q1", "1970-01-01", "1970-03-31")
        );
        // 2026-05-01T07:00:00Z.
        assert_eq!(
            bounds(Quarter::containing(1_777_618_800_000)),
            owned("2026Q2", "2026-04-01", "2026-06-30")
        );
        // 2026-07-01T00:00:00Z opens the third quarter.
        assert_eq!(
            bounds(Quarter::containing(1_782_864_000_000)),
            owned("2026Q3", "2026-07-01", "2026-09-30")
        );
        // 2027-01-01T00:00:00Z and the millisecond before it.
        let new_year = 1_798_761_600_000;
        assert_eq!(
            bounds(Quarter::containing(new_year - 1)),
            owned("2026Q4", "2026-10-01", "2026-12-31")
        );
        assert_eq!(Quarter::containing(new_year).label(), "2027Q1");
    }

    #[test]
    fn the_program_loads_with_its_goals_running_through_the_quarter() {
        let config = load_program();
        assert_eq!(config.program.tiers.tiers.len(), 3);
        assert_eq!(config.program.rewards.len(), 5);
        assert_eq!(config.segments.len(), 2);
        let toml = program_toml(&Quarter::containing(NOW));
        assert_eq!(toml.matches("start = 2026-10-01\n").count(), 2);
        assert_eq!(toml.matches("deadline = 2026-12-31\n").count(), 2);
        assert_eq!(config.goals.len(), 2);
    }

    #[test]
    fn the_book_is_the_same_on_every_run() {
        assert_eq!(orders(NOW), orders(NOW));
        assert_eq!(orders(NOW).len(), 134);
    }

    #[test]
    fn every_order_is_placed_in_the_last_eighty_days_two_days_ago_at_the_latest() {
        let today = NOW.div_euclid(DAY_MS) * DAY_MS;
        for order in orders(NOW) {
            assert!(
                order.placed_at >= today - HISTORY_DAYS * DAY_MS,
                "{order:?}"
            );
            assert!(order.placed_at < today - DAY_MS, "{order:?}");
        }
    }

    #[test]
    fn orders_are_numbered_in_the_order_they_were_placed() {
        let orders = orders(NOW);
        assert_eq!(orders[0].id, "SO-48201");
        assert_eq!(orders[133].id, "SO-48334");
        assert!(orders.windows(2).all(|w| w[0].placed_at <= w[1].placed_at));
    }

    #[test]
    fn every_company_has_one_or_two_contacts_with_an_email_at_its_domain() {
        assert_eq!(
            email(&PEOPLE[10]),
            "s.dejong@vandermeer-installatie.example"
        );
        for company in COMPANIES {
            let people: Vec<&Person> = PEOPLE.iter().filter(|p| p.1 == company.0).collect();
            assert!((1..=2).contains(&people.len()), "{}", company.0);
            for person in people {
                assert!(email(person).ends_with(&format!("@{}", company.5)));
            }
        }
    }

    #[test]
    fn every_redeeming_company_earned_its_rewards_and_reached_their_tiers() {
        let program = load_program().program;
        let orders = orders(NOW);
        for company in COMPANIES {
            let mine = || orders.iter().filter(|o| o.company == company.0);
            let returned: i64 = RETURNS
                .iter()
                .filter(|r| r.0 == company.0)
                .map(|r| mine().nth(r.1).unwrap().net_cents * r.2 / 100)
                .sum();
            let spend = Decimal::new(mine().map(|o| o.net_cents).sum::<i64>() - returned, 2);
            let mut price = 0;
            for redemption in REDEMPTIONS.iter().filter(|r| r.0 == company.0) {
                let reward = program
                    .rewards
                    .iter()
                    .find(|r| r.id == redemption.1)
                    .unwrap();
                price += reward.points;
                // The tier rewards need is reached on spend alone.
                if let Some(lowest) = reward.tiers.first() {
                    let tier = program
                        .tiers
                        .tiers
                        .iter()
                        .find(|t| &t.id == lowest)
                        .unwrap();
                    assert!(spend >= tier.min_spend, "{} spent {spend}", company.0);
                }
            }
            // Tier multipliers and bonuses only add to what spend earns.
            let earned = (spend * program.points_per_unit).floor();
            assert!(
                earned >= Decimal::from(price),
                "{} earned {earned}",
                company.0
            );
        }
    }

    #[test]
    fn every_return_comes_after_its_order_and_before_now() {
        for refund in returns(&orders(NOW)).unwrap() {
            let order = orders(NOW)
                .into_iter()
                .find(|o| refund["purchase_id"] == o.id.as_str())
                .unwrap();
            let at = happened_at(&refund);
            assert!(order.placed_at < at && at < NOW, "{refund}");
        }
    }

    #[test]
    fn the_prospect_has_no_orders_and_every_other_company_has_some() {
        let orders = orders(NOW);
        for company in COMPANIES {
            let count = orders.iter().filter(|o| o.company == company.0).count();
            assert_eq!(count == 0, company.0 == PROSPECT.0, "{}", company.0);
        }
    }
}
