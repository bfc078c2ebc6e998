//! Media: codecs, RTP, SDP and the audio of a call.

pub mod audio;
pub mod device;
pub mod dtls;
pub mod g711;
pub mod ice;
pub mod jitter;
pub mod quality;
pub mod rtcp;
pub mod rtp;
pub mod sdp;
pub mod session;
