//! `POST /api/imports/{format}` (a CSV body; nothing written unless every row is valid) and
//! `GET /api/exports/{format}` (the same layouts back out).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use bodega_store::import::{self, Format, ImportOptions, ImportReport, StockMode};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::ApiQuery;
use crate::state::AppState;

/// Largest CSV accepted by the import route (the whole Online Retail file is 52 MB).
pub const IMPORT_BODY_LIMIT: usize = 256 * 1024 * 1024;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(import_csv))
        .routes(routes!(export_csv))
        .layer(DefaultBodyLimit::max(IMPORT_BODY_LIMIT))
}

fn format_param(raw: &str) -> ApiResult<Format> {
    Format::parse(raw).ok_or_else(|| {
        ApiError::validation(
            "format",
            format!(
                "unknown format '{raw}': use one of {}",
                Format::ALL.map(|f| f.as_str()).join(", ")
            ),
        )
    })
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// Warehouse code for stock and for sales without a store (created when missing; default MAIN).
    pub warehouse: Option<String>,
    /// Past sales: `historical` (default; stock untouched) or `ledger` (opening stock, then
    /// sale exits).
    pub stock: Option<String>,
    /// Digits of the minor currency unit (default 0; 2 for online-retail).
    pub decimals: Option<u32>,
    /// Validate and count, then roll back.
    pub dry_run: Option<bool>,
}

/// Imports a CSV (the request body, `text/csv`) in `format`: products, customers, sales,
/// sales-items, transactions or online-retail. All or nothing: 200 with the report when
/// written, 422 with the report (row, field, reason of every error) when any row is invalid,
/// and then nothing is written. The columns of each layout: docs/CSV.md in the repository.
#[utoipa::path(post, path = "/api/imports/{format}", tag = "imports",
    params(("format" = String, Path, description = "products, customers, sales, sales-items, transactions, online-retail"), ImportQuery),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = ImportReport), (status = 422, body = ImportReport), (status = 413, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn import_csv(
    State(state): State<AppState>,
    caller: Caller,
    Path(format): Path<String>,
    ApiQuery(q): ApiQuery<ImportQuery>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    caller.require("imports", "create")?;
    let format = format_param(&format)?;
    let stock = match q.stock.as_deref() {
        None => StockMode::Historical,
        Some(s) => StockMode::parse(s).ok_or_else(|| ApiError::validation("stock", "use historical or ledger"))?,
    };
    if q.decimals.is_some_and(|d| d > 6) {
        return Err(ApiError::validation("decimals", "at most 6"));
    }
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge {
                limit: IMPORT_BODY_LIMIT,
            }
        } else {
            ApiError::BadRequest {
                field: None,
                message: rejection.body_text(),
            }
        }
    })?;
    let opts = ImportOptions {
        warehouse: q
            .warehouse
            .filter(|w| !w.trim().is_empty())
            .unwrap_or_else(|| "MAIN".into()),
        stock,
        decimals: q.decimals,
        dry_run: q.dry_run.unwrap_or(false),
    };
    let report = import::import(&state.db, &caller.actor, format, &body, &opts, &|_, _, _| {}).await?;
    let status = if report.ok() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok((status, Json(report)).into_response())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// Digits of the minor currency unit (default 0).
    pub decimals: Option<u32>,
}

/// Exports `format` (products, customers, sales, sales-items or transactions) as CSV in the
/// import layout (docs/CSV.md in the repository).
#[utoipa::path(get, path = "/api/exports/{format}", tag = "imports",
    params(("format" = String, Path, description = "products, customers, sales, sales-items, transactions"), ExportQuery),
    responses((status = 200, body = String, content_type = "text/csv"), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
async fn export_csv(
    State(state): State<AppState>,
    caller: Caller,
    Path(format): Path<String>,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> ApiResult<Response> {
    let format = format_param(&format)?;
    match format {
        Format::Products => caller.require("products", "read")?,
        Format::Customers => caller.require("customers", "read")?,
        Format::OnlineRetail => {
            return Err(ApiError::validation(
                "format",
                "online-retail is an import layout only; export transactions instead",
            ))
        }
        _ => caller.require("sales", "read")?,
    }
    if q.decimals.is_some_and(|d| d > 6) {
        return Err(ApiError::validation("decimals", "at most 6"));
    }
    let mut conn = state.db.read().await?;
    let data = import::export(&mut conn.conn(), format, q.decimals.unwrap_or(0)).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}.csv\"", format.as_str()),
            ),
        ],
        data,
    )
        .into_response())
}
