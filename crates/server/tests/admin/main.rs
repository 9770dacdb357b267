//! HTTP tests of administration (users, roles, API keys, the audit log) and of the system
//! surface (health, metrics, OpenAPI, docs, security headers, CORS, a real listener), each on
//! SQLite and on PostgreSQL. A test binary of its own, sharing the harness of `tests/api`.

// A failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

#[path = "../api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

mod api_keys;
mod audit;
mod roles;
mod schema;
mod server;
mod system;
mod users;

use serde_json::Value;

use helpers::TestApp;

/// The id of the user behind `token`.
pub async fn me_id(app: &TestApp, token: &str) -> i64 {
    app.get("/api/auth/me", token).await.expect(200).body["id"]
        .as_i64()
        .expect("user id")
}

/// The audit entries matching `query` (a query string without `?`), fetched by the admin.
pub async fn audit(app: &TestApp, query: &str) -> Vec<Value> {
    let r = app
        .get(&format!("/api/audit?per_page=500&{query}"), &app.admin)
        .await
        .expect(200);
    r.body["items"].as_array().expect("audit items").clone()
}

/// Creates a user through the API (`POST /api/users`) and returns its id.
pub async fn create_user_via_api(app: &TestApp, email: &str, role: &str) -> i64 {
    let r = app
        .post(
            "/api/users",
            &app.admin,
            serde_json::json!({
                "email": email,
                "password": helpers::PASSWORD,
                "first_name": "Test",
                "last_name": role,
                "role": role,
            }),
        )
        .await
        .expect(201);
    r.body["id"].as_i64().expect("user id")
}

/// Creates a custom role as the admin and returns its id.
pub async fn create_role(app: &TestApp, name: &str, permissions: &[&str]) -> i64 {
    let r = app
        .post(
            "/api/roles",
            &app.admin,
            serde_json::json!({"name": name, "description": "test role", "permissions": permissions}),
        )
        .await
        .expect(201);
    r.body["id"].as_i64().expect("role id")
}

/// The names of a JSON array of strings.
pub fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .expect("array")
        .iter()
        .map(|v| v.as_str().expect("string").to_string())
        .collect()
}
