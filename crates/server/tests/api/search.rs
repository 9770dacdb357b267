//! Search text is taken literally: `%` and `_` are not wildcards.

use serde_json::json;

use crate::helpers::TestApp;

crate::on_both_stores!(like_wildcards_in_search_text_are_literal);

async fn like_wildcards_in_search_text_are_literal(app: TestApp) {
    for (first, last) in [("Ana", "Pérez"), ("Luis", "Soto"), ("Eva", "Ro_jas")] {
        app.post(
            "/api/customers",
            &app.admin,
            json!({"first_name": first, "last_name": last}),
        )
        .await
        .expect(201);
    }
    assert_eq!(
        app.get("/api/customers?q=_", &app.admin).await.expect(200).body["total"],
        1
    );
    assert_eq!(
        app.get("/api/customers?q=%25", &app.admin).await.expect(200).body["total"],
        0
    );
    assert_eq!(
        app.get("/api/customers?q=o_j", &app.admin).await.expect(200).body["total"],
        1
    );
    assert_eq!(app.get("/api/users?q=_", &app.admin).await.expect(200).body["total"], 0);
    assert_eq!(
        app.get("/api/users?q=%25", &app.admin).await.expect(200).body["total"],
        0
    );
}
