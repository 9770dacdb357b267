//! Resolving parsed rows against the database and writing them in multi-row batches, all in
//! the caller's transaction.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, TimeDelta, Utc};

use super::parse::Parsed;
use super::{Format, ImportOptions, ImportReport, Phase, Progress, StockMode};
use crate::audit::{self, Actor};
use crate::catalog::ProductRecord;
use crate::outbox::{self, topics};
use crate::people::Customer;
use crate::{now, sql, Conn, StoreError, StoreResult};
use bodega_domain::limits;

/// A value bound into a multi-row insert.
pub(crate) enum V {
    I(i64),
    OI(Option<i64>),
    S(String),
    OS(Option<String>),
    B(bool),
    T(DateTime<Utc>),
}

impl sql::ToValue for V {
    const KIND: sql::Kind = sql::Kind::Text;
    fn to_value(&self) -> sql::Value {
        match self {
            V::I(x) => x.to_value(),
            V::OI(x) => x.to_value(),
            V::S(x) => x.to_value(),
            V::OS(x) => x.to_value(),
            V::B(x) => x.to_value(),
            V::T(x) => x.to_value(),
        }
    }
}

/// Bind parameters per statement: well under SQLite's 32766 and PostgreSQL's 65535.
const PARAMS_PER_STATEMENT: usize = 8000;

/// `INSERT {head} VALUES (…), (…) {tail}` over `values` (`cols` per row), in batches. With
/// `returning` (`RETURNING id, key`), the (id, key) pairs of the inserted rows.
async fn insert_rows(
    c: &mut Conn<'_>,
    head: &str,
    cols: usize,
    values: Vec<V>,
    tail: &str,
    returning: bool,
    mut on_batch: impl FnMut(u64),
) -> StoreResult<Vec<(i64, String)>> {
    let per = (PARAMS_PER_STATEMENT / cols).max(1);
    let mut out = Vec::new();
    let mut values = values.into_iter().peekable();
    while values.peek().is_some() {
        let batch: Vec<V> = values.by_ref().take(per * cols).collect();
        let rows = batch.len() / cols;
        let mut text = String::with_capacity(head.len() + rows * cols * 6 + tail.len() + 16);
        text.push_str(head);
        text.push_str(" VALUES ");
        let mut n = 0;
        for r in 0..rows {
            if r > 0 {
                text.push(',');
            }
            text.push('(');
            for k in 0..cols {
                if k > 0 {
                    text.push(',');
                }
                n += 1;
                text.push('$');
                text.push_str(&n.to_string());
            }
            text.push(')');
        }
        text.push(' ');
        text.push_str(tail);
        if returning {
            let got: Vec<(i64, String)> = sql::query_as(&text).bind_all(batch).fetch_all(c).await?;
            out.extend(got);
        } else {
            sql::query(&text).bind_all(batch).execute(c).await?;
        }
        on_batch(rows as u64);
    }
    Ok(out)
}

struct ExistingProduct {
    id: i64,
    name: String,
    cost: i64,
}

struct ExistingSale {
    id: i64,
    warehouse_id: Option<i64>,
    items_count: i64,
    /// Imported in historical mode (stock untouched) rather than ledger mode.
    historical: bool,
}

/// A sale line ready to write.
struct Line {
    sale_id: i64,
    warehouse_id: i64,
    product_id: i64,
    quantity: i64,
    sold_at: DateTime<Utc>,
}

/// Returns whether the transaction may be committed (no errors found while resolving).
pub(crate) async fn write(
    c: &mut Conn<'_>,
    actor: &Actor,
    format: Format,
    parsed: &mut Parsed,
    opts: &ImportOptions,
    report: &mut ImportReport,
    progress: Progress<'_>,
) -> StoreResult<bool> {
    let at = now();
    let label = actor.label.as_str();
    let import_id = uuid::Uuid::now_v7().to_string();
    let ledger = opts.stock == StockMode::Ledger;

    // ---- Resolve: load what exists --------------------------------------------------------
    let mut products: HashMap<String, ExistingProduct> = {
        let rows: Vec<(i64, String, String, i64)> = sql::query_as("SELECT id, sku, name, cost FROM products")
            .fetch_all(c)
            .await?;
        rows.into_iter()
            .map(|(id, sku, name, cost)| (sku, ExistingProduct { id, name, cost }))
            .collect()
    };
    let mut customers: HashMap<String, i64> = {
        let rows: Vec<(i64, String)> =
            sql::query_as("SELECT id, external_ref FROM customers WHERE external_ref IS NOT NULL")
                .fetch_all(c)
                .await?;
        rows.into_iter().map(|(id, r)| (r, id)).collect()
    };
    let existing_sales: HashMap<String, ExistingSale> = if format.has_sales() {
        let rows: Vec<(i64, String, Option<i64>, i64, bool)> = sql::query_as(
            "SELECT id, external_ref, warehouse_id, items_count, historical FROM sales WHERE external_ref IS NOT NULL",
        )
        .fetch_all(c)
        .await?;
        rows.into_iter()
            .map(|(id, r, warehouse_id, items_count, historical)| {
                (
                    r,
                    ExistingSale {
                        id,
                        warehouse_id,
                        items_count,
                        historical,
                    },
                )
            })
            .collect()
    } else {
        HashMap::new()
    };

    // Products listed in a products file that already exist are duplicates; products implied
    // by sales lines are created only when missing.
    let mut duplicates = 0u64;
    parsed.products.retain(|p| {
        let exists = products.contains_key(&p.sku);
        if exists && !parsed.implied {
            duplicates += 1;
        }
        !exists
    });
    parsed.customers.retain(|cu| {
        let exists = customers.contains_key(&cu.external_ref);
        if exists && !parsed.implied {
            duplicates += 1;
        }
        !exists
    });
    // Sales already imported (same external ref) are duplicates, with their lines.
    let mut duplicate_sales: HashSet<String> = HashSet::new();
    if matches!(format, Format::Sales | Format::Transactions | Format::OnlineRetail) {
        parsed.sales.retain(|s| {
            let exists = existing_sales.contains_key(&s.external_ref);
            if exists {
                duplicate_sales.insert(s.external_ref.clone());
            }
            !exists
        });
        duplicates += duplicate_sales.len() as u64;
        parsed.items.retain(|i| !duplicate_sales.contains(&i.sale_ref));
    }
    report.duplicates = duplicates;

    // References that must already exist.
    if format == Format::Customers {
        let rows: Vec<(Option<String>, Option<String>)> =
            sql::query_as("SELECT email, rut FROM customers WHERE deleted_at IS NULL")
                .fetch_all(c)
                .await?;
        let emails: HashSet<String> = rows.iter().filter_map(|r| r.0.clone()).collect();
        let ruts: HashSet<String> = rows.iter().filter_map(|r| r.1.clone()).collect();
        for cu in &parsed.customers {
            if cu.email.as_ref().is_some_and(|e| emails.contains(e)) {
                parsed.errors.push(cu.line, "email", "already used by another customer");
            }
            if cu.rut.as_ref().is_some_and(|r| ruts.contains(r)) {
                parsed.errors.push(cu.line, "rut", "already used by another customer");
            }
        }
    }
    if format == Format::Sales {
        for s in &parsed.sales {
            if let Some(r) = &s.customer_ref {
                if !customers.contains_key(r) {
                    parsed
                        .errors
                        .push(s.line, "customer_id", format!("no customer with customer_id '{r}'"));
                }
            }
        }
    }
    let mut item_duplicates = 0u64;
    if format == Format::SalesItems {
        for i in &parsed.items {
            if !products.contains_key(&i.sku) {
                parsed
                    .errors
                    .push(i.line, "product_id", format!("no product with SKU '{}'", i.sku));
            }
            if !existing_sales.contains_key(&i.sale_ref) {
                parsed.errors.push(
                    i.line,
                    "sale_id",
                    format!("no imported sale with sale_id '{}'", i.sale_ref),
                );
            }
        }
        // Lines of sales that already have lines were imported before.
        parsed.items.retain(|i| {
            let had = existing_sales.get(&i.sale_ref).is_some_and(|s| s.items_count > 0);
            if had {
                item_duplicates += 1;
            }
            !had
        });
        report.duplicates += item_duplicates;
        // Lines follow the mode of their sale: ledger lines under a historical sale would book
        // stock for a sale that says it left stock alone, and historical lines under a ledger
        // sale would leave the ledger without its exits.
        for i in &parsed.items {
            let Some(sale) = existing_sales.get(&i.sale_ref) else {
                continue;
            };
            if sale.historical == ledger {
                let (sale_mode, this_mode) = if sale.historical {
                    (StockMode::Historical, StockMode::Ledger)
                } else {
                    (StockMode::Ledger, StockMode::Historical)
                };
                parsed.errors.push(
                    i.line,
                    "sale_id",
                    format!(
                        "sale '{}' was imported in {} mode: import its lines with stock={}, not {}",
                        i.sale_ref,
                        sale_mode.as_str(),
                        sale_mode.as_str(),
                        this_mode.as_str()
                    ),
                );
            }
        }
    }
    if parsed.errors.total > 0 {
        return Ok(false);
    }

    let write_total = (parsed.products.len()
        + parsed.customers.len()
        + parsed.sales.len()
        + parsed.items.len() * if ledger { 2 } else { 1 }) as u64;
    let mut written = 0u64;
    let mut tick = |n: u64| {
        written += n;
        progress(Phase::Write, written, write_total);
    };
    tick(0);

    // ---- Warehouses -----------------------------------------------------------------------
    let (mut warehouses, inactive): (HashMap<String, i64>, Vec<String>) = {
        let rows: Vec<(i64, String, bool)> = sql::query_as("SELECT id, code, is_active FROM warehouses")
            .fetch_all(c)
            .await?;
        let inactive = rows.iter().filter(|r| !r.2).map(|r| r.1.clone()).collect();
        (rows.into_iter().map(|(id, code, _)| (code, id)).collect(), inactive)
    };
    let stocked = format == Format::Products && parsed.products.iter().any(|p| p.stock > 0);
    if stocked && inactive.contains(&opts.warehouse) {
        // Opening stock there could never leave (the API refuses the same entry).
        let message = format!("warehouse {} is deactivated and takes no stock", opts.warehouse);
        parsed.errors.push(0, "warehouse", message);
        return Ok(false);
    }
    let mut needed: Vec<(String, &str)> = Vec::new();
    let default_needed = stocked || (format.has_sales() && parsed.sales.iter().any(|s| s.store.is_none()));
    if default_needed {
        needed.push((opts.warehouse.clone(), "warehouse"));
    }
    for s in &parsed.sales {
        if let Some(code) = &s.store {
            needed.push((code.clone(), "store"));
        }
    }
    for (code, kind) in needed {
        if warehouses.contains_key(&code) {
            continue;
        }
        let id: i64 = sql::query_scalar(
            "INSERT INTO warehouses (code, name, kind, is_active, created_at, updated_at)
             VALUES ($1, $1, $2, TRUE, $3, $3) RETURNING id",
        )
        .bind(&code)
        .bind(kind)
        .bind(at)
        .fetch_one(c)
        .await?;
        warehouses.insert(code, id);
        report.imported.warehouses += 1;
    }
    let default_warehouse = warehouses.get(&opts.warehouse).copied();

    // ---- Categories -----------------------------------------------------------------------
    let mut categories: HashMap<String, i64> = HashMap::new();
    if parsed.products.iter().any(|p| p.category.is_some()) {
        let rows: Vec<(i64, String)> = sql::query_as("SELECT id, path FROM categories").fetch_all(c).await?;
        categories = rows.into_iter().map(|(id, p)| (p, id)).collect();
    }
    // Each product's category as (id, full path).
    let mut product_category: Vec<Option<(i64, String)>> = Vec::with_capacity(parsed.products.len());
    for p in &parsed.products {
        let Some(path) = &p.category else {
            product_category.push(None);
            continue;
        };
        let mut parent: Option<(i64, String)> = None;
        for name in path.split('/').map(str::trim).filter(|n| !n.is_empty()) {
            let full = match &parent {
                Some((_, pp)) => format!("{pp}{}{name}", crate::catalog::PATH_SEPARATOR),
                None => name.to_string(),
            };
            let id = match categories.get(&full) {
                Some(id) => *id,
                None => {
                    let id: i64 = sql::query_scalar(
                        "INSERT INTO categories (name, parent_id, path, created_at, updated_at)
                         VALUES ($1, $2, $3, $4, $4) RETURNING id",
                    )
                    .bind(name)
                    .bind(parent.as_ref().map(|p| p.0))
                    .bind(&full)
                    .bind(at)
                    .fetch_one(c)
                    .await?;
                    categories.insert(full.clone(), id);
                    report.imported.categories += 1;
                    id
                }
            };
            parent = Some((id, full));
        }
        product_category.push(parent);
    }

    // ---- Suppliers ------------------------------------------------------------------------
    // Matched by name, case-insensitively; a name not found is a new supplier (the products
    // export writes the supplier's name, so an export imports into an empty store).
    let mut suppliers: HashMap<String, i64> = HashMap::new();
    if parsed.products.iter().any(|p| p.supplier.is_some()) {
        let rows: Vec<(i64, String)> =
            sql::query_as("SELECT id, name FROM suppliers WHERE deleted_at IS NULL ORDER BY id")
                .fetch_all(c)
                .await?;
        for (id, name) in rows {
            suppliers.entry(name.to_lowercase()).or_insert(id);
        }
        let mut missing: Vec<&str> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        for name in parsed.products.iter().filter_map(|p| p.supplier.as_deref()) {
            let key = name.to_lowercase();
            if !suppliers.contains_key(&key) && seen.insert(key) {
                missing.push(name);
            }
        }
        let values = missing
            .iter()
            .flat_map(|name| [V::S(name.to_string()), V::T(at), V::T(at)])
            .collect();
        let ids = insert_rows(
            c,
            "INSERT INTO suppliers (name, created_at, updated_at)",
            3,
            values,
            "RETURNING id, name",
            true,
            |_| {},
        )
        .await?;
        report.imported.suppliers = ids.len() as u64;
        suppliers.extend(ids.into_iter().map(|(id, name)| (name.to_lowercase(), id)));
    }

    // ---- Products -------------------------------------------------------------------------
    let mut values = Vec::with_capacity(parsed.products.len() * 12);
    for (p, category) in parsed.products.iter().zip(&product_category) {
        values.extend([
            V::S(p.sku.clone()),
            V::S(p.name.clone()),
            V::S(p.description.clone()),
            V::OI(category.as_ref().map(|c| c.0)),
            V::OI(
                p.supplier
                    .as_ref()
                    .and_then(|s| suppliers.get(&s.to_lowercase()).copied()),
            ),
            V::I(p.price),
            V::I(p.cost),
            V::S(p.status.clone()),
            V::S(serde_json::to_string(&p.keywords).unwrap_or_else(|_| "[]".into())),
            V::I(p.low_stock_threshold),
            V::T(at),
            V::T(at),
        ]);
    }
    let ids = insert_rows(
        c,
        "INSERT INTO products (sku, name, description, category_id, supplier_id, price, cost, status, keywords,
             low_stock_threshold, created_at, updated_at)",
        12,
        values,
        "RETURNING id, sku",
        true,
        &mut tick,
    )
    .await?;
    report.imported.products = ids.len() as u64;
    // SKU → index in `parsed.products` and `product_category`.
    let by_sku: HashMap<&str, usize> = parsed
        .products
        .iter()
        .enumerate()
        .map(|(i, p)| (p.sku.as_str(), i))
        .collect();
    let mut stocked: Vec<(i64, i64, i64)> = Vec::new();
    // Each record gets the event the API's create writes; the sales stay summarised by one
    // `import.completed` event (hundreds of thousands of lines).
    let mut events: Vec<outbox::NewEvent> = Vec::with_capacity(ids.len() + parsed.customers.len());
    for (id, sku) in ids {
        if let Some(&i) = by_sku.get(sku.as_str()) {
            let (p, category) = (&parsed.products[i], product_category[i].as_ref());
            if p.stock > 0 {
                stocked.push((id, p.stock, p.cost));
            }
            // The payload of `catalog::create_product`'s event.
            let event = ProductRecord {
                product_id: id,
                sku: &sku,
                name: &p.name,
                category: category.map(|c| c.1.as_str()),
                price: p.price,
                cost: p.cost,
                status: &p.status,
                keywords: &p.keywords,
                description: &p.description,
                supplier_id: p
                    .supplier
                    .as_ref()
                    .and_then(|s| suppliers.get(&s.to_lowercase()).copied()),
            };
            events.push(outbox::event(topics::PRODUCTS, "product.created", id, &event));
            products.insert(
                sku,
                ExistingProduct {
                    id,
                    name: p.name.clone(),
                    cost: p.cost,
                },
            );
        }
    }

    // Levels whose stock the import wrote, for their alerts.
    let mut touched_levels: Vec<(i64, i64)> = Vec::new();
    // Opening stock of a products file: an entry per product in the chosen warehouse.
    if let (false, Some(w)) = (stocked.is_empty(), default_warehouse) {
        let mut levels = Vec::new();
        let mut moves = Vec::new();
        for (pid, qty, cost) in &stocked {
            levels.extend([V::I(*pid), V::I(w), V::I(*qty), V::I(0), V::I(*cost), V::T(at)]);
            moves.extend(movement(
                *pid,
                w,
                "entry",
                *qty,
                Some(*cost),
                *qty,
                "import",
                &import_id,
                None,
                label,
                at,
            ));
        }
        insert_rows(
            c,
            "INSERT INTO stock_levels (product_id, warehouse_id, on_hand, reserved, avg_cost, updated_at)",
            6,
            levels,
            "",
            false,
            |_| {},
        )
        .await?;
        insert_rows(c, MOVEMENT_HEAD, 11, moves, "", false, |_| {}).await?;
        report.imported.stock_movements += stocked.len() as u64;
        touched_levels.extend(stocked.iter().map(|(pid, _, _)| (*pid, w)));
    }

    // ---- Customers ------------------------------------------------------------------------
    let mut values = Vec::with_capacity(parsed.customers.len() * 10);
    for cu in &parsed.customers {
        values.extend([
            V::S(cu.first_name.clone()),
            V::S(cu.last_name.clone()),
            V::OS(cu.email.clone()),
            V::OS(cu.phone.clone()),
            V::OS(cu.address.clone()),
            V::OS(cu.rut.clone()),
            V::OS(cu.notes.clone()),
            V::S(cu.external_ref.clone()),
            V::T(at),
            V::T(at),
        ]);
    }
    let ids = insert_rows(
        c,
        "INSERT INTO customers (first_name, last_name, email, phone, address, rut, notes, external_ref, created_at, updated_at)",
        10,
        values,
        "RETURNING id, external_ref",
        true,
        &mut tick,
    )
    .await?;
    report.imported.customers = ids.len() as u64;
    let by_ref: HashMap<&str, &super::parse::CustomerRow> = parsed
        .customers
        .iter()
        .map(|cu| (cu.external_ref.as_str(), cu))
        .collect();
    for (id, external_ref) in &ids {
        if let Some(cu) = by_ref.get(external_ref.as_str()) {
            let customer = Customer {
                id: *id,
                first_name: cu.first_name.clone(),
                last_name: cu.last_name.clone(),
                email: cu.email.clone(),
                phone: cu.phone.clone(),
                address: cu.address.clone(),
                rut: cu.rut.clone(),
                notes: cu.notes.clone(),
                external_ref: Some(cu.external_ref.clone()),
                created_at: at,
                updated_at: at,
            };
            events.push(outbox::event(topics::CUSTOMERS, "customer.created", id, &customer));
        }
    }
    customers.extend(ids.into_iter().map(|(id, r)| (r, id)));

    // ---- Sales ----------------------------------------------------------------------------
    let mut totals: HashMap<&str, (i64, i64)> = HashMap::new();
    for i in &parsed.items {
        let t = totals.entry(i.sale_ref.as_str()).or_insert((0, 0));
        // Each line is within the bounds `parse` checks; a sale of very many of them is not.
        t.0 = t.0.saturating_add(i.unit_price * i.quantity);
        t.1 = t.1.saturating_add(i.quantity);
    }
    if let Some((sale, _)) = totals.iter().find(|(_, t)| t.0 > limits::MAX_TOTAL) {
        return Err(StoreError::Rule {
            field: Some("sale_id".into()),
            message: format!("the lines of sale '{sale}' add up to more than {}", limits::MAX_TOTAL),
        });
    }
    let mut values = Vec::with_capacity(parsed.sales.len() * 11);
    let mut sale_info: HashMap<String, (i64, Option<i64>, DateTime<Utc>)> = HashMap::new();
    for s in &parsed.sales {
        let warehouse_id = match &s.store {
            Some(code) => warehouses.get(code).copied(),
            None => default_warehouse,
        };
        let (total, count) = totals.get(s.external_ref.as_str()).copied().unwrap_or((0, 0));
        values.extend([
            V::OI(warehouse_id),
            V::OI(s.customer_ref.as_ref().and_then(|r| customers.get(r).copied())),
            V::S("import".into()),
            V::S(s.external_ref.clone()),
            V::B(!ledger),
            V::I(s.total.unwrap_or(total)),
            V::I(count),
            V::S(label.to_string()),
            V::T(s.sold_at),
            V::T(at),
            V::OS(s.payment_method.clone()),
        ]);
        sale_info.insert(s.external_ref.clone(), (0, warehouse_id, s.sold_at));
    }
    let ids = insert_rows(
        c,
        "INSERT INTO sales (warehouse_id, customer_id, channel, external_ref, historical, total, items_count, created_by, sold_at, created_at, payment_method)",
        11,
        values,
        "RETURNING id, external_ref",
        true,
        &mut tick,
    )
    .await?;
    report.imported.sales = ids.len() as u64;
    for (id, r) in ids {
        if let Some(info) = sale_info.get_mut(&r) {
            info.0 = id;
        }
    }
    if format == Format::SalesItems {
        // Lines attach to sales imported before; their time is needed for the ledger.
        let refs: HashSet<&str> = parsed.items.iter().map(|i| i.sale_ref.as_str()).collect();
        for r in refs {
            if let Some(s) = existing_sales.get(r) {
                let sold_at: DateTime<Utc> = sql::query_scalar("SELECT sold_at FROM sales WHERE id = $1")
                    .bind(s.id)
                    .fetch_one(c)
                    .await?;
                sale_info.insert(r.to_string(), (s.id, s.warehouse_id, sold_at));
            }
        }
    }

    // ---- Sale items -----------------------------------------------------------------------
    let mut values = Vec::with_capacity(parsed.items.len() * 8);
    let mut lines: Vec<Line> = Vec::with_capacity(if ledger { parsed.items.len() } else { 0 });
    let mut costs: HashMap<i64, i64> = HashMap::new();
    for i in &parsed.items {
        let (Some(p), Some(&(sale_id, warehouse_id, sold_at))) = (products.get(&i.sku), sale_info.get(&i.sale_ref))
        else {
            continue;
        };
        values.extend([
            V::I(sale_id),
            V::I(p.id),
            V::S(i.sku.clone()),
            V::S(i.name.clone().unwrap_or_else(|| p.name.clone())),
            V::I(i.unit_price),
            V::I(p.cost),
            V::I(i.quantity),
            V::I(i.unit_price * i.quantity),
        ]);
        if ledger {
            let warehouse_id = warehouse_id.or(default_warehouse);
            if let Some(w) = warehouse_id {
                costs.insert(p.id, p.cost);
                lines.push(Line {
                    sale_id,
                    warehouse_id: w,
                    product_id: p.id,
                    quantity: i.quantity,
                    sold_at,
                });
            }
        }
    }
    report.imported.sale_items = (values.len() / 8) as u64;
    insert_rows(
        c,
        "INSERT INTO sale_items (sale_id, product_id, sku, product_name, unit_price, unit_cost, quantity, line_total)",
        8,
        values,
        "",
        false,
        &mut tick,
    )
    .await?;
    if format == Format::SalesItems {
        let ids: Vec<i64> = {
            let set: HashSet<i64> = sale_info.values().map(|s| s.0).collect();
            set.into_iter().collect()
        };
        for chunk in ids.chunks(500) {
            let list = chunk.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
            sql::query(format!(
                "UPDATE sales SET
                     total = COALESCE((SELECT SUM(i.line_total) FROM sale_items i WHERE i.sale_id = sales.id), 0),
                     items_count = COALESCE((SELECT SUM(i.quantity) FROM sale_items i WHERE i.sale_id = sales.id), 0)
                 WHERE id IN ({list})"
            ))
            .execute(c)
            .await?;
        }
    }

    // ---- Ledger: opening stock implied by the sales, then the sale exits -------------------
    if ledger && !lines.is_empty() {
        let on_hand: HashMap<(i64, i64), i64> = {
            let rows: Vec<(i64, i64, i64)> =
                sql::query_as("SELECT product_id, warehouse_id, on_hand FROM stock_levels")
                    .fetch_all(c)
                    .await?;
            rows.into_iter().map(|(p, w, q)| ((p, w), q)).collect()
        };
        lines.sort_by_key(|l| (l.product_id, l.warehouse_id, l.sold_at, l.sale_id));
        let mut levels = Vec::new();
        let mut moves = Vec::with_capacity((lines.len() + 1000) * 11);
        let mut count = 0u64;
        for group in lines.chunk_by(|a, b| a.product_id == b.product_id && a.warehouse_id == b.warehouse_id) {
            let (pid, wid) = (group[0].product_id, group[0].warehouse_id);
            touched_levels.push((pid, wid));
            let cost = costs.get(&pid).copied().unwrap_or(0);
            let sold: i64 = group.iter().map(|l| l.quantity).sum();
            let start = match on_hand.get(&(pid, wid)) {
                Some(q) => *q,
                None => {
                    levels.extend([V::I(pid), V::I(wid), V::I(0), V::I(0), V::I(cost), V::T(at)]);
                    0
                }
            };
            let mut balance = start + sold;
            let opening_at = group[0].sold_at - TimeDelta::seconds(1);
            moves.extend(movement(
                pid,
                wid,
                "opening",
                sold,
                Some(cost),
                balance,
                "import",
                &import_id,
                Some("opening stock implied by imported sales"),
                label,
                opening_at,
            ));
            count += 1;
            for l in group {
                balance -= l.quantity;
                moves.extend(movement(
                    pid,
                    wid,
                    "sale",
                    -l.quantity,
                    None,
                    balance,
                    "sale",
                    &l.sale_id.to_string(),
                    None,
                    label,
                    l.sold_at,
                ));
                count += 1;
            }
        }
        insert_rows(
            c,
            "INSERT INTO stock_levels (product_id, warehouse_id, on_hand, reserved, avg_cost, updated_at)",
            6,
            levels,
            "ON CONFLICT (product_id, warehouse_id) DO NOTHING",
            false,
            |_| {},
        )
        .await?;
        insert_rows(c, MOVEMENT_HEAD, 11, moves, "", false, &mut tick).await?;
        report.imported.stock_movements += count;
    }

    // ---- Alerts of the levels written, as a stock change through the API raises them -----
    super::alerts::evaluate_levels(c, &touched_levels, at, &mut events).await?;

    // ---- One summary event and one audit row ----------------------------------------------
    let summary = serde_json::json!({
        "import_id": import_id,
        "format": report.format,
        "mode": report.mode,
        "rows_read": report.rows_read,
        "imported": report.imported,
        "skipped": report.skipped,
        "duplicates": report.duplicates,
    });
    events.push(outbox::event(topics::SALES, "import.completed", &import_id, &summary));
    let mut events = events.into_iter().peekable();
    while events.peek().is_some() {
        outbox::emit_all(c, events.by_ref().take(EVENTS_PER_INSERT).collect()).await?;
    }
    audit::record(c, actor, "import", "import", &import_id, None::<&()>, Some(&summary)).await?;
    Ok(true)
}

/// Events per outbox insert: 6 parameters each on SQLite, well under its 32766.
const EVENTS_PER_INSERT: usize = 1000;

const MOVEMENT_HEAD: &str =
    "INSERT INTO stock_movements (product_id, warehouse_id, kind, quantity, unit_cost, balance_after,
    reference_type, reference_id, note, created_by, created_at)";

#[allow(clippy::too_many_arguments)]
fn movement(
    product_id: i64,
    warehouse_id: i64,
    kind: &str,
    quantity: i64,
    unit_cost: Option<i64>,
    balance_after: i64,
    reference_type: &str,
    reference_id: &str,
    note: Option<&str>,
    created_by: &str,
    at: DateTime<Utc>,
) -> [V; 11] {
    [
        V::I(product_id),
        V::I(warehouse_id),
        V::S(kind.into()),
        V::I(quantity),
        V::OI(unit_cost),
        V::I(balance_after),
        V::S(reference_type.into()),
        V::S(reference_id.into()),
        V::OS(note.map(str::to_string)),
        V::S(created_by.into()),
        V::T(at),
    ]
}
