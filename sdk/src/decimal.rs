//! Exact decimal and money parsing. Vendors send amounts as strings
//! (`"1250.50"`), as JSON numbers, and in exponent notation (`1.285E9`); none of
//! them may pass through floating point.

use rust_decimal::Decimal;

use crate::types::{Error, Money};

/// Parses a decimal number exactly, accepting exponent notation.
///
/// ```
/// use loyalty_sdk::decimal::parse_decimal;
/// assert_eq!(parse_decimal("1.285E9").unwrap().to_string(), "1285000000");
/// assert_eq!(parse_decimal(" 19.90 ").unwrap().to_string(), "19.90");
/// assert!(parse_decimal("12,5").is_err());
/// ```
pub fn parse_decimal(text: &str) -> Result<Decimal, Error> {
    let text = text.trim();
    let parsed = if text.contains(['e', 'E']) {
        Decimal::from_scientific(text).map(|d| d.normalize())
    } else {
        Decimal::from_str_exact(text)
    };
    parsed.map_err(|e| Error::InvalidInput(format!("`{text}` is not a decimal number: {e}")))
}

/// Reads an exact decimal from a JSON string or number.
///
/// ```
/// use loyalty_sdk::decimal::decimal_from_json;
/// let v: serde_json::Value = serde_json::from_str(r#"{"a": 1.285E9, "b": "0.10"}"#).unwrap();
/// assert_eq!(decimal_from_json(&v["a"]).unwrap().to_string(), "1285000000");
/// assert_eq!(decimal_from_json(&v["b"]).unwrap().to_string(), "0.10");
/// ```
pub fn decimal_from_json(value: &serde_json::Value) -> Result<Decimal, Error> {
    match value {
        serde_json::Value::String(s) => parse_decimal(s),
        serde_json::Value::Number(n) => parse_decimal(n.as_str()),
        other => Err(Error::InvalidInput(format!(
            "expected a decimal number, found {other}"
        ))),
    }
}

/// Builds a WIT [`Money`] from an exact amount and an ISO 4217 code.
pub fn money(amount: Decimal, currency: &str) -> Money {
    Money {
        amount: amount.to_string(),
        currency: currency.to_ascii_uppercase(),
    }
}

/// Serde adapter: `#[serde(with = "loyalty_sdk::decimal::exact")]` reads a
/// decimal from a JSON string or number without floating point.
pub mod exact {
    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    /// Deserializes a decimal from a JSON string or number.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        super::decimal_from_json(&value).map_err(|e| D::Error::custom(e.message()))
    }

    /// Serializes a decimal as a string.
    pub fn serialize<S: Serializer>(value: &Decimal, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }

    /// The same for optional fields: `null` and absence are `None`.
    pub mod option {
        use rust_decimal::Decimal;
        use serde::{Deserialize, Deserializer, de::Error as _};

        /// Deserializes an optional decimal.
        pub fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<Decimal>, D::Error> {
            match Option::<serde_json::Value>::deserialize(deserializer)? {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(value) => super::super::decimal_from_json(&value)
                    .map(Some)
                    .map_err(|e| D::Error::custom(e.message())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponent_notation_is_exact() {
        assert_eq!(
            parse_decimal("1.285E9").unwrap(),
            Decimal::new(1_285_000_000, 0)
        );
        assert_eq!(parse_decimal("2.5e-3").unwrap(), Decimal::new(25, 4));
        assert_eq!(parse_decimal("-1E2").unwrap(), Decimal::new(-100, 0));
    }

    #[test]
    fn plain_decimals_keep_their_scale() {
        assert_eq!(parse_decimal("10.00").unwrap().scale(), 2);
        assert_eq!(
            parse_decimal("0.1").unwrap() + parse_decimal("0.2").unwrap(),
            Decimal::new(3, 1)
        );
    }

    #[test]
    fn garbage_is_invalid_input() {
        for bad in ["", "abc", "1,5", "1.2.3", "NaN"] {
            assert!(
                matches!(parse_decimal(bad), Err(Error::InvalidInput(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn json_numbers_do_not_pass_through_f64() {
        let v: serde_json::Value =
            serde_json::from_str(r#"[0.1, 12345678901234567890.12]"#).unwrap();
        assert_eq!(decimal_from_json(&v[0]).unwrap().to_string(), "0.1");
        assert_eq!(
            decimal_from_json(&v[1]).unwrap().to_string(),
            "12345678901234567890.12"
        );
    }
}
