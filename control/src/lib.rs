//! rampart's control plane: the pfSense `config.xml` model ([`config`]) and CARP's codec
//! and per-vhid state machine ([`carp`]), both sans-IO.
#![forbid(unsafe_code)]

pub mod carp;
pub mod config;
