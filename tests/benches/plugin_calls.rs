//! Per-call cost of the plugin runtime with the echo test connector: every
//! call instantiates a fresh component from the pooling allocator.
//!
//! `cargo bench -p loyalty-e2e --bench plugin_calls`

#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    reason = "a benchmark prints its figures and fails loudly"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use loyalty_e2e::test_component;
use loyaltyd::runtime::wit::latest::exports::loyalty::connector::source::PollRequest;
use loyaltyd::runtime::wit::latest::loyalty::connector::types::{Header, WebhookRequest};
use loyaltyd::runtime::{
    Grants, Limits, MemoryState, Plugin, PluginSpec, Runtime, RuntimeOptions, Secret,
};

const CALLS: u32 = 20_000;

fn load(runtime: &Runtime) -> Plugin {
    let mut grants = Grants::default();
    grants
        .secrets
        .insert("webhook".to_owned(), Secret::new("bench"));
    grants
        .settings
        .insert("total".to_owned(), "1000".to_owned());
    runtime
        .load(PluginSpec {
            name: "echo".to_owned(),
            wasm: test_component("echo"),
            limits: Limits {
                instances_max: 8,
                ..Limits::default()
            },
            grants,
            state: Arc::new(MemoryState::default()),
        })
        .unwrap()
}

fn per_call(total: Duration, calls: u32) -> f64 {
    total.as_secs_f64() * 1e6 / f64::from(calls)
}

fn main() {
    // Build the component before timing anything.
    test_component("echo");
    let cache = std::env::temp_dir().join(format!("loyalty-bench-cache-{}", std::process::id()));
    let runtime = Runtime::new(RuntimeOptions {
        instance_slots: 16,
        cache_dir: Some(cache.clone()),
        ..RuntimeOptions::default()
    })
    .unwrap();
    let started = Instant::now();
    let plugin = load(&runtime);
    let cold = started.elapsed();
    let started = Instant::now();
    let _again = load(&runtime);
    let warm = started.elapsed();
    let _ = std::fs::remove_dir_all(&cache);

    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let request = WebhookRequest {
        method: "POST".to_owned(),
        url: "https://loyalty.example/webhooks/echo".to_owned(),
        headers: vec![Header {
            name: "X-Delivery-Id".to_owned(),
            value: "d-1".to_owned(),
        }],
        body: br#"{"id":1}"#.to_vec(),
    };
    let poll = PollRequest {
        cursor: None,
        page_size: 3,
        since: None,
    };

    let (single, poll_single, parallel) = tokio.block_on(async {
        for _ in 0..1_000 {
            plugin.handle_webhook(&request).await.unwrap();
        }
        let started = Instant::now();
        for _ in 0..CALLS {
            plugin.handle_webhook(&request).await.unwrap();
        }
        let single = started.elapsed();

        let started = Instant::now();
        for _ in 0..CALLS {
            plugin.poll(&poll).await.unwrap();
        }
        let poll_single = started.elapsed();

        let started = Instant::now();
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let plugin = plugin.clone();
                let request = request.clone();
                tokio::spawn(async move {
                    for _ in 0..CALLS / 4 {
                        plugin.handle_webhook(&request).await.unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        (single, poll_single, started.elapsed())
    });

    println!("plugin runtime, echo connector, fresh instance per call, {CALLS} calls each");
    println!("| measure | figure |");
    println!("|---|---|");
    println!(
        "| load, compiling (cache miss) | {:.1} ms |",
        cold.as_secs_f64() * 1e3
    );
    println!(
        "| load, from the compiled cache | {:.2} ms |",
        warm.as_secs_f64() * 1e3
    );
    println!(
        "| compile / cached load | {:.0}x |",
        cold.as_secs_f64() / warm.as_secs_f64()
    );
    println!(
        "| handle-webhook, 1 task | {:.1} µs/call |",
        per_call(single, CALLS)
    );
    println!(
        "| poll of 3 events, 1 task | {:.1} µs/call |",
        per_call(poll_single, CALLS)
    );
    println!(
        "| handle-webhook, 4 tasks on 2 cores | {:.0} calls/s |",
        f64::from(CALLS) / parallel.as_secs_f64()
    );
    println!(
        "| 1 task, calls/s | {:.0} calls/s |",
        f64::from(CALLS) / single.as_secs_f64()
    );
}
