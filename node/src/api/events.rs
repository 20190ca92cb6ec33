//! `GET /api/v1/events`: newly stored entries (own and received) as Server-Sent
//! Events. Bounded twice: at most `api.max_event_streams` streams, and each stream
//! buffers at most the network's event capacity; a client too slow to keep up gets a
//! `lagged` event with the number it missed and should reload what it shows.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::error::ApiError;
use super::views::EntryEvent;
use super::ApiState;

/// A comment line this often keeps proxies from closing a quiet stream.
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(15);

/// The live feed.
///
/// Events: `entry` (data: an EntryEvent); `request` (a request for control addressed
/// to this administration), `result` (an answer to one of this node's records) and
/// `match` (a record matched a watch list), with data `{event, record, watchlist?,
/// rules?, retro?}`; and `lagged` (data: `{"missed": n}`) when this client fell
/// behind and missed some.
#[utoipa::path(
    get,
    path = "/api/v1/events",
    tag = "live feed",
    responses(
        (status = 200, description = "An endless text/event-stream of `entry` events (data: EntryEvent) and `lagged` events", content_type = "text/event-stream", body = EntryEvent),
        (status = 401, body = super::ErrorBody),
        (status = 503, description = "Too many open streams", body = super::ErrorBody),
    )
)]
pub async fn events(
    State(state): State<ApiState>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let permit = state
        .event_streams
        .clone()
        .try_acquire_owned()
        .map_err(|_| {
            ApiError::unavailable(format!(
                "this node serves at most {} live-feed streams at once (api.max_event_streams)",
                state.limits.max_event_streams
            ))
        })?;
    let entries = state.node.client.subscribe();
    let notifications = state.node.notifier.subscribe();
    let stopped = Box::pin(super::stopped(&state.stop));
    // The stream owns the permit, the subscription and the stop signal: all are
    // released as soon as the client disconnects (the stream is dropped).
    let stream = futures::stream::unfold(
        (entries, notifications, stopped, state, permit),
        |(mut entries, mut notifications, mut stopped, state, permit)| async move {
            loop {
                let event = tokio::select! {
                    _ = &mut stopped => return None,
                    notified = notifications.recv() => match notified {
                        Ok(notification) => {
                            match Event::default()
                                .event(notification.event.as_str())
                                .json_data(&*notification)
                            {
                                Ok(event) => event,
                                Err(_) => continue,
                            }
                        }
                        Err(RecvError::Lagged(missed)) => lagged(missed),
                        Err(RecvError::Closed) => return None,
                    },
                    received = entries.recv() => match received {
                        Ok(entry) => {
                            // A sealed record this node cannot read, or one its group
                            // refuses, is not announced.
                            let Ok(Some(readable)) = state.node.store.readable(&entry) else {
                                continue;
                            };
                            if matches!(readable.distribution, customs_protocol::Distribution::Group(_)) {
                                let membership = state.node.membership.get();
                                let refused = state.node.store.groups(&membership).map(|groups| {
                                    crate::api::views::group_refusal(&groups, &membership, &readable, entry.entry())
                                });
                                if !matches!(refused, Ok(None)) {
                                    continue;
                                }
                            }
                            let view = EntryEvent::of(&entry, &readable, state.code_of(&entry.entry().author));
                            match Event::default().event("entry").id(view.meta.id.to_hex()).json_data(&view) {
                                Ok(event) => event,
                                Err(_) => continue,
                            }
                        }
                        Err(RecvError::Lagged(missed)) => lagged(missed),
                        Err(RecvError::Closed) => return None,
                    },
                };
                return Some((Ok(event), (entries, notifications, stopped, state, permit)));
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE_INTERVAL)))
}

/// The event a client that fell behind gets: how many it missed.
fn lagged(missed: u64) -> Event {
    Event::default()
        .event("lagged")
        .data(format!("{{\"missed\":{missed}}}"))
}
