//! HubSpot, emulated for the end-to-end tests and the demo.
