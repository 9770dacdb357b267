//! Shared pieces of the people tests: the three kinds, sample bodies, and small read-backs
//! (listing totals, audit entries, request ids).

use serde_json::{json, Value};

use crate::helpers::{Response, TestApp};

/// One kind of person: where it lives and how the audit log names it.
#[derive(Debug, Clone, Copy)]
pub struct Kind {
    pub path: &'static str,
    pub resource: &'static str,
}

pub const CUSTOMERS: Kind = Kind {
    path: "/api/customers",
    resource: "customer",
};
pub const EMPLOYEES: Kind = Kind {
    path: "/api/employees",
    resource: "employee",
};
pub const SUPPLIERS: Kind = Kind {
    path: "/api/suppliers",
    resource: "supplier",
};
pub const KINDS: [Kind; 3] = [CUSTOMERS, EMPLOYEES, SUPPLIERS];

impl Kind {
    /// A minimal valid body (required fields only), distinct per `n`.
    pub fn minimal(&self, n: u32) -> Value {
        match self.resource {
            "customer" => json!({"first_name": format!("Cliente {n}")}),
            "employee" => json!({"employee_code": format!("E-{n:04}"), "first_name": format!("Empleado {n}")}),
            _ => json!({"name": format!("Proveedor {n}")}),
        }
    }

    /// A minimal body with an e-mail and a RUT.
    pub fn with_contact(&self, n: u32, email: &str, rut: &str) -> Value {
        let mut body = self.minimal(n);
        body["email"] = json!(email);
        body["rut"] = json!(rut);
        body
    }

    /// The field that must not be blank (and is named when it is).
    pub fn name_field(&self) -> &'static str {
        match self.resource {
            "supplier" => "name",
            _ => "first_name",
        }
    }

    pub fn item(&self, id: i64) -> String {
        format!("{}/{id}", self.path)
    }
}

/// Valid RUTs (body, check digit) computed independently of the code under test.
pub const RUT_A: &str = "12.345.678-5";
pub const RUT_A_CANONICAL: &str = "12345678-5";
pub const RUT_B: &str = "11.111.111-1";
pub const RUT_B_CANONICAL: &str = "11111111-1";
pub const RUT_C: &str = "7.654.321-6";

/// `total` of a listing.
pub async fn total(app: &TestApp, uri: &str) -> i64 {
    let r = app.get(uri, &app.admin).await.expect(200);
    r.body["total"].as_i64().expect("total")
}

/// The ids of the items of a listing, in order.
pub fn ids(r: &Response) -> Vec<i64> {
    r.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["id"].as_i64().expect("id"))
        .collect()
}

/// Creates a record and returns its body.
pub async fn create(app: &TestApp, kind: Kind, body: Value) -> Value {
    app.post(kind.path, &app.admin, body).await.expect(201).body
}

pub fn id_of(record: &Value) -> i64 {
    record["id"].as_i64().expect("id")
}

/// The `x-request-id` of a response.
pub fn request_id(r: &Response) -> String {
    r.headers
        .get("x-request-id")
        .expect("x-request-id header")
        .to_str()
        .expect("ascii request id")
        .to_string()
}

/// Audit entries of one record, newest first.
pub async fn audit_of(app: &TestApp, kind: Kind, id: i64) -> Vec<Value> {
    let r = app
        .get(
            &format!("/api/audit?resource={}&resource_id={id}&per_page=500", kind.resource),
            &app.admin,
        )
        .await
        .expect(200);
    r.body["items"].as_array().expect("items").clone()
}

/// Every audit entry of the app (its total).
pub async fn audit_total(app: &TestApp) -> i64 {
    total(app, "/api/audit").await
}

/// Records and audit entries at one moment, to show that a rejected request changed nothing.
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    customers: i64,
    employees: i64,
    suppliers: i64,
    audit: i64,
}

pub async fn snapshot(app: &TestApp) -> Snapshot {
    Snapshot {
        customers: total(app, CUSTOMERS.path).await,
        employees: total(app, EMPLOYEES.path).await,
        suppliers: total(app, SUPPLIERS.path).await,
        audit: audit_total(app).await,
    }
}

/// Asserts a rejection: the given 4xx status, the JSON error shape, never a 5xx.
#[track_caller]
pub fn assert_rejected(r: &Response, statuses: &[u16], what: &str) {
    let status = r.status.as_u16();
    assert!(status < 500, "{what}: server error {status}; body: {}", r.body);
    assert!(
        statuses.contains(&status),
        "{what}: status {status}, expected one of {statuses:?}; body: {}",
        r.body
    );
    let error = &r.body["error"];
    assert!(error["code"].is_string(), "{what}: no error code; body: {}", r.body);
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}: no error message; body: {}",
        r.body
    );
}
