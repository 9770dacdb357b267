//! Offline evaluation of a training run on its own newest four weeks (the ERP's training job
//! stores the result with every model version).

use crate::engine::{EngineConfig, TrainingData};
use crate::eval::{self, Line, ModelSettings, Split, DEFAULT_HISTORY_HALF_LIFE_DAYS};
use crate::ids::Ids;

const DAY: i64 = 86_400;

/// Scores Bodega's models trained on everything before the last four weeks against those
/// weeks (see [`crate::eval`] for the protocol). `{"served", "split", "models": {name:
/// {"precision@10", …}}}`, or `{"skipped": reason}` when there is nothing to score.
pub fn holdout(data: &TrainingData, _config: &EngineConfig) -> serde_json::Value {
    let mut customers = Ids::new();
    let mut products = Ids::new();
    let mut lines = Vec::new();
    for (order, basket) in data.baskets.iter().enumerate() {
        for &(product, quantity) in &basket.lines {
            if quantity > 0 {
                lines.push(Line {
                    order: order as u32,
                    customer: basket.customer.map(|c| customers.intern(c)),
                    product: products.intern(product),
                    at: basket.at,
                });
            }
        }
    }
    let Some(last) = lines.iter().map(|l| l.at).max() else {
        return serde_json::json!({"skipped": "no sales"});
    };
    let test_from = (last - 28 * DAY).div_euclid(DAY) * DAY + DAY;
    let split = Split::new(&lines, test_from, DEFAULT_HISTORY_HALF_LIFE_DAYS);
    let summary = split.summary(DEFAULT_HISTORY_HALF_LIFE_DAYS);
    if split.scored.is_empty() {
        return serde_json::json!({
            "skipped": "no customer bought both before and during the last four weeks",
            "split": summary,
        });
    }
    let models = eval::standard_models(&split, &ModelSettings::default());
    let results: serde_json::Map<String, serde_json::Value> = eval::evaluate(&split, &models, 10)
        .into_iter()
        .map(|(name, r)| (name, serde_json::to_value(r).unwrap_or_default()))
        .collect();
    serde_json::json!({"served": "item-item", "split": summary, "models": results})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Basket;

    fn basket(sale_id: i64, customer: i64, day: i64, products: &[i64]) -> Basket {
        Basket {
            sale_id,
            customer: Some(customer),
            at: 1_700_000_000 + day * DAY,
            lines: products.iter().map(|&p| (p, 1)).collect(),
        }
    }

    #[test]
    fn scores_the_last_four_weeks() {
        let data = TrainingData {
            baskets: vec![
                basket(1, 1, 0, &[10, 11]),
                basket(2, 2, 1, &[10, 11, 12]),
                basket(3, 1, 40, &[11]),
                basket(4, 2, 41, &[12, 13]),
            ],
            ..TrainingData::default()
        };
        let report = holdout(&data, &EngineConfig::default());
        assert_eq!(report["split"]["scored_customers"], 2);
        assert_eq!(report["split"]["products"], 3);
        // Both customers' later products (11 for 1; 12 and unseen 13 for 2) are what they
        // bought before: the repeat term puts them in the top 10.
        let hit = report["models"]["item-item"]["hit_rate@10"].as_f64().unwrap_or(0.0);
        assert!((hit - 1.0).abs() < 1e-12, "{report}");
        assert_eq!(
            holdout(&TrainingData::default(), &EngineConfig::default())["skipped"],
            "no sales"
        );
    }
}
