//! Conveniences for reading webhook requests.

use crate::types::{Error, Header, WebhookRequest};

/// Header lookups on a [`WebhookRequest`].
pub trait WebhookRequestExt {
    /// The first header with this name, compared case-insensitively.
    fn header(&self, name: &str) -> Option<&str>;

    /// Like [`WebhookRequestExt::header`], but a missing header is an
    /// [`Error::InvalidInput`] naming it.
    fn require_header(&self, name: &str) -> Result<&str, Error> {
        self.header(name)
            .ok_or_else(|| Error::InvalidInput(format!("missing header `{name}`")))
    }
}

impl WebhookRequestExt for WebhookRequest {
    fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

/// The first header with this name in a list, compared case-insensitively.
pub fn find_header<'a>(headers: &'a [Header], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
}
