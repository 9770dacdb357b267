//! Export in the import layouts, so that an export imports back.

use chrono::{DateTime, SecondsFormat, Utc};

use super::{format_money, Format};
use crate::{sql, Conn, StoreError, StoreResult};

fn writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new().from_writer(Vec::new())
}

fn csv_err(err: impl std::fmt::Display) -> StoreError {
    StoreError::State(format!("writing CSV: {err}"))
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The CSV of `format` (not `online-retail`, which is an input layout only). Money is written
/// in major units with `decimals` digits. Customers are keyed by their external id (or their
/// id when they have none), sales by their external ref (or id).
pub async fn export(c: &mut Conn<'_>, format: Format, decimals: u32) -> StoreResult<Vec<u8>> {
    let mut w = writer();
    let m = |v: i64| format_money(v, decimals);
    match format {
        Format::Products => {
            w.write_record([
                "sku",
                "name",
                "category",
                "price",
                "cost",
                "description",
                "keywords",
                "supplier",
                "status",
                "low_stock_threshold",
                "stock",
            ])
            .map_err(csv_err)?;
            type Row = (
                String,
                String,
                Option<String>,
                i64,
                i64,
                String,
                String,
                Option<String>,
                String,
                i64,
                i64,
            );
            let rows: Vec<Row> = sql::query_as(
                "SELECT p.sku, p.name, c.path, p.price, p.cost, p.description, p.keywords, s.name, p.status,
                        p.low_stock_threshold,
                        CAST(COALESCE((SELECT SUM(l.on_hand) FROM stock_levels l WHERE l.product_id = p.id), 0) AS BIGINT)
                 FROM products p LEFT JOIN categories c ON c.id = p.category_id LEFT JOIN suppliers s ON s.id = p.supplier_id
                 WHERE p.deleted_at IS NULL ORDER BY p.id"
            )
            .fetch_all(c)
            .await?;
            for r in rows {
                let keywords: Vec<String> = serde_json::from_str(&r.6).unwrap_or_default();
                w.write_record([
                    r.0,
                    r.1,
                    r.2.unwrap_or_default(),
                    m(r.3),
                    m(r.4),
                    r.5,
                    keywords.join(";"),
                    r.7.unwrap_or_default(),
                    r.8,
                    r.9.to_string(),
                    r.10.to_string(),
                ])
                .map_err(csv_err)?;
            }
        }
        Format::Customers => {
            w.write_record([
                "customer_id",
                "first_name",
                "last_name",
                "email",
                "phone",
                "rut",
                "address",
            ])
            .map_err(csv_err)?;
            type Row = (
                i64,
                Option<String>,
                String,
                String,
                Option<String>,
                Option<String>,
                Option<String>,
                Option<String>,
            );
            let rows: Vec<Row> = sql::query_as(
                "SELECT id, external_ref, first_name, last_name, email, phone, rut, address FROM customers
                 WHERE deleted_at IS NULL ORDER BY id",
            )
            .fetch_all(c)
            .await?;
            for r in rows {
                w.write_record([
                    r.1.unwrap_or_else(|| r.0.to_string()),
                    r.2,
                    r.3,
                    r.4.unwrap_or_default(),
                    r.5.unwrap_or_default(),
                    r.6.unwrap_or_default(),
                    r.7.unwrap_or_default(),
                ])
                .map_err(csv_err)?;
            }
        }
        Format::Sales => {
            w.write_record([
                "sale_id",
                "customer_id",
                "store",
                "timestamp",
                "total",
                "payment_method",
            ])
            .map_err(csv_err)?;
            type Row = (
                i64,
                Option<String>,
                Option<i64>,
                Option<String>,
                Option<String>,
                DateTime<Utc>,
                i64,
                Option<String>,
            );
            let rows: Vec<Row> = sql::query_as(
                "SELECT s.id, s.external_ref, s.customer_id, cu.external_ref, w.code, s.sold_at, s.total, s.payment_method
                 FROM sales s LEFT JOIN customers cu ON cu.id = s.customer_id LEFT JOIN warehouses w ON w.id = s.warehouse_id
                 ORDER BY s.id"
            )
            .fetch_all(c)
            .await?;
            for r in rows {
                w.write_record([
                    r.1.unwrap_or_else(|| r.0.to_string()),
                    r.3.or(r.2.map(|id| id.to_string())).unwrap_or_default(),
                    r.4.unwrap_or_default(),
                    ts(r.5),
                    m(r.6),
                    r.7.unwrap_or_default(),
                ])
                .map_err(csv_err)?;
            }
        }
        Format::SalesItems | Format::Transactions => {
            if format == Format::SalesItems {
                w.write_record(["sale_id", "product_id", "quantity", "unit_price"])
                    .map_err(csv_err)?;
            } else {
                w.write_record([
                    "order_id",
                    "customer_id",
                    "product_id",
                    "quantity",
                    "unit_price",
                    "timestamp",
                    "product_name",
                    "category",
                    "store",
                ])
                .map_err(csv_err)?;
            }
            type Row = (
                i64,
                Option<String>,
                Option<i64>,
                Option<String>,
                String,
                i64,
                i64,
                DateTime<Utc>,
                String,
                Option<String>,
                Option<String>,
            );
            let rows: Vec<Row> = sql::query_as(
                "SELECT s.id, s.external_ref, s.customer_id, cu.external_ref, i.sku, i.quantity, i.unit_price, s.sold_at,
                        i.product_name, cat.path, w.code
                 FROM sale_items i JOIN sales s ON s.id = i.sale_id
                 LEFT JOIN customers cu ON cu.id = s.customer_id
                 LEFT JOIN warehouses w ON w.id = s.warehouse_id
                 LEFT JOIN products p ON p.id = i.product_id
                 LEFT JOIN categories cat ON cat.id = p.category_id
                 ORDER BY s.id, i.id"
            )
            .fetch_all(c)
            .await?;
            for r in rows {
                let sale = r.1.unwrap_or_else(|| r.0.to_string());
                if format == Format::SalesItems {
                    w.write_record([sale, r.4, r.5.to_string(), m(r.6)]).map_err(csv_err)?;
                } else {
                    w.write_record([
                        sale,
                        r.3.or(r.2.map(|id| id.to_string())).unwrap_or_default(),
                        r.4,
                        r.5.to_string(),
                        m(r.6),
                        ts(r.7),
                        r.8,
                        r.9.unwrap_or_default(),
                        r.10.unwrap_or_default(),
                    ])
                    .map_err(csv_err)?;
                }
            }
        }
        Format::OnlineRetail => {
            return Err(StoreError::Rule {
                field: Some("format".into()),
                message: "online-retail is an import layout only; export transactions instead".into(),
            })
        }
    }
    w.into_inner().map_err(csv_err)
}
