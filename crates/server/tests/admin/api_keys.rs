//! `/api/api-keys`: the secret shown once, keys limited to their permissions, revocation at
//! once, validation, delegation (no key beyond its creator's permissions) and the audit trail.

use std::time::Duration;

use serde_json::{json, Value};

use bodega_server::auth::tokens::sha256_hex;

use crate::helpers::{Auth, TestApp, ADMIN_EMAIL, PASSWORD};
use crate::{audit, create_role, create_user_via_api, me_id};

crate::on_both_stores!(
    the_secret_is_returned_once_and_never_listed,
    a_key_can_do_exactly_what_its_permissions_allow,
    revoking_a_key_stops_it_at_once,
    key_requests_are_validated,
    a_key_cannot_exceed_its_creators_permissions,
    keys_are_audited_with_their_actor,
    expired_keys_are_refused,
);

async fn create(app: &TestApp, token: &str, body: Value) -> Value {
    app.post("/api/api-keys", token, body).await.expect(201).body
}

async fn the_secret_is_returned_once_and_never_listed(app: TestApp) {
    let admin_id = me_id(&app, &app.admin).await;
    let created = create(
        &app,
        &app.admin,
        json!({"name": "erp sync", "permissions": ["customers:read", "suppliers:read"]}),
    )
    .await;
    let secret = created["key"].as_str().unwrap().to_string();
    assert!(secret.starts_with("bdg_"), "{secret}");
    assert!(secret.len() >= 40, "{secret}");
    assert_eq!(created["name"], "erp sync");
    assert_eq!(created["prefix"], secret.chars().take(12).collect::<String>());
    assert_eq!(created["permissions"], json!(["customers:read", "suppliers:read"]));
    assert_eq!(created["created_by"], admin_id);
    assert!(created["created_at"].is_string());
    assert_eq!(created["expires_at"], json!(null));
    assert_eq!(created["revoked_at"], json!(null));
    assert_eq!(created["last_used_at"], json!(null));
    assert!(created.get("key_hash").is_none());
    let id = created["id"].as_i64().unwrap();

    let expiring = create(
        &app,
        &app.admin,
        json!({"name": "temp", "permissions": ["customers:read"], "expires_in_days": 30}),
    )
    .await;
    let expires = chrono::DateTime::parse_from_rfc3339(expiring["expires_at"].as_str().unwrap()).unwrap();
    let days = (expires.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_hours() as f64 / 24.0;
    assert!((29.9..=30.1).contains(&days), "{days}");
    let other_secret = expiring["key"].as_str().unwrap().to_string();
    assert_ne!(other_secret, secret);

    let listed = app.get("/api/api-keys", &app.admin).await.expect(200).body;
    let keys = listed.as_array().unwrap();
    assert_eq!(keys.len(), 2);
    let text = listed.to_string();
    for s in [&secret, &other_secret] {
        assert!(!text.contains(s.as_str()), "secret listed: {text}");
        assert!(!text.contains(&sha256_hex(s)), "hash listed: {text}");
    }
    for key in keys {
        assert!(key.get("key").is_none(), "{key}");
        assert!(key.get("key_hash").is_none(), "{key}");
    }
    let listed_first = keys.iter().find(|k| k["id"] == id).unwrap();
    let mut without_secret = created.clone();
    without_secret.as_object_mut().unwrap().remove("key");
    assert_eq!(listed_first, &without_secret);

    // The audit trail does not hold the secret either.
    let entries = app.get("/api/audit?per_page=500", &app.admin).await.expect(200).body;
    let text = entries.to_string();
    assert!(!text.contains(&secret) && !text.contains(&sha256_hex(&secret)));
}

async fn a_key_can_do_exactly_what_its_permissions_allow(app: TestApp) {
    let created = create(
        &app,
        &app.admin,
        json!({"name": "reader", "permissions": ["customers:read"]}),
    )
    .await;
    let id = created["id"].clone();
    let key = Auth::ApiKey(created["key"].as_str().unwrap().to_string());

    app.get("/api/customers", key.clone()).await.expect(200);
    app.post("/api/customers", key.clone(), json!({"first_name": "Rosa"}))
        .await
        .expect_error(403, "forbidden", None);
    app.get("/api/suppliers", key.clone())
        .await
        .expect_error(403, "forbidden", None);
    app.get("/api/api-keys", key.clone())
        .await
        .expect_error(403, "forbidden", None);
    app.post(
        "/api/api-keys",
        key.clone(),
        json!({"name": "child", "permissions": ["customers:read"]}),
    )
    .await
    .expect_error(403, "forbidden", None);
    // Keys have no profile.
    app.get("/api/auth/me", key.clone())
        .await
        .expect_error(403, "forbidden", None);
    // Surrounding spaces do not matter; another secret does.
    let padded = format!("  {}  ", created["key"].as_str().unwrap());
    app.get("/api/customers", Auth::ApiKey(padded)).await.expect(200);
    app.get("/api/customers", Auth::ApiKey("bdg_wrong".into()))
        .await
        .expect_error(401, "unauthorized", None);

    // The last use is recorded (off the request path).
    let mut last_used = Value::Null;
    for _ in 0..50 {
        let keys = app.get("/api/api-keys", &app.admin).await.expect(200).body;
        last_used = keys.as_array().unwrap().iter().find(|k| k["id"] == id).unwrap()["last_used_at"].clone();
        if last_used.is_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(last_used.is_string(), "last_used_at never set");

    // A key with write permissions writes, as itself.
    let writer = create(
        &app,
        &app.admin,
        json!({"name": "writer", "permissions": ["customers:*"]}),
    )
    .await;
    let writer_key = Auth::ApiKey(writer["key"].as_str().unwrap().to_string());
    let customer = app
        .post("/api/customers", writer_key.clone(), json!({"first_name": "Rosa"}))
        .await
        .expect(201);
    app.delete(&format!("/api/customers/{}", customer.body["id"]), writer_key)
        .await
        .expect(204);
}

async fn revoking_a_key_stops_it_at_once(app: TestApp) {
    let created = create(
        &app,
        &app.admin,
        json!({"name": "doomed", "permissions": ["customers:read"]}),
    )
    .await;
    let keep = create(
        &app,
        &app.admin,
        json!({"name": "kept", "permissions": ["customers:read"]}),
    )
    .await;
    let id = created["id"].as_i64().unwrap();
    let key = Auth::ApiKey(created["key"].as_str().unwrap().to_string());
    let kept = Auth::ApiKey(keep["key"].as_str().unwrap().to_string());
    app.get("/api/customers", key.clone()).await.expect(200);

    let r = app.delete(&format!("/api/api-keys/{id}"), &app.admin).await.expect(204);
    assert_eq!(r.body, json!(null));
    app.get("/api/customers", key)
        .await
        .expect_error(401, "unauthorized", None);
    app.get("/api/customers", kept).await.expect(200);

    // Still listed, marked revoked.
    let keys = app.get("/api/api-keys", &app.admin).await.expect(200).body;
    let listed = keys.as_array().unwrap().iter().find(|k| k["id"] == id).unwrap();
    assert!(listed["revoked_at"].is_string(), "{listed}");
    let other = keys.as_array().unwrap().iter().find(|k| k["id"] == keep["id"]).unwrap();
    assert_eq!(other["revoked_at"], json!(null));

    app.delete("/api/api-keys/999999", &app.admin)
        .await
        .expect_error(404, "not_found", None);
    app.delete("/api/api-keys/abc", &app.admin)
        .await
        .expect_error(400, "bad_request", Some("id"));
}

async fn key_requests_are_validated(app: TestApp) {
    for days in [0, -1, 3651] {
        app.post(
            "/api/api-keys",
            &app.admin,
            json!({"name": "k", "permissions": ["customers:read"], "expires_in_days": days}),
        )
        .await
        .expect_error(422, "validation", Some("expires_in_days"));
    }
    app.post(
        "/api/api-keys",
        &app.admin,
        json!({"name": "k", "permissions": ["customers:read"], "expires_in_days": "soon"}),
    )
    .await
    .expect_error(422, "validation", Some("expires_in_days"));
    for name in [json!(""), json!("   "), json!("x".repeat(101))] {
        app.post(
            "/api/api-keys",
            &app.admin,
            json!({"name": name, "permissions": ["customers:read"]}),
        )
        .await
        .expect_error(422, "validation", Some("name"));
    }
    for permissions in [
        json!([]),
        json!(["nothing:read"]),
        json!(["customers:fly"]),
        json!(["customers"]),
    ] {
        app.post(
            "/api/api-keys",
            &app.admin,
            json!({"name": "k", "permissions": permissions}),
        )
        .await
        .expect_error(422, "validation", Some("permissions"));
    }
    app.post("/api/api-keys", &app.admin, json!({"name": "k"}))
        .await
        .expect_error(422, "validation", Some("permissions"));
    app.post(
        "/api/api-keys",
        &app.admin,
        json!({"name": "k", "permissions": ["customers:read"], "key": "bdg_chosen"}),
    )
    .await
    .expect_error(422, "validation", None);
    assert_eq!(app.get("/api/api-keys", &app.admin).await.body, json!([]));

    app.post(
        "/api/api-keys",
        (),
        json!({"name": "k", "permissions": ["customers:read"]}),
    )
    .await
    .expect_error(401, "unauthorized", None);
}

async fn a_key_cannot_exceed_its_creators_permissions(app: TestApp) {
    // Managers hold no api_keys permission at all.
    let manager = app.token_for_role("manager").await;
    app.post(
        "/api/api-keys",
        &manager,
        json!({"name": "k", "permissions": ["customers:read"]}),
    )
    .await
    .expect_error(403, "forbidden", None);
    app.get("/api/api-keys", &manager)
        .await
        .expect_error(403, "forbidden", None);
    let employee = app.token_for_role("employee").await;
    app.post(
        "/api/api-keys",
        &employee,
        json!({"name": "k", "permissions": ["customers:read"]}),
    )
    .await
    .expect_error(403, "forbidden", None);

    // A role that may create keys may only hand out what it holds.
    create_role(&app, "integrator", &["api_keys:create", "customers:read"]).await;
    let user_id = create_user_via_api(&app, "integrator@shop.cl", "integrator").await;
    let token = app.login("integrator@shop.cl", PASSWORD).await;
    for permissions in [
        json!(["suppliers:read"]),
        json!(["customers:read", "suppliers:read"]),
        json!(["customers:*"]),
        json!(["customers:create"]),
        json!(["api_keys:create"]),
        json!(["*"]),
    ] {
        let ok = permissions == json!(["api_keys:create"]);
        let r = app
            .post(
                "/api/api-keys",
                &token,
                json!({"name": "k", "permissions": permissions}),
            )
            .await;
        if ok {
            r.expect(201);
        } else {
            r.expect_error(403, "forbidden", None);
        }
    }
    let created = create(&app, &token, json!({"name": "mine", "permissions": ["customers:read"]})).await;
    assert_eq!(created["created_by"], user_id);
    app.get(
        "/api/customers",
        Auth::ApiKey(created["key"].as_str().unwrap().to_string()),
    )
    .await
    .expect(200);
    // Without api_keys:read/delete the integrator can neither list nor revoke.
    app.get("/api/api-keys", &token)
        .await
        .expect_error(403, "forbidden", None);
    app.delete(&format!("/api/api-keys/{}", created["id"]), &token)
        .await
        .expect_error(403, "forbidden", None);
    let keys = app.get("/api/api-keys", &app.admin).await.expect(200).body;
    assert_eq!(keys.as_array().unwrap().len(), 2, "{keys}");
}

async fn keys_are_audited_with_their_actor(app: TestApp) {
    let admin_id = me_id(&app, &app.admin).await;
    let created = create(
        &app,
        &app.admin,
        json!({"name": "audited", "permissions": ["customers:create", "customers:read"]}),
    )
    .await;
    let id = created["id"].as_i64().unwrap();
    let secret = created["key"].as_str().unwrap().to_string();

    // A write made with the key is attributed to the key.
    let customer = app
        .post(
            "/api/customers",
            Auth::ApiKey(secret.clone()),
            json!({"first_name": "Rosa"}),
        )
        .await
        .expect(201);
    let customer_id = customer.body["id"].as_i64().unwrap();
    let by_key = audit(&app, &format!("resource=customer&resource_id={customer_id}")).await;
    assert_eq!(by_key.len(), 1);
    assert_eq!(by_key[0]["action"], "create");
    assert_eq!(by_key[0]["actor_kind"], "api_key");
    assert_eq!(by_key[0]["actor_id"], id);
    assert_eq!(by_key[0]["actor_label"], "api key audited");
    assert_eq!(
        by_key[0]["request_id"],
        customer.headers["x-request-id"].to_str().unwrap()
    );

    app.delete(&format!("/api/api-keys/{id}"), &app.admin).await.expect(204);
    let entries = audit(&app, &format!("resource=api_key&resource_id={id}")).await;
    let actions: Vec<&str> = entries.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["revoke", "create"], "newest first");
    for entry in &entries {
        assert_eq!(entry["actor_kind"], "user");
        assert_eq!(entry["actor_id"], admin_id);
        assert_eq!(entry["actor_label"], ADMIN_EMAIL);
        assert_eq!(entry["resource"], "api_key");
        assert_eq!(entry["resource_id"], id.to_string());
        assert!(entry["request_id"].as_str().is_some_and(|r| !r.is_empty()));
    }
    let (revoke, create_entry) = (&entries[0], &entries[1]);
    assert_eq!(create_entry["before"], json!(null));
    assert_eq!(create_entry["after"]["name"], "audited");
    assert_eq!(create_entry["after"]["prefix"], created["prefix"]);
    assert_eq!(revoke["before"]["revoked_at"], json!(null));
    assert!(revoke["after"]["revoked_at"].is_string());
    let text = serde_json::to_string(&entries).unwrap();
    assert!(!text.contains(&secret));
    assert!(!text.contains(&sha256_hex(&secret)));
}

async fn expired_keys_are_refused(app: TestApp) {
    let created = create(
        &app,
        &app.admin,
        json!({"name": "short-lived", "permissions": ["customers:read"], "expires_in_days": 1}),
    )
    .await;
    let key = Auth::ApiKey(created["key"].as_str().unwrap().to_string());
    app.get("/api/customers", key.clone()).await.expect(200);

    // A day later (moved back in the database rather than waited for).
    let past = bodega_store::now() - chrono::Duration::minutes(1);
    let id = created["id"].as_i64().unwrap();
    let mut tx = app.state.db.begin().await.unwrap();
    let updated = bodega_store::sql::query("UPDATE api_keys SET expires_at = $1 WHERE id = $2")
        .bind(past)
        .bind(id)
        .execute(&mut tx.conn())
        .await
        .unwrap();
    assert_eq!(updated, 1);
    tx.commit().await.unwrap();
    // The key was changed behind the server's back, which it would notice within a second:
    // tell it now.
    app.state.known_callers.forget_all();

    app.get("/api/customers", key)
        .await
        .expect_error(401, "unauthorized", None);
    let keys = app.get("/api/api-keys", &app.admin).await.expect(200).body;
    let listed = keys.as_array().unwrap().iter().find(|k| k["id"] == id).unwrap();
    assert_eq!(listed["revoked_at"], json!(null));
    assert!(listed["expires_at"].is_string());
}
