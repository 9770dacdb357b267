//! `bodega eval recommendations`: the temporal-split evaluation of bodega-recommend behind the
//! command line, on a canonical transactions CSV or the UCI Online Retail file, and
//! leave-one-out basket completion on baskets without customers or times (arules' Groceries).
//! Can export the training split for peer libraries and score their top-10 lists with the same
//! metrics.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use bodega_recommend::als::{Als, AlsConfig};
use bodega_recommend::ease::{Ease, EaseConfig};
use bodega_recommend::eval::{self, Line, ModelResult, ModelSettings, Split};
use bodega_recommend::evaluate;
use bodega_recommend::hoease::{HoEase, HoEaseConfig};
use bodega_recommend::hybrid::Hybrid;
use bodega_recommend::itemitem::ItemItem;
use bodega_recommend::served::{self, Ask, Served};
use bodega_recommend::{EngineConfig, Scorer, Strategy};
use chrono::{NaiveDate, NaiveDateTime};

const DAY: i64 = 86_400;

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["transactions", "online_retail", "baskets"])))]
pub struct EvalRecommendArgs {
    /// Canonical transactions CSV: order_id,customer_id,product_id,quantity,unit_price,timestamp.
    #[arg(long, value_name = "FILE")]
    transactions: Option<PathBuf>,
    /// UCI Online Retail CSV (InvoiceNo,StockCode,…,CustomerID,…); cancellations, lines without
    /// a customer and non-positive quantities are left out.
    #[arg(long, value_name = "FILE")]
    online_retail: Option<PathBuf>,
    /// Baskets without customers or times, one per line, items joined by ',' (arules'
    /// groceries_baskets.txt): leave-one-out basket completion. Every fifth basket with two or
    /// more items is a query: one of its items (chosen by a fixed hash) is held out, the rest
    /// is known, like every other basket; a query's own items are never recommended.
    #[arg(long, value_name = "FILE")]
    baskets: Option<PathBuf>,
    /// First day of the test period (YYYY-MM-DD); default: the last four weeks.
    #[arg(long, value_name = "DATE")]
    test_from: Option<String>,
    /// Ignore every line from this day on (YYYY-MM-DD), e.g. to evaluate on a validation split.
    #[arg(long, value_name = "DATE")]
    until: Option<String>,
    /// Write the report as JSON here.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Write the training split (train.csv) and the scored customers (users.txt) here, for
    /// peer libraries.
    #[arg(long, value_name = "DIR")]
    export_split: Option<PathBuf>,
    /// Score peers' top-10 lists (JSON: {"model", "train_seconds", "recommendations":
    /// {customer: [product, …]}}) with the same metrics.
    #[arg(long, value_name = "FILE", num_args = 1..)]
    score_lists: Vec<PathBuf>,
    /// Tune item-item on a validation split taken before --test-from (the last
    /// --validation-days before it) and evaluate the tuned settings on the test period.
    #[arg(long)]
    tune: bool,
    #[arg(long, default_value_t = 28)]
    validation_days: i64,
    /// Item-item: half-life of a basket's weight, in days.
    #[arg(long)]
    half_life: Option<f64>,
    /// Item-item: neighbours per product.
    #[arg(long)]
    k: Option<usize>,
    /// Item-item: weight of the customer's own past purchases.
    #[arg(long)]
    repeat: Option<f32>,
    /// Item-item: exponent of the history strengths.
    #[arg(long)]
    history_power: Option<f32>,
    /// Half-life of the recency weighting of every customer's history, in days.
    #[arg(long, default_value_t = eval::DEFAULT_HISTORY_HALF_LIFE_DAYS)]
    history_half_life: f64,
    /// ALS: latent factors (0 leaves ALS out).
    #[arg(long, default_value_t = 100)]
    als_factors: usize,
    /// ALS: sweeps over users and items.
    #[arg(long, default_value_t = 15)]
    als_iterations: usize,
    /// ALS: confidence per interaction (c = 1 + alpha · count).
    #[arg(long, default_value_t = 1.0)]
    als_alpha: f32,
    /// ALS: L2 regularisation.
    #[arg(long, default_value_t = 0.01)]
    als_regularization: f32,
    /// ALS: confidence of an observed pair = offset + alpha · count (1: the HKV paper; 0: implicit).
    #[arg(long, default_value_t = 0.0)]
    als_confidence_offset: f32,
    /// Hybrid: weight of ALS next to item-item's 1.
    #[arg(long, default_value_t = EngineConfig::default().hybrid_als_weight)]
    hybrid_als_weight: f32,
    /// ALS: seed of the random initial factors.
    #[arg(long, default_value_t = 42)]
    als_seed: u64,
    /// EASE: L2 regularisation λ (0 leaves EASE out).
    #[arg(long, default_value_t = EaseConfig::default().lambda)]
    ease_lambda: f64,
    /// EASE: dropout rate of the denoising variant (0: plain EASE).
    #[arg(long, default_value_t = EaseConfig::default().dropout)]
    ease_dropout: f64,
    /// EASE: weights kept per product, the largest in magnitude (0: all).
    #[arg(long, default_value_t = EaseConfig::default().keep)]
    ease_keep: usize,
    /// Hybrid: weight of EASE next to item-item's 1.
    #[arg(long, default_value_t = EngineConfig::default().hybrid_ease_weight)]
    hybrid_ease_weight: f32,
    /// Higher-order EASE: pair features, the most frequent co-occurring pairs (0 leaves the
    /// model out).
    #[arg(long, default_value_t = HoEaseConfig::default().pairs)]
    hoease_pairs: usize,
    /// Higher-order EASE: L2 regularisation of the products' weights.
    #[arg(long, default_value_t = HoEaseConfig::default().lambda)]
    hoease_lambda: f64,
    /// Higher-order EASE: L2 regularisation of the pairs' weights.
    #[arg(long, default_value_t = HoEaseConfig::default().pair_lambda)]
    hoease_pair_lambda: f64,
    /// Higher-order EASE: row weight |row|^-power (0: every basket or customer the same).
    #[arg(long, default_value_t = HoEaseConfig::default().row_power)]
    hoease_row_power: f64,
    /// Basket answers: weight of the basket model (higher-order EASE on the baskets, with the
    /// --hoease-* settings) next to item-item's 1, when the catalogue is small enough.
    #[arg(long, default_value_t = EngineConfig::default().basket_model_weight)]
    basket_model_weight: f32,
    /// With --baskets: a validation run for choosing settings. The test queries' held-out
    /// items are dropped, and other baskets (the third of every five) are the queries.
    #[arg(long)]
    validation: bool,
    /// With --validation: which of every five baskets are the queries (0–3; 4 is the test's).
    /// Several folds give more queries for telling close models apart.
    #[arg(long, default_value_t = VALIDATION_RESIDUE, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..4))]
    validation_fold: usize,
}

/// Interns strings to dense u32.
#[derive(Default)]
struct Strings {
    index: HashMap<String, u32>,
    names: Vec<String>,
}

impl Strings {
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.names.len() as u32;
        self.index.insert(s.to_string(), i);
        self.names.push(s.to_string());
        i
    }
}

struct Data {
    lines: Vec<Line>,
    orders: Strings,
    customers: Strings,
    products: Strings,
}

fn parse_time(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(raw) {
        return Some(t.timestamp());
    }
    for format in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%m/%d/%Y %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(raw, format) {
            return Some(t.and_utc().timestamp());
        }
    }
    parse_date(raw)
}

fn parse_date(raw: &str) -> Option<i64> {
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp())
}

fn load(path: &Path, online_retail: bool) -> anyhow::Result<Data> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .with_context(|| format!("opening {}", path.display()))?;
    let headers = reader.headers()?.clone();
    let column = |name: &str| -> anyhow::Result<usize> {
        headers
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
            .with_context(|| format!("{}: no column {name}", path.display()))
    };
    let (order, customer, product, quantity, timestamp) = if online_retail {
        (
            column("InvoiceNo")?,
            column("CustomerID")?,
            column("StockCode")?,
            column("Quantity")?,
            column("InvoiceDate")?,
        )
    } else {
        (
            column("order_id")?,
            column("customer_id")?,
            column("product_id")?,
            column("quantity")?,
            column("timestamp")?,
        )
    };
    let mut data = Data {
        lines: Vec::new(),
        orders: Strings::default(),
        customers: Strings::default(),
        products: Strings::default(),
    };
    for (n, record) in reader.records().enumerate() {
        let record = record.with_context(|| format!("{}: row {}", path.display(), n + 2))?;
        let field = |i: usize| record.get(i).unwrap_or("").trim();
        let qty: f64 = field(quantity)
            .parse()
            .with_context(|| format!("{}: row {}: bad quantity", path.display(), n + 2))?;
        let cust = field(customer);
        if online_retail && (field(order).starts_with('C') || cust.is_empty() || qty <= 0.0) {
            continue;
        }
        if qty <= 0.0 {
            continue;
        }
        let at = parse_time(field(timestamp)).with_context(|| {
            format!(
                "{}: row {}: bad timestamp {:?}",
                path.display(),
                n + 2,
                field(timestamp)
            )
        })?;
        // Online Retail's CustomerID is written as 17850 or 17850.0.
        let cust = cust.strip_suffix(".0").unwrap_or(cust);
        data.lines.push(Line {
            order: data.orders.intern(field(order)),
            customer: (!cust.is_empty()).then(|| data.customers.intern(cust)),
            product: data.products.intern(field(product)),
            at,
        });
    }
    if data.lines.is_empty() {
        bail!("{}: no usable lines", path.display());
    }
    Ok(data)
}

/// Every `QUERY_EVERY`-th basket is a query of the basket-completion evaluation.
const QUERY_EVERY: usize = 5;
/// The baskets (n mod QUERY_EVERY) that are the queries of a `--validation` run by default.
const VALIDATION_RESIDUE: usize = 2;

/// Loads baskets for leave-one-out completion: known lines at time 0, each query's held-out
/// item at time 1 (so a split at 1 trains on everything else and scores the queries). Each
/// basket is its own customer.
fn load_baskets(path: &Path, validation: Option<usize>) -> anyhow::Result<Data> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut data = Data {
        lines: Vec::new(),
        orders: Strings::default(),
        customers: Strings::default(),
        products: Strings::default(),
    };
    // Lines split on '\n' only: some labels end in a space.
    for (n, line) in text.split('\n').enumerate() {
        let mut items: Vec<&str> = Vec::new();
        for item in line.split(',').filter(|i| !i.is_empty()) {
            if !items.contains(&item) {
                items.push(item);
            }
        }
        if items.is_empty() {
            continue;
        }
        let name = format!("b{}", n + 1);
        let customer = data.customers.intern(&name);
        let order = data.orders.intern(&name);
        let held_out = |residue: usize| {
            (n % QUERY_EVERY == residue && items.len() >= 2).then(|| (n.wrapping_mul(2_654_435_761) >> 7) % items.len())
        };
        let test_held = held_out(QUERY_EVERY - 1);
        let (held, dropped) = match validation {
            Some(residue) => (held_out(residue), test_held),
            None => (test_held, None),
        };
        for (k, item) in items.iter().enumerate() {
            if dropped == Some(k) {
                continue;
            }
            let is_held = held == Some(k);
            data.lines.push(Line {
                order: if is_held {
                    data.orders.intern(&format!("{name}-held"))
                } else {
                    order
                },
                customer: Some(customer),
                product: data.products.intern(item),
                at: i64::from(is_held),
            });
        }
    }
    if data.lines.is_empty() {
        bail!("{}: no baskets", path.display());
    }
    Ok(data)
}

fn export(dir: &Path, data: &Data, split: &Split) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut train = String::from("customer_id,product_id,order_id,timestamp\n");
    for l in data.lines.iter().filter(|l| l.at < split.test_from) {
        if let Some(c) = l.customer {
            train += &format!(
                "{},{},{},{}\n",
                data.customers.names[c as usize],
                data.products.names[l.product as usize],
                data.orders.names[l.order as usize],
                l.at
            );
        }
    }
    std::fs::write(dir.join("train.csv"), train)?;
    let mut users = String::new();
    for (u, _, _) in &split.scored {
        users += &data.customers.names[split.users.id(*u) as usize];
        users.push('\n');
    }
    std::fs::write(dir.join("users.txt"), users)?;
    Ok(())
}

#[derive(serde::Deserialize)]
struct PeerLists {
    model: String,
    train_seconds: f64,
    recommendations: HashMap<String, Vec<String>>,
}

fn score_lists(path: &Path, data: &Data, split: &Split) -> anyhow::Result<(String, ModelResult)> {
    let raw = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let peer: PeerLists = serde_json::from_str(&raw).with_context(|| format!("parsing {}", path.display()))?;
    let mut lists = HashMap::new();
    for (customer, products) in &peer.recommendations {
        let Some(u) = data
            .customers
            .index
            .get(customer)
            .and_then(|&c| split.users.index(c as i64))
        else {
            continue;
        };
        let items: Vec<u32> = products
            .iter()
            .filter_map(|p| data.products.index.get(p).and_then(|&p| split.items.index(p as i64)))
            .collect();
        lists.insert(u, items);
    }
    Ok((
        peer.model,
        ModelResult {
            metrics: eval::evaluate_lists(split, &lists, 10),
            train_seconds: peer.train_seconds,
        },
    ))
}

pub fn run(args: &EvalRecommendArgs) -> anyhow::Result<()> {
    let completion = args.baskets.is_some();
    let mut data = match (&args.transactions, &args.online_retail, &args.baskets) {
        (Some(p), None, None) => load(p, false)?,
        (None, Some(p), None) => load(p, true)?,
        (None, None, Some(p)) => {
            if args.tune || args.test_from.is_some() || args.until.is_some() {
                bail!("--baskets has no time: --tune, --test-from and --until do not apply");
            }
            load_baskets(p, args.validation.then_some(args.validation_fold))?
        }
        _ => bail!("give exactly one of --transactions, --online-retail and --baskets"),
    };
    if args.validation && !completion {
        bail!("--validation applies to --baskets; for a temporal split use --until and --test-from");
    }
    if let Some(until) = &args.until {
        let until = parse_date(until).with_context(|| format!("bad --until {until}"))?;
        data.lines.retain(|l| l.at < until);
    }
    let last = data.lines.iter().map(|l| l.at).max().unwrap_or(0);
    let test_from = match &args.test_from {
        _ if completion => 1,
        Some(d) => parse_date(d).with_context(|| format!("bad --test-from {d} (YYYY-MM-DD)"))?,
        None => {
            let day = (last - 28 * DAY).div_euclid(DAY) * DAY;
            day + DAY
        }
    };
    let mut settings = ModelSettings::default();
    let mut history_half_life = args.history_half_life;
    let mut tuning = Vec::new();
    if args.tune {
        let (c, h, log) = eval::tune_item_item(
            &data.lines,
            test_from,
            args.validation_days,
            settings.item_item.clone(),
            history_half_life,
        );
        for l in &log {
            eprintln!("tune: {l}");
        }
        settings.item_item = c;
        history_half_life = h;
        tuning = log;
    }
    let ii = &mut settings.item_item;
    if let Some(v) = args.half_life {
        ii.half_life_days = v;
    }
    if let Some(v) = args.k {
        ii.k = v;
    }
    if let Some(v) = args.repeat {
        ii.repeat = v;
    }
    if let Some(v) = args.history_power {
        ii.history_power = v;
    }
    let mut split = Split::new(&data.lines, test_from, history_half_life);
    split.exclude_known = completion;
    if split.scored.is_empty() {
        bail!("no customer bought on both sides of the split; choose another --test-from");
    }
    let summary = split.summary(history_half_life);
    println!(
        "split at {}: {} training lines in {} baskets, {} products, {} customers; {} test lines; {} scored customers",
        summary.test_from,
        summary.train_lines,
        summary.train_baskets,
        summary.products,
        summary.train_customers,
        summary.test_lines,
        summary.scored_customers
    );
    if let Some(dir) = &args.export_split {
        export(dir, &data, &split)?;
    }
    let mut models = eval::standard_models(&split, &settings);
    let matrix = split.purchase_matrix();
    let als_config = (args.als_factors > 0).then(|| bodega_recommend::als::AlsConfig {
        factors: args.als_factors,
        iterations: args.als_iterations,
        alpha: args.als_alpha,
        regularization: args.als_regularization,
        seed: args.als_seed,
        confidence_offset: args.als_confidence_offset,
        ..Default::default()
    });
    let ease_config = (args.ease_lambda > 0.0).then(|| EaseConfig {
        lambda: args.ease_lambda,
        dropout: args.ease_dropout,
        keep: args.ease_keep,
        ..EaseConfig::default()
    });
    if let Some(config) = &als_config {
        models.push(eval::timed("als", || Box::new(Als::train(&matrix, config.clone()))));
    }
    let start = std::time::Instant::now();
    if let Some(ease) = ease_config.as_ref().and_then(|c| Ease::train(&matrix, c)) {
        models.push(eval::NamedModel {
            name: "ease".into(),
            model: Box::new(ease),
            train_seconds: start.elapsed().as_secs_f64(),
        });
    }
    if args.hoease_pairs > 0 {
        let config = HoEaseConfig {
            pairs: args.hoease_pairs,
            lambda: args.hoease_lambda,
            pair_lambda: args.hoease_pair_lambda,
            row_power: args.hoease_row_power,
            ..HoEaseConfig::default()
        };
        let start = std::time::Instant::now();
        if let Some(model) = HoEase::train(&matrix, &config) {
            models.push(eval::NamedModel {
                name: "hoease".into(),
                model: Box::new(model),
                train_seconds: start.elapsed().as_secs_f64(),
            });
        }
    }
    if als_config.is_some() || models.iter().any(|m| m.name == "ease") {
        // The blend the server answers users with: item-item, ALS and EASE, each normalised.
        models.push(eval::timed("hybrid", || {
            let item_item = ItemItem::train(
                split.items.len(),
                &split.baskets,
                settings.item_item.clone(),
                split.test_from,
            );
            let mut parts: Vec<(Box<dyn Scorer>, f32)> = vec![(Box::new(item_item), 1.0)];
            if let Some(config) = &als_config {
                parts.push((Box::new(Als::train(&matrix, config.clone())), args.hybrid_als_weight));
            }
            if let Some(ease) = ease_config.as_ref().and_then(|c| Ease::train(&matrix, c)) {
                parts.push((Box::new(ease), args.hybrid_ease_weight));
            }
            Box::new(Hybrid::new("hybrid", parts))
        }));
    }
    // What the API answers, trained as the server trains: a till basket for a completion
    // query, the hybrid user answer for a customer.
    let engine_config = EngineConfig {
        item_item: settings.item_item.clone(),
        popular: settings.popular.clone(),
        history_half_life_days: history_half_life,
        als: als_config.clone().unwrap_or(AlsConfig {
            factors: 0,
            ..AlsConfig::default()
        }),
        hybrid_als_weight: args.hybrid_als_weight,
        ease: ease_config.clone().unwrap_or(EaseConfig {
            max_items: 0,
            ..EaseConfig::default()
        }),
        hybrid_ease_weight: args.hybrid_ease_weight,
        basket_model: HoEaseConfig {
            pairs: args.hoease_pairs,
            lambda: args.hoease_lambda,
            pair_lambda: args.hoease_pair_lambda,
            row_power: args.hoease_row_power,
            ..EngineConfig::default().basket_model
        },
        basket_model_weight: args.basket_model_weight,
        ..EngineConfig::default()
    };
    let ask = if completion {
        Ask::Basket
    } else {
        Ask::User(Strategy::Hybrid)
    };
    // As every training run does: the best sellers' weight chosen on the newest weeks of the
    // training lines (a basket-completion split has no weeks; its answers do not use it).
    let mut engine_config = engine_config;
    if !completion {
        let report = evaluate::holdout(&served::training_data(&data.lines, &split, ask), &engine_config);
        engine_config.hybrid_popular_weight = evaluate::chosen_popular_weight(&report);
        println!(
            "served: best sellers' weight {} chosen on the training lines' last {} days ({})",
            engine_config.hybrid_popular_weight,
            evaluate::HOLDOUT_DAYS,
            report
                .get("choices")
                .map_or_else(|| report["skipped"].to_string(), ToString::to_string)
        );
    }
    models.push(eval::timed("served", || {
        Box::new(Served::train("served", &data.lines, &split, &engine_config, ask))
    }));
    let mut rows = eval::evaluate(&split, &models, 10);
    for path in &args.score_lists {
        rows.push(score_lists(path, &data, &split)?);
    }
    print!("{}", eval::render(&rows));
    if let Some(out) = &args.out {
        let models: serde_json::Map<String, serde_json::Value> = rows
            .iter()
            .map(|(name, r)| Ok((name.clone(), serde_json::to_value(r)?)))
            .collect::<anyhow::Result<_>>()?;
        let report = serde_json::json!({
            "split": summary,
            "settings": settings,
            "models": models,
            "tuning": tuning,
        });
        std::fs::write(out, serde_json::to_string_pretty(&report)? + "\n")
            .with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().expect("a temp file");
        std::fs::write(file.path(), text).expect("written");
        file
    }

    #[test]
    fn online_retail_drops_cancellations_anonymous_lines_and_returns() {
        let file = write(
            "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n\
             536365,85123A,\"HEART, WHITE\",6,2010-12-01 08:26:00,2.55,17850.0,UK\n\
             536365,71053,LANTERN,6,2010-12-01 08:26:00,3.39,17850,UK\n\
             C536379,D,Discount,-1,2010-12-01 09:41:00,27.5,14527,UK\n\
             536380,71053,LANTERN,2,2010-12-02 10:00:00,3.39,,UK\n\
             536381,71053,LANTERN,-2,2010-12-02 10:00:00,3.39,12345,UK\n",
        );
        let data = load(file.path(), true).expect("loaded");
        assert_eq!(data.lines.len(), 2);
        assert_eq!(data.customers.names, vec!["17850"]);
        assert_eq!(data.products.names, vec!["85123A", "71053"]);
        assert_eq!(data.lines[0].order, data.lines[1].order);
        assert_eq!(data.lines[0].at, parse_time("2010-12-01T08:26:00Z").unwrap_or(0));
    }

    #[test]
    fn baskets_hold_out_one_item_of_every_fifth_basket() {
        let text = (1..=10)
            .map(|_| "milk,bread,eggs".to_string())
            .chain(["soda".to_string()])
            .collect::<Vec<_>>()
            .join("\n");
        let file = write(&(text + "\n"));
        let data = load_baskets(file.path(), None).expect("loaded");
        assert_eq!(data.customers.names.len(), 11);
        let held: Vec<&Line> = data.lines.iter().filter(|l| l.at == 1).collect();
        assert_eq!(held.len(), 2, "baskets 5 and 10 are queries");
        let mut split = Split::new(&data.lines, 1, 120.0);
        split.exclude_known = true;
        assert_eq!(split.scored.len(), 2);
        for (u, relevant, total) in &split.scored {
            assert_eq!((relevant.len(), *total), (1, 1));
            // The held-out item is not in the query's known items.
            let known: Vec<u32> = split.histories[*u as usize].iter().map(|h| h.0).collect();
            assert_eq!(known.len(), 2);
            assert!(relevant.iter().all(|i| !known.contains(i)));
        }
        // A list naming the query's own items scores as if they were not there.
        let (u, relevant, _) = &split.scored[0];
        let known: Vec<u32> = split.histories[*u as usize].iter().map(|h| h.0).collect();
        let target = *relevant.iter().next().unwrap();
        let lists = HashMap::from([(*u, vec![known[0], known[1], target])]);
        let m = eval::evaluate_lists(&split, &lists, 1);
        assert!(m.hit_rate > 0.0, "{m:?}");

        // Validation: baskets 3 and 8 are the queries and the test's held-out items are gone.
        let validation = load_baskets(file.path(), Some(VALIDATION_RESIDUE)).expect("loaded");
        let held: Vec<&Line> = validation.lines.iter().filter(|l| l.at == 1).collect();
        assert_eq!(held.len(), 2);
        let customer = |name: &str| validation.customers.index[name];
        assert!(held
            .iter()
            .all(|l| l.customer == Some(customer("b3")) || l.customer == Some(customer("b8"))));
        assert_eq!(
            validation.lines.len(),
            data.lines.len() - 2,
            "the test's two held-out lines"
        );
        // Another fold: baskets 1 and 6 are the queries, the test's items are still dropped.
        let fold = load_baskets(file.path(), Some(0)).expect("loaded");
        let held: Vec<Option<u32>> = fold.lines.iter().filter(|l| l.at == 1).map(|l| l.customer).collect();
        let customer = |name: &str| Some(fold.customers.index[name]);
        assert_eq!(held, vec![customer("b1"), customer("b6")]);
        assert_eq!(fold.lines.len(), data.lines.len() - 2);
    }

    #[test]
    fn canonical_transactions_keep_anonymous_baskets_and_reject_bad_timestamps() {
        let file = write(
            "order_id,customer_id,product_id,quantity,unit_price,timestamp\n\
             1,7,100,2,150,2024-03-01T10:00:00Z\n\
             1,7,101,1,90,2024-03-01T10:00:00Z\n\
             2,,100,1,150,2024-03-02 11:00:00\n",
        );
        let data = load(file.path(), false).expect("loaded");
        assert_eq!(data.lines.len(), 3);
        assert_eq!(data.lines[2].customer, None);
        let bad = write("order_id,customer_id,product_id,quantity,unit_price,timestamp\n1,7,100,2,150,yesterday\n");
        let err = load(bad.path(), false)
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default();
        assert!(err.contains("bad timestamp"), "{err}");
        let missing = write("order,customer\n1,2\n");
        assert!(load(missing.path(), false).is_err());
    }
}
