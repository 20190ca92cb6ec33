//! A full consistency check: every chain verifies from seq 1 to its head, every index
//! row agrees with the log and the log with the indexes, and the counts are right.
//! Reads everything and verifies every signature, so it is for tests and operators
//! (after a crash, before a backup), not for every start.

use std::collections::HashSet;

use customs_protocol::{Body, EntryId, VerifiedEntry};

use super::layout::*;
use super::segments::Position;
use super::{Store, StoreError};

/// What a full check found (all of it consistent, or it returns an error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckReport {
    pub authors: u64,
    pub entries: u64,
    pub risk_alerts: u64,
    pub aeo_records: u64,
    pub retractions: u64,
    pub forks: u64,
}

fn corrupt(what: String) -> StoreError {
    StoreError::Corrupt { what }
}

impl Store {
    pub fn check(&self) -> Result<CheckReport, StoreError> {
        let db = &self.db()?;
        let mut report = CheckReport {
            authors: 0,
            entries: 0,
            risk_alerts: 0,
            aeo_records: 0,
            retractions: 0,
            forks: 0,
        };
        let mut alert_rows = HashSet::new();
        let mut aeo_rows = HashSet::new();
        let mut governance_rows = 0usize;
        let mut retracted_rows = HashSet::new();
        let mut chain_ids: HashSet<EntryId> = HashSet::new();
        let (mut plain_rows, mut unopened_rows, mut group_rows) = (0usize, 0usize, 0usize);
        let mut attachment_rows = 0usize;
        let (mut request_rows, mut answer_rows) = (0usize, 0usize);

        let log_end = *super::lock(&self.inner.log_end);
        for head in self.frontier()?.heads() {
            report.authors += 1;
            let mut prev: Option<EntryId> = None;
            let mut seq = 0u64;
            let author = head.author;
            let number = self
                .author_number(&author)
                .ok_or_else(|| corrupt(format!("author {author} has a head but no number")))?;
            for row in db.scan_prefix(log_prefix(number)) {
                let (key, value) = row?;
                let (_, key_seq) = parse_log_key(&key)?;
                let position = Position::decode(&value)?;
                let id = self.id_in_frame(position, &self.inner.segments.read(position)?)?;
                seq += 1;
                if key_seq != seq {
                    return Err(corrupt(format!(
                        "log of {author} jumps to seq {key_seq} after {}",
                        seq - 1
                    )));
                }
                if db.get(entry_key(&id))?.as_deref() != Some(&position.encode()[..]) {
                    return Err(corrupt(format!(
                        "entry {id} is indexed elsewhere than its log row says ({position})"
                    )));
                }
                if position >= log_end {
                    return Err(corrupt(format!(
                        "entry {id} is at {position}, past the log's end ({log_end})"
                    )));
                }
                let stored = self.get(&id)?.ok_or_else(|| {
                    corrupt(format!(
                        "log of {author} seq {seq} names missing entry {id}"
                    ))
                })?;
                let entry = VerifiedEntry::check(stored)
                    .map_err(|e| corrupt(format!("entry {id} no longer verifies: {e}")))?;
                let e = entry.entry();
                if e.author != author || e.seq != seq || e.prev != prev {
                    return Err(corrupt(format!(
                        "entry {id} breaks the chain of {author} at seq {seq}"
                    )));
                }
                let opened;
                let mut attachments = &e.attachments[..];
                let body = match &e.body {
                    Body::Sealed(_) => match self.opened(&id)? {
                        Some(sealed) => {
                            plain_rows += 1;
                            opened = sealed;
                            attachments = &opened.attachments[..];
                            &opened.body
                        }
                        None => {
                            if db.get(unopened_key(e.created_at_ms, &id))?.is_none() {
                                return Err(corrupt(format!(
                                    "sealed entry {id} is neither opened nor marked unopened"
                                )));
                            }
                            unopened_rows += 1;
                            &e.body
                        }
                    },
                    body => body,
                };
                for attachment in attachments {
                    if db.get(attachment_key(&attachment.hash, &id))?.is_none() {
                        return Err(corrupt(format!(
                            "attachment {} of {id} is missing from the attachment index",
                            attachment.hash
                        )));
                    }
                    attachment_rows += 1;
                }
                match body {
                    Body::Sealed(_) => {}
                    Body::Group(update) => {
                        if db.get(group_key(&update.id, &id))?.is_none() {
                            return Err(corrupt(format!(
                                "group update {id} is missing from the group index"
                            )));
                        }
                        group_rows += 1;
                    }
                    Body::RiskAlert(alert) => {
                        report.risk_alerts += 1;
                        let key = alert_key(e.created_at_ms, &id);
                        let summary = db.get(key)?.ok_or_else(|| {
                            corrupt(format!("alert {id} is missing from the alert index"))
                        })?;
                        if AlertSummary::decode(&summary)? != AlertSummary::of(number, alert) {
                            return Err(corrupt(format!(
                                "alert index row of {id} disagrees with the entry"
                            )));
                        }
                        alert_rows.insert(key.to_vec());
                    }
                    Body::AeoRecord(record) => {
                        report.aeo_records += 1;
                        let lookups = record
                            .identifiers
                            .iter()
                            .map(|i| identifier_lookup(&i.scheme, &i.value));
                        for operator in std::iter::once(record.operator_id.clone()).chain(lookups) {
                            let key = aeo_key(&operator, &author, seq);
                            if db.get(&key)?.as_deref() != Some(&id.0[..]) {
                                return Err(corrupt(format!(
                                    "AEO record {id} is missing from the AEO index under {operator}"
                                )));
                            }
                            aeo_rows.insert(key);
                        }
                    }
                    Body::ControlRequest(request) => {
                        if db.get(request_key(e.created_at_ms, &id))?.is_none() {
                            return Err(corrupt(format!(
                                "request {id} is missing from the request index"
                            )));
                        }
                        for related in &request.related {
                            if db.get(answer_key(related, &id))?.is_none() {
                                return Err(corrupt(format!(
                                    "request {id} is missing from the answers of {related}"
                                )));
                            }
                            answer_rows += 1;
                        }
                        request_rows += 1;
                    }
                    Body::Acknowledgement(customs_protocol::control::Acknowledgement {
                        request: subject,
                        ..
                    })
                    | Body::ControlResult(customs_protocol::control::ControlResult {
                        subject,
                        ..
                    }) => {
                        if db.get(answer_key(subject, &id))?.is_none() {
                            return Err(corrupt(format!(
                                "answer {id} is missing from the answer index"
                            )));
                        }
                        answer_rows += 1;
                    }
                    Body::Governance(_) | Body::CausalGovernance(_) => {
                        if db.get(governance_key(&author, seq))?.as_deref() != Some(&id.0[..]) {
                            return Err(corrupt(format!(
                                "governance entry {id} is missing from the governance index"
                            )));
                        }
                        governance_rows += 1;
                    }
                    Body::Retraction(retraction) => {
                        report.retractions += 1;
                        if db.get(retracted_key(&retraction.target))?.as_deref() == Some(&id.0[..])
                        {
                            retracted_rows.insert(retraction.target);
                        }
                    }
                }
                chain_ids.insert(id);
                prev = Some(id);
            }
            if seq != head.seq || prev != Some(head.id) {
                return Err(corrupt(format!(
                    "head of {} is seq {} but the log ends at {seq}",
                    head.author, head.seq
                )));
            }
            report.entries += seq;
        }

        // The other direction: no index row or entry without its chain.
        let count_prefix = |prefix: u8| db.scan_prefix([prefix]).count();
        if count_prefix(ENTRY) != chain_ids.len() || count_prefix(LOG) != chain_ids.len() {
            return Err(corrupt(format!(
                "{} entries stored but {} in chains",
                count_prefix(ENTRY),
                chain_ids.len()
            )));
        }
        if count_prefix(ALERT) != alert_rows.len()
            || count_prefix(AEO) != aeo_rows.len()
            || count_prefix(GOVERNANCE) != governance_rows
            || count_prefix(PLAIN) != plain_rows
            || count_prefix(UNOPENED) != unopened_rows
            || count_prefix(GROUP) != group_rows
            || count_prefix(REQUEST) != request_rows
            || count_prefix(ANSWER) != answer_rows
            || count_prefix(ATTACHMENT) != attachment_rows
            || count_prefix(AUTHOR) != report.authors as usize
        {
            return Err(corrupt(
                "an index has rows for entries not in any chain".into(),
            ));
        }
        // Stores from before the arrival index have no rows for older records; every
        // row there is must name a stored entry.
        let mut last_arrival_us = 0;
        for row in db.scan_prefix([ARRIVAL]) {
            let (key, value) = row?;
            let (at, arrived_us) = parse_arrival_value(&value)?;
            if let Some(us) = arrived_us {
                if us <= last_arrival_us {
                    return Err(corrupt(format!(
                        "arrival row {key:?} has time {us}, not after the row before it ({last_arrival_us})"
                    )));
                }
                last_arrival_us = us;
            }
            let id = self.id_at_position(&at.encode())?;
            if !chain_ids.contains(&id) {
                return Err(corrupt(format!(
                    "arrival row names {id}, which is not in a chain"
                )));
            }
        }
        let next_arrival = self
            .inner
            .next_arrival
            .load(std::sync::atomic::Ordering::Relaxed);
        if self.arrival_end()? > next_arrival {
            return Err(corrupt(format!(
                "arrival rows go past the next arrival number {next_arrival}"
            )));
        }
        for row in db.scan_prefix([RETRACTED]) {
            let (key, _) = row?;
            let target = parse_id(key.get(1..).unwrap_or_default(), "retracted key")?;
            if !retracted_rows.contains(&target) {
                return Err(corrupt(format!(
                    "retraction row for {target} has no retraction in a chain"
                )));
            }
        }
        for proof in self.fork_proofs() {
            let proof = proof?;
            report.forks += 1;
            let first = proof.first.entry();
            let second = VerifiedEntry::check(proof.second.clone())
                .map_err(|e| corrupt(format!("fork proof no longer verifies: {e}")))?;
            if second.entry().author != first.author
                || second.entry().seq != first.seq
                || second.id() == proof.first.id()
            {
                return Err(corrupt(format!(
                    "fork proof for {} seq {} proves nothing",
                    proof.author, proof.seq
                )));
            }
        }

        let counts = self.read_counts()?;
        let recount = Counts {
            entries: report.entries,
            risk_alerts: report.risk_alerts,
            aeo_records: report.aeo_records,
            retractions: report.retractions,
            forks: report.forks,
            authors: report.authors,
            // Counted as seen, not stored: nothing to recount it from.
            forks_known: counts.forks_known,
        };
        if counts != recount {
            return Err(corrupt(format!(
                "stored counts {counts:?} differ from the recount {recount:?}"
            )));
        }
        Ok(report)
    }
}
