//! Stepwise's shared crate.
//!
//! * [`domain`] — wire types and parse-don't-validate values; no I/O. Compiled for the browser and the server.
//! * [`service`] — the one service layer (rules and SQL) behind every entry point; server only.
//! * [`api`] — the UI's server functions: authorise, parse, call the service, map.
//! * [`ui`] — the Leptos components of the Tasks pane.

pub mod api;
pub mod domain;
#[cfg(feature = "ssr")]
pub mod service;
pub mod ui;
