//! Domain types shared by the desktop client and the cloud server.
//!
//! This crate does no I/O: no sockets, no files, no clock. Both `upzento-client`
//! and `upzento-cloud` depend on it, and on nothing of each other, so the wire
//! format of the public API is defined exactly once.

pub mod ab;
pub mod analytics;
pub mod audience;
pub mod keywords;
pub mod permissions;
pub mod phone;
pub mod quiet;
pub mod resources;
pub mod senders;
pub mod sms;
pub mod template;
pub mod tz;
pub mod wire;
