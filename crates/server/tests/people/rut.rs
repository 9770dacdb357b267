//! Chilean RUT through the API: every accepted format stored canonically (`12345678-5`, `K`
//! upper-case), wrong check digits and malformed values rejected on `rut`, and uniqueness
//! among live records judged on the canonical form.

use serde_json::{json, Value};

use crate::common::{
    assert_rejected, create, id_of, snapshot, Kind, CUSTOMERS, EMPLOYEES, KINDS, RUT_A, RUT_A_CANONICAL, RUT_B,
    SUPPLIERS,
};
use crate::helpers::TestApp;

crate::on_both_stores!(
    accepted_formats_are_stored_canonically,
    k_check_digit_in_either_case,
    wrong_check_digit_is_rejected,
    malformed_ruts_are_rejected,
    duplicate_rut_and_email_conflict,
    blank_rut_and_email_are_absent,
);

/// Valid vectors: (as typed, canonical). Check digits computed independently (modulo 11).
const VECTORS: &[(&str, &str)] = &[
    ("12.345.678-5", "12345678-5"),
    ("123456785", "12345678-5"),
    ("12345678-5", "12345678-5"),
    (" 11.111.111-1 ", "11111111-1"),
    ("7.654.321-6", "7654321-6"),
    ("76.086.428-5", "76086428-5"),
    ("1.000.000-9", "1000000-9"),
    ("9876543-3", "9876543-3"),
    ("20.000.003-K", "20000003-K"),
    ("20000003-k", "20000003-K"),
    ("19.000.001-k", "19000001-K"),
    ("10000013K", "10000013-K"),
    ("1-9", "1-9"),
];

async fn accepted_formats_are_stored_canonically(app: TestApp) {
    for kind in KINDS {
        for (n, (typed, canonical)) in VECTORS.iter().enumerate() {
            let n = n as u32 + 1;
            let created = app
                .post(kind.path, &app.admin, with_rut(kind, n, typed))
                .await
                .expect(201);
            let id = id_of(&created.body);
            assert_eq!(created.body["rut"], *canonical, "{typed} on {}", kind.path);
            let read = app.get(&kind.item(id), &app.admin).await.expect(200);
            assert_eq!(read.body["rut"], *canonical);
            // Found again by the form it was typed in.
            let by_rut = app
                .get(&format!("{}?rut={}", kind.path, typed.trim()), &app.admin)
                .await
                .expect(200);
            assert_eq!(by_rut.body["total"], 1, "{typed}");
            assert_eq!(by_rut.body["items"][0]["id"], id);
            // Free the RUT for the next vector of the same number.
            app.delete(&kind.item(id), &app.admin).await.expect(204);
        }
        // PUT normalises as POST does.
        let record = create(&app, kind, kind.minimal(100)).await;
        let replaced = app
            .put(&kind.item(id_of(&record)), &app.admin, with_rut(kind, 100, "123456785"))
            .await
            .expect(200);
        assert_eq!(replaced.body["rut"], RUT_A_CANONICAL);
    }
}

async fn k_check_digit_in_either_case(app: TestApp) {
    let upper = create(&app, CUSTOMERS, with_rut(CUSTOMERS, 1, "20.000.003-K")).await;
    assert_eq!(upper["rut"], "20000003-K");
    // Lower-case k is the same RUT: a duplicate among customers...
    app.post(CUSTOMERS.path, &app.admin, with_rut(CUSTOMERS, 2, "20000003-k"))
        .await
        .expect_error(409, "conflict", Some("rut"));
    // ...and stored upper-case elsewhere.
    let lower = create(&app, SUPPLIERS, with_rut(SUPPLIERS, 1, "20000003-k")).await;
    assert_eq!(lower["rut"], "20000003-K");
    let employee = create(&app, EMPLOYEES, with_rut(EMPLOYEES, 1, "20.000.003-k")).await;
    assert_eq!(employee["rut"], "20000003-K");
    // Searchable with either case.
    for q in ["20000003-k", "20.000.003-K", "0003-k"] {
        let r = app
            .get(&format!("{}?q={q}", CUSTOMERS.path), &app.admin)
            .await
            .expect(200);
        assert_eq!(r.body["total"], 1, "q={q}");
    }
    let r = app
        .get(&format!("{}?rut=20000003-k", CUSTOMERS.path), &app.admin)
        .await
        .expect(200);
    assert_eq!(r.body["items"][0]["id"], upper["id"]);
}

async fn wrong_check_digit_is_rejected(app: TestApp) {
    for kind in KINDS {
        let record = create(&app, kind, kind.minimal(1)).await;
        let before = snapshot(&app).await;
        for bad in ["12.345.678-9", "123456789", "12345678-K", "20.000.003-0", "1-K"] {
            for r in [
                app.post(kind.path, &app.admin, with_rut(kind, 2, bad)).await,
                app.put(&kind.item(id_of(&record)), &app.admin, with_rut(kind, 2, bad))
                    .await,
            ] {
                let r = r.expect_error(422, "validation", Some("rut"));
                let message = r.body["error"]["message"].as_str().unwrap_or_default();
                assert!(message.contains("check digit"), "{bad}: {message}");
            }
        }
        assert_eq!(snapshot(&app).await, before);
        assert_eq!(
            app.get(&kind.item(id_of(&record)), &app.admin).await.expect(200).body,
            record
        );
    }
}

async fn malformed_ruts_are_rejected(app: TestApp) {
    let malformed = [
        "12,345,678-5",
        "abc-5",
        "1234.5678-5",
        "-",
        "K",
        "5",
        "12.345.6785-5",
        "12.345.678--5",
        "12345678-X",
        "0-0",
        "1234567890-1",
        "12 345 678-5",
        "-12345678-5",
        "12.345.678-",
        "١٢٣٤٥٦٧٨-5",
        "12345678-5\u{0}",
    ];
    for kind in KINDS {
        let record = create(&app, kind, kind.minimal(1)).await;
        let before = snapshot(&app).await;
        for bad in malformed {
            for r in [
                app.post(kind.path, &app.admin, with_rut(kind, 2, bad)).await,
                app.put(&kind.item(id_of(&record)), &app.admin, with_rut(kind, 2, bad))
                    .await,
            ] {
                assert_rejected(&r, &[422], bad);
                let r = r.expect_error(422, "validation", Some("rut"));
                let message = r.body["error"]["message"].as_str().unwrap_or_default();
                assert!(
                    !message.contains("does not match"),
                    "{bad:?} is malformed, not mismatched: {message}"
                );
            }
        }
        // A RUT of the wrong JSON type names the field too.
        for bad in [json!(12345678), json!(["12345678-5"]), json!({"rut": "12345678-5"})] {
            let mut body = kind.minimal(2);
            body["rut"] = bad;
            app.post(kind.path, &app.admin, body)
                .await
                .expect_error(422, "validation", Some("rut"));
        }
        assert_eq!(snapshot(&app).await, before);
        assert_eq!(
            app.get(&kind.item(id_of(&record)), &app.admin).await.expect(200).body,
            record
        );
    }
}

/// Duplicates among live customers: the same RUT in another format, the same e-mail in
/// another case; by POST and by PUT; nothing is written, not even an audit entry.
async fn duplicate_rut_and_email_conflict(app: TestApp) {
    let ana = create(&app, CUSTOMERS, CUSTOMERS.with_contact(1, "ana@tienda.cl", RUT_A)).await;
    let before = snapshot(&app).await;
    for rut in [RUT_A, "123456785", "12345678-5", " 12.345.678-5 "] {
        app.post(
            CUSTOMERS.path,
            &app.admin,
            CUSTOMERS.with_contact(2, "otra@tienda.cl", rut),
        )
        .await
        .expect_error(409, "conflict", Some("rut"));
    }
    for email in ["ana@tienda.cl", "ANA@TIENDA.CL", " Ana@Tienda.cl "] {
        app.post(CUSTOMERS.path, &app.admin, CUSTOMERS.with_contact(2, email, RUT_B))
            .await
            .expect_error(409, "conflict", Some("email"));
    }
    assert_eq!(snapshot(&app).await, before);

    let bea = create(&app, CUSTOMERS, CUSTOMERS.with_contact(2, "bea@tienda.cl", RUT_B)).await;
    let before = snapshot(&app).await;
    let bea_uri = CUSTOMERS.item(id_of(&bea));
    app.put(
        &bea_uri,
        &app.admin,
        CUSTOMERS.with_contact(2, "bea@tienda.cl", "123456785"),
    )
    .await
    .expect_error(409, "conflict", Some("rut"));
    app.put(&bea_uri, &app.admin, CUSTOMERS.with_contact(2, "ANA@tienda.cl", RUT_B))
        .await
        .expect_error(409, "conflict", Some("email"));
    assert_eq!(snapshot(&app).await, before);
    assert_eq!(app.get(&bea_uri, &app.admin).await.expect(200).body, bea);
    // A record keeps its own e-mail and RUT on replace.
    app.put(
        &bea_uri,
        &app.admin,
        CUSTOMERS.with_contact(3, "BEA@tienda.cl", "11111111-1"),
    )
    .await
    .expect(200);

    // The other kinds are separate registers: the same person may be customer and employee.
    let employee = create(&app, EMPLOYEES, EMPLOYEES.with_contact(1, "ana@tienda.cl", RUT_A)).await;
    assert_eq!(employee["rut"], RUT_A_CANONICAL);
    app.post(
        EMPLOYEES.path,
        &app.admin,
        EMPLOYEES.with_contact(2, "x@tienda.cl", "123456785"),
    )
    .await
    .expect_error(409, "conflict", Some("rut"));
    app.post(
        EMPLOYEES.path,
        &app.admin,
        EMPLOYEES.with_contact(2, "Ana@Tienda.cl", RUT_B),
    )
    .await
    .expect_error(409, "conflict", Some("email"));
    let supplier = create(&app, SUPPLIERS, SUPPLIERS.with_contact(1, "ana@tienda.cl", RUT_A)).await;
    assert_eq!(supplier["rut"], RUT_A_CANONICAL);
    app.post(
        SUPPLIERS.path,
        &app.admin,
        SUPPLIERS.with_contact(2, "y@tienda.cl", "12.345.678-5"),
    )
    .await
    .expect_error(409, "conflict", Some("rut"));

    // Once Ana is deleted, both are free again.
    app.delete(&CUSTOMERS.item(id_of(&ana)), &app.admin).await.expect(204);
    create(&app, CUSTOMERS, CUSTOMERS.with_contact(4, "ANA@tienda.cl", "123456785")).await;
}

/// RUT and e-mail are optional: absent, null or blank store nothing, and several records may
/// lack them at once.
async fn blank_rut_and_email_are_absent(app: TestApp) {
    for kind in KINDS {
        for (n, value) in [(1, Value::Null), (2, json!("")), (3, json!("   "))] {
            let mut body = kind.minimal(n);
            body["rut"] = value.clone();
            body["email"] = value;
            let created = create(&app, kind, body).await;
            assert_eq!(created["rut"], Value::Null);
            assert_eq!(created["email"], Value::Null);
        }
        let created = create(&app, kind, kind.minimal(4)).await;
        assert_eq!(created["rut"], Value::Null);
    }
}

fn with_rut(kind: Kind, n: u32, rut: &str) -> Value {
    let mut body = kind.minimal(n);
    body["rut"] = json!(rut);
    body
}
