//! `openapi.json` kept honest. Statically, against the router's source
//! (`host/src/api.rs` and `host/src/api/*.rs`): every `.route(...)` is
//! documented with each of its methods and the document has nothing else;
//! path and query parameters, request bodies, the bearer token, the
//! `Idempotency-Key` header and the statuses each handler can answer match
//! the handlers; every `$ref` resolves and every example fits its schema;
//! the program example is exactly what the `Program` type serializes.
//! Live, against the real router and SQLite store: every documented
//! operation is called, and each answer must be a documented status whose
//! body and headers fit the document's schemas. A second router over the
//! same store, without `[portal]` and `[statements]`, gives the portal
//! links' and the statements' 409.
//!
//! The document is JSON, not YAML, so that it is read with `serde_json`,
//! which the workspace has already: no YAML parser to depend on.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

use std::cmp::Ordering as CmpOrdering;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use loyalty_e2e::{repo_root, test_component};
use loyaltyd::api::{Api, Endpoint, router};
use loyaltyd::config::schema::StatementPeriod;
use loyaltyd::config::{PortalConfig, StatementsConfig};
use loyaltyd::core::goals::Goal;
use loyaltyd::core::program::Program;
use loyaltyd::inbox::Backlog;
use loyaltyd::poller::SyncHandle;
use loyaltyd::portal::tokens::Links;
use loyaltyd::runtime::{Grants, Limits, MemoryState, PluginSpec, Runtime, RuntimeOptions, Secret};
use loyaltyd::statements::Statements;
use loyaltyd::store::Store;
use loyaltyd::store::segments::{Origin, SegmentDefinition};
use loyaltyd::store::sqlite::SqliteStore;
use serde_json::{Number, Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

/// The document, relative to the repository root.
const DOCUMENT: &str = "openapi.json";
/// The router and the modules it merges.
const ROUTER_FILE: &str = "host/src/api.rs";
const ROUTER_DIR: &str = "host/src/api";
/// The HTTP methods an OpenAPI path item can hold.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];
/// The security scheme of the admin API.
const SCHEME: &str = "adminToken";

fn document() -> Value {
    let path = repo_root().join(DOCUMENT);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{DOCUMENT} is not JSON: {e}"))
}

// ---------------------------------------------------------------------------
// The router, read from its source
// ---------------------------------------------------------------------------

/// One `.route(path, method_router)` of the source.
#[derive(Debug)]
struct Route {
    /// The file it is in: its handlers are looked up there first.
    file: String,
    path: String,
    /// Lower-case method and the handler expression.
    methods: BTreeMap<String, String>,
}

/// The router's sources with comments removed and `#[cfg(test)]` modules
/// cut off: `host/src/api.rs` and every `.rs` file under `host/src/api/`.
fn router_sources() -> Vec<(String, String)> {
    let root = repo_root();
    let mut files = vec![root.join(ROUTER_FILE)];
    let mut dirs = vec![root.join(ROUTER_DIR)];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let code = strip_comments(&text);
            let code = code.split("#[cfg(test)]").next().unwrap_or_default();
            let name = path
                .strip_prefix(&root)
                .unwrap_or(&path)
                .display()
                .to_string();
            (name, code.to_owned())
        })
        .collect()
}

/// Rust source without its comments; string and char literals are kept.
fn strip_comments(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    while i < chars.len() {
        let next = chars.get(i + 1).copied();
        match (chars[i], next) {
            ('/', Some('/')) => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            ('/', Some('*')) => {
                i += 2;
                while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                    i += 1;
                }
                i += 2;
            }
            ('"', _) => {
                let end = string_end(&chars, i);
                out.extend(&chars[i..end]);
                i = end;
            }
            ('\'', Some('\\')) => {
                let mut end = i + 2;
                while end < chars.len() && chars[end] != '\'' {
                    end += 1;
                }
                out.extend(&chars[i..(end + 1).min(chars.len())]);
                i = end + 1;
            }
            ('\'', Some(_)) if chars.get(i + 2) == Some(&'\'') => {
                out.extend(&chars[i..i + 3]);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// The index just past the string literal opening at `start`.
fn string_end(chars: &[char], start: usize) -> usize {
    let mut i = start + 1;
    while i < chars.len() && chars[i] != '"' {
        if chars[i] == '\\' {
            i += 1;
        }
        i += 1;
    }
    (i + 1).min(chars.len())
}

/// The index of the parenthesis closing the one at `open`.
fn closing(chars: &[char], open: usize) -> usize {
    let mut depth = 0usize;
    let mut i = open;
    while i < chars.len() {
        match chars[i] {
            '"' => {
                i = string_end(chars, i);
                continue;
            }
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
        i += 1;
    }
    panic!("unbalanced parentheses in the router source")
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Each `name(...)` call in `code` that is not nested in another call's
/// arguments: the name and the argument text.
fn calls(code: &str) -> Vec<(String, String)> {
    let chars: Vec<char> = code.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '"' {
            i = string_end(&chars, i);
            continue;
        }
        if is_ident(chars[i]) && (i == 0 || !is_ident(chars[i - 1])) {
            let start = i;
            while i < chars.len() && is_ident(chars[i]) {
                i += 1;
            }
            if chars.get(i) == Some(&'(') {
                let end = closing(&chars, i);
                let name: String = chars[start..i].iter().collect();
                let args: String = chars[i + 1..end].iter().collect();
                found.push((name, args));
                i = end + 1;
            }
            continue;
        }
        i += 1;
    }
    found
}

/// Every route of the router's sources.
fn routes(sources: &[(String, String)]) -> Vec<Route> {
    let mut routes = Vec::new();
    for (file, code) in sources {
        for unsupported in [".nest(", ".nest_service(", ".route_service(", ".fallback("] {
            assert!(
                !code.contains(unsupported),
                "{file} uses `{unsupported}`: teach tests/e2e/openapi.rs to read it"
            );
        }
        let chars: Vec<char> = code.chars().collect();
        let mut rest = code.as_str();
        let mut offset = 0;
        while let Some(at) = rest.find(".route(") {
            let open = code[..offset + at + ".route".len()].chars().count();
            let close = closing(&chars, open);
            let args: String = chars[open + 1..close].iter().collect();
            let (path, method_router) = args
                .split_once(',')
                .unwrap_or_else(|| panic!("{file}: cannot read `.route({args})`"));
            let path = path.trim();
            assert!(
                path.len() >= 2 && path.starts_with('"') && path.ends_with('"'),
                "{file}: the path of `.route({args})` is not a string literal"
            );
            let mut methods = BTreeMap::new();
            for (name, handler) in calls(method_router) {
                if METHODS.contains(&name.as_str()) {
                    methods.insert(name, handler.trim().to_owned());
                } else if ["any", "on"].contains(&name.as_str()) || name.ends_with("_service") {
                    panic!(
                        "{file}: `{name}(...)` in `.route({args})`: teach tests/e2e/openapi.rs to read it"
                    );
                }
            }
            assert!(!methods.is_empty(), "{file}: no method in `.route({args})`");
            routes.push(Route {
                file: file.clone(),
                path: path[1..path.len() - 1].to_owned(),
                methods,
            });
            offset += at + ".route(".len();
            rest = &code[offset..];
        }
    }
    routes
}

/// The source of each function of the router's sources, by file and name:
/// from `fn name(` to the end of its body. Files are told apart because
/// handler modules reuse names (`show`, `list`, `report`).
type Functions = BTreeMap<(String, String), String>;

fn functions(sources: &[(String, String)]) -> Functions {
    let mut found = BTreeMap::new();
    for (file, code) in sources {
        let mut rest = code.as_str();
        while let Some(at) = rest.find("fn ") {
            let after = &rest[at + 3..];
            let name: String = after.chars().take_while(|c| is_ident(*c)).collect();
            if name.is_empty() || rest[..at].ends_with(is_ident) {
                rest = after;
                continue;
            }
            let body_end = after.find("\n}").map_or(after.len(), |e| e + 2);
            found.insert((file.clone(), name), after[..body_end].to_owned());
            rest = &after[body_end..];
        }
    }
    found
}

/// The file holding the function a call in `file` reaches, if it is one
/// of the router's: `module::name` in that module's file (`api::` and
/// `super::` the router's own, `self::` `file`); a plain `name` in `file`
/// itself, else in the router's file, which is what the handler modules
/// import from.
fn callee_file(
    functions: &Functions,
    file: &str,
    qualifier: Option<&str>,
    name: &str,
) -> Option<String> {
    let candidates = match qualifier {
        None => vec![file.to_owned(), ROUTER_FILE.to_owned()],
        Some("self") => vec![file.to_owned()],
        Some("api" | "super") => vec![ROUTER_FILE.to_owned()],
        Some(module) => vec![format!("{ROUTER_DIR}/{module}.rs")],
    };
    candidates
        .into_iter()
        .find(|f| functions.contains_key(&(f.clone(), name.to_owned())))
}

/// A handler's source and that of every function of the router's sources it
/// calls, directly or not (`fulfil` is `settle(...)`, which answers through
/// `store_failure`, which is `unavailable(...)`). A method call
/// (`.remove(...)`) or a call through a type or another crate
/// (`Url::parse(...)`) is not followed: it would pull in a namesake handler
/// and its statuses.
fn handler_source(file: &str, handler: &str, functions: &Functions) -> String {
    let (qualifier, name) = split_path(handler);
    let Some(home) = callee_file(functions, file, qualifier, name) else {
        assert!(
            !handler.trim().chars().all(|c| is_ident(c) || c == ':'),
            "{file}: handler `{handler}` is neither in its file nor in {ROUTER_FILE}: teach tests/e2e/openapi.rs to find it"
        );
        // A closure, e.g. `|| async { "ok" }`.
        return handler.to_owned();
    };
    let modules = router_modules();
    let mut text = String::new();
    let mut seen = BTreeSet::new();
    let mut queue = vec![(home, name.to_owned())];
    while let Some(key) = queue.pop() {
        let Some(source) = functions.get(&key) else {
            continue;
        };
        if !seen.insert(key.clone()) {
            continue;
        }
        text.push_str(source);
        text.push('\n');
        let body = source.split_once('{').map_or("", |(_, body)| body);
        for (qualifier, name) in called_names(body, &modules) {
            if let Some(callee) = callee_file(functions, &key.0, qualifier.as_deref(), &name) {
                queue.push((callee, name));
            }
        }
    }
    text
}

/// `module::name` as its last qualifier and the name; a plain name alone.
fn split_path(path: &str) -> (Option<&str>, &str) {
    match path.trim().rsplit_once("::") {
        Some((before, name)) => (
            Some(before.rsplit("::").next().unwrap_or(before).trim()),
            name,
        ),
        None => (None, path.trim()),
    }
}

/// What a call may be qualified with to reach a function of the router's
/// sources (`events::parse(...)`, `super::error(...)`): the names of the
/// router's modules.
fn router_modules() -> BTreeSet<String> {
    let mut modules: BTreeSet<String> = ["api", "self", "super"].map(str::to_owned).into();
    for entry in std::fs::read_dir(repo_root().join(ROUTER_DIR)).unwrap() {
        let path = entry.unwrap().path();
        if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
            modules.insert(stem.to_owned());
        }
    }
    modules
}

/// Every `name(` in `code`, nested or not, that may call a function of the
/// router's sources, with its qualifier: neither a method call nor a call
/// qualified by anything but one of `modules`.
fn called_names(code: &str, modules: &BTreeSet<String>) -> Vec<(Option<String>, String)> {
    let chars: Vec<char> = code.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '"' {
            i = string_end(&chars, i);
            continue;
        }
        if is_ident(chars[i]) && (i == 0 || !is_ident(chars[i - 1])) {
            let start = i;
            while i < chars.len() && is_ident(chars[i]) {
                i += 1;
            }
            if chars.get(i) == Some(&'(')
                && let Some(qualifier) = call_qualifier(&chars[..start], modules)
            {
                found.push((qualifier, chars[start..i].iter().collect()));
            }
            continue;
        }
        i += 1;
    }
    found
}

/// How the call whose name follows `before` is made: `Some(None)` plainly,
/// `Some(Some(module))` qualified by one of `modules`, `None` otherwise.
fn call_qualifier(before: &[char], modules: &BTreeSet<String>) -> Option<Option<String>> {
    let trimmed = before
        .iter()
        .rposition(|c| !c.is_whitespace())
        .map_or(&before[..0], |end| &before[..=end]);
    match trimmed {
        [.., '.'] => None,
        [rest @ .., ':', ':'] => {
            let start = rest
                .iter()
                .rposition(|c| !is_ident(*c))
                .map_or(0, |p| p + 1);
            let qualifier: String = rest[start..].iter().collect();
            modules.contains(&qualifier).then_some(Some(qualifier))
        }
        _ => Some(None),
    }
}

/// A handler's own source, found as [`handler_source`] finds it.
fn handler_function<'a>(file: &str, handler: &str, functions: &'a Functions) -> Option<&'a str> {
    let (qualifier, name) = split_path(handler);
    let home = callee_file(functions, file, qualifier, name)?;
    functions.get(&(home, name.to_owned())).map(String::as_str)
}

/// The statuses a handler answers: the `StatusCode::NAME`s of its source,
/// and 400 when an extractor can refuse the request before it runs (an
/// integer path parameter, `i64` or its alias `AccountId`, or a query
/// string).
fn handler_statuses(file: &str, handler: &str, functions: &Functions) -> BTreeSet<u16> {
    const NAMES: [(&str, u16); 16] = [
        ("OK", 200),
        ("CREATED", 201),
        ("ACCEPTED", 202),
        ("NO_CONTENT", 204),
        ("FOUND", 302),
        ("BAD_REQUEST", 400),
        ("UNAUTHORIZED", 401),
        ("FORBIDDEN", 403),
        ("NOT_FOUND", 404),
        ("REQUEST_TIMEOUT", 408),
        ("CONFLICT", 409),
        ("PAYLOAD_TOO_LARGE", 413),
        ("UNPROCESSABLE_ENTITY", 422),
        ("INTERNAL_SERVER_ERROR", 500),
        ("BAD_GATEWAY", 502),
        ("SERVICE_UNAVAILABLE", 503),
    ];
    let source = handler_source(file, handler, functions);
    let mut statuses = BTreeSet::new();
    for (_, rest) in source
        .match_indices("StatusCode::")
        .map(|(i, m)| (i, &source[i + m.len()..]))
    {
        let name: String = rest.chars().take_while(|c| is_ident(*c)).collect();
        let code = NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, code)| *code)
            .unwrap_or_else(|| panic!("StatusCode::{name}: add it to tests/e2e/openapi.rs"));
        statuses.insert(code);
    }
    let signature = handler_function(file, handler, functions)
        .and_then(|f| f.split_once('{'))
        .map_or("", |(signature, _)| signature);
    let refusing_query = signature.contains("Query<") && !signature.contains("Result<Query<");
    let integer_path = ["Path<i64>", "Path<AccountId>"]
        .iter()
        .any(|p| signature.contains(p));
    if integer_path || refusing_query {
        statuses.insert(400);
    }
    statuses
}

/// The query fields a handler's `Query<T>` extractor reads: `T`'s fields,
/// `T` looked up in the handler's file first (modules reuse `LimitQuery`).
fn query_fields(
    file: &str,
    handler: &str,
    functions: &Functions,
    sources: &[(String, String)],
) -> BTreeSet<String> {
    let Some(source) = handler_function(file, handler, functions) else {
        return BTreeSet::new();
    };
    let signature = source.split_once('{').map_or("", |(s, _)| s);
    let Some((_, after)) = signature.split_once("Query<") else {
        return BTreeSet::new();
    };
    let name: String = after.chars().take_while(|c| is_ident(*c)).collect();
    let definition = sources
        .iter()
        .filter(|(f, _)| f == file)
        .chain(sources.iter().filter(|(f, _)| f != file))
        .find_map(|(_, code)| {
            code.split_once(&format!("struct {name} {{"))
                .map(|(_, rest)| rest.split_once('}').map_or(rest, |(fields, _)| fields))
        })
        .unwrap_or_else(|| panic!("no `struct {name}` in the router's sources"));
    definition
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let l = l
                .trim_start_matches("pub(crate) ")
                .trim_start_matches("pub ");
            l.split_once(':').map(|(field, _)| field.trim().to_owned())
        })
        .collect()
}

// ---------------------------------------------------------------------------
// The document
// ---------------------------------------------------------------------------

/// Follows `$ref`s (`#/...` pointers into the document) until an object
/// without one.
fn resolve<'a>(doc: &'a Value, mut value: &'a Value) -> &'a Value {
    for _ in 0..16 {
        match value.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                value = pointer(doc, reference);
            }
            None => return value,
        }
    }
    panic!("a $ref cycle at {value}")
}

fn pointer<'a>(doc: &'a Value, reference: &str) -> &'a Value {
    reference
        .strip_prefix('#')
        .and_then(|p| doc.pointer(p))
        .unwrap_or_else(|| panic!("`$ref: {reference}` does not resolve"))
}

/// Every documented operation: (path, method) and the operation.
fn operations(doc: &Value) -> BTreeMap<(String, String), &Value> {
    let mut found = BTreeMap::new();
    let paths = doc["paths"].as_object().expect("the document has paths");
    for (path, item) in paths {
        for key in item.as_object().expect("a path item is an object").keys() {
            assert!(
                METHODS.contains(&key.as_str())
                    || ["parameters", "summary", "description"].contains(&key.as_str()),
                "{path}: unexpected key `{key}` in the path item"
            );
        }
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                found.insert((path.clone(), method.to_owned()), operation);
            }
        }
    }
    found
}

/// An operation's parameters, its path item's included, resolved.
fn parameters<'a>(doc: &'a Value, path: &str, operation: &'a Value) -> Vec<&'a Value> {
    let shared = doc["paths"][path]["parameters"].as_array();
    let own = operation["parameters"].as_array();
    shared
        .into_iter()
        .chain(own)
        .flatten()
        .map(|p| resolve(doc, p))
        .collect()
}

fn named<'a>(parameters: &[&'a Value], location: &str) -> BTreeMap<String, &'a Value> {
    parameters
        .iter()
        .filter(|p| p["in"] == location)
        .map(|p| (p["name"].as_str().unwrap_or_default().to_owned(), *p))
        .collect()
}

fn template_parameters(path: &str) -> BTreeSet<String> {
    path.split('{')
        .skip(1)
        .filter_map(|s| s.split_once('}').map(|(name, _)| name.to_owned()))
        .collect()
}

/// Whether the operation requires the admin bearer token.
fn requires_token(doc: &Value, operation: &Value) -> bool {
    let security = operation.get("security").unwrap_or(&doc["security"]);
    security.as_array().is_some_and(|options| {
        !options.is_empty() && options.iter().all(|o| o.get(SCHEME).is_some())
    })
}

#[test]
fn the_document_is_openapi_3_1() {
    let doc = document();
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1.")),
        "openapi: {}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    assert_eq!(
        doc["components"]["securitySchemes"][SCHEME],
        json!({
            "type": "http",
            "scheme": "bearer",
            "description": doc["components"]["securitySchemes"][SCHEME]["description"],
        })
    );
    let mut ids = BTreeSet::new();
    for ((path, method), operation) in operations(&doc) {
        let id = operation["operationId"].as_str();
        assert!(
            id.is_some_and(|id| ids.insert(id.to_owned())),
            "{method} {path}: operationId missing or not unique"
        );
        assert!(
            operation["responses"]
                .as_object()
                .is_some_and(|r| !r.is_empty()),
            "{method} {path}: no responses"
        );
    }
}

#[test]
fn every_route_is_documented_with_its_methods_and_nothing_else() {
    let doc = document();
    let sources = router_sources();
    let routes = routes(&sources);
    assert!(
        routes.iter().any(|r| r.path == "/api/v1/accounts"),
        "the route reader found no `/api/v1/accounts`: {routes:?}"
    );
    let mut in_code = BTreeSet::new();
    for route in &routes {
        for method in route.methods.keys() {
            assert!(
                in_code.insert((route.path.clone(), method.clone())),
                "{} {} is routed twice",
                method.to_uppercase(),
                route.path
            );
        }
    }
    let documented: BTreeSet<_> = operations(&doc).into_keys().collect();
    let show = |set: Vec<&(String, String)>| {
        set.iter()
            .map(|(p, m)| format!("{} {p}", m.to_uppercase()))
            .collect::<Vec<_>>()
    };
    let undocumented = show(in_code.difference(&documented).collect());
    let unrouted = show(documented.difference(&in_code).collect());
    assert!(
        undocumented.is_empty() && unrouted.is_empty(),
        "{DOCUMENT} and the router disagree.\nRouted but not documented: {undocumented:#?}\nDocumented but not routed: {unrouted:#?}"
    );
}

#[test]
fn parameters_bodies_and_security_match_the_handlers() {
    let doc = document();
    let sources = router_sources();
    let functions = functions(&sources);
    let operations = operations(&doc);
    let mut problems = Vec::new();
    for route in routes(&sources) {
        for (method, handler) in &route.methods {
            let at = format!("{} {}", method.to_uppercase(), route.path);
            let Some(operation) = operations.get(&(route.path.clone(), method.clone())) else {
                continue; // reported by the test above
            };
            let source = handler_source(&route.file, handler, &functions);
            let parameters = parameters(&doc, &route.path, operation);

            let path_params = named(&parameters, "path");
            let expected = template_parameters(&route.path);
            if path_params.keys().cloned().collect::<BTreeSet<_>>() != expected
                || path_params.values().any(|p| p["required"] != true)
            {
                problems.push(format!(
                    "{at}: path parameters {:?} documented, {expected:?} in the path (all required)",
                    path_params.keys()
                ));
            }

            let query: BTreeSet<String> = named(&parameters, "query").into_keys().collect();
            let read = query_fields(&route.file, handler, &functions, &sources);
            if query != read {
                problems.push(format!(
                    "{at}: query parameters {query:?} documented, the handler reads {read:?}"
                ));
            }

            let token = source.contains("refuse_unauthorized(") || source.contains("admin_actor(");
            let documented_token = requires_token(&doc, operation);
            let has_401 = operation["responses"].get("401").is_some();
            if token != documented_token || (token && !has_401) {
                problems.push(format!(
                    "{at}: the handler {} the admin token; the document says security {}, 401 {}",
                    if token { "checks" } else { "does not check" },
                    documented_token,
                    has_401
                ));
            }
            if !token && operation.get("security") != Some(&json!([])) {
                problems.push(format!("{at}: open to all, so `security: []`"));
            }

            let mut answered = handler_statuses(&route.file, handler, &functions);
            let documented: BTreeSet<u16> = operation["responses"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(status, _)| status.parse().ok())
                .collect();
            // A plain `axum::Json(...)` answers 200 without naming it.
            if documented.contains(&200) {
                answered.insert(200);
            }
            if answered != documented {
                problems.push(format!(
                    "{at}: the handler answers {answered:?}, the document lists {documented:?}"
                ));
            }
            if let Some(unavailable) = operation["responses"].get("503") {
                let unavailable = resolve(&doc, unavailable);
                if resolve(&doc, &unavailable["headers"]["Retry-After"])["required"] != true {
                    problems.push(format!("{at}: 503 without a required Retry-After"));
                }
            }

            let key = source.contains("idempotency_key(");
            let documented_key = named(&parameters, "header")
                .get("Idempotency-Key")
                .is_some_and(|p| p["required"] == true);
            if key != documented_key {
                problems.push(format!(
                    "{at}: the handler {} an Idempotency-Key; the document {}",
                    if key { "requires" } else { "does not read" },
                    if documented_key {
                        "requires one"
                    } else {
                        "does not"
                    }
                ));
            }

            let reads_body = handler_function(&route.file, handler, &functions).is_some_and(|f| {
                // `Bytes` buffered by axum, or the streamed `Body` a handler
                // reads itself (webhooks, capped per connector).
                f.split_once('{')
                    .is_some_and(|(sig, _)| sig.contains("Bytes") || sig.contains(": Body"))
            });
            let documented_body = operation.get("requestBody").is_some();
            if reads_body != documented_body {
                problems.push(format!(
                    "{at}: the handler {} a body; the document {}",
                    if reads_body { "reads" } else { "does not read" },
                    if documented_body {
                        "describes one"
                    } else {
                        "does not"
                    }
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// Every `$ref` in the document.
fn references(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("$ref", Value::String(r)) => found.push(r.clone()),
                    _ => references(v, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, found)),
        _ => {}
    }
}

#[test]
fn references_resolve_and_examples_fit_their_schemas() {
    let doc = document();
    let mut refs = Vec::new();
    references(&doc, &mut refs);
    assert!(!refs.is_empty());
    for reference in &refs {
        pointer(&doc, reference);
    }
    let validator = Validator { doc: &doc };
    let mut problems = Vec::new();
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
        for (i, example) in schema["examples"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            for e in validator.errors(schema, example) {
                problems.push(format!("components.schemas.{name}.examples[{i}]{e}"));
            }
        }
    }
    for ((path, method), operation) in operations(&doc) {
        let mut media = Vec::new();
        if let Some(body) = operation.get("requestBody") {
            media.push(("requestBody".to_owned(), resolve(&doc, body)));
        }
        for (status, response) in operation["responses"].as_object().unwrap() {
            media.push((format!("responses.{status}"), resolve(&doc, response)));
        }
        for (at, holder) in media {
            for (kind, content) in holder["content"].as_object().into_iter().flatten() {
                for (name, example) in content["examples"].as_object().into_iter().flatten() {
                    let example = resolve(&doc, example);
                    for e in validator.errors(&content["schema"], &example["value"]) {
                        problems.push(format!(
                            "{} {path} {at} {kind} example `{name}`{e}",
                            method.to_uppercase()
                        ));
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn the_program_example_is_what_the_program_type_serializes() {
    let doc = document();
    let example = doc["components"]["schemas"]["Program"]["examples"][0].clone();
    let program: Program = serde_json::from_value(example.clone())
        .unwrap_or_else(|e| panic!("the Program example does not deserialize: {e}"));
    assert_eq!(
        serde_json::to_value(&program).unwrap(),
        example,
        "the Program example and the serialized program differ"
    );
}

// ---------------------------------------------------------------------------
// A JSON Schema validator for the keywords the document uses
// ---------------------------------------------------------------------------

struct Validator<'a> {
    doc: &'a Value,
}

impl Validator<'_> {
    /// What is wrong with `value` against `schema`, each as `path: problem`.
    fn errors(&self, schema: &Value, value: &Value) -> Vec<String> {
        let mut errors = Vec::new();
        self.check(schema, value, "", &mut errors);
        errors
    }

    fn check(&self, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
        let map = match schema {
            Value::Object(map) => map,
            Value::Bool(true) => return,
            _ => {
                errors.push(format!("{at}: the schema {schema} is not an object"));
                return;
            }
        };
        for (keyword, arg) in map {
            match keyword.as_str() {
                "$ref" => self.check(
                    pointer(self.doc, arg.as_str().unwrap_or_default()),
                    value,
                    at,
                    errors,
                ),
                "type" => {
                    let types: Vec<&str> = match arg {
                        Value::String(t) => vec![t.as_str()],
                        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                        _ => Vec::new(),
                    };
                    if !types.iter().any(|t| has_type(value, t)) {
                        errors.push(format!("{at}: {value} is not of type {arg}"));
                    }
                }
                "const" if value != arg => {
                    errors.push(format!("{at}: {value} is not {arg}"));
                }
                "enum" if !arg.as_array().is_some_and(|a| a.contains(value)) => {
                    errors.push(format!("{at}: {value} is not one of {arg}"));
                }
                "properties" => {
                    if let (Some(object), Some(properties)) = (value.as_object(), arg.as_object()) {
                        for (name, sub) in properties {
                            if let Some(v) = object.get(name) {
                                self.check(sub, v, &format!("{at}.{name}"), errors);
                            }
                        }
                    }
                }
                "required" => {
                    if let Some(object) = value.as_object() {
                        for name in arg
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(Value::as_str)
                        {
                            if !object.contains_key(name) {
                                errors.push(format!("{at}: `{name}` is missing"));
                            }
                        }
                    }
                }
                "additionalProperties" => {
                    if let Some(object) = value.as_object() {
                        let known = map.get("properties").and_then(Value::as_object);
                        for (name, v) in object {
                            if known.is_some_and(|k| k.contains_key(name)) {
                                continue;
                            }
                            if arg == &Value::Bool(false) {
                                errors.push(format!("{at}: `{name}` is not documented"));
                            } else {
                                self.check(arg, v, &format!("{at}.{name}"), errors);
                            }
                        }
                    }
                }
                "items" => {
                    for (i, item) in value.as_array().into_iter().flatten().enumerate() {
                        self.check(arg, item, &format!("{at}[{i}]"), errors);
                    }
                }
                "minItems" | "maxItems" => {
                    if let Some(items) = value.as_array() {
                        let limit = arg.as_u64().unwrap_or_default();
                        let len = items.len() as u64;
                        if (keyword == "minItems" && len < limit)
                            || (keyword == "maxItems" && len > limit)
                        {
                            errors.push(format!("{at}: {len} items, {keyword} {limit}"));
                        }
                    }
                }
                "minLength" | "maxLength" => {
                    if let Some(text) = value.as_str() {
                        let limit = arg.as_u64().unwrap_or_default();
                        let len = text.chars().count() as u64;
                        if (keyword == "minLength" && len < limit)
                            || (keyword == "maxLength" && len > limit)
                        {
                            errors.push(format!("{at}: {len} characters, {keyword} {limit}"));
                        }
                    }
                }
                "minimum" | "maximum" => {
                    if let (Value::Number(n), Value::Number(limit)) = (value, arg) {
                        let order = compare(n, limit);
                        let bad = match keyword.as_str() {
                            "minimum" => order == Some(CmpOrdering::Less),
                            _ => order == Some(CmpOrdering::Greater),
                        };
                        if bad || order.is_none() {
                            errors.push(format!("{at}: {n}, {keyword} {limit}"));
                        }
                    }
                }
                "oneOf" | "anyOf" => {
                    let branches = arg.as_array().map(Vec::as_slice).unwrap_or_default();
                    let matching = branches
                        .iter()
                        .filter(|b| self.errors(b, value).is_empty())
                        .count();
                    if (keyword == "oneOf" && matching != 1) || matching == 0 {
                        let why: Vec<String> = branches
                            .iter()
                            .flat_map(|b| self.errors(b, value))
                            .collect();
                        errors.push(format!(
                            "{at}: {value} matches {matching} of the {keyword} branches: {why:?}"
                        ));
                    }
                }
                "format" => match (arg.as_str(), value) {
                    (Some("decimal"), Value::String(text)) if !is_decimal(text) => {
                        errors.push(format!("{at}: {value} is not a decimal string"));
                    }
                    (Some("int64"), Value::Number(n)) if !n.is_i64() => {
                        errors.push(format!("{at}: {n} is not a 64-bit integer"));
                    }
                    _ => {}
                },
                // Annotations, and `pattern`, which this validator leaves to
                // the `format` of decimals (no regex engine here).
                "const" | "enum" | "description" | "title" | "examples" | "default"
                | "discriminator" | "pattern" | "contentMediaType" | "deprecated" => {}
                other => errors.push(format!(
                    "{at}: the schema uses `{other}`, which tests/e2e/openapi.rs does not check yet"
                )),
            }
        }
    }
}

fn has_type(value: &Value, name: &str) -> bool {
    match name {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => value.as_number().is_some_and(|n| n.is_i64() || n.is_u64()),
        _ => false,
    }
}

fn compare(a: &Number, b: &Number) -> Option<CmpOrdering> {
    match (a.to_string().parse::<i128>(), b.to_string().parse::<i128>()) {
        (Ok(a), Ok(b)) => Some(a.cmp(&b)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

/// `-?[0-9]+(\.[0-9]+)?`.
fn is_decimal(text: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    match unsigned.split_once('.') {
        Some((whole, fraction)) => digits(whole) && digits(fraction),
        None => digits(unsigned),
    }
}

#[test]
fn the_validator_catches_what_it_should() {
    let doc = document();
    let validator = Validator { doc: &doc };
    let entry = json!({ "$ref": "#/components/schemas/TierHistoryEntry" });
    let good =
        json!({ "from": null, "to": "gold", "kind": "upgrade", "spend": "25000.00", "at": 1 });
    assert_eq!(validator.errors(&entry, &good), Vec::<String>::new());
    for bad in [
        json!({ "from": null, "to": "gold", "kind": "upgrade", "spend": 25000, "at": 1 }),
        json!({ "from": null, "to": "gold", "kind": "upgrade", "spend": "1e3", "at": 1 }),
        json!({ "from": null, "to": "gold", "kind": "sideways", "spend": "1", "at": 1 }),
        json!({ "from": null, "to": "gold", "kind": "upgrade", "spend": "1", "at": 1.5 }),
        json!({ "to": "gold", "kind": "upgrade", "spend": "1", "at": 1 }),
        json!({ "from": null, "to": "gold", "kind": "upgrade", "spend": "1", "at": 1, "x": 0 }),
    ] {
        assert!(!validator.errors(&entry, &bad).is_empty(), "{bad} passed");
    }
    let fulfilment = json!({ "$ref": "#/components/schemas/Fulfilment" });
    assert!(validator.errors(&fulfilment, &json!("manual")).is_empty());
    assert!(
        validator
            .errors(&fulfilment, &json!({ "connector": "shopify" }))
            .is_empty()
    );
    assert!(!validator.errors(&fulfilment, &json!("robot")).is_empty());
}

// ---------------------------------------------------------------------------
// The daemon's answers
// ---------------------------------------------------------------------------

const TOKEN: &str = "openapi-admin-token";
const DAY_MS: i64 = 86_400_000;

/// The router on loopback, and what the test has called.
struct Live {
    base: String,
    doc: Value,
    client: reqwest::Client,
    called: Mutex<BTreeSet<(String, String)>>,
}

/// One request, by its documented path template.
struct Call {
    method: &'static str,
    template: &'static str,
    path: String,
    token: bool,
    key: Option<String>,
    body: Option<Vec<u8>>,
    json: Option<Value>,
}

/// An answer that was checked against the document.
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Call {
    fn new(method: &'static str, template: &'static str, path: impl Into<String>) -> Self {
        Self {
            method,
            template,
            path: path.into(),
            token: true,
            key: None,
            body: None,
            json: None,
        }
    }

    fn without_token(mut self) -> Self {
        self.token = false;
        self
    }

    fn key(mut self, key: &str) -> Self {
        self.key = Some(key.to_owned());
        self
    }

    fn json(mut self, body: Value) -> Self {
        self.body = Some(body.to_string().into_bytes());
        self.json = Some(body);
        self
    }

    fn raw(mut self, body: &[u8]) -> Self {
        self.body = Some(body.to_vec());
        self
    }
}

impl Live {
    /// Sends `call`, checks the answer against the document and returns it
    /// once its status is `expected`.
    async fn expect(&self, expected: u16, call: Call) -> Value {
        let at = format!("{} {}", call.method, call.path);
        let answer = self.send(call).await;
        assert_eq!(answer.status, expected, "{at}: {}", answer.body);
        answer.body
    }

    async fn send(&self, call: Call) -> Answer {
        let method = call.method.to_lowercase();
        let at = format!("{} {}", call.method, call.path);
        let operation = &self.doc["paths"][call.template][&method];
        assert!(
            operation.is_object(),
            "{} {} is not documented",
            call.method,
            call.template
        );
        let mut request = self.client.request(
            call.method.parse().unwrap(),
            format!("{}{}", self.base, call.path),
        );
        if call.token {
            request = request.bearer_auth(TOKEN);
        }
        if let Some(key) = &call.key {
            request = request.header("Idempotency-Key", key);
        }
        if let Some(body) = call.body.clone() {
            if call.json.is_some() {
                request = request.header("content-type", "application/json");
            }
            request = request.body(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap();
        let text = String::from_utf8_lossy(&bytes).into_owned();

        let documented = operation["responses"]
            .get(status.to_string())
            .or_else(|| operation["responses"].get("default"))
            .unwrap_or_else(|| panic!("{at}: status {status} is not documented: {text}"));
        let documented = resolve(&self.doc, documented);
        let validator = Validator { doc: &self.doc };

        let media = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or_default().trim().to_owned());
        let body = match media.as_deref() {
            None if bytes.is_empty() => {
                assert!(
                    documented.get("content").is_none(),
                    "{at}: {status} has no body, the document describes one"
                );
                Value::Null
            }
            Some(media) => {
                let content = documented["content"].get(media).unwrap_or_else(|| {
                    panic!("{at}: {status} answered `{media}`, not documented: {text}")
                });
                let value = if media == "application/json" {
                    serde_json::from_slice(&bytes)
                        .unwrap_or_else(|e| panic!("{at}: {status}: not JSON ({e}): {text}"))
                } else {
                    Value::String(text.clone())
                };
                let errors = validator.errors(&content["schema"], &value);
                assert!(
                    errors.is_empty(),
                    "{at}: {status} {media} does not fit the document: {errors:#?}\n{text}"
                );
                value
            }
            None => panic!("{at}: {status} has a body without a content type: {text}"),
        };

        let documented_headers = documented["headers"].as_object();
        for (name, header) in documented_headers.into_iter().flatten() {
            let header = resolve(&self.doc, header);
            match headers.get(name.as_str()).and_then(|v| v.to_str().ok()) {
                None => assert!(
                    header["required"] != true,
                    "{at}: {status} lacks the documented header {name}"
                ),
                Some(value) => {
                    let value = match header["schema"]["type"].as_str() {
                        Some("integer") => serde_json::from_str::<Value>(value)
                            .unwrap_or_else(|_| Value::String(value.to_owned())),
                        _ => Value::String(value.to_owned()),
                    };
                    let errors = validator.errors(&header["schema"], &value);
                    assert!(
                        errors.is_empty(),
                        "{at}: {status} header {name}: {errors:?}"
                    );
                }
            }
        }
        for name in ["idempotent-replayed", "retry-after", "www-authenticate"] {
            if headers.contains_key(name) {
                assert!(
                    documented_headers
                        .is_some_and(|h| h.keys().any(|k| k.eq_ignore_ascii_case(name))),
                    "{at}: {status} sends {name}, which the document does not mention"
                );
            }
        }

        if (200..300).contains(&status)
            && let Some(sent) = &call.json
        {
            let schema = &resolve(&self.doc, &operation["requestBody"])["content"]["application/json"]
                ["schema"];
            let errors = validator.errors(schema, sent);
            assert!(
                errors.is_empty(),
                "{at}: the daemon accepted a body the document refuses: {errors:#?}\n{sent}"
            );
        }

        self.called
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((call.template.to_owned(), method));
        Answer {
            status,
            headers,
            body,
        }
    }
}

/// The echo test connector, configured for polling every 300 s.
fn polled_echo() -> Endpoint {
    let runtime = Runtime::new(RuntimeOptions::default()).unwrap();
    let plugin = runtime
        .load(PluginSpec {
            name: "echo".to_owned(),
            wasm: test_component("echo"),
            limits: Limits::default(),
            grants: Grants::default(),
            state: Arc::new(MemoryState::default()),
        })
        .unwrap();
    Endpoint {
        plugin,
        wake: Arc::new(Notify::new()),
        sync: Some(Arc::new(SyncHandle::new(Duration::from_secs(300)))),
        backlog: Arc::new(Backlog::new(100)),
    }
}

fn now_ms() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// Serves `api`'s router on loopback; its base URL.
async fn serve(api: Arc<Api>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = router(api);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

fn id_of(accounts: &Value, name: &str) -> i64 {
    accounts["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name)
        .and_then(|a| a["id"].as_i64())
        .unwrap_or_else(|| panic!("no account `{name}` in {accounts}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_answers_as_documented() {
    let doc = document();
    let program: Program =
        serde_json::from_value(doc["components"]["schemas"]["Program"]["examples"][0].clone())
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&dir.path().join("loyalty.db"), 16).unwrap());
    let now = now_ms();
    // Begun 30 days ago, due in 60: three member accounts.
    let goal: Goal = serde_json::from_value(json!({
        "id": "members-3", "name": "Three member accounts", "metric": "members",
        "baseline": "0", "target": "3", "start": now - 30 * DAY_MS,
        "deadline": now + 60 * DAY_MS, "owner": "Partner sales" }))
    .unwrap();
    let portal = PortalConfig {
        secret: Secret::new(b"openapi-portal-secret-0123456789abcdef".to_vec()),
        title: "Rheinwerk Partner Rewards".to_owned(),
        link_minutes: 30,
        session_minutes: 480,
        invitation_days: 14,
    };
    let links = Links::new(&portal, "https://loyalty.example").unwrap();
    let program = Arc::new(program);
    let outbox = dir.path().join("statements");
    let statements = Statements::new(
        store.clone(),
        program.clone(),
        StatementsConfig {
            period: StatementPeriod::Monthly,
            outbox: outbox.clone(),
            link_days: 14,
            expiring_days: 60,
        },
        Some(links.clone()),
        portal.title.clone(),
    );
    let api = Arc::new(Api {
        endpoints: BTreeMap::from([("echo".to_owned(), polled_echo())]),
        store: store.clone(),
        public_base_url: "https://loyalty.example".to_owned(),
        admin_token_sha256: vec![Sha256::digest(TOKEN.as_bytes()).into()],
        tokens: Vec::new(),
        ready: AtomicBool::new(true),
        program,
        goals: vec![goal],
        portal_links: Some(links),
        statements: Some(Arc::new(statements)),
        metrics: Default::default(),
        reloader: None,
        instance_id: "test-instance".to_owned(),
    });
    // A client that follows no redirect: a redirect is an answer to check.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let live = Live {
        base: serve(api.clone()).await,
        doc: doc.clone(),
        client: client.clone(),
        called: Mutex::new(BTreeSet::new()),
    };
    // The same store without `[portal]` or `[statements]`: the portal links
    // and the statements are refused.
    let portal_off = Live {
        base: serve(Arc::new(Api {
            endpoints: BTreeMap::new(),
            store,
            public_base_url: "https://loyalty.example".to_owned(),
            admin_token_sha256: vec![Sha256::digest(TOKEN.as_bytes()).into()],
            tokens: Vec::new(),
            ready: AtomicBool::new(true),
            program: api.program.clone(),
            goals: Vec::new(),
            portal_links: None,
            statements: None,
            metrics: Default::default(),
            reloader: None,
            instance_id: "test-instance".to_owned(),
        }))
        .await,
        doc: doc.clone(),
        client,
        called: Mutex::new(BTreeSet::new()),
    };

    live.expect(
        200,
        Call::new("GET", "/healthz", "/healthz").without_token(),
    )
    .await;
    live.expect(200, Call::new("GET", "/readyz", "/readyz").without_token())
        .await;
    let metrics = live
        .expect(200, Call::new("GET", "/metrics", "/metrics"))
        .await;
    assert!(
        metrics
            .as_str()
            .unwrap()
            .contains("# TYPE loyalty_ledger_entries counter"),
        "{metrics}"
    );
    live.expect(
        401,
        Call::new("GET", "/metrics", "/metrics").without_token(),
    )
    .await;
    api.store
        .hold_lease(loyaltyd::store::cluster::LeaseClaim {
            name: "poll:echo".to_owned(),
            holder: "test-instance".to_owned(),
            ttl_ms: 60_000,
        })
        .await
        .unwrap();
    api.store
        .run_jobs_once(
            api.program.clone(),
            "2026-12-07T05".to_owned(),
            "other".to_owned(),
        )
        .await
        .unwrap();
    let cluster = live
        .expect(200, Call::new("GET", "/api/v1/cluster", "/api/v1/cluster"))
        .await;
    assert_eq!(cluster["instance"], "test-instance", "{cluster}");
    assert_eq!(cluster["leases"][0]["mine"], true, "{cluster}");
    assert_eq!(cluster["runs"][0]["holder"], "other", "{cluster}");
    const RELOAD: &str = "/api/v1/connectors/{name}/reload";
    live.expect(
        409,
        Call::new("POST", RELOAD, "/api/v1/connectors/shopify/reload"),
    )
    .await;
    live.expect(
        401,
        Call::new("POST", RELOAD, "/api/v1/connectors/shopify/reload").without_token(),
    )
    .await;
    live.expect(
        401,
        Call::new("GET", "/api/v1/accounts", "/api/v1/accounts").without_token(),
    )
    .await;

    // Events: two companies, a contact, purchases (one old enough for its
    // points to expire within 90 days), a refund.
    const EVENTS: &str = "/api/v1/events";
    let submission = json!({ "source": "erp", "events": [
        { "type": "account", "id": "C-1001", "version": 3, "name": "Acme GmbH", "domain": "acme.example",
          "tax_id": "DE811907980", "industry": "machinery", "employees": 120, "country": "DE",
          "annual_revenue": { "amount": "48500000.00", "currency": "EUR" },
          "external_refs": [{ "system": "crm", "id": "0013000000Acme" }] },
        { "type": "account", "id": "C-2002", "version": 1, "name": "Acme Logistics" },
        { "type": "account", "id": "C-3003", "version": 1, "name": "Acme Service" },
        { "type": "contact", "id": "P-1", "version": 1, "account_id": "C-1001", "email": "Anna@Acme.example",
          "first_name": "Anna", "last_name": "Weber", "role": "buyer" },
        { "type": "purchase", "id": "SO-1", "version": 1, "account_id": "C-1001", "status": "paid",
          "placed_at": now - 700 * DAY_MS, "net_amount": { "amount": "1250.00", "currency": "EUR" } },
        { "type": "purchase", "id": "SO-2", "version": 1, "account_id": "C-1001", "contact_id": "P-1",
          "status": "paid", "placed_at": now - DAY_MS, "net_amount": { "amount": "400.00", "currency": "EUR" },
          "total_amount": { "amount": "476.00", "currency": "EUR" }, "referral_code": "FRIEND-7",
          "lines": [
            { "id": "L1", "sku": "RW-VALVE-DN50-PN40", "title": "Ball valve", "category": "valves", "quantity": 2,
              "net_amount": { "amount": "300.00", "currency": "EUR" } },
            { "id": "L2", "category": "spare-parts", "net_amount": { "amount": "100.00", "currency": "EUR" } }
          ] },
        { "type": "refund", "id": "CR-1", "version": 1, "purchase_id": "SO-2",
          "net_amount": { "amount": "1E2", "currency": "eur" }, "refunded_at": now - DAY_MS / 2,
          "lines": [{ "line_id": "L2", "quantity": 1, "net_amount": { "amount": "100.00", "currency": "EUR" } }] },
        { "type": "purchase", "id": "SO-3", "version": 1, "account_id": "C-2002", "status": "paid",
          "placed_at": now - DAY_MS, "net_amount": { "amount": "300.00", "currency": "USD" } },
        { "type": "contract", "id": "K-1", "version": 1, "account_id": "C-1001", "status": "active",
          "name": "Framework agreement 2026", "starts_at": now - 30 * DAY_MS, "ends_at": null,
          "value": { "amount": "50000.00", "currency": "EUR" } },
        { "type": "engagement", "id": "NPS-1", "version": 1, "account_id": "C-1001", "contact_id": "P-1",
          "kind": "nps_response", "score": 9, "occurred_at": now - DAY_MS, "comment": "fast delivery" },
        { "type": "engagement", "id": "EV-1", "version": 1, "account_id": "C-1001",
          "kind": "event_attended", "name": "Hannover Messe 2026" }
    ]});
    let applied = live
        .expect(
            201,
            Call::new("POST", EVENTS, EVENTS)
                .key("erp-1")
                .json(submission.clone()),
        )
        .await;
    assert!(applied["entries"].as_u64() > Some(0), "{applied}");
    live.expect(
        200,
        Call::new("POST", EVENTS, EVENTS)
            .key("erp-1")
            .json(submission.clone()),
    )
    .await;
    let mut other = submission.clone();
    other["events"][3]["version"] = json!(2);
    live.expect(
        409,
        Call::new("POST", EVENTS, EVENTS).key("erp-1").json(other),
    )
    .await;
    live.expect(
        400,
        Call::new("POST", EVENTS, EVENTS).json(submission.clone()),
    )
    .await;
    live.expect(
        422,
        Call::new("POST", EVENTS, EVENTS)
            .key("erp-2")
            .json(json!({ "source": "erp", "events": [{ "type": "order" }] })),
    )
    .await;
    live.expect(
        422,
        Call::new("POST", EVENTS, EVENTS)
            .key("erp-4")
            .json(json!({ "source": "erp", "events": [
                { "type": "engagement", "id": "NPS-2", "version": 1, "account_id": "C-1001",
                  "kind": "nps_response", "score": 11 }
            ]})),
    )
    .await;
    let no_rate = json!({ "source": "erp", "events": [
        { "type": "purchase", "id": "SO-9", "version": 1, "account_id": "C-1001", "status": "paid",
          "placed_at": now, "net_amount": { "amount": "10.00", "currency": "CHF" } }
    ]});
    live.expect(
        422,
        Call::new("POST", EVENTS, EVENTS).key("erp-3").json(no_rate),
    )
    .await;

    // Accounts and the ledger.
    let accounts = live
        .expect(
            200,
            Call::new("GET", "/api/v1/accounts", "/api/v1/accounts"),
        )
        .await;
    let acme = id_of(&accounts, "Acme GmbH");
    let logistics = id_of(&accounts, "Acme Logistics");
    let service = id_of(&accounts, "Acme Service");
    const ACCOUNT: &str = "/api/v1/accounts/{id}";
    let detail = live
        .expect(
            200,
            Call::new("GET", ACCOUNT, format!("/api/v1/accounts/{acme}")),
        )
        .await;
    assert!(
        detail["contacts"].as_array().is_some_and(|c| !c.is_empty()),
        "{detail}"
    );
    live.expect(400, Call::new("GET", ACCOUNT, "/api/v1/accounts/acme"))
        .await;
    live.expect(404, Call::new("GET", ACCOUNT, "/api/v1/accounts/999999"))
        .await;
    const LEDGER: &str = "/api/v1/accounts/{id}/ledger";
    let ledger = live
        .expect(
            200,
            Call::new("GET", LEDGER, format!("/api/v1/accounts/{acme}/ledger")),
        )
        .await;
    assert!(
        ledger["entries"].as_array().is_some_and(|e| e.len() >= 3),
        "{ledger}"
    );
    live.expect(
        200,
        Call::new(
            "GET",
            LEDGER,
            format!("/api/v1/accounts/{acme}/ledger?kind=earn&from=0&to={now}"),
        ),
    )
    .await;
    live.expect(
        400,
        Call::new(
            "GET",
            LEDGER,
            format!("/api/v1/accounts/{acme}/ledger?kind=gift"),
        ),
    )
    .await;
    live.expect(
        400,
        Call::new(
            "GET",
            LEDGER,
            format!("/api/v1/accounts/{acme}/ledger?page=2"),
        ),
    )
    .await;
    live.expect(
        404,
        Call::new("GET", LEDGER, "/api/v1/accounts/999999/ledger"),
    )
    .await;

    // Before any debit: the old purchase's points all expire within 90 days.
    const EXPIRING: &str = "/api/v1/accounts/{id}/expiring";
    let expiring = live
        .expect(
            200,
            Call::new(
                "GET",
                EXPIRING,
                format!("/api/v1/accounts/{acme}/expiring?days=90"),
            ),
        )
        .await;
    assert!(
        expiring["lots"].as_array().is_some_and(|l| !l.is_empty()),
        "{expiring}"
    );
    live.expect(
        400,
        Call::new(
            "GET",
            EXPIRING,
            format!("/api/v1/accounts/{acme}/expiring?days=-1"),
        ),
    )
    .await;
    const ADJUST: &str = "/api/v1/accounts/{id}/adjustments";
    let adjust_path = format!("/api/v1/accounts/{acme}/adjustments");
    let goodwill = json!({ "points": 25, "reason": "goodwill" });
    live.expect(
        201,
        Call::new("POST", ADJUST, &adjust_path)
            .key("adj-1")
            .json(goodwill.clone()),
    )
    .await;
    live.expect(
        200,
        Call::new("POST", ADJUST, &adjust_path)
            .key("adj-1")
            .json(goodwill.clone()),
    )
    .await;
    live.expect(
        409,
        Call::new("POST", ADJUST, &adjust_path)
            .key("adj-1")
            .json(json!({ "points": 26, "reason": "goodwill" })),
    )
    .await;
    live.expect(
        400,
        Call::new("POST", ADJUST, &adjust_path).json(goodwill.clone()),
    )
    .await;
    live.expect(
        422,
        Call::new("POST", ADJUST, &adjust_path)
            .key("adj-2")
            .json(json!({ "points": 0, "reason": "nothing" })),
    )
    .await;
    live.expect(
        404,
        Call::new("POST", ADJUST, "/api/v1/accounts/999999/adjustments")
            .key("adj-3")
            .json(goodwill),
    )
    .await;

    // The program.
    let served = live
        .expect(200, Call::new("GET", "/api/v1/program", "/api/v1/program"))
        .await;
    assert_eq!(
        served,
        doc["components"]["schemas"]["Program"]["examples"][0]
    );
    live.expect(200, Call::new("GET", "/api/v1/tiers", "/api/v1/tiers"))
        .await;
    live.expect(200, Call::new("GET", "/api/v1/rewards", "/api/v1/rewards"))
        .await;
    let terms = live
        .expect(200, Call::new("GET", "/api/v1/terms", "/api/v1/terms"))
        .await;

    // Redemptions.
    const REDEEM: &str = "/api/v1/accounts/{id}/redemptions";
    let redeem_path = format!("/api/v1/accounts/{acme}/redemptions");
    let gift = json!({ "reward": "gift-card-100", "contact": "anna@acme.example" });
    let first = live
        .expect(
            201,
            Call::new("POST", REDEEM, &redeem_path)
                .key("red-1")
                .json(gift.clone()),
        )
        .await;
    live.expect(
        200,
        Call::new("POST", REDEEM, &redeem_path)
            .key("red-1")
            .json(gift.clone()),
    )
    .await;
    live.expect(
        409,
        Call::new("POST", REDEEM, &redeem_path)
            .key("red-1")
            .json(json!({ "reward": "discount-250" })),
    )
    .await;
    live.expect(
        404,
        Call::new("POST", REDEEM, &redeem_path)
            .key("red-2")
            .json(json!({ "reward": "yacht" })),
    )
    .await;
    live.expect(
        422,
        Call::new("POST", REDEEM, &redeem_path)
            .key("red-3")
            .json(json!({ "reward": "torque-wrench-pro" })),
    )
    .await;
    live.expect(
        400,
        Call::new("POST", REDEEM, &redeem_path).json(gift.clone()),
    )
    .await;
    let second = live
        .expect(
            201,
            Call::new("POST", REDEEM, &redeem_path)
                .key("red-4")
                .json(json!({ "reward": "gift-card-100" })),
        )
        .await;
    let listed = live
        .expect(200, Call::new("GET", REDEEM, &redeem_path))
        .await;
    assert!(
        listed["redemptions"]
            .as_array()
            .is_some_and(|r| r.len() == 2),
        "{listed}"
    );
    live.expect(
        400,
        Call::new("GET", REDEEM, format!("{redeem_path}?status=lost")),
    )
    .await;
    const REDEMPTIONS: &str = "/api/v1/redemptions";
    live.expect(
        200,
        Call::new("GET", REDEMPTIONS, "/api/v1/redemptions?status=reserved"),
    )
    .await;
    live.expect(
        400,
        Call::new("GET", REDEMPTIONS, "/api/v1/redemptions?status=lost"),
    )
    .await;

    const FULFIL: &str = "/api/v1/redemptions/{id}/fulfil";
    const FAIL: &str = "/api/v1/redemptions/{id}/fail";
    let (first, second) = (&first["id"], &second["id"]);
    let code = json!({ "detail": "code GC-7Q2" });
    live.expect(
        200,
        Call::new(
            "POST",
            FULFIL,
            format!("/api/v1/redemptions/{first}/fulfil"),
        )
        .json(code.clone()),
    )
    .await;
    live.expect(
        200,
        Call::new(
            "POST",
            FULFIL,
            format!("/api/v1/redemptions/{first}/fulfil"),
        )
        .json(code.clone()),
    )
    .await;
    live.expect(
        409,
        Call::new("POST", FAIL, format!("/api/v1/redemptions/{first}/fail")),
    )
    .await;
    live.expect(
        404,
        Call::new("POST", FULFIL, "/api/v1/redemptions/999999/fulfil").json(code),
    )
    .await;
    live.expect(
        422,
        Call::new("POST", FAIL, format!("/api/v1/redemptions/{second}/fail")).raw(b"{\"why\":1}"),
    )
    .await;
    live.expect(
        200,
        Call::new("POST", FAIL, format!("/api/v1/redemptions/{second}/fail")),
    )
    .await;
    live.expect(
        400,
        Call::new("POST", FAIL, "/api/v1/redemptions/first/fail"),
    )
    .await;

    // Tags, membership, terms, merge.
    const TAGS: &str = "/api/v1/accounts/{id}/tags";
    live.expect(
        200,
        Call::new("PUT", TAGS, format!("/api/v1/accounts/{acme}/tags"))
            .json(json!({ "tags": ["strategic", "new-distributor"] })),
    )
    .await;
    live.expect(
        422,
        Call::new("PUT", TAGS, format!("/api/v1/accounts/{acme}/tags"))
            .json(json!({ "tags": [" "] })),
    )
    .await;
    live.expect(
        404,
        Call::new("PUT", TAGS, "/api/v1/accounts/999999/tags").json(json!({ "tags": [] })),
    )
    .await;
    const MEMBERSHIP: &str = "/api/v1/accounts/{id}/membership";
    let membership_path = format!("/api/v1/accounts/{logistics}/membership");
    for status in ["suspended", "closed"] {
        live.expect(
            200,
            Call::new("PUT", MEMBERSHIP, &membership_path).json(json!({ "status": status })),
        )
        .await;
    }
    live.expect(
        409,
        Call::new("PUT", MEMBERSHIP, &membership_path).json(json!({ "status": "suspended" })),
    )
    .await;
    live.expect(
        422,
        Call::new("PUT", MEMBERSHIP, &membership_path).json(json!({ "status": "gone" })),
    )
    .await;
    live.expect(
        404,
        Call::new("PUT", MEMBERSHIP, "/api/v1/accounts/999999/membership")
            .json(json!({ "status": "active" })),
    )
    .await;

    const ACCEPT: &str = "/api/v1/accounts/{id}/terms-acceptances";
    let accept_path = format!("/api/v1/accounts/{acme}/terms-acceptances");
    let acceptance = json!({ "version": terms["version"], "contact": "anna@acme.example" });
    let recorded = live
        .expect(
            201,
            Call::new("POST", ACCEPT, &accept_path).json(acceptance.clone()),
        )
        .await;
    assert_eq!(
        recorded["enrolled"], false,
        "an open program enrolls no one by terms"
    );
    live.expect(
        409,
        Call::new("POST", ACCEPT, &accept_path)
            .json(json!({ "version": "1999-01", "contact": "anna@acme.example" })),
    )
    .await;
    live.expect(
        404,
        Call::new("POST", ACCEPT, "/api/v1/accounts/999999/terms-acceptances").json(acceptance),
    )
    .await;
    live.expect(
        422,
        Call::new("POST", ACCEPT, &accept_path)
            .json(json!({ "version": terms["version"], "contact": " " })),
    )
    .await;
    let accepted = live
        .expect(200, Call::new("GET", ACCEPT, &accept_path))
        .await;
    assert!(
        accepted["acceptances"]
            .as_array()
            .is_some_and(|a| a.len() == 1),
        "{accepted}"
    );

    const REFERRALS: &str = "/api/v1/accounts/{id}/referrals";
    let referrals_path = format!("/api/v1/accounts/{acme}/referrals");
    let referral = json!({ "referred": logistics });
    let recorded = live
        .expect(
            201,
            Call::new("POST", REFERRALS, &referrals_path).json(referral.clone()),
        )
        .await;
    assert!(
        recorded["qualified_at"].is_i64(),
        "it has earned already: {recorded}"
    );
    live.expect(
        200,
        Call::new("POST", REFERRALS, &referrals_path).json(referral.clone()),
    )
    .await;
    live.expect(
        409,
        Call::new(
            "POST",
            REFERRALS,
            format!("/api/v1/accounts/{service}/referrals"),
        )
        .json(referral),
    )
    .await;
    live.expect(
        422,
        Call::new("POST", REFERRALS, &referrals_path).json(json!({ "referred": acme })),
    )
    .await;
    live.expect(
        404,
        Call::new("POST", REFERRALS, &referrals_path).json(json!({ "referred": 999_999 })),
    )
    .await;
    let made = live
        .expect(200, Call::new("GET", REFERRALS, &referrals_path))
        .await;
    assert!(
        made["referrals"].as_array().is_some_and(|r| r.len() == 1),
        "{made}"
    );

    const MERGE: &str = "/api/v1/accounts/{id}/merge";
    let merge_path = format!("/api/v1/accounts/{acme}/merge");
    let merge = json!({ "from": logistics, "reason": "one company: a duplicate from the ERP" });
    live.expect(
        201,
        Call::new("POST", MERGE, &merge_path)
            .key("merge-1")
            .json(merge.clone()),
    )
    .await;
    live.expect(
        200,
        Call::new("POST", MERGE, &merge_path)
            .key("merge-1")
            .json(merge.clone()),
    )
    .await;
    live.expect(
        409,
        Call::new("POST", MERGE, &merge_path)
            .key("merge-2")
            .json(merge.clone()),
    )
    .await;
    live.expect(
        409,
        Call::new("POST", MERGE, &merge_path)
            .key("merge-3")
            .json(json!({ "from": acme, "reason": "itself" })),
    )
    .await;
    live.expect(
        404,
        Call::new("POST", MERGE, &merge_path)
            .key("merge-4")
            .json(json!({ "from": 999_999, "reason": "unknown" })),
    )
    .await;
    live.expect(
        422,
        Call::new("POST", MERGE, &merge_path)
            .key("merge-5")
            .json(json!({ "from": logistics, "reason": " " })),
    )
    .await;
    live.expect(400, Call::new("POST", MERGE, &merge_path).json(merge))
        .await;
    let merged = live
        .expect(
            200,
            Call::new("GET", "/api/v1/accounts", "/api/v1/accounts"),
        )
        .await;
    assert!(
        merged["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["merged_into"] == acme),
        "{merged}"
    );

    // Referrals with codes, commissions and payouts. The example program
    // pays a flat EUR 100 per qualified referral and 5 % of the referred
    // account's orders, in per-purchase batches.
    const CODE: &str = "/api/v1/accounts/{id}/referral-code";
    let code = live
        .expect(
            200,
            Call::new(
                "GET",
                CODE,
                format!("/api/v1/accounts/{acme}/referral-code"),
            ),
        )
        .await;
    let text = code["code"].as_str().unwrap().to_owned();
    assert!(text.starts_with("RW-") && text.len() == 11, "{code}");
    assert_eq!(
        code["link"],
        json!(format!("https://loyalty.example/r/{text}"))
    );
    live.expect(
        404,
        Call::new("GET", CODE, "/api/v1/accounts/999999/referral-code"),
    )
    .await;
    live.expect(
        400,
        Call::new("GET", CODE, "/api/v1/accounts/acme/referral-code"),
    )
    .await;
    const LINK: &str = "/r/{code}";
    let followed = live
        .send(Call::new("GET", LINK, format!("/r/{}", text.to_lowercase())).without_token())
        .await;
    assert_eq!(followed.status, 302, "{}", followed.body);
    assert_eq!(
        followed.headers["location"].to_str().unwrap(),
        format!("https://shop.rheinwerk.example/partner-signup?ref={text}")
    );
    live.expect(
        404,
        Call::new("GET", LINK, "/r/RW-NOSUCHCODE").without_token(),
    )
    .await;

    // A new account's first order carries Acme's code: signup 100.00 and
    // 5 % of 1000.00 = 50.00 are owed to Acme.
    live.expect(
        201,
        Call::new("POST", EVENTS, EVENTS)
            .key("erp-5")
            .json(json!({ "source": "erp", "events": [
                { "type": "account", "id": "C-4004", "version": 1, "name": "Brandt Maschinenbau GmbH",
                  "annual_revenue": { "amount": "2.5E7", "currency": "eur" } },
                { "type": "purchase", "id": "SO-4", "version": 1, "account_id": "C-4004", "status": "paid",
                  "placed_at": now - DAY_MS, "net_amount": { "amount": "1000.00", "currency": "EUR" },
                  "referral_code": text.to_lowercase() }
            ]})),
    )
    .await;
    let brandt = id_of(
        &live
            .expect(
                200,
                Call::new("GET", "/api/v1/accounts", "/api/v1/accounts"),
            )
            .await,
        "Brandt Maschinenbau GmbH",
    );
    const COMMISSIONS: &str = "/api/v1/accounts/{id}/commissions";
    let earned = live
        .expect(
            200,
            Call::new(
                "GET",
                COMMISSIONS,
                format!("/api/v1/accounts/{acme}/commissions"),
            ),
        )
        .await;
    let mut for_brandt: Vec<(&str, &str)> = earned["commissions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["referred"] == brandt)
        .map(|c| (c["rule"].as_str().unwrap(), c["amount"].as_str().unwrap()))
        .collect();
    for_brandt.sort_unstable();
    assert_eq!(
        for_brandt,
        [("share", "50.00"), ("signup", "100.00")],
        "{earned}"
    );
    live.expect(
        404,
        Call::new("GET", COMMISSIONS, "/api/v1/accounts/999999/commissions"),
    )
    .await;

    const REPORT: &str = "/api/v1/referrals/report";
    let report = live
        .expect(
            200,
            Call::new("GET", REPORT, "/api/v1/referrals/report?from=2000-01-01"),
        )
        .await;
    assert!(
        report["referrers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["account_id"] == acme),
        "{report}"
    );
    live.expect(200, Call::new("GET", REPORT, REPORT)).await;
    for refused in [
        "?from=yesterday",
        "?from=2030-01-01&to=2029-01-01",
        "?page=2",
    ] {
        live.expect(400, Call::new("GET", REPORT, format!("{REPORT}{refused}")))
            .await;
    }

    const PAYOUTS: &str = "/api/v1/payouts";
    let none = live.expect(200, Call::new("GET", PAYOUTS, PAYOUTS)).await;
    assert_eq!(none["payouts"], json!([]), "{none}");
    let batch = live.expect(201, Call::new("POST", PAYOUTS, PAYOUTS)).await;
    assert_eq!(batch["lines"][0]["referrer"], json!(acme), "{batch}");
    let again = live.expect(200, Call::new("POST", PAYOUTS, PAYOUTS)).await;
    assert_eq!(again["payout"], Value::Null, "{again}");
    let listed = live.expect(200, Call::new("GET", PAYOUTS, PAYOUTS)).await;
    assert_eq!(
        listed["payouts"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );
    const PAYOUT: &str = "/api/v1/payouts/{id}";
    let id = &batch["id"];
    live.expect(
        200,
        Call::new("GET", PAYOUT, format!("/api/v1/payouts/{id}")),
    )
    .await;
    let csv = live
        .expect(
            200,
            Call::new("GET", PAYOUT, format!("/api/v1/payouts/{id}?format=csv")),
        )
        .await;
    assert!(
        csv.as_str().is_some_and(|c| c.starts_with(
            "payout_id,payout_key,referrer_account_id,referrer_name,tax_id,amount,currency,commissions\n"
        )),
        "{csv}"
    );
    live.expect(
        400,
        Call::new("GET", PAYOUT, format!("/api/v1/payouts/{id}?format=xml")),
    )
    .await;
    live.expect(404, Call::new("GET", PAYOUT, "/api/v1/payouts/999999"))
        .await;
    live.expect(400, Call::new("GET", PAYOUT, "/api/v1/payouts/latest"))
        .await;
    const PAID: &str = "/api/v1/payouts/{id}/paid";
    let paid_path = format!("/api/v1/payouts/{id}/paid");
    live.expect(
        422,
        Call::new("POST", PAID, &paid_path).raw(b"{\"ref\":\"SEPA\"}"),
    )
    .await;
    let paid = live
        .expect(
            200,
            Call::new("POST", PAID, &paid_path).json(json!({ "reference": "SEPA-2026-10-0042" })),
        )
        .await;
    assert_eq!(paid["reference"], json!("SEPA-2026-10-0042"), "{paid}");
    live.expect(409, Call::new("POST", PAID, &paid_path)).await;
    live.expect(404, Call::new("POST", PAID, "/api/v1/payouts/999999/paid"))
        .await;
    live.expect(400, Call::new("POST", PAID, "/api/v1/payouts/latest/paid"))
        .await;

    // Tiers, expiry, jobs, audit log, dead letters.
    const HISTORY: &str = "/api/v1/accounts/{id}/tier-history";
    live.expect(
        200,
        Call::new(
            "GET",
            HISTORY,
            format!("/api/v1/accounts/{acme}/tier-history"),
        ),
    )
    .await;
    live.expect(
        400,
        Call::new("GET", HISTORY, "/api/v1/accounts/x/tier-history"),
    )
    .await;
    live.expect(
        200,
        Call::new("POST", "/api/v1/jobs/run", "/api/v1/jobs/run"),
    )
    .await;
    const AUDIT: &str = "/api/v1/audit-log";
    let audit = live
        .expect(200, Call::new("GET", AUDIT, "/api/v1/audit-log?limit=50"))
        .await;
    assert!(
        audit["entries"].as_array().is_some_and(|e| e.len() >= 5),
        "{audit}"
    );
    live.expect(400, Call::new("GET", AUDIT, "/api/v1/audit-log?limit=all"))
        .await;
    let dead = live
        .expect(
            200,
            Call::new("GET", "/api/v1/dead-letters", "/api/v1/dead-letters"),
        )
        .await;
    assert!(
        dead["dead_letters"]
            .as_array()
            .is_some_and(|d| d.len() == 1),
        "{dead}"
    );

    // Connectors: the echo connector is polled (no poller runs here) and
    // knows none of the accounts, which came from the events API.
    const SYNC: &str = "/api/v1/connectors/{name}/sync";
    let status = live
        .expect(200, Call::new("GET", SYNC, "/api/v1/connectors/echo/sync"))
        .await;
    assert_eq!(
        (
            &status["cursor"],
            &status["pages"],
            &status["interval_seconds"]
        ),
        (&Value::Null, &json!(0), &json!(300))
    );
    live.expect(202, Call::new("POST", SYNC, "/api/v1/connectors/echo/sync"))
        .await;
    live.expect(404, Call::new("GET", SYNC, "/api/v1/connectors/crm/sync"))
        .await;
    const CAMPAIGNS: &str = "/api/v1/connectors/{name}/campaigns";
    let pushed = live
        .expect(
            200,
            Call::new("POST", CAMPAIGNS, "/api/v1/connectors/echo/campaigns").json(json!({
                "campaign_id": "spring-2026", "name": "Spring offer",
                "offer": { "id": "spring10", "code": "SPRING10", "percent_off": "10" },
                "accounts": [acme, logistics]
            })),
        )
        .await;
    assert_eq!(pushed["skipped"], json!([acme, logistics]), "{pushed}");
    assert_eq!(pushed["batches"], json!([]), "{pushed}");
    live.expect(
        422,
        Call::new("POST", CAMPAIGNS, "/api/v1/connectors/echo/campaigns").json(json!({
            "campaign_id": "spring-2026", "name": "Spring offer",
            "offer": { "id": "spring10", "percent_off": "10", "amount_off": { "amount": "5", "currency": "EUR" } },
            "accounts": [acme]
        })),
    )
    .await;

    // Segments. Acme is the one German account; Anna, its buyer, is the
    // contact a campaign reaches.
    const SEGMENTS: &str = "/api/v1/segments";
    let none = live.expect(200, Call::new("GET", SEGMENTS, SEGMENTS)).await;
    assert_eq!(none["segments"], json!([]), "{none}");
    const PREVIEW: &str = "/api/v1/segments/preview";
    let german =
        json!({ "filter": "country = \"DE\"", "contacts": "role = \"buyer\"", "sample": 5 });
    let preview = live
        .expect(200, Call::new("POST", PREVIEW, PREVIEW).json(german))
        .await;
    assert_eq!(preview["size"], json!(1), "{preview}");
    assert_eq!(preview["sample"][0]["account_id"], json!(acme), "{preview}");
    let anna = preview["sample"][0]["contacts"][0].as_i64().unwrap();
    live.expect(
        422,
        Call::new("POST", PREVIEW, PREVIEW).json(json!({ "filter": "country ==" })),
    )
    .await;
    let buyers = json!({ "id": "german-buyers", "name": "German buyers",
        "description": "Buyers at German accounts.", "filter": "country = \"DE\"",
        "contacts": "role = \"buyer\"" });
    let created = live
        .expect(
            201,
            Call::new("POST", SEGMENTS, SEGMENTS).json(buyers.clone()),
        )
        .await;
    assert_eq!(
        (&created["size"], &created["origin"]),
        (&json!(1), &json!("api")),
        "{created}"
    );
    live.expect(409, Call::new("POST", SEGMENTS, SEGMENTS).json(buyers))
        .await;
    live.expect(
        422,
        Call::new("POST", SEGMENTS, SEGMENTS).json(json!({ "name": "No id", "filter": "loyal" })),
    )
    .await;
    live.expect(
        422,
        Call::new("POST", SEGMENTS, SEGMENTS).json(
            json!({ "id": "Big Spenders", "name": "Big", "filter": "monetary(365) >= 1000" }),
        ),
    )
    .await;
    const SEGMENT: &str = "/api/v1/segments/{id}";
    let detail = live
        .expect(
            200,
            Call::new("GET", SEGMENT, "/api/v1/segments/german-buyers?sample=5"),
        )
        .await;
    assert_eq!(detail["sample"][0]["contacts"], json!([anna]), "{detail}");
    live.expect(404, Call::new("GET", SEGMENT, "/api/v1/segments/nobody"))
        .await;
    live.expect(
        400,
        Call::new("GET", SEGMENT, "/api/v1/segments/german-buyers?sample=all"),
    )
    .await;
    live.expect(
        200,
        Call::new("PUT", SEGMENT, "/api/v1/segments/german-buyers").json(json!({
            "name": "German buyers", "filter": "country = \"DE\" and monetary(3650) > 0",
            "contacts": "role = \"buyer\"" })),
    )
    .await;
    live.expect(
        201,
        Call::new("PUT", SEGMENT, "/api/v1/segments/everyone")
            .json(json!({ "id": "everyone", "name": "Everyone", "filter": "name is not null" })),
    )
    .await;
    live.expect(
        422,
        Call::new("PUT", SEGMENT, "/api/v1/segments/everyone")
            .json(json!({ "id": "someone", "name": "Everyone", "filter": "name is not null" })),
    )
    .await;
    let configured = SegmentDefinition::new(
        "promoters",
        "Promoters",
        None,
        "nps_class = \"promoter\"",
        None,
        Origin::Config,
    )
    .unwrap();
    api.store.define_segments(vec![configured]).await.unwrap();
    live.expect(
        409,
        Call::new("PUT", SEGMENT, "/api/v1/segments/promoters")
            .json(json!({ "name": "Promoters", "filter": "loyal" })),
    )
    .await;
    live.expect(
        409,
        Call::new("DELETE", SEGMENT, "/api/v1/segments/promoters"),
    )
    .await;
    const REFRESH: &str = "/api/v1/segments/refresh";
    let refreshed = live.expect(200, Call::new("POST", REFRESH, REFRESH)).await;
    assert_eq!(refreshed["segments"], json!(3), "{refreshed}");
    const MEMBERS: &str = "/api/v1/segments/{id}/members";
    let members = live
        .expect(
            200,
            Call::new("GET", MEMBERS, "/api/v1/segments/everyone/members?limit=2"),
        )
        .await;
    assert_eq!(
        members["members"].as_array().map(Vec::len),
        Some(2),
        "{members}"
    );
    live.expect(
        404,
        Call::new("GET", MEMBERS, "/api/v1/segments/nobody/members"),
    )
    .await;
    live.expect(
        400,
        Call::new("GET", MEMBERS, "/api/v1/segments/everyone/members?limit=-1"),
    )
    .await;
    live.expect(
        204,
        Call::new("DELETE", SEGMENT, "/api/v1/segments/everyone"),
    )
    .await;
    live.expect(
        404,
        Call::new("DELETE", SEGMENT, "/api/v1/segments/everyone"),
    )
    .await;

    // Insights. Anna's 9 is the only response: NPS 100.0. Acme's orders
    // (1250.00 + 400.00 - 100.00 refunded, Logistics' merged in) outweigh
    // Brandt's 1000.00, so of the two accounts with a CLV Acme is the top
    // 25 %, and a promoter: loyal.
    const NPS: &str = "/api/v1/insights/nps";
    let nps = live.expect(200, Call::new("GET", NPS, NPS)).await;
    assert_eq!(
        (&nps["program"]["respondents"], &nps["program"]["nps"]),
        (&json!(1), &json!("100.0")),
        "{nps}"
    );
    const CLV: &str = "/api/v1/insights/clv";
    let clv = live
        .expect(200, Call::new("GET", CLV, format!("{CLV}?limit=1")))
        .await;
    assert_eq!(clv["accounts"][0]["account_id"], json!(acme), "{clv}");
    assert_eq!(clv["accounts"].as_array().map(Vec::len), Some(1), "{clv}");
    live.expect(400, Call::new("GET", CLV, format!("{CLV}?limit=many")))
        .await;
    const LOYALTY: &str = "/api/v1/insights/loyalty";
    let loyalty = live.expect(200, Call::new("GET", LOYALTY, LOYALTY)).await;
    assert_eq!(
        loyalty["loyal_accounts"],
        json!([loyalty["loyal_accounts"][0].clone()]),
        "{loyalty}"
    );
    assert_eq!(
        loyalty["loyal_accounts"][0]["account_id"],
        json!(acme),
        "{loyalty}"
    );
    const SCORES: &str = "/api/v1/accounts/{id}/scores";
    let scores = live
        .expect(
            200,
            Call::new("GET", SCORES, format!("/api/v1/accounts/{acme}/scores")),
        )
        .await;
    assert_eq!(
        scores["responses"],
        json!([{ "contact_id": anna, "score": 9, "class": "promoter",
                 "answered_at": now - DAY_MS }]),
        "{scores}"
    );
    assert_eq!(scores["loyal"], json!(true), "{scores}");
    live.expect(
        404,
        Call::new(
            "GET",
            SCORES,
            format!("/api/v1/accounts/{logistics}/scores"),
        ),
    )
    .await;
    live.expect(
        400,
        Call::new("GET", SCORES, "/api/v1/accounts/acme/scores"),
    )
    .await;

    // Campaigns through the echo connector. Without the dispatcher,
    // scheduling only changes the status; the start is the store's.
    const CAMPAIGN_LIST: &str = "/api/v1/campaigns";
    let none = live
        .expect(200, Call::new("GET", CAMPAIGN_LIST, CAMPAIGN_LIST))
        .await;
    assert_eq!(none["campaigns"], json!([]), "{none}");
    let spring = json!({ "id": "spring-offer", "name": "Spring offer", "segment": "german-buyers",
        "channel": "echo", "subject": "{{ first_name }}, 500 bonus points",
        "template": "Hello {{ first_name }}, order before May and get {{ offer }}.",
        "offer": { "kind": "bonus_points", "points": 500 }, "holdout_percent": "0",
        "attribution_days": 30 });
    let draft = live
        .expect(
            201,
            Call::new("POST", CAMPAIGN_LIST, CAMPAIGN_LIST).json(spring.clone()),
        )
        .await;
    assert_eq!(
        (&draft["status"], &draft["offer"]),
        (
            &json!("draft"),
            &json!({ "kind": "bonus_points", "points": 500 })
        ),
        "{draft}"
    );
    live.expect(
        409,
        Call::new("POST", CAMPAIGN_LIST, CAMPAIGN_LIST).json(spring.clone()),
    )
    .await;
    let mut refused = spring.clone();
    refused.as_object_mut().unwrap().remove("id");
    live.expect(
        422,
        Call::new("POST", CAMPAIGN_LIST, CAMPAIGN_LIST).json(refused),
    )
    .await;
    let mut refused = spring.clone();
    refused["id"] = json!("by-mail");
    refused["channel"] = json!("mailchimp");
    live.expect(
        422,
        Call::new("POST", CAMPAIGN_LIST, CAMPAIGN_LIST).json(refused),
    )
    .await;
    let mut refused = spring.clone();
    refused["id"] = json!("to-nobody");
    refused["segment"] = json!("nobody");
    live.expect(
        422,
        Call::new("POST", CAMPAIGN_LIST, CAMPAIGN_LIST).json(refused),
    )
    .await;
    const CAMPAIGN: &str = "/api/v1/campaigns/{id}";
    live.expect(
        200,
        Call::new("GET", CAMPAIGN, "/api/v1/campaigns/spring-offer"),
    )
    .await;
    live.expect(404, Call::new("GET", CAMPAIGN, "/api/v1/campaigns/nope"))
        .await;
    let mut later = spring.clone();
    later["send_at"] = json!(now + 7 * DAY_MS);
    let scheduled = live
        .expect(
            200,
            Call::new("PUT", CAMPAIGN, "/api/v1/campaigns/spring-offer").json(later.clone()),
        )
        .await;
    assert_eq!(scheduled["status"], json!("scheduled"), "{scheduled}");
    live.expect(
        422,
        Call::new("PUT", CAMPAIGN, "/api/v1/campaigns/autumn-offer").json(later),
    )
    .await;
    let survey = json!({ "name": "NPS Q3", "kind": "nps_survey", "segment": "german-buyers",
        "channel": "echo", "template": "How likely are you to recommend us, {{ first_name }}?" });
    live.expect(
        201,
        Call::new("PUT", CAMPAIGN, "/api/v1/campaigns/nps-q3").json(survey.clone()),
    )
    .await;
    const SCHEDULE: &str = "/api/v1/campaigns/{id}/schedule";
    const CANCEL: &str = "/api/v1/campaigns/{id}/cancel";
    live.expect(
        200,
        Call::new("POST", SCHEDULE, "/api/v1/campaigns/nps-q3/schedule"),
    )
    .await;
    let cancelled = live
        .expect(
            200,
            Call::new("POST", CANCEL, "/api/v1/campaigns/nps-q3/cancel"),
        )
        .await;
    assert_eq!(cancelled["status"], json!("cancelled"), "{cancelled}");
    live.expect(
        409,
        Call::new("POST", CANCEL, "/api/v1/campaigns/nps-q3/cancel"),
    )
    .await;
    live.expect(
        409,
        Call::new("POST", SCHEDULE, "/api/v1/campaigns/nps-q3/schedule"),
    )
    .await;
    live.expect(
        409,
        Call::new("PUT", CAMPAIGN, "/api/v1/campaigns/nps-q3").json(survey),
    )
    .await;
    live.expect(
        404,
        Call::new("POST", SCHEDULE, "/api/v1/campaigns/nope/schedule"),
    )
    .await;
    live.expect(
        404,
        Call::new("POST", CANCEL, "/api/v1/campaigns/nope/cancel"),
    )
    .await;
    live.expect(
        422,
        Call::new("POST", SCHEDULE, "/api/v1/campaigns/spring-offer/schedule").raw(b"{\"at\":1}"),
    )
    .await;
    live.expect(
        200,
        Call::new("POST", SCHEDULE, "/api/v1/campaigns/spring-offer/schedule")
            .json(json!({ "send_at": now - 1_000 })),
    )
    .await;
    const CAMPAIGN_REPORT: &str = "/api/v1/campaigns/{id}/report";
    let report = live
        .expect(
            200,
            Call::new(
                "GET",
                CAMPAIGN_REPORT,
                "/api/v1/campaigns/spring-offer/report",
            ),
        )
        .await;
    assert_eq!(report["attribution"], Value::Null, "{report}");
    api.store
        .start_campaign("spring-offer".to_owned(), api.program.clone())
        .await
        .unwrap();
    let report = live
        .expect(
            200,
            Call::new(
                "GET",
                CAMPAIGN_REPORT,
                "/api/v1/campaigns/spring-offer/report",
            ),
        )
        .await;
    assert_eq!(
        (
            &report["campaign"]["targeted"],
            &report["attribution"]["target"]["accounts"]
        ),
        (&json!(1), &json!(1)),
        "{report}"
    );
    live.expect(
        409,
        Call::new("PUT", CAMPAIGN, "/api/v1/campaigns/spring-offer").json(spring),
    )
    .await;
    live.expect(
        404,
        Call::new("GET", CAMPAIGN_REPORT, "/api/v1/campaigns/nope/report"),
    )
    .await;
    const DELIVERIES: &str = "/api/v1/campaigns/{id}/deliveries";
    let deliveries = live
        .expect(
            200,
            Call::new(
                "GET",
                DELIVERIES,
                "/api/v1/campaigns/spring-offer/deliveries",
            ),
        )
        .await;
    assert_eq!(
        deliveries["deliveries"].as_array().map(Vec::len),
        Some(1),
        "{deliveries}"
    );
    live.expect(
        404,
        Call::new("GET", DELIVERIES, "/api/v1/campaigns/nope/deliveries"),
    )
    .await;

    // Analytics over every day so far and to come. The one fulfilled
    // redemption is Acme's gift card: 500 points, worth EUR 100.00. The
    // example program's fixed costs, 400 + 1800 a month, over the 80 years
    // of the period are 960 x 2200 = 2112000.00.
    const ANALYTICS: &str = "/api/v1/analytics";
    let figures = live
        .expect(
            200,
            Call::new(
                "GET",
                ANALYTICS,
                format!("{ANALYTICS}?period=2020-01-01..2100-01-01"),
            ),
        )
        .await;
    assert_eq!(
        figures["period"]["label"],
        json!("2020-01-01..2100-01-01"),
        "{figures}"
    );
    let gift = figures["redemption_mix"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["reward"] == "gift-card-100")
        .unwrap();
    assert_eq!(
        (&gift["redemptions"], &gift["points"]),
        (&json!(1), &json!(500)),
        "{figures}"
    );
    assert_eq!(
        (&figures["cost"]["rewards"], &figures["cost"]["fixed"]),
        (&json!("100.00"), &json!("2112000.00")),
        "{figures}"
    );
    live.expect(200, Call::new("GET", ANALYTICS, ANALYTICS))
        .await;
    for refused in ["?period=last-quarter", "?periods=2026"] {
        live.expect(
            400,
            Call::new("GET", ANALYTICS, format!("{ANALYTICS}{refused}")),
        )
        .await;
    }

    // The goal counts Acme, Acme Service and Brandt, members since they
    // were first seen (the program is open): achieved a third of the way in.
    const GOALS: &str = "/api/v1/goals";
    let goals = live.expect(200, Call::new("GET", GOALS, GOALS)).await;
    let standing = &goals["goals"][0];
    assert_eq!(standing["goal"]["id"], json!("members-3"), "{goals}");
    assert_eq!(
        (
            &standing["progress"]["current"],
            &standing["progress"]["percent"],
            &standing["progress"]["status"]
        ),
        (&json!("3"), &json!("100.0"), &json!("achieved")),
        "{goals}"
    );

    // The current quarter's review holds the campaign started above.
    const QUARTERLY: &str = "/api/v1/reports/quarterly";
    let review = live
        .expect(200, Call::new("GET", QUARTERLY, QUARTERLY))
        .await;
    assert_eq!(
        review["trend"].as_array().map(Vec::len),
        Some(4),
        "{review}"
    );
    assert_eq!(
        review["campaigns"][0]["id"],
        json!("spring-offer"),
        "{review}"
    );
    assert_eq!(
        review["goals"][0]["goal"]["id"],
        json!("members-3"),
        "{review}"
    );
    let page = live
        .expect(
            200,
            Call::new(
                "GET",
                QUARTERLY,
                format!("{QUARTERLY}?quarter=2025Q4&format=html"),
            ),
        )
        .await;
    assert!(
        page.as_str().is_some_and(|p| p.contains("2025Q4")),
        "{page}"
    );
    for refused in [
        "?quarter=2026-07",
        "?quarter=soon",
        "?format=pdf",
        "?quarters=2026Q1",
    ] {
        live.expect(
            400,
            Call::new("GET", QUARTERLY, format!("{QUARTERLY}{refused}")),
        )
        .await;
    }

    // Statements: the last month's to Anna, Acme's contact with an email,
    // sent once; the preview carries no sign-in link.
    const RUN: &str = "/api/v1/statements/run";
    const STATEMENTS: &str = "/api/v1/statements";
    const STATEMENT: &str = "/api/v1/accounts/{id}/statement";
    let first = live.expect(200, Call::new("POST", RUN, RUN)).await;
    let period = first["period"].as_str().unwrap().to_owned();
    assert_eq!(first["failed"], json!(0), "{first}");
    let sent = first["sent"].as_u64().unwrap();
    assert!(sent >= 1, "{first}");
    let again = live
        .expect(
            200,
            Call::new("POST", RUN, RUN).json(json!({ "period": period })),
        )
        .await;
    assert_eq!(
        (&again["sent"], &again["skipped"]),
        (&json!(0), &json!(sent)),
        "{again}"
    );
    live.expect(
        400,
        Call::new("POST", RUN, RUN).json(json!({ "period": "2026" })),
    )
    .await;
    live.expect(
        422,
        Call::new("POST", RUN, RUN).json(json!({ "month": "2026-11" })),
    )
    .await;
    let recorded = live
        .expect(200, Call::new("GET", STATEMENTS, STATEMENTS))
        .await;
    assert_eq!(recorded["period"], json!(period), "{recorded}");
    let anna_statement = recorded["statements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["account_id"] == json!(acme) && r["contact_id"] == json!(anna))
        .unwrap_or_else(|| panic!("no statement to Anna: {recorded}"));
    assert_eq!(anna_statement["status"], json!("sent"), "{recorded}");
    let written = anna_statement["destination"].as_str().unwrap();
    let expected = outbox.join(&period).join(format!("{acme}-{anna}.html"));
    assert_eq!(std::path::Path::new(written), expected);
    let html = std::fs::read_to_string(written).unwrap();
    assert!(html.contains("Open your rewards"), "{html}");
    for refused in ["?period=2026", "?periods=2026-11"] {
        live.expect(
            400,
            Call::new("GET", STATEMENTS, format!("{STATEMENTS}{refused}")),
        )
        .await;
    }
    let preview = format!("/api/v1/accounts/{acme}/statement");
    let statement = live
        .expect(
            200,
            Call::new("GET", STATEMENT, format!("{preview}?period=2025Q4")),
        )
        .await;
    assert_eq!(statement["period"], json!("2025Q4"), "{statement}");
    assert_eq!(statement["link"], Value::Null, "{statement}");
    for format in ["html", "text"] {
        let shown = live
            .expect(
                200,
                Call::new("GET", STATEMENT, format!("{preview}?format={format}")),
            )
            .await;
        let shown = shown.as_str().unwrap();
        assert!(shown.contains("Acme GmbH"), "{shown}");
        assert!(!shown.contains("Open your rewards"), "{shown}");
    }
    for refused in ["?format=pdf", "?period=2026", "?periods=2026-11"] {
        live.expect(
            400,
            Call::new("GET", STATEMENT, format!("{preview}{refused}")),
        )
        .await;
    }
    live.expect(
        400,
        Call::new("GET", STATEMENT, "/api/v1/accounts/acme/statement"),
    )
    .await;
    live.expect(
        404,
        Call::new("GET", STATEMENT, "/api/v1/accounts/999999/statement"),
    )
    .await;
    portal_off.expect(409, Call::new("POST", RUN, RUN)).await;
    portal_off
        .expect(409, Call::new("GET", STATEMENTS, STATEMENTS))
        .await;
    portal_off
        .expect(409, Call::new("GET", STATEMENT, &preview))
        .await;

    // Portal links: a sign-in link for Anna, then Acme invited once it is
    // no longer a member.
    const SIGN_IN: &str = "/api/v1/portal/sign-in-links";
    let asked = now_ms();
    let link = live
        .expect(
            201,
            Call::new("POST", SIGN_IN, SIGN_IN)
                .json(json!({ "account_id": acme, "contact_id": anna })),
        )
        .await;
    assert!(
        link["url"]
            .as_str()
            .is_some_and(|u| u.starts_with("https://loyalty.example/portal/sign-in?token=")),
        "{link}"
    );
    assert!(
        link["expires_at"]
            .as_i64()
            .is_some_and(|at| (asked + 30 * 60_000..=now_ms() + 30 * 60_000).contains(&at)),
        "{link}"
    );
    for unknown in [
        json!({ "account_id": 999_999, "contact_id": anna }),
        json!({ "account_id": service, "contact_id": anna }),
    ] {
        live.expect(404, Call::new("POST", SIGN_IN, SIGN_IN).json(unknown))
            .await;
    }
    live.expect(
        422,
        Call::new("POST", SIGN_IN, SIGN_IN).json(json!({ "account_id": acme })),
    )
    .await;
    portal_off
        .expect(
            409,
            Call::new("POST", SIGN_IN, SIGN_IN)
                .json(json!({ "account_id": acme, "contact_id": anna })),
        )
        .await;

    const INVITE: &str = "/api/v1/accounts/{id}/invitations";
    let invite_path = format!("/api/v1/accounts/{acme}/invitations");
    let invite = json!({ "contact_id": anna });
    let acme_membership = format!("/api/v1/accounts/{acme}/membership");
    live.expect(
        409,
        Call::new("POST", INVITE, &invite_path).json(invite.clone()),
    )
    .await;
    live.expect(
        200,
        Call::new("PUT", MEMBERSHIP, &acme_membership).json(json!({ "status": "suspended" })),
    )
    .await;
    live.expect(
        409,
        Call::new("POST", INVITE, &invite_path).json(invite.clone()),
    )
    .await;
    live.expect(
        200,
        Call::new("PUT", MEMBERSHIP, &acme_membership).json(json!({ "status": "closed" })),
    )
    .await;
    for _ in 0..2 {
        let invitation = live
            .expect(
                201,
                Call::new("POST", INVITE, &invite_path).json(invite.clone()),
            )
            .await;
        assert!(
            invitation["url"]
                .as_str()
                .is_some_and(|u| u.starts_with("https://loyalty.example/portal/join?token=")),
            "{invitation}"
        );
    }
    let invited = live
        .expect(
            200,
            Call::new("GET", ACCOUNT, format!("/api/v1/accounts/{acme}")),
        )
        .await;
    assert_eq!(invited["membership"], json!("invited"), "{invited}");
    live.expect(
        404,
        Call::new("POST", INVITE, "/api/v1/accounts/999999/invitations").json(invite.clone()),
    )
    .await;
    live.expect(
        404,
        Call::new(
            "POST",
            INVITE,
            format!("/api/v1/accounts/{service}/invitations"),
        )
        .json(invite.clone()),
    )
    .await;
    live.expect(
        422,
        Call::new("POST", INVITE, &invite_path).json(json!({ "contact": anna })),
    )
    .await;
    live.expect(
        400,
        Call::new("POST", INVITE, "/api/v1/accounts/acme/invitations").json(invite.clone()),
    )
    .await;
    portal_off
        .expect(409, Call::new("POST", INVITE, &invite_path).json(invite))
        .await;

    // Webhooks: no connector here; then shutdown.
    const WEBHOOK: &str = "/webhooks/{connector}";
    live.expect(
        404,
        Call::new("POST", WEBHOOK, "/webhooks/shopify")
            .without_token()
            .raw(b"{}"),
    )
    .await;
    api.ready.store(false, Ordering::Relaxed);
    live.expect(503, Call::new("GET", "/readyz", "/readyz").without_token())
        .await;
    live.expect(
        503,
        Call::new("POST", WEBHOOK, "/webhooks/shopify")
            .without_token()
            .raw(b"{}"),
    )
    .await;

    let called = live
        .called
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let never: Vec<String> = operations(&doc)
        .into_keys()
        .filter(|op| !called.contains(op))
        .map(|(path, method)| format!("{} {path}", method.to_uppercase()))
        .collect();
    assert!(
        never.is_empty(),
        "documented operations this test never calls (add them to the_daemon_answers_as_documented): {never:?}"
    );
}

#[test]
fn the_readme_links_the_document() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    assert!(
        readme.contains(&format!("]({DOCUMENT})")),
        "README.md does not link {DOCUMENT}"
    );
    assert!(repo_root().join(DOCUMENT).is_file());
}
