//! hookrelay: durable, signed outgoing webhooks and incoming build hooks, in one binary.
//!
//! Layers, outside in: `cli` → `app` (wiring) → `api` (HTTP edge), `web` (the dashboard,
//! over the API's handlers) and `dispatch` (worker)
//! → `domain` (pure rules) and `store` (database) / `targets` (where calls go).

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
pub mod metrics;
pub mod store;
pub mod targets;
pub mod web;
