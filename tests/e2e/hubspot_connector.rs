//! The HubSpot connector end to end, against its emulator.
