//! Safe to expose: what an attacker, a lower role or a hostile input tries, and that none
//! of it crashes, stalls, fills or robs the server. Loopback only, every bound asserted.

mod at_rest;
mod caps;
mod credentials;
mod disk;
mod floods;
mod job_env;
mod page_headers;
mod redirects;
mod slow_clients;
mod ssrf;
mod templates;
mod viewers;
