//! The load harness (see the crate doc).

pub mod config;
pub mod flows;
pub mod inproc;
pub mod run;
pub mod stats;
pub mod table;
pub mod testpmd;
