//! Arbitrary text through the configuration parser: see
//! `loyalty_fuzz::config`.

#![no_main]

use libfuzzer_sys::{Corpus, fuzz_target};

fuzz_target!(|data: &[u8]| -> Corpus {
    // The daemon reads the file as UTF-8 before parsing it.
    match std::str::from_utf8(data) {
        Ok(text) => {
            loyalty_fuzz::config::check(text);
            Corpus::Keep
        }
        Err(_) => Corpus::Reject,
    }
});
