//! The integration tests: one crate, so the whole suite links once. Each module is an
//! area of behaviour; `support` holds the harness (servers, receivers, SMTP, Chromium).

mod support;

mod api;
mod audit;
mod bench_smoke;
mod build_hooks;
mod catalog;
mod cli;
mod client;
mod cluster;
mod dashboard;
mod dashboard_notifications;
mod dashboard_operations;
mod delivery;
mod durability;
mod layers;
mod limits;
mod metrics;
mod notifications;
mod openapi;
mod operations;
mod ordering;
mod payloads;
mod recover;
mod retention;
mod security;
mod seed_cli;
mod seed_dashboard;
mod seeds;
mod store;
