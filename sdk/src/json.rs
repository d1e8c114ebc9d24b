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
    // Tracking the path costs on every field, so a body is parsed plainly
    // first and only a bad one again, to name where it went wrong.
    serde_json::from_slice(body).map_err(|plain| {
        let mut de = serde_json::Deserializer::from_slice(body);
        match serde_path_to_error::deserialize::<_, T>(&mut de) {
            Ok(_) => Error::InvalidInput(format!("JSON body: {plain}")),
            Err(err) => {
                let path = err.path().to_string();
                let inner = err.into_inner();
                if path == "." {
                    Error::InvalidInput(format!("JSON body: {inner}"))
                } else {
                    Error::InvalidInput(format!("JSON field `{path}`: {inner}"))
                }
            }
        }
    })
}
