//! Where a webhook may be sent. By default only public internet addresses: a webhook URL is
//! user input, and without this a tenant could make the server call its own admin ports,
//! cloud metadata (169.254.169.254) or the operator's private network.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// Addresses that must never be a webhook destination unless the operator allows private
/// targets (loopback, private ranges, link-local, CGNAT, documentation, multicast, …).
pub fn is_non_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_non_public_v4(v4),
        IpAddr::V6(v6) => is_non_public_v6(v6),
    }
}

fn is_non_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240 // reserved
}

fn is_non_public_v6(ip: Ipv6Addr) -> bool {
    let segments = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_non_public_v4(v4);
    }
    let embedded_v4 = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (segments[0] & 0xfe00) == 0xfc00 // unique local
        || (segments[0] & 0xffc0) == 0xfe80 // link-local
        || (segments[0] == 0x2001 && segments[1] == 0x0db8) // documentation
        || (segments[0] == 0x2001 && segments[1] == 0) // Teredo tunnels to arbitrary v4
        || (segments[0] == 0x2002 && is_non_public_v4(embedded_v4(segments[1], segments[2]))) // 6to4
        || (segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0]
            && is_non_public_v4(embedded_v4(segments[6], segments[7]))) // NAT64
        || segments[..6] == [0, 0, 0, 0, 0, 0] // IPv4-compatible (deprecated)
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UrlProblem {
    #[error("must be an absolute URL such as https://example.com/hook")]
    NotAbsolute,
    #[error("must use http or https")]
    Scheme,
    #[error("must not carry a user name or password; use basic_auth instead")]
    Credentials,
    #[error("points to a private, loopback or reserved address; such targets are refused unless the server runs with --allow-private-targets")]
    NonPublic,
}

/// Checks a webhook URL's form and, for IP-literal hosts and `localhost`, its address.
/// Host names are checked again at delivery time by the resolver, since DNS can change.
pub fn check_url(text: &str, allow_private: bool) -> Result<Url, UrlProblem> {
    let url = Url::parse(text).map_err(|_| UrlProblem::NotAbsolute)?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(UrlProblem::Scheme);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlProblem::Credentials);
    }
    let host = url.host().ok_or(UrlProblem::NotAbsolute)?;
    if !allow_private {
        let non_public = match host {
            Host::Ipv4(ip) => is_non_public_v4(ip),
            Host::Ipv6(ip) => is_non_public_v6(ip),
            Host::Domain(name) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                name == "localhost" || name.ends_with(".localhost")
            }
        };
        if non_public {
            return Err(UrlProblem::NonPublic);
        }
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_v4_ranges_are_non_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "0.1.2.3",
            "100.64.0.1",
            "192.0.0.8",
            "198.18.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
        ] {
            assert!(is_non_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "1.1.1.1", "100.128.0.1", "172.32.0.1"] {
            assert!(!is_non_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn v6_ranges_including_v4_embeddings_are_non_public() {
        for ip in [
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "2002:7f00:1::",
            "64:ff9b::a00:1",
            "2001:0:4136:e378::1",
            "::127.0.0.1",
        ] {
            assert!(is_non_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"] {
            assert!(!is_non_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn url_form_is_checked() {
        assert_eq!(
            check_url("example.com/x", false),
            Err(UrlProblem::NotAbsolute)
        );
        assert_eq!(
            check_url("ftp://example.com/x", false),
            Err(UrlProblem::Scheme)
        );
        assert_eq!(
            check_url("https://u:p@example.com/", false),
            Err(UrlProblem::Credentials)
        );
        assert!(check_url("https://example.com/hook?x=1", false).is_ok());
    }

    #[test]
    fn literal_and_obfuscated_private_hosts_are_refused() {
        for url in [
            "http://127.0.0.1:9/",
            "http://2130706433/", // decimal 127.0.0.1
            "http://0x7f.1/",
            "http://[::1]/",
            "http://[::ffff:169.254.169.254]/",
            "http://localhost:8080/",
            "http://api.localhost./",
        ] {
            assert_eq!(check_url(url, false), Err(UrlProblem::NonPublic), "{url}");
            assert!(
                check_url(url, true).is_ok(),
                "{url} allowed when private targets are"
            );
        }
    }
}
