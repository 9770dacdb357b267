#[path = "../api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

// The authorization matrix: every endpoint and method against every kind of caller, on SQLite
// and on PostgreSQL. Each row states the permission an endpoint needs and the status each
// caller must get; the statuses are written out by hand from the role definitions
// (`bodega_domain::BUILTIN_ROLES`), and [`the_matrix_follows_the_role_definitions`] checks the
// hand-written table against them, so neither can drift alone.
//
// Every request carries a valid body, so a permitted caller gets a success and a refused one
// gets 401/403 from the permission check, not from validation. Records a success would
// consume (a deleted customer, a revoked key, a logged-out session) are made fresh for each
// cell. Every refused request that could write is checked to have changed nothing.
//
// The test collects every disagreement and fails once, printing them all and the whole
// observed matrix.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU32, Ordering};

use axum::http::Method;
use serde_json::{json, Value};

use bodega_domain::BUILTIN_ROLES;
use helpers::{create_user, Auth, TestApp, ADMIN_EMAIL, PASSWORD};

crate::on_both_stores!(authorization_matrix);

// ---------------------------------------------------------------------------------------------
// Callers
// ---------------------------------------------------------------------------------------------

/// Who makes a request: the columns of the matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Anonymous,
    Admin,
    Manager,
    Employee,
    /// A user holding the custom role [`CUSTOM_ROLE`] (`customers:read`).
    Custom,
    /// An API key with `customers:read`.
    KeyCustomersRead,
    /// An API key with `suppliers:*`.
    KeySuppliersAll,
}

const CALLERS: [Who; 7] = [
    Who::Anonymous,
    Who::Admin,
    Who::Manager,
    Who::Employee,
    Who::Custom,
    Who::KeyCustomersRead,
    Who::KeySuppliersAll,
];

const CUSTOM_ROLE: &str = "customer-viewer";
const CUSTOM_ROLE_PERMISSIONS: &[&str] = &["customers:read"];
const KEY_CUSTOMERS_READ: &[&str] = &["customers:read"];
const KEY_SUPPLIERS_ALL: &[&str] = &["suppliers:*"];

impl Who {
    fn name(self) -> &'static str {
        match self {
            Who::Anonymous => "anonymous",
            Who::Admin => "admin",
            Who::Manager => "manager",
            Who::Employee => "employee",
            Who::Custom => "custom role",
            Who::KeyCustomersRead => "key customers:read",
            Who::KeySuppliersAll => "key suppliers:*",
        }
    }

    /// A short column heading.
    fn column(self) -> &'static str {
        match self {
            Who::Anonymous => "anon",
            Who::Admin => "admin",
            Who::Manager => "mgr",
            Who::Employee => "empl",
            Who::Custom => "custom",
            Who::KeyCustomersRead => "key:c:r",
            Who::KeySuppliersAll => "key:s:*",
        }
    }

    /// The role of a signed-in caller.
    fn role(self) -> Option<&'static str> {
        match self {
            Who::Admin => Some("admin"),
            Who::Manager => Some("manager"),
            Who::Employee => Some("employee"),
            Who::Custom => Some(CUSTOM_ROLE),
            Who::Anonymous | Who::KeyCustomersRead | Who::KeySuppliersAll => None,
        }
    }

    fn is_api_key(self) -> bool {
        matches!(self, Who::KeyCustomersRead | Who::KeySuppliersAll)
    }

    /// What the caller holds, read from the role definitions.
    fn permissions(self) -> Vec<&'static str> {
        match self {
            Who::Anonymous => vec![],
            Who::Admin | Who::Manager | Who::Employee => {
                let name = self.role().expect("built-in role");
                BUILTIN_ROLES
                    .iter()
                    .find(|r| r.name == name)
                    .unwrap_or_else(|| panic!("no built-in role {name}"))
                    .permissions
                    .to_vec()
            }
            Who::Custom => CUSTOM_ROLE_PERMISSIONS.to_vec(),
            Who::KeyCustomersRead => KEY_CUSTOMERS_READ.to_vec(),
            Who::KeySuppliersAll => KEY_SUPPLIERS_ALL.to_vec(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Endpoints
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Customers,
    Employees,
    Suppliers,
}

impl Kind {
    fn path(self) -> &'static str {
        match self {
            Kind::Customers => "/api/customers",
            Kind::Employees => "/api/employees",
            Kind::Suppliers => "/api/suppliers",
        }
    }

    /// A valid create/replace body, unique by `n`.
    fn body(self, n: u32) -> Value {
        match self {
            Kind::Customers => json!({
                "first_name": "Cliente",
                "last_name": format!("Número {n}"),
                "email": format!("cliente{n}@test.cl"),
                "phone": "+56 9 1111 1111",
            }),
            Kind::Employees => json!({
                "employee_code": format!("E{n:05}"),
                "first_name": "Empleado",
                "last_name": format!("Número {n}"),
                "email": format!("empleado{n}@test.cl"),
                "department": "Ventas",
                "hire_date": "2024-03-01",
                "salary": 650000,
            }),
            Kind::Suppliers => json!({
                "name": format!("Proveedor {n}"),
                "contact_name": "Contacto",
                "email": format!("proveedor{n}@test.cl"),
                "lead_time_days": 5,
            }),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verb {
    List,
    Create,
    Get,
    Replace,
    Delete,
}

/// One (endpoint, method) of the API: the rows of the matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Register,
    Login,
    LoginWrongPassword,
    Refresh,
    RefreshBadToken,
    Logout,
    Me,
    Profile,
    ChangePassword,
    ListUsers,
    CreateUser,
    GetUser,
    UpdateUser,
    DeactivateUser,
    ResetPassword,
    ListRoles,
    CreateRole,
    GetRole,
    UpdateRole,
    DeleteRole,
    ListPermissions,
    ListApiKeys,
    CreateApiKey,
    RevokeApiKey,
    Audit,
    People(Kind, Verb),
    Health,
    Metrics,
    OpenApiJson,
    Docs,
    Erp(Erp),
}

/// The ERP operations: catalogue, stock, orders, sales, alerts and reorders.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Erp {
    ListWarehouses,
    CreateWarehouse,
    GetWarehouse,
    UpdateWarehouse,
    ListCategories,
    CreateCategory,
    GetCategory,
    UpdateCategory,
    DeleteCategory,
    ListProducts,
    CreateProduct,
    GetProduct,
    UpdateProduct,
    DeleteProduct,
    SellProduct,
    ListMovements,
    CreateMovement,
    ListLevels,
    CreateTransfer,
    CreateReservation,
    GetReservation,
    CommitReservation,
    ReleaseReservation,
    LowStock,
    ListOrders,
    CreateOrder,
    GetOrder,
    ConfirmOrder,
    ProcessOrder,
    ShipOrder,
    DeliverOrder,
    CompleteOrder,
    CancelOrder,
    ReturnOrder,
    OrderPayment,
    PosSale,
    ListSales,
    SalesStats,
    GetSale,
    ListAlerts,
    AckAlert,
    ListReorders,
    CreateReorder,
    GetReorder,
    AdvanceReorder,
    /// `POST /api/imports/{format}` with a products CSV.
    ImportCsv,
    /// `GET /api/exports/{format}` of products.
    ExportCsv,
    MlRecommendations,
    MlInteraction,
    MlFindSimilar,
    MlMetrics,
    ListModels,
    TrainModels,
    ProductSimilar,
    CustomerRecommendations,
    BasketRecommendations,
    SaleRecommendations,
    DailySales,
    SalesTrends,
    TopProducts,
    InventoryHealth,
    CustomerRanking,
    Profitability,
    InventorySummary,
    CategoryPerformance,
    StoreRanking,
    ListJobs,
    ListJobRuns,
    RunJob,
    ForecastDemand,
    ForecastComponents,
    ForecastAccuracy,
    ForecastBatch,
    ReorderAdvice,
    ApplyReorderAdvice,
    SetReplenishment,
}

impl Erp {
    fn route(self) -> (Method, &'static str) {
        match self {
            Erp::ListWarehouses => (Method::GET, "/api/warehouses"),
            Erp::CreateWarehouse => (Method::POST, "/api/warehouses"),
            Erp::GetWarehouse => (Method::GET, "/api/warehouses/{id}"),
            Erp::UpdateWarehouse => (Method::PUT, "/api/warehouses/{id}"),
            Erp::ListCategories => (Method::GET, "/api/categories"),
            Erp::CreateCategory => (Method::POST, "/api/categories"),
            Erp::GetCategory => (Method::GET, "/api/categories/{id}"),
            Erp::UpdateCategory => (Method::PUT, "/api/categories/{id}"),
            Erp::DeleteCategory => (Method::DELETE, "/api/categories/{id}"),
            Erp::ListProducts => (Method::GET, "/api/products"),
            Erp::CreateProduct => (Method::POST, "/api/products"),
            Erp::GetProduct => (Method::GET, "/api/products/{id}"),
            Erp::UpdateProduct => (Method::PUT, "/api/products/{id}"),
            Erp::DeleteProduct => (Method::DELETE, "/api/products/{id}"),
            Erp::SellProduct => (Method::POST, "/api/products/{id}/sell"),
            Erp::ListMovements => (Method::GET, "/api/stock/movements"),
            Erp::CreateMovement => (Method::POST, "/api/stock/movements"),
            Erp::ListLevels => (Method::GET, "/api/stock/levels"),
            Erp::CreateTransfer => (Method::POST, "/api/stock/transfers"),
            Erp::CreateReservation => (Method::POST, "/api/stock/reservations"),
            Erp::GetReservation => (Method::GET, "/api/stock/reservations/{id}"),
            Erp::CommitReservation => (Method::POST, "/api/stock/reservations/{id}/commit"),
            Erp::ReleaseReservation => (Method::POST, "/api/stock/reservations/{id}/release"),
            Erp::LowStock => (Method::GET, "/api/inventory/low-stock"),
            Erp::ListOrders => (Method::GET, "/api/orders"),
            Erp::CreateOrder => (Method::POST, "/api/orders"),
            Erp::GetOrder => (Method::GET, "/api/orders/{id}"),
            Erp::ConfirmOrder => (Method::POST, "/api/orders/{id}/confirm"),
            Erp::ProcessOrder => (Method::POST, "/api/orders/{id}/process"),
            Erp::ShipOrder => (Method::POST, "/api/orders/{id}/ship"),
            Erp::DeliverOrder => (Method::POST, "/api/orders/{id}/deliver"),
            Erp::CompleteOrder => (Method::POST, "/api/orders/{id}/complete"),
            Erp::CancelOrder => (Method::POST, "/api/orders/{id}/cancel"),
            Erp::ReturnOrder => (Method::POST, "/api/orders/{id}/return"),
            Erp::OrderPayment => (Method::POST, "/api/orders/{id}/payment"),
            Erp::PosSale => (Method::POST, "/api/pos/sales"),
            Erp::ListSales => (Method::GET, "/api/sales"),
            Erp::SalesStats => (Method::GET, "/api/sales/stats"),
            Erp::GetSale => (Method::GET, "/api/sales/{id}"),
            Erp::ListAlerts => (Method::GET, "/api/alerts"),
            Erp::AckAlert => (Method::POST, "/api/alerts/{id}/ack"),
            Erp::ListReorders => (Method::GET, "/api/reorder-requests"),
            Erp::CreateReorder => (Method::POST, "/api/reorder-requests"),
            Erp::GetReorder => (Method::GET, "/api/reorder-requests/{id}"),
            Erp::AdvanceReorder => (Method::POST, "/api/reorder-requests/{id}/status"),
            Erp::ImportCsv => (Method::POST, "/api/imports/{format}"),
            Erp::ExportCsv => (Method::GET, "/api/exports/{format}"),
            Erp::MlRecommendations => (Method::POST, "/api/ml/recommendations/get"),
            Erp::MlInteraction => (Method::POST, "/api/ml/recommendations/interaction"),
            Erp::MlFindSimilar => (Method::POST, "/api/ml/embeddings/find-similar"),
            Erp::MlMetrics => (Method::GET, "/api/ml/metrics/overall"),
            Erp::ListModels => (Method::GET, "/api/ml/models"),
            Erp::TrainModels => (Method::POST, "/api/ml/models"),
            Erp::ProductSimilar => (Method::GET, "/api/products/{id}/similar"),
            Erp::CustomerRecommendations => (Method::GET, "/api/customers/{id}/recommendations"),
            Erp::BasketRecommendations => (Method::POST, "/api/recommendations/basket"),
            Erp::SaleRecommendations => (Method::GET, "/api/sales/{id}/recommendations"),
            Erp::DailySales => (Method::GET, "/api/analytics/metrics/daily-sales"),
            Erp::SalesTrends => (Method::GET, "/api/analytics/metrics/sales-trends"),
            Erp::TopProducts => (Method::GET, "/api/analytics/metrics/top-products"),
            Erp::InventoryHealth => (Method::GET, "/api/analytics/metrics/inventory-health"),
            Erp::CustomerRanking => (Method::GET, "/api/analytics/metrics/customer-ranking"),
            Erp::Profitability => (Method::GET, "/api/analytics/reports/profitability"),
            Erp::InventorySummary => (Method::GET, "/api/analytics/reports/inventory-summary"),
            Erp::CategoryPerformance => (Method::GET, "/api/analytics/reports/category-performance"),
            Erp::StoreRanking => (Method::GET, "/api/analytics/reports/store-ranking"),
            Erp::ListJobs => (Method::GET, "/api/jobs"),
            Erp::ListJobRuns => (Method::GET, "/api/jobs/runs"),
            Erp::RunJob => (Method::POST, "/api/jobs/{name}/run"),
            Erp::ForecastDemand => (Method::GET, "/api/analytics/forecasting/demand"),
            Erp::ForecastComponents => (Method::GET, "/api/analytics/forecasting/demand/components"),
            Erp::ForecastAccuracy => (Method::GET, "/api/analytics/forecasting/accuracy"),
            Erp::ForecastBatch => (Method::POST, "/api/analytics/forecasting/batch"),
            Erp::ReorderAdvice => (Method::GET, "/api/analytics/reorder-advice"),
            Erp::ApplyReorderAdvice => (Method::POST, "/api/analytics/reorder-advice/apply"),
            Erp::SetReplenishment => (Method::PUT, "/api/products/{id}/replenishment"),
        }
    }
}

impl Op {
    /// Method, path template (as documented) and a note telling apart rows of one route.
    fn route(self) -> (Method, &'static str, &'static str) {
        match self {
            Op::Register => (Method::POST, "/api/auth/register", ""),
            Op::Login => (Method::POST, "/api/auth/login", "valid credentials"),
            Op::LoginWrongPassword => (Method::POST, "/api/auth/login", "wrong password"),
            Op::Refresh => (Method::POST, "/api/auth/refresh", "valid token"),
            Op::RefreshBadToken => (Method::POST, "/api/auth/refresh", "bad token"),
            Op::Logout => (Method::POST, "/api/auth/logout", ""),
            Op::Me => (Method::GET, "/api/auth/me", ""),
            Op::Profile => (Method::PUT, "/api/auth/profile", ""),
            Op::ChangePassword => (Method::POST, "/api/auth/change-password", ""),
            Op::ListUsers => (Method::GET, "/api/users", ""),
            Op::CreateUser => (Method::POST, "/api/users", ""),
            Op::GetUser => (Method::GET, "/api/users/{id}", ""),
            Op::UpdateUser => (Method::PUT, "/api/users/{id}", ""),
            Op::DeactivateUser => (Method::DELETE, "/api/users/{id}", ""),
            Op::ResetPassword => (Method::POST, "/api/users/{id}/reset-password", ""),
            Op::ListRoles => (Method::GET, "/api/roles", ""),
            Op::CreateRole => (Method::POST, "/api/roles", ""),
            Op::GetRole => (Method::GET, "/api/roles/{id}", ""),
            Op::UpdateRole => (Method::PUT, "/api/roles/{id}", ""),
            Op::DeleteRole => (Method::DELETE, "/api/roles/{id}", ""),
            Op::ListPermissions => (Method::GET, "/api/permissions", ""),
            Op::ListApiKeys => (Method::GET, "/api/api-keys", ""),
            Op::CreateApiKey => (Method::POST, "/api/api-keys", ""),
            Op::RevokeApiKey => (Method::DELETE, "/api/api-keys/{id}", ""),
            Op::Audit => (Method::GET, "/api/audit", ""),
            Op::People(kind, verb) => {
                let (collection, item) = match kind {
                    Kind::Customers => ("/api/customers", "/api/customers/{id}"),
                    Kind::Employees => ("/api/employees", "/api/employees/{id}"),
                    Kind::Suppliers => ("/api/suppliers", "/api/suppliers/{id}"),
                };
                match verb {
                    Verb::List => (Method::GET, collection, ""),
                    Verb::Create => (Method::POST, collection, ""),
                    Verb::Get => (Method::GET, item, ""),
                    Verb::Replace => (Method::PUT, item, ""),
                    Verb::Delete => (Method::DELETE, item, ""),
                }
            }
            Op::Health => (Method::GET, "/health", ""),
            Op::Metrics => (Method::GET, "/metrics", ""),
            Op::OpenApiJson => (Method::GET, "/api/openapi.json", ""),
            Op::Docs => (Method::GET, "/api/docs/", ""),
            Op::Erp(erp) => {
                let (method, path) = erp.route();
                (method, path, "")
            }
        }
    }

    fn label(self) -> String {
        let (method, path, note) = self.route();
        if note.is_empty() {
            format!("{method} {path}")
        } else {
            format!("{method} {path} ({note})")
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The matrix
// ---------------------------------------------------------------------------------------------

/// What an endpoint demands of its caller, with the status of a permitted call.
#[derive(Clone, Copy, Debug)]
enum Guard {
    /// Open to anyone: every caller gets this status.
    Public(u16),
    /// Signed-in users only: anonymous 401, API keys 403.
    SignedIn(u16),
    /// Needs this permission: anonymous 401, callers without it 403.
    Needs(&'static str, u16),
}

struct Row {
    op: Op,
    guard: Guard,
    /// In the order of [`CALLERS`].
    expect: [u16; 7],
}

const fn row(op: Op, guard: Guard, expect: [u16; 7]) -> Row {
    Row { op, guard, expect }
}

use Guard::{Needs, Public, SignedIn};
use Kind::{Customers, Employees, Suppliers};
use Verb::{Create, Delete, Get, List, Replace};

#[rustfmt::skip]
const MATRIX: &[Row] = &[
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
    row(Op::Erp(Erp::DeleteProduct),        Needs("products:delete", 204),   [401, 204, 204, 403, 403, 403, 403]),
    row(Op::Erp(Erp::SellProduct),          Needs("sales:create", 201),      [401, 201, 201, 201, 403, 403, 403]),
    row(Op::Erp(Erp::ListMovements),        Needs("stock:read", 200),        [401, 200, 200, 200, 403, 403, 403]),
    row(Op::Erp(Erp::CreateMovement),       Needs("stock:create", 201),      [401, 201, 201, 403, 403, 403, 403]),
    row(Op::Erp(Erp::ListLevels),           Needs("stock:read", 200),        [401, 200, 200, 200, 403, 403, 403]),
    row(Op::Erp(Erp::CreateTransfer),       Needs("stock:create", 201),      [401, 201, 201, 403, 403, 403, 403]),
    row(Op::Erp(Erp::CreateReservation),    Needs("stock:create", 201),      [401, 201, 201, 403, 403, 403, 403]),
    row(Op::Erp(Erp::GetReservation),       Needs("stock:read", 200),        [401, 200, 200, 200, 403, 403, 403]),
    row(Op::Erp(Erp::CommitReservation),    Needs("stock:create", 200),      [401, 200, 200, 403, 403, 403, 403]),
    row(Op::Erp(Erp::ReleaseReservation),   Needs("stock:create", 200),      [401, 200, 200, 403, 403, 403, 403]),
    row(Op::Erp(Erp::LowStock),             Needs("stock:read", 200),        [401, 200, 200, 200, 403, 403, 403]),
    row(Op::Erp(Erp::ListOrders),           Needs("orders:read", 200),       [401, 200, 200, 200, 403, 403, 403]),
    row(Op::Erp(Erp::CreateOrder),          Needs("orders:create", 201),     [401, 201, 201, 201, 403, 403, 403]),
    row(Op::Erp(Erp::GetOrder),             Needs("orders:read", 200),       [401, 200, 200, 200, 403, 403, 403]),
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
fn holds(granted: &[&str], needed: &str) -> bool {
    let (resource, _) = needed.split_once(':').expect("resource:action");
    let wildcard = format!("{resource}:*");
    granted.iter().any(|g| *g == "*" || *g == needed || *g == wildcard)
}

/// The status `who` should get from an endpoint guarded by `guard`.
fn derived(guard: Guard, who: Who) -> u16 {
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

// ---------------------------------------------------------------------------------------------
// The callers and the records the requests act on
// ---------------------------------------------------------------------------------------------

/// The user every caller signs in as for `POST /api/auth/login` and `/refresh`.
const LOGIN_EMAIL: &str = "login-target@test.cl";

struct Fixture {
    app: TestApp,
    seq: AtomicU32,
    /// Each caller's credentials, in the order of [`CALLERS`].
    auth: Vec<Auth>,
    /// Each signed-in caller's e-mail (for fresh sessions), in the order of [`CALLERS`].
    emails: Vec<Option<String>>,
    custom_role_id: i64,
    login_user_id: i64,
    customer: i64,
    employee: i64,
    supplier: i64,
    erp: ErpRefs,
}

/// ERP records the read-only and repeatable cells act on.
#[derive(Default)]
struct ErpRefs {
    main_warehouse: i64,
    other_warehouse: i64,
    category: i64,
    /// A product with ample stock.
    product: i64,
    reservation: i64,
    order: i64,
    sale: i64,
    reorder: i64,
}

fn id_of(body: &Value) -> i64 {
    body["id"].as_i64().unwrap_or_else(|| panic!("no id in {body}"))
}

impl Fixture {
    async fn new(app: TestApp) -> Self {
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

    fn next(&self) -> u32 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    fn index(who: Who) -> usize {
        CALLERS.iter().position(|w| *w == who).expect("caller")
    }

    fn auth(&self, who: Who) -> Auth {
        self.auth[Self::index(who)].clone()
    }

    async fn admin_post(&self, uri: &str, body: Value) -> Value {
        self.app.post(uri, &self.app.admin, body).await.expect(201).body
    }

    /// A new customer, employee or supplier, created by the admin.
    async fn person(&self, kind: Kind) -> i64 {
        id_of(&self.admin_post(kind.path(), kind.body(self.next())).await)
    }

    /// A new employee-role user, made straight in the store.
    async fn user(&self) -> i64 {
        create_user(&self.app.state, &format!("target{}@test.cl", self.next()), "employee").await
    }

    /// A new custom role that no user holds.
    async fn role(&self) -> i64 {
        let body = json!({"name": format!("target-{}", self.next()), "permissions": ["suppliers:read"]});
        id_of(&self.admin_post("/api/roles", body).await)
    }

    async fn api_key_id(&self) -> i64 {
        let body = json!({"name": format!("target key {}", self.next()), "permissions": ["customers:read"]});
        id_of(&self.admin_post("/api/api-keys", body).await)
    }

    async fn erp_setup(&mut self) {
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

    async fn warehouse(&self) -> i64 {
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

    async fn category(&self) -> i64 {
        let n = self.next();
        id_of(
            &self
                .admin_post("/api/categories", json!({"name": format!("Categoría {n}")}))
                .await,
        )
    }

    /// A new product holding `stock` units in the main warehouse.
    async fn product(&self, stock: i64, threshold: i64) -> i64 {
        let n = self.next();
        let mut body = json!({"sku": format!("SKU-{n}"), "name": format!("Producto {n}"), "price": 1000, "cost": 400,
            "low_stock_threshold": threshold});
        if stock > 0 {
            body["initial_stock"] = json!(stock);
        }
        id_of(&self.admin_post("/api/products", body).await)
    }

    async fn reservation(&self) -> i64 {
        let body = json!({"product_id": self.erp.product, "quantity": 1, "expires_in_seconds": 0});
        id_of(&self.admin_post("/api/stock/reservations", body).await)
    }

    /// A new order of one unit, taken through `steps` (confirm, ship, …) by the admin.
    async fn order_in(&self, steps: &[&str]) -> i64 {
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
    async fn alert(&self) -> i64 {
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

    async fn reorder(&self) -> i64 {
        let body = json!({"product_id": self.erp.product, "quantity": 5, "unit_cost": 400});
        id_of(&self.admin_post("/api/reorder-requests", body).await)
    }

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
    async fn call(&self, method: Method, uri: &str, auth: Auth, body: Option<Value>) -> helpers::Response {
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
    async fn request(&self, op: Op, who: Who) -> (String, Auth, Option<Value>) {
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

    /// Everything a request could have written, as the admin sees it: the audit log (every
    /// write is audited) and every user, role, API key, customer, employee and supplier.
    async fn snapshot(&self) -> Vec<(&'static str, Value)> {
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

// ---------------------------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------------------------

fn brief(body: &Value) -> String {
    let text = body.to_string();
    if text.len() > 160 {
        let cut = (0..=160).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
        format!("{}…", &text[..cut])
    } else {
        text
    }
}

async fn authorization_matrix(app: TestApp) {
    let fx = Fixture::new(app).await;
    let mut failures = Vec::new();
    let mut observed = Vec::new();
    let mut cells = 0;
    for row in MATRIX {
        let (method, _, _) = row.op.route();
        let mut statuses = Vec::new();
        for (who, expected) in CALLERS.iter().copied().zip(row.expect) {
            let (uri, auth, body) = fx.request(row.op, who).await;
            let refused = expected == 401 || expected == 403;
            let before = if refused && method != Method::GET {
                Some(fx.snapshot().await)
            } else {
                None
            };
            let response = fx.call(method.clone(), &uri, auth, body).await;
            cells += 1;
            let got = response.status.as_u16();
            statuses.push((got, got == expected));
            let at = format!("{} as {}", row.op.label(), who.name());
            if got != expected {
                failures.push(format!(
                    "{at}: expected {expected}, got {got}: {}",
                    brief(&response.body)
                ));
            } else if refused {
                let code = if expected == 401 { "unauthorized" } else { "forbidden" };
                let error = &response.body["error"];
                let has_message = error["message"].as_str().is_some_and(|m| !m.is_empty());
                if error["code"] != code || !has_message {
                    failures.push(format!(
                        "{at}: {got} without the error shape {{\"error\":{{\"code\":\"{code}\",\"message\":…}}}}: {}",
                        brief(&response.body)
                    ));
                }
            }
            if let Some(before) = before {
                if !response.status.is_success() {
                    let after = fx.snapshot().await;
                    let changed: Vec<&str> = before
                        .iter()
                        .zip(&after)
                        .filter(|(b, a)| b.1 != a.1)
                        .map(|(b, _)| b.0)
                        .collect();
                    if !changed.is_empty() {
                        failures.push(format!("{at}: refused with {got} but changed {}", changed.join(", ")));
                    }
                }
            }
        }
        observed.push((row, statuses));
    }

    if !failures.is_empty() {
        let mut table = String::new();
        let _ = write!(table, "{:<52}", "observed (* = not as expected)");
        for who in CALLERS {
            let _ = write!(table, "{:>9}", who.column());
        }
        for (row, statuses) in &observed {
            let _ = write!(table, "\n{:<52}", row.op.label());
            for (status, ok) in statuses {
                let cell = if *ok { status.to_string() } else { format!("*{status}") };
                let _ = write!(table, "{cell:>9}");
            }
        }
        panic!(
            "{} of {cells} authorization cells disagree with the matrix:\n  {}\n\n{table}\n",
            failures.len(),
            failures.join("\n  ")
        );
    }
    assert_eq!(cells, MATRIX.len() * CALLERS.len());
}
