//! JSON payload parsing with errors that name the offending field.

use serde::de::DeserializeOwned;

use crate::types::Error;

/// Parses a JSON body into `T`. The error names the path of the bad field and
/// its position, so that a dead letter explains itself:
///
/// ```
/// #[derive(Debug, serde::Deserialize)]
/// struct Order { id: u64 }
/// let err = loyalty_sdk::json::parse::<Order>(br#"{"id": "x"}"#).unwrap_err();
/// assert!(err.message().contains("`id`"), "{err}");
/// ```
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            Error::InvalidInput(format!("JSON body: {inner}"))
        } else {
            Error::InvalidInput(format!("JSON field `{path}`: {inner}"))
        }
    })
}
