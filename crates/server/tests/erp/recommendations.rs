//! Recommendations: the seed-000 ML contract with the payloads of the seed's client (behind
//! `x-api-key`), the native endpoints, a recommendation stored for every sale, training runs,
//! and bad input answered with the JSON error shape.

use std::time::Duration;

use serde_json::{json, Value};

use crate::common::{id, main_warehouse, product};
use crate::helpers::{Auth, TestApp};

crate::on_both_stores!(
    ml_contract_with_the_seed_client_payloads,
    every_sale_gets_a_stored_recommendation,
    bought_together_products_come_first,
    a_sale_is_learnt_before_its_response,
    training_stores_a_version_with_its_evaluation,
    bad_input_is_refused_with_json_errors,
    a_sale_published_after_a_higher_seq_is_learnt,
    a_repeated_event_is_learnt_once,
);

/// An API key with the ML permissions, as the seed's NestJS client uses.
async fn ml_key(app: &TestApp) -> Auth {
    let created = app
        .post(
            "/api/api-keys",
            &app.admin,
            json!({"name": "ml client", "permissions": ["ml:read", "ml:create"]}),
        )
        .await
        .expect(201)
        .body;
    Auth::ApiKey(created["key"].as_str().unwrap().to_string())
}

async fn category(app: &TestApp, name: &str) -> i64 {
    id(&app
        .post("/api/categories", &app.admin, json!({"name": name}))
        .await
        .expect(201)
        .body)
}

async fn stocked(app: &TestApp, sku: &str, name: &str, category_id: i64) -> i64 {
    id(&product(
        app,
        json!({"sku": sku, "name": name, "price": 1000, "cost": 400, "category_id": category_id,
               "low_stock_threshold": 0, "initial_stock": 1000}),
    )
    .await)
}

async fn customer(app: &TestApp, first_name: &str) -> i64 {
    id(&app
        .post("/api/customers", &app.admin, json!({"first_name": first_name}))
        .await
        .expect(201)
        .body)
}

async fn sell(app: &TestApp, customer_id: Option<i64>, products: &[i64]) -> i64 {
    let items: Vec<Value> = products
        .iter()
        .map(|p| json!({"product_id": p, "quantity": 1}))
        .collect();
    let sale = app
        .post(
            "/api/pos/sales",
            &app.admin,
            json!({"customer_id": customer_id, "items": items}),
        )
        .await
        .expect(201)
        .body;
    id(&sale)
}

/// Publishes pending events so the recommender learns them, and waits until it has.
async fn learn(app: &TestApp) {
    let last: Option<i64> = {
        let mut conn = app.state.db.read().await.unwrap();
        bodega_store::sql::query_scalar("SELECT MAX(id) FROM outbox")
            .fetch_one(&mut conn.conn())
            .await
            .unwrap()
    };
    app.state.events.publish_pending(&app.state.db, 10_000).await.unwrap();
    // The subscriber runs on its own task: wait until it has handled the last event.
    let last = last.unwrap_or(0);
    for _ in 0..500 {
        if app.state.recommender.learnt_seq() >= last {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the recommender did not learn up to event {last}");
}

/// A small shop: two categories, products bought together, three customers.
struct Shop {
    bread: i64,
    butter: i64,
    jam: i64,
    cheese: i64,
    soap: i64,
    shampoo: i64,
    ana: i64,
}

async fn shop(app: &TestApp) -> Shop {
    // Loaded before the shop sells anything, so that every sale below is learnt live (a
    // warm-up that read some of them would train learned models on a part of the shop).
    app.state.spawn_recommender().await.expect("the recommender's warm-up");
    let food = category(app, "Despensa").await;
    let care = category(app, "Aseo").await;
    let s = Shop {
        bread: stocked(app, "PAN", "Pan amasado", food).await,
        butter: stocked(app, "MAN", "Mantequilla", food).await,
        jam: stocked(app, "MER", "Mermelada de frutilla", food).await,
        cheese: stocked(app, "QUE", "Queso mantecoso", food).await,
        soap: stocked(app, "JAB", "Jabón de glicerina", care).await,
        shampoo: stocked(app, "CHA", "Champú de manzanilla", care).await,
        ana: customer(app, "Ana").await,
    };
    let luis = customer(app, "Luis").await;
    let eva = customer(app, "Eva").await;
    sell(app, Some(s.ana), &[s.bread, s.butter]).await;
    sell(app, Some(luis), &[s.bread, s.butter, s.jam]).await;
    sell(app, Some(eva), &[s.bread, s.butter]).await;
    sell(app, Some(eva), &[s.soap, s.shampoo]).await;
    sell(app, None, &[s.cheese, s.bread]).await;
    learn(app).await;
    s
}

async fn ml_contract_with_the_seed_client_payloads(app: TestApp) {
    let s = shop(&app).await;
    let key = ml_key(&app).await;

    // registerInteraction(userId, productId, interactionType): ids as strings.
    let recorded = app
        .post(
            "/api/ml/recommendations/interaction",
            key.clone(),
            json!({"user_id": "web-7", "product_id": s.jam.to_string(), "interaction_type": "view"}),
        )
        .await
        .expect(202)
        .body;
    assert_eq!(recorded["success"], true);

    // getRecommendations(userId, strategy, limit).
    for strategy in ["visual", "collaborative", "hybrid"] {
        let got = app
            .post(
                "/api/ml/recommendations/get",
                key.clone(),
                json!({"user_id": s.ana.to_string(), "strategy": strategy, "limit": 3}),
            )
            .await
            .expect(200)
            .body;
        assert_eq!(got["success"], true, "{got}");
        let recs = got["recommendations"].as_array().unwrap();
        assert!(!recs.is_empty() && recs.len() <= 3, "{strategy}: {got}");
        for r in recs {
            let product_id: i64 = r["product_id"].as_str().unwrap().parse().unwrap();
            assert!(product_id > 0);
            assert!(r["score"].is_number(), "{r}");
            assert!(!r["reason"].as_str().unwrap().is_empty(), "{r}");
        }
    }

    // findSimilarProducts(productId, limit).
    let similar = app
        .post(
            "/api/ml/embeddings/find-similar",
            key.clone(),
            json!({"product_id": s.bread.to_string(), "top_k": 2}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(similar["success"], true);
    let similar = similar["similar_products"].as_array().unwrap();
    assert!(!similar.is_empty() && similar.len() <= 2, "{similar:?}");
    for p in similar {
        assert_ne!(p["product_id"], json!(s.bread.to_string()));
        let score = p["similarity_score"].as_f64().unwrap();
        let distance = p["distance"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&score), "{p}");
        assert!((score + distance - 1.0).abs() < 1e-6, "{p}");
    }

    // getModelMetrics().
    let metrics = app.get("/api/ml/metrics/overall", key.clone()).await.expect(200).body;
    for field in ["accuracy", "precision", "recall", "f1_score", "average_inference_time"] {
        assert!(metrics[field].is_number(), "{field}: {metrics}");
    }
    // The four answers above were counted.
    assert!(metrics["total_predictions"].as_u64().unwrap() >= 4, "{metrics}");

    // The interaction reaches the database from the background writer.
    let mut stored = 0;
    for _ in 0..100 {
        let mut conn = app.state.db.read().await.unwrap();
        stored = bodega_store::recommendations::interactions_since(&mut conn.conn(), None)
            .await
            .unwrap()
            .len();
        if stored == 1 {
            break;
        }
        drop(conn);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(stored, 1);

    // Native endpoints answer with the same engine.
    let basket = app
        .post(
            "/api/recommendations/basket",
            &app.admin,
            json!({"items": [s.bread], "limit": 3}),
        )
        .await
        .expect(200)
        .body;
    assert!(!basket["recommendations"].as_array().unwrap().is_empty(), "{basket}");
    let for_ana = app
        .get(&format!("/api/customers/{}/recommendations?limit=2", s.ana), &app.admin)
        .await
        .expect(200)
        .body;
    assert!(for_ana["recommendations"].as_array().unwrap().len() <= 2);
    app.get(&format!("/api/products/{}/similar?limit=2", s.soap), &app.admin)
        .await
        .expect(200);
}

async fn every_sale_gets_a_stored_recommendation(app: TestApp) {
    let s = shop(&app).await;
    let sale = sell(&app, Some(s.ana), &[s.bread]).await;
    app.state.events.publish_pending(&app.state.db, 10_000).await.unwrap();
    let mut found = None;
    for _ in 0..200 {
        let r = app.get(&format!("/api/sales/{sale}/recommendations"), &app.admin).await;
        if r.status == 200 {
            found = Some(r.body);
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let stored = found.expect("a recommendation for the sale");
    assert_eq!(stored["sale_id"], sale);
    let recs = stored["recommendations"].as_array().unwrap();
    assert!(!recs.is_empty());
    for (i, r) in recs.iter().enumerate() {
        assert_eq!(r["rank"], i + 1);
        assert_ne!(r["product_id"], s.bread, "the basket's own product is not recommended");
        assert!(r["relevance"].as_f64().unwrap() <= 100.0);
        assert!(!r["reason"].as_str().unwrap().is_empty());
        assert!(r["product_name"].is_string());
    }
    // Announced as erp.recommendations.
    let mut conn = app.state.db.read().await.unwrap();
    let pending = bodega_store::outbox::unpublished(&mut conn.conn(), 10_000)
        .await
        .unwrap();
    assert!(
        pending
            .iter()
            .any(|e| e.topic == "erp.recommendations" && e.event_key.as_deref() == Some(sale.to_string().as_str())),
        "no erp.recommendations event for sale {sale}"
    );
}

async fn bought_together_products_come_first(app: TestApp) {
    let s = shop(&app).await;
    // Butter was in every basket with bread: it leads bread's basket.
    let basket = app
        .post("/api/recommendations/basket", &app.admin, json!({"items": [s.bread]}))
        .await
        .expect(200)
        .body;
    let first = &basket["recommendations"][0];
    assert_eq!(first["product_id"], s.butter, "{basket}");
    assert_eq!(basket["fallback"], false, "{basket}");
    let reason = first["reason"].as_str().unwrap();
    assert!(reason.contains("Pan amasado"), "{reason}");
    // A new sale is learnt at once: soap bought with jam, three times.
    for _ in 0..3 {
        sell(&app, None, &[s.jam, s.soap]).await;
    }
    learn(&app).await;
    let jam = app
        .post("/api/recommendations/basket", &app.admin, json!({"items": [s.jam]}))
        .await
        .expect(200)
        .body;
    assert_eq!(jam["recommendations"][0]["product_id"], s.soap, "{jam}");
    // Shampoo was only ever bought with soap; no model ties it to cheese either.
    let _ = s.shampoo;
    let _ = s.cheese;
}

/// The request that commits a sale teaches the recommender before it answers (and so does the
/// one that creates a product): the very next request sees the sale, without waiting for the
/// event bus; the bus's later delivery of the same sale is not counted again.
async fn a_sale_is_learnt_before_its_response(app: TestApp) {
    shop(&app).await;
    let new = category(&app, "Nuevos").await;
    let (tea, honey) = (
        stocked(&app, "TE", "Té verde", new).await,
        stocked(&app, "MIEL", "Miel de ulmo", new).await,
    );
    let (rice, beans) = (
        stocked(&app, "ARR", "Arroz grado 1", new).await,
        stocked(&app, "POR", "Porotos tórtola", new).await,
    );
    let first_after = |item: i64| {
        let app = &app;
        async move {
            let basket = app
                .post(
                    "/api/recommendations/basket",
                    &app.admin,
                    json!({"items": [item], "limit": 1}),
                )
                .await
                .expect(200)
                .body;
            basket["recommendations"][0].clone()
        }
    };
    // At the till: tea and honey, never sold before.
    sell(&app, None, &[tea, honey]).await;
    let at_once = first_after(tea).await;
    assert_eq!(at_once["product_id"], honey, "{at_once}");
    assert_eq!(at_once["source"], "item-item", "{at_once}");
    // By an order that ships: rice with beans.
    let order = app
        .post(
            "/api/orders",
            &app.admin,
            json!({"items": [{"product_id": rice, "quantity": 1}, {"product_id": beans, "quantity": 2}]}),
        )
        .await
        .expect(201)
        .body;
    for step in ["confirm", "ship"] {
        app.post(&format!("/api/orders/{}/{step}", id(&order)), &app.admin, json!({}))
            .await
            .expect(200);
    }
    let shipped = first_after(rice).await;
    assert_eq!(shipped["product_id"], beans, "{shipped}");
    assert_eq!(shipped["source"], "item-item", "{shipped}");
    // The bus delivers both sales again: they are not counted twice (the reason counts baskets).
    learn(&app).await;
    assert_eq!(first_after(tea).await, at_once);
    assert_eq!(first_after(rice).await, shipped);
}

async fn training_stores_a_version_with_its_evaluation(app: TestApp) {
    let _ = shop(&app).await;
    let key = ml_key(&app).await;
    // Training needs ml:update: the client key cannot.
    app.post("/api/ml/models", key.clone(), json!({}))
        .await
        .expect_error(403, "forbidden", None);
    let report = app.post("/api/ml/models", &app.admin, json!({})).await.expect(201).body;
    assert_eq!(report["version"], 1);
    assert_eq!(report["baskets"], 5);
    assert_eq!(report["products"], 6);
    let again = app.post("/api/ml/models", &app.admin, json!({})).await.expect(201).body;
    assert_eq!(again["version"], 2);
    let models = app.get("/api/ml/models", key).await.expect(200).body;
    let versions: Vec<i64> = models
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, vec![2, 1]);
    assert_eq!(app.state.recommender.engine().version(), 2);
}

async fn bad_input_is_refused_with_json_errors(app: TestApp) {
    let s = shop(&app).await;
    let key = ml_key(&app).await;
    let main = main_warehouse(&app).await;
    let _ = main;
    let cases: Vec<(&str, Value, u16, &str, Option<&str>)> = vec![
        (
            "/api/ml/recommendations/get",
            json!({"user_id": "1", "strategy": "psychic"}),
            422,
            "validation",
            Some("strategy"),
        ),
        (
            "/api/ml/recommendations/get",
            json!({"user_id": "1", "limit": -1}),
            422,
            "validation",
            Some("limit"),
        ),
        (
            "/api/ml/recommendations/get",
            json!({"user_id": "1", "limit": 0}),
            422,
            "validation",
            Some("limit"),
        ),
        (
            "/api/ml/recommendations/get",
            json!({"user_id": ""}),
            422,
            "validation",
            Some("user_id"),
        ),
        (
            "/api/ml/recommendations/get",
            json!({"strategy": "hybrid"}),
            422,
            "validation",
            None,
        ),
        (
            "/api/ml/recommendations/interaction",
            json!({"user_id": "u", "product_id": "999999", "interaction_type": "view"}),
            404,
            "not_found",
            None,
        ),
        (
            "/api/ml/recommendations/interaction",
            json!({"user_id": "u", "product_id": s.bread, "interaction_type": "buy"}),
            422,
            "validation",
            Some("interaction_type"),
        ),
        (
            "/api/ml/recommendations/interaction",
            json!({"user_id": "u", "product_id": "pan", "interaction_type": "view"}),
            422,
            "validation",
            Some("product_id"),
        ),
        (
            "/api/ml/embeddings/find-similar",
            json!({"product_id": "999999"}),
            404,
            "not_found",
            None,
        ),
        (
            "/api/ml/embeddings/find-similar",
            json!({"product_id": s.bread, "top_k": 1000}),
            422,
            "validation",
            Some("top_k"),
        ),
    ];
    for (path, body, status, code, field) in cases {
        let r = app.post(path, key.clone(), body.clone()).await;
        assert_eq!(r.status.as_u16(), status, "{path} {body}: {}", r.body);
        assert_eq!(r.body["error"]["code"], code, "{path} {body}: {}", r.body);
        if let Some(field) = field {
            assert_eq!(r.body["error"]["field"], field, "{path} {body}: {}", r.body);
        }
    }
    app.post("/api/recommendations/basket", &app.admin, json!({"items": []}))
        .await
        .expect_error(422, "validation", Some("items"));
    app.post("/api/recommendations/basket", &app.admin, json!({"items": [999999]}))
        .await
        .expect_error(404, "not_found", None);
    app.get("/api/customers/999999/recommendations", &app.admin)
        .await
        .expect_error(404, "not_found", None);
    app.get(
        &format!("/api/customers/{}/recommendations?strategy=x", s.ana),
        &app.admin,
    )
    .await
    .expect_error(422, "validation", Some("strategy"));
    app.get("/api/products/999999/similar", &app.admin)
        .await
        .expect_error(404, "not_found", None);
    // Nothing was recorded by the refused interactions.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut conn = app.state.db.read().await.unwrap();
    let stored = bodega_store::recommendations::interactions_since(&mut conn.conn(), None)
        .await
        .unwrap();
    assert!(stored.is_empty(), "{stored:?}");
}

/// How many purchases the live engine knows of a customer.
fn purchases(app: &TestApp, customer: i64) -> usize {
    app.state
        .recommender
        .engine()
        .history(&customer.to_string())
        .map_or(0, |h| h.events.len())
}

/// Writes a one-line `sale.recorded` event for `customer` in `tx` (no sale row: the
/// subscriber learns from the event alone); its outbox id.
async fn sale_event(tx: &mut bodega_store::Tx, sale_id: i64, customer: i64, product_id: i64) -> i64 {
    let data = json!({"sale_id": sale_id, "customer_id": customer, "historical": true,
        "timestamp": chrono::Utc::now(), "items": [{"product_id": product_id, "quantity": 1}]});
    bodega_store::outbox::emit(&mut tx.conn(), "erp.sales", "sale.recorded", sale_id, &data)
        .await
        .unwrap();
    bodega_store::sql::query_scalar("SELECT MAX(id) FROM outbox")
        .fetch_one(&mut tx.conn())
        .await
        .unwrap()
}

/// Commits one sale event, publishes what is pending and waits until the subscriber has
/// handled that event (and so everything handed out before it).
async fn publish_through_marker(app: &TestApp, sale_id: i64, customer: i64, product_id: i64) {
    let mut tx = app.state.db.begin().await.unwrap();
    let marker = sale_event(&mut tx, sale_id, customer, product_id).await;
    tx.commit().await.unwrap();
    app.state.events.publish_pending(&app.state.db, 10_000).await.unwrap();
    for _ in 0..500 {
        if app.state.recommender.learnt_seq() >= marker {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the recommender did not learn event {marker}");
}

/// On PostgreSQL the relay publishes by the writing transaction's id, then the event's id, and
/// an event's id is taken at insert: a transaction that began writing first can hold a higher
/// event id than one that committed before it, and its event is published first. The
/// subscriber once took the later, lower seq for a repeat and never learnt that sale.
async fn a_sale_published_after_a_higher_seq_is_learnt(app: TestApp) {
    let s = shop(&app).await;
    if app.state.db.backend() == bodega_store::Backend::Sqlite {
        // One writer: ids are taken in commit order, the case cannot happen.
        return;
    }
    let before = purchases(&app, s.ana);
    let mut older = app.state.db.begin().await.unwrap();
    let _: String = bodega_store::sql::query_scalar("SELECT pg_current_xact_id()::text")
        .fetch_one(&mut older.conn())
        .await
        .unwrap();
    let mut newer = app.state.db.begin().await.unwrap();
    let low = sale_event(&mut newer, 1_000_001, s.ana, s.cheese).await;
    newer.commit().await.unwrap();
    assert_eq!(
        app.state.events.publish_pending(&app.state.db, 10_000).await.unwrap(),
        0,
        "nothing passes an older transaction still open"
    );
    let high = sale_event(&mut older, 1_000_002, s.ana, s.jam).await;
    assert!(low < high);
    older.commit().await.unwrap();
    // Published in one round: `high` (the older transaction), then `low`, then the marker.
    publish_through_marker(&app, 1_000_003, s.ana, s.butter).await;
    assert!(app.state.recommender.learnt_seq() >= high);
    assert_eq!(purchases(&app, s.ana), before + 3, "every sale learnt once");
}

/// Delivery is at least once: an event handed out again (its round failed before it was
/// recorded as published) is recognised and not learnt twice.
async fn a_repeated_event_is_learnt_once(app: TestApp) {
    let s = shop(&app).await;
    let before = purchases(&app, s.ana);
    let mut tx = app.state.db.begin().await.unwrap();
    let seq = sale_event(&mut tx, 1_000_001, s.ana, s.cheese).await;
    tx.commit().await.unwrap();
    publish_through_marker(&app, 1_000_002, s.ana, s.jam).await;
    assert_eq!(purchases(&app, s.ana), before + 2);
    // As if the round that published the first one had failed after handing it out.
    // The relay's position goes back to just before it.
    let unpublish = "UPDATE outbox_cursor SET (last_tx, last_id) = (SELECT tx, id - 1 FROM outbox WHERE id = $1)
                     WHERE name = 'relay'";
    let mut tx = app.state.db.begin().await.unwrap();
    bodega_store::sql::query(unpublish)
        .bind(seq)
        .execute(&mut tx.conn())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    publish_through_marker(&app, 1_000_003, s.ana, s.butter).await;
    assert_eq!(purchases(&app, s.ana), before + 3, "the repeats were skipped");
}
