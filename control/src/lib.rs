//! rampart's control plane: the pfSense `config.xml` model ([`config`]), CARP's codec
//! and per-vhid state machine ([`carp`]), both sans-IO, and pfSense-compatible XMLRPC
//! configuration sync ([`xmlrpc`]: a sans-IO handler and merge rules, a hyper + rustls
//! server around it, and the primary's client).
#![forbid(unsafe_code)]

pub mod carp;
pub mod config;
pub mod xmlrpc;
