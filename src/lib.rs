//! hookrelay: durable, signed outgoing webhooks and incoming build hooks, in one binary.
//!
//! Layers, outside in (each imports only those below it; `tests/it/layers.rs` checks):
//! `cli` → `app` (wiring: the router, the listener, tasks) → `web` (the dashboard) and
//! `forms` (the public form endpoint) → `api` (the HTTP edge) → `dispatch` (the delivery
//! worker) and `jobs` (the job runner) → `targets` (delivery to each kind of destination)
//! → `store` (the database) → `domain` (pure rules) and `metric_names` (a leaf). See
//! ARCHITECTURE.md.

pub mod api;
pub mod app;
pub mod bench;
pub mod cli;
pub mod client;
pub mod config;
pub mod dispatch;
pub mod domain;
pub mod forms;
pub mod jobs;
pub mod metric_names;
pub mod metrics;
pub mod store;
pub mod targets;
pub mod web;
