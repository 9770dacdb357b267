//! The system surface: `/health`, `/metrics`, the OpenAPI document and its docs page, security
//! headers and CORS.

use axum::body::Body;
use axum::http::{Method, Request};
use serde_json::{json, Value};

use crate::helpers::{spawn_with, test_config, Response, Store, TestApp};

crate::on_both_stores!(
    health_reports_the_database,
    metrics_count_requests_per_route,
    openapi_documents_every_route,
    openapi_parameters_are_where_they_are_read,
    every_documented_operation_is_routed,
    docs_are_served_by_the_binary,
    security_headers_are_on_every_response,
    cors_allows_only_listed_origins_with_credentials,
    health_is_down_without_the_database,
);

/// Every route of the API and its methods.
const ROUTES: &[(&str, &[&str])] = &[
    ("/api/auth/register", &["post"]),
    ("/api/auth/login", &["post"]),
    ("/api/auth/refresh", &["post"]),
    ("/api/auth/logout", &["post"]),
    ("/api/auth/me", &["get"]),
    ("/api/auth/profile", &["put"]),
    ("/api/auth/change-password", &["post"]),
    ("/api/users", &["get", "post"]),
    ("/api/users/{id}", &["get", "put", "delete"]),
    ("/api/users/{id}/reset-password", &["post"]),
    ("/api/roles", &["get", "post"]),
    ("/api/roles/{id}", &["get", "put", "delete"]),
    ("/api/permissions", &["get"]),
    ("/api/api-keys", &["get", "post"]),
    ("/api/api-keys/{id}", &["delete"]),
    ("/api/audit", &["get"]),
    ("/api/customers", &["get", "post"]),
    ("/api/customers/{id}", &["get", "put", "delete"]),
    ("/api/employees", &["get", "post"]),
    ("/api/employees/{id}", &["get", "put", "delete"]),
    ("/api/suppliers", &["get", "post"]),
    ("/api/suppliers/{id}", &["get", "put", "delete"]),
    ("/health", &["get"]),
    ("/metrics", &["get"]),
];

fn header(r: &Response, name: &str) -> Option<String> {
    r.headers
        .get(name)
        .map(|v| v.to_str().expect("ascii header").to_string())
}

async fn health_reports_the_database(app: TestApp) {
    let r = app.get("/health", ()).await.expect(200);
    assert!(header(&r, "content-type").unwrap().starts_with("application/json"));
    let body = &r.body;
    assert_eq!(body["status"], "ok", "{body}");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert!(body["uptime_seconds"].is_u64(), "{body}");
    assert!(body["uptime_seconds"].as_u64().unwrap() < 3600);
    let deps = body["dependencies"].as_array().unwrap();
    assert_eq!(deps.len(), 1, "{body}");
    let db = &deps[0];
    assert_eq!(db["name"], "database");
    assert_eq!(db["status"], "up");
    assert_eq!(db["required"], true);
    assert_eq!(db["kind"], app.state.db.backend().name());
    assert!(["sqlite", "postgres"].contains(&db["kind"].as_str().unwrap()));
    assert!(db["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0));
    assert!(db.get("error").is_none());
    // Open to anyone, and answers HEAD-less GETs with credentials too.
    app.get("/health", &app.admin).await.expect(200);
}

async fn metrics_count_requests_per_route(app: TestApp) {
    app.get("/api/roles", &app.admin).await.expect(200);
    let id = app.get("/api/roles", &app.admin).await.body[0]["id"].clone();
    app.get(&format!("/api/roles/{id}"), &app.admin).await.expect(200);
    app.get("/api/roles", ()).await.expect(401);

    let r = app.get("/metrics", ()).await.expect(200);
    assert!(header(&r, "content-type").unwrap().starts_with("text/plain"));
    let text = r.body.as_str().expect("metrics are text").to_string();
    assert!(text.contains("http_requests_total"), "{text}");
    let counter_lines: Vec<&str> = text.lines().filter(|l| l.starts_with("http_requests_total{")).collect();
    let has = |route: &str, status: &str| {
        counter_lines.iter().any(|l| {
            l.contains(&format!("route=\"{route}\""))
                && l.contains("method=\"GET\"")
                && l.contains(&format!("status=\"{status}\""))
        })
    };
    assert!(has("/api/roles", "200"), "{text}");
    assert!(has("/api/roles", "401"), "{text}");
    // Routes are labelled by their pattern, not the concrete path.
    assert!(has("/api/roles/{id}", "200"), "{text}");
    assert!(!text.contains(&format!("route=\"/api/roles/{id}\"")), "{text}");
    // Values are numbers.
    let line = counter_lines
        .iter()
        .find(|l| l.contains("route=\"/api/roles\"") && l.contains("status=\"200\""))
        .unwrap();
    let value: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(value >= 2.0, "{line}");
    assert!(text.contains("http_request_duration_seconds"), "{text}");
}

async fn openapi(app: &TestApp) -> Value {
    let r = app.get("/api/openapi.json", ()).await.expect(200);
    assert!(header(&r, "content-type").unwrap().starts_with("application/json"));
    assert!(r.body.is_object(), "not JSON: {}", r.body);
    r.body
}

async fn openapi_documents_every_route(app: TestApp) {
    let doc = openapi(&app).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{}", doc["openapi"]);
    assert_eq!(doc["info"]["title"], "Bodega API");
    assert!(doc["info"]["version"].is_string());
    let paths = doc["paths"].as_object().unwrap();
    for (path, methods) in ROUTES {
        let item = paths
            .get(*path)
            .unwrap_or_else(|| panic!("{path} is not documented; paths: {:?}", paths.keys()));
        for method in *methods {
            let op = item
                .get(*method)
                .unwrap_or_else(|| panic!("{method} {path} is not documented"));
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path}"
            );
            assert!(op["tags"].as_array().is_some_and(|t| !t.is_empty()), "{method} {path}");
        }
    }
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["type"], "http", "{schemes}");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["api_key"]["type"], "apiKey", "{schemes}");
    assert_eq!(schemes["api_key"]["in"], "header");
    assert_eq!(schemes["api_key"]["name"], "x-api-key");
    // Operations name the schemes they accept; the public ones none.
    assert_eq!(
        paths["/api/customers"]["get"]["security"],
        json!([{"bearer": []}, {"api_key": []}])
    );
    assert_eq!(paths["/api/users"]["get"]["security"], json!([{"bearer": []}]));
    assert_eq!(paths["/health"]["get"]["security"], json!([{}]));
    // Schemas referenced by operations exist.
    let text = doc.to_string();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().unwrap();
        assert!(schemas.contains_key(name), "missing schema {name}");
    }
    assert!(schemas.contains_key("ErrorBody"));
    // The document served is the one the code builds.
    assert_eq!(doc, serde_json::to_value(bodega_server::app::openapi()).unwrap());
}

/// Every parameter is documented where the handler reads it: `in: path` only for a `{name}` of
/// the path template (each of which is documented, required), filters and paging `in: query`
/// and optional. A query struct documented without `parameter_in = Query` comes out as a
/// required path parameter, which clients and generated SDKs then put in the path.
async fn openapi_parameters_are_where_they_are_read(app: TestApp) {
    let doc = openapi(&app).await;
    let mut operations = 0;
    let mut query_parameters = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let template: Vec<&str> = path
            .split('{')
            .skip(1)
            .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
            .collect();
        for (method, op) in item.as_object().unwrap() {
            operations += 1;
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            let mut seen = std::collections::HashSet::new();
            for p in &params {
                let (name, place) = (p["name"].as_str().unwrap(), p["in"].as_str().unwrap());
                assert!(seen.insert((name, place)), "{method} {path}: {name} ({place}) twice");
                match place {
                    "path" => {
                        assert!(
                            template.contains(&name),
                            "{method} {path}: `{name}` is documented in the path, which has no {{{name}}}"
                        );
                        assert_eq!(p["required"], true, "{method} {path}: {p}");
                    }
                    "query" => {
                        query_parameters += 1;
                        // Every filter, paging and option parameter has a default.
                        assert_ne!(p["required"], true, "{method} {path}: {p}");
                    }
                    "header" => {}
                    other => panic!("{method} {path}: {name} in {other}"),
                }
            }
            for name in &template {
                assert!(
                    params.iter().any(|p| p["in"] == "path" && p["name"] == *name),
                    "{method} {path}: {{{name}}} is not documented"
                );
            }
        }
    }
    assert!(
        operations > 100 && query_parameters > 100,
        "{operations} {query_parameters}"
    );

    let query = |path: &str, method: &str, name: &str| -> Value {
        let params = doc["paths"][path][method]["parameters"].as_array().unwrap();
        params
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{method} {path} does not document {name}: {params:?}"))
            .clone()
    };
    for name in [
        "q",
        "category_id",
        "supplier_id",
        "status",
        "min_price",
        "max_price",
        "page",
        "per_page",
    ] {
        let p = query("/api/products", "get", name);
        assert_eq!(p["in"], "query", "{p}");
        assert_ne!(p["required"], true, "{p}");
    }
    for (path, method, name) in [
        ("/api/stock/movements", "get", "product_id"),
        ("/api/alerts", "get", "status"),
        ("/api/sales/stats", "get", "from"),
        ("/api/imports/{format}", "post", "dry_run"),
        ("/api/imports/{format}", "post", "stock"),
        ("/api/exports/{format}", "get", "decimals"),
    ] {
        assert_eq!(query(path, method, name)["in"], "query", "{method} {path} {name}");
    }
    assert_eq!(query("/api/imports/{format}", "post", "format")["in"], "path");
}

async fn every_documented_operation_is_routed(app: TestApp) {
    let doc = openapi(&app).await;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method.as_str()) {
                continue;
            }
            let uri = path.replace("{id}", "1");
            let request = Request::builder()
                .method(method.clone())
                .uri(&uri)
                .body(Body::empty())
                .unwrap();
            let r = app.send(request).await;
            let code = r.status.as_u16();
            assert_ne!(code, 405, "{method} {uri} is documented but not routed: {}", r.body);
            assert!(
                !(code == 404 && r.body["error"]["message"] == "route not found"),
                "{method} {uri} is documented but not routed: {}",
                r.body
            );
            assert!(code < 500, "{method} {uri}: {code} {}", r.body);
        }
    }
    // The unknown really is unknown, in the error shape.
    let r = app.get("/api/nowhere", &app.admin).await;
    r.expect_error(404, "not_found", None);
    let r = app.call(Method::PATCH, "/api/users", &app.admin, None).await;
    r.expect_error(405, "method_not_allowed", None);
}

async fn docs_are_served_by_the_binary(app: TestApp) {
    let r = app.get("/api/docs/", ()).await.expect(200);
    assert!(header(&r, "content-type").unwrap().starts_with("text/html"));
    let html = r.body.as_str().unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(html.contains("<script src=\"./swagger-ui-bundle.js\""), "{html}");
    // No CDN: every asset comes from the binary.
    assert!(!html.contains("http://") && !html.contains("https://"), "{html}");
    for asset in [
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
    ] {
        let r = app.get(&format!("/api/docs/{asset}"), ()).await.expect(200);
        let len = match &r.body {
            Value::String(s) => s.len(),
            other => other.to_string().len(),
        };
        assert!(len > 1000, "{asset} is {len} bytes");
    }
    let init = app.get("/api/docs/swagger-initializer.js", ()).await.expect(200);
    assert!(init.body.as_str().unwrap().contains("/api/openapi.json"));
    // The root sends browsers to the docs.
    let root = app.get("/", ()).await;
    assert!(root.status.is_redirection(), "{}", root.status);
    assert_eq!(header(&root, "location").as_deref(), Some("/api/docs/"));
}

async fn security_headers_are_on_every_response(app: TestApp) {
    let responses = [
        app.get("/health", ()).await,
        app.get("/api/users", &app.admin).await,
        app.get("/api/users", ()).await,
        app.get("/api/nowhere", ()).await,
        app.post("/api/roles", &app.admin, json!({"name": "Bad Name", "permissions": []}))
            .await,
        app.get("/api/docs/", ()).await,
        app.get("/api/openapi.json", ()).await,
        app.get("/metrics", ()).await,
    ];
    for r in &responses {
        assert_eq!(
            header(r, "x-content-type-options").as_deref(),
            Some("nosniff"),
            "{}",
            r.status
        );
        assert_eq!(header(r, "x-frame-options").as_deref(), Some("DENY"), "{}", r.status);
        assert_eq!(header(r, "referrer-policy").as_deref(), Some("no-referrer"));
        let csp = header(r, "content-security-policy").unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(header(r, "x-request-id").is_some_and(|id| !id.is_empty()));
    }
}

async fn origin_request(app: &TestApp, method: Method, uri: &str, origin: &str, token: Option<&str>) -> Response {
    let mut request = Request::builder().method(method).uri(uri).header("origin", origin);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    app.send(request.body(Body::empty()).unwrap()).await
}

async fn preflight(app: &TestApp, uri: &str, origin: &str) -> Response {
    let request = Request::builder()
        .method(Method::OPTIONS)
        .uri(uri)
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization, content-type")
        .body(Body::empty())
        .unwrap();
    app.send(request).await
}

async fn cors_allows_only_listed_origins_with_credentials(app: TestApp) {
    let allowed = "http://localhost:8080";
    for (uri, token, status) in [
        ("/health", None, 200),
        ("/api/customers", Some(app.admin.as_str()), 200),
        ("/api/customers", None, 401),
    ] {
        let r = origin_request(&app, Method::GET, uri, allowed, token)
            .await
            .expect(status);
        assert_eq!(header(&r, "access-control-allow-origin").as_deref(), Some(allowed));
        assert_eq!(header(&r, "access-control-allow-credentials").as_deref(), Some("true"));
        let exposed = header(&r, "access-control-expose-headers").unwrap_or_default();
        assert!(exposed.to_lowercase().contains("x-request-id"), "{exposed}");
        let vary = r
            .headers
            .get_all("vary")
            .iter()
            .map(|v| v.to_str().unwrap().to_lowercase())
            .collect::<Vec<_>>()
            .join(",");
        assert!(vary.contains("origin"), "{vary}");
    }
    let other_listed = "http://127.0.0.1:8080";
    let r = origin_request(&app, Method::GET, "/health", other_listed, None)
        .await
        .expect(200);
    assert_eq!(header(&r, "access-control-allow-origin").as_deref(), Some(other_listed));

    for origin in ["http://evil.example", "http://localhost:8081", "https://localhost:8080"] {
        let r = origin_request(&app, Method::GET, "/health", origin, None)
            .await
            .expect(200);
        assert_eq!(header(&r, "access-control-allow-origin"), None, "{origin}");
        let r = preflight(&app, "/api/customers", origin).await;
        assert_eq!(header(&r, "access-control-allow-origin"), None, "{origin}");
    }

    // A browser's preflight for an authenticated JSON POST.
    let r = preflight(&app, "/api/customers", allowed).await;
    assert!(r.status.is_success(), "{} {}", r.status, r.body);
    assert_eq!(header(&r, "access-control-allow-origin").as_deref(), Some(allowed));
    assert_eq!(header(&r, "access-control-allow-credentials").as_deref(), Some("true"));
    let methods = header(&r, "access-control-allow-methods").unwrap_or_default();
    assert!(methods.contains("POST") && methods.contains("DELETE"), "{methods}");
    let headers = header(&r, "access-control-allow-headers")
        .unwrap_or_default()
        .to_lowercase();
    assert!(
        headers.contains("authorization") && headers.contains("content-type"),
        "{headers}"
    );
    assert!(headers.contains("x-api-key"), "{headers}");
    let r = preflight(&app, "/api/users/1", allowed).await;
    assert!(r.status.is_success(), "{} {}", r.status, r.body);
    assert_eq!(header(&r, "access-control-allow-origin").as_deref(), Some(allowed));
}

async fn wildcard_cors(store: Store) {
    let config = bodega_server::Config {
        cors_origins: "*".into(),
        ..test_config()
    };
    let Some(app) = spawn_with(store, config).await else {
        eprintln!("skipped on PostgreSQL: BODEGA_TEST_POSTGRES_URL is not set");
        return;
    };
    for origin in [
        "http://evil.example",
        "https://shop.example.com",
        "http://localhost:8080",
    ] {
        let r = origin_request(&app, Method::GET, "/health", origin, None)
            .await
            .expect(200);
        let allow = header(&r, "access-control-allow-origin");
        assert!(
            allow.as_deref() == Some("*") || allow.as_deref() == Some(origin),
            "{origin}: {allow:?}"
        );
        assert_eq!(header(&r, "access-control-allow-credentials"), None, "{origin}");
        let r = origin_request(&app, Method::GET, "/api/customers", origin, Some(&app.admin))
            .await
            .expect(200);
        assert!(header(&r, "access-control-allow-origin").is_some());
        assert_eq!(header(&r, "access-control-allow-credentials"), None);
        let r = preflight(&app, "/api/customers", origin).await;
        assert!(r.status.is_success());
        assert!(header(&r, "access-control-allow-origin").is_some());
        assert_eq!(header(&r, "access-control-allow-credentials"), None);
    }
}

mod wildcard {
    use crate::helpers::Store;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_any_origin_without_credentials() {
        super::wildcard_cors(Store::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_any_origin_without_credentials() {
        super::wildcard_cors(Store::Postgres).await;
    }
}

async fn health_is_down_without_the_database(app: TestApp) {
    app.state.db.close().await;
    let r = app.get("/health", ()).await.expect(503);
    assert_eq!(r.body["status"], "down", "{}", r.body);
    let db = &r.body["dependencies"][0];
    assert_eq!(db["name"], "database");
    assert_eq!(db["status"], "down");
    assert!(db["error"].as_str().is_some_and(|e| !e.is_empty()), "{db}");
    assert_eq!(header(&r, "x-content-type-options").as_deref(), Some("nosniff"));
    // Requests needing the database fail cleanly, revealing nothing.
    let r = app.get("/api/users", &app.admin).await;
    assert!([500, 503].contains(&r.status.as_u16()), "{} {}", r.status, r.body);
    assert!(["internal", "unavailable"].contains(&r.body["error"]["code"].as_str().unwrap()));
    let text = r.body.to_string().to_lowercase();
    assert!(!text.contains("pool") && !text.contains("sqlx"), "{text}");
    assert!(header(&r, "x-request-id").is_some());
}
