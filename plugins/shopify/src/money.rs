//! Shopify's money fields, read in the shop's currency.
//!
//! Modern payloads carry every amount twice in a `*_set`: `shop_money` in the
//! merchant's currency and `presentment_money` in the buyer's. The engine
//! counts in the merchant's currency, so only `shop_money` is ever read;
//! older payloads have only the bare amount (`"subtotal_price": "398.00"`),
//! which is in the shop currency named by the order's `currency`.

use loyalty_sdk::decimal::money;
use loyalty_sdk::types::{Error, Money};
use rust_decimal::Decimal;
use serde::Deserialize;

/// An amount and its currency, exact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Amount {
    /// The exact value.
    pub value: Decimal,
    /// ISO 4217 code, upper case.
    pub currency: String,
}

impl Amount {
    /// Zero in a currency.
    pub fn zero(currency: &str) -> Self {
        Self {
            value: Decimal::ZERO,
            currency: currency.to_ascii_uppercase(),
        }
    }

    /// The WIT money record.
    pub fn to_money(&self) -> Money {
        money(self.value, &self.currency)
    }
}

/// A `*_set` field: the same amount in shop and presentment currency.
#[derive(Debug, Clone, Deserialize)]
pub struct MoneySet {
    /// The amount in the shop's currency; the only one the engine uses.
    pub shop_money: ShopMoney,
}

/// One side of a [`MoneySet`].
#[derive(Debug, Clone, Deserialize)]
pub struct ShopMoney {
    /// A decimal string (`"195.66"`), read without floating point.
    #[serde(with = "loyalty_sdk::decimal::exact")]
    pub amount: Decimal,
    /// ISO 4217 code. Transactions spell it `currency`, everything else
    /// `currency_code`.
    #[serde(alias = "currency")]
    pub currency_code: String,
}

impl MoneySet {
    /// The shop-currency amount.
    pub fn shop(&self) -> Amount {
        Amount {
            value: self.shop_money.amount,
            currency: self.shop_money.currency_code.to_ascii_uppercase(),
        }
    }
}

/// Reads an amount from its `*_set` when present, else from the bare amount
/// in the shop currency `fallback_currency`. `field` names the bare field in
/// the error when neither is there.
pub fn shop_amount(
    set: Option<&MoneySet>,
    bare: Option<Decimal>,
    fallback_currency: Option<&str>,
    field: &str,
) -> Result<Amount, Error> {
    if let Some(set) = set {
        return Ok(set.shop());
    }
    match (bare, fallback_currency) {
        (Some(value), Some(currency)) => Ok(Amount {
            value,
            currency: currency.to_ascii_uppercase(),
        }),
        (Some(_), None) => Err(Error::InvalidInput(format!(
            "JSON field `{field}`: no `{field}_set` and no `currency` to tell the amount's currency"
        ))),
        (None, _) => Err(Error::InvalidInput(format!(
            "JSON field `{field}`: missing (neither `{field}_set` nor `{field}` is present)"
        ))),
    }
}

/// Adds `amount` to a running total, refusing to mix currencies. `what`
/// names the amounts in the error.
pub fn add(total: &mut Option<Amount>, amount: Amount, what: &str) -> Result<(), Error> {
    match total {
        None => *total = Some(amount),
        Some(sum) if sum.currency == amount.currency => sum.value += amount.value,
        Some(sum) => {
            return Err(Error::InvalidInput(format!(
                "{what} mix currencies `{}` and `{}`",
                sum.currency, amount.currency
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_wins_over_bare_amount_and_reads_shop_money() {
        let set: MoneySet = serde_json::from_str(
            r#"{"shop_money": {"amount": "90.00", "currency_code": "EUR"},
                "presentment_money": {"amount": "99.00", "currency_code": "USD"}}"#,
        )
        .unwrap();
        let amount = shop_amount(
            Some(&set),
            Some(Decimal::new(9900, 2)),
            Some("USD"),
            "subtotal_price",
        )
        .unwrap();
        assert_eq!(amount.to_money().amount, "90.00");
        assert_eq!(amount.currency, "EUR");
    }

    #[test]
    fn bare_amount_takes_the_order_currency() {
        let amount = shop_amount(None, Some(Decimal::new(39800, 2)), Some("usd"), "x").unwrap();
        assert_eq!(
            amount,
            Amount {
                value: Decimal::new(39800, 2),
                currency: "USD".to_owned()
            }
        );
        let err = shop_amount(None, None, Some("USD"), "subtotal_price").unwrap_err();
        assert!(err.message().contains("`subtotal_price`"), "{err:?}");
    }

    #[test]
    fn totals_refuse_mixed_currencies() {
        let mut total = None;
        add(&mut total, Amount::zero("EUR"), "lines").unwrap();
        add(
            &mut total,
            Amount {
                value: Decimal::ONE,
                currency: "EUR".to_owned(),
            },
            "lines",
        )
        .unwrap();
        assert_eq!(total.as_ref().unwrap().value, Decimal::ONE);
        assert!(add(&mut total, Amount::zero("USD"), "lines").is_err());
    }
}
