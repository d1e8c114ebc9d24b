//! Arbitrary text through every decimal and money parser: see
//! `loyalty_fuzz::decimal`.

#![no_main]

use libfuzzer_sys::{Corpus, fuzz_target};

fuzz_target!(|data: &[u8]| -> Corpus {
    match std::str::from_utf8(data) {
        Ok(text) => {
            loyalty_fuzz::decimal::check(text);
            Corpus::Keep
        }
        Err(_) => Corpus::Reject,
    }
});
