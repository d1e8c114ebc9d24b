//! `GET customers.json` and `GET orders.json`: filtered, sorted lists paged
//! with opaque `page_info` tokens in the `Link` header, as Shopify's REST
//! cursor pagination does.
//!
//! The first page takes the filters (`updated_at_min`, `status` for
//! orders, `order`); a token remembers them and the position, and a request
//! with a token may carry nothing else but `limit` and `fields`. An unknown
//! token, or a token with filters, is refused with 400 like Shopify.

use std::cmp::Ordering;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};

use super::{Data, answer};

/// The lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Resource {
    Customers,
    Orders,
}

impl Resource {
    fn name(self) -> &'static str {
        match self {
            Self::Customers => "customers",
            Self::Orders => "orders",
        }
    }
}

/// `status` of the orders list; Shopify's default is `open`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Open,
    Closed,
    Cancelled,
    Any,
}

/// Sort position: `(updated_at ms or 0, id)`.
type Key = (i64, u64);

/// What the first page asked for.
#[derive(Debug, Clone)]
struct Filter {
    updated_at_min: Option<i64>,
    status: Status,
    by_updated_at: bool,
    descending: bool,
}

impl Filter {
    /// The filter, or the parameter refused and why.
    fn parse(
        resource: Resource,
        query: &[(String, String)],
    ) -> Result<Self, (&'static str, &'static str)> {
        let mut filter = Self {
            updated_at_min: None,
            status: Status::Open,
            by_updated_at: false,
            descending: false,
        };
        for (name, value) in query {
            match name.as_str() {
                "updated_at_min" => {
                    filter.updated_at_min = Some(
                        parse_rfc3339_ms(value).ok_or(("updated_at_min", "is not a valid date"))?,
                    );
                }
                "status" if resource == Resource::Orders => {
                    filter.status = match value.as_str() {
                        "open" => Status::Open,
                        "closed" => Status::Closed,
                        "cancelled" => Status::Cancelled,
                        "any" => Status::Any,
                        _ => return Err(("status", "is not a valid status")),
                    };
                }
                "order" => {
                    let (field, direction) = value.split_once(' ').unwrap_or((value, "asc"));
                    filter.by_updated_at = match field {
                        "updated_at" => true,
                        "id" => false,
                        _ => return Err(("order", "is not a sortable field")),
                    };
                    filter.descending = match direction.trim().to_ascii_lowercase().as_str() {
                        "asc" => false,
                        "desc" => true,
                        _ => return Err(("order", "direction must be asc or desc")),
                    };
                }
                _ => {}
            }
        }
        Ok(filter)
    }

    fn admits(&self, resource: Resource, body: &Value) -> bool {
        let recent = self
            .updated_at_min
            .is_none_or(|min| updated_ms(body) >= min);
        let status = resource == Resource::Customers
            || match self.status {
                Status::Any => true,
                Status::Open => body["cancelled_at"].is_null() && body["closed_at"].is_null(),
                Status::Closed => !body["closed_at"].is_null(),
                Status::Cancelled => !body["cancelled_at"].is_null(),
            };
        recent && status
    }

    fn key(&self, id: u64, body: &Value) -> Key {
        (
            if self.by_updated_at {
                updated_ms(body)
            } else {
                0
            },
            id,
        )
    }

    /// Whether `key` comes after `than` in this list's order.
    fn after(&self, key: Key, than: Key) -> bool {
        let order = key.cmp(&than);
        if self.descending {
            order == Ordering::Less
        } else {
            order == Ordering::Greater
        }
    }
}

/// Where a token points.
#[derive(Debug, Clone, Copy)]
enum Position {
    Start,
    After(Key),
    Before(Key),
}

/// What a `page_info` token stands for.
#[derive(Debug, Clone)]
pub(super) struct Page {
    resource: Resource,
    filter: Filter,
    position: Position,
}

/// A record's `updated_at` in ms; 0 when it has none it can read.
fn updated_ms(body: &Value) -> i64 {
    body["updated_at"]
        .as_str()
        .and_then(parse_rfc3339_ms)
        .unwrap_or(0)
}

/// Shopify's 400 for a bad parameter.
fn bad_request(parameter: &str, message: &str) -> Response {
    answer(
        StatusCode::BAD_REQUEST,
        json!({ "errors": { parameter: message } }),
    )
}

/// Serves one page of a list.
pub(super) fn list(
    data: &mut Data,
    api: &str,
    resource: Resource,
    query: &[(String, String)],
) -> Response {
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let limit = match param("limit").map(str::parse::<usize>) {
        None => 50,
        Some(Ok(n)) if (1..=250).contains(&n) => n,
        Some(_) => return bad_request("limit", "must be between 1 and 250"),
    };
    let page = match param("page_info") {
        Some(token) => {
            if let Some((name, _)) = query
                .iter()
                .find(|(k, _)| !matches!(k.as_str(), "page_info" | "limit" | "fields"))
            {
                return bad_request(
                    "page_info",
                    &format!(
                        "cannot be combined with `{name}`: a request with page_info takes only limit and fields"
                    ),
                );
            }
            match data.pages.get(token) {
                Some(page) if page.resource == resource => page.clone(),
                _ => return bad_request("page_info", "Invalid value."),
            }
        }
        None => match Filter::parse(resource, query) {
            Ok(filter) => Page {
                resource,
                filter,
                position: Position::Start,
            },
            Err((parameter, message)) => return bad_request(parameter, message),
        },
    };

    let records = match resource {
        Resource::Customers => &data.customers,
        Resource::Orders => &data.orders,
    };
    let filter = &page.filter;
    // Bodies are borrowed until the page is chosen: a large shop's listing
    // copies one page, not the whole shop, per request.
    let mut all: Vec<(Key, &Value)> = records
        .iter()
        .filter(|(_, body)| filter.admits(resource, body))
        .map(|(id, body)| (filter.key(*id, body), body))
        .collect();
    all.sort_by_key(|(key, _)| *key);
    if filter.descending {
        all.reverse();
    }
    let selected: Vec<&(Key, &Value)> = match page.position {
        Position::Start => all.iter().take(limit).collect(),
        Position::After(than) => all
            .iter()
            .filter(|(key, _)| filter.after(*key, than))
            .take(limit)
            .collect(),
        Position::Before(than) => {
            let before: Vec<&(Key, &Value)> = all
                .iter()
                .filter(|(key, _)| filter.after(than, *key))
                .collect();
            before[before.len().saturating_sub(limit)..].to_vec()
        }
    };
    let first = selected.first().map(|(key, _)| *key);
    let last = selected.last().map(|(key, _)| *key);
    let has_next = last.is_some_and(|last| all.iter().any(|(key, _)| filter.after(*key, last)));
    let has_previous = !matches!(page.position, Position::Start)
        && first.is_some_and(|first| all.iter().any(|(key, _)| filter.after(first, *key)));

    let bodies: Vec<Value> = selected.iter().map(|(_, body)| (*body).clone()).collect();

    let mut links = Vec::new();
    let mut link = |position: Position, rel: &str| {
        let token = register(
            data,
            Page {
                position,
                ..page.clone()
            },
        );
        links.push(format!(
            "<{api}/{}.json?limit={limit}&page_info={token}>; rel=\"{rel}\"",
            resource.name()
        ));
    };
    if let (true, Some(first)) = (has_previous, first) {
        link(Position::Before(first), "previous");
    }
    if let (true, Some(last)) = (has_next, last) {
        link(Position::After(last), "next");
    }
    let body = json!({ resource.name(): bodies });
    let mut response = axum::Json(body).into_response();
    if let Ok(value) = links.join(", ").parse()
        && !links.is_empty()
    {
        response.headers_mut().insert("link", value);
    }
    response
}

/// Stores a page under a fresh opaque token.
fn register(data: &mut Data, page: Page) -> String {
    let n = data.pages.len() + 1;
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("{{\"last_id\":{n},\"direction\":\"next\"}}"));
    data.pages.insert(token.clone(), page);
    token
}

/// RFC 3339 (`2026-03-02T09:14:05+01:00`, `…Z`, optional fraction) to UTC
/// milliseconds.
pub(super) fn parse_rfc3339_ms(text: &str) -> Option<i64> {
    let b = text.trim().as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let digits = b.get(from..from + len)?;
        digits.iter().try_fold(0_i64, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
        })
    };
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') || !matches!(b.get(10), Some(b'T' | b't'))
    {
        return None;
    }
    let mut pos = 19;
    let mut millis = 0;
    if b.get(pos) == Some(&b'.') {
        pos += 1;
        let start = pos;
        while b.get(pos).is_some_and(u8::is_ascii_digit) {
            if pos - start < 3 {
                millis = millis * 10 + i64::from(b[pos] - b'0');
            }
            pos += 1;
        }
        for _ in (pos - start).min(3)..3 {
            millis *= 10;
        }
    }
    let offset_minutes = match b.get(pos)? {
        b'Z' | b'z' if pos + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if pos + 6 == b.len() => {
            let minutes = num(pos + 1, 2)? * 60 + num(pos + 4, 2)?;
            if *sign == b'+' { minutes } else { -minutes }
        }
        _ => return None,
    };
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    Some(((days * 24 + hour) * 60 + minute - offset_minutes) * 60_000 + second * 1000 + millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_with_offsets_are_utc() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339_ms("2026-03-20T10:00:00+01:00"),
            Some(1_773_997_200_000)
        );
        assert_eq!(
            parse_rfc3339_ms("2026-03-20T09:00:00.250Z"),
            Some(1_773_997_200_250)
        );
        assert_eq!(parse_rfc3339_ms("2026-03-20"), None);
        assert_eq!(parse_rfc3339_ms("2026-03-20T09:00:00"), None);
    }
}
