//! Rate limits for what the public may send (build hook triggers, form posts, sign-ins):
//! a generic cell rate algorithm (GCRA) per key, pure, with the time passed in.
//!
//! A limit `N/period` lets a burst of N through at once, then one every `period / N`:
//! exactly a token bucket of N tokens refilled at N per period, kept as one instant per
//! key (the "theoretical arrival time") instead of a count and a timestamp.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};

use super::time::UnixMillis;

/// `N/period`, e.g. `60/min`: bursts of up to N, N per period sustained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub count: u32,
    pub period_ms: i64,
}

impl RateLimit {
    /// Parses `60/min`, `10/s`, `1000/h` (also `sec`, `second`, `m`, `minute`, `hour`).
    pub fn parse(text: &str) -> Result<RateLimit, String> {
        let bad = || format!("`{text}` is not a rate such as 60/min, 10/s or 1000/h");
        let (count, period) = text.trim().split_once('/').ok_or_else(bad)?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        let period_ms = match period.trim() {
            "s" | "sec" | "second" => 1_000,
            "m" | "min" | "minute" => 60_000,
            "h" | "hour" => 3_600_000,
            _ => return Err(bad()),
        };
        if count == 0 {
            return Err(format!("`{text}`: the count must be at least 1"));
        }
        Ok(RateLimit { count, period_ms })
    }

    /// Microseconds between two requests at the sustained rate.
    fn interval_us(self) -> i64 {
        (self.period_ms * 1_000 / i64::from(self.count)).max(1)
    }
}

impl std::fmt::Display for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let unit = match self.period_ms {
            1_000 => "s",
            60_000 => "min",
            _ => "h",
        };
        write!(f, "{}/{unit}", self.count)
    }
}

/// The limits, as configured (`--hook-rate-per-site`, …).
#[derive(Debug, Clone, Copy)]
pub struct PublicRates {
    pub hooks_per_site: RateLimit,
    pub hooks_per_client: RateLimit,
    pub forms_per_site: RateLimit,
    pub forms_per_client: RateLimit,
    pub sign_ins_per_client: RateLimit,
}

/// Whose requests count together: an IPv4 address, or an IPv6 address's /64 (one
/// subscriber's network: anyone with one address of it has all 2^64).
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

/// Keys tracked at most; past it, keys whose bucket is full again are forgotten first.
pub const MAX_KEYS: usize = 100_000;

/// The state of one limit over many keys (sites, client addresses).
#[derive(Debug)]
pub struct Limiter<K> {
    limit: RateLimit,
    /// Per key: when its bucket will be full again (µs).
    full_at: HashMap<K, i64>,
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    pub fn new(limit: RateLimit) -> Self {
        Limiter {
            limit,
            full_at: HashMap::new(),
        }
    }

    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    /// Takes one from `key`'s bucket at `now`: `Ok` if allowed, else how many ms until
    /// one is (for `Retry-After`).
    pub fn check(&mut self, key: &K, now: UnixMillis) -> Result<(), i64> {
        let now = now.saturating_mul(1_000);
        let interval = self.limit.interval_us();
        let burst = interval * i64::from(self.limit.count);
        if self.full_at.len() >= MAX_KEYS && !self.full_at.contains_key(key) {
            self.full_at.retain(|_, full| *full > now);
            if self.full_at.len() >= MAX_KEYS {
                // Every key is busy: forget them all rather than grow without bound (the
                // limit is briefly lenient, memory stays flat).
                self.full_at.clear();
            }
        }
        let full = self.full_at.get(key).copied().unwrap_or(now).max(now);
        let after = full + interval;
        if after - now > burst {
            let wait_us = after - burst - now;
            return Err((wait_us + 999) / 1_000);
        }
        self.full_at.insert(key.clone(), after);
        Ok(())
    }

    pub fn tracked(&self) -> usize {
        self.full_at.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_and_print() {
        assert_eq!(
            RateLimit::parse("60/min"),
            Ok(RateLimit {
                count: 60,
                period_ms: 60_000
            })
        );
        assert_eq!(RateLimit::parse("10/s").unwrap().to_string(), "10/s");
        assert_eq!(RateLimit::parse(" 5 / hour ").unwrap().to_string(), "5/h");
        for bad in ["", "60", "x/min", "0/s", "5/day", "-1/s"] {
            assert!(RateLimit::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_burst_passes_then_one_per_interval() {
        let mut limiter = Limiter::new(RateLimit::parse("3/s").unwrap());
        let key = "site";
        for _ in 0..3 {
            assert_eq!(limiter.check(&key, 1_000), Ok(()));
        }
        let wait = limiter.check(&key, 1_000).unwrap_err();
        assert_eq!(wait, 334, "a third of a second until one more");
        assert!(limiter.check(&key, 1_000 + 333).is_err());
        assert_eq!(limiter.check(&key, 1_000 + 334), Ok(()));
        // Other keys have buckets of their own.
        assert_eq!(limiter.check(&"other", 1_000), Ok(()));
        // A long pause fills the bucket again, but not beyond the burst.
        for _ in 0..3 {
            assert_eq!(limiter.check(&key, 60_000), Ok(()));
        }
        assert!(limiter.check(&key, 60_000).is_err());
    }

    #[test]
    fn clients_are_an_ipv4_address_or_an_ipv6_network() {
        let key = |s: &str| client_key(s.parse().unwrap()).to_string();
        assert_eq!(key("203.0.113.7"), "203.0.113.7");
        assert_eq!(key("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(key("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::");
        assert_eq!(key("2001:db8:1:2:ffff::1"), "2001:db8:1:2::");
    }

    #[test]
    fn memory_stays_bounded_under_many_keys() {
        let mut limiter = Limiter::new(RateLimit::parse("1/h").unwrap());
        for i in 0..(MAX_KEYS + 10) {
            let _ = limiter.check(&i, 0);
        }
        assert!(limiter.tracked() <= MAX_KEYS);
    }
}
