//! The catalogue phase: the central warehouse and the shops, the suppliers, the category tree
//! and the products (prices, costs, popularity, planned promotions), and the products' alert
//! thresholds; with the helpers that choose and name the products.

use std::collections::HashSet;

use chrono::Duration;
use rand::Rng;

use bodega_domain::rut;
use bodega_store::catalog::{self, ProductInput, WarehouseInput};
use bodega_store::people::{self, Field, Supplier};
use bodega_store::{sql, Conn};

use crate::data::{self, AFFINITIES, BASES};
use crate::people::{text, Input};
use crate::random::{ascii, normal, phone, pick};
use crate::simulation::{plan_promotions, Location, Prod};
use crate::Run;

impl Run<'_> {
    /// Locations, suppliers, categories and products, in one transaction.
    pub(crate) async fn catalogue(&mut self, progress: &mut impl FnMut(&str, u64, u64)) -> anyhow::Result<()> {
        let mut tx = self.db.begin().await?;
        {
            let c = &mut tx.conn();
            self.locations(c).await?;
            self.suppliers(c).await?;
            self.products(c, progress).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The central warehouse, then the shops. The central warehouse takes over the default
    /// `MAIN` one a new database has, so that what defaults to the first warehouse (orders,
    /// till sales) finds the stock there.
    async fn locations(&mut self, c: &mut Conn<'_>) -> anyhow::Result<()> {
        let Run {
            cfg,
            ref actor,
            ref mut sim,
            ..
        } = *self;
        for (i, (code, name, address, factor)) in data::LOCATIONS.iter().take(cfg.stores + 1).enumerate() {
            let input = WarehouseInput {
                code: code.to_string(),
                name: name.to_string(),
                kind: if i == 0 { "warehouse" } else { "store" }.into(),
                address: Some(address.to_string()),
                is_active: true,
            };
            let default = match i {
                0 => catalog::warehouse_by_code(c, "MAIN").await?,
                _ => None,
            };
            let w = match default {
                Some(main) => catalog::update_warehouse(c, actor, main.id, &input).await?,
                None => catalog::create_warehouse(c, actor, &input).await?,
            };
            sim.locations.push(Location {
                id: w.id,
                factor: *factor,
            });
        }
        Ok(())
    }

    async fn suppliers(&mut self, c: &mut Conn<'_>) -> anyhow::Result<()> {
        let Run {
            ref actor,
            ref mut rng,
            ref mut sim,
            ref mut summary,
            ..
        } = *self;
        let mut ruts = HashSet::new();
        for (name, contact, lead) in data::SUPPLIERS {
            let body = loop {
                let b = rng.gen_range(76_000_000..78_000_000u32);
                if ruts.insert(b) {
                    break b;
                }
            };
            let slug: String = name
                .split_whitespace()
                .filter(|w| !matches!(*w, "SpA" | "Ltda." | "S.A." | "de" | "del" | "y" | "Comercial"))
                .map(ascii)
                .collect::<Vec<_>>()
                .join("");
            let s: Supplier = people::create(
                c,
                actor,
                &Input(vec![
                    ("name", text(name)),
                    ("contact_name", text(contact)),
                    ("email", text(&format!("ventas@{slug}.ejemplo.cl"))),
                    ("phone", text(&phone(rng, true))),
                    (
                        "address",
                        text(&format!(
                            "{} {}, Santiago",
                            pick(rng, data::STREETS),
                            rng.gen_range(100..9000)
                        )),
                    ),
                    ("rut", text(&format!("{body}-{}", rut::check_digit(body)))),
                    ("lead_time_days", Field::Int(Some(i64::from(*lead)))),
                ]),
            )
            .await?;
            sim.suppliers.push((s.id, *lead));
        }
        summary.suppliers = sim.suppliers.len();
        Ok(())
    }

    /// The products (and the category tree they hang from), most important articles first.
    async fn products(&mut self, c: &mut Conn<'_>, progress: &mut impl FnMut(&str, u64, u64)) -> anyhow::Result<()> {
        let Run {
            cfg,
            first_day,
            ref actor,
            ref mut rng,
            ref mut sim,
            ref mut summary,
            ..
        } = *self;
        let chosen = choose_variants(cfg.products);
        let mut categories = HashSet::new();
        for (n, &(bi, brand, size)) in chosen.iter().enumerate() {
            let base = &BASES[bi];
            let category = catalog::ensure_category_path(c, actor, base.category).await?;
            let mut path = String::new();
            for part in base.category.split(" / ") {
                path = if path.is_empty() {
                    part.to_string()
                } else {
                    format!("{path} / {part}")
                };
                categories.insert(path.clone());
            }
            let (brand_name, brand_factor) = match brand {
                "" => ("", 1.0),
                "Cordillera" => ("Cordillera", 0.85),
                b if base.brands.first() == Some(&b) => (b, 1.1),
                b => (b, 1.0),
            };
            let (size_name, size_factor) = base.sizes[size];
            let price = round_price(base.price as f64 * size_factor * brand_factor * rng.gen_range(0.95..1.05));
            let (lo, hi) = data::margin_range(base.category);
            let margin = rng.gen_range(lo..hi);
            let cost = ((price as f64) * (1.0 - margin)).round() as i64;
            let name = [base.name, brand_name, size_name]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(" ");
            // Variants split their article's popularity; a log-normal factor makes the tail.
            let share = match sim.products.iter().filter(|p| p.base == bi).count() {
                0 => 0.6,
                1 => 0.3,
                _ => 0.15,
            };
            let pop = base.pop * share * (normal(rng) * 0.5).exp();
            let promos = plan_promotions(rng, cfg.days, pop);
            summary.promotions += promos.len();
            let sku = format!("{}-{:04}", sku_prefix(base.category), n + 1);
            let promo_json: Vec<serde_json::Value> = promos
                .iter()
                .map(|p| {
                    serde_json::json!({
                        "from": first_day + Duration::days(i64::from(p.start)),
                        "to": first_day + Duration::days(i64::from(p.end) - 1),
                        "discount_pct": p.pct,
                    })
                })
                .collect();
            let product = catalog::create_product(
                c,
                actor,
                &ProductInput {
                    sku: sku.clone(),
                    name: name.clone(),
                    description: format!("{} ({}).", base.name, base.category.to_lowercase()),
                    category_id: Some(category.id),
                    supplier_id: Some(sim.suppliers[base.supplier].0),
                    price,
                    cost,
                    status: "active".into(),
                    keywords: base
                        .category
                        .split(" / ")
                        .map(|s| s.to_lowercase())
                        .chain([base.key.to_string()])
                        .collect(),
                    image_url: None,
                    low_stock_threshold: 0,
                    attributes: serde_json::json!({
                        "article": base.key, "brand": brand_name, "size": size_name,
                        "season": format!("{:?}", base.season).to_lowercase(), "promotions": promo_json,
                    }),
                },
            )
            .await?;
            sim.products.push(Prod {
                id: product.id,
                sku,
                name,
                category: category.path.clone(),
                price,
                cost,
                pop,
                base: bi,
                promos,
                threshold: 0,
            });
            progress("catálogo", n as u64 + 1, chosen.len() as u64);
        }
        summary.categories = categories.len();
        summary.products = sim.products.len();
        summary.warehouses = sim.locations.len();
        Ok(())
    }

    /// The article names of the planted co-purchase pairs present in the catalogue.
    pub(crate) fn planted_pairs(&mut self) {
        let Run {
            ref sim,
            ref mut summary,
            ..
        } = *self;
        for (a, b, _) in AFFINITIES {
            let has = |k: &str| sim.products.iter().find(|p| BASES[p.base].key == k);
            if let (Some(pa), Some(pb)) = (has(a), has(b)) {
                summary
                    .planted_pairs
                    .push((BASES[pa.base].name.into(), BASES[pb.base].name.into()));
            }
        }
    }

    /// Thresholds: about two days of a shop's ordinary demand.
    pub(crate) async fn thresholds(&mut self) -> anyhow::Result<()> {
        let sim = &mut self.sim;
        let mut tx = self.db.begin().await?;
        {
            let c = &mut tx.conn();
            for p in 0..sim.products.len() {
                let top = (1..sim.locations.len())
                    .map(|s| sim.base_rate[s][p])
                    .fold(0.0, f64::max);
                let threshold = ((top * 2.0).ceil() as i64).max(2);
                sim.products[p].threshold = threshold;
                sql::query("UPDATE products SET low_stock_threshold = $1 WHERE id = $2")
                    .bind(threshold)
                    .bind(sim.products[p].id)
                    .execute(c)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}

/// (base index, brand, size index) of the products, most important articles first: every
/// article's first variant, then every second variant, and so on.
fn choose_variants(count: usize) -> Vec<(usize, &'static str, usize)> {
    let all: Vec<Vec<(usize, &'static str, usize)>> = BASES
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let mut v = Vec::new();
            for size in 0..b.sizes.len() {
                for brand in b.brands {
                    v.push((i, *brand, size));
                }
            }
            // Interleave so that the second variant is another brand or size.
            v.sort_by_key(|(_, brand, size)| (b.brands.iter().position(|x| x == brand).unwrap_or(0) + *size, *size));
            v
        })
        .collect();
    let mut chosen = Vec::new();
    let depth = all.iter().map(Vec::len).max().unwrap_or(0);
    for level in 0..depth {
        for v in &all {
            if let Some(x) = v.get(level) {
                if chosen.len() < count {
                    chosen.push(*x);
                }
            }
        }
    }
    chosen
}

fn sku_prefix(category: &str) -> &'static str {
    match category.split(" / ").next().unwrap_or("") {
        "Almacén" => "ALM",
        "Panadería" => "PAN",
        "Lácteos y Huevos" => "LAC",
        "Frutas y Verduras" => "FYV",
        "Carnes y Fiambres" => "CAR",
        "Bebidas y Licores" => "BEB",
        "Limpieza" => "LIM",
        "Cuidado Personal" => "CPE",
        _ => "HOG",
    }
}

/// Chilean shelf prices: to 10 pesos below 1.000, otherwise ending in 90.
pub(crate) fn round_price(x: f64) -> i64 {
    if x < 1000.0 {
        ((x / 10.0).round() as i64 * 10).max(100)
    } else {
        (x / 100.0).round() as i64 * 100 - 10
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_look_chilean() {
        assert_eq!(round_price(1234.0), 1190);
        assert_eq!(round_price(987.0), 990);
        assert_eq!(round_price(2290.0), 2290);
    }

    #[test]
    fn variants_cover_the_planted_pairs_first() {
        let chosen = choose_variants(48);
        assert_eq!(chosen.len(), 48);
        for key in ["marraqueta", "palta", "detergente", "suavizante"] {
            assert!(chosen.iter().any(|(b, _, _)| BASES[*b].key == key), "{key}");
        }
        assert!(choose_variants(1000).len() >= 300);
    }
}
