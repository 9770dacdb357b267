//! The fixture: the callers' credentials and the records the requests act on, made once
//! per store, plus the fresh records a cell consumes and the snapshot of everything a
//! refused request must leave unchanged.

use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{json, Value};

use crate::callers::{Who, CALLERS, CUSTOM_ROLE, CUSTOM_ROLE_PERMISSIONS, KEY_CUSTOMERS_READ, KEY_SUPPLIERS_ALL};
use crate::helpers::{create_user, Auth, TestApp, ADMIN_EMAIL, PASSWORD};
use crate::operations::Kind;

/// The user every caller signs in as for `POST /api/auth/login` and `/refresh`.
pub const LOGIN_EMAIL: &str = "login-target@test.cl";

pub struct Fixture {
    pub app: TestApp,
    pub seq: AtomicU32,
    /// Each caller's credentials, in the order of [`CALLERS`].
    pub auth: Vec<Auth>,
    /// Each signed-in caller's e-mail (for fresh sessions), in the order of [`CALLERS`].
    pub emails: Vec<Option<String>>,
    pub custom_role_id: i64,
    pub login_user_id: i64,
    pub customer: i64,
    pub employee: i64,
    pub supplier: i64,
    pub erp: ErpRefs,
}

/// ERP records the read-only and repeatable cells act on.
#[derive(Default)]
pub struct ErpRefs {
    pub main_warehouse: i64,
    pub other_warehouse: i64,
    pub category: i64,
    /// A product with ample stock.
    pub product: i64,
    pub reservation: i64,
    pub order: i64,
    pub sale: i64,
    pub reorder: i64,
}

pub fn id_of(body: &Value) -> i64 {
    body["id"].as_i64().unwrap_or_else(|| panic!("no id in {body}"))
}

impl Fixture {
    pub async fn new(app: TestApp) -> Self {
        let role = app
            .post(
                "/api/roles",
                &app.admin,
                json!({"name": CUSTOM_ROLE, "description": "Looks customers up", "permissions": CUSTOM_ROLE_PERMISSIONS}),
            )
            .await
            .expect(201);
        let custom_role_id = id_of(&role.body);
        let mut auth = Vec::new();
        let mut emails = Vec::new();
        for who in CALLERS {
            let (a, email) = match who {
                Who::Anonymous => (Auth::None, None),
                Who::Admin => (Auth::Bearer(app.admin.clone()), Some(ADMIN_EMAIL.to_string())),
                Who::Manager | Who::Employee | Who::Custom => {
                    let role = who.role().expect("role");
                    let email = format!("{role}@test.cl");
                    app.post(
                        "/api/users",
                        &app.admin,
                        json!({"email": email, "password": PASSWORD, "first_name": who.name(), "role": role}),
                    )
                    .await
                    .expect(201);
                    (Auth::Bearer(app.login(&email, PASSWORD).await), Some(email))
                }
                Who::KeyCustomersRead => (Auth::ApiKey(app.api_key(KEY_CUSTOMERS_READ).await), None),
                Who::KeySuppliersAll => (Auth::ApiKey(app.api_key(KEY_SUPPLIERS_ALL).await), None),
            };
            auth.push(a);
            emails.push(email);
        }
        let login_user_id = create_user(&app.state, LOGIN_EMAIL, "employee").await;
        let mut fixture = Self {
            app,
            seq: AtomicU32::new(1),
            auth,
            emails,
            custom_role_id,
            login_user_id,
            customer: 0,
            employee: 0,
            supplier: 0,
            erp: ErpRefs::default(),
        };
        fixture.customer = fixture.person(Kind::Customers).await;
        fixture.employee = fixture.person(Kind::Employees).await;
        fixture.supplier = fixture.person(Kind::Suppliers).await;
        fixture.erp_setup().await;
        fixture
    }

    pub fn next(&self) -> u32 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    pub fn index(who: Who) -> usize {
        CALLERS.iter().position(|w| *w == who).expect("caller")
    }

    pub fn auth(&self, who: Who) -> Auth {
        self.auth[Self::index(who)].clone()
    }

    pub async fn admin_post(&self, uri: &str, body: Value) -> Value {
        self.app.post(uri, &self.app.admin, body).await.expect(201).body
    }

    /// A new customer, employee or supplier, created by the admin.
    pub async fn person(&self, kind: Kind) -> i64 {
        id_of(&self.admin_post(kind.path(), kind.body(self.next())).await)
    }

    /// A new employee-role user, made straight in the store.
    pub async fn user(&self) -> i64 {
        create_user(&self.app.state, &format!("target{}@test.cl", self.next()), "employee").await
    }

    /// A new custom role that no user holds.
    pub async fn role(&self) -> i64 {
        let body = json!({"name": format!("target-{}", self.next()), "permissions": ["suppliers:read"]});
        id_of(&self.admin_post("/api/roles", body).await)
    }

    pub async fn api_key_id(&self) -> i64 {
        let body = json!({"name": format!("target key {}", self.next()), "permissions": ["customers:read"]});
        id_of(&self.admin_post("/api/api-keys", body).await)
    }

    pub async fn erp_setup(&mut self) {
        let warehouses = self.app.get("/api/warehouses", &self.app.admin).await.expect(200).body;
        self.erp.main_warehouse = id_of(&warehouses[0]);
        self.erp.other_warehouse = self.warehouse().await;
        self.erp.category = self.category().await;
        self.erp.product = self.product(100_000, 10).await;
        self.erp.reservation = self.reservation().await;
        self.erp.order = self.order_in(&[]).await;
        let sale = self
            .admin_post(
                "/api/pos/sales",
                json!({"items": [{"product_id": self.erp.product, "quantity": 1}]}),
            )
            .await;
        self.erp.sale = id_of(&sale);
        // The recommendation the subscriber would have stored for the sale.
        let mut tx = self.app.state.db.begin().await.expect("begin");
        bodega_store::recommendations::save_sale_recommendations(&mut tx.conn(), &[(self.erp.sale, 0, json!([]))])
            .await
            .expect("sale recommendation");
        tx.commit().await.expect("commit");
        self.erp.reorder = self.reorder().await;
    }

    pub async fn warehouse(&self) -> i64 {
        let n = self.next();
        id_of(
            &self
                .admin_post(
                    "/api/warehouses",
                    json!({"code": format!("W{n}"), "name": format!("Bodega {n}")}),
                )
                .await,
        )
    }

    pub async fn category(&self) -> i64 {
        let n = self.next();
        id_of(
            &self
                .admin_post("/api/categories", json!({"name": format!("Categoría {n}")}))
                .await,
        )
    }

    /// A new product holding `stock` units in the main warehouse.
    pub async fn product(&self, stock: i64, threshold: i64) -> i64 {
        let n = self.next();
        let mut body = json!({"sku": format!("SKU-{n}"), "name": format!("Producto {n}"), "price": 1000, "cost": 400,
            "low_stock_threshold": threshold});
        if stock > 0 {
            body["initial_stock"] = json!(stock);
        }
        id_of(&self.admin_post("/api/products", body).await)
    }

    pub async fn reservation(&self) -> i64 {
        let body = json!({"product_id": self.erp.product, "quantity": 1, "expires_in_seconds": 0});
        id_of(&self.admin_post("/api/stock/reservations", body).await)
    }

    /// A new order of one unit, taken through `steps` (confirm, ship, …) by the admin.
    pub async fn order_in(&self, steps: &[&str]) -> i64 {
        let body = json!({"items": [{"product_id": self.erp.product, "quantity": 1}]});
        let id = id_of(&self.admin_post("/api/orders", body).await);
        for step in steps {
            self.app
                .post(&format!("/api/orders/{id}/{step}"), &self.app.admin, json!({}))
                .await
                .expect(200);
        }
        id
    }

    /// An open stock alert (a new product whose opening stock is below its threshold).
    pub async fn alert(&self) -> i64 {
        let product = self.product(1, 10).await;
        let alerts = self
            .app
            .get(
                &format!("/api/alerts?product_id={product}&status=open"),
                &self.app.admin,
            )
            .await
            .expect(200)
            .body;
        id_of(&alerts["items"][0])
    }

    pub async fn reorder(&self) -> i64 {
        let body = json!({"product_id": self.erp.product, "quantity": 5, "unit_cost": 400});
        id_of(&self.admin_post("/api/reorder-requests", body).await)
    }

    /// Everything a request could have written, as the admin sees it: the audit log (every
    /// write is audited) and every user, role, API key, customer, employee and supplier.
    pub async fn snapshot(&self) -> Vec<(&'static str, Value)> {
        let mut parts = Vec::new();
        let audit = self.app.get("/api/audit?per_page=1", &self.app.admin).await.expect(200);
        parts.push(("audit log entries", audit.body["total"].clone()));
        for (name, uri) in [
            ("customers", "/api/customers?per_page=500"),
            ("employees", "/api/employees?per_page=500"),
            ("suppliers", "/api/suppliers?per_page=500"),
            ("users", "/api/users?per_page=500"),
        ] {
            let page = self.app.get(uri, &self.app.admin).await.expect(200).body;
            parts.push((name, page));
        }
        let roles = self.app.get("/api/roles", &self.app.admin).await.expect(200).body;
        parts.push(("roles", roles));
        let mut keys = self.app.get("/api/api-keys", &self.app.admin).await.expect(200).body;
        // Stamped off the request path whenever a key is used; not a change a request made.
        for key in keys.as_array_mut().into_iter().flatten() {
            if let Some(key) = key.as_object_mut() {
                key.remove("last_used_at");
            }
        }
        parts.push(("api keys", keys));
        parts
    }
}
