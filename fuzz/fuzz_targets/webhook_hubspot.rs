//! Fuzzed HubSpot deliveries through the real HubSpot connector component:
//! see `loyalty_fuzz::webhook`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use loyalty_fuzz::webhook::hubspot::{Input, harness};

fuzz_target!(
    init: {
        harness();
    },
    |input: Input| {
        input.run();
    }
);
