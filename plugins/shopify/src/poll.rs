//! Incremental sync through the Admin REST API: every customer, then every
//! order, changed since the last sync, oldest change first.
//!
//! One cursor covers both lists. It holds a lower bound per list (the
//! newest `updated_at` read in that list's last completed pass), which list
//! the next page comes from, and Shopify's `page_info` token while a pass is
//! paging. The first page of a pass filters with
//! `updated_at_min=<bound>&order=updated_at asc`; later pages follow the
//! `Link: <…page_info=…>; rel="next"` header, and Shopify forbids any filter
//! beside `limit` then. The bound compares with `>=`, so the records changed
//! in the bound's second are read again; the host drops repeats.

use loyalty_sdk::http::{Request, check_status};
use loyalty_sdk::request::find_header;
use loyalty_sdk::types::{Error, Event, PollPage, PollRequest};
use serde::{Deserialize, Serialize};

use crate::admin::{self, Client, PAGE_LIMIT_MAX};
use crate::company::Companies;
use crate::customer::{self, Customer};
use crate::order::{Mapped, Order};
use crate::settings;
use crate::timestamp::{format_rfc3339_utc, timestamp_ms};

/// The list a page comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resource {
    /// `customers.json`; read first, so that orders find their contacts.
    #[default]
    Customers,
    /// `orders.json?status=any`.
    Orders,
}

impl Resource {
    /// The endpoint, relative to the Admin API root.
    fn path(self) -> &'static str {
        match self {
            Self::Customers => "customers.json",
            Self::Orders => "orders.json",
        }
    }
}

/// Where the sync stands; the host stores it as JSON text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cursor {
    /// Lower bound of the next customers pass, UTC ms; none reads them all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customers_from: Option<i64>,
    /// Lower bound of the next orders pass, UTC ms; none reads them all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orders_from: Option<i64>,
    /// The list the next page comes from.
    pub phase: Resource,
    /// Shopify's token for the next page of the current pass, as it
    /// appeared in the `Link` URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_info: Option<String>,
    /// The newest `updated_at` read so far in the current pass, UTC ms: the
    /// list's next lower bound once the pass ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest: Option<i64>,
}

impl Cursor {
    /// A backfill's start: both lists from `since`.
    pub fn since(since: i64) -> Self {
        Self {
            customers_from: Some(since),
            orders_from: Some(since),
            ..Self::default()
        }
    }

    /// Reads a cursor this connector wrote.
    pub fn parse(text: &str) -> Result<Self, Error> {
        serde_json::from_str(text).map_err(|e| {
            Error::Permanent(format!(
                "the committed Shopify cursor `{text}` is not understood ({e}); reset the connector's cursor"
            ))
        })
    }

    /// The cursor as the host stores it.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The lower bound of the current list.
    fn from(&self) -> Option<i64> {
        match self.phase {
            Resource::Customers => self.customers_from,
            Resource::Orders => self.orders_from,
        }
    }

    /// The path and query of the next page, relative to the Admin API root.
    pub fn query(&self, limit: u32) -> String {
        let limit = limit.clamp(1, PAGE_LIMIT_MAX);
        let path = self.phase.path();
        if let Some(page_info) = &self.page_info {
            return format!("{path}?limit={limit}&page_info={page_info}");
        }
        let mut query = String::from(path);
        query.push('?');
        if self.phase == Resource::Orders {
            // The default (`open`) leaves out closed and cancelled orders.
            query.push_str("status=any&");
        }
        if let Some(from) = self.from() {
            query.push_str("updated_at_min=");
            query.push_str(&admin::encode_query_value(&format_rfc3339_utc(from)));
            query.push('&');
        }
        query.push_str(&format!("limit={limit}&order=updated_at+asc"));
        query
    }

    /// Moves past a page whose newest record changed at `newest` and whose
    /// `Link` header named `next`; returns whether another page is ready.
    pub fn advance(&mut self, newest: Option<i64>, next: Option<String>) -> bool {
        self.newest = self.newest.max(newest);
        if next.is_some() {
            self.page_info = next;
            return true;
        }
        self.page_info = None;
        if let Some(newest) = self.newest.take() {
            match self.phase {
                Resource::Customers => self.customers_from = Some(newest),
                Resource::Orders => self.orders_from = Some(newest),
            }
        }
        match self.phase {
            Resource::Customers => {
                self.phase = Resource::Orders;
                true
            }
            Resource::Orders => {
                self.phase = Resource::Customers;
                false
            }
        }
    }
}

/// `GET customers.json` answers `{"customers": [...]}`.
#[derive(Debug, Deserialize)]
struct CustomersPage {
    customers: Vec<Customer>,
}

/// `GET orders.json` answers `{"orders": [...]}`.
#[derive(Debug, Deserialize)]
struct OrdersPage {
    orders: Vec<Order>,
}

/// One page of the sync.
pub fn poll(request: PollRequest) -> Result<PollPage, Error> {
    let mut cursor = match (request.since, request.cursor.as_deref()) {
        (Some(since), _) => Cursor::since(since),
        (None, Some(text)) => Cursor::parse(text)?,
        (None, None) => Cursor::default(),
    };
    let url = settings::admin_url(&cursor.query(request.page_size))?;
    let response = Client::new().send(Request::get(&url))?;
    check_status(&response)?;
    let (events, newest) = match cursor.phase {
        Resource::Customers => customers(&response.body)?,
        Resource::Orders => orders(&response.body)?,
    };
    let next = find_header(&response.headers, "Link").and_then(admin::next_page_info);
    let more = cursor.advance(newest, next);
    Ok(PollPage {
        events,
        next_cursor: Some(cursor.encode()),
        more,
    })
}

/// The contacts of a customers page and its newest `updated_at`.
fn customers(body: &[u8]) -> Result<(Vec<Event>, Option<i64>), Error> {
    let page: CustomersPage = loyalty_sdk::json::parse(body)?;
    let mut events = Vec::with_capacity(page.customers.len());
    let mut newest = None;
    for (i, c) in page.customers.iter().enumerate() {
        let at = |e: Error| within(&format!("customers[{i}] (id {})", c.id), e);
        let updated =
            timestamp_ms("updated_at", customer::updated_at(c).map_err(at)?).map_err(at)?;
        newest = newest.max(Some(updated));
        events.push(customer::event(c).map_err(at)?);
    }
    Ok((events, newest))
}

/// The events of an orders page and its newest `updated_at`. Every order is
/// mapped and checked before any company is read, and then the page's
/// companies are read together: a page can hold orders from more companies
/// than the host allows requests in one call.
fn orders(body: &[u8]) -> Result<(Vec<Event>, Option<i64>), Error> {
    let page: OrdersPage = loyalty_sdk::json::parse(body)?;
    let mut mapped = Vec::with_capacity(page.orders.len());
    let mut newest = None;
    for (i, o) in page.orders.iter().enumerate() {
        let at = |e: Error| within(&format!("orders[{i}] (id {})", o.id), e);
        newest = newest.max(Some(timestamp_ms("updated_at", &o.updated_at).map_err(at)?));
        mapped.push(Mapped::new(o).map_err(at)?);
    }
    let companies = Companies::read(mapped.iter().filter_map(Mapped::company))?;
    let mut events = Vec::new();
    for (i, (o, m)) in page.orders.iter().zip(mapped).enumerate() {
        let at = |e: Error| within(&format!("orders[{i}] (id {})", o.id), e);
        events.extend(m.events(&companies).map_err(at)?);
    }
    Ok((events, newest))
}

/// Names the listed record a malformed-data error is about.
fn within(record: &str, error: Error) -> Error {
    match error {
        Error::InvalidInput(message) => Error::InvalidInput(format!("{record}: {message}")),
        other => other,
    }
}
