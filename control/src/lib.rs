//! rampart's control plane: the pfSense `config.xml` model ([`config`]) and CARP's codec
//! and per-vhid state machine ([`carp`]), both sans-IO; pfSense-compatible XMLRPC
//! configuration sync ([`xmlrpc`]: a sans-IO handler and merge rules, a hyper + rustls
//! server around it, and the primary's client); the control socket ([`ctl`]) and the
//! Prometheus endpoint ([`metrics`]), which serve what the daemon hands them.
#![forbid(unsafe_code)]

pub mod carp;
pub mod config;
pub mod ctl;
pub mod metrics;
pub mod xmlrpc;
