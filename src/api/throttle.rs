//! Rate limits on what anyone may send without a token: build hook triggers, form posts
//! and sign-ins, per site and per client address. A site id is public (it is in form HTML
//! and in every call's `x-site-id`), so without these one script could fill the disk
//! through a site's forms or its site-id hooks. The excess is answered 429 with
//! `Retry-After`, before anything is stored.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Mutex;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::StatusCode;

use super::problem::ApiError;
use super::AppState;
use crate::domain::rate::{client_key, Limiter, PublicRates, RateLimit};
use crate::domain::time::now_millis;

/// What a public request does, each with limits of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Public {
    HookTrigger,
    FormPost,
    SignIn,
}

pub struct Throttle {
    rates: PublicRates,
    per_site: Mutex<[Limiter<String>; 2]>,
    per_client: Mutex<[Limiter<IpAddr>; 3]>,
}

/// A refusal: 429 naming the limit, with `Retry-After`.
pub struct Throttled {
    detail: String,
    retry_after_s: i64,
}

impl From<Throttled> for ApiError {
    fn from(t: Throttled) -> Self {
        ApiError::new(StatusCode::TOO_MANY_REQUESTS, t.detail)
            .retry_after(t.retry_after_s.max(1) as u64)
    }
}

impl Throttle {
    pub fn new(rates: PublicRates) -> Self {
        Throttle {
            rates,
            per_site: Mutex::new([
                Limiter::new(rates.hooks_per_site),
                Limiter::new(rates.forms_per_site),
            ]),
            per_client: Mutex::new([
                Limiter::new(rates.hooks_per_client),
                Limiter::new(rates.forms_per_client),
                Limiter::new(rates.sign_ins_per_client),
            ]),
        }
    }

    pub fn rates(&self) -> PublicRates {
        self.rates
    }

    /// Counts one request of `what` for `site` (when it has one) from `client`. The client
    /// is checked first, so one noisy client cannot use up a site's share.
    pub fn check(
        &self,
        what: Public,
        site: Option<&str>,
        client: ClientAddr,
    ) -> Result<(), Throttled> {
        let now = now_millis();
        let (client_index, site_index, noun) = match what {
            Public::HookTrigger => (0, Some(0), "build hook triggers"),
            Public::FormPost => (1, Some(1), "form submissions"),
            Public::SignIn => (2, None, "sign-in attempts"),
        };
        let refuse = |limit: RateLimit, whose: &str, flag: &str, wait_ms: i64| {
            metrics::counter!(crate::metric_names::REQUESTS_THROTTLED, "what" => noun).increment(1);
            Throttled {
                detail: format!(
                    "too many {noun} {whose}: at most {limit} ({flag}); retry in {} s",
                    (wait_ms + 999) / 1000
                ),
                retry_after_s: (wait_ms + 999) / 1000,
            }
        };
        {
            let mut limiters = self.per_client.lock().expect("throttle lock");
            let limiter = &mut limiters[client_index];
            if let Err(wait) = limiter.check(&client.0, now) {
                let flag = match what {
                    Public::HookTrigger => "--hook-rate-per-client",
                    Public::FormPost => "--form-rate-per-client",
                    Public::SignIn => "--sign-in-rate-per-client",
                };
                return Err(refuse(limiter.limit(), "from your address", flag, wait));
            }
        }
        if let (Some(index), Some(site)) = (site_index, site) {
            let mut limiters = self.per_site.lock().expect("throttle lock");
            let limiter = &mut limiters[index];
            if let Err(wait) = limiter.check(&site.to_owned(), now) {
                let flag = if index == 0 {
                    "--hook-rate-per-site"
                } else {
                    "--form-rate-per-site"
                };
                return Err(refuse(limiter.limit(), "for this site", flag, wait));
            }
        }
        Ok(())
    }
}

/// The client a request comes from, as a rate-limit key: the peer address, or with
/// `--trust-forwarded-for` the last `X-Forwarded-For` entry (the one your proxy added).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let forwarded = state.trust_forwarded_for.then(|| {
            parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .next_back()
                .and_then(|last| last.trim().parse::<IpAddr>().ok())
        });
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        let ip = forwarded
            .flatten()
            .or(peer)
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        Ok(ClientAddr(client_key(ip)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rates(text: &str) -> PublicRates {
        let r = RateLimit::parse(text).unwrap();
        PublicRates {
            hooks_per_site: r,
            hooks_per_client: RateLimit::parse("100/s").unwrap(),
            forms_per_site: r,
            forms_per_client: r,
            sign_ins_per_client: r,
        }
    }

    #[test]
    fn sites_and_clients_have_their_own_buckets() {
        let throttle = Throttle::new(rates("2/min"));
        let a = ClientAddr("203.0.113.1".parse().unwrap());
        let b = ClientAddr("203.0.113.2".parse().unwrap());
        assert!(throttle.check(Public::HookTrigger, Some("s1"), a).is_ok());
        assert!(throttle.check(Public::HookTrigger, Some("s1"), b).is_ok());
        let refused = throttle
            .check(Public::HookTrigger, Some("s1"), a)
            .expect_err("the site's share is used up");
        assert!(
            refused.detail.contains("for this site"),
            "{}",
            refused.detail
        );
        assert!(refused.detail.contains("--hook-rate-per-site"));
        assert_eq!(refused.retry_after_s, 30);
        assert!(throttle.check(Public::HookTrigger, Some("s2"), a).is_ok());
        // Forms count apart from hooks; the client limit applies first.
        assert!(throttle.check(Public::FormPost, Some("s1"), a).is_ok());
        assert!(throttle.check(Public::FormPost, Some("s2"), a).is_ok());
        let refused = throttle.check(Public::FormPost, Some("s3"), a).unwrap_err();
        assert!(
            refused.detail.contains("from your address"),
            "{}",
            refused.detail
        );
    }
}
