//! rampart's control plane. Today: the pfSense `config.xml` model ([`config`]).
#![forbid(unsafe_code)]

pub mod config;
