//! The operational loop as the store indexes it: the requests for control this node
//! can read, the answers (acknowledgements and results) to any request or alert, the
//! arrival order of readable records the notifier follows, and the AEO snapshot that
//! MRA partners take.

use customs_protocol::control::{ControlRequest, Response};
use customs_protocol::{AeoRecord, Body, EntryId, PublicKey, SignedEntry};
use tokio::sync::watch;

use super::layout::*;
use super::{Readable, Store, StoreError};
use std::sync::atomic::Ordering;

/// A record in the order this node stored or opened it.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub number: u64,
    /// When this node stored or opened it (Unix µs); `None` for records stored before
    /// arrival times were kept.
    pub arrived_us: Option<u64>,
    pub entry: SignedEntry,
}

/// Requests scanned for one page at most (filters may skip many).
pub const MAX_REQUEST_SCAN_ROWS: usize = 10_000;
/// Answers read for one subject at most.
pub const MAX_ANSWERS: usize = 1_000;

pub const ANSWER_ACK: u8 = 0;
pub const ANSWER_RESULT: u8 = 1;
/// A request for control that names the subject among its related alerts.
pub const ANSWER_RELATED: u8 = 2;

/// A request with what the node can read of it.
#[derive(Debug, Clone)]
pub struct RequestItem {
    pub entry: SignedEntry,
    pub record: Readable,
    pub request: ControlRequest,
}

/// An acknowledgement or result, with its entry.
#[derive(Debug, Clone)]
pub struct AnswerItem {
    pub entry: SignedEntry,
    pub record: Readable,
}

impl Store {
    /// Readable requests, newest first, for which `keep` holds: at most `limit`,
    /// scanning at most [`MAX_REQUEST_SCAN_ROWS`].
    pub fn requests(
        &self,
        limit: usize,
        mut keep: impl FnMut(&RequestItem) -> Result<bool, StoreError>,
    ) -> Result<Vec<RequestItem>, StoreError> {
        let mut items = Vec::new();
        for row in self
            .db()?
            .scan_prefix([REQUEST])
            .take(MAX_REQUEST_SCAN_ROWS)
        {
            let (key, _) = row?;
            let id = parse_id(key.get(9..).unwrap_or_default(), "request key")?;
            if self.retracted_by(&id)?.is_some() {
                continue;
            }
            let item = self.request(&id)?.ok_or_else(|| StoreError::Corrupt {
                what: format!("request index names entry {id}, which is not a readable request"),
            })?;
            if keep(&item)? {
                items.push(item);
                if items.len() == limit {
                    break;
                }
            }
        }
        Ok(items)
    }

    /// The request `id`, if this node holds and can read it.
    pub fn request(&self, id: &EntryId) -> Result<Option<RequestItem>, StoreError> {
        let Some(entry) = self.get(id)? else {
            return Ok(None);
        };
        let Some(record) = self.readable(&entry)? else {
            return Ok(None);
        };
        let Body::ControlRequest(request) = &record.body else {
            return Ok(None);
        };
        let request = request.clone();
        Ok(Some(RequestItem {
            entry,
            record,
            request,
        }))
    }

    /// Acknowledgements and results naming `subject` (a request or an alert), and
    /// requests that name it as related, in index order, not retracted; at most
    /// [`MAX_ANSWERS`].
    pub fn answers(&self, subject: &EntryId) -> Result<Vec<AnswerItem>, StoreError> {
        let mut prefix = vec![ANSWER];
        prefix.extend_from_slice(&subject.0);
        let mut items = Vec::new();
        for row in self.db()?.scan_prefix(prefix).take(MAX_ANSWERS) {
            let (key, _) = row?;
            let id = parse_id(key.get(33..).unwrap_or_default(), "answer key")?;
            if self.retracted_by(&id)?.is_some() {
                continue;
            }
            let entry = self.get(&id)?.ok_or_else(|| StoreError::Corrupt {
                what: format!("answer index names entry {id}, which is missing"),
            })?;
            if let Some(record) = self.readable(&entry)? {
                items.push(AnswerItem { entry, record });
            }
        }
        Ok(items)
    }

    /// The answers to a request as the loop's rules take them: who sent what.
    /// `code_of` names an author's administration.
    pub fn responses(
        &self,
        subject: &EntryId,
        code_of: impl Fn(&PublicKey) -> Option<String>,
    ) -> Result<Vec<Response>, StoreError> {
        Ok(responses_of(&self.answers(subject)?, code_of))
    }

    /// Records this node stored or opened after arrival number `after` (exclusive;
    /// `None`: from the start), in that order, at most `limit`.
    pub fn arrivals_after(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Arrival>, StoreError> {
        let start = after.map_or(0, |n| n.saturating_add(1));
        let mut out = Vec::new();
        for row in self
            .db()?
            .range(arrival_key(start)..arrival_key(u64::MAX))
            .take(limit)
        {
            let (key, value) = row?;
            let (at, arrived_us) = parse_arrival_value(&value)?;
            out.push(Arrival {
                number: parse_arrival_key(&key)?,
                arrived_us,
                entry: self.entry_at(at)?,
            });
        }
        Ok(out)
    }

    /// The first arrival number whose arrival time is after `us` (rows without a
    /// time, from before times were kept, count as arrived at 0). Times grow with the
    /// numbers, so this is a binary search: a reader starts there, not at the first
    /// record.
    pub fn first_arrival_after(&self, us: u64) -> Result<u64, StoreError> {
        let db = self.db()?;
        let (mut low, mut high) = (0u64, self.inner.next_arrival.load(Ordering::Relaxed));
        while low < high {
            let middle = low + (high - low) / 2;
            // Numbers taken by a commit that failed have no row: look at the next row.
            let time = match db.range(arrival_key(middle)..arrival_key(high)).next() {
                Some(row) => {
                    let (key, value) = row?;
                    let number = parse_arrival_key(&key)?;
                    (number, parse_arrival_value(&value)?.1.unwrap_or(0))
                }
                None => (middle, u64::MAX),
            };
            match time {
                (number, t) if t > us => high = number.min(high),
                (number, _) => low = number + 1,
            }
        }
        Ok(low)
    }

    /// Changes after every commit that added readable records.
    pub fn watch_arrivals(&self) -> watch::Receiver<u64> {
        self.inner.arrivals.subscribe()
    }

    /// Every operator's current record at `issuer` (the highest seq not retracted),
    /// by operator id; at most `limit`.
    pub fn aeo_snapshot(
        &self,
        issuer: &PublicKey,
        limit: usize,
    ) -> Result<Vec<(AeoRecord, SignedEntry)>, StoreError> {
        let mut out: Vec<(AeoRecord, SignedEntry)> = Vec::new();
        for row in self.db()?.scan_prefix([AEO]).rev() {
            let (key, value) = row?;
            let (row_issuer, _) = parse_aeo_key_tail(&key)?;
            if row_issuer != *issuer {
                continue;
            }
            let operator = key.get(1..key.len() - 41).unwrap_or_default();
            // Rows under a partner identifier repeat a record found under its id.
            if operator.contains(&b':') {
                continue;
            }
            if out
                .last()
                .is_some_and(|(r, _)| r.operator_id.as_bytes() == operator)
            {
                continue;
            }
            if let Some(found) = self.aeo_row(&value)? {
                out.push(found);
                if out.len() == limit {
                    break;
                }
            }
        }
        out.reverse();
        Ok(out)
    }
}

/// What `answers` say as the loop's rules take them: who acknowledged, who reported
/// which outcome (requests naming the subject are not responses).
pub fn responses_of(
    answers: &[AnswerItem],
    code_of: impl Fn(&PublicKey) -> Option<String>,
) -> Vec<Response> {
    answers
        .iter()
        .filter_map(|answer| {
            let by = code_of(&answer.entry.entry().author)?;
            match &answer.record.body {
                Body::Acknowledgement(_) => Some(Response::Acknowledged { by }),
                Body::ControlResult(result) => Some(Response::Result {
                    by,
                    outcome: result.outcome,
                }),
                _ => None,
            }
        })
        .collect()
}
