//! Queries over the indexes: alerts newest first with filters, and AEO status per
//! issuer.

use std::fmt;
use std::ops::Bound;
use std::str::FromStr;

use customs_protocol::body::Category;
use customs_protocol::codes::Country;
use customs_protocol::{AeoRecord, Body, Date, EntryId, PublicKey, SignedEntry};

use super::layout::*;
use super::{Store, StoreError};

pub use crate::limits::MAX_ALERT_PAGE;
pub use crate::limits::MAX_ALERT_SCAN_ROWS;

/// Which alerts to list. Every field narrows the result; the default lists all
/// alerts that are not retracted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertFilter {
    pub category: Option<Category>,
    /// HS code prefix, e.g. "0803" or "24".
    pub hs_prefix: Option<String>,
    /// A country anywhere on the route (origin, transit, destination).
    pub country: Option<Country>,
    /// Detected on or after.
    pub from: Option<Date>,
    /// Detected on or before.
    pub to: Option<Date>,
    /// By one of these keys (an administration's node keys, its rotated ones
    /// included); `None`: any.
    pub author: Option<Vec<PublicKey>>,
    pub include_retracted: bool,
}

impl AlertFilter {
    /// Whether an alert matches; `authors` are the numbers of [`AlertFilter::author`]'s
    /// keys that have entries.
    fn matches(&self, summary: &AlertSummary, authors: Option<&[u32]>) -> bool {
        self.category.is_none_or(|c| c == summary.category)
            && self
                .hs_prefix
                .as_deref()
                .is_none_or(|p| summary.hs_code.starts_with(p))
            && self.country.is_none_or(|c| summary.countries.contains(&c))
            && self.from.is_none_or(|d| summary.detected_on >= d)
            && self.to.is_none_or(|d| summary.detected_on <= d)
            && authors.is_none_or(|numbers| numbers.contains(&summary.author))
    }
}

/// Where a page of alerts ended: the next page starts after it. Shown as 80 hex
/// digits (creation time and entry id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertCursor {
    pub created_at_ms: u64,
    pub id: EntryId,
}

impl fmt::Display for AlertCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}{}", self.created_at_ms, self.id)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cursor must be the 80 hex digits of a previous page's `next`")]
pub struct BadCursor;

impl FromStr for AlertCursor {
    type Err = BadCursor;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.len() != 80 || !text.is_ascii() {
            return Err(BadCursor);
        }
        let created_at_ms = u64::from_str_radix(&text[..16], 16).map_err(|_| BadCursor)?;
        let id = EntryId::from_hex(&text[16..]).ok_or(BadCursor)?;
        Ok(AlertCursor { created_at_ms, id })
    }
}

#[derive(Debug, Clone)]
pub struct AlertItem {
    pub entry: SignedEntry,
    /// The alert as this node reads it (opened, for a sealed one).
    pub record: super::Readable,
    /// The retraction that withdrew this alert, when it was.
    pub retracted_by: Option<EntryId>,
}

#[derive(Debug, Clone, Default)]
pub struct AlertPage {
    pub items: Vec<AlertItem>,
    /// Where to continue; `None` when the end of the index was reached.
    pub next: Option<AlertCursor>,
}

/// An operator's status at one issuer: that issuer's latest record about it (by seq).
#[derive(Debug, Clone)]
pub struct AeoAtIssuer {
    pub issuer: PublicKey,
    pub record: AeoRecord,
    pub entry: SignedEntry,
}

impl Store {
    /// Alerts newest first (by creation time), after `after`, at most `limit`
    /// (capped at [`MAX_ALERT_PAGE`]).
    pub fn alerts(
        &self,
        filter: &AlertFilter,
        after: Option<AlertCursor>,
        limit: usize,
    ) -> Result<AlertPage, StoreError> {
        let limit = limit.clamp(1, MAX_ALERT_PAGE);
        let start = match after {
            Some(cursor) => Bound::Excluded(alert_key(cursor.created_at_ms, &cursor.id).to_vec()),
            None => Bound::Included(vec![ALERT]),
        };
        let end = Bound::Excluded(vec![ALERT + 1]);
        let authors: Option<Vec<u32>> = filter.author.as_ref().map(|keys| {
            keys.iter()
                .filter_map(|key| self.author_number(key))
                .collect()
        });
        let mut page = AlertPage::default();
        for (scanned, row) in self.db()?.range::<Vec<u8>, _>((start, end)).enumerate() {
            let (key, value) = row?;
            let (created_at_ms, id) = parse_alert_key(&key)?;
            let cursor = AlertCursor { created_at_ms, id };
            if scanned >= MAX_ALERT_SCAN_ROWS {
                page.next = Some(cursor);
                break;
            }
            if !filter.matches(&AlertSummary::decode(&value)?, authors.as_deref()) {
                continue;
            }
            let retracted_by = self.retracted_by(&id)?;
            if retracted_by.is_some() && !filter.include_retracted {
                continue;
            }
            let entry = self.get(&id)?.ok_or_else(|| StoreError::Corrupt {
                what: format!("alert index names entry {id}, which is missing"),
            })?;
            let record = self.readable(&entry)?.ok_or_else(|| StoreError::Corrupt {
                what: format!("alert index names entry {id}, which this node cannot read"),
            })?;
            page.items.push(AlertItem {
                entry,
                record,
                retracted_by,
            });
            if page.items.len() == limit {
                page.next = Some(cursor);
                break;
            }
        }
        Ok(page)
    }

    /// The operator's status at every issuer that published about it: per issuer,
    /// the record with the highest seq that is not retracted and, with `as_of`, took
    /// effect on or before that date.
    pub fn aeo_status(
        &self,
        operator_id: &str,
        as_of: Option<Date>,
    ) -> Result<Vec<AeoAtIssuer>, StoreError> {
        let mut result: Vec<AeoAtIssuer> = Vec::new();
        // Rows are ordered by issuer then seq: walk backwards so that each issuer's
        // newest record comes first.
        for row in self.db()?.scan_prefix(aeo_prefix(operator_id)).rev() {
            let (key, value) = row?;
            let (issuer, _) = parse_aeo_key_tail(&key)?;
            if result.last().is_some_and(|r| r.issuer == issuer) {
                continue;
            }
            let Some((record, entry)) = self.aeo_row(&value)? else {
                continue;
            };
            if as_of.is_some_and(|date| record.effective_from > date) {
                continue;
            }
            result.push(AeoAtIssuer {
                issuer,
                record,
                entry,
            });
        }
        result.reverse();
        Ok(result)
    }

    /// The AEO record an `O` row names, unless it is retracted.
    pub(super) fn aeo_row(
        &self,
        value: &[u8],
    ) -> Result<Option<(AeoRecord, SignedEntry)>, StoreError> {
        let id = parse_id(value, "AEO index value")?;
        if self.retracted_by(&id)?.is_some() {
            return Ok(None);
        }
        let entry = self.get(&id)?.ok_or_else(|| StoreError::Corrupt {
            what: format!("AEO index names entry {id}, which is missing"),
        })?;
        match self.readable(&entry)? {
            Some(super::Readable {
                body: Body::AeoRecord(record),
                ..
            }) => Ok(Some((record, entry))),
            _ => Err(StoreError::Corrupt {
                what: format!("AEO index names entry {id}, which is not a readable AEO record"),
            }),
        }
    }
}
