//! Code lists and identifier rules: countries, units, HS codes, UN/LOCODEs, container
//! numbers (ISO 6346), IMO ship numbers, flights, vehicles, amounts. Each check returns
//! the [`Rule`] that the value breaks.

use std::fmt;

use bincode::{Decode, Encode};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Rule;
use crate::limits::{MAX_AMOUNT_FRACTION_DIGITS, MAX_AMOUNT_INTEGER_DIGITS, MAX_VEHICLE_BYTES};

/// The 249 officially assigned ISO 3166-1 alpha-2 codes (ISO 3166 Maintenance Agency).
pub const ISO_3166_ALPHA2: [&str; 249] = [
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
];

/// User-assigned codes accepted as countries: XK (Kosovo), as used by the European
/// Commission and in customs declarations.
pub const ACCEPTED_USER_ASSIGNED: [&str; 1] = ["XK"];

/// Whether `code` is an accepted ISO 3166-1 alpha-2 country code (uppercase).
pub fn is_country(code: &str) -> bool {
    ISO_3166_ALPHA2.binary_search(&code).is_ok() || ACCEPTED_USER_ASSIGNED.contains(&code)
}

/// An ISO 3166-1 alpha-2 country code. Encoded as its two ASCII bytes. Parsing
/// (serde) checks the shape (two letters A-Z); [`Country::check`] checks the list.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct Country(pub [u8; 2]);

impl Country {
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("??")
    }

    pub fn check(&self) -> Result<(), Rule> {
        let text = self.as_str();
        if self.0.iter().all(u8::is_ascii_uppercase) && is_country(text) {
            Ok(())
        } else {
            Err(Rule::UnknownCountry {
                value: String::from_utf8_lossy(&self.0).into_owned(),
            })
        }
    }

    /// Parses the shape only: two ASCII uppercase letters.
    pub fn parse_shape(text: &str) -> Option<Self> {
        let b = text.as_bytes();
        (b.len() == 2 && b.iter().all(u8::is_ascii_uppercase)).then(|| Country([b[0], b[1]]))
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

impl fmt::Debug for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Country({self})")
    }
}

impl Serialize for Country {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Country {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Country::parse_shape(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "country {text:?} must be two uppercase letters (ISO 3166-1 alpha-2)"
            ))
        })
    }
}

/// The subset of UN/ECE Recommendation 20 unit codes accepted for quantities.
/// Adding a unit is a protocol change (a new tag at the end).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Encode, Decode, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Unit {
    /// kilogram
    #[serde(rename = "KGM")]
    Kgm,
    /// gram
    #[serde(rename = "GRM")]
    Grm,
    /// milligram
    #[serde(rename = "MGM")]
    Mgm,
    /// tonne (metric ton)
    #[serde(rename = "TNE")]
    Tne,
    /// litre
    #[serde(rename = "LTR")]
    Ltr,
    /// millilitre
    #[serde(rename = "MLT")]
    Mlt,
    /// litre of pure alcohol
    #[serde(rename = "LPA")]
    Lpa,
    /// cubic metre
    #[serde(rename = "MTQ")]
    Mtq,
    /// square metre
    #[serde(rename = "MTK")]
    Mtk,
    /// metre
    #[serde(rename = "MTR")]
    Mtr,
    /// piece
    #[serde(rename = "H87")]
    H87,
    /// one (a count)
    #[serde(rename = "C62")]
    C62,
    /// number of articles
    #[serde(rename = "NAR")]
    Nar,
    /// pair
    #[serde(rename = "PR")]
    Pr,
    /// number of pairs
    #[serde(rename = "NPR")]
    Npr,
    /// set
    #[serde(rename = "SET")]
    Set,
    /// dozen
    #[serde(rename = "DZN")]
    Dzn,
    /// thousand (e.g. cigarettes)
    #[serde(rename = "MIL")]
    Mil,
    /// metric carat
    #[serde(rename = "CTM")]
    Ctm,
}

impl Unit {
    pub const ALL: [Unit; 19] = [
        Unit::Kgm,
        Unit::Grm,
        Unit::Mgm,
        Unit::Tne,
        Unit::Ltr,
        Unit::Mlt,
        Unit::Lpa,
        Unit::Mtq,
        Unit::Mtk,
        Unit::Mtr,
        Unit::H87,
        Unit::C62,
        Unit::Nar,
        Unit::Pr,
        Unit::Npr,
        Unit::Set,
        Unit::Dzn,
        Unit::Mil,
        Unit::Ctm,
    ];

    /// The Rec. 20 common code.
    pub fn code(&self) -> &'static str {
        match self {
            Unit::Kgm => "KGM",
            Unit::Grm => "GRM",
            Unit::Mgm => "MGM",
            Unit::Tne => "TNE",
            Unit::Ltr => "LTR",
            Unit::Mlt => "MLT",
            Unit::Lpa => "LPA",
            Unit::Mtq => "MTQ",
            Unit::Mtk => "MTK",
            Unit::Mtr => "MTR",
            Unit::H87 => "H87",
            Unit::C62 => "C62",
            Unit::Nar => "NAR",
            Unit::Pr => "PR",
            Unit::Npr => "NPR",
            Unit::Set => "SET",
            Unit::Dzn => "DZN",
            Unit::Mil => "MIL",
            Unit::Ctm => "CTM",
        }
    }
}

/// HS code: 6 to 10 digits, the first two naming an existing chapter (01-97, not 77).
pub fn check_hs_code(value: &str) -> Result<(), Rule> {
    let b = value.as_bytes();
    if !(6..=10).contains(&b.len()) || !b.iter().all(u8::is_ascii_digit) {
        return Err(Rule::HsCodeFormat {
            value: value.to_string(),
        });
    }
    let chapter = (b[0] - b'0') * 10 + (b[1] - b'0');
    if chapter == 0 || chapter > 97 || chapter == 77 {
        return Err(Rule::HsChapter {
            value: value.to_string(),
            chapter: value[..2].to_string(),
        });
    }
    Ok(())
}

/// UN/LOCODE: a country code and three characters of A-Z and 2-9 (the code list
/// avoids 0 and 1, which read like O and I).
pub fn check_unlocode(value: &str) -> Result<(), Rule> {
    let b = value.as_bytes();
    let location_ok = |c: &u8| c.is_ascii_uppercase() || (b'2'..=b'9').contains(c);
    if b.len() != 5 || !b[..2].iter().all(u8::is_ascii_uppercase) || !b[2..].iter().all(location_ok)
    {
        return Err(Rule::UnLocodeFormat {
            value: value.to_string(),
        });
    }
    if !is_country(&value[..2]) {
        return Err(Rule::UnLocodeCountry {
            value: value.to_string(),
            country: value[..2].to_string(),
        });
    }
    Ok(())
}

/// ISO 6346 letter values: A = 10, then counting up but skipping multiples of 11.
fn iso6346_letter_value(letter: u8) -> u32 {
    let mut value = 10;
    for _ in b'A'..letter {
        value += 1;
        if value % 11 == 0 {
            value += 1;
        }
    }
    value
}

/// The ISO 6346 check digit of the first 10 characters of a container number.
pub fn iso6346_check_digit(first_ten: &[u8; 10]) -> u8 {
    let sum: u32 = first_ten
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let value = if c.is_ascii_digit() {
                u32::from(c - b'0')
            } else {
                iso6346_letter_value(c)
            };
            value << i
        })
        .sum();
    ((sum % 11) % 10) as u8
}

/// ISO 6346 container number: owner code (3 letters), category (U, J or Z), serial
/// (6 digits), check digit.
pub fn check_container(value: &str) -> Result<(), Rule> {
    let b = value.as_bytes();
    let shape_ok = b.len() == 11
        && b[..3].iter().all(u8::is_ascii_uppercase)
        && matches!(b[3], b'U' | b'J' | b'Z')
        && b[4..].iter().all(u8::is_ascii_digit);
    if !shape_ok {
        return Err(Rule::ContainerFormat {
            value: value.to_string(),
        });
    }
    let mut first_ten = [0u8; 10];
    first_ten.copy_from_slice(&b[..10]);
    let expected = iso6346_check_digit(&first_ten);
    let found = b[10] - b'0';
    if expected != found {
        return Err(Rule::ContainerCheckDigit {
            value: value.to_string(),
            expected,
            found,
        });
    }
    Ok(())
}

/// IMO ship identification number: 7 digits; the last is the sum of the first six
/// weighted 7, 6, 5, 4, 3, 2, modulo 10.
pub fn check_imo(value: &str) -> Result<(), Rule> {
    let b = value.as_bytes();
    if b.len() != 7 || !b.iter().all(u8::is_ascii_digit) {
        return Err(Rule::ImoFormat {
            value: value.to_string(),
        });
    }
    let sum: u32 = b[..6]
        .iter()
        .zip((2..=7).rev())
        .map(|(&c, weight)| u32::from(c - b'0') * weight)
        .sum();
    let expected = (sum % 10) as u8;
    let found = b[6] - b'0';
    if expected != found {
        return Err(Rule::ImoCheckDigit {
            value: value.to_string(),
            expected,
            found,
        });
    }
    Ok(())
}

/// Flight number: an IATA airline designator (2 characters of A-Z/0-9, not both
/// digits) or an ICAO one (3 letters), then 1 to 4 digits and an optional letter.
pub fn check_flight(value: &str) -> Result<(), Rule> {
    let b = value.as_bytes();
    let error = || Rule::FlightFormat {
        value: value.to_string(),
    };
    let alnum = |c: &u8| c.is_ascii_uppercase() || c.is_ascii_digit();
    let designator_len = if b.len() >= 3 && b[..3].iter().all(u8::is_ascii_uppercase) {
        3
    } else if b.len() >= 2 && b[..2].iter().all(alnum) && !b[..2].iter().all(u8::is_ascii_digit) {
        2
    } else {
        return Err(error());
    };
    let rest = &b[designator_len..];
    let digits = match rest.last() {
        Some(c) if c.is_ascii_uppercase() => &rest[..rest.len() - 1],
        _ => rest,
    };
    if !(1..=4).contains(&digits.len()) || !digits.iter().all(u8::is_ascii_digit) {
        return Err(error());
    }
    Ok(())
}

/// Vehicle registration: 1 to 16 characters of A-Z, 0-9, space and '-'.
pub fn check_vehicle(value: &str) -> Result<(), Rule> {
    let ok = !value.is_empty()
        && value.len() <= MAX_VEHICLE_BYTES
        && value
            .bytes()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b' ' || c == b'-');
    if ok {
        Ok(())
    } else {
        Err(Rule::VehicleFormat {
            value: value.to_string(),
        })
    }
}

/// A positive decimal amount written without exponent, sign or leading zeros:
/// `125.5`, `0.25`, `3000`.
pub fn check_amount(value: &str) -> Result<(), Rule> {
    let error = || Rule::Amount {
        value: value.to_string(),
    };
    let (integer, fraction) = match value.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (value, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    if !all_digits(integer)
        || integer.len() > MAX_AMOUNT_INTEGER_DIGITS
        || (integer.len() > 1 && integer.starts_with('0'))
    {
        return Err(error());
    }
    if let Some(fraction) = fraction {
        if !all_digits(fraction) || fraction.len() > MAX_AMOUNT_FRACTION_DIGITS {
            return Err(error());
        }
    }
    let is_zero = value.bytes().all(|c| c == b'0' || c == b'.');
    if is_zero {
        return Err(error());
    }
    Ok(())
}

/// An administration's case reference: 1 to 64 characters of A-Z, a-z, 0-9 and
/// `- / . _`. (Publishing and `GET /api/v1/check` both apply exactly this.)
pub fn check_reference(value: &str) -> Result<(), Rule> {
    if value.is_empty() {
        return Err(Rule::Empty);
    }
    if value.len() > crate::limits::MAX_REFERENCE_BYTES {
        return Err(Rule::TooLong {
            len: value.len(),
            max: crate::limits::MAX_REFERENCE_BYTES,
        });
    }
    let ok = value
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'/' | b'.' | b'_'));
    if ok {
        Ok(())
    } else {
        Err(Rule::Reference {
            value: value.to_string(),
        })
    }
}

/// Operator id in the TCUI/EORI shape: a country code and 1 to 15 characters of A-Z
/// and 0-9.
pub fn check_operator_id(value: &str) -> Result<(), Rule> {
    let b = value.as_bytes();
    let ok = b.len() >= 3
        && b.len() <= 2 + crate::limits::MAX_OPERATOR_ID_SUFFIX
        && b[..2].iter().all(u8::is_ascii_uppercase)
        && b[2..]
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if !ok {
        return Err(Rule::OperatorIdFormat {
            value: value.to_string(),
        });
    }
    if !is_country(&value[..2]) {
        return Err(Rule::OperatorIdCountry {
            value: value.to_string(),
            country: value[..2].to_string(),
        });
    }
    Ok(())
}

/// ISO 4217 alphabetic codes of current currencies and funds (precious metals and the
/// testing and "no currency" codes excluded), sorted.
const ISO_4217: [&str; 170] = [
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD",
    "CAD", "CDF", "CHE", "CHF", "CHW", "CLF", "CLP", "CNY", "COP", "COU", "CRC", "CUC", "CUP",
    "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP",
    "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS",
    "INR", "IQD", "IRR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW",
    "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD",
    "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN",
    "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR",
    "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SLL",
    "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY",
    "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "USN", "UYI", "UYU", "UYW", "UZS", "VED", "VES",
    "VND", "VUV", "WST", "XAF", "XCD", "XCG", "XDR", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG",
    "ZWL",
];

/// An ISO 4217 currency code, e.g. EUR.
pub fn check_currency(value: &str) -> Result<(), Rule> {
    if ISO_4217.binary_search(&value).is_ok() {
        Ok(())
    } else {
        Err(Rule::UnknownCurrency {
            value: value.to_string(),
        })
    }
}

/// IATA air waybill number: a 3-digit airline prefix and an 8-digit serial whose last
/// digit is the first seven modulo 7 (a hyphen after the prefix is not part of it).
pub fn check_air_waybill(value: &str) -> Result<(), Rule> {
    let b = value.as_bytes();
    if b.len() != 11 || !b.iter().all(u8::is_ascii_digit) {
        return Err(Rule::AirWaybillFormat {
            value: value.to_string(),
        });
    }
    let serial: u32 = value[3..10].parse().unwrap_or(0);
    let expected = (serial % 7) as u8;
    let found = b[10] - b'0';
    if expected != found {
        return Err(Rule::AirWaybillCheckDigit {
            value: value.to_string(),
            expected,
            found,
        });
    }
    Ok(())
}

/// Movement reference number (EU customs, 18 characters): 2 digits of the year, the
/// declaring country, 13 characters of A-Z and 0-9, and a check character computed as
/// ISO 6346 does over the first 17 (a result of 10 gives 0).
pub fn check_mrn(value: &str) -> Result<(), Rule> {
    let b = value.as_bytes();
    let shape_ok = b.len() == 18
        && b[..2].iter().all(u8::is_ascii_digit)
        && b[2..4].iter().all(u8::is_ascii_uppercase)
        && b[4..]
            .iter()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase());
    if !shape_ok {
        return Err(Rule::MrnFormat {
            value: value.to_string(),
        });
    }
    let country = &value[2..4];
    if !is_country(country) {
        return Err(Rule::MrnFormat {
            value: value.to_string(),
        });
    }
    let sum: u64 = b[..17]
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let v = if c.is_ascii_digit() {
                u64::from(c - b'0')
            } else {
                u64::from(iso6346_letter_value(c))
            };
            v << i
        })
        .sum();
    let digit = (sum % 11 % 10) as u8;
    let expected = (b'0' + digit) as char;
    let found = b[17] as char;
    if expected != found {
        return Err(Rule::MrnCheckDigit {
            value: value.to_string(),
            expected,
            found,
        });
    }
    Ok(())
}

/// A transport document or voyage number: 1 to `max` characters of A-Z, 0-9, `/`
/// and `-`.
pub fn check_document_number(value: &str, max: usize) -> Result<(), Rule> {
    let ok = !value.is_empty()
        && value.len() <= max
        && value
            .bytes()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'/' || c == b'-');
    if ok {
        Ok(())
    } else {
        Err(Rule::DocumentNumber {
            value: value.to_string(),
            max,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn country_list_is_sorted_unique_and_complete() {
        assert_eq!(ISO_3166_ALPHA2.len(), 249);
        assert!(ISO_3166_ALPHA2.windows(2).all(|w| w[0] < w[1]));
        for code in [
            "NL", "BE", "DE", "EC", "PA", "US", "CN", "JP", "XK", "SS", "BQ",
        ] {
            assert!(is_country(code), "{code}");
        }
        // Shaped like codes but not countries: EU (a union), UK (exceptionally
        // reserved; the code is GB), ZZ, AA.
        for code in ["EU", "UK", "ZZ", "AA", "nl", "N", "NLD"] {
            assert!(!is_country(code), "{code}");
        }
    }

    #[test]
    fn country_check_and_shape() {
        assert_eq!(Country::parse_shape("NL").map(|c| c.check()), Some(Ok(())));
        assert!(matches!(
            Country::parse_shape("QQ").map(|c| c.check()),
            Some(Err(Rule::UnknownCountry { .. }))
        ));
        assert_eq!(Country::parse_shape("nl"), None);
        assert_eq!(Country::parse_shape("NLD"), None);
        assert!(Country([0xff, b'A']).check().is_err());
    }

    #[test]
    fn hs_codes() {
        for ok in ["080390", "24022090", "2208401100", "970110"] {
            assert_eq!(check_hs_code(ok), Ok(()), "{ok}");
        }
        for bad in ["08039", "08039012345", "0803A0", " 080390", "0803.90"] {
            assert!(
                matches!(check_hs_code(bad), Err(Rule::HsCodeFormat { .. })),
                "{bad}"
            );
        }
        for bad in ["000000", "770000", "980000", "990100"] {
            assert!(
                matches!(check_hs_code(bad), Err(Rule::HsChapter { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn unlocodes() {
        for ok in ["NLRTM", "BEANR", "DEHAM", "ECGYE", "USN2Y"] {
            assert_eq!(check_unlocode(ok), Ok(()), "{ok}");
        }
        for bad in ["NLRT", "NLRTMX", "nlrtm", "NLRT0", "NLRT1", "NL-RT"] {
            assert!(
                matches!(check_unlocode(bad), Err(Rule::UnLocodeFormat { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            check_unlocode("QQRTM"),
            Err(Rule::UnLocodeCountry { .. })
        ));
    }

    #[test]
    fn container_numbers() {
        // The ISO 6346 textbook example, and two more computed with the same rule.
        assert_eq!(check_container("CSQU3054383"), Ok(()));
        assert_eq!(check_container("MAEU1234567"), Ok(()));
        assert_eq!(check_container("TGHU8764260"), Ok(()));
        assert_eq!(
            check_container("CSQU3054384"),
            Err(Rule::ContainerCheckDigit {
                value: "CSQU3054384".into(),
                expected: 3,
                found: 4
            })
        );
        for bad in [
            "CSQU305438",
            "CSQX3054383",
            "CSQ3054383U",
            "csqu3054383",
            "CS1U3054383",
        ] {
            assert!(
                matches!(check_container(bad), Err(Rule::ContainerFormat { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn iso6346_letter_values_skip_multiples_of_eleven() {
        assert_eq!(iso6346_letter_value(b'A'), 10);
        assert_eq!(iso6346_letter_value(b'B'), 12);
        assert_eq!(iso6346_letter_value(b'K'), 21);
        assert_eq!(iso6346_letter_value(b'L'), 23);
        assert_eq!(iso6346_letter_value(b'U'), 32);
        assert_eq!(iso6346_letter_value(b'V'), 34);
        assert_eq!(iso6346_letter_value(b'Z'), 38);
    }

    #[test]
    fn imo_numbers() {
        assert_eq!(check_imo("9074729"), Ok(()));
        assert_eq!(check_imo("9321483"), Ok(()));
        assert_eq!(
            check_imo("9074728"),
            Err(Rule::ImoCheckDigit {
                value: "9074728".into(),
                expected: 9,
                found: 8
            })
        );
        for bad in ["907472", "90747290", "IMO9074729", "907472X"] {
            assert!(
                matches!(check_imo(bad), Err(Rule::ImoFormat { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn flights() {
        for ok in ["KL1234", "AF12", "U21234", "KLM1234", "BA9", "LH400A"] {
            assert_eq!(check_flight(ok), Ok(()), "{ok}");
        }
        for bad in ["KL", "12345", "KL12345", "kl123", "K-123", "11234", ""] {
            assert!(check_flight(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn vehicles() {
        assert_eq!(check_vehicle("AB-123-C"), Ok(()));
        assert_eq!(check_vehicle("M AB 1234"), Ok(()));
        assert!(check_vehicle("").is_err());
        assert!(check_vehicle("ab-123").is_err());
        assert!(check_vehicle("ABCDEFGHIJKLMNOPQ").is_err());
    }

    #[test]
    fn amounts() {
        for ok in ["125.5", "0.25", "3000", "1", "999999999999.999999"] {
            assert_eq!(check_amount(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "0",
            "0.0",
            "-1",
            "+1",
            "1e3",
            "01",
            "1.",
            ".5",
            "1.2345678",
            "1000000000000",
            "1,5",
        ] {
            assert!(check_amount(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn references() {
        assert_eq!(check_reference("NL-2026-000123"), Ok(()));
        assert_eq!(check_reference("BE/ANR/2026.17_b"), Ok(()));
        assert!(check_reference("NL 2026").is_err());
        assert!(check_reference("NL-2026\n").is_err());
    }

    #[test]
    fn operator_ids() {
        assert_eq!(check_operator_id("NL123456789"), Ok(()));
        assert_eq!(check_operator_id("DE1234567890ABCDE"), Ok(()));
        for bad in ["NL", "NL1234567890123456", "nl123", "NL-123", "1L123"] {
            assert!(
                matches!(check_operator_id(bad), Err(Rule::OperatorIdFormat { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            check_operator_id("QQ123"),
            Err(Rule::OperatorIdCountry { .. })
        ));
    }

    #[test]
    fn units_have_unique_codes() {
        let mut codes: Vec<_> = Unit::ALL.iter().map(Unit::code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Unit::ALL.len());
    }
}
