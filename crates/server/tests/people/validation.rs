//! Well-formed JSON that breaks a rule: 422 `validation` naming the field, nothing written.

use serde_json::{json, Value};

use crate::common::{create, id_of, snapshot, Kind, CUSTOMERS, EMPLOYEES, KINDS, SUPPLIERS};
use crate::helpers::{create_user, TestApp};

crate::on_both_stores!(
    required_names_must_not_be_blank,
    emails_must_be_valid,
    text_lengths_and_control_characters,
    employee_rules,
    supplier_lead_time_is_bounded,
    unknown_fields_are_rejected,
    wrong_json_types_name_the_field,
    missing_required_fields_are_named,
    repeated_json_keys_name_the_field,
);

/// POSTs `body` and PUTs it over an existing record; both must be 422 on `field`, and neither
/// may change anything.
async fn rejected_on(app: &TestApp, kind: Kind, body: Value, field: &str) {
    let record = create(app, kind, kind.minimal(900)).await;
    let before = snapshot(app).await;
    app.post(kind.path, &app.admin, body.clone())
        .await
        .expect_error(422, "validation", Some(field));
    app.put(&kind.item(id_of(&record)), &app.admin, body)
        .await
        .expect_error(422, "validation", Some(field));
    assert_eq!(snapshot(app).await, before, "{} {field}", kind.path);
    assert_eq!(
        app.get(&kind.item(id_of(&record)), &app.admin).await.expect(200).body,
        record
    );
    app.delete(&kind.item(id_of(&record)), &app.admin).await.expect(204);
}

fn with(kind: Kind, field: &str, value: Value) -> Value {
    let mut body = kind.minimal(1);
    body[field] = value;
    body
}

async fn required_names_must_not_be_blank(app: TestApp) {
    for kind in KINDS {
        for blank in ["", "   ", "\t\n"] {
            rejected_on(
                &app,
                kind,
                with(kind, kind.name_field(), json!(blank)),
                kind.name_field(),
            )
            .await;
        }
    }
    rejected_on(
        &app,
        EMPLOYEES,
        with(EMPLOYEES, "employee_code", json!(" ")),
        "employee_code",
    )
    .await;
}

async fn emails_must_be_valid(app: TestApp) {
    for kind in KINDS {
        for bad in [
            "ana",
            "ana@",
            "@tienda.cl",
            "ana@tienda",
            "a b@tienda.cl",
            "a@@tienda.cl",
            "a@tienda..cl",
        ] {
            rejected_on(&app, kind, with(kind, "email", json!(bad)), "email").await;
        }
    }
}

async fn text_lengths_and_control_characters(app: TestApp) {
    let long = |n: usize| json!("x".repeat(n));
    rejected_on(&app, CUSTOMERS, with(CUSTOMERS, "first_name", long(101)), "first_name").await;
    rejected_on(&app, CUSTOMERS, with(CUSTOMERS, "last_name", long(101)), "last_name").await;
    rejected_on(&app, CUSTOMERS, with(CUSTOMERS, "notes", long(2001)), "notes").await;
    rejected_on(&app, CUSTOMERS, with(CUSTOMERS, "phone", long(41)), "phone").await;
    rejected_on(
        &app,
        EMPLOYEES,
        with(EMPLOYEES, "employee_code", long(41)),
        "employee_code",
    )
    .await;
    rejected_on(&app, SUPPLIERS, with(SUPPLIERS, "name", long(201)), "name").await;
    rejected_on(&app, SUPPLIERS, with(SUPPLIERS, "address", long(301)), "address").await;
    // The limits count characters, not bytes.
    let at_limit = create(&app, CUSTOMERS, with(CUSTOMERS, "first_name", json!("ñ".repeat(100)))).await;
    assert_eq!(at_limit["first_name"].as_str().map(|s| s.chars().count()), Some(100));
    // NUL and other control characters are refused in every text field (PostgreSQL cannot
    // store NUL in text at all); new lines and tabs are allowed in free text.
    rejected_on(
        &app,
        CUSTOMERS,
        with(CUSTOMERS, "first_name", json!("Ana\u{0}")),
        "first_name",
    )
    .await;
    rejected_on(&app, CUSTOMERS, with(CUSTOMERS, "notes", json!("a\u{0}b")), "notes").await;
    rejected_on(&app, CUSTOMERS, with(CUSTOMERS, "address", json!("a\u{7}b")), "address").await;
    rejected_on(
        &app,
        EMPLOYEES,
        with(EMPLOYEES, "department", json!("\u{1b}[31m")),
        "department",
    )
    .await;
    rejected_on(
        &app,
        SUPPLIERS,
        with(SUPPLIERS, "contact_name", json!("x\u{0}")),
        "contact_name",
    )
    .await;
    rejected_on(&app, SUPPLIERS, with(SUPPLIERS, "email", json!("a\u{0}@b.cl")), "email").await;
    let notes = create(&app, CUSTOMERS, with(CUSTOMERS, "notes", json!("línea 1\n\tlínea 2"))).await;
    assert_eq!(notes["notes"], "línea 1\n\tlínea 2");
}

async fn employee_rules(app: TestApp) {
    rejected_on(&app, EMPLOYEES, with(EMPLOYEES, "salary", json!(-1)), "salary").await;
    rejected_on(&app, EMPLOYEES, with(EMPLOYEES, "salary", json!(i64::MIN)), "salary").await;
    let big = create(&app, EMPLOYEES, with(EMPLOYEES, "salary", json!(i64::MAX))).await;
    assert_eq!(big["salary"], i64::MAX);
    app.delete(&EMPLOYEES.item(id_of(&big)), &app.admin).await.expect(204);

    // A user id that names no user.
    for missing in [999_999, 0, -5, i64::MAX] {
        rejected_on(&app, EMPLOYEES, with(EMPLOYEES, "user_id", json!(missing)), "user_id").await;
    }
    let user_id = create_user(&app.state, "bodeguero@test.cl", "admin").await;
    let linked = create(&app, EMPLOYEES, with(EMPLOYEES, "user_id", json!(user_id))).await;
    assert_eq!(linked["user_id"], user_id);

    // Dates must be real calendar dates in YYYY-MM-DD.
    for bad in ["2024-02-30", "01-03-2024", "2024/03/01", "ayer", ""] {
        rejected_on(&app, EMPLOYEES, with(EMPLOYEES, "hire_date", json!(bad)), "hire_date").await;
    }
}

async fn supplier_lead_time_is_bounded(app: TestApp) {
    for bad in [json!(400), json!(366), json!(-1), json!(i64::MAX)] {
        rejected_on(
            &app,
            SUPPLIERS,
            with(SUPPLIERS, "lead_time_days", bad),
            "lead_time_days",
        )
        .await;
    }
}

async fn unknown_fields_are_rejected(app: TestApp) {
    for kind in KINDS {
        for extra in ["nickname", "id", "created_at", "deleted_at", "FIRST_NAME"] {
            let body = with(kind, extra, json!("x"));
            let before = snapshot(&app).await;
            let r = app
                .post(kind.path, &app.admin, body)
                .await
                .expect_error(422, "validation", None);
            let message = r.body["error"]["message"].as_str().unwrap_or_default();
            assert!(message.contains(extra), "{extra}: {message}");
            assert_eq!(snapshot(&app).await, before);
        }
    }
    // A field of another kind is unknown here.
    rejected_on(&app, CUSTOMERS, with(CUSTOMERS, "salary", json!(1)), "salary").await;
    rejected_on(
        &app,
        SUPPLIERS,
        with(SUPPLIERS, "first_name", json!("Ana")),
        "first_name",
    )
    .await;
}

async fn wrong_json_types_name_the_field(app: TestApp) {
    let cases: Vec<(Kind, &str, Value)> = vec![
        (EMPLOYEES, "salary", json!("abc")),
        (EMPLOYEES, "salary", json!("1000")),
        (EMPLOYEES, "salary", json!(1.5)),
        (EMPLOYEES, "salary", json!(1e30)),
        (EMPLOYEES, "salary", json!(true)),
        (EMPLOYEES, "user_id", json!("1")),
        (EMPLOYEES, "hire_date", json!(20240301)),
        (EMPLOYEES, "employee_code", json!(17)),
        (CUSTOMERS, "first_name", json!(5)),
        (CUSTOMERS, "first_name", Value::Null),
        (CUSTOMERS, "last_name", json!(["Pérez"])),
        (CUSTOMERS, "email", json!({"address": "a@b.cl"})),
        (CUSTOMERS, "notes", json!(false)),
        (SUPPLIERS, "name", json!({})),
        (SUPPLIERS, "lead_time_days", json!("7")),
        (SUPPLIERS, "lead_time_days", json!(7.5)),
        (SUPPLIERS, "phone", json!(56_912_345_678_i64)),
    ];
    for (kind, field, value) in cases {
        let before = snapshot(&app).await;
        let r = app.post(kind.path, &app.admin, with(kind, field, value.clone())).await;
        let r = r.expect_error(422, "validation", Some(field));
        assert!(
            !r.body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains(" at line "),
            "no parser positions in messages: {}",
            r.body
        );
        assert_eq!(snapshot(&app).await, before, "{field} = {value}");
    }
}

async fn missing_required_fields_are_named(app: TestApp) {
    let cases: Vec<(Kind, Value, &str)> = vec![
        (CUSTOMERS, json!({}), "first_name"),
        (
            CUSTOMERS,
            json!({"last_name": "Pérez", "email": "a@b.cl"}),
            "first_name",
        ),
        (EMPLOYEES, json!({"first_name": "Ana"}), "employee_code"),
        (EMPLOYEES, json!({"employee_code": "E-1"}), "first_name"),
        (SUPPLIERS, json!({}), "name"),
        (SUPPLIERS, json!({"contact_name": "Ana"}), "name"),
    ];
    for (kind, body, field) in cases {
        let record = create(&app, kind, kind.minimal(1)).await;
        let before = snapshot(&app).await;
        let r = app
            .post(kind.path, &app.admin, body.clone())
            .await
            .expect_error(422, "validation", Some(field));
        assert!(r.body["error"]["message"].as_str().unwrap_or_default().contains(field));
        // PUT replaces everything, so it needs the required fields too.
        app.put(&kind.item(id_of(&record)), &app.admin, body)
            .await
            .expect_error(422, "validation", Some(field));
        assert_eq!(snapshot(&app).await, before);
        assert_eq!(
            app.get(&kind.item(id_of(&record)), &app.admin).await.expect(200).body,
            record
        );
        app.delete(&kind.item(id_of(&record)), &app.admin).await.expect(204);
    }
}

/// A key given twice is ambiguous: refused, naming it, whichever of the values is valid.
async fn repeated_json_keys_name_the_field(app: TestApp) {
    let cases: [(Kind, &str, &str); 4] = [
        (CUSTOMERS, r#"{"first_name":"Ana","first_name":"Bea"}"#, "first_name"),
        (
            CUSTOMERS,
            r#"{"first_name":"Ana","rut":"12.345.678-5","rut":"11.111.111-1"}"#,
            "rut",
        ),
        (
            EMPLOYEES,
            r#"{"employee_code":"E-1","first_name":"Ana","salary":1,"salary":-1}"#,
            "salary",
        ),
        (SUPPLIERS, r#"{"name":"Andes","email":null,"email":"a@b.cl"}"#, "email"),
    ];
    for (kind, body, field) in cases {
        let before = snapshot(&app).await;
        let request = axum::http::Request::builder()
            .method("POST")
            .uri(kind.path)
            .header("authorization", format!("Bearer {}", app.admin))
            .header("content-type", "application/json")
            .body(axum::body::Body::from(body))
            .expect("request");
        app.send(request).await.expect_error(422, "validation", Some(field));
        assert_eq!(snapshot(&app).await, before);
    }
}
