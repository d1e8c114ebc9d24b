//! SAP S/4HANA, emulated for the end-to-end tests and the demo: the OData V2
//! services the connector reads and writes ([`emulator`]), the records they
//! serve in SAP's wire format ([`records`]) and SAP Gateway's wire details
//! ([`wire`]).

pub mod emulator;
pub mod records;
pub mod wire;

pub use emulator::{CreatedRecord, EntitySet, Failure, Gate, Recorded, SapEmulator};
pub use records::{BusinessPartner, SalesOrder, SalesOrderItem};
