//! Instants are stored and compared as Unix milliseconds (portable across SQLite and
//! PostgreSQL as BIGINT); they are shown to people as RFC 3339.

use ::time::format_description::well_known::Rfc3339;
use ::time::OffsetDateTime;

pub type UnixMillis = i64;

pub fn now_millis() -> UnixMillis {
    let now = OffsetDateTime::now_utc();
    (now.unix_timestamp_nanos() / 1_000_000) as i64
}

/// Now, in microseconds since the Unix epoch (for rate-limit slots).
pub fn now_micros() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000) as i64
}

pub fn to_rfc3339(ms: UnixMillis) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| ms.to_string())
}

pub fn parse_rfc3339(text: &str) -> Option<UnixMillis> {
    let t = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    Some((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// Serde helpers so records keep millis internally and speak RFC 3339 on the wire.
pub mod rfc3339 {
    use super::UnixMillis;
    use serde::Serializer;

    pub fn serialize<S: Serializer>(ms: &UnixMillis, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::to_rfc3339(*ms))
    }

    pub mod option {
        use super::UnixMillis;
        use serde::Serializer;

        pub fn serialize<S: Serializer>(ms: &Option<UnixMillis>, s: S) -> Result<S::Ok, S::Error> {
            match ms {
                Some(ms) => s.serialize_str(&super::super::to_rfc3339(*ms)),
                None => s.serialize_none(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips_millis() {
        let ms = 1_763_888_400_123;
        let text = to_rfc3339(ms);
        assert_eq!(text, "2025-11-23T09:00:00.123Z");
        assert_eq!(parse_rfc3339(&text), Some(ms));
    }

    #[test]
    fn offsets_are_honoured_and_garbage_refused() {
        assert_eq!(
            parse_rfc3339("2025-11-23T10:00:00+01:00"),
            Some(1_763_888_400_000)
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
