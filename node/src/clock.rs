//! The node's one wall clock, and how its times are written. Everything that needs
//! the time of day asks here (the sync core and the protocol take it as an argument).

use customs_protocol::Date;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Microseconds since the Unix epoch.
pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// UTC time of a Unix time in microseconds, RFC 3339 with six decimals, as TAXII
/// asks of `date_added` (`2026-11-20T14:03:07.120123Z`).
pub fn rfc3339_us(us: u64) -> String {
    let ms = rfc3339(us / 1000);
    format!("{}{:03}Z", ms.trim_end_matches('Z'), us % 1000)
}

/// UTC time of a Unix time in milliseconds, RFC 3339 (`2026-11-20T14:03:07.120Z`).
pub fn rfc3339(ms: u64) -> String {
    let date = Date::from_unix_ms(ms);
    let in_day = ms % 86_400_000;
    format!(
        "{date}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_795_650_187_120), "2026-11-25T23:43:07.120Z");
        assert_eq!(
            rfc3339_us(1_795_650_187_120_045),
            "2026-11-25T23:43:07.120045Z"
        );
    }
}
