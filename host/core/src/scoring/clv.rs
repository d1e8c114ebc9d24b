//! Customer lifetime value: what an account has brought in, and what it is
//! expected to bring in over its lifetime, estimated from the program's
//! retention. The formulas are in the [parent module's docs](super).

use rust_decimal::Decimal;

use super::{DAY_MS, count_u32, round, window_start};
use crate::event::TimestampMs;
use crate::tiers::SpendItem;

/// One year of 365 days, in milliseconds.
const YEAR_MS: i64 = 365 * DAY_MS;

/// An account's historical and predicted lifetime value, in the program
/// currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Clv {
    /// Purchases placed at or before now.
    pub orders: u32,
    /// The sum of their net amounts: the historical CLV.
    #[serde(with = "rust_decimal::serde::str")]
    pub revenue: Decimal,
    /// `revenue x margin_rate`, 2 dp; `None` without a margin rate.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub gross_margin: Option<Decimal>,
    /// `revenue / orders`, 2 dp; 0 without orders.
    #[serde(with = "rust_decimal::serde::str")]
    pub average_order_value: Decimal,
    /// `orders / max(1, tenure_years)`, 4 dp.
    #[serde(with = "rust_decimal::serde::str")]
    pub orders_per_year: Decimal,
    /// The expected lifetime the prediction assumes.
    #[serde(with = "rust_decimal::serde::str")]
    pub expected_lifetime_years: Decimal,
    /// `average_order_value x orders_per_year x expected_lifetime_years`,
    /// 2 dp: the predicted CLV.
    #[serde(with = "rust_decimal::serde::str")]
    pub predicted: Decimal,
    /// `predicted x margin_rate`, 2 dp; `None` without a margin rate.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub predicted_margin: Option<Decimal>,
}

/// The CLV of one account from its paid purchases (net of refunds, in the
/// program currency). `margin_rate` is a fraction (0.35 is 35 %).
pub fn clv(
    purchases: &[SpendItem],
    margin_rate: Option<Decimal>,
    expected_lifetime_years: Decimal,
    now: TimestampMs,
) -> Clv {
    let placed = || purchases.iter().filter(|item| item.placed_at <= now);
    let orders = count_u32(placed().count());
    let revenue = placed().fold(Decimal::ZERO, |sum, item| sum.saturating_add(item.amount));
    let margin = |amount: Decimal| margin_rate.map(|rate| round(amount.saturating_mul(rate), 2));
    let Some(first) = placed().map(|item| item.placed_at).min() else {
        let zero = round(Decimal::ZERO, 2);
        return Clv {
            orders,
            revenue,
            gross_margin: margin(Decimal::ZERO),
            average_order_value: zero,
            orders_per_year: round(Decimal::ZERO, 4),
            expected_lifetime_years,
            predicted: zero,
            predicted_margin: margin(Decimal::ZERO),
        };
    };
    let orders_dec = Decimal::from(orders);
    // Dividing by a count of at least 1, or by a tenure of at least one
    // year, cannot overflow.
    let average_order_value = round(revenue / orders_dec, 2);
    let tenure_years = Decimal::from(now.saturating_sub(first)) / Decimal::from(YEAR_MS);
    let orders_per_year = round(orders_dec / tenure_years.max(Decimal::ONE), 4);
    let predicted = round(
        average_order_value
            .saturating_mul(orders_per_year)
            .saturating_mul(expected_lifetime_years),
        2,
    );
    Clv {
        orders,
        revenue,
        gross_margin: margin(revenue),
        average_order_value,
        orders_per_year,
        expected_lifetime_years,
        predicted,
        predicted_margin: margin(predicted),
    }
}

/// How many accounts that bought in one window bought again in the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Retention {
    /// Accounts with a purchase in `(now - 2w, now - w]`.
    pub base: u32,
    /// Those of them with a purchase in `(now - w, now]` too.
    pub retained: u32,
    /// `retained / base` as a fraction, 4 dp; `None` without a base.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub rate: Option<Decimal>,
}

/// Of the accounts with a purchase in `(now - 2w, now - w]`, how many also
/// bought in `(now - w, now]`, where `w` is `window_days`. Each element of
/// `accounts` is one account's purchases; amounts do not matter.
pub fn retention(accounts: &[Vec<SpendItem>], window_days: u32, now: TimestampMs) -> Retention {
    let middle = window_start(now, window_days);
    let start = window_start(middle, window_days);
    let bought_in = |purchases: &[SpendItem], from: TimestampMs, to: TimestampMs| {
        purchases
            .iter()
            .any(|item| item.placed_at > from && item.placed_at <= to)
    };
    let base: Vec<&Vec<SpendItem>> = accounts
        .iter()
        .filter(|purchases| bought_in(purchases, start, middle))
        .collect();
    let retained = base
        .iter()
        .filter(|purchases| bought_in(purchases, middle, now))
        .count();
    let rate =
        (!base.is_empty()).then(|| round(Decimal::from(retained) / Decimal::from(base.len()), 4));
    Retention {
        base: count_u32(base.len()),
        retained: count_u32(retained),
        rate,
    }
}

/// `1 / (1 - rate)` years, at most `cap_years`: the mean lifetime of an
/// account that stays each period with probability `rate`. No rate gives
/// 1 year; a rate of 1 or more gives `cap_years`. 4 dp.
pub fn expected_lifetime_years(retention: &Retention, cap_years: Decimal) -> Decimal {
    let years = match retention.rate {
        None => Decimal::ONE,
        Some(rate) => Decimal::ONE
            .checked_sub(rate)
            .filter(|churn| churn.is_sign_positive() && !churn.is_zero())
            .and_then(|churn| Decimal::ONE.checked_div(churn))
            .unwrap_or(cap_years),
    };
    round(years.min(cap_years), 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: TimestampMs = 2_000 * DAY_MS;

    fn dec(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    fn item(placed_at: TimestampMs, amount: &str) -> SpendItem {
        SpendItem {
            placed_at,
            amount: dec(amount),
        }
    }

    #[test]
    fn four_orders_over_two_years_with_a_margin() {
        let purchases = [
            item(NOW - 730 * DAY_MS, "120.50"),
            item(NOW - 500 * DAY_MS, "80.25"),
            item(NOW - 200 * DAY_MS, "99.99"),
            item(NOW, "200"),
            // Placed after now: not counted.
            item(NOW + 1, "1000"),
        ];
        let clv = clv(&purchases, Some(dec("0.3")), dec("3"), NOW);
        assert_eq!(clv.orders, 4);
        // 120.50 + 80.25 + 99.99 + 200 = 500.74
        assert_eq!(clv.revenue, dec("500.74"));
        // 500.74 x 0.3 = 150.222 -> 150.22
        assert_eq!(clv.gross_margin, Some(dec("150.22")));
        // 500.74 / 4 = 125.185 -> 125.19 (half away from zero)
        assert_eq!(clv.average_order_value, dec("125.19"));
        // tenure 730 / 365 = 2 years; 4 / 2 = 2.0000
        assert_eq!(clv.orders_per_year, dec("2.0000"));
        assert_eq!(clv.expected_lifetime_years, dec("3"));
        // 125.19 x 2 x 3 = 751.14
        assert_eq!(clv.predicted, dec("751.14"));
        // 751.14 x 0.3 = 225.342 -> 225.34
        assert_eq!(clv.predicted_margin, Some(dec("225.34")));
    }

    #[test]
    fn orders_per_year_divide_by_a_fractional_tenure() {
        let purchases = [
            item(NOW - 548 * DAY_MS, "100"),
            item(NOW - 300 * DAY_MS, "100"),
            item(NOW - 10 * DAY_MS, "100"),
        ];
        let clv = clv(&purchases, None, dec("2"), NOW);
        // tenure 548 / 365 years; 3 / (548 / 365) = 1095 / 548 = 1.99817.. -> 1.9982
        assert_eq!(clv.orders_per_year, dec("1.9982"));
        // 100.00 x 1.9982 x 2 = 399.64
        assert_eq!(clv.predicted, dec("399.64"));
        assert_eq!(clv.gross_margin, None);
        assert_eq!(clv.predicted_margin, None);
    }

    #[test]
    fn a_newcomer_is_not_extrapolated_beyond_its_orders() {
        let purchases = [item(NOW - 100 * DAY_MS, "50"), item(NOW - DAY_MS, "30")];
        let clv = clv(&purchases, None, dec("3"), NOW);
        // tenure 100 / 365 < 1 year, so 2 / max(1, 0.27..) = 2.0000
        assert_eq!(clv.orders_per_year, dec("2.0000"));
        // (50 + 30) / 2 = 40.00
        assert_eq!(clv.average_order_value, dec("40.00"));
        // 40.00 x 2 x 3 = 240.00
        assert_eq!(clv.predicted, dec("240.00"));
    }

    #[test]
    fn no_orders_is_all_zero() {
        let clv = clv(
            &[item(NOW + DAY_MS, "10")],
            Some(dec("0.35")),
            dec("3"),
            NOW,
        );
        assert_eq!(clv.orders, 0);
        assert_eq!(clv.revenue, Decimal::ZERO);
        assert_eq!(clv.gross_margin, Some(Decimal::ZERO));
        assert_eq!(clv.average_order_value, Decimal::ZERO);
        assert_eq!(clv.orders_per_year, Decimal::ZERO);
        assert_eq!(clv.predicted, Decimal::ZERO);
        assert_eq!(clv.predicted_margin, Some(Decimal::ZERO));
    }

    #[test]
    fn the_clv_serializes_decimals_as_strings() {
        let clv = clv(&[item(NOW, "10")], None, dec("1"), NOW);
        let json = serde_json::to_value(clv).unwrap();
        assert_eq!(json["revenue"], "10");
        assert_eq!(json["average_order_value"], "10.00");
        assert_eq!(json["orders_per_year"], "1.0000");
        assert_eq!(json["predicted"], "10.00");
        assert_eq!(json["gross_margin"], serde_json::Value::Null);
    }

    #[test]
    fn retention_counts_the_earlier_buyers_who_bought_again() {
        let w = 90;
        let accounts = vec![
            // Bought in both windows: retained.
            vec![item(NOW - 100 * DAY_MS, "1"), item(NOW - 5 * DAY_MS, "1")],
            // At exactly now - w (the end of the earlier window) and at now:
            // retained.
            vec![item(NOW - 90 * DAY_MS, "1"), item(NOW, "1")],
            // Only in the earlier window: in the base, not retained.
            vec![item(NOW - 150 * DAY_MS, "1")],
            // At exactly now - 2w (outside the earlier window) and recently:
            // not in the base.
            vec![item(NOW - 180 * DAY_MS, "1"), item(NOW - DAY_MS, "1")],
            // Never bought.
            vec![],
        ];
        let retention = retention(&accounts, w, NOW);
        assert_eq!(retention.base, 3);
        assert_eq!(retention.retained, 2);
        // 2 / 3 = 0.66666.. -> 0.6667
        assert_eq!(retention.rate, Some(dec("0.6667")));
    }

    #[test]
    fn retention_without_a_base_has_no_rate() {
        let accounts = vec![vec![item(NOW, "1")]];
        let retention = retention(&accounts, 30, NOW);
        assert_eq!(retention.base, 0);
        assert_eq!(retention.rate, None);
    }

    fn with_rate(rate: Option<&str>) -> Retention {
        Retention {
            base: 4,
            retained: 3,
            rate: rate.map(dec),
        }
    }

    #[test]
    fn three_quarters_retention_is_a_four_year_lifetime() {
        // 1 / (1 - 0.75) = 4
        assert_eq!(
            expected_lifetime_years(&with_rate(Some("0.75")), dec("10")),
            dec("4.0000")
        );
        // 1 / (1 - 0.6667) = 1 / 0.3333 = 3.00030.. -> 3.0003
        assert_eq!(
            expected_lifetime_years(&with_rate(Some("0.6667")), dec("10")),
            dec("3.0003")
        );
    }

    #[test]
    fn the_lifetime_is_capped() {
        // 1 / (1 - 0.9) = 10, capped at 5
        assert_eq!(
            expected_lifetime_years(&with_rate(Some("0.9")), dec("5")),
            dec("5")
        );
        assert_eq!(
            expected_lifetime_years(&with_rate(Some("1")), dec("5")),
            dec("5")
        );
    }

    #[test]
    fn no_retention_rate_means_a_one_year_lifetime() {
        assert_eq!(
            expected_lifetime_years(&with_rate(None), dec("5")),
            dec("1")
        );
        // No churn at all: 1 / (1 - 0) = 1
        assert_eq!(
            expected_lifetime_years(&with_rate(Some("0")), dec("5")),
            dec("1")
        );
    }
}
