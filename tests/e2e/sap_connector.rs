//! The SAP S/4HANA connector end to end, against its emulator.
