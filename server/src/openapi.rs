//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 description of the HTTP API, generated from the
//! handlers' `#[utoipa::path]` attributes and the schemas of the types they take and give.
//!
//! The web pages and their assets ([`crate::pages`]) are HTML for people, not API, and are
//! left out; `/healthz`, `/metrics` and the two WebSockets are in. What every route shares is
//! added here rather than repeated on each: the security schemes, the default requirement
//! (a Bearer token, or the session cookie with `X-CSRF-Token` on a state-changing request),
//! and the errors any request may meet (no or wrong credentials, a role without the right, a
//! body too large or too slow, too many requests at once, a busy or failing server).
//!
//! Anyone may read it: it describes the API, nothing of the center.

use std::sync::LazyLock;

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use luot_shared::protocol::{ClientMessage, ErrorBody, ServerMessage, TrackMessage};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{
    Content, PathItem, Ref, RefOr, ResponseBuilder, path::Operation, schema::Schema,
};
use utoipa::{Modify, OpenApi};

use crate::AppState;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/openapi.json", get(serve))
}

/// The description, made once.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    let mut value = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    inline_primitives(&mut value);
    serde_json::to_string_pretty(&value).unwrap_or_default()
});

/// Rust's primitive types, which the id aliases (`TicketId = u64`, `ServiceId = String`, …)
/// make the schema generator name as components of their own.
const PRIMITIVES: [&str; 9] = [
    "String", "bool", "u8", "u16", "u32", "u64", "usize", "i64", "f64",
];

/// Writes the schema of a Rust primitive in place of each reference to it (keeping the
/// field's description), and drops it from the components: a client sees `integer`, not
/// a type named `u64`.
fn inline_primitives(doc: &mut serde_json::Value) {
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(|s| s.as_object_mut())
    else {
        return;
    };
    let mut primitives = serde_json::Map::new();
    for name in PRIMITIVES {
        if let Some(schema) = schemas.remove(name) {
            primitives.insert(format!("#/components/schemas/{name}"), schema);
        }
    }
    replace_refs(doc, &primitives);
}

fn replace_refs(
    value: &mut serde_json::Value,
    primitives: &serde_json::Map<String, serde_json::Value>,
) {
    match value {
        serde_json::Value::Object(map) => {
            let target = map
                .get("$ref")
                .and_then(|r| r.as_str())
                .and_then(|r| primitives.get(r));
            if let Some(serde_json::Value::Object(schema)) = target {
                map.remove("$ref");
                for (key, v) in schema {
                    map.entry(key.clone()).or_insert_with(|| v.clone());
                }
            }
            map.values_mut().for_each(|v| replace_refs(v, primitives));
        }
        serde_json::Value::Array(list) => list.iter_mut().for_each(|v| replace_refs(v, primitives)),
        _ => {}
    }
}

/// This description of the HTTP API.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "operations", security(()),
    description = "Anyone: it describes the API, nothing of the center.",
    responses((status = 200, description = "This document (OpenAPI 3.1)", body = Object)))]
async fn serve() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
        .into_response()
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Lượt",
        description = "The HTTP API of a Lượt server: the live queue, counters, tickets, tracking by phone, accounts and tokens, reports, the event log and webhooks. Errors are always `{\"error\":{\"code\",\"message\"}}` (with `field` when one field is at fault); the codes each status may carry are listed with it.",
        license(name = "MIT OR Apache-2.0"),
    ),
    paths(
        crate::healthz,
        crate::metrics,
        serve,
        crate::api::state,
        crate::api::issue,
        crate::api::ticket,
        crate::api::rate,
        crate::api::cancel,
        crate::api::reinstate,
        crate::api::counter,
        crate::api::counter_action,
        crate::account::login,
        crate::account::logout,
        crate::account::me,
        crate::account::list_tokens,
        crate::account::create_token,
        crate::account::revoke_token,
        crate::account::get_center,
        crate::account::put_center,
        crate::users::list,
        crate::users::create,
        crate::users::update,
        crate::users::change_password,
        crate::reports::report,
        crate::backup::export_route,
        crate::track::track,
        crate::track::upgrade,
        crate::ws::upgrade,
        crate::events_api::list,
        crate::webhooks::api::list,
        crate::webhooks::api::create,
        crate::webhooks::api::one,
        crate::webhooks::api::update,
        crate::webhooks::api::remove,
        crate::webhooks::api::redeliver,
        crate::ship::status,
    ),
    components(schemas(ErrorBody, ServerMessage, ClientMessage, TrackMessage)),
    modifiers(&Shared),
    tags(
        (name = "queue", description = "The live queue: state, tickets, counters, the event stream"),
        (name = "tracking", description = "A citizen following one ticket by the secret on it"),
        (name = "session", description = "Logging in and out, who am I, one's own password"),
        (name = "admin", description = "Accounts, tokens, the center's configuration, the export"),
        (name = "reports", description = "Figures over a period"),
        (name = "integration", description = "The one-door software: the event log and webhooks"),
        (name = "operations", description = "Health, metrics, this description"),
    )
)]
struct ApiDoc;

/// What every route shares: security schemes, the default requirement and the common errors.
struct Shared;

impl Modify for Shared {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A device or script token (`luot-server token create`, or the admin page): `Authorization: Bearer <token>`.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::auth::SESSION_COOKIE,
                "The browser session `POST /api/v1/login` sets (HttpOnly, SameSite=Strict).",
            ))),
        );
        components.add_security_scheme(
            "csrf",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-CSRF-Token",
                "With the session cookie, every request other than GET, HEAD and OPTIONS carries the session's CSRF token (`csrf` of the login answer or of `/api/v1/me`); Bearer tokens need none.",
            ))),
        );
        components.add_security_scheme(
            "ws_token",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                "token",
                "On `/ws` only: a device token in the query, for screens that cannot send headers.",
            ))),
        );
        for (path, item) in doc.paths.paths.iter_mut() {
            for (method, operation) in operations(item) {
                complete(path, method, operation);
            }
        }
    }
}

/// The operations of a path, with their methods.
fn operations(item: &mut PathItem) -> Vec<(&'static str, &mut Operation)> {
    [
        ("get", item.get.as_mut()),
        ("put", item.put.as_mut()),
        ("post", item.post.as_mut()),
        ("delete", item.delete.as_mut()),
        ("patch", item.patch.as_mut()),
        ("head", item.head.as_mut()),
        ("options", item.options.as_mut()),
        ("trace", item.trace.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, op)| op.map(|op| (method, op)))
    .collect()
}

/// Whether an operation is marked open to anyone (`security(())`: one empty requirement).
fn is_public(operation: &Operation) -> bool {
    operation.security.as_ref().is_some_and(|list| {
        list.iter().all(|r| {
            serde_json::to_value(r).is_ok_and(|v| v.as_object().is_some_and(|o| o.is_empty()))
        })
    })
}

/// Adds the default security requirement and the errors every request may meet.
fn complete(path: &str, method: &str, operation: &mut Operation) {
    let public = is_public(operation);
    if operation.security.is_none() {
        let session = if method == "get" {
            SecurityRequirement::new("session", Vec::<String>::new())
        } else {
            SecurityRequirement::new("session", Vec::<String>::new())
                .add("csrf", Vec::<String>::new())
        };
        operation.security = Some(vec![
            SecurityRequirement::new("bearer", Vec::<String>::new()),
            session,
        ]);
    }
    if !public {
        error(
            operation,
            "401",
            "`unauthorized`: no credentials, or a token revoked, a session ended, an account disabled",
        );
        // Operations open to every role say so first ("Any role.", "Any credential.").
        let any_role = operation
            .description
            .as_deref()
            .is_some_and(|d| d.starts_with("Any "));
        let mut forbidden = Vec::new();
        if !any_role {
            forbidden.push("`forbidden`: a role without the right");
        }
        if method != "get" {
            forbidden.push("`forbidden`: the session cookie without the right `X-CSRF-Token`");
        }
        if !forbidden.is_empty() {
            error(operation, "403", &forbidden.join("; "));
        }
    }
    if path == "/healthz" {
        // Answered before any limit or body is looked at.
        return;
    }
    if operation.request_body.is_some() {
        error(
            operation,
            "400",
            "`bad_json`: the body is not JSON; `bad_body`: it cannot be read",
        );
        // Counter actions read their (optional) body themselves, whatever its type says.
        if operation.operation_id.as_deref() != Some("counter_action") {
            error(
                operation,
                "415",
                "`unsupported_media_type`: the body is not `application/json`",
            );
        }
        error(
            operation,
            "422",
            "`invalid_body`: JSON of the wrong shape (an unknown field, a missing one, a wrong type)",
        );
    }
    if operation.parameters.as_ref().is_some_and(|p| !p.is_empty()) {
        error(
            operation,
            "400",
            "`bad_path`, `bad_query`: a parameter that does not parse, or an unknown one",
        );
    }
    error(
        operation,
        "408",
        "`body_timeout`: the request body did not arrive whole within 10 s (the connection closes)",
    );
    error(
        operation,
        "413",
        "`body_too_large`: more than 64 KiB (4 KiB without valid credentials)",
    );
    error(
        operation,
        "429",
        "`too_many_at_once`: too many requests in flight from this credential or address (`Retry-After`)",
    );
    error(
        operation,
        "500",
        "`internal`: something failed inside; the cause is logged",
    );
    error(
        operation,
        "503",
        "`unavailable`: the server is busy or stopping; `storage_unavailable`: the disk refuses writes, nothing was recorded (`Retry-After`)",
    );
}

/// Describes an error `status` may carry: a new response with the error body, or one more
/// line in the description of the one the route declares.
fn error(operation: &mut Operation, status: &str, text: &str) {
    let responses = &mut operation.responses.responses;
    match responses.get_mut(status) {
        Some(RefOr::T(response)) => {
            if !response.description.contains(text) {
                response.description = format!("{}; {text}", response.description);
            }
            if response.content.is_empty() {
                response
                    .content
                    .insert("application/json".into(), error_content());
            }
        }
        Some(RefOr::Ref(_)) => {}
        None => {
            responses.insert(
                status.to_owned(),
                RefOr::T(
                    ResponseBuilder::new()
                        .description(text)
                        .content("application/json", error_content())
                        .build(),
                ),
            );
        }
    }
}

fn error_content() -> Content {
    Content::new(Some(RefOr::<Schema>::Ref(Ref::from_schema_name(
        "ErrorBody",
    ))))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::collections::BTreeSet;
    use std::path::{Path, PathBuf};

    /// Methods axum's `MethodRouter` may be built with.
    const METHODS: [&str; 8] = [
        "get", "post", "put", "patch", "delete", "head", "options", "trace",
    ];

    /// The module whose routes are HTML pages and their assets, left out of the description.
    const PAGES: &str = "pages";

    /// A route as `(METHOD, path)`, e.g. `("GET", "/api/v1/state")`.
    type Route = (String, String);

    fn src() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
    }

    /// The text of the function `fn <name>(` in `text`, from its name to its closing brace.
    fn function<'a>(text: &'a str, name: &str, file: &str) -> &'a str {
        let start = text
            .find(&format!("fn {name}("))
            .unwrap_or_else(|| panic!("{file}: no `fn {name}(`"));
        let open = start + text[start..].find('{').unwrap();
        &text[start..=matching(text, open)]
    }

    /// The index of the bracket that closes the one at `open`, skipping string and char
    /// literals and comments.
    fn matching(text: &str, open: usize) -> usize {
        let bytes = text.as_bytes();
        let mut depth = 0usize;
        let mut i = open;
        while i < bytes.len() {
            match bytes[i] {
                b'"' => {
                    i += 1;
                    while bytes[i] != b'"' {
                        if bytes[i] == b'\\' {
                            i += 1;
                        }
                        i += 1;
                    }
                }
                b'\'' if bytes.get(i + 2) == Some(&b'\'') => i += 2,
                b'/' if bytes.get(i + 1) == Some(&b'/') => {
                    while bytes[i] != b'\n' {
                        i += 1;
                    }
                }
                b'(' | b'[' | b'{' => depth += 1,
                b')' | b']' | b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        return i;
                    }
                }
                _ => {}
            }
            i += 1;
        }
        panic!("unbalanced brackets");
    }

    /// The calls `.<name>(…)` in `body`, each as the text between its parentheses.
    fn calls<'a>(body: &'a str, name: &str) -> Vec<&'a str> {
        let needle = format!(".{name}(");
        let mut out = Vec::new();
        let mut from = 0;
        while let Some(at) = body[from..].find(&needle) {
            let open = from + at + needle.len() - 1;
            let close = matching(body, open);
            out.push(&body[open + 1..close]);
            from = close;
        }
        out
    }

    /// The methods of a `MethodRouter` expression such as `get(list).post(create)`: the
    /// names called at its top level.
    fn methods(expression: &str, file: &str) -> Vec<String> {
        let bytes = expression.as_bytes();
        let mut found = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i].is_ascii_alphabetic() || bytes[i] == b'_' {
                let start = i;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b':')
                {
                    i += 1;
                }
                let name = expression[start..i].rsplit("::").next().unwrap();
                assert!(
                    bytes.get(i) == Some(&b'('),
                    "{file}: cannot read the methods of `{expression}`"
                );
                assert!(
                    METHODS.contains(&name),
                    "{file}: `{name}` in `{expression}` is not one HTTP method; register each method by name so this test can read it"
                );
                found.push(name.to_ascii_uppercase());
                i = matching(expression, i) + 1;
            } else {
                i += 1;
            }
        }
        assert!(!found.is_empty(), "{file}: no method in `{expression}`");
        found
    }

    /// `text` with its `//` comments blanked out (string literals kept as they are).
    fn uncommented(text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut chars = text.chars().peekable();
        let mut in_string = false;
        while let Some(c) = chars.next() {
            if in_string {
                out.push(c);
                if c == '\\' {
                    out.extend(chars.next());
                } else if c == '"' {
                    in_string = false;
                }
            } else if c == '\'' && text_at(&chars, 1) == Some('\'') {
                // A one-character literal such as '"': kept, and not a string's start.
                out.push(c);
                out.extend(chars.next());
                out.extend(chars.next());
            } else if c == '/' && chars.peek() == Some(&'/') {
                while chars.peek().is_some_and(|&c| c != '\n') {
                    chars.next();
                }
            } else {
                in_string = c == '"';
                out.push(c);
            }
        }
        out
    }

    /// The character `n` places after the next one.
    fn text_at(chars: &std::iter::Peekable<std::str::Chars<'_>>, n: usize) -> Option<char> {
        chars.clone().nth(n)
    }

    /// The routes a `router()`-like function body registers.
    fn routes_in(body: &str, file: &str) -> Vec<Route> {
        let body = &uncommented(body);
        for unreadable in ["nest", "nest_service", "route_service", "fallback_service"] {
            assert!(
                calls(body, unreadable).is_empty(),
                "{file}: `.{unreadable}(` registers routes this test cannot read; use `.route(\"/literal/path\", get(…))`"
            );
        }
        let mut routes = Vec::new();
        for args in calls(body, "route") {
            let args = args.trim();
            assert!(
                args.starts_with('"'),
                "{file}: a route whose path is not a string literal: `{args}`"
            );
            let end = 1 + args[1..].find('"').unwrap();
            let path = &args[1..end];
            let rest = args[end + 1..].trim_start();
            let expression = rest.strip_prefix(',').unwrap().trim().trim_end_matches(',');
            for method in methods(expression, file) {
                routes.push((method, path.to_owned()));
            }
        }
        routes
    }

    /// The source file of module `path` (`webhooks::api` → `webhooks/api.rs`).
    fn module_file(path: &str) -> PathBuf {
        let relative = path.replace("::", "/");
        let file = src().join(format!("{relative}.rs"));
        if file.exists() {
            file
        } else {
            src().join(relative).join("mod.rs")
        }
    }

    /// Every route `app()` has, read from the source of `app()` and of each `router()` it
    /// merges, with the module it comes from (`""` for `app()` itself).
    fn router_routes() -> Vec<(String, Route)> {
        let lib = uncommented(&std::fs::read_to_string(src().join("lib.rs")).unwrap());
        let app = function(&lib, "app", "lib.rs");
        let mut all: Vec<(String, Route)> = routes_in(app, "lib.rs")
            .into_iter()
            .map(|r| (String::new(), r))
            .collect();
        let merges = calls(app, "merge");
        assert!(!merges.is_empty(), "app() merges no module");
        for merged in merges {
            let module = merged.trim().strip_suffix("::router()").unwrap_or_else(|| {
                panic!("lib.rs: app() merges `{merged}`, not a module's `router()`")
            });
            let file = module_file(module);
            let text = uncommented(
                &std::fs::read_to_string(&file)
                    .unwrap_or_else(|e| panic!("{}: {e}", file.display())),
            );
            let name = file.display().to_string();
            let body = function(&text, "router", &name);
            assert!(
                calls(body, "merge").is_empty(),
                "{name}: router() merges another router; merge it in app() instead"
            );
            let found = routes_in(body, &name);
            assert!(!found.is_empty(), "{name}: router() has no route");
            all.extend(found.into_iter().map(|r| (module.to_owned(), r)));
        }
        all
    }

    /// Every operation the description has, as the OpenAPI parser reads it.
    fn described(spec: &oas3::Spec) -> BTreeSet<Route> {
        spec.operations()
            .map(|(path, method, _)| (method.as_str().to_owned(), path))
            .collect()
    }

    /// Writes the description where `LUOT_OPENAPI_OUT` says (to look at it by hand).
    fn dump(json: &str) {
        if let Some(out) = std::env::var_os("LUOT_OPENAPI_OUT") {
            std::fs::write(out, json).unwrap();
        }
    }

    fn parsed() -> (String, oas3::Spec) {
        let json = super::DOCUMENT.clone();
        dump(&json);
        let spec = oas3::from_json(&json).expect("the description parses as OpenAPI 3.1");
        (json, spec)
    }

    /// The description is a valid OpenAPI 3.1 document and each `$ref` in it resolves.
    #[test]
    fn the_description_is_valid_openapi() {
        let (json, spec) = parsed();
        let version = spec
            .validate_version()
            .expect("a supported OpenAPI version");
        assert_eq!((version.major, version.minor), (3, 1));
        for name in super::PRIMITIVES {
            assert!(
                !json.contains(&format!("#/components/schemas/{name}\"")),
                "a reference to the primitive {name}"
            );
        }
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        let schemas = value["components"]["schemas"].as_object().unwrap();
        let mut refs = Vec::new();
        collect_refs(&value, &mut refs);
        assert!(refs.len() > 50, "only {} references", refs.len());
        for r in refs {
            let name = r
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("a reference outside the schemas: {r}"));
            assert!(schemas.contains_key(name), "{r} does not resolve");
        }
        for (path, method, op) in spec.operations() {
            assert!(
                op.responses.as_ref().is_some_and(|r| !r.is_empty()),
                "{method} {path} has no response"
            );
            assert!(op.summary.is_some(), "{method} {path} has no summary");
        }
    }

    fn collect_refs(value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, v) in map {
                    match (key.as_str(), v) {
                        ("$ref", serde_json::Value::String(r)) => out.push(r.clone()),
                        _ => collect_refs(v, out),
                    }
                }
            }
            serde_json::Value::Array(list) => list.iter().for_each(|v| collect_refs(v, out)),
            _ => {}
        }
    }

    /// Every route the router has is described, with its method, and every described
    /// operation is a route of the router; only the HTML pages are left out.
    #[test]
    fn the_description_matches_the_routes() {
        let (_, spec) = parsed();
        let routes = router_routes();
        let mut api = BTreeSet::new();
        let mut pages = 0;
        for (module, route) in routes {
            if module == PAGES {
                assert!(
                    !route.1.starts_with("/api/") && !route.1.starts_with("/ws"),
                    "{route:?} is in pages.rs but is API; move it to an API module so it is described"
                );
                pages += 1;
            } else {
                assert!(api.insert(route.clone()), "{route:?} is registered twice");
            }
        }
        assert!(pages > 10, "only {pages} page routes read");
        let described = described(&spec);
        let undescribed: Vec<_> = api.difference(&described).collect();
        let unrouted: Vec<_> = described.difference(&api).collect();
        assert!(
            undescribed.is_empty(),
            "routes without a description (add #[utoipa::path] and list them in openapi.rs): {undescribed:?}"
        );
        assert!(
            unrouted.is_empty(),
            "described operations the router does not have: {unrouted:?}"
        );
        assert!(api.len() >= 35, "only {} API routes read", api.len());
    }

    /// The route reader sees every method of a route, however it is written, and refuses
    /// what it cannot read rather than skipping it.
    #[test]
    fn the_route_reader_reads_what_axum_takes() {
        let body = r#"{
            Router::new()
                .route("/a/{id}", get(one).patch(update).delete(remove))
                .route(
                    "/b",
                    get(|| async { html(StatusCode::OK, "(not a route)") }),
                )
                // .route("/commented", get(x))
                .route("/c", axum::routing::post(create))
        }"#;
        let routes = routes_in(body, "test");
        let want: Vec<Route> = [
            ("GET", "/a/{id}"),
            ("PATCH", "/a/{id}"),
            ("DELETE", "/a/{id}"),
            ("GET", "/b"),
            ("POST", "/c"),
        ]
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
        assert_eq!(routes, want);
        for unreadable in [
            r#"{ Router::new().route(PATH, get(x)) }"#,
            r#"{ Router::new().route("/x", any(x)) }"#,
            r#"{ Router::new().nest("/x", other()) }"#,
            r#"{ Router::new().route("/x", on(MethodFilter::GET, x)) }"#,
        ] {
            let result = std::panic::catch_unwind(|| routes_in(unreadable, "test"));
            assert!(result.is_err(), "read without complaint: {unreadable}");
        }
    }
}
