//! SAP S/4HANA, emulated for the end-to-end tests and the demo.
