//! The Stepwise server: configuration, start-up, the REST API, the UI's assets and server functions.

pub mod background;
pub mod config;
pub mod events;
pub mod http;
pub mod ovirt;
pub mod site;
pub mod startup;
pub mod telemetry;
