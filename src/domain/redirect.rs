//! Where a person may be sent after a form or a sign-in. Both take the target from the
//! request, so both must refuse what would leave the site unintended (`//host`, `/\host`,
//! a tab or newline that browsers strip into `//host`) or what cannot be a `Location`
//! header at all (control characters), before anything is stored.

/// A path of this site: `/…`, visible ASCII only, never `//…` or a backslash.
pub fn local_path(target: &str) -> Option<&str> {
    let visible = target.bytes().all(|b| b.is_ascii_graphic());
    (visible && target.starts_with('/') && !target.starts_with("//") && !target.contains('\\'))
        .then_some(target)
}

/// A path of this site or an absolute http(s) URL, as a `Location` value: the URL as the
/// URL standard serialises it (non-ASCII percent-encoded). `None` when it is neither or
/// holds control characters or spaces.
pub fn path_or_web_url(target: &str) -> Option<String> {
    if let Some(path) = local_path(target) {
        return Some(path.to_owned());
    }
    if target.chars().any(|c| c.is_control() || c == ' ') {
        return None;
    }
    let url = url::Url::parse(target).ok()?;
    matches!(url.scheme(), "http" | "https")
        .then(|| url.to_string())
        .filter(|location| location.bytes().all(|b| b.is_ascii_graphic()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_only_without_control_characters() {
        assert_eq!(local_path("/sites/site_1?x=1"), Some("/sites/site_1?x=1"));
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "/\n/x",
            "/\r\n/x",
            "/\u{1}/x",
            "/\u{7f}/x",
            "/ x",
            "/é",
            "https://evil.example",
            "",
        ] {
            assert_eq!(local_path(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn web_urls_are_normalised_and_others_refused() {
        assert_eq!(
            path_or_web_url("https://example.com/thanks"),
            Some("https://example.com/thanks".into())
        );
        assert_eq!(
            path_or_web_url("https://example.com/dank/é"),
            Some("https://example.com/dank/%C3%A9".into())
        );
        assert_eq!(path_or_web_url("/thanks"), Some("/thanks".into()));
        for bad in [
            "javascript:alert(1)",
            "//evil.example",
            "https://example.com/\r\nSet-Cookie: x=1",
            "https://example.com/\tx",
            "ftp://example.com/",
            "thanks",
        ] {
            assert_eq!(path_or_web_url(bad), None, "{bad:?}");
        }
    }
}
