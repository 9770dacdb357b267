//! `/api/roles` and `/api/permissions`: built-in roles, custom roles and what they allow,
//! validation of names and permissions, and the rules on built-in and held roles.

use serde_json::{json, Value};

use bodega_domain::permission::CATALOGUE;

use crate::helpers::{TestApp, PASSWORD};
use crate::{audit, create_role, create_user_via_api, me_id, strings};

crate::on_both_stores!(
    built_in_roles_are_listed_as_system_roles,
    a_custom_role_grants_exactly_its_permissions,
    built_in_roles_cannot_be_changed_or_deleted,
    a_role_held_by_a_user_cannot_be_deleted,
    custom_roles_are_updated_and_take_effect_at_once,
    role_names_and_permissions_are_validated,
    the_permission_catalogue_is_listed,
    role_administration_needs_permissions,
);

fn role<'a>(roles: &'a Value, name: &str) -> &'a Value {
    roles
        .as_array()
        .expect("roles")
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("role {name} not listed in {roles}"))
}

async fn built_in_roles_are_listed_as_system_roles(app: TestApp) {
    let roles = app.get("/api/roles", &app.admin).await.expect(200).body;
    assert_eq!(roles.as_array().unwrap().len(), 3, "{roles}");
    for name in ["admin", "manager", "employee"] {
        let r = role(&roles, name);
        assert_eq!(r["is_system"], true, "{r}");
        assert!(!r["description"].as_str().unwrap().is_empty());
        assert!(r["id"].as_i64().is_some());
        assert!(r["created_at"].is_string() && r["updated_at"].is_string());
        let got = app
            .get(&format!("/api/roles/{}", r["id"]), &app.admin)
            .await
            .expect(200);
        assert_eq!(&got.body, r);
    }
    assert_eq!(role(&roles, "admin")["permissions"], json!(["*"]));
    let manager = strings(&role(&roles, "manager")["permissions"]);
    assert!(manager.contains(&"customers:*".to_string()), "{manager:?}");
    assert!(!manager
        .iter()
        .any(|p| p.starts_with("users") || p.starts_with("api_keys")));
    let employee = strings(&role(&roles, "employee")["permissions"]);
    assert!(employee.contains(&"customers:read".to_string()));
    assert!(!employee.contains(&"customers:delete".to_string()));

    app.get("/api/roles/999999", &app.admin)
        .await
        .expect_error(404, "not_found", None);
    app.get("/api/roles/x", &app.admin)
        .await
        .expect_error(400, "bad_request", Some("id"));
}

async fn a_custom_role_grants_exactly_its_permissions(app: TestApp) {
    let created = app
        .post(
            "/api/roles",
            &app.admin,
            json!({"name": "cashier", "description": "Till only", "permissions": ["customers:read", "customers:create"]}),
        )
        .await
        .expect(201);
    assert_eq!(created.body["name"], "cashier");
    assert_eq!(created.body["description"], "Till only");
    assert_eq!(created.body["is_system"], false);
    assert_eq!(
        created.body["permissions"],
        json!(["customers:create", "customers:read"])
    );
    let role_id = created.body["id"].as_i64().unwrap();
    let listed = app.get("/api/roles", &app.admin).await.expect(200).body;
    assert_eq!(role(&listed, "cashier"), &created.body);

    let user = app
        .post(
            "/api/users",
            &app.admin,
            json!({"email": "till@shop.cl", "password": PASSWORD, "first_name": "Till", "role": "cashier"}),
        )
        .await
        .expect(201);
    assert_eq!(user.body["role"], "cashier");
    assert_eq!(user.body["role_id"], role_id);
    let token = app.login("till@shop.cl", PASSWORD).await;
    let me = app.get("/api/auth/me", &token).await.expect(200);
    assert_eq!(me.body["role"], "cashier");
    assert_eq!(me.body["permissions"], json!(["customers:create", "customers:read"]));

    app.get("/api/customers", &token).await.expect(200);
    let customer = app
        .post("/api/customers", &token, json!({"first_name": "Rosa"}))
        .await
        .expect(201);
    let customer_id = customer.body["id"].as_i64().unwrap();
    app.get(&format!("/api/customers/{customer_id}"), &token)
        .await
        .expect(200);
    app.delete(&format!("/api/customers/{customer_id}"), &token)
        .await
        .expect_error(403, "forbidden", None);
    app.put(
        &format!("/api/customers/{customer_id}"),
        &token,
        json!({"first_name": "Rosa María"}),
    )
    .await
    .expect_error(403, "forbidden", None);
    app.get("/api/suppliers", &token)
        .await
        .expect_error(403, "forbidden", None);
    app.post("/api/suppliers", &token, json!({"name": "Acme"}))
        .await
        .expect_error(403, "forbidden", None);
    app.get("/api/employees", &token)
        .await
        .expect_error(403, "forbidden", None);
    app.get("/api/roles", &token).await.expect_error(403, "forbidden", None);
    // The customer is still there.
    let still = app
        .get(&format!("/api/customers/{customer_id}"), &app.admin)
        .await
        .expect(200);
    assert_eq!(still.body["first_name"], "Rosa");

    let entries = audit(&app, &format!("resource=role&resource_id={role_id}")).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["action"], "create");
    assert_eq!(entries[0]["after"]["name"], "cashier");
    assert_eq!(entries[0]["actor_id"], me_id(&app, &app.admin).await);
}

async fn built_in_roles_cannot_be_changed_or_deleted(app: TestApp) {
    let roles = app.get("/api/roles", &app.admin).await.expect(200).body;
    for name in ["admin", "manager", "employee"] {
        let id = role(&roles, name)["id"].as_i64().unwrap();
        app.put(
            &format!("/api/roles/{id}"),
            &app.admin,
            json!({"name": name, "permissions": ["customers:read"]}),
        )
        .await
        .expect_error(409, "conflict", None);
        app.delete(&format!("/api/roles/{id}"), &app.admin)
            .await
            .expect_error(409, "conflict", None);
    }
    let after = app.get("/api/roles", &app.admin).await.expect(200).body;
    assert_eq!(after, roles);
    // The built-in names are taken.
    app.post(
        "/api/roles",
        &app.admin,
        json!({"name": "admin", "permissions": ["customers:read"]}),
    )
    .await
    .expect_error(409, "conflict", Some("name"));
    app.put(
        "/api/roles/999999",
        &app.admin,
        json!({"name": "ghost", "permissions": ["customers:read"]}),
    )
    .await
    .expect_error(404, "not_found", None);
    app.delete("/api/roles/999999", &app.admin)
        .await
        .expect_error(404, "not_found", None);
}

async fn a_role_held_by_a_user_cannot_be_deleted(app: TestApp) {
    let role_id = create_role(&app, "stocker", &["suppliers:read"]).await;
    let user = create_user_via_api(&app, "stocker@shop.cl", "stocker").await;
    app.delete(&format!("/api/roles/{role_id}"), &app.admin)
        .await
        .expect_error(409, "conflict", None);
    // An inactive holder still holds it.
    app.delete(&format!("/api/users/{user}"), &app.admin).await.expect(204);
    app.delete(&format!("/api/roles/{role_id}"), &app.admin)
        .await
        .expect_error(409, "conflict", None);
    app.get(&format!("/api/roles/{role_id}"), &app.admin).await.expect(200);

    app.put(&format!("/api/users/{user}"), &app.admin, json!({"role": "employee"}))
        .await
        .expect(200);
    let r = app
        .delete(&format!("/api/roles/{role_id}"), &app.admin)
        .await
        .expect(204);
    assert_eq!(r.body, json!(null));
    app.get(&format!("/api/roles/{role_id}"), &app.admin)
        .await
        .expect_error(404, "not_found", None);
    app.post(
        "/api/users",
        &app.admin,
        json!({"email": "late@shop.cl", "password": PASSWORD, "role": "stocker"}),
    )
    .await
    .expect_error(422, "validation", Some("role"));
    let entries = audit(&app, &format!("resource=role&resource_id={role_id}&action=delete")).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["before"]["name"], "stocker");
    assert_eq!(entries[0]["after"], json!(null));
    // The name is free again.
    create_role(&app, "stocker", &["suppliers:read"]).await;
}

async fn custom_roles_are_updated_and_take_effect_at_once(app: TestApp) {
    let role_id = create_role(&app, "cashier", &["customers:read", "customers:create"]).await;
    create_user_via_api(&app, "till@shop.cl", "cashier").await;
    let token = app.login("till@shop.cl", PASSWORD).await;
    let customer = app
        .post("/api/customers", &token, json!({"first_name": "Rosa"}))
        .await
        .expect(201);
    let customer_uri = format!("/api/customers/{}", customer.body["id"]);
    app.delete(&customer_uri, &token)
        .await
        .expect_error(403, "forbidden", None);

    let updated = app
        .put(
            &format!("/api/roles/{role_id}"),
            &app.admin,
            json!({"name": "senior-cashier", "description": "More", "permissions": ["customers:*", "suppliers:read"]}),
        )
        .await
        .expect(200);
    assert_eq!(updated.body["name"], "senior-cashier");
    assert_eq!(updated.body["description"], "More");
    assert_eq!(updated.body["permissions"], json!(["customers:*", "suppliers:read"]));
    assert_eq!(updated.body["is_system"], false);

    // Same token, new permissions.
    app.get("/api/suppliers", &token).await.expect(200);
    app.delete(&customer_uri, &token).await.expect(204);
    assert_eq!(app.get("/api/auth/me", &token).await.body["role"], "senior-cashier");

    // Renaming to a taken name conflicts.
    create_role(&app, "auditor", &["audit:read"]).await;
    app.put(
        &format!("/api/roles/{role_id}"),
        &app.admin,
        json!({"name": "auditor", "permissions": ["customers:read"]}),
    )
    .await
    .expect_error(409, "conflict", Some("name"));
    let entries = audit(&app, &format!("resource=role&resource_id={role_id}&action=update")).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["before"]["name"], "cashier");
    assert_eq!(entries[0]["after"]["name"], "senior-cashier");
}

async fn role_names_and_permissions_are_validated(app: TestApp) {
    for bad in [
        json!(["nothing:read"]),
        json!(["customers:fly"]),
        json!(["customers"]),
        json!(["customers:read", "audit:delete"]),
        json!([]),
    ] {
        app.post("/api/roles", &app.admin, json!({"name": "cashier", "permissions": bad}))
            .await
            .expect_error(422, "validation", Some("permissions"));
    }
    app.post(
        "/api/roles",
        &app.admin,
        json!({"name": "cashier", "permissions": "customers:read"}),
    )
    .await
    .expect_error(422, "validation", Some("permissions"));
    let long = "x".repeat(51);
    for bad in [
        "Cashier Role",
        "cashier role",
        "CASHIER",
        "caja!",
        "",
        "   ",
        long.as_str(),
    ] {
        app.post(
            "/api/roles",
            &app.admin,
            json!({"name": bad, "permissions": ["customers:read"]}),
        )
        .await
        .expect_error(422, "validation", Some("name"));
    }
    app.post("/api/roles", &app.admin, json!({"permissions": ["customers:read"]}))
        .await
        .expect_error(422, "validation", Some("name"));
    app.post(
        "/api/roles",
        &app.admin,
        json!({"name": "cashier", "permissions": ["customers:read"], "colour": "red"}),
    )
    .await
    .expect_error(422, "validation", None);
    app.post(
        "/api/roles",
        &app.admin,
        json!({"name": "cashier", "permissions": ["customers:read"], "description": "x".repeat(501)}),
    )
    .await
    .expect_error(422, "validation", Some("description"));
    // None of the above was created.
    assert_eq!(
        app.get("/api/roles", &app.admin).await.body.as_array().unwrap().len(),
        3
    );

    // Names with digits, '_' and '-' are fine; wildcards too.
    let r = app
        .post(
            "/api/roles",
            &app.admin,
            json!({"name": "shift_2-lead", "permissions": ["customers:*", "audit:read"]}),
        )
        .await
        .expect(201);
    assert_eq!(r.body["permissions"], json!(["audit:read", "customers:*"]));
    app.post(
        "/api/roles",
        &app.admin,
        json!({"name": "shift_2-lead", "permissions": ["customers:read"]}),
    )
    .await
    .expect_error(409, "conflict", Some("name"));
    // An update is validated alike.
    let id = r.body["id"].as_i64().unwrap();
    app.put(
        &format!("/api/roles/{id}"),
        &app.admin,
        json!({"name": "Shift Lead", "permissions": ["customers:read"]}),
    )
    .await
    .expect_error(422, "validation", Some("name"));
    app.put(
        &format!("/api/roles/{id}"),
        &app.admin,
        json!({"name": "shift_2-lead", "permissions": ["customers:fly"]}),
    )
    .await
    .expect_error(422, "validation", Some("permissions"));
}

async fn the_permission_catalogue_is_listed(app: TestApp) {
    let r = app.get("/api/permissions", &app.admin).await.expect(200);
    let expected: Vec<Value> = CATALOGUE
        .iter()
        .map(|(resource, actions)| json!({"resource": resource, "actions": actions}))
        .collect();
    assert_eq!(r.body, Value::Array(expected));
    let entries = r.body.as_array().unwrap();
    let find = |name: &str| {
        entries
            .iter()
            .find(|e| e["resource"] == name)
            .unwrap_or_else(|| panic!("{name} missing"))
    };
    assert_eq!(
        find("customers")["actions"],
        json!(["read", "create", "update", "delete"])
    );
    assert_eq!(find("api_keys")["actions"], json!(["read", "create", "delete"]));
    assert_eq!(find("audit")["actions"], json!(["read"]));
    for resource in ["users", "roles", "employees", "suppliers"] {
        find(resource);
    }
    // Every listed permission is accepted by a role.
    let all: Vec<String> = entries
        .iter()
        .flat_map(|e| {
            let resource = e["resource"].as_str().unwrap().to_string();
            strings(&e["actions"])
                .into_iter()
                .map(move |a| format!("{resource}:{a}"))
        })
        .collect();
    app.post(
        "/api/roles",
        &app.admin,
        json!({"name": "everything", "permissions": all}),
    )
    .await
    .expect(201);

    app.get("/api/permissions", ())
        .await
        .expect_error(401, "unauthorized", None);
    let manager = app.token_for_role("manager").await;
    app.get("/api/permissions", &manager)
        .await
        .expect_error(403, "forbidden", None);
}

async fn role_administration_needs_permissions(app: TestApp) {
    let role_id = create_role(&app, "cashier", &["customers:read"]).await;
    for role in ["manager", "employee"] {
        let token = app.token_for_role(role).await;
        app.get("/api/roles", &token).await.expect_error(403, "forbidden", None);
        app.get(&format!("/api/roles/{role_id}"), &token)
            .await
            .expect_error(403, "forbidden", None);
        app.post(
            "/api/roles",
            &token,
            json!({"name": "mine", "permissions": ["customers:read"]}),
        )
        .await
        .expect_error(403, "forbidden", None);
        app.put(
            &format!("/api/roles/{role_id}"),
            &token,
            json!({"name": "cashier", "permissions": ["customers:*"]}),
        )
        .await
        .expect_error(403, "forbidden", None);
        app.delete(&format!("/api/roles/{role_id}"), &token)
            .await
            .expect_error(403, "forbidden", None);
    }
    app.get("/api/roles", ()).await.expect_error(401, "unauthorized", None);

    // A role administrator cannot hand out more than they hold.
    create_role(
        &app,
        "role-admin",
        &["roles:read", "roles:create", "roles:update", "customers:read"],
    )
    .await;
    create_user_via_api(&app, "roles@shop.cl", "role-admin").await;
    let token = app.login("roles@shop.cl", PASSWORD).await;
    app.post(
        "/api/roles",
        &token,
        json!({"name": "sneaky", "permissions": ["suppliers:read"]}),
    )
    .await
    .expect_error(403, "forbidden", None);
    app.post("/api/roles", &token, json!({"name": "sneaky", "permissions": ["*"]}))
        .await
        .expect_error(403, "forbidden", None);
    app.post(
        "/api/roles",
        &token,
        json!({"name": "sneaky", "permissions": ["customers:*"]}),
    )
    .await
    .expect_error(403, "forbidden", None);
    app.put(
        &format!("/api/roles/{role_id}"),
        &token,
        json!({"name": "cashier", "permissions": ["users:delete"]}),
    )
    .await
    .expect_error(403, "forbidden", None);
    let ok = app
        .post(
            "/api/roles",
            &token,
            json!({"name": "reader", "permissions": ["customers:read"]}),
        )
        .await
        .expect(201);
    assert_eq!(ok.body["is_system"], false);
    app.delete(&format!("/api/roles/{}", ok.body["id"]), &token)
        .await
        .expect_error(403, "forbidden", None);
}
