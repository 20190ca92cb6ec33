//! CEN-style reporting files: one CSV per commodity area and year, with the columns
//! the WCO's yearly seizure reporting asks for (README "CEN reporting" documents
//! each), written by [`super::csv_line`].

use customs_protocol::body::Category;
use customs_protocol::{Body, RiskAlert};

use super::Outgoing;

/// The commodity areas of the reporting, and the categories each covers.
pub const AREAS: [(&str, &[Category]); 8] = [
    ("drugs", &[Category::Drugs, Category::Precursors]),
    (
        "revenue",
        &[Category::Tobacco, Category::Alcohol, Category::RevenueFraud],
    ),
    ("environment", &[Category::Wildlife, Category::Waste]),
    ("ipr", &[Category::Counterfeits]),
    ("security", &[Category::Weapons, Category::Explosives]),
    ("cultural_heritage", &[Category::CulturalGoods]),
    ("currency", &[Category::Currency]),
    ("other", &[Category::Other]),
];

/// The categories of an area, or `None` for a name that is not one.
pub fn area(name: &str) -> Option<&'static [Category]> {
    AREAS.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
}

pub fn area_names() -> String {
    AREAS.map(|(n, _)| n).join(", ")
}

pub const COLUMNS: [&str; 24] = [
    "entry_id",
    "reference",
    "reporting_country",
    "date",
    "place_unlocode",
    "place_country",
    "place_type",
    "direction",
    "category",
    "hs_code",
    "description",
    "quantity",
    "unit",
    "detection_method",
    "concealment",
    "transport_mode",
    "containers",
    "vessel_imo",
    "flight",
    "route_origin",
    "route_transit",
    "route_destination",
    "estimated_value",
    "value_currency",
];

fn text<T: serde::Serialize>(value: T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

pub fn header() -> String {
    super::csv_line(&COLUMNS)
}

/// The line of an alert (`None` for any other record).
pub fn line(record: &Outgoing) -> Option<String> {
    let Body::RiskAlert(alert) = &record.record.body else {
        return None;
    };
    Some(alert_line(record, alert))
}

fn alert_line(record: &Outgoing, alert: &RiskAlert) -> String {
    let (amount, unit) = match &alert.quantity {
        Some(q) => (q.amount.clone(), text(q.unit)),
        None => (String::new(), String::new()),
    };
    let (value, currency) = match &alert.estimated_value {
        Some(m) => (m.amount.clone(), m.currency.clone()),
        None => (String::new(), String::new()),
    };
    let join = |items: Vec<String>| items.join(";");
    let fields = [
        record.id.to_string(),
        alert.reference.clone(),
        record.author.code.clone(),
        alert.detected_on.to_string(),
        alert.location.unlocode.clone(),
        alert
            .location
            .unlocode
            .get(..2)
            .unwrap_or_default()
            .to_string(),
        text(alert.location.place_type),
        alert.direction.map(text).unwrap_or_default(),
        alert.category.as_str().to_string(),
        alert.hs_code.clone(),
        alert.description.clone(),
        amount,
        unit,
        text(alert.detection_method),
        text(alert.concealment),
        alert.conveyance.mode.as_str().to_string(),
        join(alert.conveyance.containers.clone()),
        alert.conveyance.vessel_imo.clone().unwrap_or_default(),
        alert.conveyance.flight.clone().unwrap_or_default(),
        alert
            .route
            .origin
            .map(|c| c.to_string())
            .unwrap_or_default(),
        join(alert.route.transit.iter().map(|c| c.to_string()).collect()),
        alert
            .route
            .destination
            .map(|c| c.to_string())
            .unwrap_or_default(),
        value,
        currency,
    ];
    super::csv_line(&fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_category_is_in_exactly_one_area() {
        for category in Category::ALL {
            let areas = AREAS.iter().filter(|(_, c)| c.contains(&category)).count();
            assert_eq!(areas, 1, "{category:?}");
        }
        assert!(area("drugs").is_some_and(|c| c.contains(&Category::Precursors)));
        assert!(area("narcotics").is_none());
    }
}
