//! The engine as the API serves it, behind the evaluation's [`Scorer`] interface, so that
//! `bodega eval recommendations` scores the answers a shop actually gets and not only the
//! models one by one: the [`Engine`] is trained from the split's training lines the way the
//! server trains from its sales, and each query asks it what the API would ask — a basket
//! answer (`POST /api/recommendations/basket`) for a basket-completion query, a user answer
//! (`/api/ml/recommendations/get`) for a customer.

use std::collections::BTreeMap;

use crate::engine::{Basket, Engine, EngineConfig, Product, Strategy, TrainingData};
use crate::eval::{Line, Split};
use crate::scorer::Scorer;

/// What a query asks the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// The query's items are a till basket: sales are anonymous, as at a till.
    Basket,
    /// The query is a customer, who bought the training lines with their customer id.
    User(Strategy),
}

pub struct Served {
    name: String,
    engine: Engine,
    ask: Ask,
    /// The split's catalogue index ↔ the engine's product id (the loader's product index).
    items: crate::ids::Ids,
    users: crate::ids::Ids,
}

/// How many answers a query asks for (the evaluation's k is 10; asking a few more keeps the
/// answer whole when the evaluation leaves some out).
const ASKED: usize = 20;

impl Served {
    /// Trains the engine on the lines before `split.test_from` ([`training_data`]).
    pub fn train(name: &str, lines: &[Line], split: &Split, config: &EngineConfig, ask: Ask) -> Self {
        Self {
            name: name.into(),
            engine: Engine::train(&training_data(lines, split, ask), config, 1),
            ask,
            items: split.items.clone(),
            users: split.users.clone(),
        }
    }
}

/// The lines before `split.test_from` as the server would hold them: one sale per order, one
/// unit a line, by its customer unless `ask` is a till basket. Products are the split's
/// catalogue, without names or text (the evaluation's data has none worth the name).
pub fn training_data(lines: &[Line], split: &Split, ask: Ask) -> TrainingData {
    let products = split
        .items
        .ids()
        .iter()
        .map(|&id| Product {
            id,
            name: format!("product {id}"),
            text: String::new(),
            category_id: None,
            category: None,
            active: true,
        })
        .collect();
    let mut orders: BTreeMap<u32, Basket> = BTreeMap::new();
    for l in lines.iter().filter(|l| l.at < split.test_from) {
        let basket = orders.entry(l.order).or_insert_with(|| Basket {
            sale_id: i64::from(l.order) + 1,
            customer: match ask {
                Ask::Basket => None,
                Ask::User(_) => l.customer.map(i64::from),
            },
            at: l.at,
            lines: Vec::new(),
        });
        basket.lines.push((i64::from(l.product), 1));
    }
    let mut baskets: Vec<Basket> = orders.into_values().collect();
    baskets.sort_by_key(|b| (b.at, b.sale_id));
    TrainingData {
        products,
        baskets,
        interactions: Vec::new(),
    }
}

impl Served {
    /// The engine, to change how it answers (not what it learnt).
    pub fn engine_mut(&mut self) -> &mut Engine {
        &mut self.engine
    }
}

impl Scorer for Served {
    fn name(&self) -> &str {
        &self.name
    }

    /// The answer's products get descending scores by rank, every other product none.
    fn score(&self, user: Option<u32>, history: &[(u32, f32)], scores: &mut [f32]) {
        scores.fill(f32::NEG_INFINITY);
        let answer = match (self.ask, user) {
            (Ask::Basket, _) => {
                let basket: Vec<i64> = history.iter().map(|&(i, _)| self.items.id(i)).collect();
                self.engine.for_basket(&basket, ASKED)
            }
            (Ask::User(strategy), Some(u)) => self.engine.for_user(&self.users.id(u).to_string(), strategy, ASKED),
            (Ask::User(_), None) => return,
        };
        for (rank, r) in answer.recommendations.iter().enumerate() {
            if let Some(slot) = self.items.index(r.product_id).and_then(|i| scores.get_mut(i as usize)) {
                *slot = (ASKED - rank) as f32;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scorer::top_n;

    /// Customer 0 buys 1+2 then, after the split, 3; others buy 1+3 and 2+3 together.
    fn lines() -> Vec<Line> {
        let line = |order, customer, product, at| Line {
            order,
            customer: Some(customer),
            product,
            at,
        };
        let mut lines = vec![line(0, 0, 1, 10), line(0, 0, 2, 10), line(9, 0, 3, 100)];
        for k in 1..6 {
            lines.extend([line(k, k, 1, 20), line(k, k, 3, 20)]);
            lines.extend([line(10 + k, k, 2, 30), line(10 + k, k, 3, 30)]);
        }
        lines
    }

    #[test]
    fn the_engine_answers_a_basket_and_a_customer_as_the_api_would() {
        let lines = lines();
        let split = Split::new(&lines, 50, 30.0);
        let product = |p: i64| split.items.index(p).expect("in the catalogue");
        let user = split.users.index(0);
        let mut scores = vec![0f32; split.items.len()];
        for ask in [Ask::Basket, Ask::User(Strategy::Hybrid)] {
            let served = Served::train("served", &lines, &split, &EngineConfig::default(), ask);
            let history = [(product(1), 1.0)];
            served.score(user, &history, &mut scores);
            // Customer 0 already has 1 and 2 (a user answer may repeat them).
            let top = top_n(&scores, 1, |i| i == product(1) || i == product(2));
            assert_eq!(top[0].item, product(3), "{ask:?}: 3 is bought with 1 most");
            assert!(scores[product(3) as usize].is_finite());
        }
        // A customer the engine never saw gets nothing from a user ask.
        let served = Served::train(
            "served",
            &lines,
            &split,
            &EngineConfig::default(),
            Ask::User(Strategy::Hybrid),
        );
        served.score(None, &[], &mut scores);
        assert!(scores.iter().all(|s| *s == f32::NEG_INFINITY));
    }
}
