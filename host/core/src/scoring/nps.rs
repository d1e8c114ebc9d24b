//! Net Promoter Score: which responses count, and the summary of an account
//! or of the whole program. The formulas are in the [parent module's
//! docs](super).

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use super::{NpsClass, count_u32, round, window_start};
use crate::event::TimestampMs;

/// One answer to the "how likely are you to recommend us" survey.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NpsResponse {
    /// The contact who answered.
    pub respondent: i64,
    /// The score, 0 to 10.
    pub score: u8,
    /// When the contact answered.
    pub at: TimestampMs,
}

/// The latest response of each respondent answered in
/// `(now - window_days, now]`, ordered by respondent. Responses after `now`
/// are ignored; of two responses at the same `at` the one later in the slice
/// wins, as it is the later delivery.
pub fn latest_responses(
    responses: &[NpsResponse],
    window_days: u32,
    now: TimestampMs,
) -> Vec<NpsResponse> {
    let start = window_start(now, window_days);
    let mut latest: BTreeMap<i64, NpsResponse> = BTreeMap::new();
    for response in responses
        .iter()
        .filter(|response| response.at > start && response.at <= now)
    {
        latest
            .entry(response.respondent)
            .and_modify(|kept| {
                if response.at >= kept.at {
                    *kept = *response;
                }
            })
            .or_insert(*response);
    }
    latest.into_values().collect()
}

/// The NPS of a set of respondents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct NpsSummary {
    /// How many respondents there are.
    pub respondents: u32,
    /// Respondents who scored 9 or 10.
    pub promoters: u32,
    /// Respondents who scored 7 or 8.
    pub passives: u32,
    /// Respondents who scored 0 to 6.
    pub detractors: u32,
    /// (promoters - detractors) / respondents x 100, rounded half away from
    /// zero to 1 dp; `None` without respondents.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub nps: Option<Decimal>,
    /// The mean score of the respondents, rounded half away from zero to
    /// 2 dp; `None` without respondents.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub mean_score: Option<Decimal>,
    /// The class of the rounded mean score: at least 9 promoter, at least 7
    /// passive, otherwise detractor (a mean of 8.99 is passive).
    pub class: Option<NpsClass>,
}

/// Summarizes one response per respondent, as [`latest_responses`] gives
/// them.
pub fn summarize(latest: &[NpsResponse]) -> NpsSummary {
    let count = |class: NpsClass| {
        count_u32(
            latest
                .iter()
                .filter(|response| NpsClass::of(response.score) == class)
                .count(),
        )
    };
    let respondents = count_u32(latest.len());
    let promoters = count(NpsClass::Promoter);
    let passives = count(NpsClass::Passive);
    let detractors = count(NpsClass::Detractor);
    if respondents == 0 {
        return NpsSummary {
            respondents,
            promoters,
            passives,
            detractors,
            nps: None,
            mean_score: None,
            class: None,
        };
    }
    let respondents_dec = Decimal::from(respondents);
    let net = Decimal::from(i64::from(promoters) - i64::from(detractors));
    let nps = round(net * Decimal::ONE_HUNDRED / respondents_dec, 1);
    // Scores above 10 count as 10, as they do for the class of a response.
    let total: u64 = latest
        .iter()
        .map(|response| u64::from(response.score.min(10)))
        .sum();
    let mean = round(Decimal::from(total) / respondents_dec, 2);
    NpsSummary {
        respondents,
        promoters,
        passives,
        detractors,
        nps: Some(nps),
        mean_score: Some(mean),
        class: Some(class_of_mean(mean)),
    }
}

/// The class of a mean score; the thresholds are those of a single score,
/// with no rounding up of a mean just below one.
fn class_of_mean(mean: Decimal) -> NpsClass {
    if mean >= Decimal::from(9) {
        NpsClass::Promoter
    } else if mean >= Decimal::from(7) {
        NpsClass::Passive
    } else {
        NpsClass::Detractor
    }
}

#[cfg(test)]
mod tests {
    use super::super::DAY_MS;
    use super::*;

    const NOW: TimestampMs = 1_000 * DAY_MS;

    fn dec(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    fn response(respondent: i64, score: u8, at: TimestampMs) -> NpsResponse {
        NpsResponse {
            respondent,
            score,
            at,
        }
    }

    /// One response per respondent, with the given scores.
    fn scored(scores: &[u8]) -> Vec<NpsResponse> {
        (0_i64..)
            .zip(scores)
            .map(|(respondent, &score)| response(respondent, score, NOW))
            .collect()
    }

    #[test]
    fn five_promoters_three_passives_two_detractors_score_thirty() {
        let summary = summarize(&scored(&[9, 10, 9, 10, 10, 7, 8, 8, 0, 6]));
        assert_eq!(summary.respondents, 10);
        assert_eq!(summary.promoters, 5);
        assert_eq!(summary.passives, 3);
        assert_eq!(summary.detractors, 2);
        // (5 - 2) / 10 x 100 = 30.0
        assert_eq!(summary.nps, Some(dec("30.0")));
        // (9+10+9+10+10 + 7+8+8 + 0+6) / 10 = 77 / 10 = 7.70
        assert_eq!(summary.mean_score, Some(dec("7.70")));
        assert_eq!(summary.class, Some(NpsClass::Passive));
    }

    #[test]
    fn nps_rounds_half_away_from_zero_to_one_place() {
        // 1 promoter, 0 detractors of 3: 1 / 3 x 100 = 33.333.. -> 33.3
        assert_eq!(summarize(&scored(&[9, 7, 8])).nps, Some(dec("33.3")));
        // 0 promoters, 1 detractor of 40: -1 / 40 x 100 = -2.5, already 1 dp
        let mut forty = vec![7; 39];
        forty.push(3);
        assert_eq!(summarize(&scored(&forty)).nps, Some(dec("-2.5")));
        // 0 promoters, 1 detractor of 80: -1 / 80 x 100 = -1.25 -> -1.3
        let mut eighty = vec![8; 79];
        eighty.push(0);
        assert_eq!(summarize(&scored(&eighty)).nps, Some(dec("-1.3")));
        // 1 promoter, 2 detractors of 3: -1 / 3 x 100 = -33.333.. -> -33.3
        assert_eq!(summarize(&scored(&[1, 2, 10])).nps, Some(dec("-33.3")));
        // 2 detractors of 3: -2 / 3 x 100 = -66.666.. -> -66.7
        assert_eq!(summarize(&scored(&[1, 2, 7])).nps, Some(dec("-66.7")));
    }

    #[test]
    fn all_promoters_score_a_hundred_and_all_detractors_minus_a_hundred() {
        assert_eq!(summarize(&scored(&[9, 10])).nps, Some(dec("100.0")));
        assert_eq!(summarize(&scored(&[0, 6])).nps, Some(dec("-100.0")));
    }

    #[test]
    fn the_class_is_that_of_the_rounded_mean() {
        // 9 x 99 + 8 = 899; 899 / 100 = 8.99: passive
        let mut scores = vec![9; 99];
        scores.push(8);
        let summary = summarize(&scored(&scores));
        assert_eq!(summary.mean_score, Some(dec("8.99")));
        assert_eq!(summary.class, Some(NpsClass::Passive));
        // (9 + 9 + 10 + 8) / 4 = 36 / 4 = 9.00: promoter
        let summary = summarize(&scored(&[9, 9, 10, 8]));
        assert_eq!(summary.mean_score, Some(dec("9.00")));
        assert_eq!(summary.class, Some(NpsClass::Promoter));
        // (7 + 6 + 8) / 3 = 21 / 3 = 7.00: passive
        assert_eq!(
            summarize(&scored(&[7, 6, 8])).class,
            Some(NpsClass::Passive)
        );
        // (7 + 6 + 7) / 3 = 20 / 3 = 6.666.. -> 6.67: detractor
        let summary = summarize(&scored(&[7, 6, 7]));
        assert_eq!(summary.mean_score, Some(dec("6.67")));
        assert_eq!(summary.class, Some(NpsClass::Detractor));
    }

    #[test]
    fn the_mean_rounds_half_away_from_zero_to_two_places() {
        // 7 x 7 + 8 = 57; 57 / 8 = 7.125 -> 7.13
        let mut scores = vec![7; 7];
        scores.push(8);
        assert_eq!(summarize(&scored(&scores)).mean_score, Some(dec("7.13")));
    }

    #[test]
    fn a_score_above_ten_counts_as_ten_in_the_mean() {
        // (10 + 8) / 2 = 9.00, not (12 + 8) / 2 = 10.00
        assert_eq!(summarize(&scored(&[12, 8])).mean_score, Some(dec("9.00")));
    }

    #[test]
    fn no_respondents_have_no_score_and_no_class() {
        let summary = summarize(&[]);
        assert_eq!(summary.respondents, 0);
        assert_eq!(summary.nps, None);
        assert_eq!(summary.mean_score, None);
        assert_eq!(summary.class, None);
    }

    #[test]
    fn only_the_latest_response_of_each_respondent_in_the_window_counts() {
        let responses = [
            // Respondent 1: changed their mind; the later answer counts.
            response(1, 3, NOW - 20 * DAY_MS),
            response(1, 9, NOW - 10 * DAY_MS),
            // Respondent 2: exactly at the window start (now - 30 days) is
            // out; one ms later is in.
            response(2, 10, NOW - 30 * DAY_MS),
            response(2, 5, NOW - 30 * DAY_MS + 1),
            // Respondent 3: answered at now (in) and after now (ignored).
            response(3, 7, NOW),
            response(3, 0, NOW + 1),
            // Respondent 4: only before the window.
            response(4, 10, NOW - 31 * DAY_MS),
            // Respondent 5: two answers at the same instant; the later in the
            // slice wins.
            response(5, 2, NOW - DAY_MS),
            response(5, 8, NOW - DAY_MS),
        ];
        assert_eq!(
            latest_responses(&responses, 30, NOW),
            vec![
                response(1, 9, NOW - 10 * DAY_MS),
                response(2, 5, NOW - 30 * DAY_MS + 1),
                response(3, 7, NOW),
                response(5, 8, NOW - DAY_MS),
            ]
        );
    }

    #[test]
    fn an_earlier_response_later_in_the_slice_does_not_replace_a_later_one() {
        let responses = [
            response(1, 9, NOW - DAY_MS),
            response(1, 2, NOW - 2 * DAY_MS),
        ];
        assert_eq!(
            latest_responses(&responses, 30, NOW),
            vec![response(1, 9, NOW - DAY_MS)]
        );
    }

    #[test]
    fn the_summary_serializes_decimals_as_strings() {
        let json = serde_json::to_value(summarize(&scored(&[9, 6]))).unwrap();
        // (1 - 1) / 2 x 100 = 0.0; (9 + 6) / 2 = 7.50
        assert_eq!(json["nps"], "0.0");
        assert_eq!(json["mean_score"], "7.50");
        assert_eq!(json["class"], "passive");
        let empty = serde_json::to_value(summarize(&[])).unwrap();
        assert_eq!(empty["nps"], serde_json::Value::Null);
    }
}
