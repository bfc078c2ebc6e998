//! Keeping the cache in step with the cloud: the sans-IO [`machine`] decides,
//! the driver performs.

pub mod machine;
