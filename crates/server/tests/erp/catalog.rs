//! Warehouses, the category tree and products.

use axum::http::Method;
use serde_json::{json, Value};

use crate::common::{assert_no_drift, id, movements, product, written};
use crate::helpers::TestApp;

crate::on_both_stores!(
    warehouses,
    category_tree,
    products_crud_and_filters,
    a_product_patch_changes_only_what_it_sends,
    warehouses_and_categories_are_searched
);

async fn warehouses(app: TestApp) {
    let list = app.get("/api/warehouses", &app.admin).await.expect(200).body;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["code"], "MAIN");
    assert_eq!(list[0]["kind"], "warehouse");
    assert_eq!(list[0]["is_active"], true);

    let store = app
        .post(
            "/api/warehouses",
            &app.admin,
            json!({"code": "STGO-01", "name": "Tienda Santiago", "kind": "store", "address": "Ahumada 100"}),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(store["kind"], "store");
    assert_eq!(store["address"], "Ahumada 100");
    let sid = id(&store);
    app.post(
        "/api/warehouses",
        &app.admin,
        json!({"code": "STGO-01", "name": "Otra"}),
    )
    .await
    .expect_error(409, "conflict", Some("code"));
    app.post("/api/warehouses", &app.admin, json!({"code": "X Y", "name": "Mal"}))
        .await
        .expect_error(422, "validation", Some("code"));
    app.post(
        "/api/warehouses",
        &app.admin,
        json!({"code": "KIOSK", "name": "Kiosco", "kind": "kiosk"}),
    )
    .await
    .expect_error(422, "validation", Some("kind"));
    let got = app
        .get(&format!("/api/warehouses/{sid}"), &app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(got["name"], "Tienda Santiago");
    app.get("/api/warehouses/999999", &app.admin)
        .await
        .expect_error(404, "not_found", None);

    // Retired: gone from the default listing, still there with include_inactive.
    let retired = app
        .put(
            &format!("/api/warehouses/{sid}"),
            &app.admin,
            json!({"code": "STGO-01", "name": "Tienda Santiago (cerrada)", "kind": "store", "is_active": false}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(retired["is_active"], false);
    assert_eq!(retired["address"], Value::Null);
    let active = app.get("/api/warehouses", &app.admin).await.expect(200).body;
    assert_eq!(active.as_array().unwrap().len(), 1);
    let all = app
        .get("/api/warehouses?include_inactive=true", &app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(all.as_array().unwrap().len(), 2);
    // A retired warehouse takes no stock.
    let p = id(&product(&app, json!({"sku": "W-1", "name": "Caja", "price": 100})).await);
    app.post(
        "/api/stock/movements",
        &app.admin,
        json!({"product_id": p, "warehouse_id": sid, "kind": "entry", "quantity": 1}),
    )
    .await
    .expect_error(422, "validation", Some("warehouse_id"));
    assert_no_drift(&app).await;
}

async fn category_path(app: &TestApp, id: i64) -> String {
    let c = app
        .get(&format!("/api/categories/{id}"), &app.admin)
        .await
        .expect(200)
        .body;
    c["path"].as_str().unwrap().to_string()
}

async fn category_tree(app: TestApp) {
    let new = |name: &str, parent: Option<i64>| {
        let body = json!({"name": name, "parent_id": parent});
        let app = &app;
        async move { app.post("/api/categories", &app.admin, body).await }
    };
    let ropa = new("Ropa", None).await.expect(201).body;
    assert_eq!(ropa["path"], "Ropa");
    assert_eq!(ropa["parent_id"], Value::Null);
    let ropa = id(&ropa);
    let mujer = new("Mujer", Some(ropa)).await.expect(201).body;
    assert_eq!(mujer["path"], "Ropa / Mujer");
    let mujer = id(&mujer);
    let vestidos = new("Vestidos", Some(mujer)).await.expect(201).body;
    assert_eq!(vestidos["path"], "Ropa / Mujer / Vestidos");
    let vestidos = id(&vestidos);
    let ninos = id(&new("Niños", Some(ropa)).await.expect(201).body);
    assert_eq!(category_path(&app, ninos).await, "Ropa / Niños");

    new("Mujer", Some(ropa))
        .await
        .expect_error(409, "conflict", Some("name"));
    new("A/B", None).await.expect_error(422, "validation", Some("name"));
    new("Huérfana", Some(999_999))
        .await
        .expect_error(422, "validation", Some("parent_id"));

    // Rename the root: every descendant's path follows.
    let renamed = app
        .put(
            &format!("/api/categories/{ropa}"),
            &app.admin,
            json!({"name": "Vestuario"}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(renamed["path"], "Vestuario");
    assert_eq!(category_path(&app, mujer).await, "Vestuario / Mujer");
    assert_eq!(category_path(&app, vestidos).await, "Vestuario / Mujer / Vestidos");
    assert_eq!(category_path(&app, ninos).await, "Vestuario / Niños");

    // Move a branch under another root.
    let moda = id(&new("Moda", None).await.expect(201).body);
    let moved = app
        .put(
            &format!("/api/categories/{mujer}"),
            &app.admin,
            json!({"name": "Mujer", "parent_id": moda}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(moved["path"], "Moda / Mujer");
    assert_eq!(moved["parent_id"], moda);
    assert_eq!(category_path(&app, vestidos).await, "Moda / Mujer / Vestidos");
    assert_eq!(category_path(&app, ninos).await, "Vestuario / Niños");
    // A category cannot move under itself or its descendants.
    app.put(
        &format!("/api/categories/{moda}"),
        &app.admin,
        json!({"name": "Moda", "parent_id": vestidos}),
    )
    .await
    .expect_error(422, "validation", Some("parent_id"));
    app.put(
        &format!("/api/categories/{moda}"),
        &app.admin,
        json!({"name": "Moda", "parent_id": moda}),
    )
    .await
    .expect_error(422, "validation", Some("parent_id"));

    let tree = app.get("/api/categories", &app.admin).await.expect(200).body;
    let paths: Vec<&str> = tree
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "Moda",
            "Moda / Mujer",
            "Moda / Mujer / Vestidos",
            "Vestuario",
            "Vestuario / Niños"
        ]
    );

    // Deletion is refused while the category has children or products.
    app.delete(&format!("/api/categories/{moda}"), &app.admin)
        .await
        .expect_error(409, "conflict", None);
    let p = product(
        &app,
        json!({"sku": "VES-1", "name": "Vestido", "price": 100, "category_id": vestidos}),
    )
    .await;
    assert_eq!(p["category"], "Moda / Mujer / Vestidos");
    app.delete(&format!("/api/categories/{vestidos}"), &app.admin)
        .await
        .expect_error(409, "conflict", None);
    app.delete(&format!("/api/categories/{ninos}"), &app.admin)
        .await
        .expect(204);
    app.get(&format!("/api/categories/{ninos}"), &app.admin)
        .await
        .expect_error(404, "not_found", None);
    app.delete(&format!("/api/categories/{ninos}"), &app.admin)
        .await
        .expect_error(404, "not_found", None);
    assert_no_drift(&app).await;
}

fn skus(page: &Value) -> Vec<&str> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["sku"].as_str().unwrap())
        .collect()
}

async fn products_crud_and_filters(app: TestApp) {
    let camisa = product(
        &app,
        json!({"sku": "CAM-001", "name": "Camisa Oxford", "price": 19990, "cost": 8000,
            "category": "Ropa / Hombre", "keywords": "camisa, Oxford ,camisa", "attributes": {"talla": "M"}}),
    )
    .await;
    assert_eq!(camisa["category"], "Ropa / Hombre");
    assert_eq!(camisa["keywords"], json!(["camisa", "oxford"]));
    assert_eq!(camisa["attributes"], json!({"talla": "M"}));
    assert_eq!(camisa["status"], "active");
    assert_eq!(camisa["low_stock_threshold"], 10);
    assert_eq!(camisa["on_hand"], 0);
    assert_eq!(camisa["available"], 0);
    let camisa_id = id(&camisa);
    let hombre = camisa["category_id"].as_i64().unwrap();
    // The path created both levels.
    let tree = app.get("/api/categories", &app.admin).await.expect(200).body;
    let paths: Vec<&str> = tree
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["Ropa", "Ropa / Hombre"]);
    let ropa = id(&tree[0]);

    app.post(
        "/api/products",
        &app.admin,
        json!({"sku": "CAM-001", "name": "Otra", "price": 1}),
    )
    .await
    .expect_error(409, "conflict", Some("sku"));
    app.post(
        "/api/products",
        &app.admin,
        json!({"name": "Sin precio válido", "price": -1}),
    )
    .await
    .expect_error(422, "validation", Some("price"));
    app.post(
        "/api/products",
        &app.admin,
        json!({"name": "Categoría fantasma", "price": 1, "category_id": 999_999}),
    )
    .await
    .expect_error(422, "validation", Some("category_id"));

    // Opening stock (`initial_stock`, or seed 002's `stock`) is booked as an entry.
    let vestido = product(
        &app,
        json!({"sku": "VES-001", "name": "Vestido Lino", "price": 34990, "cost": 15000,
            "category": "Ropa / Mujer / Vestidos", "initial_stock": 7}),
    )
    .await;
    assert_eq!(vestido["on_hand"], 7);
    assert_eq!(vestido["available"], 7);
    let vestido_id = id(&vestido);
    let booked = movements(&app, &format!("product_id={vestido_id}")).await;
    assert_eq!(booked["total"], 1);
    assert_eq!(booked["items"][0]["kind"], "entry");
    assert_eq!(booked["items"][0]["quantity"], 7);
    assert_eq!(booked["items"][0]["unit_cost"], 15000);
    assert_eq!(booked["items"][0]["balance_after"], 7);
    assert_eq!(booked["items"][0]["reference_type"], "product");
    let zapato = product(
        &app,
        json!({"sku": "ZAP-001", "name": "Zapato Cuero", "price": 59990, "category": "Calzado", "stock": 3}),
    )
    .await;
    assert_eq!(zapato["on_hand"], 3);
    let gorro = product(
        &app,
        json!({"sku": "GOR-001", "name": "Gorro Lana", "price": 5990, "status": "inactive"}),
    )
    .await;
    assert_eq!(gorro["status"], "inactive");
    let gorro_id = id(&gorro);

    let list = |q: String| {
        let app = &app;
        async move {
            app.get(&format!("/api/products?{q}"), &app.admin)
                .await
                .expect(200)
                .body
        }
    };
    let all = list(String::new()).await;
    assert_eq!(all["total"], 4);
    assert_eq!(skus(&all), ["CAM-001", "VES-001", "ZAP-001", "GOR-001"]);
    assert_eq!(skus(&list("q=oxford".into()).await), ["CAM-001"]);
    assert_eq!(skus(&list("q=LINO".into()).await), ["VES-001"]);
    assert_eq!(skus(&list("q=zap-0".into()).await), ["ZAP-001"]);
    // A category includes its descendants.
    assert_eq!(skus(&list(format!("category_id={ropa}")).await), ["CAM-001", "VES-001"]);
    assert_eq!(skus(&list(format!("category_id={hombre}")).await), ["CAM-001"]);
    assert_eq!(skus(&list("status=inactive".into()).await), ["GOR-001"]);
    assert_eq!(skus(&list("min_price=20000".into()).await), ["VES-001", "ZAP-001"]);
    assert_eq!(skus(&list("min_price=20000&max_price=40000".into()).await), ["VES-001"]);
    assert_eq!(skus(&list("max_price=19990".into()).await), ["CAM-001", "GOR-001"]);
    let paged = list("per_page=2&page=2".into()).await;
    assert_eq!(paged["total"], 4);
    assert_eq!(skus(&paged), ["ZAP-001", "GOR-001"]);
    // "Descendants" are by path, not by pattern: `_` and `%` in a name are not wildcards.
    let under_score = product(
        &app,
        json!({"sku": "US-1", "name": "Polera", "price": 100, "category": "Ropa_Deporte / Poleras"}),
    )
    .await;
    let look_alike = product(
        &app,
        json!({"sku": "LA-1", "name": "Short", "price": 100, "category": "RopaXDeporte / Shorts"}),
    )
    .await;
    let percent = product(
        &app,
        json!({"sku": "PC-1", "name": "Oferta", "price": 100, "category": "50% / Liquidación"}),
    )
    .await;
    let fifty = product(
        &app,
        json!({"sku": "PC-2", "name": "Medio", "price": 100, "category": "50 y más / Otros"}),
    )
    .await;
    let parent_of = |p: &Value| {
        let path = p["category"].as_str().unwrap().split(" / ").next().unwrap().to_string();
        let app = &app;
        async move {
            let tree = app.get("/api/categories", &app.admin).await.expect(200).body;
            id(tree
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["path"] == path.as_str())
                .unwrap())
        }
    };
    let deporte = parent_of(&under_score).await;
    assert_eq!(skus(&list(format!("category_id={deporte}")).await), ["US-1"]);
    let x_deporte = parent_of(&look_alike).await;
    assert_eq!(skus(&list(format!("category_id={x_deporte}")).await), ["LA-1"]);
    let pct = parent_of(&percent).await;
    assert_eq!(skus(&list(format!("category_id={pct}")).await), ["PC-1"]);
    let y_mas = parent_of(&fifty).await;
    assert_eq!(skus(&list(format!("category_id={y_mas}")).await), ["PC-2"]);
    for extra in [&under_score, &look_alike, &percent, &fifty] {
        app.delete(&format!("/api/products/{}", id(extra)), &app.admin)
            .await
            .expect(204);
    }
    app.get("/api/products?category_id=999999", &app.admin)
        .await
        .expect_error(422, "validation", Some("category_id"));

    // Update keeps the SKU when none is given; stock is not changed here.
    let updated = app
        .put(
            &format!("/api/products/{camisa_id}"),
            &app.admin,
            json!({"name": "Camisa Oxford Azul", "price": 21990, "cost": 8000, "category_id": hombre}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(updated["sku"], "CAM-001");
    assert_eq!(updated["name"], "Camisa Oxford Azul");
    assert_eq!(updated["price"], 21990);
    assert_eq!(updated["category"], "Ropa / Hombre");
    app.put(
        &format!("/api/products/{camisa_id}"),
        &app.admin,
        json!({"name": "Camisa", "price": 1, "initial_stock": 5}),
    )
    .await
    .expect_error(422, "validation", Some("initial_stock"));
    app.put(
        &format!("/api/products/{camisa_id}"),
        &app.admin,
        json!({"sku": "VES-001", "name": "Camisa", "price": 1}),
    )
    .await
    .expect_error(409, "conflict", Some("sku"));
    app.put("/api/products/999999", &app.admin, json!({"name": "x", "price": 1}))
        .await
        .expect_error(404, "not_found", None);

    // Delete retires: discontinued, hidden, history kept.
    app.delete(&format!("/api/products/{gorro_id}"), &app.admin)
        .await
        .expect(204);
    app.get(&format!("/api/products/{gorro_id}"), &app.admin)
        .await
        .expect_error(404, "not_found", None);
    assert_eq!(list(String::new()).await["total"], 3);
    app.delete(&format!("/api/products/{gorro_id}"), &app.admin)
        .await
        .expect_error(404, "not_found", None);
    let status: String = {
        let mut conn = app.state.db.read().await.unwrap();
        let p = bodega_store::catalog::product_by_sku(&mut conn.conn(), "GOR-001")
            .await
            .unwrap()
            .unwrap();
        p.status
    };
    assert_eq!(status, "discontinued");
    assert_no_drift(&app).await;
}

/// `PATCH /api/products/{id}` is a JSON merge patch over the product: the fields sent change,
/// the others stay, `attributes` merge key by key and null falls back to the `PUT` default.
/// Bad patches are refused like a bad `PUT` and change nothing.
async fn a_product_patch_changes_only_what_it_sends(app: TestApp) {
    let created = app
        .post(
            "/api/products",
            &app.admin,
            json!({"sku": "PAT-1", "name": "Blusa de lino", "description": "Manga corta", "category": "Ropa / Mujer",
                   "price": 1_000, "cost": 400, "keywords": ["blusa", "lino"], "low_stock_threshold": 7,
                   "attributes": {"color": "azul", "talla": "M"}}),
        )
        .await
        .expect(201)
        .body;
    app.post(
        "/api/products",
        &app.admin,
        json!({"sku": "PAT-2", "name": "Otra", "price": 1}),
    )
    .await
    .expect(201);
    let path = format!("/api/products/{}", created["id"]);
    let patch = |body: Value| {
        let path = path.clone();
        let app = &app;
        async move { app.call(Method::PATCH, &path, &app.admin, Some(body)).await }
    };

    let repriced = patch(json!({"price": 1_290})).await.expect(200).body;
    let mut expected = created.clone();
    expected["price"] = json!(1_290);
    expected["updated_at"] = repriced["updated_at"].clone();
    assert_eq!(repriced, expected);

    let merged = patch(json!({"attributes": {"talla": null, "material": "lino"}, "description": null}))
        .await
        .expect(200)
        .body;
    assert_eq!(merged["attributes"], json!({"color": "azul", "material": "lino"}));
    assert_eq!(merged["description"], "");
    assert_eq!(merged["keywords"], json!(["blusa", "lino"]));
    assert_eq!(merged["low_stock_threshold"], 7);
    let moved = patch(json!({"category": "Hogar / Textil"})).await.expect(200).body;
    assert_eq!(moved["category"], "Hogar / Textil");
    assert_eq!(moved["sku"], "PAT-1");

    let before = written(&app).await;
    patch(json!({"price": -1}))
        .await
        .expect_error(422, "validation", Some("price"));
    patch(json!({"nmae": "x"}))
        .await
        .expect_error(422, "validation", Some("nmae"));
    patch(json!({"initial_stock": 3}))
        .await
        .expect_error(422, "validation", Some("initial_stock"));
    patch(json!({"status": "archived"}))
        .await
        .expect_error(422, "validation", Some("status"));
    patch(json!(["price"])).await.expect(422);
    patch(json!({"sku": "PAT-2"}))
        .await
        .expect_error(409, "conflict", Some("sku"));
    app.call(
        Method::PATCH,
        "/api/products/999999",
        &app.admin,
        Some(json!({"price": 5})),
    )
    .await
    .expect_error(404, "not_found", None);
    assert_eq!(written(&app).await, before, "(outbox events, audit entries)");
    assert_eq!(app.get(&path, &app.admin).await.expect(200).body, moved);
}

/// `q` finds warehouses by code, name or address and categories by name or path, ignoring
/// case; `kind` and `parent_id` filter; a kind that is none answers 422.
async fn warehouses_and_categories_are_searched(app: TestApp) {
    for (code, name, kind, address) in [
        ("STGO-01", "Tienda Santiago Centro", "store", "Ahumada 100"),
        ("VALPO-01", "Tienda Valparaíso", "store", "Esmeralda 5"),
        ("BOD-SUR", "Bodega Sur", "warehouse", "Ruta 5 km 20, Santiago"),
    ] {
        app.post(
            "/api/warehouses",
            &app.admin,
            json!({"code": code, "name": name, "kind": kind, "address": address}),
        )
        .await
        .expect(201);
    }
    let codes = |list: Value| -> Vec<String> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|w| w["code"].as_str().unwrap().to_string())
            .collect()
    };
    let found = |query: &'static str| {
        let app = &app;
        async move {
            app.get(&format!("/api/warehouses?{query}"), &app.admin)
                .await
                .expect(200)
                .body
        }
    };
    assert_eq!(codes(found("q=santiago").await), ["STGO-01", "BOD-SUR"]);
    assert_eq!(codes(found("q=%20VALPO").await), ["VALPO-01"]);
    assert_eq!(codes(found("q=santiago&kind=store").await), ["STGO-01"]);
    assert_eq!(codes(found("kind=warehouse").await), ["MAIN", "BOD-SUR"]);
    assert!(codes(found("q=nada").await).is_empty());
    app.get("/api/warehouses?kind=kiosk", &app.admin)
        .await
        .expect_error(422, "validation", Some("kind"));

    let make = |name: &'static str, parent: Option<i64>| {
        let app = &app;
        async move {
            id(&app
                .post(
                    "/api/categories",
                    &app.admin,
                    json!({"name": name, "parent_id": parent}),
                )
                .await
                .expect(201)
                .body)
        }
    };
    let food = make("Alimentos", None).await;
    let dairy = make("Lácteos", Some(food)).await;
    make("Quesos", Some(dairy)).await;
    make("Panadería", Some(food)).await;
    make("Limpieza", None).await;
    let paths = |query: String| {
        let app = &app;
        async move {
            let list = app
                .get(&format!("/api/categories?{query}"), &app.admin)
                .await
                .expect(200)
                .body;
            list.as_array()
                .unwrap()
                .iter()
                .map(|c| c["path"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(paths(String::new()).await.len(), 5);
    // By path: a category's descendants match its name too.
    assert_eq!(
        paths("q=ALIMENTOS".into()).await,
        [
            "Alimentos",
            "Alimentos / Lácteos",
            "Alimentos / Lácteos / Quesos",
            "Alimentos / Panadería"
        ]
    );
    assert_eq!(paths("q=ques".into()).await, ["Alimentos / Lácteos / Quesos"]);
    assert_eq!(
        paths(format!("parent_id={food}")).await,
        ["Alimentos / Lácteos", "Alimentos / Panadería"]
    );
    assert_eq!(
        paths(format!("q=pan&parent_id={food}")).await,
        ["Alimentos / Panadería"]
    );
    app.get("/api/categories?parent_id=x", &app.admin)
        .await
        .expect_error(400, "bad_request", Some("parent_id"));
}
