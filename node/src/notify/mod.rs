//! Notifications: watch lists matched against every record this node stores or
//! opens, and the events (`match`, `request`, `result`) pushed on the live feed and to
//! webhooks.
//!
//! The notifier follows the store's arrival index (`N` rows) from a cursor it keeps
//! on disk, so a record is processed once even across restarts, and nothing is missed
//! when the node is busy. Watch lists, matches, webhooks, their queue and delivery log
//! live in the store's `notify` tree: node-local state, never part of the log. Each
//! delivery is an HTTP POST of a JSON body signed with the webhook's secret
//! (`X-Customs-Signature: sha256=<HMAC-SHA256>`), retried with doubling delays from a
//! bounded queue that survives a restart.

pub mod rules;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use customs_protocol::{Body, EntryId, PublicKey, SignedEntry};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};
use utoipa::ToSchema;

use crate::api::views::EntryEvent;
use crate::client::WebhookSender;
use crate::config::NotifySection;
use crate::membership::MembershipView;
use crate::store::{Change, LocalState, Readable, Store, StoreError};
pub use rules::{WatchField, WatchRule};

/// Arrivals processed per round.
const ARRIVAL_BATCH: usize = 256;
/// Live events buffered per subscriber of the live feed.
const LIVE_CAPACITY: usize = 256;
/// The notifier looks for due deliveries at least this often.
const IDLE_POLL: Duration = Duration::from_millis(500);
/// After new arrivals, the notifier waits this long for more before its round, so
/// that a burst of publishes costs it one round instead of one per entry (a webhook
/// is this much later at most).
const ARRIVALS_SETTLE: Duration = Duration::from_millis(20);

const CURSOR: &[u8] = b"cursor";
const NEXT_ID: &[u8] = b"next_id";
const WATCHLIST: u8 = b'w';
/// A match, by list and the order it was found in.
const MATCH: u8 = b'm';
/// That a list matched an entry (a record matches a list once).
const MATCHED: u8 = b'x';
const WEBHOOK: u8 = b'h';
const DELIVERY: u8 = b'd';
const DELIVERY_BODY: u8 = b'b';
const QUEUE: u8 = b'q';

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Full(String),
    #[error("no {what} {id}")]
    NotFound { what: &'static str, id: String },
}

/// What a notification is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A record matched a watch list.
    Match,
    /// A request for control addressed to this administration.
    Request,
    /// A result (or acknowledgement) answering one of this node's records.
    Result,
}

impl EventKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            EventKind::Match => "match",
            EventKind::Request => "request",
            EventKind::Result => "result",
        }
    }
}

/// `POST /api/v1/watchlists`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WatchListDraft {
    pub name: String,
    pub rules: Vec<WatchRule>,
    /// The id of a list to replace (its matches are kept, and the hunt runs again).
    #[serde(default)]
    pub id: Option<String>,
}

/// A named set of rules; a record matches when any rule does.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WatchList {
    pub id: String,
    pub name: String,
    pub rules: Vec<WatchRule>,
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
    /// Matches stored for it.
    pub matches: u64,
}

/// A record that matched a watch list.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Match {
    pub watchlist: String,
    #[schema(value_type = String)]
    pub entry: EntryId,
    /// The rules it matched.
    pub rules: Vec<WatchRule>,
    pub matched_at_ms: u64,
    /// Found by the hunt over records stored before the list was made or changed.
    pub retro: bool,
    /// The record as this node reads it.
    pub record: EntryEvent,
}

/// `POST /api/v1/webhooks`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookDraft {
    /// http:// or https:// URL the deliveries are POSTed to.
    pub url: String,
    /// The HMAC-SHA256 key of the `X-Customs-Signature` header (16 to 256 bytes).
    pub secret: String,
    pub events: Vec<EventKind>,
    /// What a delivery carries of a record that may not leave the network.
    #[serde(default)]
    pub markings: MarkingPolicy,
}

/// A webhook's target is outside the network: by default it gets records only as
/// the one outbound rule lets them leave.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MarkingPolicy {
    /// A restricted, TLP:RED or `no_onward_sharing` record is withheld: the delivery
    /// names the entry and why it was withheld, without its content.
    #[default]
    Withhold,
    /// Every record this node reads, whatever its markings: for a system of this
    /// administration that the markings' recipients may use.
    DeliverAll,
}

/// A registered webhook (its secret is never shown again).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Webhook {
    pub id: String,
    pub url: String,
    pub events: Vec<EventKind>,
    #[serde(default)]
    pub markings: MarkingPolicy,
    pub created_at_ms: u64,
    #[serde(skip_serializing, default)]
    #[schema(ignore)]
    pub secret: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    /// The target answered 2xx.
    Delivered,
    /// Every attempt failed; no more are made.
    Failed,
}

/// One notification to one webhook, and what became of it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Delivery {
    pub id: String,
    pub webhook: String,
    pub event: EventKind,
    #[schema(value_type = String)]
    pub entry: EntryId,
    pub status: DeliveryStatus,
    pub attempts: u32,
    /// The class of the last failure: `http_status`, `timeout`, `dns`,
    /// `connection_failed`, `target_refused`, `invalid_url`, `io` (never the raw
    /// error, which could map a network for a token holder).
    pub last_error: Option<String>,
    /// The HTTP status of the last attempt, if the target answered.
    pub last_status: Option<u16>,
    pub created_at_ms: u64,
    pub next_attempt_ms: Option<u64>,
    pub delivered_at_ms: Option<u64>,
}

/// A notification as the live feed carries it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Notification {
    pub event: EventKind,
    pub record: EntryEvent,
    /// For `match`: the list and the rules that matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watchlist: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub rules: Vec<WatchRule>,
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub retro: bool,
    /// Why the record may not leave the network (restricted, TLP:RED,
    /// `no_onward_sharing`), by the one outbound rule; `None` when it may.
    #[serde(skip)]
    #[schema(ignore)]
    pub kept_in: Option<String>,
}

/// The notifier's state and handle; cheap to clone.
#[derive(Clone, Debug)]
pub struct Notifier {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    local: LocalState,
    config: NotifySection,
    own: PublicKey,
    membership: MembershipView,
    live: broadcast::Sender<Arc<Notification>>,
    /// Bumped when a delivery is queued: the delivery loop wakes up.
    queued: watch::Sender<u64>,
    /// One writer at a time for the read-modify-write of lists and deliveries.
    writer: std::sync::Mutex<()>,
    /// Held while a batch of arrivals is matched, and while a list is saved and its
    /// retro-hunt runs: a record stored before the list is then found by the hunt
    /// (a retro match) whether or not the arrivals had reached it. Taken before
    /// `writer`.
    matching: std::sync::Mutex<()>,
    stats: Counters,
}

#[derive(Debug, Default)]
struct Counters {
    delivered: AtomicU64,
    failed_attempts: AtomicU64,
    dropped: AtomicU64,
}

/// What the notifier did since the node started, for the metrics.
#[derive(Debug, Clone, Copy, Default)]
pub struct NotifyStats {
    pub delivered: u64,
    pub failed_attempts: u64,
    pub dropped: u64,
    pub pending: u64,
}

fn key(prefix: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut key = vec![prefix];
    for part in parts {
        key.extend_from_slice(part);
    }
    key
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, NotifyError> {
    serde_json::from_slice(bytes).map_err(|e| {
        NotifyError::Store(StoreError::Corrupt {
            what: format!("a stored {what} does not decode: {e}"),
        })
    })
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

impl Notifier {
    pub fn open(
        store: Store,
        config: NotifySection,
        own: PublicKey,
        membership: MembershipView,
    ) -> Result<Notifier, NotifyError> {
        let local = LocalState::new(store.clone(), "notify");
        let (live, _) = broadcast::channel(LIVE_CAPACITY);
        Ok(Notifier {
            inner: Arc::new(Inner {
                store,
                local,
                config,
                own,
                membership,
                live,
                queued: watch::Sender::new(0),
                writer: std::sync::Mutex::new(()),
                matching: std::sync::Mutex::new(()),
                stats: Counters::default(),
            }),
        })
    }

    pub fn stats(&self) -> NotifyStats {
        let stats = &self.inner.stats;
        NotifyStats {
            delivered: stats.delivered.load(Ordering::Relaxed),
            failed_attempts: stats.failed_attempts.load(Ordering::Relaxed),
            dropped: stats.dropped.load(Ordering::Relaxed),
            pending: self.pending() as u64,
        }
    }

    /// The live feed's notifications.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Notification>> {
        self.inner.live.subscribe()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.inner.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn new_id(&self) -> Result<String, NotifyError> {
        let next = self.inner.local.next_number(NEXT_ID)?;
        Ok(format!("{next:016x}"))
    }

    fn code_of(&self, key: &PublicKey) -> Option<String> {
        self.inner.membership.code_of(key)
    }

    fn own_code(&self) -> Option<String> {
        self.code_of(&self.inner.own)
    }

    // ---- watch lists ----

    pub fn watchlists(&self) -> Result<Vec<WatchList>, NotifyError> {
        self.inner
            .local
            .scan(&[WATCHLIST], false, usize::MAX)?
            .iter()
            .map(|(_, v)| decode(v, "watch list"))
            .collect()
    }

    pub fn watchlist(&self, id: &str) -> Result<WatchList, NotifyError> {
        let bytes = self
            .inner
            .local
            .get(&key(WATCHLIST, &[id.as_bytes()]))?
            .ok_or_else(|| NotifyError::NotFound {
                what: "watch list",
                id: id.into(),
            })?;
        decode(&bytes, "watch list")
    }

    /// Creates (or replaces) a watch list, then hunts through every record already
    /// stored. Returns the list and how many matches the hunt found.
    pub fn save_watchlist(&self, draft: WatchListDraft) -> Result<(WatchList, u64), NotifyError> {
        let name = draft.name.trim();
        if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
            return Err(NotifyError::Invalid(
                "name: must be 1 to 100 characters, no control characters".into(),
            ));
        }
        if draft.rules.is_empty() || draft.rules.len() > self.inner.config.max_watch_rules {
            return Err(NotifyError::Invalid(format!(
                "rules: a list has 1 to {} rules",
                self.inner.config.max_watch_rules
            )));
        }
        let rules = draft
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| r.normalised().map_err(|e| format!("rules[{i}].value: {e}")))
            .collect::<Result<Vec<_>, _>>()
            .map_err(NotifyError::Invalid)?;
        let _matching = self
            .inner
            .matching
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let now = crate::clock::now_ms();
        let list = {
            let _writer = self.lock();
            let list = match &draft.id {
                Some(id) => WatchList {
                    name: name.into(),
                    rules,
                    updated_at_ms: now,
                    ..self.watchlist(id)?
                },
                None => {
                    if self.inner.local.count(&[WATCHLIST])? >= self.inner.config.max_watchlists {
                        return Err(NotifyError::Full(format!(
                            "this node holds at most {} watch lists (notify.max_watchlists)",
                            self.inner.config.max_watchlists
                        )));
                    }
                    WatchList {
                        id: self.new_id()?,
                        name: name.into(),
                        rules,
                        created_at_ms: now,
                        updated_at_ms: now,
                        matches: 0,
                    }
                }
            };
            self.inner
                .local
                .put(&key(WATCHLIST, &[list.id.as_bytes()]), &encode(&list))?;
            list
        };
        let found = self.hunt(&list)?;
        Ok((self.watchlist(&list.id)?, found))
    }

    /// The retro-hunt: every record this node can read, through the list's rules.
    fn hunt(&self, list: &WatchList) -> Result<u64, NotifyError> {
        let store = &self.inner.store;
        let mut found = 0;
        let frontier = store.frontier()?;
        for head in frontier.heads() {
            let mut from = 1;
            while from <= head.seq {
                let page = store.entries_from(&head.author, from, 512, 4 << 20)?;
                if page.entries.is_empty() {
                    break;
                }
                for entry in &page.entries {
                    from = entry.entry().seq + 1;
                    let Some(record) = self.announceable(entry)? else {
                        continue;
                    };
                    if self.record_match(list, entry, &record, true)? {
                        found += 1;
                    }
                }
            }
        }
        Ok(found)
    }

    /// The readable record of `entry`, unless it is not to be announced (a record
    /// its group refuses).
    fn announceable(&self, entry: &SignedEntry) -> Result<Option<Readable>, NotifyError> {
        let store = &self.inner.store;
        let Some(record) = store.readable(entry)? else {
            return Ok(None);
        };
        if matches!(
            record.distribution,
            customs_protocol::Distribution::Group(_)
        ) {
            let membership = self.inner.membership.get();
            let groups = store.groups(&membership)?;
            if crate::api::views::group_refusal(&groups, &membership, &record, entry.entry())
                .is_some()
            {
                return Ok(None);
            }
        }
        Ok(Some(record))
    }

    /// Stores the match of `entry` for `list` if it matches and is new; then
    /// announces it. Whether it was new.
    fn record_match(
        &self,
        list: &WatchList,
        entry: &SignedEntry,
        record: &Readable,
        retro: bool,
    ) -> Result<bool, NotifyError> {
        let matched = rules::matching_rules(&list.rules, &record.body);
        if matched.is_empty() {
            return Ok(false);
        }
        let id = entry.id();
        let seen = key(MATCHED, &[list.id.as_bytes(), &id.0]);
        let event = EntryEvent::of(entry, record, self.code_of(&entry.entry().author));
        let found = Match {
            watchlist: list.id.clone(),
            entry: id,
            rules: matched.iter().map(|&i| list.rules[i].clone()).collect(),
            matched_at_ms: crate::clock::now_ms(),
            retro,
            record: event.clone(),
        };
        {
            let _writer = self.lock();
            if self.inner.local.contains(&seen)? {
                return Ok(false);
            }
            let mut current = self.watchlist(&list.id)?;
            if current.matches >= self.inner.config.max_matches_per_watchlist as u64 {
                tracing::warn!(list = %list.id, "watch list is full; a match is not stored (notify.max_matches_per_watchlist)");
                return Ok(false);
            }
            let row = key(MATCH, &[list.id.as_bytes(), &current.matches.to_be_bytes()]);
            current.matches += 1;
            self.inner.local.apply(vec![
                Change::Put(seen, Vec::new()),
                Change::Put(row, encode(&found)),
                Change::Put(key(WATCHLIST, &[list.id.as_bytes()]), encode(&current)),
            ])?;
        }
        self.announce(Notification {
            event: EventKind::Match,
            record: event,
            watchlist: Some(list.id.clone()),
            rules: found.rules,
            retro,
            kept_in: record.may_leave_network().err().map(str::to_string),
        })?;
        Ok(true)
    }

    /// Matches of a list in the order they were found, at most `limit`.
    pub fn matches(&self, list: &str, limit: usize) -> Result<Vec<Match>, NotifyError> {
        self.watchlist(list)?;
        self.inner
            .local
            .scan(&key(MATCH, &[list.as_bytes()]), false, limit)?
            .iter()
            .map(|(_, v)| decode(v, "match"))
            .collect()
    }

    // ---- the arrivals ----

    /// Processes the records stored since the cursor; whether there may be more.
    fn process_arrivals(&self) -> Result<bool, NotifyError> {
        let _matching = self
            .inner
            .matching
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let cursor = self
            .inner
            .local
            .get(CURSOR)?
            .and_then(|b| b.as_slice().try_into().ok())
            .map(u64::from_be_bytes);
        let arrivals = self.inner.store.arrivals_after(cursor, ARRIVAL_BATCH)?;
        let lists = self.watchlists()?;
        for crate::store::Arrival { number, entry, .. } in &arrivals {
            let mut announced = false;
            if let Some(record) = self.announceable(entry)? {
                announced = self.on_arrival(&lists, entry, &record)?;
            }
            // The cursor moves on disk right after anything was announced, so a crash
            // never announces it twice; otherwise once per batch (below), as going
            // over a record again changes nothing (matches are kept once).
            if announced {
                self.inner.local.put(CURSOR, &number.to_be_bytes())?;
            }
        }
        if let Some(last) = arrivals.last() {
            self.inner.local.put(CURSOR, &last.number.to_be_bytes())?;
        }
        Ok(arrivals.len() == ARRIVAL_BATCH)
    }

    /// Matches a newly stored record and announces what concerns this
    /// administration; whether anything was announced.
    fn on_arrival(
        &self,
        lists: &[WatchList],
        entry: &SignedEntry,
        record: &Readable,
    ) -> Result<bool, NotifyError> {
        let mut announced = false;
        for list in lists {
            announced |= self.record_match(list, entry, record, false)?;
        }
        let author = entry.entry().author;
        // Nothing is news to this administration that one of its own nodes signed.
        let Some(own) = self.own_code() else {
            return Ok(announced);
        };
        let ours =
            |key: &PublicKey| *key == self.inner.own || self.code_of(key).as_ref() == Some(&own);
        if ours(&author) {
            return Ok(announced);
        }
        let kind = match &record.body {
            Body::ControlRequest(request) => request
                .addressed_to
                .contains(&own)
                .then_some(EventKind::Request),
            Body::ControlResult(customs_protocol::control::ControlResult { subject, .. })
            | Body::Acknowledgement(customs_protocol::control::Acknowledgement {
                request: subject,
                ..
            }) => {
                let answers_ours = self
                    .inner
                    .store
                    .get(subject)?
                    .is_some_and(|s| ours(&s.entry().author));
                answers_ours.then_some(EventKind::Result)
            }
            _ => None,
        };
        if let Some(event) = kind {
            self.announce(Notification {
                event,
                record: EntryEvent::of(entry, record, self.code_of(&author)),
                watchlist: None,
                rules: Vec::new(),
                retro: false,
                kept_in: record.may_leave_network().err().map(str::to_string),
            })?;
            announced = true;
        }
        Ok(announced)
    }

    /// Puts a notification on the live feed and queues it for every webhook that
    /// wants its kind.
    fn announce(&self, notification: Notification) -> Result<(), NotifyError> {
        let notification = Arc::new(notification);
        let _ = self.inner.live.send(notification.clone());
        for webhook in self.webhooks()? {
            if webhook.events.contains(&notification.event) {
                self.enqueue(&webhook, &notification)?;
            }
        }
        Ok(())
    }

    // ---- webhooks ----

    pub fn webhooks(&self) -> Result<Vec<Webhook>, NotifyError> {
        self.inner
            .local
            .scan(&[WEBHOOK], false, usize::MAX)?
            .iter()
            .map(|(_, v)| decode(v, "webhook"))
            .collect()
    }

    fn webhook(&self, id: &str) -> Result<Webhook, NotifyError> {
        let bytes = self
            .inner
            .local
            .get(&key(WEBHOOK, &[id.as_bytes()]))?
            .ok_or_else(|| NotifyError::NotFound {
                what: "webhook",
                id: id.into(),
            })?;
        #[derive(Deserialize)]
        struct Stored {
            #[serde(flatten)]
            webhook: Webhook,
            secret: String,
        }
        let stored: Stored = decode(&bytes, "webhook")?;
        Ok(Webhook {
            secret: stored.secret,
            ..stored.webhook
        })
    }

    pub fn add_webhook(&self, draft: WebhookDraft) -> Result<Webhook, NotifyError> {
        let url = draft.url.trim();
        let host = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
            .and_then(|rest| rest.split(['/', '?', '#']).next())
            .unwrap_or_default();
        let url_ok = !host.is_empty()
            && url.len() <= 2000
            && !url.chars().any(|c| c.is_whitespace() || c.is_control());
        if !url_ok {
            return Err(NotifyError::Invalid(format!(
                "url: {url:?} must be an http:// or https:// URL with a host"
            )));
        }
        if !self.inner.config.webhook_allow_private_targets {
            let bare = host.rsplit_once('@').map_or(host, |(_, h)| h);
            let literal = bare
                .strip_prefix('[')
                .and_then(|h| h.split_once(']'))
                .map(|(ip, _)| ip)
                .unwrap_or_else(|| bare.split(':').next().unwrap_or_default());
            if let Ok(ip) = literal.parse::<std::net::IpAddr>() {
                if crate::client::is_internal_address(ip) {
                    return Err(NotifyError::Invalid(format!(
                        "url: {ip} is a loopback, private or link-local address; set notify.webhook_allow_private_targets = true in node.toml to allow such targets"
                    )));
                }
            }
        }
        if url.starts_with("http://") && !self.inner.config.webhook_allow_plain_http {
            return Err(NotifyError::Invalid(format!(
                "url: {url:?} is plain http://, which would send records in clear: use https://, or set notify.webhook_allow_plain_http = true in node.toml (for a TLS proxy on the same host)"
            )));
        }
        if !(16..=256).contains(&draft.secret.len()) {
            return Err(NotifyError::Invalid(
                "secret: must be 16 to 256 bytes".into(),
            ));
        }
        if draft.events.is_empty() {
            return Err(NotifyError::Invalid(
                "events: name at least one of match, request, result".into(),
            ));
        }
        let _writer = self.lock();
        if self.inner.local.count(&[WEBHOOK])? >= self.inner.config.max_webhooks {
            return Err(NotifyError::Full(format!(
                "this node holds at most {} webhooks (notify.max_webhooks)",
                self.inner.config.max_webhooks
            )));
        }
        let mut events = draft.events;
        events.dedup();
        let webhook = Webhook {
            id: self.new_id()?,
            url: url.into(),
            events,
            markings: draft.markings,
            created_at_ms: crate::clock::now_ms(),
            secret: draft.secret,
        };
        let mut stored = serde_json::to_value(&webhook).unwrap_or_default();
        stored["secret"] = serde_json::Value::String(webhook.secret.clone());
        self.inner
            .local
            .put(&key(WEBHOOK, &[webhook.id.as_bytes()]), &encode(&stored))?;
        Ok(webhook)
    }

    /// Removes a webhook with its queued deliveries and its log.
    pub fn delete_webhook(&self, id: &str) -> Result<(), NotifyError> {
        let _writer = self.lock();
        self.webhook(id)?;
        let mut changes = vec![Change::Delete(key(WEBHOOK, &[id.as_bytes()]))];
        for (k, _) in self
            .inner
            .local
            .scan(&key(DELIVERY, &[id.as_bytes()]), false, usize::MAX)?
        {
            let delivery = k.get(1..).unwrap_or_default();
            changes.push(Change::Delete([&[DELIVERY_BODY][..], delivery].concat()));
            changes.push(Change::Delete(k));
        }
        // Queued attempts of a removed webhook are dropped when they come due.
        self.inner.local.apply(changes)?;
        Ok(())
    }

    /// Removes a watch list and its matches.
    pub fn delete_watchlist(&self, id: &str) -> Result<(), NotifyError> {
        let _writer = self.lock();
        self.watchlist(id)?;
        let mut changes = vec![Change::Delete(key(WATCHLIST, &[id.as_bytes()]))];
        for prefix in [key(MATCH, &[id.as_bytes()]), key(MATCHED, &[id.as_bytes()])] {
            for (k, _) in self.inner.local.scan(&prefix, false, usize::MAX)? {
                changes.push(Change::Delete(k));
            }
        }
        self.inner.local.apply(changes)?;
        Ok(())
    }

    /// A webhook's deliveries, newest first, at most `limit`.
    pub fn deliveries(&self, webhook: &str, limit: usize) -> Result<Vec<Delivery>, NotifyError> {
        self.webhook(webhook)?;
        self.inner
            .local
            .scan(&key(DELIVERY, &[webhook.as_bytes()]), true, limit)?
            .iter()
            .map(|(_, v)| decode(v, "delivery"))
            .collect()
    }

    fn pending(&self) -> usize {
        self.inner.local.count(&[QUEUE]).unwrap_or(0)
    }

    fn enqueue(&self, webhook: &Webhook, notification: &Notification) -> Result<(), NotifyError> {
        let _writer = self.lock();
        if self.pending() >= self.inner.config.max_pending_deliveries {
            tracing::warn!(webhook = %webhook.id, event = notification.event.as_str(), "the delivery queue is full; a notification is not queued (notify.max_pending_deliveries)");
            self.inner.stats.dropped.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        let now = crate::clock::now_ms();
        let id = format!("{}-{}", webhook.id, self.new_id()?);
        let withheld = match (webhook.markings, &notification.kept_in) {
            (MarkingPolicy::Withhold, Some(why)) => Some(why),
            _ => None,
        };
        let body = match withheld {
            // The target learns that something concerns it and where to read it,
            // not what (the rules that matched would tell a container number).
            Some(why) => serde_json::json!({
                "event": notification.event,
                "delivery": id,
                "network": self.inner.store.network(),
                "node": self.own_code(),
                "entry": notification.record.meta,
                "withheld": format!("{why}: read it on the node"),
                "watchlist": notification.watchlist,
                "retro": notification.retro,
            }),
            None => serde_json::json!({
                "event": notification.event,
                "delivery": id,
                "network": self.inner.store.network(),
                "node": self.own_code(),
                "entry": notification.record,
                "watchlist": notification.watchlist,
                "rules": notification.rules,
                "retro": notification.retro,
            }),
        };
        let delivery = Delivery {
            id: id.clone(),
            webhook: webhook.id.clone(),
            event: notification.event,
            entry: notification.record.meta.id,
            status: DeliveryStatus::Pending,
            attempts: 0,
            last_error: None,
            last_status: None,
            created_at_ms: now,
            next_attempt_ms: Some(now),
            delivered_at_ms: None,
        };
        self.inner.local.apply(vec![
            Change::Put(key(DELIVERY, &[id.as_bytes()]), encode(&delivery)),
            Change::Put(key(DELIVERY_BODY, &[id.as_bytes()]), encode(&body)),
            Change::Put(key(QUEUE, &[&now.to_be_bytes(), id.as_bytes()]), Vec::new()),
        ])?;
        self.inner.queued.send_modify(|n| *n += 1);
        Ok(())
    }

    /// Attempts every delivery that is due, one at a time; when the next one is due.
    fn deliver_due(&self, sender: &WebhookSender) -> Result<Option<u64>, NotifyError> {
        loop {
            let Some((queue_key, _)) = self.inner.local.scan(&[QUEUE], false, 1)?.pop() else {
                return Ok(None);
            };
            let due = queue_key
                .get(1..9)
                .and_then(|b| b.try_into().ok())
                .map_or(0, u64::from_be_bytes);
            let now = crate::clock::now_ms();
            if due > now {
                return Ok(Some(due));
            }
            let id = String::from_utf8_lossy(queue_key.get(9..).unwrap_or_default()).into_owned();
            self.attempt(sender, &queue_key, &id)?;
        }
    }

    fn attempt(
        &self,
        sender: &WebhookSender,
        queue_key: &[u8],
        id: &str,
    ) -> Result<(), NotifyError> {
        let delivery_key = key(DELIVERY, &[id.as_bytes()]);
        let (Some(delivery), Some(body)) = (
            self.inner.local.get(&delivery_key)?,
            self.inner
                .local
                .get(&key(DELIVERY_BODY, &[id.as_bytes()]))?,
        ) else {
            self.inner.local.delete(queue_key)?;
            return Ok(());
        };
        let mut delivery: Delivery = decode(&delivery, "delivery")?;
        let webhook = match self.webhook(&delivery.webhook) {
            Ok(webhook) => webhook,
            Err(NotifyError::NotFound { .. }) => {
                self.inner.local.delete(queue_key)?;
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let timestamp = (crate::clock::now_ms() / 1000).to_string();
        let signature = rules::signature_header(&webhook.secret, &timestamp, &body);
        let outcome = sender.post(
            &webhook.url,
            &[
                ("X-Customs-Event", delivery.event.as_str()),
                ("X-Customs-Delivery", &delivery.id),
                ("X-Customs-Timestamp", &timestamp),
                ("X-Customs-Signature", &signature),
            ],
            &body,
        );
        delivery.attempts += 1;
        let now = crate::clock::now_ms();
        let config = &self.inner.config;
        let mut changes = vec![Change::Delete(queue_key.to_vec())];
        match outcome {
            Ok(status) => {
                delivery.status = DeliveryStatus::Delivered;
                delivery.last_status = Some(status);
                delivery.last_error = None;
                delivery.next_attempt_ms = None;
                delivery.delivered_at_ms = Some(now);
                changes.push(Change::Delete(key(DELIVERY_BODY, &[id.as_bytes()])));
                self.inner.stats.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err(failure) => {
                delivery.last_status = failure.status;
                delivery.last_error = Some(failure.class.to_string());
                tracing::debug!(webhook = %webhook.id, delivery = %id, class = failure.class, reason = %failure.reason, "a webhook delivery attempt failed");
                self.inner
                    .stats
                    .failed_attempts
                    .fetch_add(1, Ordering::Relaxed);
                if delivery.attempts >= config.webhook_max_attempts {
                    delivery.status = DeliveryStatus::Failed;
                    delivery.next_attempt_ms = None;
                    changes.push(Change::Delete(key(DELIVERY_BODY, &[id.as_bytes()])));
                    tracing::warn!(webhook = %webhook.id, delivery = %id, "a webhook delivery failed for good after {} attempts", delivery.attempts);
                } else {
                    let next = now
                        + rules::retry_delay_ms(
                            delivery.attempts,
                            config.webhook_retry_initial_ms,
                            config.webhook_retry_max_ms,
                        );
                    delivery.next_attempt_ms = Some(next);
                    changes.push(Change::Put(
                        key(QUEUE, &[&next.to_be_bytes(), id.as_bytes()]),
                        Vec::new(),
                    ));
                }
            }
        }
        changes.push(Change::Put(delivery_key, encode(&delivery)));
        self.inner.local.apply(changes)?;
        self.trim_log(&delivery.webhook)?;
        Ok(())
    }

    /// Keeps at most `delivery_log_per_webhook` finished deliveries per webhook.
    fn trim_log(&self, webhook: &str) -> Result<(), NotifyError> {
        let prefix = key(DELIVERY, &[webhook.as_bytes()]);
        let count = self.inner.local.count(&prefix)?;
        let excess = count.saturating_sub(self.inner.config.delivery_log_per_webhook);
        for (k, v) in self.inner.local.scan(&prefix, false, excess)? {
            let delivery: Delivery = decode(&v, "delivery")?;
            if delivery.status != DeliveryStatus::Pending {
                self.inner.local.delete(&k)?;
            }
        }
        Ok(())
    }

    /// Runs until `stop`: follows the arrivals and attempts due deliveries.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut arrivals = self.inner.store.watch_arrivals();
        let mut queued = self.inner.queued.subscribe();
        let sender = WebhookSender::new(
            Duration::from_millis(self.inner.config.webhook_timeout_ms),
            &self.inner.config,
        );
        loop {
            let this = self.clone();
            let sender = sender.clone();
            let stopping = stop.clone();
            let round = tokio::task::spawn_blocking(move || {
                // A store of a million unread records takes a while: a stop is heard
                // between batches.
                while !*stopping.borrow() && this.process_arrivals()? {}
                this.deliver_due(&sender)
            })
            .await;
            let wait = match round {
                Ok(Ok(Some(due))) => {
                    Duration::from_millis(due.saturating_sub(crate::clock::now_ms())).min(IDLE_POLL)
                }
                Ok(Ok(None)) => IDLE_POLL,
                Ok(Err(error)) => {
                    tracing::warn!(%error, "the notifier failed a round; it tries again");
                    IDLE_POLL
                }
                Err(error) => {
                    tracing::error!(%error, "the notifier's round panicked");
                    IDLE_POLL
                }
            };
            let settle = tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                _ = arrivals.changed() => true,
                _ = queued.changed() => false,
                _ = tokio::time::sleep(wait) => false,
            };
            if settle {
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => return,
                    _ = tokio::time::sleep(ARRIVALS_SETTLE) => {}
                }
            }
        }
    }
}
