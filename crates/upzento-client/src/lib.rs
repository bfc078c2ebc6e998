//! The desktop client's core, independent of any UI toolkit.
//!
//! * [`credentials`]: secrets in the OS keyring, and nowhere else.
//! * [`cloud`]: the HTTP client of the tenant cloud's public API.
//! * [`account`]: signing in and out of a tenant cloud.

pub mod account;
pub mod cloud;
pub mod credentials;
mod error;

pub use error::{ClientError, ErrorKind};
