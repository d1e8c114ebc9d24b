//! A well-behaved test connector: echoes webhooks back as events and serves
//! numbered poll pages.

use loyalty_sdk::prelude::*;
use loyalty_sdk::signature::verify_base64_hmac_sha256;

struct Echo;

impl Connector for Echo {
    fn describe() -> PluginInfo {
        let mut info = PluginInfo::named("echo", env!("CARGO_PKG_VERSION"));
        info.secrets.push("webhook".to_owned());
        info
    }

    fn verify_webhook(request: WebhookRequest) -> Result<Delivery, Error> {
        verify_base64_hmac_sha256(
            "webhook",
            &request.body,
            request.require_header("x-echo-signature")?,
        )?;
        Ok(Delivery {
            id: request.require_header("x-delivery-id")?.to_owned(),
            topic: request.header("x-topic").unwrap_or("echo").to_owned(),
        })
    }

    /// One account event whose fields mirror the request.
    fn handle_webhook(request: WebhookRequest) -> Result<Vec<Event>, Error> {
        let body = String::from_utf8(request.body.clone())
            .map_err(|_| Error::InvalidInput("body is not UTF-8".to_owned()))?;
        let mut attributes = vec![
            Attribute {
                name: "method".to_owned(),
                value: request.method.clone(),
            },
            Attribute {
                name: "url".to_owned(),
                value: request.url.clone(),
            },
        ];
        attributes.extend(request.headers.iter().map(|h| Attribute {
            name: format!("header:{}", h.name.to_ascii_lowercase()),
            value: h.value.clone(),
        }));
        Ok(vec![Event::Account(Account {
            id: request.require_header("x-delivery-id")?.to_owned(),
            version: 1,
            name: body,
            domain: None,
            tax_id: None,
            industry: None,
            employees: None,
            annual_revenue: Some(money(parse_decimal("1.285E9")?, "eur")),
            parent_id: None,
            country: None,
            external_refs: Vec::new(),
            attributes,
        })])
    }

    /// Pages over records `0..total` (the `total` setting), `page_size` at a
    /// time; the cursor is the next record number.
    fn poll(request: PollRequest) -> Result<PollPage, Error> {
        let total: u64 = host::config_get("total")
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        let start: u64 = match &request.cursor {
            Some(c) => c
                .parse()
                .map_err(|_| Error::InvalidInput(format!("bad cursor `{c}`")))?,
            None => 0,
        };
        let end = (start + u64::from(request.page_size)).min(total);
        let events = (start..end)
            .map(|n| {
                Event::Contact(Contact {
                    id: format!("c{n}"),
                    version: n,
                    account_id: Some("acme".to_owned()),
                    email: Some(format!("buyer{n}@acme.example")),
                    first_name: None,
                    last_name: None,
                    role: None,
                    attributes: Vec::new(),
                })
            })
            .collect();
        host::state_set(
            "pages",
            Some(
                format!(
                    "{}",
                    host::state_get_string("pages")
                        .and_then(|p| p.parse::<u64>().ok())
                        .unwrap_or(0)
                        + 1
                )
                .as_bytes(),
            ),
        );
        Ok(PollPage {
            events,
            next_cursor: Some(end.to_string()),
            more: end < total,
        })
    }

    /// Fulfils every reward with a code derived from the idempotency key,
    /// except rewards whose id starts with `fail` (a permanent failure) or
    /// `flaky` (a passing one). Counts fulfilments in its state.
    fn fulfil_reward(request: RewardRequest) -> Result<Fulfilment, Error> {
        if request.reward_id.starts_with("fail") {
            return Err(Error::Permanent(format!(
                "reward `{}` cannot be delivered",
                request.reward_id
            )));
        }
        if request.reward_id.starts_with("flaky") {
            return Err(Error::Transient("vendor busy".to_owned()));
        }
        let done = host::state_get_string("fulfilled")
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
            + 1;
        host::state_set("fulfilled", Some(done.to_string().as_bytes()));
        Ok(Fulfilment {
            external_id: format!("{}@{}", request.redemption_id, request.account_id),
            status: FulfilmentStatus::Fulfilled,
            code: Some(format!("CODE-{}", request.idempotency_key)),
        })
    }
}

loyalty_sdk::export_connector!(Echo);
