//! From the deserialized tables to a [`Config`]: the checks that involve
//! several keys, the filesystem or the environment, and the resolution of
//! paths and secrets. Every check runs, whatever the others found, and
//! reports what it finds to the [`Document`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use toml::Spanned;
use url::Url;

use crate::config::document::{Document, KeyPath, Presence};
use crate::config::errors::unknown_name;
use crate::config::schema::{self, DEFAULT_LEASE_SECONDS, Host, Inject, LEASE_SECONDS_MIN};
use crate::config::secrets::{self, Env};
use crate::config::{
    Config, ConnectorConfig, PollConfig, PortalConfig, RuntimeConfig, ServerConfig,
    StatementsConfig, StoreConfig,
};
use crate::runtime::{Credential, Grants, HostPattern, Injection, OAuth2, OAuth2Grant, Secret};

mod edge;
mod goals;
mod program;
mod segments;

/// Checks the whole document. `None` if anything is wrong, which has then
/// been reported.
pub(crate) fn config(document: &mut Document<'_>, path: &Path, env: Env<'_>) -> Option<Config> {
    let dir = path.parent().unwrap_or(Path::new(""));
    unknown_sections(document);
    let server = server(document, dir);
    let store = store(document, dir, env);
    let runtime = runtime(document, dir);
    // Rewards name connectors for their fulfilment: any configured one,
    // whether or not its own table is valid (that is reported there).
    let connector_names: Vec<String> = document
        .table_keys(&KeyPath::root().key("connectors"))
        .unwrap_or_default()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    let program = program::program(document, dir, &connector_names);
    let identity = program::identity(document);
    let segments = segments::segments(document);
    let campaigns = match &program {
        Some(program) => segments::campaigns(document, program, &connector_names),
        None => None,
    };
    let goals = goals::goals(document);
    let portal = portal(document, dir, env);
    let statements = statements(document, dir);
    let connectors = connectors(document, dir, env);
    Some(Config {
        path: path.to_path_buf(),
        server: server?,
        store: store?,
        runtime: runtime?,
        program: program?,
        identity: identity?,
        segments: segments?,
        campaigns: campaigns?,
        goals: goals?,
        portal: portal?,
        statements: statements?,
        connectors: connectors?,
    })
}

fn unknown_sections(document: &mut Document<'_>) {
    for (name, span) in document.table_keys(&KeyPath::root()).unwrap_or_default() {
        if !schema::SECTIONS.contains(&name.as_str()) {
            let message = unknown_name("table", &name, schema::SECTIONS);
            document.error(span, &KeyPath::root().key(&name), message);
        }
    }
}

/// Whether the required table at `key` is there, reporting it if not.
fn required_table(document: &mut Document<'_>, key: &KeyPath, example: &str) -> bool {
    match document.table(key) {
        Presence::Table => true,
        Presence::NotATable => false,
        Presence::Missing => {
            document.error(
                0..0,
                key,
                format!("the table [{key}] is missing: add it, e.g. {example}"),
            );
            false
        }
    }
}

/// `value` of the required key `field` of the table at `table`, reporting
/// its absence unless its value was reported as malformed already.
fn required<T>(
    document: &mut Document<'_>,
    table: &KeyPath,
    field: &str,
    value: Option<T>,
    hint: &str,
) -> Option<T> {
    if value.is_none() && !document.was_reported(&table.key(field)) {
        let span = document.span_of(table).unwrap_or(0..0);
        document.error(span, table, format!("`{field}` is missing: {hint}"));
    }
    value
}

fn server(document: &mut Document<'_>, dir: &Path) -> Option<ServerConfig> {
    let key = KeyPath::root().key("server");
    if !required_table(
        document,
        &key,
        "[server] with public_base_url = \"https://loyalty.example.com\"",
    ) {
        return None;
    }
    let server: schema::Server = document.section(&key)?;
    let public_base_url = required(
        document,
        &key,
        "public_base_url",
        server.public_base_url,
        "set the URL vendors reach this server at, e.g. public_base_url = \"https://loyalty.example.com\"",
    )?;
    let admin_token_sha256: Vec<[u8; 32]> =
        server.admin_token_sha256.into_iter().map(|d| d.0).collect();
    let mut tokens: Vec<crate::config::ApiToken> = Vec::new();
    let mut tokens_ok = true;
    for (index, token) in server.tokens.into_iter().enumerate() {
        let span = token.span();
        let token = token.into_inner();
        let element = key.key("tokens").index(index);
        let name = required(
            document,
            &element,
            "name",
            token.name,
            "name the token, e.g. name = \"bi-dashboard\"",
        );
        let sha256 = required(
            document,
            &element,
            "sha256",
            token.sha256,
            "set the token's SHA-256, the 64 hex characters of `printf %s \"$TOKEN\" | sha256sum`",
        );
        let scope = required(
            document,
            &element,
            "scope",
            token.scope,
            "choose what the token may do: scope = \"admin\", \"analyst\" or \"integration\"",
        );
        let (Some(name), Some(sha256), Some(scope)) = (name, sha256, scope) else {
            tokens_ok = false;
            continue;
        };
        if tokens.iter().any(|t| t.name == name.0) {
            tokens_ok = false;
            document.error(
                span,
                &element.key("name"),
                format!(
                    "`{}` names two tokens: give each token its own name",
                    name.0
                ),
            );
        } else if admin_token_sha256.contains(&sha256.0)
            || tokens.iter().any(|t| t.sha256 == sha256.0)
        {
            tokens_ok = false;
            document.error(
                span,
                &element.key("sha256"),
                "this digest is listed twice: one token has one scope",
            );
        } else {
            tokens.push(crate::config::ApiToken {
                name: name.0,
                sha256: sha256.0,
                scope,
            });
        }
    }
    let tls = edge::tls(document, &key.key("tls"), server.tls, dir);
    let trusted_proxies = server
        .trusted_proxies
        .iter()
        .map(|p| p.get_ref().0)
        .collect();
    let tls = tls?;
    let instance_id = instance_id(document, &key, server.instance_id);
    let lease = lease_seconds(document, &key, server.lease_seconds);
    let (instance_id, lease) = (instance_id?, lease?);
    tokens_ok.then_some(ServerConfig {
        listen: server.listen,
        public_base_url: public_base_url.0,
        admin_token_sha256,
        tokens,
        inbox_batch_max: server.inbox_batch_max,
        inbox_backlog_max: server.inbox_backlog_max,
        webhooks_in_flight_max: server.webhooks_in_flight_max,
        body_bytes_max: server.body_bytes_max,
        trusted_proxies,
        rate_limits: server.rate_limits,
        tls,
        shutdown_grace_seconds: server.shutdown_grace_seconds,
        instance_id,
        lease,
    })
}

/// `[server] instance_id`: printable, without spaces, at most 128 bytes.
fn instance_id(
    document: &mut Document<'_>,
    server: &KeyPath,
    id: Option<Spanned<String>>,
) -> Option<Option<String>> {
    let Some(id) = id else {
        return Some(None);
    };
    let span = id.span();
    let id = id.into_inner();
    let problem = if id.is_empty() {
        Some(
            "`instance_id` is empty: name this daemon, e.g. instance_id = \"loyalty-1\", or leave the key out",
        )
    } else if id.len() > 128 {
        Some("`instance_id` is longer than 128 bytes")
    } else if id.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Some(
            "`instance_id` holds a space or a control character: use letters, digits, `-`, `_` or `.`",
        )
    } else {
        None
    };
    match problem {
        Some(message) => {
            document.error(span, &server.key("instance_id"), message);
            None
        }
        None => Some(Some(id)),
    }
}

/// `[server] lease_seconds`: at least [`LEASE_SECONDS_MIN`].
fn lease_seconds(
    document: &mut Document<'_>,
    server: &KeyPath,
    seconds: Option<Spanned<u64>>,
) -> Option<std::time::Duration> {
    let Some(seconds) = seconds else {
        return Some(std::time::Duration::from_secs(DEFAULT_LEASE_SECONDS));
    };
    if *seconds.get_ref() < LEASE_SECONDS_MIN {
        document.error(
            seconds.span(),
            &server.key("lease_seconds"),
            format!(
                "`lease_seconds` is {}: use at least {LEASE_SECONDS_MIN} (a lease is renewed every third of it)",
                seconds.get_ref()
            ),
        );
        return None;
    }
    Some(std::time::Duration::from_secs(seconds.into_inner()))
}

fn store(document: &mut Document<'_>, dir: &Path, env: Env<'_>) -> Option<StoreConfig> {
    let key = KeyPath::root().key("store");
    if !required_table(
        document,
        &key,
        "[store] with type = \"sqlite\" and path = \"data/loyalty.db\"",
    ) {
        return None;
    }
    let kind_key = key.key("type");
    let Some(kind) = document.string(&kind_key) else {
        required::<()>(
            document,
            &key,
            "type",
            None,
            "choose where the ledger lives, e.g. type = \"sqlite\"",
        );
        // Without a type the other keys cannot be checked: their meaning
        // depends on it.
        return None;
    };
    match kind.get_ref().as_str() {
        "sqlite" => {
            let sqlite: schema::SqliteStore = document.section(&key)?;
            let path = required(
                document,
                &key,
                "path",
                sqlite.path,
                "set the database file, e.g. path = \"data/loyalty.db\"",
            )?;
            Some(StoreConfig::Sqlite {
                path: dir.join(path),
            })
        }
        "postgres" => postgres_store(document, &key, dir, env),
        other => {
            let message = unknown_name("store type", other, schema::STORE_TYPES);
            document.error(kind.span(), &kind_key, message);
            None
        }
    }
}

/// Checks `[store]` with `type = "postgres"`.
fn postgres_store(
    document: &mut Document<'_>,
    key: &KeyPath,
    dir: &Path,
    env: Env<'_>,
) -> Option<StoreConfig> {
    let store: schema::PostgresStore = document.section(key)?;
    let url = required(
        document,
        key,
        "url",
        store.url,
        "set the database, e.g. url = \"postgres://loyalty@db.internal:5432/loyalty\"",
    );
    let url = url.and_then(|url| match url.get_ref().parse::<postgres::Config>() {
        Err(e) => {
            document.error(
                url.span(),
                &key.key("url"),
                format!("not a PostgreSQL connection string: {e}"),
            );
            None
        }
        Ok(parsed) if parsed.get_password().is_some() => {
            document.error(
                url.span(),
                &key.key("url"),
                "the URL holds a password: remove it and set [store.password] with env = \"VARIABLE\" or file = \"path\", so the configuration file holds no secret",
            );
            None
        }
        Ok(_) => Some(url.into_inner()),
    });
    let password = match store.password {
        None => Some(None),
        Some(source) => {
            let span = source.span();
            let source = source.into_inner();
            secret(
                document,
                &key.key("password"),
                span,
                source.env,
                source.file,
                dir,
                env,
            )
            .map(Some)
        }
    };
    let pool_size = match store.pool_size {
        None => Some(schema::DEFAULT_POSTGRES_POOL_SIZE),
        Some(size) if *size.get_ref() == 0 => {
            document.error(
                size.span(),
                &key.key("pool_size"),
                "must be at least 1: reads need a connection",
            );
            None
        }
        Some(size) => Some(size.into_inner()),
    };
    Some(StoreConfig::Postgres {
        url: url?,
        password: password?,
        pool_size: pool_size?,
    })
}

fn runtime(document: &mut Document<'_>, dir: &Path) -> Option<RuntimeConfig> {
    let key = KeyPath::root().key("runtime");
    match document.table(&key) {
        Presence::Missing => return Some(RuntimeConfig::default()),
        Presence::NotATable => return None,
        Presence::Table => {}
    }
    let runtime: schema::Runtime = document.section(&key)?;
    Some(RuntimeConfig {
        cache_dir: runtime.cache_dir.map(|d| dir.join(d)),
    })
}

fn connectors(
    document: &mut Document<'_>,
    dir: &Path,
    env: Env<'_>,
) -> Option<BTreeMap<String, ConnectorConfig>> {
    let key = KeyPath::root().key("connectors");
    match document.table(&key) {
        Presence::Missing => return Some(BTreeMap::new()),
        Presence::NotATable => return None,
        Presence::Table => {}
    }
    let mut connectors = BTreeMap::new();
    let mut complete = true;
    for (name, span) in document.table_keys(&key).unwrap_or_default() {
        let connector_key = key.key(&name);
        let name_ok = connector_name_ok(&name);
        if !name_ok {
            let mut message = format!(
                "connector name `{name}` is not valid: it appears in the webhook URL /webhooks/{{name}}, so use lower-case letters, digits, `_` and `-`, starting with a letter"
            );
            let lower = name.to_ascii_lowercase();
            if connector_name_ok(&lower) {
                message.push_str(&format!(", e.g. `{lower}`"));
            }
            document.error(span, &connector_key, message);
        }
        let connector = match document.table(&connector_key) {
            Presence::Table => connector(document, &connector_key, &name, dir, env),
            Presence::Missing | Presence::NotATable => None,
        };
        match connector {
            Some(connector) if name_ok => {
                connectors.insert(name, connector);
            }
            _ => complete = false,
        }
    }
    complete.then_some(connectors)
}

/// `[a-z][a-z0-9_-]*`.
fn connector_name_ok(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

fn connector(
    document: &mut Document<'_>,
    key: &KeyPath,
    name: &str,
    dir: &Path,
    env: Env<'_>,
) -> Option<ConnectorConfig> {
    let connector: schema::Connector = document.section(key)?;
    let plugin = required(
        document,
        key,
        "plugin",
        connector.plugin,
        &format!("set the connector's component file, e.g. plugin = \"plugins/{name}.wasm\""),
    )
    .and_then(|plugin| {
        let resolved = plugin_file(document, key, &plugin, dir)?;
        pinned(document, key, connector.sha256.as_ref(), &plugin, &resolved).then_some(resolved)
    });

    let allowed_hosts: Vec<HostPattern> = connector
        .allowed_hosts
        .iter()
        .map(|host| host.get_ref().pattern.clone())
        .collect();
    // When an entry of allowed_hosts was malformed, a credential host it
    // was meant to cover would be reported twice over.
    let allowed_complete = !document.was_reported_under(&key.key("allowed_hosts"));
    let example_host = example_binding(&connector.allowed_hosts, &connector.settings);

    let mut complete = true;
    let mut secrets = BTreeMap::new();
    for (secret_name, source) in connector.secrets {
        let secret_key = key.key("secrets").key(&secret_name);
        let span = source.span();
        let source = source.into_inner();
        match secret(
            document,
            &secret_key,
            span,
            source.env,
            source.file,
            dir,
            env,
        ) {
            Some(value) => {
                secrets.insert(secret_name, value);
            }
            None => complete = false,
        }
    }

    let mut credentials = BTreeMap::new();
    for (credential_name, source) in connector.credentials {
        let credential_key = key.key("credentials").key(&credential_name);
        let context = CredentialContext {
            key: &credential_key,
            connector: name,
            allowed_hosts: allowed_complete.then_some(allowed_hosts.as_slice()),
            example_host: &example_host,
            dir,
            env,
        };
        match credential(document, &context, source) {
            Some(credential) => {
                credentials.insert(credential_name, credential);
            }
            None => complete = false,
        }
    }

    let poll = match connector.poll {
        None => Some(None),
        Some(section) => poll(document, &key.key("poll"), section).map(Some),
    };
    let connector = ConnectorConfig {
        plugin: plugin?,
        poll: poll?,
        limits: connector.limits,
        grants: Grants {
            allowed_hosts,
            credentials,
            secrets,
            settings: connector.settings,
            allow_private_networks: connector.allow_private_networks,
            component_sha256: connector.sha256.map(|digest| digest.into_inner().0),
        },
    };
    complete.then_some(connector)
}

/// Whether the plugin file has the SHA-256 `sha256` pins, if it pins one;
/// reported at `sha256` if not.
fn pinned(
    document: &mut Document<'_>,
    key: &KeyPath,
    sha256: Option<&Spanned<schema::ComponentDigest>>,
    plugin: &Spanned<PathBuf>,
    resolved: &Path,
) -> bool {
    let Some(expected) = sha256 else {
        return true;
    };
    let file = secrets::describe(plugin.get_ref(), resolved);
    let actual = match std::fs::read(resolved) {
        Ok(bytes) => hex::encode(Sha256::digest(&bytes)),
        Err(e) => {
            document.error(
                plugin.span(),
                &key.key("plugin"),
                format!("cannot read {file}: {e}"),
            );
            return false;
        }
    };
    let expected_hex = &expected.get_ref().0;
    if *expected_hex == actual {
        return true;
    }
    document.error(
        expected.span(),
        &key.key("sha256"),
        format!(
            "{file} has SHA-256 {actual}, but sha256 pins {expected_hex}: put the pinned build back, or, if this build is trusted, pin it with sha256 = \"{actual}\""
        ),
    );
    false
}

/// `[connectors.NAME.poll]`.
fn poll(
    document: &mut Document<'_>,
    key: &KeyPath,
    section: Spanned<schema::Poll>,
) -> Option<PollConfig> {
    let section = section.into_inner();
    let interval = required(
        document,
        key,
        "interval_seconds",
        section.interval_seconds,
        "set how often the connector is polled, e.g. interval_seconds = 300",
    )
    .and_then(|interval| {
        if *interval.get_ref() == 0 {
            document.error(
                interval.span(),
                &key.key("interval_seconds"),
                "`interval_seconds` is 0: use at least 1 (vendors limit API calls; 300 or more is usual)",
            );
            return None;
        }
        Some(interval.into_inner())
    });
    let page_size = match section.page_size {
        None => Some(DEFAULT_PAGE_SIZE),
        Some(size) if (1..=PAGE_SIZE_MAX).contains(size.get_ref()) => Some(size.into_inner()),
        Some(size) => {
            document.error(
                size.span(),
                &key.key("page_size"),
                format!(
                    "`page_size` is {}: use 1 to {PAGE_SIZE_MAX} records per page",
                    size.get_ref()
                ),
            );
            None
        }
    };
    Some(PollConfig {
        interval: std::time::Duration::from_secs(interval?),
        page_size: page_size?,
    })
}

/// Records per poll page when `page_size` is not set.
const DEFAULT_PAGE_SIZE: u32 = 100;
/// The largest `page_size`.
const PAGE_SIZE_MAX: u32 = 1000;

/// A host to suggest binding a credential to: an exact allowed host, else a
/// setting naming a host a wildcard allows (such as Shopify's
/// `shop_domain`), else the first allowed pattern itself.
fn example_binding(allowed: &[Spanned<Host>], settings: &BTreeMap<String, String>) -> String {
    let hosts = || allowed.iter().map(Spanned::get_ref);
    if let Some(exact) = hosts().find(|host| !host.text.contains('*')) {
        return exact.text.clone();
    }
    for host in hosts() {
        let scheme = host.text.split("://").next().unwrap_or("https");
        for value in settings.values() {
            if value.is_empty() || value.contains(['/', '@', '?', '#', ' ']) {
                continue;
            }
            let candidate = format!("{scheme}://{value}");
            if Url::parse(&candidate).is_ok_and(|url| host.pattern.matches(&url)) {
                return candidate;
            }
        }
    }
    hosts().next().map_or_else(
        || "https://api.example.com".to_owned(),
        |host| host.text.clone(),
    )
}

/// The plugin file, resolved; reported if it is not there.
fn plugin_file(
    document: &mut Document<'_>,
    key: &KeyPath,
    plugin: &Spanned<PathBuf>,
    dir: &Path,
) -> Option<PathBuf> {
    let resolved = dir.join(plugin.get_ref());
    if resolved.is_file() {
        return Some(resolved);
    }
    let file = secrets::describe(plugin.get_ref(), &resolved);
    let message = if resolved.exists() {
        format!("{file} is not a file: point `plugin` at the connector's .wasm component")
    } else {
        format!(
            "{file} does not exist: build the connector or correct the path; relative paths start at the configuration file's directory"
        )
    };
    document.error(plugin.span(), &key.key("plugin"), message);
    None
}

/// Reads a secret from exactly one of `env` and `file`.
fn secret(
    document: &mut Document<'_>,
    key: &KeyPath,
    span: std::ops::Range<usize>,
    env_var: Option<Spanned<String>>,
    file: Option<Spanned<PathBuf>>,
    dir: &Path,
    env: Env<'_>,
) -> Option<Secret> {
    match (env_var, file) {
        (Some(_), Some(_)) => {
            document.error(
                span,
                key,
                "both `env` and `file` are set: keep exactly one, the environment variable or the file the value is read from",
            );
            None
        }
        (None, None) => {
            if !document.was_reported(&key.key("env")) && !document.was_reported(&key.key("file")) {
                document.error(
                    span,
                    key,
                    "no value: set exactly one of env = \"VARIABLE\" (read from an environment variable) or file = \"path\" (read from a file only its owner can read)",
                );
            }
            None
        }
        (Some(var), None) => match secrets::from_env(var.get_ref(), env) {
            Ok(secret) => Some(secret),
            Err(message) => {
                document.error(var.span(), &key.key("env"), message);
                None
            }
        },
        (None, Some(file)) => {
            let resolved = dir.join(file.get_ref());
            match secrets::from_file(file.get_ref(), &resolved) {
                Ok(secret) => Some(secret),
                Err(message) => {
                    document.error(file.span(), &key.key("file"), message);
                    None
                }
            }
        }
    }
}

/// Checks `[statements]`; `Some(None)` when it is absent.
fn statements(document: &mut Document<'_>, dir: &Path) -> Option<Option<StatementsConfig>> {
    let key = KeyPath::root().key("statements");
    if document.span_of(&key).is_none() {
        return Some(None);
    }
    let statements: schema::Statements = document.section(&key)?;
    let outbox = required(
        document,
        &key,
        "outbox",
        statements.outbox,
        "name the directory statements are written to, e.g. outbox = \"data/statements\"",
    )?;
    Some(Some(StatementsConfig {
        period: statements
            .period
            .unwrap_or(schema::StatementPeriod::Monthly),
        outbox: dir.join(outbox),
        link_days: statements.link_days.map_or(14, |d| d.0),
        expiring_days: statements.expiring_days.map_or(60, |d| d.0),
    }))
}

/// The shortest portal secret: 256 bits.
const PORTAL_SECRET_BYTES_MIN: usize = 32;

/// Checks `[portal]`; `Some(None)` when it is absent.
fn portal(document: &mut Document<'_>, dir: &Path, env: Env<'_>) -> Option<Option<PortalConfig>> {
    let key = KeyPath::root().key("portal");
    if document.span_of(&key).is_none() {
        return Some(None);
    }
    let portal: schema::Portal = document.section(&key)?;
    let secret = required(
        document,
        &key,
        "secret",
        portal.secret,
        "add [portal.secret] with env = \"LOYALTY_PORTAL_SECRET\" or file = \"secrets/portal\" holding at least 32 random bytes",
    )
    .and_then(|source| {
        let span = source.span();
        let source = source.into_inner();
        let secret_key = key.key("secret");
        let secret = secret(document, &secret_key, span.clone(), source.env, source.file, dir, env)?;
        if secret.expose().len() < PORTAL_SECRET_BYTES_MIN {
            document.error(
                span,
                &secret_key,
                format!(
                    "the portal secret is {} bytes: use at least {PORTAL_SECRET_BYTES_MIN} random bytes, e.g. the output of `openssl rand -hex 32`",
                    secret.expose().len()
                ),
            );
            return None;
        }
        Some(secret)
    });
    let title = match portal.title {
        Some(title) if title.get_ref().trim().is_empty() => {
            document.error(title.span(), &key.key("title"), "`title` is empty: name the program as members know it, e.g. title = \"Rheinwerk Rewards\"");
            None
        }
        Some(title) => Some(title.into_inner()),
        None => Some("Rewards".to_owned()),
    };
    Some(Some(PortalConfig {
        secret: secret?,
        title: title?,
        link_minutes: portal.link_minutes.map_or(60, |c| c.0),
        session_minutes: portal.session_minutes.map_or(480, |c| c.0),
        invitation_days: portal.invitation_days.map_or(14, |d| d.0),
    }))
}

struct CredentialContext<'c> {
    key: &'c KeyPath,
    connector: &'c str,
    /// `None` when allowed_hosts had a malformed entry.
    allowed_hosts: Option<&'c [HostPattern]>,
    example_host: &'c str,
    dir: &'c Path,
    env: Env<'c>,
}

fn credential(
    document: &mut Document<'_>,
    context: &CredentialContext<'_>,
    source: Spanned<schema::CredentialSource>,
) -> Option<Credential> {
    let key = context.key;
    let span = source.span();
    let source = source.into_inner();
    let value = secret(
        document,
        key,
        span.clone(),
        source.env,
        source.file,
        context.dir,
        context.env,
    );

    let inject = source.inject.map_or(Inject::Bearer, Spanned::into_inner);
    let mut misplaced = |field: &str, given: Option<Spanned<()>>, needs: &str| {
        if let Some(given) = given {
            document.error(
                given.span(),
                &key.key(field),
                format!("`{field}` applies only with inject = \"{needs}\": remove it, or set inject = \"{needs}\""),
            );
        }
    };
    let header = source.header;
    let username = source.username;
    if inject != Inject::OAuth2 {
        misplaced(
            "token_url",
            source.token_url.as_ref().map(span_of),
            "oauth2",
        );
        misplaced("grant", source.grant.as_ref().map(span_of), "oauth2");
        misplaced(
            "client_id",
            source.client_id.as_ref().map(span_of),
            "oauth2",
        );
        misplaced("scope", source.scope.as_ref().map(span_of), "oauth2");
        misplaced(
            "refresh_token",
            source.refresh_token.as_ref().map(span_of),
            "oauth2",
        );
    }
    let injection = match inject {
        Inject::Bearer => {
            misplaced("header", header.map(unit), "header");
            misplaced("username", username.map(unit), "basic");
            Some(Injection::Bearer)
        }
        Inject::OAuth2 => {
            misplaced("header", header.map(unit), "header");
            misplaced("username", username.map(unit), "basic");
            oauth2(
                document,
                context,
                OAuth2Source {
                    token_url: source.token_url,
                    grant: source.grant,
                    client_id: source.client_id,
                    refresh_token: source.refresh_token,
                    scope: source.scope,
                },
            )
            .map(Injection::OAuth2)
        }
        Inject::Header => {
            misplaced("username", username.map(unit), "basic");
            required(
                document,
                key,
                "header",
                header,
                "inject = \"header\" needs the header's name, e.g. header = \"X-Api-Key\"",
            )
            .map(|name| Injection::Header {
                name: name.into_inner().0,
            })
        }
        Inject::Basic => {
            misplaced("header", header.map(unit), "header");
            required(
                document,
                key,
                "username",
                username,
                "inject = \"basic\" needs the user name, e.g. username = \"api\"",
            )
            .map(|username| Injection::Basic {
                username: username.into_inner(),
            })
        }
    };

    let hosts_key = key.key("hosts");
    let binding_hint = format!(
        "bind the credential to the hosts it may be sent to, e.g. hosts = [\"{}\"]",
        context.example_host
    );
    let hosts = match source.hosts {
        None => {
            required::<()>(document, key, "hosts", None, &binding_hint);
            None
        }
        Some(hosts) if hosts.is_empty() => {
            if !document.was_reported_under(&hosts_key) {
                document.error_at_key(&hosts_key, format!("`hosts` is empty: {binding_hint}"));
            }
            None
        }
        Some(hosts) => {
            let mut bound = Vec::new();
            let mut covered_all = true;
            for host in hosts {
                let (span, host) = (host.span(), host.into_inner());
                if let Some(allowed) = context.allowed_hosts
                    && !covered(allowed, &host.pattern)
                {
                    covered_all = false;
                    document.error_at_span(
                        span,
                        format!(
                            "`{}` is not covered by allowed_hosts, so the connector may not call it: add it to allowed_hosts in [connectors.{}], or bind the credential to a host the connector may call",
                            host.text, context.connector
                        ),
                    );
                }
                bound.push(host.pattern);
            }
            covered_all.then_some(bound)
        }
    };
    let mut credential = Credential::new(value?, injection?, hosts?);
    credential.csrf = source.csrf.unwrap_or(false);
    Some(credential)
}

/// The OAuth 2.0 keys of a credential.
struct OAuth2Source {
    token_url: Option<Spanned<schema::PublicUrl>>,
    grant: Option<Spanned<schema::Grant>>,
    client_id: Option<Spanned<String>>,
    refresh_token: Option<Spanned<schema::SecretSource>>,
    scope: Option<Spanned<String>>,
}

fn oauth2(
    document: &mut Document<'_>,
    context: &CredentialContext<'_>,
    source: OAuth2Source,
) -> Option<OAuth2> {
    let key = context.key;
    let token_url = required(
        document,
        key,
        "token_url",
        source.token_url,
        "inject = \"oauth2\" needs the token endpoint, e.g. token_url = \"https://login.salesforce.com/services/oauth2/token\"",
    );
    let client_id = required(
        document,
        key,
        "client_id",
        source.client_id,
        "inject = \"oauth2\" needs the OAuth client id (the value of `env` or `file` is the client secret)",
    );
    let grant = match source
        .grant
        .map_or(schema::Grant::ClientCredentials, Spanned::into_inner)
    {
        schema::Grant::ClientCredentials => {
            if let Some(refresh) = &source.refresh_token {
                document.error(
                    refresh.span(),
                    &key.key("refresh_token"),
                    "`refresh_token` applies only with grant = \"refresh_token\": remove it, or set grant = \"refresh_token\"",
                );
            }
            Some(OAuth2Grant::ClientCredentials)
        }
        schema::Grant::RefreshToken => {
            let refresh_key = key.key("refresh_token");
            match source.refresh_token {
                None => {
                    required::<()>(
                        document,
                        key,
                        "refresh_token",
                        None,
                        "grant = \"refresh_token\" needs the refresh token, e.g. refresh_token = { env = \"SALESFORCE_REFRESH_TOKEN\" }",
                    );
                    None
                }
                Some(refresh) => {
                    let span = refresh.span();
                    let refresh = refresh.into_inner();
                    secret(
                        document,
                        &refresh_key,
                        span,
                        refresh.env,
                        refresh.file,
                        context.dir,
                        context.env,
                    )
                    .map(OAuth2Grant::RefreshToken)
                }
            }
        }
    };
    Some(OAuth2 {
        token_url: token_url?.into_inner().0,
        grant: grant?,
        client_id: client_id?.into_inner(),
        scope: source.scope.map(Spanned::into_inner),
    })
}

fn unit<T>(value: Spanned<T>) -> Spanned<()> {
    Spanned::new(value.span(), ())
}

fn span_of<T>(value: &Spanned<T>) -> Spanned<()> {
    Spanned::new(value.span(), ())
}

/// Whether every destination `bound` matches is also matched by one of
/// `allowed`: a credential must never be bound to a host the connector
/// cannot call.
fn covered(allowed: &[HostPattern], bound: &HostPattern) -> bool {
    // A pattern displays as `scheme://[*.]host:port`; as a URL, its host
    // `*.example.com` is matched by wildcards covering that domain only,
    // since no exact pattern may contain `*`.
    let Ok(url) = Url::parse(&bound.to_string()) else {
        return false;
    };
    allowed.iter().any(|pattern| pattern.matches(&url))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patterns(texts: &[&str]) -> Vec<HostPattern> {
        texts.iter().map(|t| t.parse().unwrap()).collect()
    }

    fn pattern(text: &str) -> HostPattern {
        text.parse().unwrap()
    }

    #[test]
    fn credential_hosts_must_be_covered_by_allowed_hosts() {
        let allowed = patterns(&["https://*.myshopify.com", "https://api.hubapi.com"]);
        assert!(covered(&allowed, &pattern("https://demo.myshopify.com")));
        assert!(covered(&allowed, &pattern("https://*.myshopify.com")));
        assert!(covered(&allowed, &pattern("https://*.eu.myshopify.com")));
        assert!(covered(&allowed, &pattern("https://api.hubapi.com:443")));
        assert!(!covered(&allowed, &pattern("https://myshopify.com")));
        assert!(!covered(&allowed, &pattern("http://demo.myshopify.com")));
        assert!(!covered(&allowed, &pattern("https://api.hubapi.com:8443")));
        assert!(!covered(&allowed, &pattern("https://evil.example")));
    }

    #[test]
    fn an_exact_host_never_covers_a_wildcard() {
        let allowed = patterns(&["https://demo.myshopify.com"]);
        assert!(!covered(&allowed, &pattern("https://*.myshopify.com")));
        assert!(!covered(&[], &pattern("https://demo.myshopify.com")));
    }

    fn hosts(texts: &[&str]) -> Vec<Spanned<Host>> {
        texts
            .iter()
            .map(|text| {
                Spanned::new(
                    0..0,
                    Host {
                        text: (*text).to_owned(),
                        pattern: pattern(text),
                    },
                )
            })
            .collect()
    }

    #[test]
    fn suggested_binding_is_a_concrete_host_when_one_is_known() {
        let settings =
            BTreeMap::from([("shop_domain".to_owned(), "demo.myshopify.com".to_owned())]);
        let wildcard = hosts(&["https://*.myshopify.com"]);
        assert_eq!(
            example_binding(&wildcard, &settings),
            "https://demo.myshopify.com"
        );
        assert_eq!(
            example_binding(&wildcard, &BTreeMap::new()),
            "https://*.myshopify.com"
        );
        let both = hosts(&["https://*.myshopify.com", "https://api.example.net"]);
        assert_eq!(example_binding(&both, &settings), "https://api.example.net");
        assert_eq!(example_binding(&[], &settings), "https://api.example.com");
    }

    #[test]
    fn connector_names_are_url_safe() {
        for good in ["shopify", "sap-s4", "crm_2", "a"] {
            assert!(connector_name_ok(good), "{good}");
        }
        for bad in ["", "Shopify", "2crm", "-x", "shop ify", "shop/ify", "café"] {
            assert!(!connector_name_ok(bad), "{bad}");
        }
    }
}
