//! The program's earning rule: how money becomes points.

use std::collections::BTreeMap;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};

use crate::core::CoreError;
use crate::core::event::Money;

/// How a fractional point amount becomes whole points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rounding {
    /// Down to the whole point (never awards a fraction not earned).
    Floor,
    /// To the nearest, halves away from zero.
    HalfUp,
    /// To the nearest, halves to even (banker's rounding).
    HalfEven,
}

/// The earning rule of the program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// ISO 4217 code points are earned in.
    pub currency: String,
    /// Points per one unit of `currency`.
    pub points_per_unit: Decimal,
    /// Rounding of fractional points.
    pub rounding: Rounding,
    /// Rate converting one unit of another currency into `currency`.
    pub exchange_rates: BTreeMap<String, Decimal>,
    /// Recorded with every entry, so an entry always says which rule made it.
    pub version: String,
}

/// Points earned on an amount, and the exchange rate used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Earning {
    /// Whole points.
    pub points: i64,
    /// The rate applied (1 for the program currency).
    pub rate: Decimal,
}

impl Program {
    /// The rate converting `currency` into the program currency.
    pub fn rate(&self, currency: &str) -> Result<Decimal, CoreError> {
        if currency == self.currency {
            return Ok(Decimal::ONE);
        }
        self.exchange_rates
            .get(currency)
            .copied()
            .ok_or_else(|| CoreError::NoExchangeRate {
                from: currency.to_owned(),
                to: self.currency.clone(),
            })
    }

    /// Points earned on `amount`: amount x rate x points per unit, rounded
    /// by the program's rule.
    pub fn earn(&self, amount: &Money) -> Result<Earning, CoreError> {
        if amount.amount.is_sign_negative() && !amount.amount.is_zero() {
            return Err(CoreError::NegativeAmount {
                what: "a purchase's net amount".to_owned(),
                amount: amount.amount.to_string(),
            });
        }
        let rate = self.rate(&amount.currency)?;
        let exact = amount
            .amount
            .checked_mul(rate)
            .and_then(|v| v.checked_mul(self.points_per_unit))
            .ok_or_else(|| CoreError::PointsOutOfRange(amount.amount.to_string()))?;
        let strategy = match self.rounding {
            Rounding::Floor => RoundingStrategy::ToNegativeInfinity,
            Rounding::HalfUp => RoundingStrategy::MidpointAwayFromZero,
            Rounding::HalfEven => RoundingStrategy::MidpointNearestEven,
        };
        let points = exact
            .round_dp_with_strategy(0, strategy)
            .to_i64()
            .ok_or_else(|| CoreError::PointsOutOfRange(exact.to_string()))?;
        Ok(Earning { points, rate })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program(rounding: Rounding) -> Program {
        Program {
            currency: "EUR".to_owned(),
            points_per_unit: Decimal::new(15, 1),
            rounding,
            exchange_rates: BTreeMap::from([("USD".to_owned(), Decimal::new(92, 2))]),
            version: "test".to_owned(),
        }
    }

    fn eur(amount: &str) -> Money {
        Money {
            amount: amount.parse().unwrap(),
            currency: "EUR".to_owned(),
        }
    }

    #[test]
    fn rounding_rules_are_explicit() {
        // 10.33 EUR x 1.5 = 15.495 points.
        assert_eq!(
            program(Rounding::Floor).earn(&eur("10.33")).unwrap().points,
            15
        );
        assert_eq!(
            program(Rounding::HalfUp)
                .earn(&eur("10.33"))
                .unwrap()
                .points,
            15
        );
        // 11.00 x 1.5 = 16.5: half up gives 17, half even 16.
        assert_eq!(
            program(Rounding::HalfUp)
                .earn(&eur("11.00"))
                .unwrap()
                .points,
            17
        );
        assert_eq!(
            program(Rounding::HalfEven)
                .earn(&eur("11.00"))
                .unwrap()
                .points,
            16
        );
    }

    #[test]
    fn foreign_currency_converts_at_the_configured_rate() {
        let usd = Money {
            amount: "100".parse().unwrap(),
            currency: "USD".to_owned(),
        };
        let earning = program(Rounding::Floor).earn(&usd).unwrap();
        assert_eq!((earning.points, earning.rate), (138, Decimal::new(92, 2)));
        let chf = Money {
            amount: "1".parse().unwrap(),
            currency: "CHF".to_owned(),
        };
        assert!(matches!(
            program(Rounding::Floor).earn(&chf),
            Err(CoreError::NoExchangeRate { .. })
        ));
    }
}
