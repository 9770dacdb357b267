//! The operations: every (endpoint, method) of the API, the rows of the matrix, with its
//! route and, for the people endpoints, a valid body.

use axum::http::Method;
use serde_json::{json, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Customers,
    Employees,
    Suppliers,
}

impl Kind {
    pub fn path(self) -> &'static str {
        match self {
            Kind::Customers => "/api/customers",
            Kind::Employees => "/api/employees",
            Kind::Suppliers => "/api/suppliers",
        }
    }

    /// A valid create/replace body, unique by `n`.
    pub fn body(self, n: u32) -> Value {
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
pub enum Verb {
    List,
    Create,
    Get,
    Replace,
    Delete,
}

/// One (endpoint, method) of the API: the rows of the matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
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
pub enum Erp {
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
    PatchProduct,
    DeleteProduct,
    SellProduct,
    ListMovements,
    CreateMovement,
    ListLevels,
    CreateTransfer,
    ListReservations,
    CreateReservation,
    GetReservation,
    CommitReservation,
    ReleaseReservation,
    LowStock,
    ListOrders,
    CreateOrder,
    GetOrder,
    UpdateOrder,
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
    pub fn route(self) -> (Method, &'static str) {
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
            Erp::PatchProduct => (Method::PATCH, "/api/products/{id}"),
            Erp::DeleteProduct => (Method::DELETE, "/api/products/{id}"),
            Erp::SellProduct => (Method::POST, "/api/products/{id}/sell"),
            Erp::ListMovements => (Method::GET, "/api/stock/movements"),
            Erp::CreateMovement => (Method::POST, "/api/stock/movements"),
            Erp::ListLevels => (Method::GET, "/api/stock/levels"),
            Erp::CreateTransfer => (Method::POST, "/api/stock/transfers"),
            Erp::ListReservations => (Method::GET, "/api/stock/reservations"),
            Erp::CreateReservation => (Method::POST, "/api/stock/reservations"),
            Erp::GetReservation => (Method::GET, "/api/stock/reservations/{id}"),
            Erp::CommitReservation => (Method::POST, "/api/stock/reservations/{id}/commit"),
            Erp::ReleaseReservation => (Method::POST, "/api/stock/reservations/{id}/release"),
            Erp::LowStock => (Method::GET, "/api/inventory/low-stock"),
            Erp::ListOrders => (Method::GET, "/api/orders"),
            Erp::CreateOrder => (Method::POST, "/api/orders"),
            Erp::GetOrder => (Method::GET, "/api/orders/{id}"),
            Erp::UpdateOrder => (Method::PUT, "/api/orders/{id}"),
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
    pub fn route(self) -> (Method, &'static str, &'static str) {
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

    pub fn label(self) -> String {
        let (method, path, note) = self.route();
        if note.is_empty() {
            format!("{method} {path}")
        } else {
            format!("{method} {path} ({note})")
        }
    }
}
