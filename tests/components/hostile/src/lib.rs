//! A misbehaving test connector. Each webhook body is a JSON command telling
//! it how to misbehave; the tests check that the host contains it.

use std::sync::atomic::{AtomicU64, Ordering};

use loyalty_sdk::http::Request;
use loyalty_sdk::prelude::*;

struct Hostile;

/// Survives only as long as the instance: a fresh instance starts at zero.
static POISON: AtomicU64 = AtomicU64::new(0);

/// The calls this instance has served, counted by `count`.
static CALLS: AtomicU64 = AtomicU64::new(0);

#[derive(serde::Deserialize)]
#[serde(tag = "do", rename_all = "snake_case")]
enum Command {
    Loop,
    Alloc {
        mib: usize,
    },
    Panic {
        message: String,
    },
    Fetch {
        url: String,
        credential: Option<String>,
        follow_redirects: bool,
        #[serde(default)]
        method: Option<String>,
    },
    StateThenTrap {
        key: String,
    },
    Poison,
    ReadPoison,
    /// Reports how many `count` calls this instance has served, this one
    /// included.
    Count,
    /// Keeps the CPU busy for `ms` milliseconds, then reports.
    Spin {
        ms: u64,
    },
    /// Writes `bytes` bytes of state under `key`.
    WriteState {
        key: String,
        bytes: usize,
    },
    /// Prints `text` to stdout and succeeds.
    Print {
        text: String,
    },
}

fn report(name: String) -> Vec<Event> {
    vec![Event::Account(Account {
        id: "report".to_owned(),
        version: 1,
        name,
        domain: None,
        tax_id: None,
        industry: None,
        employees: None,
        annual_revenue: None,
        parent_id: None,
        country: None,
        external_refs: Vec::new(),
        attributes: Vec::new(),
    })]
}

impl Connector for Hostile {
    /// Calls the hosts its tests put in the settings `host1` to `host3`,
    /// with the credential `api`.
    fn describe() -> PluginInfo {
        let mut info = PluginInfo::named("hostile", env!("CARGO_PKG_VERSION"));
        info.host_settings = (1..=3).map(|n| format!("host{n}")).collect();
        info.credentials.push("api".to_owned());
        info
    }

    /// Accepts every delivery (it names itself in `x-delivery-id`), so
    /// that its commands reach `handle-webhook` through a daemon.
    fn verify_webhook(request: WebhookRequest) -> Result<Delivery, Error> {
        // Stands for a verifier that a crafted, unsigned request crashes.
        if let Some(message) = request.header("x-crash-verify") {
            panic!("{message}");
        }
        // Stands for a verifier busy for as long as its CPU budget allows.
        if request.header("x-spin-verify").is_some() {
            loop {
                std::hint::spin_loop();
            }
        }
        Ok(Delivery {
            id: request.require_header("x-delivery-id")?.to_owned(),
            topic: "command".to_owned(),
        })
    }

    fn handle_webhook(request: WebhookRequest) -> Result<Vec<Event>, Error> {
        match loyalty_sdk::json::parse::<Command>(&request.body)? {
            Command::Loop => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            Command::Alloc { mib } => {
                let block = vec![1u8; mib << 20];
                Ok(report(format!(
                    "allocated {}",
                    std::hint::black_box(block).len()
                )))
            }
            Command::Panic { message } => panic!("{message}"),
            Command::Fetch {
                url,
                credential,
                follow_redirects,
                method,
            } => {
                let mut request = Request::new(method.as_deref().unwrap_or("GET"), &url);
                if let Some(c) = &credential {
                    request = request.credential(c);
                }
                let response = request.send()?;
                let location = loyalty_sdk::request::find_header(&response.headers, "location")
                    .map(str::to_owned);
                match location {
                    Some(next) if follow_redirects && (300..400).contains(&response.status) => {
                        let mut hop = Request::get(&next);
                        if let Some(c) = &credential {
                            hop = hop.credential(c);
                        }
                        let second = hop.send()?;
                        Ok(report(format!(
                            "{} {}",
                            second.status,
                            String::from_utf8_lossy(&second.body)
                        )))
                    }
                    _ => Ok(report(format!(
                        "{} {}",
                        response.status,
                        String::from_utf8_lossy(&response.body)
                    ))),
                }
            }
            Command::StateThenTrap { key } => {
                host::state_set(&key, Some(b"written before the trap"));
                panic!("trapping after state-set");
            }
            Command::Poison => {
                POISON.store(0xdead, Ordering::SeqCst);
                panic!("poisoned the instance");
            }
            Command::ReadPoison => Ok(report(POISON.load(Ordering::SeqCst).to_string())),
            Command::Count => Ok(report(
                (CALLS.fetch_add(1, Ordering::SeqCst) + 1).to_string(),
            )),
            Command::Spin { ms } => {
                let started = std::time::Instant::now();
                while started.elapsed() < std::time::Duration::from_millis(ms) {
                    std::hint::spin_loop();
                }
                Ok(report(format!("spun {ms} ms")))
            }
            Command::WriteState { key, bytes } => {
                host::state_set(&key, Some(&vec![b's'; bytes]));
                Ok(report(format!("wrote {bytes}")))
            }
            Command::Print { text } => {
                println!("{text}");
                Ok(report("printed".to_owned()))
            }
        }
    }
}

loyalty_sdk::export_connector!(Hostile);
