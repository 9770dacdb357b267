//! `/api/users`: listing with search and pages, reading, updating (names, role, active flag),
//! the last-admin guard, deactivation and password resets.

use serde_json::json;

use crate::helpers::{TestApp, ADMIN_EMAIL, PASSWORD};
use crate::{audit, create_role, create_user_via_api, me_id};

crate::on_both_stores!(
    users_are_listed_with_search_and_pages,
    users_are_created_and_read,
    updates_change_names_role_and_active_flag,
    unknown_roles_and_bad_fields_are_rejected,
    the_last_active_admin_cannot_be_demoted_or_deactivated,
    delete_deactivates_and_ends_every_session,
    reset_password_checks_policy_and_ends_sessions,
    user_administration_needs_permissions,
    concurrent_demotions_keep_an_active_admin,
    user_administrators_cannot_grant_or_take_over_more_than_they_hold,
);

async fn users_are_listed_with_search_and_pages(app: TestApp) {
    for (first, last) in [
        ("Ana", "Rojas"),
        ("Bruno", "Diaz"),
        ("Carla", "Soto"),
        ("Diego", "Rojas"),
        ("Elena", "Munoz"),
    ] {
        let email = format!("{}@shop.cl", first.to_lowercase());
        app.post(
            "/api/users",
            &app.admin,
            json!({"email": email, "password": PASSWORD, "first_name": first, "last_name": last}),
        )
        .await
        .expect(201);
    }

    let all = app.get("/api/users", &app.admin).await.expect(200);
    assert_eq!(all.body["total"], 6, "{}", all.body);
    assert_eq!(all.body["page"], 1);
    assert_eq!(all.body["per_page"], 50);
    let items = all.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 6);
    assert_eq!(items[0]["email"], ADMIN_EMAIL);
    for user in items {
        assert!(user.get("password_hash").is_none(), "{user}");
    }

    // Pages of two, in id order, without overlap.
    let mut seen = Vec::new();
    for page in 1..=3 {
        let r = app
            .get(&format!("/api/users?per_page=2&page={page}"), &app.admin)
            .await
            .expect(200);
        assert_eq!(r.body["total"], 6);
        assert_eq!(r.body["page"], page);
        assert_eq!(r.body["per_page"], 2);
        let items = r.body["items"].as_array().unwrap();
        assert_eq!(items.len(), 2);
        seen.extend(items.iter().map(|u| u["id"].as_i64().unwrap()));
    }
    let mut sorted = seen.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(seen, sorted, "pages overlap or are out of order");
    assert_eq!(seen.len(), 6);
    let beyond = app.get("/api/users?per_page=2&page=4", &app.admin).await.expect(200);
    assert_eq!(beyond.body["total"], 6);
    assert_eq!(beyond.body["items"], json!([]));

    // Search: e-mail or "first last", case-insensitive.
    let emails = |body: &serde_json::Value| -> Vec<String> {
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["email"].as_str().unwrap().to_string())
            .collect()
    };
    let r = app.get("/api/users?q=rojas", &app.admin).await.expect(200);
    assert_eq!(r.body["total"], 2);
    assert_eq!(emails(&r.body), ["ana@shop.cl", "diego@shop.cl"]);
    let r = app.get("/api/users?q=BRUNO%20DIAZ", &app.admin).await.expect(200);
    assert_eq!(emails(&r.body), ["bruno@shop.cl"]);
    let r = app.get("/api/users?q=%40shop.cl", &app.admin).await.expect(200);
    assert_eq!(r.body["total"], 5);
    let r = app
        .get("/api/users?q=%40shop.cl&per_page=2&page=3", &app.admin)
        .await
        .expect(200);
    assert_eq!(r.body["total"], 5);
    assert_eq!(emails(&r.body), ["elena@shop.cl"]);
    let r = app.get("/api/users?q=nobody-here", &app.admin).await.expect(200);
    assert_eq!(r.body["total"], 0);
    assert_eq!(r.body["items"], json!([]));
    // A blank search is no filter.
    let r = app.get("/api/users?q=%20", &app.admin).await.expect(200);
    assert_eq!(r.body["total"], 6);

    // Bad paging.
    app.get("/api/users?per_page=0", &app.admin)
        .await
        .expect_error(422, "validation", Some("per_page"));
    app.get("/api/users?per_page=501", &app.admin)
        .await
        .expect_error(422, "validation", Some("per_page"));
    app.get("/api/users?page=0", &app.admin)
        .await
        .expect_error(422, "validation", Some("page"));
    app.get("/api/users?page=abc", &app.admin)
        .await
        .expect_error(400, "bad_request", Some("page"));
}

async fn users_are_created_and_read(app: TestApp) {
    let created = app
        .post(
            "/api/users",
            &app.admin,
            json!({"email": "  Nora@Shop.CL ", "password": PASSWORD, "first_name": "Nora", "last_name": "Vera", "phone": "+56 2 2222 3333", "role": "manager"}),
        )
        .await
        .expect(201);
    let id = created.body["id"].as_i64().unwrap();
    assert_eq!(created.body["email"], "nora@shop.cl");
    assert_eq!(created.body["role"], "manager");
    assert_eq!(created.body["is_active"], true);
    assert!(created.body.get("password_hash").is_none());
    assert!(created.body.get("password").is_none());

    // Without a role the user is an employee.
    let plain = app
        .post(
            "/api/users",
            &app.admin,
            json!({"email": "plain@shop.cl", "password": PASSWORD}),
        )
        .await
        .expect(201);
    assert_eq!(plain.body["role"], "employee");

    let got = app.get(&format!("/api/users/{id}"), &app.admin).await.expect(200);
    assert_eq!(got.body, created.body);
    assert_eq!(got.body["phone"], "+56 2 2222 3333");
    assert_eq!(got.body["last_login_at"], json!(null));
    app.login("nora@shop.cl", PASSWORD).await;
    let got = app.get(&format!("/api/users/{id}"), &app.admin).await.expect(200);
    assert!(got.body["last_login_at"].is_string());

    app.get("/api/users/999999", &app.admin)
        .await
        .expect_error(404, "not_found", None);
    app.get("/api/users/abc", &app.admin)
        .await
        .expect_error(400, "bad_request", Some("id"));
    app.post(
        "/api/users",
        &app.admin,
        json!({"email": "nora@shop.cl", "password": PASSWORD}),
    )
    .await
    .expect_error(409, "conflict", Some("email"));
    app.post(
        "/api/users",
        &app.admin,
        json!({"email": "weak@shop.cl", "password": "short"}),
    )
    .await
    .expect_error(422, "validation", Some("password"));
    app.post("/api/users", &app.admin, json!({"email": "nopass@shop.cl"}))
        .await
        .expect_error(422, "validation", Some("password"));
}

async fn updates_change_names_role_and_active_flag(app: TestApp) {
    let id = create_user_via_api(&app, "pia@shop.cl", "employee").await;
    let token = app.login("pia@shop.cl", PASSWORD).await;
    // Employees cannot read employees.
    app.get("/api/employees", &token)
        .await
        .expect_error(403, "forbidden", None);

    let before = app.get(&format!("/api/users/{id}"), &app.admin).await.expect(200).body;
    let r = app
        .put(
            &format!("/api/users/{id}"),
            &app.admin,
            json!({"first_name": "Pía", "last_name": "Fuentes", "role": "manager"}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["first_name"], "Pía");
    assert_eq!(r.body["last_name"], "Fuentes");
    assert_eq!(r.body["role"], "manager");
    assert_ne!(r.body["role_id"], before["role_id"]);
    // Fields left out are kept.
    assert_eq!(r.body["email"], "pia@shop.cl");
    assert_eq!(r.body["is_active"], true);
    assert_eq!(r.body["created_at"], before["created_at"]);
    assert_eq!(app.get(&format!("/api/users/{id}"), &app.admin).await.body, r.body);

    // The new role applies at once, to the token already issued.
    app.get("/api/employees", &token).await.expect(200);
    assert_eq!(app.get("/api/auth/me", &token).await.body["role"], "manager");

    // Deactivated: the token stops working and the user cannot sign in.
    let r = app
        .put(&format!("/api/users/{id}"), &app.admin, json!({"is_active": false}))
        .await
        .expect(200);
    assert_eq!(r.body["is_active"], false);
    assert_eq!(r.body["role"], "manager");
    app.get("/api/auth/me", &token)
        .await
        .expect_error(401, "unauthorized", None);
    app.post(
        "/api/auth/login",
        (),
        json!({"email": "pia@shop.cl", "password": PASSWORD}),
    )
    .await
    .expect_error(401, "unauthorized", None);
    // Reactivated: signing in works again (the old session stays ended).
    app.put(&format!("/api/users/{id}"), &app.admin, json!({"is_active": true}))
        .await
        .expect(200);
    app.get("/api/auth/me", &token)
        .await
        .expect_error(401, "unauthorized", None);
    let fresh = app.login("pia@shop.cl", PASSWORD).await;
    app.get("/api/employees", &fresh).await.expect(200);

    // E-mail and phone can change too; an empty body changes nothing.
    let r = app
        .put(
            &format!("/api/users/{id}"),
            &app.admin,
            json!({"email": "PIA.F@shop.cl", "phone": "+56 9 8888 7777"}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["email"], "pia.f@shop.cl");
    assert_eq!(r.body["phone"], "+56 9 8888 7777");
    let same = app
        .put(&format!("/api/users/{id}"), &app.admin, json!({}))
        .await
        .expect(200);
    assert_eq!(same.body["email"], "pia.f@shop.cl");
    assert_eq!(same.body["first_name"], "Pía");
    app.login("pia.f@shop.cl", PASSWORD).await;

    app.put("/api/users/999999", &app.admin, json!({"first_name": "X"}))
        .await
        .expect_error(404, "not_found", None);
}

async fn unknown_roles_and_bad_fields_are_rejected(app: TestApp) {
    let id = create_user_via_api(&app, "val@shop.cl", "employee").await;
    let uri = format!("/api/users/{id}");
    app.put(&uri, &app.admin, json!({"role": "wizard"}))
        .await
        .expect_error(422, "validation", Some("role"));
    app.post(
        "/api/users",
        &app.admin,
        json!({"email": "x@shop.cl", "password": PASSWORD, "role": "wizard"}),
    )
    .await
    .expect_error(422, "validation", Some("role"));
    app.put(&uri, &app.admin, json!({"email": "not-an-email"}))
        .await
        .expect_error(422, "validation", Some("email"));
    app.put(&uri, &app.admin, json!({"email": ADMIN_EMAIL}))
        .await
        .expect_error(409, "conflict", Some("email"));
    app.put(&uri, &app.admin, json!({"first_name": "   "}))
        .await
        .expect_error(422, "validation", Some("first_name"));
    app.put(&uri, &app.admin, json!({"is_active": "yes"}))
        .await
        .expect_error(422, "validation", Some("is_active"));
    app.put(&uri, &app.admin, json!({"password": "sneaky password"}))
        .await
        .expect_error(422, "validation", None);
    // Nothing changed.
    let user = app.get(&uri, &app.admin).await.expect(200).body;
    assert_eq!(user["role"], "employee");
    assert_eq!(user["email"], "val@shop.cl");
    assert_eq!(user["first_name"], "Test");
    assert_eq!(user["is_active"], true);
    app.login("val@shop.cl", PASSWORD).await;
}

async fn the_last_active_admin_cannot_be_demoted_or_deactivated(app: TestApp) {
    let admin_id = me_id(&app, &app.admin).await;
    let uri = format!("/api/users/{admin_id}");
    app.put(&uri, &app.admin, json!({"role": "manager"}))
        .await
        .expect_error(409, "conflict", None);
    app.put(&uri, &app.admin, json!({"is_active": false}))
        .await
        .expect_error(409, "conflict", None);
    app.delete(&uri, &app.admin).await.expect_error(409, "conflict", None);
    // Keeping the admin role, or changing only names, is fine.
    app.put(&uri, &app.admin, json!({"role": "admin", "first_name": "Root"}))
        .await
        .expect(200);
    let me = app.get("/api/auth/me", &app.admin).await.expect(200);
    assert_eq!(me.body["role"], "admin");
    assert_eq!(me.body["is_active"], true);

    // An inactive admin does not count.
    let second = create_user_via_api(&app, "second-admin@shop.cl", "admin").await;
    app.delete(&format!("/api/users/{second}"), &app.admin)
        .await
        .expect(204);
    app.put(&uri, &app.admin, json!({"role": "employee"}))
        .await
        .expect_error(409, "conflict", None);

    // With another active admin, the first may step down.
    let third = create_user_via_api(&app, "third-admin@shop.cl", "admin").await;
    let third_token = app.login("third-admin@shop.cl", PASSWORD).await;
    let r = app.put(&uri, &app.admin, json!({"role": "manager"})).await.expect(200);
    assert_eq!(r.body["role"], "manager");
    app.get("/api/users", &app.admin)
        .await
        .expect_error(403, "forbidden", None);
    // Now the third is the last one.
    let third_uri = format!("/api/users/{third}");
    app.put(&third_uri, &third_token, json!({"role": "employee"}))
        .await
        .expect_error(409, "conflict", None);
    app.put(&third_uri, &third_token, json!({"is_active": false}))
        .await
        .expect_error(409, "conflict", None);
    app.delete(&third_uri, &third_token)
        .await
        .expect_error(409, "conflict", None);
    app.get("/api/users", &third_token).await.expect(200);
    // Reactivating the second admin makes room again.
    app.put(
        &format!("/api/users/{second}"),
        &third_token,
        json!({"is_active": true}),
    )
    .await
    .expect(200);
    app.delete(&third_uri, &third_token).await.expect(204);
    app.get("/api/users", &third_token)
        .await
        .expect_error(401, "unauthorized", None);
}

async fn delete_deactivates_and_ends_every_session(app: TestApp) {
    let id = create_user_via_api(&app, "gone@shop.cl", "manager").await;
    let first = app.login_full("gone@shop.cl", PASSWORD).await;
    let second = app.login("gone@shop.cl", PASSWORD).await;
    let access = first["access_token"].as_str().unwrap().to_string();
    let refresh = first["refresh_token"].as_str().unwrap();
    app.get("/api/customers", &access).await.expect(200);
    app.get("/api/customers", &second).await.expect(200);

    let r = app.delete(&format!("/api/users/{id}"), &app.admin).await.expect(204);
    assert_eq!(r.body, json!(null));

    // Kept, marked inactive.
    let user = app.get(&format!("/api/users/{id}"), &app.admin).await.expect(200);
    assert_eq!(user.body["is_active"], false);
    assert_eq!(user.body["email"], "gone@shop.cl");
    let listed = app.get("/api/users?q=gone", &app.admin).await.expect(200);
    assert_eq!(listed.body["total"], 1);

    for token in [&access, &second] {
        app.get("/api/customers", token)
            .await
            .expect_error(401, "unauthorized", None);
    }
    app.post("/api/auth/refresh", (), json!({"refresh_token": refresh}))
        .await
        .expect_error(401, "unauthorized", None);
    app.post(
        "/api/auth/login",
        (),
        json!({"email": "gone@shop.cl", "password": PASSWORD}),
    )
    .await
    .expect_error(401, "unauthorized", None);

    let entries = audit(&app, &format!("resource=user&resource_id={id}&action=update")).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["before"]["is_active"], true);
    assert_eq!(entries[0]["after"]["is_active"], false);

    // The sessions were ended, not just suspended: reactivating does not revive them.
    app.put(&format!("/api/users/{id}"), &app.admin, json!({"is_active": true}))
        .await
        .expect(200);
    for token in [&access, &second] {
        app.get("/api/customers", token)
            .await
            .expect_error(401, "unauthorized", None);
    }
    app.post("/api/auth/refresh", (), json!({"refresh_token": refresh}))
        .await
        .expect_error(401, "unauthorized", None);
    let fresh = app.login("gone@shop.cl", PASSWORD).await;
    app.get("/api/customers", &fresh).await.expect(200);

    app.delete("/api/users/999999", &app.admin)
        .await
        .expect_error(404, "not_found", None);
}

async fn reset_password_checks_policy_and_ends_sessions(app: TestApp) {
    let id = create_user_via_api(&app, "forgot@shop.cl", "employee").await;
    let first = app.login_full("forgot@shop.cl", PASSWORD).await;
    let second = app.login("forgot@shop.cl", PASSWORD).await;
    let access = first["access_token"].as_str().unwrap().to_string();
    let refresh = first["refresh_token"].as_str().unwrap();
    let uri = format!("/api/users/{id}/reset-password");

    app.post(&uri, &app.admin, json!({"new_password": "short"}))
        .await
        .expect_error(422, "validation", Some("new_password"));
    app.post(&uri, &app.admin, json!({"new_password": "          "}))
        .await
        .expect_error(422, "validation", Some("new_password"));
    app.post(&uri, &app.admin, json!({"new_password": "x".repeat(129)}))
        .await
        .expect_error(422, "validation", Some("new_password"));
    app.post(&uri, &app.admin, json!({}))
        .await
        .expect_error(422, "validation", Some("new_password"));
    // Rejected resets change nothing.
    app.get("/api/auth/me", &access).await.expect(200);

    app.post(&uri, &app.admin, json!({"new_password": "brand new secret"}))
        .await
        .expect(204);
    for token in [&access, &second] {
        app.get("/api/auth/me", token)
            .await
            .expect_error(401, "unauthorized", None);
    }
    app.post("/api/auth/refresh", (), json!({"refresh_token": refresh}))
        .await
        .expect_error(401, "unauthorized", None);
    app.post(
        "/api/auth/login",
        (),
        json!({"email": "forgot@shop.cl", "password": PASSWORD}),
    )
    .await
    .expect_error(401, "unauthorized", None);
    let fresh = app.login("forgot@shop.cl", "brand new secret").await;
    app.get("/api/auth/me", &fresh).await.expect(200);

    // The admin's own session is untouched.
    app.get("/api/auth/me", &app.admin).await.expect(200);

    let entries = audit(&app, &format!("resource=user&resource_id={id}&action=change_password")).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["actor_label"], ADMIN_EMAIL);

    app.post(
        "/api/users/999999/reset-password",
        &app.admin,
        json!({"new_password": "brand new secret"}),
    )
    .await
    .expect_error(404, "not_found", None);
}

async fn user_administration_needs_permissions(app: TestApp) {
    let id = create_user_via_api(&app, "target@shop.cl", "employee").await;
    app.get("/api/users", ()).await.expect_error(401, "unauthorized", None);
    for role in ["manager", "employee"] {
        let token = app.token_for_role(role).await;
        app.get("/api/users", &token).await.expect_error(403, "forbidden", None);
        app.get(&format!("/api/users/{id}"), &token)
            .await
            .expect_error(403, "forbidden", None);
        app.post(
            "/api/users",
            &token,
            json!({"email": "x@shop.cl", "password": PASSWORD}),
        )
        .await
        .expect_error(403, "forbidden", None);
        app.put(&format!("/api/users/{id}"), &token, json!({"role": "admin"}))
            .await
            .expect_error(403, "forbidden", None);
        app.delete(&format!("/api/users/{id}"), &token)
            .await
            .expect_error(403, "forbidden", None);
        app.post(
            &format!("/api/users/{id}/reset-password"),
            &token,
            json!({"new_password": "taken over!"}),
        )
        .await
        .expect_error(403, "forbidden", None);
    }
    let target = app.get(&format!("/api/users/{id}"), &app.admin).await.expect(200);
    assert_eq!(target.body["role"], "employee");
    assert_eq!(target.body["is_active"], true);
    app.login("target@shop.cl", PASSWORD).await;

    // A key with users:read may list users but not change them.
    let key = app.api_key(&["users:read"]).await;
    app.get("/api/users", crate::helpers::Auth::ApiKey(key.clone()))
        .await
        .expect(200);
    app.delete(&format!("/api/users/{id}"), crate::helpers::Auth::ApiKey(key))
        .await
        .expect_error(403, "forbidden", None);
}

async fn concurrent_demotions_keep_an_active_admin(app: TestApp) {
    let a = me_id(&app, &app.admin).await;
    let b = create_user_via_api(&app, "b-admin@shop.cl", "admin").await;
    let mut tokens = [app.admin.clone(), app.login("b-admin@shop.cl", PASSWORD).await];
    let ids = [a, b];
    for round in 0..8 {
        // Each admin demotes (or deactivates) the other at the same moment.
        let body = if round % 2 == 0 {
            json!({"role": "manager"})
        } else {
            json!({"is_active": false})
        };
        let (uri0, uri1) = (format!("/api/users/{}", ids[1]), format!("/api/users/{}", ids[0]));
        let (r0, r1) = tokio::join!(
            app.put(&uri0, &tokens[0], body.clone()),
            app.put(&uri1, &tokens[1], body.clone()),
        );
        let statuses = [r0.status.as_u16(), r1.status.as_u16()];
        let winners: Vec<usize> = (0..2).filter(|&i| statuses[i] == 200).collect();
        assert_eq!(winners.len(), 1, "round {round}: statuses {statuses:?}");
        // The other is refused: by the guard (409), or because its caller was already demoted
        // (403) or deactivated (401) when it arrived.
        assert!(
            [401, 403, 409].contains(&statuses[1 - winners[0]]),
            "round {round}: statuses {statuses:?}"
        );
        let winner = winners[0];
        let loser = 1 - winner;
        // The winner is still an active admin; put the other back.
        let users = app
            .get("/api/users?per_page=500", &tokens[winner])
            .await
            .expect(200)
            .body;
        let active_admins = users["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|u| u["role"] == "admin" && u["is_active"] == true)
            .count();
        assert_eq!(active_admins, 1, "round {round}");
        app.put(
            &format!("/api/users/{}", ids[loser]),
            &tokens[winner],
            json!({"role": "admin", "is_active": true}),
        )
        .await
        .expect(200);
        let email = if loser == 0 { ADMIN_EMAIL } else { "b-admin@shop.cl" };
        tokens[loser] = app.login(email, PASSWORD).await;
    }
}

/// `users:*` is not a way to more power: like custom roles and API keys, a user administrator
/// may only give, and only manage, roles whose permissions they hold themselves.
async fn user_administrators_cannot_grant_or_take_over_more_than_they_hold(app: TestApp) {
    let admin_id = me_id(&app, &app.admin).await;
    create_role(
        &app,
        "hr",
        &[
            "users:read",
            "users:create",
            "users:update",
            "users:delete",
            "customers:*",
        ],
    )
    .await;
    create_role(&app, "cashier", &["customers:read", "customers:create"]).await;
    let hr_id = create_user_via_api(&app, "hr@shop.cl", "hr").await;
    let hr = app.login("hr@shop.cl", PASSWORD).await;
    let manager_id = create_user_via_api(&app, "manager@shop.cl", "manager").await;

    // Giving a role beyond one's own permissions, to others or to oneself.
    for role in ["admin", "manager", "employee"] {
        app.post(
            "/api/users",
            &hr,
            json!({"email": format!("new-{role}@shop.cl"), "password": PASSWORD, "role": role}),
        )
        .await
        .expect_error(403, "forbidden", None);
        app.put(&format!("/api/users/{hr_id}"), &hr, json!({"role": role}))
            .await
            .expect_error(403, "forbidden", None);
    }
    app.post(
        "/api/auth/register",
        &hr,
        json!({"email": "reg-admin@shop.cl", "password": PASSWORD, "role": "admin"}),
    )
    .await
    .expect_error(403, "forbidden", None);
    assert_eq!(app.get("/api/auth/me", &hr).await.expect(200).body["role"], "hr");

    // Managing someone who holds more: no password reset (account takeover), no changes.
    for target in [admin_id, manager_id] {
        app.post(
            &format!("/api/users/{target}/reset-password"),
            &hr,
            json!({"new_password": "taken over now"}),
        )
        .await
        .expect_error(403, "forbidden", None);
        app.put(
            &format!("/api/users/{target}"),
            &hr,
            json!({"email": format!("moved-{target}@shop.cl")}),
        )
        .await
        .expect_error(403, "forbidden", None);
        app.delete(&format!("/api/users/{target}"), &hr)
            .await
            .expect_error(403, "forbidden", None);
    }
    app.login(ADMIN_EMAIL, PASSWORD).await;
    app.login("manager@shop.cl", PASSWORD).await;

    // Within their own permissions they administer freely.
    let cashier = app
        .post(
            "/api/users",
            &hr,
            json!({"email": "till@shop.cl", "password": PASSWORD, "role": "cashier"}),
        )
        .await
        .expect(201);
    let cashier_id = cashier.body["id"].as_i64().unwrap();
    app.put(
        &format!("/api/users/{cashier_id}"),
        &hr,
        json!({"first_name": "Till", "role": "hr"}),
    )
    .await
    .expect(200);
    app.put(&format!("/api/users/{cashier_id}"), &hr, json!({"role": "cashier"}))
        .await
        .expect(200);
    app.post(
        &format!("/api/users/{cashier_id}/reset-password"),
        &hr,
        json!({"new_password": "till password"}),
    )
    .await
    .expect(204);
    app.login("till@shop.cl", "till password").await;
    app.delete(&format!("/api/users/{cashier_id}"), &hr).await.expect(204);
    app.put(&format!("/api/users/{hr_id}"), &hr, json!({"first_name": "Helena"}))
        .await
        .expect(200);
    app.get(&format!("/api/users/{admin_id}"), &hr).await.expect(200);
    // Admins may do all of it.
    app.put(&format!("/api/users/{hr_id}"), &app.admin, json!({"role": "manager"}))
        .await
        .expect(200);
}
