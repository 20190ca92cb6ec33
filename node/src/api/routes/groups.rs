//! Closed user groups: create one, list those this node belongs to, add and remove
//! members. Each change is a group update sealed to the group's members with a new
//! group key (a new epoch), so that a removed member reads nothing addressed to the
//! group afterwards.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use customs_protocol::groups::GroupState;
use customs_protocol::limits::MAX_GROUPS_PER_OWNER;
use customs_protocol::{Body, Date, Distribution, GroupId, GroupUpdate, Markings};
use serde::Deserialize;
use utoipa::ToSchema;

use super::control::own_code;
use super::{blocking, PublishResponses};
use crate::api::error::{ApiError, ErrorBody};
use crate::api::extract::JsonBody;
use crate::api::views::{GroupChanged, GroupClaimView, GroupList, GroupView};
use crate::api::ApiState;
use crate::clock::now_ms;

/// A group to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGroup {
    /// E.g. "Operation Cocoa 2026" (1 to 100 bytes).
    pub name: String,
    /// What it is for (1 to 500 bytes).
    pub purpose: String,
    /// The member codes; this node's administration is added when missing.
    pub members: Vec<String>,
    /// Default: today.
    #[serde(default)]
    pub starts_on: Option<Date>,
    /// After this day nothing new may be addressed to the group.
    pub ends_on: Date,
}

/// A member to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGroupMember {
    pub code: String,
}

fn today() -> Date {
    Date::from_unix_ms(now_ms())
}

fn claim_view(claim: &customs_protocol::groups::GroupClaim) -> GroupClaimView {
    GroupClaimView {
        group: claim.group,
        entry: claim.entry,
        claimant: claim.claimant.clone(),
        reason: claim.reason.clone(),
    }
}

fn view(group: &GroupState, own_code: &str) -> GroupView {
    update_view(&group.current, &group.owner, group.contested, own_code)
}

/// A group at `update`, owned by `owner`.
fn update_view(update: &GroupUpdate, owner: &str, contested: bool, own_code: &str) -> GroupView {
    GroupView {
        id: update.id,
        name: update.name.clone(),
        purpose: update.purpose.clone(),
        owner: owner.to_string(),
        members: update.members.clone(),
        starts_on: update.starts_on,
        ends_on: update.ends_on,
        epoch: update.epoch,
        active: today() <= update.ends_on && !contested,
        contested,
        owned_by_us: owner == own_code,
    }
}

/// The closed user groups this node is a member of.
///
/// Only members know a group exists: its definition travels sealed to them.
#[utoipa::path(
    get,
    path = "/api/v1/groups",
    tag = "groups",
    responses((status = 200, body = GroupList), (status = 401, body = ErrorBody))
)]
pub async fn list_groups(State(state): State<ApiState>) -> Result<Json<GroupList>, ApiError> {
    let list = blocking(move || {
        let own = own_code(&state).unwrap_or_default();
        let groups = state.node.store.groups(&state.node.membership.get())?;
        Ok(GroupList {
            groups: groups.groups.values().map(|g| view(g, &own)).collect(),
            claims: groups.claims.iter().map(claim_view).collect(),
        })
    })
    .await?;
    Ok(Json(list))
}

/// Create a closed user group.
///
/// Its definition and key go, sealed, to its members' nodes; records addressed to it
/// (`"distribution": {"group": {"id": ID}}`) are readable by them only.
#[utoipa::path(
    post,
    path = "/api/v1/groups",
    tag = "groups",
    request_body = NewGroup,
    responses(PublishResponses)
)]
pub async fn create_group(
    State(state): State<ApiState>,
    JsonBody(request): JsonBody<NewGroup>,
) -> Result<Response, ApiError> {
    let own = own_code(&state)?;
    let mut members = request.members;
    if !members.contains(&own) {
        members.insert(0, own.clone());
    }
    let starts_on = request.starts_on.unwrap_or_else(today);
    if request.ends_on < today() {
        return Err(ApiError::invalid_field(
            "ends_on",
            format!("ends_on: {} has passed", request.ends_on),
        ));
    }
    // Members' nodes keep the keys of an owner's 64 open groups only (SPEC section
    // 13): a 65th would not open for them.
    let (store, membership, owner) = (
        state.node.store.clone(),
        state.node.membership.get(),
        own.clone(),
    );
    let open_groups =
        blocking(move || Ok(store.groups(&membership)?.open_count(&owner, today()))).await?;
    if open_groups >= MAX_GROUPS_PER_OWNER {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "too_many_groups",
            format!(
                "{own} has {open_groups} open groups, the most whose keys members' nodes keep \
                 ({MAX_GROUPS_PER_OWNER}): address an existing group, or wait until one ends"
            ),
        ));
    }
    // The id is bound to this node's key and the first secret, so that no other
    // node can ever sign a first definition of this group.
    let secret = random::<32>()?;
    let update = GroupUpdate {
        id: GroupId::bound(&state.node.public_key(), &secret),
        epoch: 0,
        name: request.name,
        purpose: request.purpose,
        members,
        starts_on,
        ends_on: request.ends_on,
        secret,
    };
    publish_update(state, update).await
}

/// Add a member to a group this node's administration owns (a new group key).
#[utoipa::path(
    post,
    path = "/api/v1/groups/{id}/members",
    tag = "groups",
    params(("id" = String, Path, description = "The group id (32 hex digits)")),
    request_body = NewGroupMember,
    responses(
        PublishResponses,
        (status = 404, description = "This node knows no such group", body = ErrorBody),
        (status = 409, description = "Already a member, or the group has ended", body = ErrorBody),
    )
)]
pub async fn add_member(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<NewGroupMember>,
) -> Result<Response, ApiError> {
    let code = request.code;
    change_members(state, id, move |members| {
        if members.contains(&code) {
            return Err(conflict(format!("{code} is already a member")));
        }
        members.push(code);
        Ok(())
    })
    .await
}

/// Remove a member from a group this node's administration owns (a new group key:
/// the removed member reads nothing addressed to the group from now on).
#[utoipa::path(
    delete,
    path = "/api/v1/groups/{id}/members/{code}",
    tag = "groups",
    params(
        ("id" = String, Path, description = "The group id (32 hex digits)"),
        ("code" = String, Path, description = "The member code to remove"),
    ),
    responses(
        PublishResponses,
        (status = 404, description = "No such group, or not a member of it", body = ErrorBody),
        (status = 409, description = "The owner cannot leave its group, or the group has ended", body = ErrorBody),
    )
)]
pub async fn remove_member(
    State(state): State<ApiState>,
    Path((id, code)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    change_members(state, id, move |members| {
        let before = members.len();
        members.retain(|m| *m != code);
        if members.len() == before {
            return Err(ApiError::not_found(format!(
                "{code} is not a member of the group"
            )));
        }
        Ok(())
    })
    .await
}

fn conflict(message: String) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "conflict", message)
}

/// The next epoch of group `id` with the members `edit` leaves, and a new key.
async fn change_members(
    state: ApiState,
    id: String,
    edit: impl FnOnce(&mut Vec<String>) -> Result<(), ApiError> + Send + 'static,
) -> Result<Response, ApiError> {
    let id = GroupId::from_hex(&id).ok_or_else(|| {
        ApiError::bad_query("id", format!("{id:?} is not a group id (32 hex digits)"))
    })?;
    let own = own_code(&state)?;
    let store = state.node.store.clone();
    let membership = state.node.membership.get();
    let group = blocking(move || Ok(store.groups(&membership)?.groups.remove(&id)))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("this node knows no group {id}")))?;
    if group.owner != own {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "only the group's owner ({}) changes its members",
                group.owner
            ),
        ));
    }
    if group.contested {
        return Err(conflict(format!(
            "another administration signed a first definition of group {id} too (an older group, whose id is not bound to its creator): nobody may change it; create a new group"
        )));
    }
    if !group.open_on(today()) {
        return Err(conflict(format!(
            "the group ended on {}",
            group.current.ends_on
        )));
    }
    let mut update = group.current.clone();
    edit(&mut update.members)?;
    if !update.members.contains(&own) {
        return Err(conflict("the owner cannot leave its own group".into()));
    }
    update.epoch += 1;
    update.secret = random::<32>()?;
    publish_update(state, update).await
}

/// Signs and stores a group update sealed to its members.
async fn publish_update(state: ApiState, update: GroupUpdate) -> Result<Response, ApiError> {
    update.validate()?;
    let members = update.members.clone();
    let draft = state.node.publisher.draft(
        Body::Group(update.clone()),
        Markings::default(),
        Distribution::To(members),
        Vec::new(),
    )?;
    let appended = state.node.publisher.publish_draft(draft, None).await?;
    let own = own_code(&state)?;
    let entry = appended.entry;
    let body = GroupChanged {
        group: update_view(&update, &own, false, &own),
        entry: entry.id(),
        seq: entry.entry().seq,
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

fn random<const N: usize>() -> Result<[u8; N], ApiError> {
    crate::identity::random_bytes::<N>().map_err(|e| ApiError::internal(e.to_string()))
}
