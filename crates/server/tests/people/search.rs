//! Listing: search by `?q=` (name, e-mail, RUT with or without dots), by exact `?email=` and
//! `?rut=`, and paging (totals, page boundaries, bounds of `page` and `per_page`).

use serde_json::json;

use crate::common::{
    create, id_of, ids, total, CUSTOMERS, EMPLOYEES, KINDS, RUT_A, RUT_A_CANONICAL, RUT_B, RUT_C, SUPPLIERS,
};
use crate::helpers::TestApp;

crate::on_both_stores!(
    q_searches_names_emails_and_ruts,
    exact_email_and_rut_filters,
    q_searches_each_kinds_own_name_columns,
    pages_split_the_listing,
    paging_bounds_are_validated,
);

/// Three customers: Ana González, Benjamín Soto and Carla Anaya.
async fn three_customers(app: &TestApp) -> [i64; 3] {
    let ana = create(
        app,
        CUSTOMERS,
        json!({"first_name": "Ana", "last_name": "González", "email": "ana@tienda.cl", "rut": RUT_A}),
    )
    .await;
    let benjamin = create(
        app,
        CUSTOMERS,
        json!({"first_name": "Benjamín", "last_name": "Soto", "email": "bsoto@correo.cl", "rut": RUT_B}),
    )
    .await;
    let carla = create(
        app,
        CUSTOMERS,
        json!({"first_name": "Carla", "last_name": "ANAYA", "email": "carla@tienda.cl", "rut": RUT_C}),
    )
    .await;
    [id_of(&ana), id_of(&benjamin), id_of(&carla)]
}

async fn found(app: &TestApp, uri: &str) -> Vec<i64> {
    let r = app.get(uri, &app.admin).await.expect(200);
    let ids = ids(&r);
    assert_eq!(r.body["total"], ids.len(), "{uri}: {}", r.body);
    ids
}

async fn q_searches_names_emails_and_ruts(app: TestApp) {
    let [ana, benjamin, carla] = three_customers(&app).await;
    let path = CUSTOMERS.path;

    // Names, case-insensitive, across first and last name.
    assert_eq!(found(&app, &format!("{path}?q=ana")).await, [ana, carla]);
    assert_eq!(found(&app, &format!("{path}?q=ANA")).await, [ana, carla]);
    assert_eq!(found(&app, &format!("{path}?q=aNaYa")).await, [carla]);
    assert_eq!(found(&app, &format!("{path}?q=gonz")).await, [ana]);
    assert_eq!(
        found(&app, &format!("{path}?q=ana%20gonz")).await,
        [ana],
        "first and last name"
    );
    assert_eq!(
        found(&app, &format!("{path}?q=%20%20soto%20")).await,
        [benjamin],
        "trimmed"
    );
    // E-mail substrings, case-insensitive.
    assert_eq!(found(&app, &format!("{path}?q=TIENDA.cl")).await, [ana, carla]);
    assert_eq!(found(&app, &format!("{path}?q=correo")).await, [benjamin]);
    // Part of a RUT, typed with dots, without them, or with the check digit.
    assert_eq!(found(&app, &format!("{path}?q=12.345")).await, [ana]);
    assert_eq!(found(&app, &format!("{path}?q=345.678-5")).await, [ana]);
    assert_eq!(found(&app, &format!("{path}?q=2345678")).await, [ana]);
    assert_eq!(found(&app, &format!("{path}?q=11.111.111-1")).await, [benjamin]);
    assert_eq!(found(&app, &format!("{path}?q=654.321")).await, [carla]);
    // No match, and a blank q lists everything.
    assert_eq!(found(&app, &format!("{path}?q=zzz")).await, Vec::<i64>::new());
    assert_eq!(found(&app, &format!("{path}?q=")).await, [ana, benjamin, carla]);
    assert_eq!(found(&app, &format!("{path}?q=%20")).await, [ana, benjamin, carla]);
    // Deleted records are not found.
    app.delete(&CUSTOMERS.item(carla), &app.admin).await.expect(204);
    assert_eq!(found(&app, &format!("{path}?q=ana")).await, [ana]);
}

async fn exact_email_and_rut_filters(app: TestApp) {
    let [ana, benjamin, _carla] = three_customers(&app).await;
    let path = CUSTOMERS.path;

    // Exact e-mail, whatever the case typed; a substring is not a match.
    assert_eq!(found(&app, &format!("{path}?email=ana@tienda.cl")).await, [ana]);
    assert_eq!(found(&app, &format!("{path}?email=ANA@Tienda.CL")).await, [ana]);
    assert_eq!(found(&app, &format!("{path}?email=%20ana@tienda.cl%20")).await, [ana]);
    assert_eq!(
        found(&app, &format!("{path}?email=na@tienda.cl")).await,
        Vec::<i64>::new()
    );
    assert_eq!(
        found(&app, &format!("{path}?email=nadie@tienda.cl")).await,
        Vec::<i64>::new()
    );
    app.get(&format!("{path}?email=ana@tienda"), &app.admin)
        .await
        .expect_error(422, "validation", Some("email"));

    // Exact RUT in any common format.
    for rut in [RUT_A, RUT_A_CANONICAL, "123456785", "12345678-5", "%2012.345.678-5%20"] {
        assert_eq!(found(&app, &format!("{path}?rut={rut}")).await, [ana], "{rut}");
    }
    assert_eq!(found(&app, &format!("{path}?rut=11111111-1")).await, [benjamin]);
    assert_eq!(
        found(&app, &format!("{path}?rut=76.086.428-5")).await,
        Vec::<i64>::new()
    );
    for bad in ["12.345.678-9", "12345678", "abc"] {
        app.get(&format!("{path}?rut={bad}"), &app.admin)
            .await
            .expect_error(422, "validation", Some("rut"));
    }

    // Filters combine with AND.
    assert_eq!(found(&app, &format!("{path}?q=ana&rut={RUT_A}")).await, [ana]);
    assert_eq!(
        found(&app, &format!("{path}?q=soto&email=ana@tienda.cl")).await,
        Vec::<i64>::new()
    );
    assert_eq!(
        found(&app, &format!("{path}?email=ana@tienda.cl&rut={RUT_B}")).await,
        Vec::<i64>::new()
    );
}

/// Employees are found by their code too; suppliers by their contact.
async fn q_searches_each_kinds_own_name_columns(app: TestApp) {
    let ana = create(
        &app,
        EMPLOYEES,
        json!({"employee_code": "VTA-017", "first_name": "Ana", "last_name": "Rojas", "rut": RUT_A}),
    )
    .await;
    let luis = create(
        &app,
        EMPLOYEES,
        json!({"employee_code": "BOD-002", "first_name": "Luis", "last_name": "Díaz", "email": "luis@tienda.cl"}),
    )
    .await;
    let p = EMPLOYEES.path;
    assert_eq!(found(&app, &format!("{p}?q=vta-0")).await, [id_of(&ana)]);
    assert_eq!(found(&app, &format!("{p}?q=ROJAS")).await, [id_of(&ana)]);
    assert_eq!(found(&app, &format!("{p}?q=12.345.678")).await, [id_of(&ana)]);
    assert_eq!(found(&app, &format!("{p}?q=LUIS@")).await, [id_of(&luis)]);
    assert_eq!(found(&app, &format!("{p}?rut=123456785")).await, [id_of(&ana)]);
    assert_eq!(found(&app, &format!("{p}?email=Luis@Tienda.cl")).await, [id_of(&luis)]);

    let andes = create(
        &app,
        SUPPLIERS,
        json!({"name": "Distribuidora Andes", "contact_name": "Marta Vidal", "rut": RUT_B}),
    )
    .await;
    let sur = create(
        &app,
        SUPPLIERS,
        json!({"name": "Frutas del Sur", "email": "ventas@sur.cl"}),
    )
    .await;
    let p = SUPPLIERS.path;
    assert_eq!(found(&app, &format!("{p}?q=andes")).await, [id_of(&andes)]);
    assert_eq!(found(&app, &format!("{p}?q=VIDAL")).await, [id_of(&andes)]);
    assert_eq!(found(&app, &format!("{p}?q=del%20sur")).await, [id_of(&sur)]);
    assert_eq!(found(&app, &format!("{p}?q=11.111")).await, [id_of(&andes)]);
    assert_eq!(found(&app, &format!("{p}?q=VENTAS@SUR")).await, [id_of(&sur)]);
    assert_eq!(found(&app, &format!("{p}?rut=11.111.111-1")).await, [id_of(&andes)]);
}

async fn pages_split_the_listing(app: TestApp) {
    for kind in KINDS {
        let mut all = Vec::new();
        for n in 1..=7 {
            all.push(id_of(&create(&app, kind, kind.minimal(n)).await));
        }
        let path = kind.path;
        let default = app.get(path, &app.admin).await.expect(200);
        assert_eq!(default.body["page"], 1);
        assert_eq!(default.body["per_page"], 50);
        assert_eq!(default.body["total"], 7);
        assert_eq!(ids(&default), all, "ordered by id");

        let mut seen = Vec::new();
        for (page, expected_len) in [(1, 3), (2, 3), (3, 1), (4, 0), (1000, 0)] {
            let r = app
                .get(&format!("{path}?page={page}&per_page=3"), &app.admin)
                .await
                .expect(200);
            assert_eq!(r.body["total"], 7, "page {page}");
            assert_eq!(r.body["page"], page);
            assert_eq!(r.body["per_page"], 3);
            let items = ids(&r);
            assert_eq!(items.len(), expected_len, "page {page}");
            seen.extend(items);
        }
        assert_eq!(seen, all, "pages are disjoint and cover the listing");

        // Exact boundaries: per_page equal to, and one less than, the total.
        let r = app.get(&format!("{path}?per_page=7"), &app.admin).await.expect(200);
        assert_eq!(ids(&r), all);
        let r = app
            .get(&format!("{path}?page=2&per_page=7"), &app.admin)
            .await
            .expect(200);
        assert!(ids(&r).is_empty());
        let r = app
            .get(&format!("{path}?page=2&per_page=6"), &app.admin)
            .await
            .expect(200);
        assert_eq!(ids(&r), [all[6]]);
        let r = app.get(&format!("{path}?per_page=1"), &app.admin).await.expect(200);
        assert_eq!(ids(&r), [all[0]]);
        let r = app.get(&format!("{path}?per_page=500"), &app.admin).await.expect(200);
        assert_eq!(ids(&r), all);

        // The total counts what the filter finds, not every record; deleted ones drop out.
        app.delete(&kind.item(all[0]), &app.admin).await.expect(204);
        assert_eq!(total(&app, path).await, 6);
        let r = app
            .get(&format!("{path}?page=2&per_page=4"), &app.admin)
            .await
            .expect(200);
        assert_eq!(r.body["total"], 6);
        assert_eq!(ids(&r), all[5..7]);
        let r = app.get(&format!("{path}?q=7&per_page=1"), &app.admin).await.expect(200);
        assert_eq!(r.body["total"], 1);
        assert_eq!(ids(&r), [all[6]]);
    }
}

async fn paging_bounds_are_validated(app: TestApp) {
    for kind in KINDS {
        create(&app, kind, kind.minimal(1)).await;
        let path = kind.path;
        for per_page in ["0", "501", "-1", "1000000"] {
            app.get(&format!("{path}?per_page={per_page}"), &app.admin)
                .await
                .expect_error(422, "validation", Some("per_page"));
        }
        for page in ["0", "-1", "1000001"] {
            app.get(&format!("{path}?page={page}"), &app.admin)
                .await
                .expect_error(422, "validation", Some("page"));
        }
        app.get(&format!("{path}?page=1000000&per_page=500"), &app.admin)
            .await
            .expect(200);
    }
}
