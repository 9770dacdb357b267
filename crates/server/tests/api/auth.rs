//! Sign-in, tokens (expiry, tampering, rotation, replay, revocation), profile and passwords.

use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::json;

use crate::helpers::{create_user, Auth, TestApp, ADMIN_EMAIL, PASSWORD, TEST_JWT_SECRET};

crate::on_both_stores!(
    login_me_and_wrong_credentials,
    expired_tampered_and_malformed_tokens_are_rejected,
    refresh_rotates_and_a_replayed_token_revokes_the_session,
    logout_revokes_access_and_refresh_tokens,
    change_password_checks_the_current_one_and_ends_other_sessions,
    profile_updates_own_details,
    register_is_admin_only_when_closed,
    deactivated_users_lose_access_at_once,
);

async fn login_me_and_wrong_credentials(app: TestApp) {
    let tokens = app.login_full(ADMIN_EMAIL, PASSWORD).await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 900);
    assert!(tokens["refresh_token"].as_str().unwrap().starts_with("rt_"));
    assert_eq!(tokens["user"]["email"], ADMIN_EMAIL);
    assert!(tokens["user"].get("password_hash").is_none());

    let me = app.get("/api/auth/me", &app.admin).await.expect(200);
    assert_eq!(me.body["email"], ADMIN_EMAIL);
    assert_eq!(me.body["role"], "admin");
    assert_eq!(me.body["permissions"], json!(["*"]));
    assert!(me.body["last_login_at"].is_string());

    // E-mail is case-insensitive; wrong password and unknown user answer alike.
    app.login(&ADMIN_EMAIL.to_uppercase(), PASSWORD).await;
    let wrong = app
        .post(
            "/api/auth/login",
            (),
            json!({"email": ADMIN_EMAIL, "password": "wrong password"}),
        )
        .await;
    let unknown = app
        .post(
            "/api/auth/login",
            (),
            json!({"email": "nobody@test.cl", "password": PASSWORD}),
        )
        .await;
    let wrong = wrong.expect_error(401, "unauthorized", None);
    let unknown = unknown.expect_error(401, "unauthorized", None);
    assert_eq!(wrong.body, unknown.body);
    app.post("/api/auth/login", (), json!({"email": ADMIN_EMAIL}))
        .await
        .expect_error(422, "validation", Some("password"));
    app.get("/api/auth/me", ())
        .await
        .expect_error(401, "unauthorized", None);
}

fn forge(claims: serde_json::Value, secret: &str) -> String {
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

async fn expired_tampered_and_malformed_tokens_are_rejected(app: TestApp) {
    let me = app.get("/api/auth/me", &app.admin).await.expect(200);
    let sid = {
        // The admin's live session id, read from its token.
        let payload = app.admin.split('.').nth(1).unwrap();
        use base64::Engine;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()["sid"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let now = chrono::Utc::now().timestamp();
    let sub = me.body["id"].to_string();
    let claims = |exp: i64| json!({"sub": sub, "sid": sid, "role": "admin", "iat": now - 7200, "exp": exp, "jti": "x", "typ": "access"});

    let valid = forge(claims(now + 600), TEST_JWT_SECRET);
    app.get("/api/auth/me", &valid).await.expect(200);

    let expired = forge(claims(now - 3600), TEST_JWT_SECRET);
    let r = app
        .get("/api/auth/me", &expired)
        .await
        .expect_error(401, "unauthorized", None);
    assert!(r.body["error"]["message"].as_str().unwrap().contains("expired"));

    let wrong_key = forge(claims(now + 600), "another-secret-another-secret-another");
    app.get("/api/auth/me", &wrong_key)
        .await
        .expect_error(401, "unauthorized", None);

    let mut tampered = app.admin.clone();
    tampered.pop();
    tampered.push(if app.admin.ends_with('A') { 'B' } else { 'A' });
    app.get("/api/auth/me", &tampered)
        .await
        .expect_error(401, "unauthorized", None);

    let refresh_typed = forge(
        json!({"sub": sub, "sid": sid, "role": "admin", "iat": now, "exp": now + 600, "jti": "y", "typ": "refresh"}),
        TEST_JWT_SECRET,
    );
    app.get("/api/auth/me", &refresh_typed)
        .await
        .expect_error(401, "unauthorized", None);

    app.get("/api/auth/me", "not-a-jwt")
        .await
        .expect_error(401, "unauthorized", None);
    let request = axum::http::Request::builder()
        .uri("/api/auth/me")
        .header("authorization", "Basic YWRtaW46cGFzcw==")
        .body(axum::body::Body::empty())
        .unwrap();
    app.send(request).await.expect_error(401, "unauthorized", None);
    app.get("/api/auth/me", Auth::ApiKey("bdg_not-a-real-key".into()))
        .await
        .expect_error(401, "unauthorized", None);
}

async fn refresh_rotates_and_a_replayed_token_revokes_the_session(app: TestApp) {
    let first = app.login_full(ADMIN_EMAIL, PASSWORD).await;
    let r1 = first["refresh_token"].as_str().unwrap();
    let second = app
        .post("/api/auth/refresh", (), json!({"refresh_token": r1}))
        .await
        .expect(200)
        .body;
    let r2 = second["refresh_token"].as_str().unwrap();
    assert_ne!(r1, r2);
    let access2 = second["access_token"].as_str().unwrap().to_string();
    app.get("/api/auth/me", &access2).await.expect(200);

    // Replaying the rotated-away token is treated as theft: the whole session ends.
    app.post("/api/auth/refresh", (), json!({"refresh_token": r1}))
        .await
        .expect_error(401, "unauthorized", None);
    app.get("/api/auth/me", &access2)
        .await
        .expect_error(401, "unauthorized", None);
    app.post("/api/auth/refresh", (), json!({"refresh_token": r2}))
        .await
        .expect_error(401, "unauthorized", None);

    app.post("/api/auth/refresh", (), json!({"refresh_token": "rt_unknown"}))
        .await
        .expect_error(401, "unauthorized", None);
    app.post("/api/auth/refresh", (), json!({}))
        .await
        .expect_error(422, "validation", Some("refresh_token"));
    // Other sessions are untouched.
    app.get("/api/auth/me", &app.admin).await.expect(200);
}

async fn logout_revokes_access_and_refresh_tokens(app: TestApp) {
    let tokens = app.login_full(ADMIN_EMAIL, PASSWORD).await;
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    app.post("/api/auth/logout", &access, json!({})).await.expect(204);
    app.get("/api/auth/me", &access)
        .await
        .expect_error(401, "unauthorized", None);
    app.post("/api/auth/refresh", (), json!({"refresh_token": refresh}))
        .await
        .expect_error(401, "unauthorized", None);
    app.call(axum::http::Method::POST, "/api/auth/logout", (), None)
        .await
        .expect_error(401, "unauthorized", None);
    let audit = app.get("/api/audit?action=logout", &app.admin).await.expect(200);
    assert_eq!(audit.body["total"], 1);
}

async fn change_password_checks_the_current_one_and_ends_other_sessions(app: TestApp) {
    let id = create_user(&app.state, "ana@test.cl", "employee").await;
    let current = app.login("ana@test.cl", PASSWORD).await;
    let other = app.login("ana@test.cl", PASSWORD).await;

    app.post(
        "/api/auth/change-password",
        &current,
        json!({"current_password": "nope nope", "new_password": "a new secret"}),
    )
    .await
    .expect_error(422, "validation", Some("current_password"));
    app.post(
        "/api/auth/change-password",
        &current,
        json!({"current_password": PASSWORD, "new_password": "short"}),
    )
    .await
    .expect_error(422, "validation", Some("new_password"));
    app.get("/api/auth/me", &other).await.expect(200);

    app.post(
        "/api/auth/change-password",
        &current,
        json!({"current_password": PASSWORD, "new_password": "a new secret"}),
    )
    .await
    .expect(204);
    app.get("/api/auth/me", &current).await.expect(200);
    app.get("/api/auth/me", &other)
        .await
        .expect_error(401, "unauthorized", None);
    app.post(
        "/api/auth/login",
        (),
        json!({"email": "ana@test.cl", "password": PASSWORD}),
    )
    .await
    .expect(401);
    app.login("ana@test.cl", "a new secret").await;
    let audit = app
        .get(
            &format!("/api/audit?resource=user&resource_id={id}&action=change_password"),
            &app.admin,
        )
        .await;
    assert_eq!(audit.expect(200).body["total"], 1);
}

async fn profile_updates_own_details(app: TestApp) {
    let token = app.token_for_role("employee").await;
    let r = app
        .put(
            "/api/auth/profile",
            &token,
            json!({"first_name": "Ana", "last_name": "Pérez", "phone": "+56 9 1234 5678"}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["first_name"], "Ana");
    assert_eq!(r.body["last_name"], "Pérez");
    assert_eq!(r.body["role"], "employee");
    app.put("/api/auth/profile", &token, json!({"email": "not-an-email"}))
        .await
        .expect_error(422, "validation", Some("email"));
    app.put("/api/auth/profile", &token, json!({"email": ADMIN_EMAIL}))
        .await
        .expect_error(409, "conflict", Some("email"));
    app.put("/api/auth/profile", &token, json!({"role": "admin"}))
        .await
        .expect_error(422, "validation", Some("role"));
    app.put("/api/auth/profile", &token, json!({"first_name": "  "}))
        .await
        .expect_error(422, "validation", Some("first_name"));
    assert_eq!(app.get("/api/auth/me", &token).await.body["first_name"], "Ana");
}

async fn register_is_admin_only_when_closed(app: TestApp) {
    let body = json!({"email": "Nuevo@Test.cl", "password": PASSWORD, "first_name": "Nuevo", "role": "manager"});
    app.post("/api/auth/register", (), body.clone())
        .await
        .expect_error(401, "unauthorized", None);
    let employee = app.token_for_role("employee").await;
    app.post("/api/auth/register", &employee, body.clone())
        .await
        .expect_error(403, "forbidden", None);
    let created = app
        .post("/api/auth/register", &app.admin, body.clone())
        .await
        .expect(201);
    assert_eq!(created.body["email"], "nuevo@test.cl");
    assert_eq!(created.body["role"], "manager");
    app.post("/api/auth/register", &app.admin, body)
        .await
        .expect_error(409, "conflict", Some("email"));
    app.post(
        "/api/auth/register",
        &app.admin,
        json!({"email": "x@test.cl", "password": PASSWORD, "role": "wizard"}),
    )
    .await
    .expect_error(422, "validation", Some("role"));
    app.post(
        "/api/auth/register",
        &app.admin,
        json!({"email": "x@", "password": PASSWORD}),
    )
    .await
    .expect_error(422, "validation", Some("email"));
    app.login("nuevo@test.cl", PASSWORD).await;
}

async fn deactivated_users_lose_access_at_once(app: TestApp) {
    let id = create_user(&app.state, "leaving@test.cl", "manager").await;
    let token = app.login("leaving@test.cl", PASSWORD).await;
    app.get("/api/customers", &token).await.expect(200);
    app.delete(&format!("/api/users/{id}"), &app.admin).await.expect(204);
    app.get("/api/customers", &token)
        .await
        .expect_error(401, "unauthorized", None);
    app.post(
        "/api/auth/login",
        (),
        json!({"email": "leaving@test.cl", "password": PASSWORD}),
    )
    .await
    .expect(401);
}

mod open_registration {
    use serde_json::json;

    use crate::helpers::{spawn_with, test_config, Store, PASSWORD};

    #[tokio::test]
    async fn anyone_may_register_as_employee_only() {
        let config = bodega_server::Config {
            open_registration: true,
            ..test_config()
        };
        let app = spawn_with(Store::Sqlite, config).await.unwrap();
        let r = app
            .post(
                "/api/auth/register",
                (),
                json!({"email": "self@test.cl", "password": PASSWORD}),
            )
            .await
            .expect(201);
        assert_eq!(r.body["role"], "employee");
        app.post(
            "/api/auth/register",
            (),
            json!({"email": "boss@test.cl", "password": PASSWORD, "role": "admin"}),
        )
        .await
        .expect_error(403, "forbidden", None);
    }
}

mod rate_limit {
    use serde_json::json;

    use crate::helpers::{spawn_with, test_config, Store, ADMIN_EMAIL};

    #[tokio::test]
    async fn login_attempts_are_limited_with_retry_after() {
        // spawn_with signs the admin in once, which uses one attempt of the quota.
        let config = bodega_server::Config {
            login_attempts_per_minute: 4,
            ..test_config()
        };
        let app = spawn_with(Store::Sqlite, config).await.unwrap();
        for _ in 0..3 {
            app.post(
                "/api/auth/login",
                (),
                json!({"email": ADMIN_EMAIL, "password": "guess guess"}),
            )
            .await
            .expect(401);
        }
        let r = app
            .post(
                "/api/auth/login",
                (),
                json!({"email": ADMIN_EMAIL, "password": "guess guess"}),
            )
            .await
            .expect_error(429, "rate_limited", None);
        let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry));
    }
}
