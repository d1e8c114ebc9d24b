//! `openapi.json` kept honest. Statically, against the router's source
//! (`host/src/api.rs` and `host/src/api/*.rs`): every `.route(...)` is
//! documented with each of its methods and the document has nothing else;
//! path and query parameters, request bodies, the bearer token, the
//! `Idempotency-Key` header and the statuses each handler can answer match
//! the handlers; every `$ref` resolves and every example fits its schema;
//! the program example is exactly what the `Program` type serializes. Live, against the real router and SQLite
//! store: every documented operation is called, and each answer must be a
//! documented status whose body and headers fit the document's schemas.
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
use loyaltyd::core::program::Program;
use loyaltyd::poller::SyncHandle;
use loyaltyd::runtime::{Grants, Limits, MemoryState, PluginSpec, Runtime, RuntimeOptions};
use loyaltyd::store::Store;
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
                path: path[1..path.len() - 1].to_owned(),
                methods,
            });
            offset += at + ".route(".len();
            rest = &code[offset..];
        }
    }
    routes
}

/// The source of each function of the router's sources: from `fn name(` to
/// the end of its body.
fn functions(sources: &[(String, String)]) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    for (_, code) in sources {
        let mut rest = code.as_str();
        while let Some(at) = rest.find("fn ") {
            let after = &rest[at + 3..];
            let name: String = after.chars().take_while(|c| is_ident(*c)).collect();
            if name.is_empty() || rest[..at].ends_with(is_ident) {
                rest = after;
                continue;
            }
            let body_end = after.find("\n}").map_or(after.len(), |e| e + 2);
            found.insert(name, after[..body_end].to_owned());
            rest = &after[body_end..];
        }
    }
    found
}

/// A handler's source and that of every function of the router's sources it
/// calls, directly or not (`fulfil` is `settle(...)`, which answers through
/// `store_failure`, which is `unavailable(...)`). Method calls count too, by
/// name, which may pull in a namesake: harmless for what is looked for.
fn handler_source(handler: &str, functions: &BTreeMap<String, String>) -> String {
    if !functions.contains_key(handler) {
        // A closure, e.g. `|| async { "ok" }`.
        return handler.to_owned();
    }
    let mut text = String::new();
    let mut seen = BTreeSet::new();
    let mut queue = vec![handler.to_owned()];
    while let Some(name) = queue.pop() {
        let Some(source) = functions.get(&name) else {
            continue;
        };
        if !seen.insert(name) {
            continue;
        }
        text.push_str(source);
        text.push('\n');
        let body = source.split_once('{').map_or("", |(_, body)| body);
        queue.extend(called_names(body));
    }
    text
}

/// Every `name(` in `code`, nested or not.
fn called_names(code: &str) -> Vec<String> {
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
                found.push(chars[start..i].iter().collect());
            }
            continue;
        }
        i += 1;
    }
    found
}

/// The statuses a handler answers: the `StatusCode::NAME`s of its source,
/// and 400 when an extractor can refuse the request before it runs (an
/// integer path parameter, a query string).
fn handler_statuses(handler: &str, functions: &BTreeMap<String, String>) -> BTreeSet<u16> {
    const NAMES: [(&str, u16); 13] = [
        ("OK", 200),
        ("CREATED", 201),
        ("ACCEPTED", 202),
        ("BAD_REQUEST", 400),
        ("UNAUTHORIZED", 401),
        ("FORBIDDEN", 403),
        ("NOT_FOUND", 404),
        ("CONFLICT", 409),
        ("PAYLOAD_TOO_LARGE", 413),
        ("UNPROCESSABLE_ENTITY", 422),
        ("INTERNAL_SERVER_ERROR", 500),
        ("BAD_GATEWAY", 502),
        ("SERVICE_UNAVAILABLE", 503),
    ];
    let source = handler_source(handler, functions);
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
    let signature = functions
        .get(handler)
        .and_then(|f| f.split_once('{'))
        .map_or("", |(signature, _)| signature);
    let refusing_query = signature.contains("Query<") && !signature.contains("Result<Query<");
    if signature.contains("Path<i64>") || refusing_query {
        statuses.insert(400);
    }
    statuses
}

/// The query fields a handler's `Query<T>` extractor reads: `T`'s fields.
fn query_fields(
    handler: &str,
    functions: &BTreeMap<String, String>,
    sources: &[(String, String)],
) -> BTreeSet<String> {
    let Some(source) = functions.get(handler) else {
        return BTreeSet::new();
    };
    let signature = source.split_once('{').map_or("", |(s, _)| s);
    let Some((_, after)) = signature.split_once("Query<") else {
        return BTreeSet::new();
    };
    let name: String = after.chars().take_while(|c| is_ident(*c)).collect();
    let definition = sources
        .iter()
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
            let source = handler_source(handler, &functions);
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
            let read = query_fields(handler, &functions, &sources);
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

            let mut answered = handler_statuses(handler, &functions);
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

            let reads_body = functions.get(handler).is_some_and(|f| {
                f.split_once('{')
                    .is_some_and(|(sig, _)| sig.contains("Bytes"))
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
        Answer { status, body }
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
    let api = Arc::new(Api {
        endpoints: BTreeMap::from([("echo".to_owned(), polled_echo())]),
        store,
        public_base_url: "https://loyalty.example".to_owned(),
        admin_token_sha256: vec![Sha256::digest(TOKEN.as_bytes()).into()],
        tokens: Vec::new(),
        ready: AtomicBool::new(true),
        program: Arc::new(program),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = router(api.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let live = Live {
        base,
        doc: doc.clone(),
        client: reqwest::Client::new(),
        called: Mutex::new(BTreeSet::new()),
    };
    let now = now_ms();

    live.expect(
        200,
        Call::new("GET", "/healthz", "/healthz").without_token(),
    )
    .await;
    live.expect(200, Call::new("GET", "/readyz", "/readyz").without_token())
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
