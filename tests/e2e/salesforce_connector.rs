//! The Salesforce connector end to end, against its emulator.
