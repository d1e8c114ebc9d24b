//! A fresh PostgreSQL database per test, on the server that
//! `LOYALTY_TEST_POSTGRES` names (`tests/run` starts one and sets it).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use ::postgres::{Client, NoTls};

/// The variable naming the test server, e.g. `host=127.0.0.1 port=54329
/// user=loyalty dbname=postgres`; the user may create databases.
pub const SERVER: &str = "LOYALTY_TEST_POSTGRES";

/// Creates a new, empty database on the test server and returns the
/// connection string of it. Panics when no server is configured: a test
/// meant to run against PostgreSQL must not pass without it.
pub fn postgres_database() -> String {
    let Ok(server) = std::env::var(SERVER) else {
        panic!("PostgreSQL tests need {SERVER}; tests/run starts a server and sets it");
    };
    // Unique across the tests of a process, the processes of a run and runs
    // against the same server.
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        "t_{}_{}_{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_micros()),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    // The synchronous client runs a runtime of its own, which cannot start on
    // a thread that is driving the test's.
    let created = std::thread::scope(|scope| {
        scope
            .spawn(|| -> Result<(), ::postgres::Error> {
                let mut client = Client::connect(&server, NoTls)?;
                client.batch_execute(&format!(
                    "CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8' \
                     LC_COLLATE 'C' LC_CTYPE 'C'"
                ))
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    });
    if let Err(e) = created {
        panic!("cannot create database {name} on {SERVER} ({server}): {e}");
    }
    with_database(&server, &name)
}

/// `server`'s connection string with the database replaced by `name`, in
/// either form the driver takes: a URL or `key=value` pairs (the last
/// `dbname` wins).
fn with_database(server: &str, name: &str) -> String {
    match server.split_once("://") {
        Some((scheme, rest)) => {
            let authority = rest.find(['/', '?']).unwrap_or(rest.len());
            let query = rest[authority..]
                .find('?')
                .map_or("", |at| &rest[authority + at..]);
            format!("{scheme}://{}/{name}{query}", &rest[..authority])
        }
        None => format!("{server} dbname={name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_of_either_form_of_connection_string_is_replaced() {
        assert_eq!(
            with_database(
                "host=127.0.0.1 port=5432 user=loyalty dbname=postgres",
                "t_1"
            ),
            "host=127.0.0.1 port=5432 user=loyalty dbname=postgres dbname=t_1"
        );
        assert_eq!(
            with_database(
                "postgres://loyalty@127.0.0.1:5432/postgres?sslmode=disable",
                "t_1"
            ),
            "postgres://loyalty@127.0.0.1:5432/t_1?sslmode=disable"
        );
        assert_eq!(
            with_database("postgresql://loyalty@localhost", "t_1"),
            "postgresql://loyalty@localhost/t_1"
        );
    }
}
