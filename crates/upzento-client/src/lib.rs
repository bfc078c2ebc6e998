//! The desktop client's core, independent of any UI toolkit.
//!
//! * [`credentials`]: secrets in the OS keyring, and nowhere else.
//! * [`cloud`]: the HTTP client of the tenant cloud's public API.
//! * [`account`]: signing in and out of a tenant cloud.
//! * [`cache`]: the encrypted local cache and the outbox.

pub mod account;
pub mod cache;
pub mod cloud;
pub mod credentials;
mod error;
pub mod session;
pub mod sync;

pub use error::{ClientError, ErrorKind};
