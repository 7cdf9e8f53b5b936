//! Pure domain logic: no I/O, no clocks, no randomness except where passed in.
//! Everything here is unit-tested in place.

pub mod activity;
pub mod call;
pub mod catalog;
pub mod destination;
pub mod event;
pub mod hook;
pub mod ids;
pub mod job;
pub mod operator;
pub mod ordering;
pub mod rate;
pub mod redact;
pub mod redirect;
pub mod retry;
pub mod sealed;
pub mod signing;
pub mod site;
pub mod site_hooks;
pub mod targets;
pub mod template;
pub mod time;
pub mod token;
pub mod trigger;
pub mod validation;
pub mod verify;
pub mod webhook;
