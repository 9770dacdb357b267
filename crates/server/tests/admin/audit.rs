//! `GET /api/audit`: who may read it, what an entry holds (actor, before/after, the request id
//! of the change), the filters and pages, and that no password hash ever reaches it.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request};
use chrono::{SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::helpers::{Auth, Response, TestApp, ADMIN_EMAIL, PASSWORD};
use crate::{audit, create_user_via_api, me_id};

crate::on_both_stores!(
    only_admins_read_the_audit_log,
    changes_are_recorded_with_actor_before_after_and_request_id,
    a_client_request_id_is_echoed_and_recorded,
    entries_are_filtered_and_paged,
    time_filters_take_rfc3339,
    no_password_hash_ever_reaches_the_audit_log,
);

/// A JSON request with an optional `x-request-id` of the client's choosing.
async fn send(
    app: &TestApp,
    method: Method,
    uri: &str,
    token: &str,
    body: Option<Value>,
    request_id: Option<&str>,
) -> Response {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {token}"));
    if let Some(id) = request_id {
        request = request.header("x-request-id", id);
    }
    let body = match body {
        Some(value) => {
            request = request.header("content-type", "application/json");
            Body::from(value.to_string())
        }
        None => Body::empty(),
    };
    app.send(request.body(body).unwrap()).await
}

fn request_id(r: &Response) -> String {
    r.headers
        .get("x-request-id")
        .expect("x-request-id header")
        .to_str()
        .unwrap()
        .to_string()
}

async fn only_admins_read_the_audit_log(app: TestApp) {
    app.get("/api/audit", &app.admin).await.expect(200);
    app.get("/api/audit", ()).await.expect_error(401, "unauthorized", None);
    for role in ["manager", "employee"] {
        let token = app.token_for_role(role).await;
        app.get("/api/audit", &token).await.expect_error(403, "forbidden", None);
    }
    let key = app.api_key(&["customers:read"]).await;
    app.get("/api/audit", Auth::ApiKey(key))
        .await
        .expect_error(403, "forbidden", None);
    // Unless granted audit:read explicitly.
    let auditor = app.api_key(&["audit:read"]).await;
    app.get("/api/audit", Auth::ApiKey(auditor)).await.expect(200);
}

async fn changes_are_recorded_with_actor_before_after_and_request_id(app: TestApp) {
    let admin_id = me_id(&app, &app.admin).await;
    let created = app
        .post(
            "/api/customers",
            &app.admin,
            json!({"first_name": "Rosa", "email": "rosa@mail.cl"}),
        )
        .await
        .expect(201);
    let id = created.body["id"].as_i64().unwrap();
    let create_rid = request_id(&created);
    assert!(uuid::Uuid::parse_str(&create_rid).is_ok(), "{create_rid}");

    let updated = app
        .put(
            &format!("/api/customers/{id}"),
            &app.admin,
            json!({"first_name": "Rosa María", "email": "rosa@mail.cl"}),
        )
        .await
        .expect(200);
    let update_rid = request_id(&updated);
    let deleted = app
        .delete(&format!("/api/customers/{id}"), &app.admin)
        .await
        .expect(204);
    let delete_rid = request_id(&deleted);
    assert!(create_rid != update_rid && update_rid != delete_rid && create_rid != delete_rid);

    let entries = audit(&app, &format!("resource=customer&resource_id={id}")).await;
    let actions: Vec<&str> = entries.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["delete", "update", "create"]);
    for entry in &entries {
        assert_eq!(entry["actor_kind"], "user");
        assert_eq!(entry["actor_id"], admin_id);
        assert_eq!(entry["actor_label"], ADMIN_EMAIL);
        assert_eq!(entry["resource"], "customer");
        assert_eq!(entry["resource_id"], id.to_string());
        assert!(entry["at"].is_string() && entry["id"].is_i64());
    }
    let (delete, update, create) = (&entries[0], &entries[1], &entries[2]);
    assert_eq!(create["request_id"], create_rid);
    assert_eq!(create["before"], json!(null));
    assert_eq!(create["after"], created.body);
    assert_eq!(update["request_id"], update_rid);
    assert_eq!(update["before"], created.body);
    assert_eq!(update["after"], updated.body);
    assert_eq!(update["before"]["first_name"], "Rosa");
    assert_eq!(update["after"]["first_name"], "Rosa María");
    assert_eq!(delete["request_id"], delete_rid);
    assert_eq!(delete["before"]["first_name"], "Rosa María");
    assert_eq!(delete["after"], json!(null));
    // Newest first.
    assert!(delete["id"].as_i64() > update["id"].as_i64());
    assert!(update["id"].as_i64() > create["id"].as_i64());

    // User administration is recorded alike, by a second actor.
    let user_id = create_user_via_api(&app, "audited@shop.cl", "employee").await;
    let r = app
        .put(&format!("/api/users/{user_id}"), &app.admin, json!({"role": "manager"}))
        .await
        .expect(200);
    let entries = audit(&app, &format!("resource=user&resource_id={user_id}")).await;
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["action"], "update");
    assert_eq!(entries[0]["request_id"], request_id(&r));
    assert_eq!(entries[0]["before"]["role"], "employee");
    assert_eq!(entries[0]["after"]["role"], "manager");
    assert_eq!(entries[1]["action"], "create");
    assert_eq!(entries[1]["after"]["email"], "audited@shop.cl");

    // A refused change leaves no entry.
    let manager = app.login("audited@shop.cl", PASSWORD).await;
    app.delete(&format!("/api/users/{user_id}"), &manager).await.expect(403);
    app.put(&format!("/api/users/{user_id}"), &app.admin, json!({"role": "wizard"}))
        .await
        .expect(422);
    assert_eq!(
        audit(&app, &format!("resource=user&resource_id={user_id}")).await.len(),
        2
    );

    // A sign-in is recorded against its session.
    let manager_id = me_id(&app, &manager).await;
    let logins = audit(&app, &format!("action=login&actor_id={manager_id}")).await;
    assert_eq!(logins.len(), 1);
    assert_eq!(logins[0]["resource"], "session");
    assert_eq!(logins[0]["actor_kind"], "user");
    assert_eq!(logins[0]["actor_label"], "audited@shop.cl");
}

async fn a_client_request_id_is_echoed_and_recorded(app: TestApp) {
    let mine = "client-req-0001";
    let created = send(
        &app,
        Method::POST,
        "/api/customers",
        &app.admin,
        Some(json!({"first_name": "Rosa"})),
        Some(mine),
    )
    .await
    .expect(201);
    assert_eq!(request_id(&created), mine);
    let id = created.body["id"].as_i64().unwrap();
    let updated = send(
        &app,
        Method::PUT,
        &format!("/api/customers/{id}"),
        &app.admin,
        Some(json!({"first_name": "Rosa Elena"})),
        Some("client-req-0002"),
    )
    .await
    .expect(200);
    assert_eq!(request_id(&updated), "client-req-0002");
    let entries = audit(&app, &format!("resource=customer&resource_id={id}")).await;
    assert_eq!(entries[0]["request_id"], "client-req-0002");
    assert_eq!(entries[1]["request_id"], mine);

    // Echoed on errors, reads and unknown routes too.
    let r = send(
        &app,
        Method::GET,
        "/api/customers/999999",
        &app.admin,
        None,
        Some("req-404"),
    )
    .await
    .expect_error(404, "not_found", None);
    assert_eq!(request_id(&r), "req-404");
    let r = send(&app, Method::GET, "/api/nowhere", &app.admin, None, Some("req-nowhere")).await;
    assert_eq!(r.status.as_u16(), 404);
    assert_eq!(request_id(&r), "req-nowhere");
    let r = send(&app, Method::GET, "/api/customers", &app.admin, None, Some("req-list")).await;
    assert_eq!(r.status.as_u16(), 200);
    assert_eq!(request_id(&r), "req-list");

    // A sign-in carries the client's request id into its audit entry.
    let request = Request::builder()
        .method(Method::POST)
        .uri("/api/auth/login")
        .header("content-type", "application/json")
        .header("x-request-id", "login-req-42")
        .body(Body::from(
            json!({"email": ADMIN_EMAIL, "password": PASSWORD}).to_string(),
        ))
        .unwrap();
    let r = app.send(request).await.expect(200);
    assert_eq!(request_id(&r), "login-req-42");
    let logins = audit(&app, "action=login").await;
    assert_eq!(logins[0]["request_id"], "login-req-42");
}

async fn entries_are_filtered_and_paged(app: TestApp) {
    let admin_id = me_id(&app, &app.admin).await;
    let manager_id = create_user_via_api(&app, "boss@shop.cl", "manager").await;
    let manager = app.login("boss@shop.cl", PASSWORD).await;

    let mut customers = Vec::new();
    for name in ["Ana", "Bea", "Cata"] {
        let r = app
            .post("/api/customers", &app.admin, json!({"first_name": name}))
            .await
            .expect(201);
        customers.push(r.body["id"].as_i64().unwrap());
    }
    app.put(
        &format!("/api/customers/{}", customers[0]),
        &app.admin,
        json!({"first_name": "Ana Luisa"}),
    )
    .await
    .expect(200);
    let supplier = app
        .post("/api/suppliers", &manager, json!({"name": "Acme"}))
        .await
        .expect(201);
    let supplier_id = supplier.body["id"].as_i64().unwrap();
    app.put(
        &format!("/api/suppliers/{supplier_id}"),
        &manager,
        json!({"name": "Acme SpA"}),
    )
    .await
    .expect(200);

    let page = |query: &str| {
        let query = query.to_string();
        let app = &app;
        async move {
            app.get(&format!("/api/audit?{query}"), &app.admin)
                .await
                .expect(200)
                .body
        }
    };

    let r = page("resource=customer").await;
    assert_eq!(r["total"], 4);
    assert!(r["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["resource"] == "customer"));

    let r = page(&format!("resource=customer&resource_id={}", customers[0])).await;
    assert_eq!(r["total"], 2);
    let r = page(&format!("resource_id={}&resource=customer&action=update", customers[0])).await;
    assert_eq!(r["total"], 1);
    assert_eq!(r["items"][0]["after"]["first_name"], "Ana Luisa");

    let r = page("action=update").await;
    let items = r["items"].as_array().unwrap();
    assert!(items.iter().all(|e| e["action"] == "update"));
    assert!(items.iter().any(|e| e["resource"] == "customer"));
    assert!(items.iter().any(|e| e["resource"] == "supplier"));

    let r = page(&format!("actor_id={manager_id}")).await;
    let items = r["items"].as_array().unwrap();
    assert!(items.iter().all(|e| e["actor_id"] == manager_id), "{r}");
    let actions: Vec<(&str, &str)> = items
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["resource"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actions,
        [("update", "supplier"), ("create", "supplier"), ("login", "session")]
    );
    let r = page(&format!("actor_id={manager_id}&resource=supplier&action=create")).await;
    assert_eq!(r["total"], 1);
    assert_eq!(r["items"][0]["resource_id"], supplier_id.to_string());
    let r = page(&format!("actor_id={admin_id}&resource=supplier")).await;
    assert_eq!(r["total"], 0);
    assert_eq!(r["items"], json!([]));
    let r = page("resource=nothing-like-this").await;
    assert_eq!(r["total"], 0);

    // Pages: newest first, no overlap, totals stable.
    let all = page("per_page=500").await;
    let total = all["total"].as_i64().unwrap();
    let all_ids: Vec<i64> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert_eq!(all_ids.len() as i64, total);
    assert!(all_ids.windows(2).all(|w| w[0] > w[1]), "{all_ids:?}");
    let default = page("").await;
    assert_eq!(default["page"], 1);
    assert_eq!(default["per_page"], 50);
    let mut paged = Vec::new();
    for n in 1.. {
        let r = page(&format!("per_page=3&page={n}")).await;
        assert_eq!(r["total"], total);
        assert_eq!(r["per_page"], 3);
        assert_eq!(r["page"], n);
        let items = r["items"].as_array().unwrap();
        if items.is_empty() {
            break;
        }
        assert!(items.len() <= 3);
        paged.extend(items.iter().map(|e| e["id"].as_i64().unwrap()));
    }
    assert_eq!(paged, all_ids);
    let r = page("resource=customer&per_page=3&page=2").await;
    assert_eq!(r["total"], 4);
    assert_eq!(r["items"].as_array().unwrap().len(), 1);
    assert_eq!(r["items"][0]["action"], "create");
    assert_eq!(r["items"][0]["resource_id"], customers[0].to_string());

    // Bad filters.
    app.get("/api/audit?actor_id=abc", &app.admin)
        .await
        .expect_error(400, "bad_request", Some("actor_id"));
    app.get("/api/audit?per_page=0", &app.admin)
        .await
        .expect_error(422, "validation", Some("per_page"));
    app.get("/api/audit?page=0", &app.admin)
        .await
        .expect_error(422, "validation", Some("page"));
}

async fn time_filters_take_rfc3339(app: TestApp) {
    let rfc = |t: chrono::DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Micros, true);
    let t0 = Utc::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let a = app
        .post("/api/customers", &app.admin, json!({"first_name": "Early"}))
        .await
        .expect(201);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let t1 = Utc::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let b = app
        .post("/api/customers", &app.admin, json!({"first_name": "Late"}))
        .await
        .expect(201);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let t2 = Utc::now();

    let ids = |entries: Vec<Value>| -> Vec<String> {
        entries
            .iter()
            .map(|e| e["resource_id"].as_str().unwrap().to_string())
            .collect()
    };
    let (a, b) = (a.body["id"].to_string(), b.body["id"].to_string());

    let both = audit(&app, &format!("resource=customer&from={}", rfc(t0))).await;
    assert_eq!(ids(both), [b.as_str(), a.as_str()]);
    let late = audit(&app, &format!("resource=customer&from={}", rfc(t1))).await;
    assert_eq!(ids(late), [b.as_str()]);
    let early = audit(&app, &format!("resource=customer&to={}", rfc(t1))).await;
    assert_eq!(ids(early), [a.as_str()]);
    let window = audit(&app, &format!("resource=customer&from={}&to={}", rfc(t0), rfc(t1))).await;
    assert_eq!(ids(window), [a.as_str()]);
    let after_all = audit(&app, &format!("resource=customer&from={}", rfc(t2))).await;
    assert!(after_all.is_empty());
    let before_all = audit(&app, &format!("resource=customer&to={}", rfc(t0))).await;
    assert!(before_all.is_empty());
    let long_ago = audit(&app, "from=2000-01-01T00:00:00Z&to=2000-01-02T00:00:00Z").await;
    assert!(long_ago.is_empty());

    // Any offset, and `+` percent-encoded, means the same instant.
    let chile = chrono::FixedOffset::west_opt(4 * 3600).unwrap();
    let t1_chile = t1.with_timezone(&chile).to_rfc3339_opts(SecondsFormat::Micros, false);
    assert!(t1_chile.ends_with("-04:00"));
    let late = audit(&app, &format!("resource=customer&from={t1_chile}")).await;
    assert_eq!(ids(late), [b.as_str()]);
    let plus = chrono::FixedOffset::east_opt(3 * 3600).unwrap();
    let t1_plus = t1
        .with_timezone(&plus)
        .to_rfc3339_opts(SecondsFormat::Micros, false)
        .replace('+', "%2B");
    let early = audit(&app, &format!("resource=customer&to={t1_plus}")).await;
    assert_eq!(ids(early), [a.as_str()]);

    for bad in ["yesterday", "2024-13-01T00:00:00Z", "2024-01-01"] {
        app.get(&format!("/api/audit?from={bad}"), &app.admin)
            .await
            .expect_error(400, "bad_request", Some("from"));
        app.get(&format!("/api/audit?to={bad}"), &app.admin)
            .await
            .expect_error(400, "bad_request", Some("to"));
    }
}

async fn no_password_hash_ever_reaches_the_audit_log(app: TestApp) {
    // Every way a password is set or used.
    let id = create_user_via_api(&app, "secret@shop.cl", "employee").await;
    app.post(
        "/api/auth/register",
        &app.admin,
        json!({"email": "registered@shop.cl", "password": "registered secret", "role": "manager"}),
    )
    .await
    .expect(201);
    app.post(
        &format!("/api/users/{id}/reset-password"),
        &app.admin,
        json!({"new_password": "reset secret 1"}),
    )
    .await
    .expect(204);
    let token = app.login("secret@shop.cl", "reset secret 1").await;
    app.post(
        "/api/auth/change-password",
        &token,
        json!({"current_password": "reset secret 1", "new_password": "changed secret 2"}),
    )
    .await
    .expect(204);
    app.put("/api/auth/profile", &token, json!({"first_name": "Sec"}))
        .await
        .expect(200);
    app.put(
        &format!("/api/users/{id}"),
        &app.admin,
        json!({"role": "manager", "email": "secret2@shop.cl"}),
    )
    .await
    .expect(200);
    app.delete(&format!("/api/users/{id}"), &app.admin).await.expect(204);
    let key = app.api_key(&["customers:read"]).await;
    let login = app.login_full("registered@shop.cl", "registered secret").await;
    app.post(
        "/api/auth/refresh",
        (),
        json!({"refresh_token": login["refresh_token"]}),
    )
    .await
    .expect(200);
    app.post("/api/auth/logout", login["access_token"].as_str().unwrap(), json!({}))
        .await
        .expect(204);

    let r = app.get("/api/audit?per_page=500", &app.admin).await.expect(200);
    let entries = r.body["items"].as_array().unwrap();
    assert!(entries.len() >= 10, "{}", r.body);
    let text = serde_json::to_string(&r.body).unwrap();
    for secret in [
        "argon2",
        "password_hash",
        PASSWORD,
        "registered secret",
        "reset secret 1",
        "changed secret 2",
        key.as_str(),
        login["refresh_token"].as_str().unwrap(),
        login["access_token"].as_str().unwrap(),
    ] {
        assert!(!text.contains(secret), "audit log holds {secret:?}: {text}");
    }
    // The user's entries are all there, with summaries but no secrets.
    let user_entries = audit(&app, &format!("resource=user&resource_id={id}")).await;
    let actions: Vec<&str> = user_entries.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "update",
            "update",
            "update",
            "change_password",
            "change_password",
            "create"
        ]
    );
}
