//! Latency of the item-item model on a transactions file (default: the UCI Online Retail CSV):
//! batch training time, `for_basket` and user scoring (whole catalogue + top 10) p50/p99, the
//! hybrid blend (item-item + 0.3 × ALS (100 factors) + 0.3 × EASE) and each of its parts p50/p99,
//! the served path (`Engine::for_user` hybrid and `Engine::for_basket`, reasons included)
//! p50/p99, the user answer again after one new event per customer (folded in by the answer,
//! or at the event as the server does), and `observe_basket` (a sale reflected in the neighbour lists) p50/p99.
//!
//! Then, on arules' Groceries (anonymous till baskets, 169 products), the served basket answer
//! with the basket model (higher-order EASE on the baskets) and the engine's training time.
//!
//! `cargo bench -p bodega-recommend --bench latency -- [ONLINE_RETAIL_CSV] [TEST_FROM] [GROCERIES_TXT]`

use std::collections::HashMap;
use std::time::Instant;

// The allocator the `bodega` binary serves with: answers allocate their score buffers.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use bodega_recommend::als::{Als, AlsConfig};
use bodega_recommend::ease::Ease;
use bodega_recommend::eval::{Line, Split};
use bodega_recommend::hybrid::Hybrid;
use bodega_recommend::itemitem::{ItemItem, ItemItemConfig};
use bodega_recommend::scorer::{top_n, Scorer};
use bodega_recommend::served::{training_data, Ask};
use bodega_recommend::{Basket, Engine, EngineConfig, InteractionKind, Product, Strategy, TrainingData};

fn percentile(samples: &mut [f64], p: f64) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[((samples.len() - 1) as f64 * p).round() as usize]
}

/// Milliseconds `work` takes (its result kept from the optimiser).
fn millis<T>(work: impl FnOnce() -> T) -> f64 {
    let start = Instant::now();
    std::hint::black_box(work());
    start.elapsed().as_secs_f64() * 1e3
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let path = args
        .first()
        .cloned()
        .unwrap_or_else(|| "/work/shared/data/online_retail/online_retail.csv".into());
    let test_from = chrono::NaiveDate::parse_from_str(args.get(1).map_or("2011-11-01", String::as_str), "%Y-%m-%d")
        .expect("TEST_FROM as YYYY-MM-DD")
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
        .timestamp();
    let mut reader = csv::Reader::from_path(&path).expect("open the CSV");
    let mut ids: [HashMap<String, u32>; 3] = Default::default();
    let mut intern = |k: usize, s: &str| {
        let n = ids[k].len() as u32;
        *ids[k].entry(s.to_string()).or_insert(n)
    };
    let mut lines = Vec::new();
    for record in reader.records() {
        let r = record.expect("a CSV row");
        let qty: f64 = r[3].parse().unwrap_or(0.0);
        if r[0].starts_with('C') || r[6].is_empty() || qty <= 0.0 {
            continue;
        }
        let at = chrono::NaiveDateTime::parse_from_str(&r[4], "%Y-%m-%d %H:%M:%S")
            .expect("InvoiceDate")
            .and_utc()
            .timestamp();
        lines.push(Line {
            order: intern(0, &r[0]),
            customer: Some(intern(1, &r[6])),
            product: intern(2, &r[1]),
            at,
        });
    }
    let split = Split::new(&lines, test_from, 60.0);
    let n = split.items.len();
    println!(
        "{path}: {} training baskets, {n} products, {} scored customers",
        split.baskets.len(),
        split.scored.len()
    );
    let config = ItemItemConfig::default();

    let mut train = Vec::new();
    let mut model = None;
    for _ in 0..7 {
        let start = Instant::now();
        let m = ItemItem::train(n, &split.baskets, config.clone(), test_from);
        train.push(start.elapsed().as_secs_f64());
        model = Some(m);
    }
    let mut model = model.expect("trained");
    println!(
        "train (7 runs, {} rayon threads): min {:.1} ms, median {:.1} ms",
        rayon::current_num_threads(),
        train.iter().copied().fold(f64::MAX, f64::min) * 1e3,
        percentile(&mut train, 0.5) * 1e3
    );

    // Test-period baskets over known products.
    let mut by_order: HashMap<u32, (i64, Vec<u32>)> = HashMap::new();
    for l in lines.iter().filter(|l| l.at >= test_from) {
        if let Some(i) = split.items.index(l.product as i64) {
            let e = by_order.entry(l.order).or_insert((l.at, Vec::new()));
            e.1.push(i);
        }
    }
    let mut test: Vec<(i64, Vec<u32>)> = by_order.into_values().collect();
    test.sort_by_key(|b| b.0);

    let mut basket = Vec::new();
    for (_, items) in &test {
        // A till basket: the first five lines of the sale.
        let b: Vec<u32> = items.iter().take(5).copied().collect();
        basket.push(millis(|| model.for_basket(&b, 10)));
    }
    println!(
        "for_basket(first 5 lines, 10): {} baskets, p50 {:.4} ms, p99 {:.4} ms",
        basket.len(),
        percentile(&mut basket, 0.5),
        percentile(&mut basket, 0.99)
    );

    let mut user = Vec::new();
    let mut scores = vec![0f32; n];
    for (u, _, _) in &split.scored {
        user.push(millis(|| {
            model.score(Some(*u), &split.histories[*u as usize], &mut scores);
            top_n(&scores, 10, |_| false)
        }));
    }
    println!(
        "user: score {n} products + top 10: {} customers, p50 {:.4} ms, p99 {:.4} ms",
        user.len(),
        percentile(&mut user, 0.5),
        percentile(&mut user, 0.99)
    );

    let matrix = split.purchase_matrix();
    let mut als_seconds = Vec::new();
    let mut als = None;
    for _ in 0..3 {
        let start = Instant::now();
        als = Some(Als::train(&matrix, AlsConfig::default()));
        als_seconds.push(start.elapsed().as_secs_f64());
    }
    let als = als.expect("trained");
    println!(
        "ALS train (100 factors, 15 iterations, 3 runs): min {:.3} s, median {:.3} s",
        als_seconds.iter().copied().fold(f64::MAX, f64::min),
        percentile(&mut als_seconds, 0.5)
    );
    let served = EngineConfig::default();
    let ease = Ease::train(&matrix, &served.ease).expect("catalogue within max_items");
    // Each part of the hybrid alone (score the catalogue, no top-N).
    for (name, part) in [("ALS", &als as &dyn Scorer), ("EASE", &ease as &dyn Scorer)] {
        let mut times = Vec::new();
        for (u, _, _) in &split.scored {
            times.push(millis(|| {
                part.score(Some(*u), &split.histories[*u as usize], &mut scores)
            }));
        }
        println!(
            "user, {name} alone: score {n} products: p50 {:.4} ms, p99 {:.4} ms",
            percentile(&mut times, 0.5),
            percentile(&mut times, 0.99)
        );
    }
    let hybrid = Hybrid::new(
        "hybrid",
        vec![
            (
                Box::new(ItemItem::train(n, &split.baskets, config.clone(), test_from)),
                1.0,
            ),
            (Box::new(als), served.hybrid_als_weight),
            (Box::new(ease), served.hybrid_ease_weight),
        ],
    );
    let mut blended = Vec::new();
    for (u, _, _) in &split.scored {
        blended.push(millis(|| {
            hybrid.score(Some(*u), &split.histories[*u as usize], &mut scores);
            top_n(&scores, 10, |_| false)
        }));
    }
    println!(
        "user, hybrid (item-item + 0.3 x ALS + 0.3 x EASE): score {n} products + top 10: {} customers, p50 {:.4} ms, p99 {:.4} ms",
        blended.len(),
        percentile(&mut blended, 0.5),
        percentile(&mut blended, 0.99)
    );

    // The served path: Engine::for_user (hybrid, with reasons) and Engine::for_basket (item-item
    // candidates re-ranked by EASE), as the API calls them, on an engine trained on the split.
    let data = training_data(&lines, &split, Ask::User(Strategy::Hybrid));
    let engine = Engine::train(&data, &served, 1);
    let mut served_user = Vec::new();
    for (u, _, _) in &split.scored {
        let customer = split.users.id(*u).to_string();
        served_user.push(millis(|| engine.for_user(&customer, Strategy::Hybrid, 10)));
    }
    // With best sellers blended in, at the weight training chooses for this shop (0.25).
    let mut with_popular = engine.clone();
    with_popular.set_hybrid_popular_weight(0.25);
    let mut served_popular = Vec::new();
    for (u, _, _) in &split.scored {
        let customer = split.users.id(*u).to_string();
        served_popular.push(millis(|| with_popular.for_user(&customer, Strategy::Hybrid, 10)));
    }
    println!(
        "served with best sellers at 0.25: Engine::for_user(hybrid, 10) p50 {:.4} ms, p99 {:.4} ms",
        percentile(&mut served_popular, 0.5),
        percentile(&mut served_popular, 0.99)
    );
    let mut served_basket = Vec::new();
    for (_, items) in &test {
        let basket_ids: Vec<i64> = items.iter().take(5).map(|&i| split.items.id(i)).collect();
        served_basket.push(millis(|| engine.for_basket(&basket_ids, 10)));
    }
    println!(
        "served: Engine::for_user(hybrid, 10) p50 {:.4} ms, p99 {:.4} ms; Engine::for_basket(first 5 lines, 10) p50 {:.4} ms, p99 {:.4} ms",
        percentile(&mut served_user, 0.5),
        percentile(&mut served_user, 0.99),
        percentile(&mut served_basket, 0.5),
        percentile(&mut served_basket, 0.99)
    );

    // The same customers after one new event each (a view of a product they bought): their
    // trained factor no longer matches their history, so ALS folds them in.
    let mut live = engine.clone();
    let viewed_at = test.first().map_or(test_from, |t| t.0);
    for (u, _, _) in &split.scored {
        if let Some(&(item, _)) = split.histories[*u as usize].last() {
            let customer = split.users.id(*u).to_string();
            live.observe_interaction(&customer, split.items.id(item), InteractionKind::View, viewed_at);
        }
    }
    let mut folded = Vec::new();
    for (u, _, _) in &split.scored {
        let customer = split.users.id(*u).to_string();
        folded.push(millis(|| live.for_user(&customer, Strategy::Hybrid, 10)));
    }
    // Their next answer, before any new event: the folded-in factor and its shortlist are kept.
    let mut kept = Vec::new();
    for (u, _, _) in &split.scored {
        let customer = split.users.id(*u).to_string();
        kept.push(millis(|| live.for_user(&customer, Strategy::Hybrid, 10)));
    }
    println!(
        "served after a new event (folded in): Engine::for_user(hybrid, 10) p50 {:.4} ms, p99 {:.4} ms; next answer p50 {:.4} ms, p99 {:.4} ms",
        percentile(&mut folded, 0.5),
        percentile(&mut folded, 0.99),
        percentile(&mut kept, 0.5),
        percentile(&mut kept, 0.99)
    );

    // As the server does it: each customer folded in right after their event, then answered.
    let mut prepared = engine.clone();
    let mut prepare = Vec::new();
    for (u, _, _) in &split.scored {
        if let Some(&(item, _)) = split.histories[*u as usize].last() {
            let customer = split.users.id(*u).to_string();
            prepared.observe_interaction(&customer, split.items.id(item), InteractionKind::View, viewed_at);
            prepare.push(millis(|| prepared.prepare_user(&customer)));
        }
    }
    let mut first = Vec::new();
    for (u, _, _) in &split.scored {
        let customer = split.users.id(*u).to_string();
        first.push(millis(|| prepared.for_user(&customer, Strategy::Hybrid, 10)));
    }
    println!(
        "folded in at the event (as the server does): Engine::prepare_user p50 {:.4} ms, p99 {:.4} ms; first answer after the event p50 {:.4} ms, p99 {:.4} ms",
        percentile(&mut prepare, 0.5),
        percentile(&mut prepare, 0.99),
        percentile(&mut first, 0.5),
        percentile(&mut first, 0.99)
    );

    let mut observe = Vec::new();
    let mut sizes = Vec::new();
    for (at, items) in &test {
        observe.push(millis(|| model.observe_basket(items, *at)));
        sizes.push(items.len() as f64);
    }
    println!(
        "observe_basket: {} test sales replayed in order (median {} lines), p50 {:.4} ms, p99 {:.4} ms, max {:.4} ms",
        observe.len(),
        percentile(&mut sizes, 0.5),
        percentile(&mut observe, 0.5),
        percentile(&mut observe, 0.99),
        observe.iter().copied().fold(0.0, f64::max)
    );

    let groceries = args
        .get(2)
        .cloned()
        .unwrap_or_else(|| "/work/shared/data/groceries/groceries_baskets.txt".into());
    match std::fs::read_to_string(&groceries) {
        Ok(text) => groceries_basket_answers(&groceries, &text),
        Err(e) => println!("{groceries}: {e}; the basket model's latency is not measured"),
    }
}

/// The served basket answer on a small catalogue, where the engine trains the basket model:
/// every Groceries basket of two or more products asks with all its products but the last.
fn groceries_basket_answers(path: &str, text: &str) {
    let mut names: HashMap<String, i64> = HashMap::new();
    let mut baskets = Vec::new();
    for line in text.split('\n') {
        let mut lines: Vec<(i64, i64)> = Vec::new();
        for item in line.split(',').filter(|i| !i.is_empty()) {
            let next = names.len() as i64 + 1;
            let id = *names.entry(item.to_string()).or_insert(next);
            if !lines.iter().any(|l| l.0 == id) {
                lines.push((id, 1));
            }
        }
        if !lines.is_empty() {
            let sale_id = baskets.len() as i64 + 1;
            baskets.push(Basket {
                sale_id,
                customer: None,
                at: 1_700_000_000 + sale_id,
                lines,
            });
        }
    }
    let products = names
        .iter()
        .map(|(name, &id)| Product {
            id,
            name: name.clone(),
            text: name.clone(),
            category_id: None,
            category: None,
            active: true,
        })
        .collect();
    let data = TrainingData {
        products,
        baskets,
        interactions: Vec::new(),
    };
    let without_model = EngineConfig {
        basket_model: bodega_recommend::hoease::HoEaseConfig {
            max_features: 0,
            ..EngineConfig::default().basket_model
        },
        ..EngineConfig::default()
    };
    for (label, config) in [
        ("with the basket model", EngineConfig::default()),
        ("item-item only", without_model),
    ] {
        let mut engine = None;
        let train = millis(|| engine = Some(Engine::train(&data, &config, 1)));
        let engine = engine.expect("trained");
        let mut answers = Vec::new();
        for b in data.baskets.iter().filter(|b| b.lines.len() >= 2) {
            let asked: Vec<i64> = b.lines[..b.lines.len() - 1].iter().map(|l| l.0).collect();
            answers.push(millis(|| engine.for_basket(&asked, 10)));
        }
        println!(
            "{path}: {} baskets, {} products, {label}: Engine::train {train:.0} ms; served Engine::for_basket(all lines but the last, 10): {} answers, p50 {:.4} ms, p99 {:.4} ms",
            data.baskets.len(),
            data.products.len(),
            answers.len(),
            percentile(&mut answers, 0.5),
            percentile(&mut answers, 0.99)
        );
    }
}
