//! Field checks: one value by the protocol's own rule, as a form checks while typing.

use axum::Json;
use customs_protocol::codes::Country;
use customs_protocol::Date;
use serde::Deserialize;

use crate::api::error::{ApiError, ErrorBody};
use crate::api::extract::QueryParams;
use crate::limits::MAX_CHECK_VALUE_BYTES;

/// What one value to check is.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CheckQuery {
    /// reference, hs_code, amount, date, unlocode, container, imo, flight, vehicle,
    /// country or operator_id.
    kind: String,
    /// The value, as a form field holds it.
    value: String,
}

/// The answer of `check`.
#[derive(Debug, serde::Serialize, Deserialize, utoipa::ToSchema)]
pub struct CheckResult {
    pub valid: bool,
    /// Why not, when not.
    pub message: Option<String>,
}

/// Check one field value by the protocol's own rule (check digits, code lists, date
/// calendar), as forms do while an officer types. Cross-field rules are checked when
/// the record is published.
#[utoipa::path(
    get,
    path = "/api/v1/check",
    tag = "entries",
    params(CheckQuery),
    responses(
        (status = 200, body = CheckResult),
        (status = 400, description = "Unknown kind, or a value over 1024 bytes", body = ErrorBody),
        (status = 401, body = ErrorBody),
    )
)]
pub async fn check(
    QueryParams(query): QueryParams<CheckQuery>,
) -> Result<Json<CheckResult>, ApiError> {
    use customs_protocol::codes;
    if query.value.len() > MAX_CHECK_VALUE_BYTES {
        return Err(ApiError::bad_query(
            "value",
            format!("value is longer than {MAX_CHECK_VALUE_BYTES} bytes"),
        ));
    }
    let value = query.value.as_str();
    let rule = match query.kind.as_str() {
        "reference" => codes::check_reference(value),
        "hs_code" => codes::check_hs_code(value),
        "amount" => codes::check_amount(value),
        "date" => Date::parse_valid(value).map(|_| ()),
        "unlocode" => codes::check_unlocode(value),
        "container" => codes::check_container(value),
        "imo" => codes::check_imo(value),
        "flight" => codes::check_flight(value),
        "vehicle" => codes::check_vehicle(value),
        "operator_id" => codes::check_operator_id(value),
        "country" => match Country::parse_shape(value) {
            Some(country) => country.check(),
            None => Err(customs_protocol::Rule::UnknownCountry {
                value: value.to_string(),
            }),
        },
        other => {
            return Err(ApiError::bad_query(
                "kind",
                format!("kind {other:?} is not one of reference, hs_code, amount, date, unlocode, container, imo, flight, vehicle, country, operator_id"),
            ))
        }
    };
    Ok(Json(match rule {
        Ok(()) => CheckResult {
            valid: true,
            message: None,
        },
        Err(rule) => CheckResult {
            valid: false,
            message: Some(rule.to_string()),
        },
    }))
}
