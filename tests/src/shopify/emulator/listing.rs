//! `GET customers.json` and `GET orders.json`: filtered, sorted lists paged
//! with opaque `page_info` tokens in the `Link` header, as Shopify's REST
//! cursor pagination does.
//!
//! The first page takes the filters (`updated_at_min`, `status` for
//! orders, `order`); a token remembers them and the position, and a request
//! with a token may carry nothing else but `limit` and `fields`. An unknown
//! token, or a token with filters, is refused with 400 like Shopify.

use std::cmp::Ordering;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};

use super::{Data, answer};

/// The lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Status {
    Open,
    Closed,
    Cancelled,
    Any,
}

/// Sort position: `(updated_at ms or 0, id)`.
pub(super) type Key = (i64, u64);

/// The ids a filter admits, in the list's order, with their sort keys.
pub(super) type Listed = Arc<Vec<(Key, u64)>>;

/// What the first page asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Filter {
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

    let filter = &page.filter;
    let listed = listing(data, resource, filter);
    let (from, to) = match page.position {
        Position::Start => (0, limit.min(listed.len())),
        Position::After(than) => {
            let from = listed.partition_point(|(key, _)| !filter.after(*key, than));
            (from, (from + limit).min(listed.len()))
        }
        Position::Before(than) => {
            let to = listed.partition_point(|(key, _)| filter.after(than, *key));
            (to.saturating_sub(limit), to)
        }
    };
    let selected = &listed[from..to];
    let first = selected.first().map(|(key, _)| *key);
    let last = selected.last().map(|(key, _)| *key);
    let has_next = to < listed.len();
    let has_previous = !matches!(page.position, Position::Start) && from > 0;
    let mut body = format!("{{\"{}\":[", resource.name());
    for (n, (_, id)) in selected.iter().enumerate() {
        if n > 0 {
            body.push(',');
        }
        body.push_str(&serialized(data, resource, *id));
    }
    body.push_str("]}");

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
    let mut response = (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response();
    if let Ok(value) = links.join(", ").parse()
        && !links.is_empty()
    {
        response.headers_mut().insert("link", value);
    }
    response
}

/// The ids the filter admits, in the list's order, with their sort keys:
/// computed once and kept until a record of the shop changes, so that
/// paging through a large shop costs each page its own records only.
fn listing(data: &mut Data, resource: Resource, filter: &Filter) -> Listed {
    if let Some(listed) = data.listings.get(&(resource, *filter)) {
        return listed.clone();
    }
    let records = match resource {
        Resource::Customers => &data.customers,
        Resource::Orders => &data.orders,
    };
    let mut listed: Vec<(Key, u64)> = records
        .iter()
        .filter(|(_, body)| filter.admits(resource, body))
        .map(|(id, body)| (filter.key(*id, body), *id))
        .collect();
    listed.sort_unstable_by_key(|(key, _)| *key);
    if filter.descending {
        listed.reverse();
    }
    let listed = Arc::new(listed);
    data.listings.insert((resource, *filter), listed.clone());
    listed
}

/// A record's JSON as sent: serialized once and kept until it changes.
fn serialized(data: &mut Data, resource: Resource, id: u64) -> Arc<str> {
    if let Some(text) = data.serialized.get(&(resource, id)) {
        return text.clone();
    }
    let records = match resource {
        Resource::Customers => &data.customers,
        Resource::Orders => &data.orders,
    };
    let text: Arc<str> = records
        .get(&id)
        .map_or_else(|| "null".to_owned(), Value::to_string)
        .into();
    data.serialized.insert((resource, id), text.clone());
    text
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
    use crate::shopify::ShopifyEmulator;
    use crate::shopify::samples::API_VERSION;

    const TOKEN: &str = "shpat_listing";

    /// The ids of one page and its `previous` and `next` links.
    async fn page(url: &str) -> (Vec<u64>, Option<String>, Option<String>) {
        let answer = reqwest::Client::new()
            .get(url)
            .header("X-Shopify-Access-Token", TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "{url}");
        let link = |rel: &str| {
            answer
                .headers()
                .get("link")
                .and_then(|l| l.to_str().ok())
                .and_then(|l| {
                    l.split(", ")
                        .find(|part| part.ends_with(&format!("rel=\"{rel}\"")))
                        .map(|part| part[1..part.find('>').unwrap()].to_owned())
                })
        };
        let (previous, next) = (link("previous"), link("next"));
        let body: Value = serde_json::from_str(&answer.text().await.unwrap()).unwrap();
        let ids = body["orders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["id"].as_u64().unwrap())
            .collect();
        (ids, previous, next)
    }

    #[tokio::test]
    async fn pages_go_both_ways_and_see_changes_made_between_listings() {
        let shop = ShopifyEmulator::start(TOKEN).await.unwrap();
        shop.lift_call_limit();
        for id in [5, 1, 4, 2, 3] {
            shop.put_order_json(
                id,
                json!({ "id": id, "updated_at": "2026-03-01T00:00:00Z" }),
            );
        }
        let first = format!(
            "{}/admin/api/{API_VERSION}/orders.json?limit=2",
            shop.base_url()
        );
        let (ids, previous, next) = page(&first).await;
        assert_eq!((ids, previous), (vec![1, 2], None));
        let (ids, _, next) = page(&next.unwrap()).await;
        assert_eq!(ids, vec![3, 4]);
        let (ids, previous, next) = page(&next.unwrap()).await;
        assert_eq!((ids, next), (vec![5], None));
        let (ids, previous, _) = page(&previous.unwrap()).await;
        assert_eq!(ids, vec![3, 4]);
        let (ids, previous, _) = page(&previous.unwrap()).await;
        assert_eq!((ids, previous), (vec![1, 2], None));

        shop.put_order_json(0, json!({ "id": 0, "closed_at": null }));
        shop.put_order_json(6, json!({ "id": 6, "closed_at": "2026-03-02T00:00:00Z" }));
        let (ids, _, _) = page(&first).await;
        assert_eq!(ids, vec![0, 1], "an order added since is listed");
        let (ids, _, _) = page(&format!("{first}&status=closed")).await;
        assert_eq!(ids, vec![6]);
        let (ids, _, _) = page(&format!("{first}&order=id+desc")).await;
        assert_eq!(ids, vec![5, 4]);
    }

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
