//! Where a webhook may be sent. By default only public internet addresses: a webhook URL is
//! user input, and without this a tenant could make the server call its own admin ports,
//! cloud metadata (169.254.169.254) or the operator's private network.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

pub mod special;

/// Addresses that must never be a webhook destination unless the operator allows private
/// targets: every block of the IANA special-purpose registries (see [`special`]).
pub fn is_non_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_non_public_v4(v4),
        IpAddr::V6(v6) => is_non_public_v6(v6),
    }
}

fn is_non_public_v4(ip: Ipv4Addr) -> bool {
    special::v4_block(ip).is_some()
}

fn is_non_public_v6(ip: Ipv6Addr) -> bool {
    // An IPv4 host reached through IPv6 is judged by its IPv4 address.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_non_public_v4(v4);
    }
    let segments = ip.segments();
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let embedded = (u32::from(segments[6]) << 16) | u32::from(segments[7]);
        return is_non_public_v4(Ipv4Addr::from(embedded));
    }
    special::v6_block(ip).is_some()
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

/// Whether two destinations are the same party's: same scheme, host and port. A stored
/// credential is only ever sent to the origin it was entered for.
pub fn same_origin(a: &str, b: &str) -> bool {
    let origin = |text: &str| {
        Url::parse(text).ok().map(|url| {
            (
                url.scheme().to_owned(),
                url.host_str().map(str::to_ascii_lowercase),
                url.port_or_known_default(),
            )
        })
    };
    match (origin(a), origin(b)) {
        (Some(a), Some(b)) => a == b,
        _ => a == b,
    }
}

/// The problems of keeping stored credentials (`kept`, as field paths) while the
/// destination moves from `before` to `after`: each must be entered again.
pub fn credentials_follow(
    before: &str,
    after: &str,
    kept: &[String],
    v: &mut super::validation::Violations,
) {
    // A destination that is no URL gets its own error; the credentials' would be noise.
    if kept.is_empty() || Url::parse(after).is_err() || same_origin(before, after) {
        return;
    }
    for field in kept {
        v.add(
            field.as_str(),
            "must be entered again (or removed): the destination changed, and a stored \
             credential is sent only to the destination it was entered for",
        );
    }
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
            "192.88.99.1",
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
            "fec0::1",
            "64:ff9b:1::a00:1",
            "64:ff9b:1::808:808",
            "::ffff:0:808:808",
            "100::1",
            "2001:10::1",
            "2002:808:808::",
        ] {
            assert!(is_non_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"] {
            assert!(!is_non_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn credentials_stay_with_their_origin() {
        assert!(same_origin(
            "https://a.example/x",
            "https://a.example:443/y?z"
        ));
        assert!(!same_origin("https://a.example/x", "http://a.example/x"));
        assert!(!same_origin(
            "https://a.example/x",
            "https://a.example.evil/x"
        ));
        assert!(same_origin(
            "smtp://Smtp.a.example:587",
            "smtp://smtp.a.example:587"
        ));
        assert!(!same_origin(
            "smtp://smtp.a.example:587",
            "smtp://smtp.evil:587"
        ));
        let mut v = super::super::validation::Violations::default();
        credentials_follow(
            "https://a.example/",
            "https://a.example/other",
            &["basic_auth.password".into()],
            &mut v,
        );
        assert!(v.0.is_empty());
        credentials_follow(
            "https://a.example/",
            "https://evil.example/",
            &["basic_auth.password".into()],
            &mut v,
        );
        assert_eq!(v.0[0].field, "basic_auth.password");
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
