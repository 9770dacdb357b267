//! The matrix: what each operation demands of its caller and the status each caller must
//! get, written out by hand, with the checks that it follows the role definitions and covers
//! every documented operation.

use crate::callers::{Who, CALLERS};
use crate::operations::{Erp, Kind, Op, Verb};

/// What an endpoint demands of its caller, with the status of a permitted call.
#[derive(Clone, Copy, Debug)]
pub enum Guard {
    /// Open to anyone: every caller gets this status.
    Public(u16),
    /// Signed-in users only: anonymous 401, API keys 403.
    SignedIn(u16),
    /// Needs this permission: anonymous 401, callers without it 403.
    Needs(&'static str, u16),
}

pub struct Row {
    pub op: Op,
    pub guard: Guard,
    /// In the order of [`CALLERS`].
    pub expect: [u16; 7],
}

pub const fn row(op: Op, guard: Guard, expect: [u16; 7]) -> Row {
    Row { op, guard, expect }
}

use Guard::{Needs, Public, SignedIn};
use Kind::{Customers, Employees, Suppliers};
use Verb::{Create, Delete, Get, List, Replace};

#[rustfmt::skip]
pub const MATRIX: &[Row] = &[
    //                                                                 anon admin  mgr empl cust key:c:r key:s:*
    row(Op::Register,                Needs("users:create", 201),      [401, 201, 403, 403, 403, 403, 403]),
    row(Op::Login,                   Public(200),                     [200, 200, 200, 200, 200, 200, 200]),
    row(Op::LoginWrongPassword,      Public(401),                     [401, 401, 401, 401, 401, 401, 401]),
    row(Op::Refresh,                 Public(200),                     [200, 200, 200, 200, 200, 200, 200]),
    row(Op::RefreshBadToken,         Public(401),                     [401, 401, 401, 401, 401, 401, 401]),
    row(Op::Logout,                  SignedIn(204),                   [401, 204, 204, 204, 204, 403, 403]),
    row(Op::Me,                      SignedIn(200),                   [401, 200, 200, 200, 200, 403, 403]),
    row(Op::Profile,                 SignedIn(200),                   [401, 200, 200, 200, 200, 403, 403]),
    row(Op::ChangePassword,          SignedIn(204),                   [401, 204, 204, 204, 204, 403, 403]),
    row(Op::ListUsers,               Needs("users:read", 200),        [401, 200, 403, 403, 403, 403, 403]),
    row(Op::CreateUser,              Needs("users:create", 201),      [401, 201, 403, 403, 403, 403, 403]),
    row(Op::GetUser,                 Needs("users:read", 200),        [401, 200, 403, 403, 403, 403, 403]),
    row(Op::UpdateUser,              Needs("users:update", 200),      [401, 200, 403, 403, 403, 403, 403]),
    row(Op::DeactivateUser,          Needs("users:delete", 204),      [401, 204, 403, 403, 403, 403, 403]),
    row(Op::ResetPassword,           Needs("users:update", 204),      [401, 204, 403, 403, 403, 403, 403]),
    row(Op::ListRoles,               Needs("roles:read", 200),        [401, 200, 403, 403, 403, 403, 403]),
    row(Op::CreateRole,              Needs("roles:create", 201),      [401, 201, 403, 403, 403, 403, 403]),
    row(Op::GetRole,                 Needs("roles:read", 200),        [401, 200, 403, 403, 403, 403, 403]),
    row(Op::UpdateRole,              Needs("roles:update", 200),      [401, 200, 403, 403, 403, 403, 403]),
    row(Op::DeleteRole,              Needs("roles:delete", 204),      [401, 204, 403, 403, 403, 403, 403]),
    row(Op::ListPermissions,         Needs("roles:read", 200),        [401, 200, 403, 403, 403, 403, 403]),
    row(Op::ListApiKeys,             Needs("api_keys:read", 200),     [401, 200, 403, 403, 403, 403, 403]),
    row(Op::CreateApiKey,            Needs("api_keys:create", 201),   [401, 201, 403, 403, 403, 403, 403]),
    row(Op::RevokeApiKey,            Needs("api_keys:delete", 204),   [401, 204, 403, 403, 403, 403, 403]),
    row(Op::Audit,                   Needs("audit:read", 200),        [401, 200, 403, 403, 403, 403, 403]),
    row(Op::People(Customers, List),    Needs("customers:read", 200),   [401, 200, 200, 200, 200, 200, 403]),
    row(Op::People(Customers, Create),  Needs("customers:create", 201), [401, 201, 201, 201, 403, 403, 403]),
    row(Op::People(Customers, Get),     Needs("customers:read", 200),   [401, 200, 200, 200, 200, 200, 403]),
    row(Op::People(Customers, Replace), Needs("customers:update", 200), [401, 200, 200, 200, 403, 403, 403]),
    row(Op::People(Customers, Delete),  Needs("customers:delete", 204), [401, 204, 204, 403, 403, 403, 403]),
    row(Op::People(Employees, List),    Needs("employees:read", 200),   [401, 200, 200, 403, 403, 403, 403]),
    row(Op::People(Employees, Create),  Needs("employees:create", 201), [401, 201, 201, 403, 403, 403, 403]),
    row(Op::People(Employees, Get),     Needs("employees:read", 200),   [401, 200, 200, 403, 403, 403, 403]),
    row(Op::People(Employees, Replace), Needs("employees:update", 200), [401, 200, 200, 403, 403, 403, 403]),
    row(Op::People(Employees, Delete),  Needs("employees:delete", 204), [401, 204, 204, 403, 403, 403, 403]),
    row(Op::People(Suppliers, List),    Needs("suppliers:read", 200),   [401, 200, 200, 200, 403, 403, 200]),
    row(Op::People(Suppliers, Create),  Needs("suppliers:create", 201), [401, 201, 201, 403, 403, 403, 201]),
    row(Op::People(Suppliers, Get),     Needs("suppliers:read", 200),   [401, 200, 200, 200, 403, 403, 200]),
    row(Op::People(Suppliers, Replace), Needs("suppliers:update", 200), [401, 200, 200, 403, 403, 403, 200]),
    row(Op::People(Suppliers, Delete),  Needs("suppliers:delete", 204), [401, 204, 204, 403, 403, 403, 204]),
    row(Op::Health,                  Public(200),                     [200, 200, 200, 200, 200, 200, 200]),
    row(Op::Metrics,                 Public(200),                     [200, 200, 200, 200, 200, 200, 200]),
    row(Op::OpenApiJson,             Public(200),                     [200, 200, 200, 200, 200, 200, 200]),
    row(Op::Docs,                    Public(200),                     [200, 200, 200, 200, 200, 200, 200]),
    row(Op::Erp(Erp::ListWarehouses),       Needs("warehouses:read", 200),   [401, 200, 200, 200, 403, 403, 403]),
    row(Op::Erp(Erp::CreateWarehouse),      Needs("warehouses:create", 201), [401, 201, 201, 403, 403, 403, 403]),
    row(Op::Erp(Erp::GetWarehouse),         Needs("warehouses:read", 200),   [401, 200, 200, 200, 403, 403, 403]),
    row(Op::Erp(Erp::UpdateWarehouse),      Needs("warehouses:update", 200), [401, 200, 200, 403, 403, 403, 403]),
    row(Op::Erp(Erp::ListCategories),       Needs("categories:read", 200),   [401, 200, 200, 200, 403, 403, 403]),
    row(Op::Erp(Erp::CreateCategory),       Needs("categories:create", 201), [401, 201, 201, 403, 403, 403, 403]),
    row(Op::Erp(Erp::GetCategory),          Needs("categories:read", 200),   [401, 200, 200, 200, 403, 403, 403]),
    row(Op::Erp(Erp::UpdateCategory),       Needs("categories:update", 200), [401, 200, 200, 403, 403, 403, 403]),
    row(Op::Erp(Erp::DeleteCategory),       Needs("categories:delete", 204), [401, 204, 204, 403, 403, 403, 403]),
    row(Op::Erp(Erp::ListProducts),         Needs("products:read", 200),     [401, 200, 200, 200, 403, 403, 403]),
    row(Op::Erp(Erp::CreateProduct),        Needs("products:create", 201),   [401, 201, 201, 403, 403, 403, 403]),
    row(Op::Erp(Erp::GetProduct),           Needs("products:read", 200),     [401, 200, 200, 200, 403, 403, 403]),
    row(Op::Erp(Erp::UpdateProduct),        Needs("products:update", 200),   [401, 200, 200, 403, 403, 403, 403]),
    row(Op::Erp(Erp::PatchProduct),         Needs("products:update", 200),   [401, 200, 200, 403, 403, 403, 403]),
    row(Op::Erp(Erp::DeleteProduct),        Needs("products:delete", 204),   [401, 204, 204, 403, 403, 403, 403]),
    row(Op::Erp(Erp::SellProduct),          Needs("sales:create", 201),      [401, 201, 201, 201, 403, 403, 403]),
    row(Op::Erp(Erp::ListMovements),        Needs("stock:read", 200),        [401, 200, 200, 200, 403, 403, 403]),
    row(Op::Erp(Erp::CreateMovement),       Needs("stock:create", 201),      [401, 201, 201, 403, 403, 403, 403]),
    row(Op::Erp(Erp::ListLevels),           Needs("stock:read", 200),        [401, 200, 200, 200, 403, 403, 403]),
    row(Op::Erp(Erp::CreateTransfer),       Needs("stock:create", 201),      [401, 201, 201, 403, 403, 403, 403]),
    row(Op::Erp(Erp::ListReservations),     Needs("stock:read", 200),        [401, 200, 200, 200, 403, 403, 403]),
    row(Op::Erp(Erp::CreateReservation),    Needs("stock:create", 201),      [401, 201, 201, 403, 403, 403, 403]),
    row(Op::Erp(Erp::GetReservation),       Needs("stock:read", 200),        [401, 200, 200, 200, 403, 403, 403]),
    row(Op::Erp(Erp::CommitReservation),    Needs("stock:create", 200),      [401, 200, 200, 403, 403, 403, 403]),
    row(Op::Erp(Erp::ReleaseReservation),   Needs("stock:create", 200),      [401, 200, 200, 403, 403, 403, 403]),
    row(Op::Erp(Erp::LowStock),             Needs("stock:read", 200),        [401, 200, 200, 200, 403, 403, 403]),
    row(Op::Erp(Erp::ListOrders),           Needs("orders:read", 200),       [401, 200, 200, 200, 403, 403, 403]),
    row(Op::Erp(Erp::CreateOrder),          Needs("orders:create", 201),     [401, 201, 201, 201, 403, 403, 403]),
    row(Op::Erp(Erp::GetOrder),             Needs("orders:read", 200),       [401, 200, 200, 200, 403, 403, 403]),
    row(Op::Erp(Erp::UpdateOrder),          Needs("orders:update", 200),     [401, 200, 200, 200, 403, 403, 403]),
    row(Op::Erp(Erp::ConfirmOrder),         Needs("orders:update", 200),     [401, 200, 200, 200, 403, 403, 403]),
    row(Op::Erp(Erp::ProcessOrder),         Needs("orders:update", 200),     [401, 200, 200, 200, 403, 403, 403]),
    row(Op::Erp(Erp::ShipOrder),            Needs("orders:update", 200),     [401, 200, 200, 200, 403, 403, 403]),
    row(Op::Erp(Erp::DeliverOrder),         Needs("orders:update", 200),     [401, 200, 200, 200, 403, 403, 403]),
    row(Op::Erp(Erp::CompleteOrder),        Needs("orders:update", 200),     [401, 200, 200, 200, 403, 403, 403]),
    row(Op::Erp(Erp::CancelOrder),          Needs("orders:update", 200),     [401, 200, 200, 200, 403, 403, 403]),
    row(Op::Erp(Erp::ReturnOrder),          Needs("orders:update", 200),     [401, 200, 200, 200, 403, 403, 403]),
    row(Op::Erp(Erp::OrderPayment),         Needs("orders:update", 200),     [401, 200, 200, 200, 403, 403, 403]),
    row(Op::Erp(Erp::PosSale),              Needs("sales:create", 201),      [401, 201, 201, 201, 403, 403, 403]),
    row(Op::Erp(Erp::ListSales),            Needs("sales:read", 200),        [401, 200, 200, 200, 403, 403, 403]),
    row(Op::Erp(Erp::SalesStats),           Needs("sales:read", 200),        [401, 200, 200, 200, 403, 403, 403]),
    row(Op::Erp(Erp::GetSale),              Needs("sales:read", 200),        [401, 200, 200, 200, 403, 403, 403]),
    row(Op::Erp(Erp::ListAlerts),           Needs("alerts:read", 200),       [401, 200, 200, 200, 403, 403, 403]),
    row(Op::Erp(Erp::AckAlert),             Needs("alerts:update", 200),     [401, 200, 200, 403, 403, 403, 403]),
    row(Op::Erp(Erp::ListReorders),         Needs("reorders:read", 200),     [401, 200, 200, 403, 403, 403, 403]),
    row(Op::Erp(Erp::CreateReorder),        Needs("reorders:create", 201),   [401, 201, 201, 403, 403, 403, 403]),
    row(Op::Erp(Erp::GetReorder),           Needs("reorders:read", 200),     [401, 200, 200, 403, 403, 403, 403]),
    row(Op::Erp(Erp::AdvanceReorder),       Needs("reorders:update", 200),   [401, 200, 200, 403, 403, 403, 403]),
    row(Op::Erp(Erp::ImportCsv),            Needs("imports:create", 200),    [401, 200, 200, 403, 403, 403, 403]),
    row(Op::Erp(Erp::ExportCsv),            Needs("products:read", 200),     [401, 200, 200, 200, 403, 403, 403]),
    row(Op::Erp(Erp::MlRecommendations),    Needs("ml:read", 200),           [401, 200, 200, 200, 403, 403, 403]),
    row(Op::Erp(Erp::MlInteraction),        Needs("ml:create", 202),         [401, 202, 202, 403, 403, 403, 403]),
    row(Op::Erp(Erp::MlFindSimilar),        Needs("ml:read", 200),           [401, 200, 200, 200, 403, 403, 403]),
    row(Op::Erp(Erp::MlMetrics),            Needs("ml:read", 200),           [401, 200, 200, 200, 403, 403, 403]),
    row(Op::Erp(Erp::ListModels),           Needs("ml:read", 200),           [401, 200, 200, 200, 403, 403, 403]),
    row(Op::Erp(Erp::TrainModels),          Needs("ml:update", 201),         [401, 201, 201, 403, 403, 403, 403]),
    row(Op::Erp(Erp::ProductSimilar),       Needs("products:read", 200),     [401, 200, 200, 200, 403, 403, 403]),
    row(Op::Erp(Erp::CustomerRecommendations), Needs("ml:read", 200),        [401, 200, 200, 200, 403, 403, 403]),
    row(Op::Erp(Erp::BasketRecommendations), Needs("ml:read", 200),          [401, 200, 200, 200, 403, 403, 403]),
    row(Op::Erp(Erp::SaleRecommendations),  Needs("sales:read", 200),        [401, 200, 200, 200, 403, 403, 403]),
    row(Op::Erp(Erp::DailySales),              Needs("analytics:read", 200),     [401, 200, 200, 403, 403, 403, 403]),
    row(Op::Erp(Erp::SalesTrends),             Needs("analytics:read", 200),     [401, 200, 200, 403, 403, 403, 403]),
    row(Op::Erp(Erp::TopProducts),             Needs("analytics:read", 200),     [401, 200, 200, 403, 403, 403, 403]),
    row(Op::Erp(Erp::InventoryHealth),         Needs("analytics:read", 200),     [401, 200, 200, 403, 403, 403, 403]),
    row(Op::Erp(Erp::CustomerRanking),         Needs("analytics:read", 200),     [401, 200, 200, 403, 403, 403, 403]),
    row(Op::Erp(Erp::Profitability),           Needs("analytics:read", 200),     [401, 200, 200, 403, 403, 403, 403]),
    row(Op::Erp(Erp::InventorySummary),        Needs("analytics:read", 200),     [401, 200, 200, 403, 403, 403, 403]),
    row(Op::Erp(Erp::CategoryPerformance),     Needs("analytics:read", 200),     [401, 200, 200, 403, 403, 403, 403]),
    row(Op::Erp(Erp::StoreRanking),            Needs("analytics:read", 200),     [401, 200, 200, 403, 403, 403, 403]),
    row(Op::Erp(Erp::ListJobs),             Needs("jobs:read", 200),         [401, 200, 200, 403, 403, 403, 403]),
    row(Op::Erp(Erp::ListJobRuns),          Needs("jobs:read", 200),         [401, 200, 200, 403, 403, 403, 403]),
    row(Op::Erp(Erp::RunJob),               Needs("jobs:create", 201),       [401, 201, 403, 403, 403, 403, 403]),
    row(Op::Erp(Erp::ForecastDemand), Needs("forecasts:read", 200), [401, 200, 200, 403, 403, 403, 403]),
    row(Op::Erp(Erp::ForecastComponents), Needs("forecasts:read", 200), [401, 200, 200, 403, 403, 403, 403]),
    row(Op::Erp(Erp::ForecastAccuracy), Needs("forecasts:read", 200), [401, 200, 200, 403, 403, 403, 403]),
    row(Op::Erp(Erp::ForecastBatch), Needs("forecasts:create", 201), [401, 201, 201, 403, 403, 403, 403]),
    row(Op::Erp(Erp::ReorderAdvice), Needs("forecasts:read", 200), [401, 200, 200, 403, 403, 403, 403]),
    row(Op::Erp(Erp::ApplyReorderAdvice), Needs("reorders:create", 201), [401, 201, 201, 403, 403, 403, 403]),
    row(Op::Erp(Erp::SetReplenishment), Needs("products:update", 200), [401, 200, 200, 403, 403, 403, 403]),
];

/// `needed` (`resource:action`) granted by `granted` (`resource:action`, `resource:*`, `*`).
/// Deliberately independent of `PermissionSet::allows`, which is under test.
pub fn holds(granted: &[&str], needed: &str) -> bool {
    let (resource, _) = needed.split_once(':').expect("resource:action");
    let wildcard = format!("{resource}:*");
    granted.iter().any(|g| *g == "*" || *g == needed || *g == wildcard)
}

/// The status `who` should get from an endpoint guarded by `guard`.
pub fn derived(guard: Guard, who: Who) -> u16 {
    match guard {
        Guard::Public(status) => status,
        Guard::SignedIn(_) if who == Who::Anonymous => 401,
        Guard::SignedIn(_) if who.is_api_key() => 403,
        Guard::SignedIn(status) => status,
        Guard::Needs(_, _) if who == Who::Anonymous => 401,
        Guard::Needs(permission, status) if holds(&who.permissions(), permission) => status,
        Guard::Needs(_, _) => 403,
    }
}

/// The hand-written table agrees with what the role definitions grant each caller.
#[test]
fn the_matrix_follows_the_role_definitions() {
    let mut wrong = Vec::new();
    for row in MATRIX {
        for (who, expected) in CALLERS.iter().zip(row.expect) {
            let from_roles = derived(row.guard, *who);
            if from_roles != expected {
                wrong.push(format!(
                    "{} as {}: table says {expected}, role definitions say {from_roles}",
                    row.op.label(),
                    who.name()
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "the matrix disagrees with BUILTIN_ROLES:\n{}",
        wrong.join("\n")
    );
}

/// Every operation of the OpenAPI document has a row (so a new endpoint needs one), and every
/// row is either documented or one of the documentation routes themselves.
#[test]
fn every_documented_operation_is_in_the_matrix() {
    let doc = serde_json::to_value(bodega_server::app::openapi()).expect("serialise OpenAPI");
    let paths = doc["paths"].as_object().expect("paths");
    let mut documented = Vec::new();
    for (path, item) in paths {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                documented.push(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    let in_matrix: Vec<String> = MATRIX
        .iter()
        .map(|r| {
            let (method, path, _) = r.op.route();
            format!("{method} {path}")
        })
        .collect();
    let missing: Vec<&String> = documented.iter().filter(|d| !in_matrix.contains(d)).collect();
    assert!(missing.is_empty(), "endpoints without a row in the matrix: {missing:?}");
    let undocumented: Vec<&String> = in_matrix
        .iter()
        .filter(|m| !documented.contains(m) && !m.starts_with("GET /api/docs") && *m != "GET /api/openapi.json")
        .collect();
    assert!(
        undocumented.is_empty(),
        "rows for routes the API does not document: {undocumented:?}"
    );
}
