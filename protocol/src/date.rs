//! Calendar dates (`YYYY-MM-DD`), without time zones: a seizure's detection date, a
//! status's effective date. Encoded as year, month, day.

use std::fmt;
use std::str::FromStr;

use bincode::{Decode, Encode};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Rule;
use crate::limits::{MAX_YEAR, MIN_YEAR};

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct Date {
    pub year: u16,
    pub month: u8,
    pub day: u8,
}

/// The text is not of the form `YYYY-MM-DD`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("date {0:?} must have the form YYYY-MM-DD")]
pub struct DateShapeError(pub String);

impl Date {
    pub const fn new(year: u16, month: u8, day: u8) -> Self {
        Date { year, month, day }
    }

    /// Whether this is a real calendar day within the supported years.
    pub fn check(&self) -> Result<(), Rule> {
        let in_range = (MIN_YEAR..=MAX_YEAR).contains(&self.year)
            && (1..=12).contains(&self.month)
            && self.day >= 1
            && self.day <= days_in_month(self.year, self.month);
        if in_range {
            Ok(())
        } else {
            Err(Rule::InvalidDate {
                value: self.to_string(),
            })
        }
    }

    /// Parses `YYYY-MM-DD` and checks that it is a calendar date.
    pub fn parse_valid(text: &str) -> Result<Self, Rule> {
        let date = text.parse::<Date>().map_err(|_| Rule::InvalidDate {
            value: text.to_string(),
        })?;
        date.check()?;
        Ok(date)
    }

    /// The UTC calendar date of a Unix time in milliseconds.
    pub fn from_unix_ms(ms: u64) -> Self {
        civil_from_days((ms / 86_400_000) as i64)
    }

    /// Days since 1970-01-01 (negative before).
    pub fn days_since_epoch(&self) -> i64 {
        days_from_civil(self.year as i64, self.month as i64, self.day as i64)
    }
}

fn is_leap(year: u16) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

// Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian calendar).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> Date {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    Date {
        year: year.clamp(0, u16::MAX as i64) as u16,
        month: month as u8,
        day: day as u8,
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl fmt::Debug for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Date({self})")
    }
}

/// Parses the shape `YYYY-MM-DD` only; [`Date::check`] says whether the day exists.
impl FromStr for Date {
    type Err = DateShapeError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let b = text.as_bytes();
        let digits = |range: std::ops::Range<usize>| -> Option<u16> {
            let part = b.get(range)?;
            part.iter().try_fold(0u16, |acc, &c| {
                c.is_ascii_digit().then(|| acc * 10 + u16::from(c - b'0'))
            })
        };
        let shape_error = || DateShapeError(text.to_string());
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(shape_error());
        }
        let year = digits(0..4).ok_or_else(shape_error)?;
        let month = digits(5..7).ok_or_else(shape_error)? as u8;
        let day = digits(8..10).ok_or_else(shape_error)? as u8;
        Ok(Date { year, month, day })
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A UTC instant to the second, written `YYYY-MM-DDTHH:MM:SSZ` (RFC 3339, UTC only):
/// a consignment's expected arrival. Encoded as Unix seconds.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct Timestamp(pub i64);

/// The text is not a UTC time of the form `YYYY-MM-DDTHH:MM:SSZ`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("time {0:?} must be a UTC time of the form YYYY-MM-DDTHH:MM:SSZ")]
pub struct TimestampShapeError(pub String);

impl Timestamp {
    pub fn date(&self) -> Date {
        civil_from_days(self.0.div_euclid(86_400))
    }

    pub fn unix_ms(&self) -> i64 {
        self.0.saturating_mul(1000)
    }

    /// Whether its date is a real day within the supported years.
    pub fn check(&self) -> Result<(), Rule> {
        self.date().check().map_err(|_| Rule::InvalidDate {
            value: self.to_string(),
        })
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = self.0.rem_euclid(86_400);
        write!(
            f,
            "{}T{:02}:{:02}:{:02}Z",
            self.date(),
            seconds / 3600,
            seconds / 60 % 60,
            seconds % 60
        )
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

impl FromStr for Timestamp {
    type Err = TimestampShapeError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let shape_error = || TimestampShapeError(text.to_string());
        let b = text.as_bytes();
        if b.len() != 20 || b[10] != b'T' || b[13] != b':' || b[16] != b':' || b[19] != b'Z' {
            return Err(shape_error());
        }
        let date: Date = text[..10].parse().map_err(|_| shape_error())?;
        date.check().map_err(|_| shape_error())?;
        let two = |at: usize| -> Option<i64> {
            let (h, l) = (b[at], b[at + 1]);
            (h.is_ascii_digit() && l.is_ascii_digit())
                .then(|| i64::from(h - b'0') * 10 + i64::from(l - b'0'))
        };
        let (hour, minute, second) = (
            two(11).ok_or_else(shape_error)?,
            two(14).ok_or_else(shape_error)?,
            two(17).ok_or_else(shape_error)?,
        );
        if hour > 23 || minute > 59 || second > 59 {
            return Err(shape_error());
        }
        Ok(Timestamp(
            date.days_since_epoch() * 86_400 + hour * 3600 + minute * 60 + second,
        ))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_and_refuse_other_shapes() {
        let t: Timestamp = "2027-01-15T08:00:00Z".parse().expect("parses");
        assert_eq!(t.to_string(), "2027-01-15T08:00:00Z");
        assert_eq!(t.date(), Date::new(2027, 1, 15));
        assert_eq!(
            t.0, 1_800_000_000,
            "as date -d 2027-01-15T08:00:00Z +%s says"
        );
        assert_eq!(t.unix_ms(), 1_800_000_000_000);
        for bad in [
            "2027-01-15 08:00:00Z",
            "2027-01-15T08:00:00+01:00",
            "2027-02-30T08:00:00Z",
            "2027-01-15T24:00:00Z",
            "2027-01-15T08:00Z",
        ] {
            assert!(bad.parse::<Timestamp>().is_err(), "{bad}");
        }
    }

    #[test]
    fn calendar_rules() {
        assert!(
            Date::parse_valid("2024-02-29").is_ok(),
            "2024 is a leap year"
        );
        assert!(
            Date::parse_valid("2000-02-29").is_ok(),
            "2000 is a leap year"
        );
        assert!(Date::parse_valid("1900-02-29").is_err(), "1900 is not");
        assert!(Date::parse_valid("2026-02-29").is_err());
        assert!(Date::parse_valid("2026-04-31").is_err());
        assert!(Date::parse_valid("2026-13-01").is_err());
        assert!(Date::parse_valid("2026-00-10").is_err());
        assert!(Date::parse_valid("2026-01-00").is_err());
        assert!(
            Date::parse_valid("1899-12-31").is_err(),
            "before the supported range"
        );
        assert!(Date::parse_valid("2026-12-31").is_ok());
    }

    #[test]
    fn shape_rules() {
        for bad in [
            "2026-1-05",
            "26-01-05",
            "2026/01/05",
            "2026-01-05T00",
            "",
            "２０２６-01-05",
        ] {
            assert!(bad.parse::<Date>().is_err(), "{bad:?} must not parse");
        }
        assert_eq!("2026-11-20".parse::<Date>(), Ok(Date::new(2026, 11, 20)));
    }

    #[test]
    fn unix_ms_conversion() {
        assert_eq!(Date::from_unix_ms(0), Date::new(1970, 1, 1));
        // 2026-11-28T01:50:00Z
        assert_eq!(
            Date::from_unix_ms(1_795_830_600_000),
            Date::new(2026, 11, 28)
        );
        assert_eq!(Date::new(2026, 11, 28).days_since_epoch(), 20_785);
        assert_eq!(Date::new(1970, 1, 1).days_since_epoch(), 0);
    }

    #[test]
    fn order_is_chronological() {
        assert!(Date::new(2026, 1, 31) < Date::new(2026, 2, 1));
        assert!(Date::new(2025, 12, 31) < Date::new(2026, 1, 1));
    }
}
