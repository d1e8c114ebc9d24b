//! Scored profiles: what segments, insights and campaigns see of each
//! account, built from its records with the formulas of [`crate::scoring`].
//! Scoring one account needs the others (retention sets the expected
//! lifetime, CLV ranks set loyalty), so the whole program is scored at once.

use rust_decimal::Decimal;

use crate::event::TimestampMs;
use crate::scoring::{
    self, Candidate, Clv, LoyaltyRule, NpsClass, NpsResponse, NpsSummary, Retention,
};
use crate::segments::Profile;

/// How accounts are scored (`[scoring]`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Settings {
    /// NPS responses older than this many days do not count.
    pub nps_window_days: u32,
    /// Gross margin as a fraction of revenue (0.35 = 35 %), if known.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub margin_rate: Option<Decimal>,
    /// The window retention is measured over, in days.
    pub retention_window_days: u32,
    /// The longest expected lifetime predicted CLV assumes, in years.
    #[serde(with = "rust_decimal::serde::str")]
    pub lifetime_cap_years: Decimal,
    /// Who counts as loyal.
    pub loyalty: LoyaltyRule,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            nps_window_days: 365,
            margin_rate: None,
            retention_window_days: 365,
            lifetime_cap_years: Decimal::TEN,
            loyalty: LoyaltyRule {
                nps_classes: vec![NpsClass::Promoter],
                clv_top_percent: Decimal::from(25),
            },
        }
    }
}

/// One account's records: its profile (scores not filled in yet) and every
/// NPS response of its contacts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRecords {
    /// What is recorded of the account.
    pub profile: Profile,
    /// NPS responses; the respondent is the contact's id.
    pub responses: Vec<NpsResponse>,
}

/// An account with its scores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scored {
    /// The profile, with `nps`, `nps_class`, `clv`, `predicted_clv` and
    /// `loyal` filled in.
    pub profile: Profile,
    /// Its NPS over the window.
    pub nps: NpsSummary,
    /// The latest response of each of its respondents in the window.
    pub latest: Vec<NpsResponse>,
    /// Its lifetime value.
    pub clv: Clv,
}

impl Scored {
    /// Whether it meets `rules` at `now`.
    pub fn meets(&self, rules: &crate::program::Eligibility, now: TimestampMs) -> bool {
        let facts = crate::membership::AccountFacts {
            country: self.profile.country.as_deref(),
            industry: self.profile.industry.as_deref(),
            employees: self.profile.employees,
            spend: crate::tiers::qualifying_spend(&self.profile.purchases, rules.window_days, now),
            loyal: self.profile.loyal,
        };
        crate::membership::eligibility_problems(rules, &facts).is_empty()
    }
}

/// The program's scores.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProgramScores {
    /// NPS over every respondent.
    pub nps: NpsSummary,
    /// Observed retention.
    pub retention: Retention,
    /// The expected lifetime predicted CLV uses.
    #[serde(with = "rust_decimal::serde::str")]
    pub expected_lifetime_years: Decimal,
    /// Loyal accounts.
    pub loyal: usize,
    /// Accounts scored.
    pub accounts: usize,
    /// `loyal / accounts x 100`, 1 dp.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub loyalty_rate: Option<Decimal>,
}

/// Scores every account as of `now`.
pub fn score(
    records: Vec<AccountRecords>,
    settings: &Settings,
    now: TimestampMs,
) -> (Vec<Scored>, ProgramScores) {
    let histories: Vec<_> = records
        .iter()
        .map(|r| r.profile.purchases.clone())
        .collect();
    let retention = scoring::retention(&histories, settings.retention_window_days, now);
    let lifetime = scoring::expected_lifetime_years(&retention, settings.lifetime_cap_years);
    let mut all_latest = Vec::new();
    let mut scored: Vec<Scored> = records
        .into_iter()
        .map(|record| {
            let latest =
                scoring::latest_responses(&record.responses, settings.nps_window_days, now);
            let nps = scoring::summarize(&latest);
            let clv = scoring::clv(
                &record.profile.purchases,
                settings.margin_rate,
                lifetime,
                now,
            );
            all_latest.extend(latest.iter().copied());
            let mut profile = record.profile;
            profile.nps = nps.nps;
            profile.nps_class = nps.class;
            profile.clv = clv.revenue;
            profile.predicted_clv = clv.predicted;
            Scored {
                profile,
                nps,
                latest,
                clv,
            }
        })
        .collect();
    let candidates: Vec<Candidate> = scored
        .iter()
        .map(|s| Candidate {
            account: s.profile.id,
            nps_class: s.profile.nps_class,
            clv: s.profile.clv,
        })
        .collect();
    let loyal = scoring::loyal_accounts(&settings.loyalty, &candidates);
    for account in &mut scored {
        account.profile.loyal = loyal.contains(&account.profile.id);
    }
    let program = ProgramScores {
        nps: scoring::summarize(&all_latest),
        retention,
        expected_lifetime_years: lifetime,
        loyal: loyal.len(),
        accounts: scored.len(),
        loyalty_rate: scoring::loyalty_rate(loyal.len(), scored.len()),
    };
    (scored, program)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tiers::SpendItem;

    const DAY: i64 = 86_400_000;
    const NOW: i64 = 1_000 * DAY;

    fn dec(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    fn account(id: i64, purchases: &[(i64, &str)], scores: &[(i64, u8)]) -> AccountRecords {
        AccountRecords {
            profile: Profile {
                id,
                name: format!("account {id}"),
                purchases: purchases
                    .iter()
                    .map(|(days_ago, amount)| SpendItem {
                        placed_at: NOW - days_ago * DAY,
                        amount: dec(amount),
                    })
                    .collect(),
                ..Profile::default()
            },
            responses: scores
                .iter()
                .map(|(contact, score)| NpsResponse {
                    respondent: *contact,
                    score: *score,
                    at: NOW - DAY,
                })
                .collect(),
        }
    }

    #[test]
    fn promoters_in_the_top_quartile_by_clv_are_loyal() {
        // Four accounts. Retention: 1, 2 and 3 bought in both years, 4 only
        // in the last: base {1, 2, 3}, retained 3 -> rate 1 -> lifetime cap 10.
        let records = vec![
            account(1, &[(400, "5000"), (10, "5000")], &[(11, 10), (12, 9)]),
            account(2, &[(400, "1000"), (10, "1000")], &[(21, 10)]),
            account(3, &[(400, "500"), (10, "500")], &[(31, 3)]),
            account(4, &[(10, "100")], &[]),
        ];
        let (scored, program) = score(records, &Settings::default(), NOW);
        assert_eq!(program.retention.rate, Some(dec("1.0000")));
        assert_eq!(program.expected_lifetime_years, dec("10"));
        // CLVs 10000, 2000, 1000, 100: top 25 % of 4 is ceil(1) = account 1,
        // a promoter (mean 9.5): loyal. Account 2 is a promoter, not top.
        let loyal: Vec<i64> = scored
            .iter()
            .filter(|s| s.profile.loyal)
            .map(|s| s.profile.id)
            .collect();
        assert_eq!(loyal, [1]);
        assert_eq!(program.loyal, 1);
        assert_eq!(program.loyalty_rate, Some(dec("25.0")));
        // Program NPS: 3 promoters (11, 12, 21), 1 detractor (31) of 4:
        // (3 - 1) / 4 x 100 = 50.0.
        assert_eq!(program.nps.nps, Some(dec("50.0")));
        let first = &scored[0];
        assert_eq!(first.profile.nps_class, Some(NpsClass::Promoter));
        assert_eq!(first.profile.clv, dec("10000"));
        // AOV 5000 x orders/year 2 / max(1, 400/365) = 1.8250 x 10 years.
        assert_eq!(first.clv.orders_per_year, dec("1.8250"));
        assert_eq!(first.profile.predicted_clv, dec("91250.00"));
    }
}
