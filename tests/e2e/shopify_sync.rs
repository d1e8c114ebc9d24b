//! The Shopify connector's polling and outbound calls end to end, against the emulated Admin API.
