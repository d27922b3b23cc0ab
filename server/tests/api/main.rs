//! The REST API against the real server over HTTP and a real, fresh PostgreSQL database per test.

mod helpers;

mod auth;
mod commands;
mod concurrency;
mod events;
mod housekeeping;
mod idempotency;
mod input;
mod jobs;
mod large;
mod list;
mod outage;
mod ovirt_input;
mod ovirt_users;
mod permissions;
mod process;
mod server_fns;
mod steps;
mod tls;
