//! The field's formats: STIX 2.1 (bundles and the TAXII 2.1 server), MISP feed events,
//! CEN-style reporting files, and STIX indicators turned into draft alerts.
//!
//! Architecture Invariant: every export starts from [`outgoing`], the one rule of what
//! may leave the network: a record this node can read, open to all members (never
//! addressed to named members or a group), not marked `no_onward_sharing` or TLP:RED,
//! signed by a key that could sign it, and (for an AEO record) exchanged with the
//! operator's consent. The conversions below are pure: records in, documents out.

pub mod cen;
pub mod drafts;
pub mod misp;
pub mod stix;

use customs_protocol::{Body, EntryId, Membership, PublicKey, SignedEntry};

use crate::store::{Readable, Store, StoreError};

/// One CSV line (RFC 4180), ended with CRLF: a field is quoted when it holds a comma,
/// quote or line break, and one that a spreadsheet would run as a formula (starting
/// with `=`, `+`, `-`, `@`, a tab or a carriage return) gets a leading apostrophe.
pub fn csv_line<S: AsRef<str>>(fields: &[S]) -> String {
    let cell = |value: &str| {
        let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
            format!("'{value}")
        } else {
            value.to_string()
        };
        if value.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", value.replace('"', "\"\""))
        } else {
            value
        }
    };
    let mut line = fields
        .iter()
        .map(|f| cell(f.as_ref()))
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

/// The administration that signed a record, as the formats name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Administration {
    /// Its member code (`NL`), or the node key in hex for a key no member holds.
    pub code: String,
    pub name: String,
    /// When it became a member (Unix ms): a stable creation time for its STIX identity.
    pub since_ms: u64,
}

/// A record that may leave the network, with what every format needs.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub id: EntryId,
    pub author: Administration,
    pub created_at_ms: u64,
    pub record: Readable,
    /// When its author retracted it (Unix ms).
    pub retracted_at_ms: Option<u64>,
}

/// The administration a node key signs for.
pub fn administration(membership: &Membership, key: &PublicKey) -> Administration {
    match membership.member_of(key) {
        Some(member) => Administration {
            code: member.code.clone(),
            name: member.name.clone(),
            since_ms: member.since_ms,
        },
        None => Administration {
            code: key.to_string(),
            name: format!("node {key}"),
            since_ms: 0,
        },
    }
}

/// The record `entry` stands for outside the network, if it may go there: for a
/// retraction, the record it withdraws (now revoked). `None` for everything else.
pub fn outgoing(
    store: &Store,
    membership: &Membership,
    entry: &SignedEntry,
) -> Result<Option<Outgoing>, StoreError> {
    let target = match &entry.entry().body {
        Body::Retraction(retraction) => match store.get(&retraction.target)? {
            Some(target) => target,
            None => return Ok(None),
        },
        _ => entry.clone(),
    };
    let e = target.entry();
    let Some(record) = store.readable(&target)? else {
        return Ok(None);
    };
    let exported_kind = match &record.body {
        Body::RiskAlert(_) | Body::ControlRequest(_) | Body::ControlResult(_) => true,
        // Operators agree to their record being exchanged; without that it stays in.
        Body::AeoRecord(aeo) => aeo.exchange_consent,
        _ => false,
    };
    if !exported_kind || record.may_leave_network().is_err() {
        return Ok(None);
    }
    // Signed by a key that was closed for it (revoked, rotated, a removed member).
    if membership
        .admits(&e.author, e.seq, e.created_at_ms)
        .is_err()
        && membership.member_of(&e.author).is_some()
    {
        return Ok(None);
    }
    let id = target.id();
    let retracted_at_ms = match store.retracted_by(&id)? {
        Some(retraction) => store.get(&retraction)?.map(|r| r.entry().created_at_ms),
        None => None,
    };
    Ok(Some(Outgoing {
        id,
        author: administration(membership, &e.author),
        created_at_ms: e.created_at_ms,
        record,
        retracted_at_ms,
    }))
}

#[cfg(test)]
mod tests {
    use super::csv_line;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        let line = |field: &str| csv_line(&[field]).trim_end_matches("\r\n").to_string();
        assert_eq!(line("plain"), "plain");
        assert_eq!(line("a,b"), "\"a,b\"");
        assert_eq!(line("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(line("two\nlines"), "\"two\nlines\"");
        assert_eq!(line("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(line("-1,5"), "\"'-1,5\"");
        assert_eq!(csv_line(&["a", "b"]), "a,b\r\n");
    }
}
