//! Create, read, replace and soft delete of each kind, with every change in the audit log.

use serde_json::{json, Value};

use crate::common::{
    audit_of, create, id_of, request_id, total, Kind, CUSTOMERS, EMPLOYEES, KINDS, RUT_A, RUT_A_CANONICAL, RUT_B,
    RUT_B_CANONICAL, SUPPLIERS,
};
use crate::helpers::{create_user, TestApp, ADMIN_EMAIL};

crate::on_both_stores!(
    customer_life_cycle,
    employee_life_cycle,
    supplier_life_cycle,
    unknown_ids_are_not_found,
    employee_links_to_a_user_once,
    employee_codes_are_unique_among_live_employees,
    supplier_lead_time_defaults_and_bounds,
    permissions_guard_every_action,
);

/// The life cycle every kind shares: create (201) → read → replace (every field, omitted
/// optional fields become null) → soft delete (204; then 404, gone from the list, e-mail and RUT
/// free again), each change audited with before/after and the request id of the change.
async fn life_cycle(app: &TestApp, kind: Kind, first: Value, second: Value) -> (Value, Value) {
    let created_r = app.post(kind.path, &app.admin, first.clone()).await.expect(201);
    let created = created_r.body.clone();
    let id = id_of(&created);
    assert!(id > 0);
    assert_eq!(created["email"], "ana.perez@tienda.cl", "e-mail stored lower-case");
    assert_eq!(created["rut"], RUT_A_CANONICAL, "RUT stored in canonical form");
    assert!(created["created_at"].is_string());
    assert_eq!(created["created_at"], created["updated_at"]);
    assert!(created.get("deleted_at").is_none(), "{created}");

    let read = app.get(&kind.item(id), &app.admin).await.expect(200);
    assert_eq!(read.body, created);
    let listed = app.get(kind.path, &app.admin).await.expect(200);
    assert_eq!(listed.body["total"], 1);
    assert_eq!(listed.body["items"][0], created);

    // PUT replaces the whole record.
    let replaced_r = app.put(&kind.item(id), &app.admin, second.clone()).await.expect(200);
    let replaced = replaced_r.body.clone();
    assert_eq!(id_of(&replaced), id);
    assert_eq!(replaced["email"], "otro@tienda.cl");
    assert_eq!(replaced["rut"], RUT_B_CANONICAL);
    assert_eq!(replaced["phone"], Value::Null, "omitted optional fields are cleared");
    assert_eq!(replaced["created_at"], created["created_at"]);
    assert!(timestamp(&replaced["updated_at"]) >= timestamp(&created["updated_at"]));
    let read = app.get(&kind.item(id), &app.admin).await.expect(200);
    assert_eq!(read.body, replaced);

    // DELETE is soft: the record leaves reads and listings.
    let deleted_r = app.delete(&kind.item(id), &app.admin).await.expect(204);
    assert_eq!(deleted_r.body, Value::Null, "204 has no body");
    app.get(&kind.item(id), &app.admin)
        .await
        .expect_error(404, "not_found", None);
    assert_eq!(total(app, kind.path).await, 0);
    app.put(&kind.item(id), &app.admin, second.clone())
        .await
        .expect_error(404, "not_found", None);
    app.delete(&kind.item(id), &app.admin)
        .await
        .expect_error(404, "not_found", None);

    // Its e-mail and RUT are free for a new record.
    let again = create(app, kind, second.clone()).await;
    assert_ne!(id_of(&again), id);
    assert_eq!(again["email"], "otro@tienda.cl");
    assert_eq!(again["rut"], RUT_B_CANONICAL);
    assert_eq!(total(app, kind.path).await, 1);

    // Three audit entries, newest first, each carrying the request id of its change.
    let audit = audit_of(app, kind, id).await;
    assert_eq!(audit.len(), 3, "{audit:?}");
    let (delete, update, create_entry) = (&audit[0], &audit[1], &audit[2]);
    for (entry, action, response) in [
        (create_entry, "create", &created_r),
        (update, "update", &replaced_r),
        (delete, "delete", &deleted_r),
    ] {
        assert_eq!(entry["action"], action, "{entry}");
        assert_eq!(entry["resource"], kind.resource, "{entry}");
        assert_eq!(entry["resource_id"], id.to_string(), "{entry}");
        assert_eq!(entry["actor_kind"], "user", "{entry}");
        assert_eq!(entry["actor_label"], ADMIN_EMAIL, "{entry}");
        assert_eq!(entry["request_id"], request_id(response), "{entry}");
    }
    assert_eq!(create_entry["before"], Value::Null);
    assert_eq!(create_entry["after"], created);
    assert_eq!(update["before"], created);
    assert_eq!(update["after"], replaced);
    assert_eq!(delete["before"], replaced);
    assert_eq!(delete["after"], Value::Null);
    (created, replaced)
}

fn timestamp(value: &Value) -> chrono::DateTime<chrono::Utc> {
    value.as_str().expect("timestamp").parse().expect("RFC 3339 timestamp")
}

async fn customer_life_cycle(app: TestApp) {
    let first = json!({
        "first_name": "  Ana María ",
        "last_name": "Pérez",
        "email": "Ana.Perez@Tienda.CL",
        "phone": "+56 9 1234 5678",
        "address": "Av. Providencia 1234, Santiago",
        "rut": RUT_A,
        "notes": "Cliente frecuente",
    });
    let second = json!({"first_name": "Ana", "email": "otro@tienda.cl", "rut": RUT_B});
    let (created, replaced) = life_cycle(&app, CUSTOMERS, first, second).await;
    assert_eq!(created["first_name"], "Ana María", "text is trimmed");
    assert_eq!(created["last_name"], "Pérez");
    assert_eq!(created["phone"], "+56 9 1234 5678");
    assert_eq!(created["address"], "Av. Providencia 1234, Santiago");
    assert_eq!(created["notes"], "Cliente frecuente");
    assert_eq!(replaced["first_name"], "Ana");
    assert_eq!(replaced["last_name"], "", "last_name defaults to empty");
    assert_eq!(replaced["address"], Value::Null);
    assert_eq!(replaced["notes"], Value::Null);
}

async fn employee_life_cycle(app: TestApp) {
    let user_id = create_user(&app.state, "cajera@test.cl", "admin").await;
    let first = json!({
        "employee_code": "E-0001",
        "first_name": "Ana",
        "last_name": "Pérez",
        "email": "ana.perez@tienda.cl",
        "phone": "+56 2 2345 6789",
        "rut": RUT_A,
        "department": "Ventas",
        "position": "Cajera",
        "hire_date": "2024-03-01",
        "salary": 650_000,
        "user_id": user_id,
    });
    let second = json!({
        "employee_code": "E-0002",
        "first_name": "Ana",
        "email": "otro@tienda.cl",
        "rut": RUT_B,
        "salary": 0,
    });
    let (created, replaced) = life_cycle(&app, EMPLOYEES, first, second).await;
    assert_eq!(created["employee_code"], "E-0001");
    assert_eq!(created["department"], "Ventas");
    assert_eq!(created["position"], "Cajera");
    assert_eq!(created["hire_date"], "2024-03-01");
    assert_eq!(created["salary"], 650_000);
    assert_eq!(created["user_id"], user_id);
    assert_eq!(replaced["employee_code"], "E-0002");
    assert_eq!(replaced["salary"], 0);
    assert_eq!(replaced["hire_date"], Value::Null);
    assert_eq!(replaced["user_id"], Value::Null);
    assert_eq!(replaced["department"], Value::Null);
}

async fn supplier_life_cycle(app: TestApp) {
    let first = json!({
        "name": "Distribuidora Andes SpA",
        "contact_name": "Ana Pérez",
        "email": "ANA.PEREZ@tienda.cl",
        "phone": "+56 2 2222 2222",
        "address": "Camino a Melipilla 1000",
        "rut": RUT_A,
        "lead_time_days": 14,
    });
    let second = json!({"name": "Andes Ltda", "email": "otro@tienda.cl", "rut": RUT_B});
    let (created, replaced) = life_cycle(&app, SUPPLIERS, first, second).await;
    assert_eq!(created["name"], "Distribuidora Andes SpA");
    assert_eq!(created["contact_name"], "Ana Pérez");
    assert_eq!(created["lead_time_days"], 14);
    assert_eq!(replaced["name"], "Andes Ltda");
    assert_eq!(replaced["contact_name"], Value::Null);
    assert_eq!(replaced["lead_time_days"], 7, "an omitted lead time is the default, 7");
}

async fn unknown_ids_are_not_found(app: TestApp) {
    for kind in KINDS {
        let existing = id_of(&create(&app, kind, kind.minimal(1)).await);
        for id in [existing + 1, 999_999, i64::MAX] {
            let uri = kind.item(id);
            app.get(&uri, &app.admin).await.expect_error(404, "not_found", None);
            app.put(&uri, &app.admin, kind.minimal(2))
                .await
                .expect_error(404, "not_found", None);
            app.delete(&uri, &app.admin).await.expect_error(404, "not_found", None);
        }
        assert_eq!(total(&app, kind.path).await, 1);
        assert_eq!(audit_of(&app, kind, existing + 1).await.len(), 0);
    }
}

async fn employee_links_to_a_user_once(app: TestApp) {
    let user_id = create_user(&app.state, "vendedor@test.cl", "admin").await;
    let mut body = EMPLOYEES.minimal(1);
    body["user_id"] = json!(user_id);
    let first = create(&app, EMPLOYEES, body).await;
    assert_eq!(first["user_id"], user_id);

    // A second live employee cannot claim the same account.
    let mut other = EMPLOYEES.minimal(2);
    other["user_id"] = json!(user_id);
    app.post(EMPLOYEES.path, &app.admin, other.clone())
        .await
        .expect_error(409, "conflict", Some("user_id"));
    // Once the first leaves, it can.
    app.delete(&EMPLOYEES.item(id_of(&first)), &app.admin).await.expect(204);
    let second = create(&app, EMPLOYEES, other).await;
    assert_eq!(second["user_id"], user_id);
}

async fn employee_codes_are_unique_among_live_employees(app: TestApp) {
    let first = create(&app, EMPLOYEES, EMPLOYEES.minimal(1)).await;
    let mut same_code = EMPLOYEES.minimal(2);
    same_code["employee_code"] = json!("E-0001");
    app.post(EMPLOYEES.path, &app.admin, same_code.clone())
        .await
        .expect_error(409, "conflict", Some("employee_code"));
    let second = create(&app, EMPLOYEES, EMPLOYEES.minimal(2)).await;
    app.put(&EMPLOYEES.item(id_of(&second)), &app.admin, same_code.clone())
        .await
        .expect_error(409, "conflict", Some("employee_code"));
    assert_eq!(
        app.get(&EMPLOYEES.item(id_of(&second)), &app.admin)
            .await
            .expect(200)
            .body,
        second,
        "a rejected replace changes nothing"
    );
    app.delete(&EMPLOYEES.item(id_of(&first)), &app.admin).await.expect(204);
    app.put(&EMPLOYEES.item(id_of(&second)), &app.admin, same_code)
        .await
        .expect(200);
}

async fn supplier_lead_time_defaults_and_bounds(app: TestApp) {
    let default = create(&app, SUPPLIERS, SUPPLIERS.minimal(1)).await;
    assert_eq!(default["lead_time_days"], 7);
    for (n, days) in [(2, 0), (3, 365)] {
        let mut body = SUPPLIERS.minimal(n);
        body["lead_time_days"] = json!(days);
        assert_eq!(create(&app, SUPPLIERS, body).await["lead_time_days"], days);
    }
}

/// Each action needs its own permission, for signed-in users and API keys alike; a key's
/// changes are audited under the key.
async fn permissions_guard_every_action(app: TestApp) {
    for kind in KINDS {
        let record = create(&app, kind, kind.minimal(1)).await;
        let id = id_of(&record);
        let resource = kind.path.trim_start_matches("/api/");

        app.get(kind.path, ()).await.expect_error(401, "unauthorized", None);
        app.get(&kind.item(id), ())
            .await
            .expect_error(401, "unauthorized", None);

        let reader = app.api_key(&[&format!("{resource}:read")]).await;
        let reader = crate::helpers::Auth::ApiKey(reader);
        app.get(kind.path, reader.clone()).await.expect(200);
        app.get(&kind.item(id), reader.clone()).await.expect(200);
        app.post(kind.path, reader.clone(), kind.minimal(2))
            .await
            .expect_error(403, "forbidden", None);
        app.put(&kind.item(id), reader.clone(), kind.minimal(2))
            .await
            .expect_error(403, "forbidden", None);
        app.delete(&kind.item(id), reader.clone())
            .await
            .expect_error(403, "forbidden", None);
        assert_eq!(app.get(&kind.item(id), &app.admin).await.expect(200).body, record);

        let writer = app.api_key(&[&format!("{resource}:*")]).await;
        let writer = crate::helpers::Auth::ApiKey(writer);
        let r = app.post(kind.path, writer.clone(), kind.minimal(3)).await.expect(201);
        let audit = audit_of(&app, kind, id_of(&r.body)).await;
        assert_eq!(audit.len(), 1);
        assert_eq!(audit[0]["actor_kind"], "api_key");
        assert_eq!(audit[0]["request_id"], request_id(&r));
        app.delete(&kind.item(id), writer).await.expect(204);
    }
}
