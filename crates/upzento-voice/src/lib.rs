//! The softphone core.
//!
//! Protocol logic is sans-IO, in the manner of str0m and quinn-proto: a state machine
//! takes inputs with the time they happened (`handle_input(now, ..)`), says what to do
//! (`poll_output()`) and when it next wants the clock (`poll_timeout()`). Only the
//! drivers touch sockets, the SIP stack and the clock, so the machines are tested on a
//! simulated clock.

pub mod call;
pub mod media;
pub mod registration;
pub mod transfer;
pub mod ua;
mod uas;
mod wire;
