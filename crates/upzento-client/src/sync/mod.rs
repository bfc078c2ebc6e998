//! Keeping the cache in step with the cloud: the sans-IO [`machine`] decides,
//! the driver performs.

pub mod api;
pub mod driver;
pub mod machine;

pub use driver::{SyncEvent, SyncHandle, spawn};
pub use machine::SyncStatus;
