//! The request of each cell: URI, credentials and a valid body, with a fresh target where a
//! success would consume it, and how it is sent.

use axum::http::Method;
use serde_json::{json, Value};

use crate::callers::Who;
use crate::fixture::{Fixture, LOGIN_EMAIL};
use crate::helpers::{self, create_user, Auth, PASSWORD};
use crate::operations::{Erp, Kind, Op, Verb};

impl Fixture {
    /// The URI and body of an ERP cell, with a fresh target where a success would consume it.
    async fn erp_request(&self, erp: Erp, n: u32) -> (String, Option<Value>) {
        let r = &self.erp;
        let product_body = |n: u32| json!({"sku": format!("NEW-{n}"), "name": format!("Nuevo {n}"), "price": 990});
        match erp {
            Erp::ListWarehouses => ("/api/warehouses".into(), None),
            Erp::CreateWarehouse => (
                "/api/warehouses".into(),
                Some(json!({"code": format!("C{n}"), "name": format!("Creada {n}")})),
            ),
            Erp::GetWarehouse => (format!("/api/warehouses/{}", r.main_warehouse), None),
            Erp::UpdateWarehouse => (
                format!("/api/warehouses/{}", self.warehouse().await),
                Some(json!({"code": format!("U{n}"), "name": format!("Renombrada {n}")})),
            ),
            Erp::ListCategories => ("/api/categories".into(), None),
            Erp::CreateCategory => ("/api/categories".into(), Some(json!({"name": format!("Creada {n}")}))),
            Erp::GetCategory => (format!("/api/categories/{}", r.category), None),
            Erp::UpdateCategory => (
                format!("/api/categories/{}", self.category().await),
                Some(json!({"name": format!("Renombrada {n}")})),
            ),
            Erp::DeleteCategory => (format!("/api/categories/{}", self.category().await), None),
            Erp::ListProducts => ("/api/products".into(), None),
            Erp::CreateProduct => ("/api/products".into(), Some(product_body(n))),
            Erp::GetProduct => (format!("/api/products/{}", r.product), None),
            Erp::UpdateProduct => (
                format!("/api/products/{}", self.product(0, 0).await),
                Some(json!({"name": format!("Cambiado {n}"), "price": 1200})),
            ),
            Erp::PatchProduct => (
                format!("/api/products/{}", self.product(0, 0).await),
                Some(json!({"price": 1300 + n})),
            ),
            Erp::DeleteProduct => (format!("/api/products/{}", self.product(0, 0).await), None),
            Erp::SellProduct => (
                format!("/api/products/{}/sell", r.product),
                Some(json!({"quantity": 1})),
            ),
            Erp::ListMovements => ("/api/stock/movements".into(), None),
            Erp::CreateMovement => (
                "/api/stock/movements".into(),
                Some(json!({"product_id": r.product, "kind": "entry", "quantity": 1, "unit_cost": 400})),
            ),
            Erp::ListLevels => ("/api/stock/levels".into(), None),
            Erp::CreateTransfer => (
                "/api/stock/transfers".into(),
                Some(json!({"product_id": r.product, "from_warehouse_id": r.main_warehouse,
                    "to_warehouse_id": r.other_warehouse, "quantity": 1})),
            ),
            Erp::ListReservations => ("/api/stock/reservations".into(), None),
            Erp::CreateReservation => (
                "/api/stock/reservations".into(),
                Some(json!({"product_id": r.product, "quantity": 1})),
            ),
            Erp::GetReservation => (format!("/api/stock/reservations/{}", r.reservation), None),
            Erp::CommitReservation => (
                format!("/api/stock/reservations/{}/commit", self.reservation().await),
                None,
            ),
            Erp::ReleaseReservation => (
                format!("/api/stock/reservations/{}/release", self.reservation().await),
                None,
            ),
            Erp::LowStock => ("/api/inventory/low-stock".into(), None),
            Erp::ListOrders => ("/api/orders".into(), None),
            Erp::CreateOrder => (
                "/api/orders".into(),
                Some(json!({"items": [{"product_id": r.product, "quantity": 1}], "notes": format!("pedido {n}")})),
            ),
            Erp::GetOrder => (format!("/api/orders/{}", r.order), None),
            Erp::UpdateOrder => (
                format!("/api/orders/{}", self.order_in(&[]).await),
                Some(json!({"items": [{"product_id": r.product, "quantity": 2}], "notes": format!("cambio {n}")})),
            ),
            Erp::ConfirmOrder => (format!("/api/orders/{}/confirm", self.order_in(&[]).await), None),
            Erp::ProcessOrder => (
                format!("/api/orders/{}/process", self.order_in(&["confirm"]).await),
                None,
            ),
            Erp::ShipOrder => (format!("/api/orders/{}/ship", self.order_in(&["confirm"]).await), None),
            Erp::DeliverOrder => (
                format!("/api/orders/{}/deliver", self.order_in(&["confirm", "ship"]).await),
                None,
            ),
            Erp::CompleteOrder => (
                format!(
                    "/api/orders/{}/complete",
                    self.order_in(&["confirm", "ship", "deliver"]).await
                ),
                None,
            ),
            Erp::CancelOrder => (format!("/api/orders/{}/cancel", self.order_in(&[]).await), None),
            Erp::ReturnOrder => (
                format!("/api/orders/{}/return", self.order_in(&["confirm", "ship"]).await),
                None,
            ),
            Erp::OrderPayment => (
                format!("/api/orders/{}/payment", r.order),
                Some(json!({"status": "paid"})),
            ),
            Erp::PosSale => (
                "/api/pos/sales".into(),
                Some(json!({"items": [{"product_id": r.product, "quantity": 1}]})),
            ),
            Erp::ListSales => ("/api/sales".into(), None),
            Erp::SalesStats => ("/api/sales/stats".into(), None),
            Erp::GetSale => (format!("/api/sales/{}", r.sale), None),
            Erp::ListAlerts => ("/api/alerts".into(), None),
            Erp::AckAlert => (format!("/api/alerts/{}/ack", self.alert().await), None),
            Erp::ListReorders => ("/api/reorder-requests".into(), None),
            Erp::CreateReorder => (
                "/api/reorder-requests".into(),
                Some(json!({"product_id": r.product, "quantity": 3})),
            ),
            Erp::GetReorder => (format!("/api/reorder-requests/{}", r.reorder), None),
            Erp::AdvanceReorder => (
                format!("/api/reorder-requests/{}/status", self.reorder().await),
                Some(json!({"status": "ordered"})),
            ),
            // A JSON string body is sent as-is, as text/csv (see `Fixture::call`).
            Erp::ImportCsv => (
                "/api/imports/products".into(),
                Some(Value::String(format!("sku,name,price\nIMP-{n},Importado {n},1500\n"))),
            ),
            Erp::ExportCsv => ("/api/exports/products".into(), None),
            Erp::MlRecommendations => (
                "/api/ml/recommendations/get".into(),
                Some(json!({"user_id": self.customer.to_string(), "strategy": "hybrid", "limit": 5})),
            ),
            Erp::MlInteraction => (
                "/api/ml/recommendations/interaction".into(),
                Some(
                    json!({"user_id": format!("web-{n}"), "product_id": r.product.to_string(), "interaction_type": "view"}),
                ),
            ),
            Erp::MlFindSimilar => (
                "/api/ml/embeddings/find-similar".into(),
                Some(json!({"product_id": r.product.to_string(), "top_k": 3})),
            ),
            Erp::MlMetrics => ("/api/ml/metrics/overall".into(), None),
            Erp::ListModels => ("/api/ml/models".into(), None),
            Erp::TrainModels => ("/api/ml/models".into(), Some(json!({}))),
            Erp::ProductSimilar => (format!("/api/products/{}/similar", r.product), None),
            Erp::CustomerRecommendations => (format!("/api/customers/{}/recommendations", self.customer), None),
            Erp::BasketRecommendations => (
                "/api/recommendations/basket".into(),
                Some(json!({"items": [r.product]})),
            ),
            Erp::SaleRecommendations => (format!("/api/sales/{}/recommendations", r.sale), None),
            Erp::DailySales => ("/api/analytics/metrics/daily-sales".into(), None),
            Erp::SalesTrends => ("/api/analytics/metrics/sales-trends".into(), None),
            Erp::TopProducts => ("/api/analytics/metrics/top-products".into(), None),
            Erp::InventoryHealth => ("/api/analytics/metrics/inventory-health".into(), None),
            Erp::CustomerRanking => ("/api/analytics/metrics/customer-ranking".into(), None),
            Erp::Profitability => ("/api/analytics/reports/profitability".into(), None),
            Erp::InventorySummary => ("/api/analytics/reports/inventory-summary".into(), None),
            Erp::CategoryPerformance => ("/api/analytics/reports/category-performance".into(), None),
            Erp::StoreRanking => ("/api/analytics/reports/store-ranking".into(), None),
            Erp::ListJobs => ("/api/jobs".into(), None),
            Erp::ListJobRuns => ("/api/jobs/runs".into(), None),
            Erp::RunJob => ("/api/jobs/daily-sales/run".into(), Some(json!({}))),
            Erp::ForecastDemand => (
                format!("/api/analytics/forecasting/demand?product_id={}&horizon=3", r.product),
                None,
            ),
            Erp::ForecastComponents => (
                format!(
                    "/api/analytics/forecasting/demand/components?product_id={}&horizon=3",
                    r.product
                ),
                None,
            ),
            Erp::ForecastAccuracy => (
                format!("/api/analytics/forecasting/accuracy?product_id={}", r.product),
                None,
            ),
            Erp::ForecastBatch => (
                "/api/analytics/forecasting/batch".into(),
                Some(json!({"product_ids": [r.product], "horizon": 3})),
            ),
            Erp::ReorderAdvice => (format!("/api/analytics/reorder-advice?product_id={}", r.product), None),
            Erp::ApplyReorderAdvice => (
                "/api/analytics/reorder-advice/apply".into(),
                Some(json!({"product_ids": [r.product]})),
            ),
            Erp::SetReplenishment => (
                format!("/api/products/{}/replenishment", r.product),
                Some(json!({"lead_time_days": 7, "review_days": 7, "min_order_qty": 0, "pack_size": 1})),
            ),
        }
    }

    /// Sends one cell's request: a JSON body, or a string body as text/csv (the CSV import).
    pub async fn call(&self, method: Method, uri: &str, auth: Auth, body: Option<Value>) -> helpers::Response {
        let Some(Value::String(csv)) = body else {
            return self.app.call(method, uri, auth, body).await;
        };
        let mut request = axum::http::Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "text/csv");
        request = match auth {
            Auth::None => request,
            Auth::Bearer(token) => request.header("authorization", format!("Bearer {token}")),
            Auth::ApiKey(key) => request.header("x-api-key", key),
        };
        self.app
            .send(request.body(axum::body::Body::from(csv)).expect("request"))
            .await
    }

    /// The caller's credentials, on a session of its own for signed-in users (so that
    /// logging out does not end the session the other cells use).
    async fn fresh_session(&self, who: Who) -> Auth {
        match &self.emails[Self::index(who)] {
            Some(email) => Auth::Bearer(self.app.login(email, PASSWORD).await),
            None => self.auth(who),
        }
    }

    /// For a signed-in caller, another user of the same role (changing the password ends the
    /// user's other sessions, which the other cells use); keys and anonymous stay as they are.
    async fn same_role_stand_in(&self, who: Who) -> Auth {
        match who.role() {
            Some(role) => {
                let email = format!("stand-in{}@test.cl", self.next());
                create_user(&self.app.state, &email, role).await;
                Auth::Bearer(self.app.login(&email, PASSWORD).await)
            }
            None => self.auth(who),
        }
    }

    /// The request of one cell: URI, credentials and a valid body, with a fresh target where a
    /// success would consume it.
    pub async fn request(&self, op: Op, who: Who) -> (String, Auth, Option<Value>) {
        let auth = self.auth(who);
        let n = self.next();
        match op {
            Op::Register => (
                "/api/auth/register".into(),
                auth,
                Some(json!({"email": format!("registered{n}@test.cl"), "password": PASSWORD, "first_name": "Nuevo"})),
            ),
            Op::Login => (
                "/api/auth/login".into(),
                auth,
                Some(json!({"email": LOGIN_EMAIL, "password": PASSWORD})),
            ),
            Op::LoginWrongPassword => (
                "/api/auth/login".into(),
                auth,
                Some(json!({"email": LOGIN_EMAIL, "password": "not the password"})),
            ),
            Op::Refresh => {
                let tokens = self.app.login_full(LOGIN_EMAIL, PASSWORD).await;
                let refresh = tokens["refresh_token"].as_str().expect("refresh token").to_string();
                (
                    "/api/auth/refresh".into(),
                    auth,
                    Some(json!({"refresh_token": refresh})),
                )
            }
            Op::RefreshBadToken => (
                "/api/auth/refresh".into(),
                auth,
                Some(json!({"refresh_token": "rt_not-a-real-refresh-token"})),
            ),
            Op::Logout => ("/api/auth/logout".into(), self.fresh_session(who).await, None),
            Op::Me => ("/api/auth/me".into(), auth, None),
            Op::Profile => (
                "/api/auth/profile".into(),
                auth,
                Some(json!({"first_name": "Renamed", "phone": "+56 2 2345 6789"})),
            ),
            Op::ChangePassword => (
                "/api/auth/change-password".into(),
                self.same_role_stand_in(who).await,
                Some(json!({"current_password": PASSWORD, "new_password": "a different secret"})),
            ),
            Op::ListUsers => ("/api/users".into(), auth, None),
            Op::CreateUser => (
                "/api/users".into(),
                auth,
                Some(json!({"email": format!("created{n}@test.cl"), "password": PASSWORD, "role": "employee"})),
            ),
            Op::GetUser => (format!("/api/users/{}", self.login_user_id), auth, None),
            Op::UpdateUser => (
                format!("/api/users/{}", self.user().await),
                auth,
                Some(json!({"first_name": "Changed", "phone": "+56 9 8765 4321"})),
            ),
            Op::DeactivateUser => (format!("/api/users/{}", self.user().await), auth, None),
            Op::ResetPassword => (
                format!("/api/users/{}/reset-password", self.user().await),
                auth,
                Some(json!({"new_password": "a reset secret"})),
            ),
            Op::ListRoles => ("/api/roles".into(), auth, None),
            Op::CreateRole => (
                "/api/roles".into(),
                auth,
                Some(json!({"name": format!("created-{n}"), "permissions": ["customers:read"]})),
            ),
            Op::GetRole => (format!("/api/roles/{}", self.custom_role_id), auth, None),
            Op::UpdateRole => (
                format!("/api/roles/{}", self.role().await),
                auth,
                Some(json!({"name": format!("renamed-{n}"), "permissions": ["suppliers:read", "customers:read"]})),
            ),
            Op::DeleteRole => (format!("/api/roles/{}", self.role().await), auth, None),
            Op::ListPermissions => ("/api/permissions".into(), auth, None),
            Op::ListApiKeys => ("/api/api-keys".into(), auth, None),
            Op::CreateApiKey => (
                "/api/api-keys".into(),
                auth,
                Some(json!({"name": format!("created key {n}"), "permissions": ["customers:read"]})),
            ),
            Op::RevokeApiKey => (format!("/api/api-keys/{}", self.api_key_id().await), auth, None),
            Op::Audit => ("/api/audit".into(), auth, None),
            Op::People(kind, verb) => {
                let reference = match kind {
                    Kind::Customers => self.customer,
                    Kind::Employees => self.employee,
                    Kind::Suppliers => self.supplier,
                };
                match verb {
                    Verb::List => (kind.path().into(), auth, None),
                    Verb::Create => (kind.path().into(), auth, Some(kind.body(n))),
                    Verb::Get => (format!("{}/{reference}", kind.path()), auth, None),
                    Verb::Replace => (
                        format!("{}/{}", kind.path(), self.person(kind).await),
                        auth,
                        Some(kind.body(n)),
                    ),
                    Verb::Delete => (format!("{}/{}", kind.path(), self.person(kind).await), auth, None),
                }
            }
            Op::Health => ("/health".into(), auth, None),
            Op::Metrics => ("/metrics".into(), auth, None),
            Op::OpenApiJson => ("/api/openapi.json".into(), auth, None),
            Op::Docs => ("/api/docs/".into(), auth, None),
            Op::Erp(erp) => {
                let (uri, body) = self.erp_request(erp, n).await;
                (uri, auth, body)
            }
        }
    }
}
