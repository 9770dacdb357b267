//! The evaluation every training run makes of itself: the engine's models trained on all but
//! the newest four weeks of the shop's sales, scored on those weeks with the same harness
//! (and the same metrics) as `bodega eval recommendations`.

use std::collections::BTreeMap;

use serde_json::json;

use crate::als::Als;
use crate::ease::Ease;
use crate::engine::{EngineConfig, Strategy, TrainingData};
use crate::eval::{
    evaluate, evaluate_model, standard_models, timed, Line, ModelResult, ModelSettings, NamedModel, Split,
};
use crate::hybrid::Hybrid;
use crate::ids::Ids;
use crate::itemitem::ItemItem;
use crate::metrics::Metrics;
use crate::scorer::Scorer;
use crate::served::{Ask, Served};

/// Days held out at the end of the history.
pub const HOLDOUT_DAYS: i64 = 28;

/// Fewer scored customers than this make no meaningful score.
const MIN_SCORED: usize = 5;

/// Scores the engine's models on the newest [`HOLDOUT_DAYS`] of `data`: `{"split": …,
/// "models": {name: metrics}, "served": name}`, or `{"skipped": why}` when the history is too
/// short.
pub fn holdout(data: &TrainingData, config: &EngineConfig) -> serde_json::Value {
    let Some(last) = data.baskets.iter().map(|b| b.at).max() else {
        return json!({"skipped": "no sales yet"});
    };
    // Whole days: the split starts at the midnight (UTC) after `last` minus the holdout.
    let test_from = (last - HOLDOUT_DAYS * 86_400).div_euclid(86_400) * 86_400 + 86_400;
    let mut products = Ids::new();
    let mut customers = Ids::new();
    let mut lines = Vec::new();
    for (order, b) in data.baskets.iter().enumerate() {
        for &(product, _) in &b.lines {
            lines.push(Line {
                order: order as u32,
                customer: b.customer.map(|c| customers.intern(c)),
                product: products.intern(product),
                at: b.at,
            });
        }
    }
    let split = Split::new(&lines, test_from, config.history_half_life_days);
    let summary = split.summary(config.history_half_life_days);
    if split.scored.len() < MIN_SCORED {
        return json!({
            "skipped": format!(
                "{} customer(s) bought both before and during the last {HOLDOUT_DAYS} days; at least {MIN_SCORED} are needed",
                split.scored.len()
            ),
            "split": summary,
        });
    }
    let settings = ModelSettings {
        item_item: config.item_item.clone(),
        popular: config.popular.clone(),
    };
    let mut models = standard_models(&split, &settings);
    let matrix = split.purchase_matrix();
    models.push(timed("als", || Box::new(Als::train(&matrix, config.als.clone()))));
    let start = std::time::Instant::now();
    if let Some(ease) = Ease::train(&matrix, &config.ease) {
        models.push(NamedModel {
            name: "ease".into(),
            model: Box::new(ease),
            train_seconds: start.elapsed().as_secs_f64(),
        });
    }
    // The blend the engine serves: item-item, ALS and EASE (when the catalogue allows it).
    models.push(timed("hybrid", || {
        let item_item = ItemItem::train(
            split.items.len(),
            &split.baskets,
            config.item_item.clone(),
            split.test_from,
        );
        let mut parts: Vec<(Box<dyn Scorer>, f32)> = vec![
            (Box::new(item_item), 1.0),
            (
                Box::new(Als::train(&matrix, config.als.clone())),
                config.hybrid_als_weight,
            ),
        ];
        if let Some(ease) = Ease::train(&matrix, &config.ease) {
            parts.push((Box::new(ease), config.hybrid_ease_weight));
        }
        Box::new(Hybrid::new("hybrid", parts))
    }));
    // What the API answers: the engine itself, trained on the same lines, with the best
    // sellers' weight that scores best on these weeks.
    let started = std::time::Instant::now();
    let mut served = Served::train("served", &lines, &split, config, Ask::User(Strategy::Hybrid));
    let train_seconds = started.elapsed().as_secs_f64();
    let mut choices = Vec::new();
    let mut best: Option<(f32, Metrics)> = None;
    for weight in POPULAR_WEIGHTS {
        served.engine_mut().set_hybrid_popular_weight(weight);
        let metrics = evaluate_model(&split, &served, 10);
        choices.push(json!({"hybrid_popular_weight": weight, "ndcg@10": metrics.ndcg}));
        // A larger weight must do strictly better to be chosen.
        if best.as_ref().is_none_or(|(_, b)| metrics.ndcg > b.ndcg) {
            best = Some((weight, metrics));
        }
    }
    let mut results: BTreeMap<String, serde_json::Value> = evaluate(&split, &models, 10)
        .into_iter()
        .map(|(name, result)| (name, serde_json::to_value(result).unwrap_or_default()))
        .collect();
    let (weight, metrics) = best.expect("at least one weight");
    let served_result = ModelResult { metrics, train_seconds };
    results.insert("served".into(), serde_json::to_value(served_result).unwrap_or_default());
    json!({
        "split": summary,
        "models": results,
        "served": "served",
        "chosen": {"hybrid_popular_weight": weight},
        "choices": choices,
    })
}

/// The best sellers' weights a training run tries in the served hybrid (see
/// [`EngineConfig::hybrid_popular_weight`]).
const POPULAR_WEIGHTS: [f32; 7] = [0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0];

/// The best sellers' weight a [`holdout`] report chose (0 when it chose none).
pub fn chosen_popular_weight(report: &serde_json::Value) -> f32 {
    report["chosen"]["hybrid_popular_weight"].as_f64().unwrap_or(0.0) as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Basket, Product};

    fn product(id: i64) -> Product {
        Product {
            id,
            name: format!("p{id}"),
            text: String::new(),
            category_id: None,
            category: None,
            active: true,
        }
    }

    #[test]
    fn short_histories_are_skipped_and_long_ones_scored() {
        let day = 86_400;
        let mut data = TrainingData {
            products: (1..=4).map(product).collect(),
            ..TrainingData::default()
        };
        assert!(holdout(&data, &EngineConfig::default())["skipped"].is_string());
        // Ten customers buy 1+2 early and 1+2 again late: item-item predicts 2 from 1.
        let mut sale_id = 0;
        for c in 0..10 {
            for at in [0, 40 * day] {
                sale_id += 1;
                data.baskets.push(Basket {
                    sale_id,
                    customer: Some(c),
                    at: 1_700_000_000 + at + c,
                    lines: vec![(1, 1), (2, 1)],
                });
            }
        }
        let report = holdout(&data, &EngineConfig::default());
        assert_eq!(report["split"]["scored_customers"], 10, "{report}");
        for model in ["item-item", "served"] {
            let hit_rate = report["models"][model]["hit_rate@10"].as_f64().unwrap_or(0.0);
            assert!((hit_rate - 1.0).abs() < 1e-9, "{model}: {report}");
        }
        assert_eq!(report["served"], "served");
    }

    #[test]
    fn a_shop_that_follows_its_best_seller_gets_best_sellers_in_the_hybrid() {
        let day = 86_400;
        let t = 1_700_000_000;
        let mut data = TrainingData {
            products: (1..=60).map(product).collect(),
            ..TrainingData::default()
        };
        let mut sale_id = 0;
        let mut sell = |customer: i64, at: i64, product: i64| {
            sale_id += 1;
            data.baskets.push(Basket {
                sale_id,
                customer: Some(customer),
                at: t + at + customer,
                lines: vec![(product, 1)],
            });
        };
        // Thirty customers make product 1 the best seller; twenty others each buy their own
        // product, then, in the newest weeks, the best seller too.
        for c in 0..30 {
            sell(c, 5 * day, 1);
        }
        for c in 30..50 {
            sell(c, 0, c - 20);
            sell(c, 40 * day, 1);
        }
        let report = holdout(&data, &EngineConfig::default());
        assert_eq!(
            report["choices"].as_array().map(Vec::len),
            Some(POPULAR_WEIGHTS.len()),
            "{report}"
        );
        assert!(chosen_popular_weight(&report) > 0.0, "{report}");
        let ndcg = |weight: f32| {
            report["choices"]
                .as_array()
                .and_then(|c| {
                    c.iter()
                        .find(|c| c["hybrid_popular_weight"].as_f64() == Some(f64::from(weight)))
                })
                .and_then(|c| c["ndcg@10"].as_f64())
                .unwrap_or(f64::NAN)
        };
        assert!(ndcg(chosen_popular_weight(&report)) > ndcg(0.0), "{report}");
    }
}
