//! Fuzzed Shopify deliveries through the real Shopify connector component:
//! see `loyalty_fuzz::webhook`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use loyalty_fuzz::webhook::shopify::{Input, harness};

fuzz_target!(
    init: {
        harness();
    },
    |input: Input| {
        input.run();
    }
);
