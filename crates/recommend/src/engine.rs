//! The recommender as the ERP uses it: the catalogue, every customer's history and the
//! trained models behind one value, answering in product ids with a human reason for every
//! result. The server keeps one `Engine` in memory, feeds it every sale and interaction as
//! they happen, and replaces it after each training run.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::ids::Ids;
use crate::scorer::{top_n, Scored};

/// A product as the engine knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Product {
    pub id: i64,
    pub name: String,
    /// Name, description, keywords and category, for content similarity.
    pub text: String,
    pub category_id: Option<i64>,
    pub category: Option<String>,
    /// Inactive and discontinued products are never recommended.
    pub active: bool,
}

/// How much each kind of interaction counts, relative to a purchase of one unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InteractionWeights {
    pub view: f32,
    pub like: f32,
    pub cart: f32,
    pub purchase: f32,
}

impl Default for InteractionWeights {
    fn default() -> Self {
        Self {
            view: 0.25,
            like: 1.0,
            cart: 2.0,
            purchase: 4.0,
        }
    }
}

impl InteractionWeights {
    pub fn weight(&self, kind: InteractionKind) -> f32 {
        match kind {
            InteractionKind::View => self.view,
            InteractionKind::Like => self.like,
            InteractionKind::Cart => self.cart,
            InteractionKind::Purchase => self.purchase,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InteractionKind {
    View,
    Like,
    Cart,
    Purchase,
}

impl InteractionKind {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "view" => Some(Self::View),
            "like" => Some(Self::Like),
            "cart" => Some(Self::Cart),
            "purchase" => Some(Self::Purchase),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::View => "view",
            Self::Like => "like",
            Self::Cart => "cart",
            Self::Purchase => "purchase",
        }
    }
}

/// Which models answer a user request (seed 000's `strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Products that look alike. Until an image model exists, "alike" is content similarity
    /// of the products' text.
    Visual,
    /// What customers with similar purchases bought (ALS), then item-item.
    Collaborative,
    /// Item-item, collaborative and content blended, with the user's repeat purchases.
    Hybrid,
}

impl Strategy {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "visual" => Some(Self::Visual),
            "collaborative" => Some(Self::Collaborative),
            "hybrid" => Some(Self::Hybrid),
            _ => None,
        }
    }
}

/// One recommended product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Recommendation {
    pub rank: u32,
    pub product_id: i64,
    pub product_name: String,
    pub category: Option<String>,
    /// The model's score (comparable within one answer only).
    pub score: f32,
    /// The score as a percentage of the best one in the answer.
    pub relevance: f32,
    /// Estimated probability that the product is bought given the basket or history.
    pub confidence: f32,
    pub reason: String,
    /// Which model put it here: item-item, collaborative, content, repeat, popular,
    /// popular-in-category, same-category.
    pub source: String,
}

/// An answer: the products and whether the engine had to fall back to simple rules because
/// no trained model covers the request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Answer {
    pub recommendations: Vec<Recommendation>,
    pub fallback: bool,
    pub model_version: i64,
}

/// A similar product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Similar {
    pub product_id: i64,
    pub product_name: String,
    pub similarity: f32,
    pub reason: String,
    pub source: String,
}

/// A user's past interactions, oldest first: (item index, strength, unix seconds).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct History {
    pub events: Vec<(u32, f32, i64)>,
}

/// The catalogue and the customers' histories: what every model and every answer needs.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    pub items: Ids,
    pub products: Vec<Product>,
    by_category: HashMap<i64, Vec<u32>>,
}

impl Catalogue {
    pub fn new(products: Vec<Product>) -> Self {
        let mut catalogue = Self::default();
        for p in products {
            catalogue.upsert(p);
        }
        catalogue
    }

    /// Adds a product or updates what is known of it; returns its index.
    pub fn upsert(&mut self, product: Product) -> u32 {
        let index = self.items.intern(product.id);
        if index as usize == self.products.len() {
            if let Some(c) = product.category_id {
                self.by_category.entry(c).or_default().push(index);
            }
            self.products.push(product);
        } else {
            let old = &self.products[index as usize];
            if old.category_id != product.category_id {
                if let Some(c) = old.category_id {
                    if let Some(members) = self.by_category.get_mut(&c) {
                        members.retain(|&m| m != index);
                    }
                }
                if let Some(c) = product.category_id {
                    self.by_category.entry(c).or_default().push(index);
                }
            }
            self.products[index as usize] = product;
        }
        index
    }

    pub fn product(&self, index: u32) -> &Product {
        &self.products[index as usize]
    }

    pub fn index(&self, product_id: i64) -> Option<u32> {
        self.items.index(product_id)
    }

    pub fn len(&self) -> usize {
        self.products.len()
    }

    pub fn is_empty(&self) -> bool {
        self.products.is_empty()
    }

    pub fn in_category(&self, category_id: i64) -> &[u32] {
        self.by_category.get(&category_id).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn is_active(&self, index: u32) -> bool {
        self.products.get(index as usize).is_some_and(|p| p.active)
    }
}

/// Turns ranked (item, score) pairs into recommendations with ranks, relevance and names.
pub fn ranked(
    catalogue: &Catalogue,
    scored: &[Scored],
    mut explain: impl FnMut(u32) -> (String, f32, String),
) -> Vec<Recommendation> {
    let best = scored.first().map(|s| s.score).filter(|s| *s > 0.0).unwrap_or(1.0);
    scored
        .iter()
        .enumerate()
        .map(|(rank, s)| {
            let p = catalogue.product(s.item);
            let (reason, confidence, source) = explain(s.item);
            Recommendation {
                rank: rank as u32 + 1,
                product_id: p.id,
                product_name: p.name.clone(),
                category: p.category.clone(),
                score: s.score,
                relevance: (100.0 * s.score / best).clamp(0.0, 100.0),
                confidence: confidence.clamp(0.0, 1.0),
                reason,
                source,
            }
        })
        .collect()
}

/// Same-category matching: what answers when no trained model knows the products. Products
/// of the basket's categories, the most common category first, each category's products
/// in catalogue order; flagged as a fallback by the caller.
pub fn same_category(catalogue: &Catalogue, basket: &[u32], n: usize) -> Vec<Recommendation> {
    let mut categories: Vec<(i64, usize, u32)> = Vec::new();
    for &item in basket {
        if let Some(c) = catalogue.products.get(item as usize).and_then(|p| p.category_id) {
            match categories.iter_mut().find(|(id, _, _)| *id == c) {
                Some(entry) => entry.1 += 1,
                None => categories.push((c, 1, item)),
            }
        }
    }
    categories.sort_by_key(|c| std::cmp::Reverse(c.1));
    let mut scores = vec![f32::NEG_INFINITY; catalogue.len()];
    let mut anchor: HashMap<u32, u32> = HashMap::new();
    for (rank, (category, _, example)) in categories.iter().enumerate() {
        for &item in catalogue.in_category(*category) {
            if scores[item as usize] == f32::NEG_INFINITY {
                scores[item as usize] = 1.0 / (rank as f32 + 1.0);
                anchor.insert(item, *example);
            }
        }
    }
    let chosen = top_n(&scores, n, |i| basket.contains(&i) || !catalogue.is_active(i));
    ranked(catalogue, &chosen, |item| {
        let example = anchor.get(&item).copied().unwrap_or(item);
        let category = catalogue.product(item).category.clone().unwrap_or_default();
        (
            format!(
                "same category ({category}) as {}; no trained model covers these products yet",
                catalogue.product(example).name
            ),
            0.0,
            "same-category".into(),
        )
    })
}

/// A sale as the engine learns it.
#[derive(Debug, Clone, PartialEq)]
pub struct Basket {
    pub sale_id: i64,
    pub customer: Option<i64>,
    /// Unix seconds.
    pub at: i64,
    /// (product id, quantity).
    pub lines: Vec<(i64, i64)>,
}

/// An explicit interaction as the engine learns it.
#[derive(Debug, Clone, PartialEq)]
pub struct UserEvent {
    pub user: String,
    pub product_id: i64,
    pub kind: InteractionKind,
    pub at: i64,
}

/// Everything a training run learns from.
#[derive(Debug, Clone, Default)]
pub struct TrainingData {
    pub products: Vec<Product>,
    /// Oldest first.
    pub baskets: Vec<Basket>,
    /// Oldest first.
    pub interactions: Vec<UserEvent>,
}

impl TrainingData {
    /// The newest sale id, 0 when there are none.
    pub fn last_sale_id(&self) -> i64 {
        self.baskets.iter().map(|b| b.sale_id).max().unwrap_or(0)
    }

    /// Distinct customers with at least one sale or interaction.
    pub fn customers(&self) -> usize {
        let mut seen: std::collections::HashSet<String> = self
            .baskets
            .iter()
            .filter_map(|b| b.customer.map(|c| c.to_string()))
            .collect();
        seen.extend(self.interactions.iter().map(|i| i.user.clone()));
        seen.len()
    }
}

/// Settings of a training run (stored with every model version).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EngineConfig {
    pub weights: InteractionWeights,
}

/// The recommender: catalogue, histories and models.
#[derive(Debug, Clone, Default)]
pub struct Engine {
    pub catalogue: Catalogue,
    users: HashMap<String, History>,
    /// Units sold per item (all time), for the cold-start answers.
    sold: Vec<f32>,
    weights: InteractionWeights,
    version: i64,
}

impl Engine {
    /// An engine that knows the products but has no trained model: it answers with
    /// same-category matching and best sellers, flagged as fallbacks.
    pub fn untrained(products: Vec<Product>, weights: InteractionWeights) -> Self {
        let catalogue = Catalogue::new(products);
        Self {
            sold: vec![0.0; catalogue.len()],
            catalogue,
            weights,
            ..Self::default()
        }
    }

    /// Trains every model on `data`; `version` labels the answers.
    pub fn train(data: &TrainingData, config: &EngineConfig, version: i64) -> Self {
        let mut engine = Self::untrained(data.products.clone(), config.weights.clone());
        for b in &data.baskets {
            engine.observe_sale(b.customer, &b.lines, b.at);
        }
        for i in &data.interactions {
            engine.observe_interaction(&i.user, i.product_id, i.kind, i.at);
        }
        engine.version = version;
        engine
    }

    /// Labels the answers with the version stored for this engine.
    pub fn set_version(&mut self, version: i64) {
        self.version = version;
    }

    /// What a model version stores: its size and settings.
    pub fn artifact(&self) -> serde_json::Value {
        serde_json::json!({
            "version": self.version,
            "products": self.catalogue.len(),
            "users": self.users.len(),
            "weights": self.weights,
        })
    }

    /// The trained model version answering (0: none).
    pub fn version(&self) -> i64 {
        self.version
    }

    pub fn weights(&self) -> &InteractionWeights {
        &self.weights
    }

    pub fn upsert_product(&mut self, product: Product) {
        let index = self.catalogue.upsert(product) as usize;
        if index >= self.sold.len() {
            self.sold.resize(index + 1, 0.0);
        }
    }

    /// A product removed from the catalogue: never recommended again, history kept.
    pub fn deactivate_product(&mut self, product_id: i64) {
        if let Some(index) = self.catalogue.index(product_id) {
            self.catalogue.products[index as usize].active = false;
        }
    }

    pub fn knows_product(&self, product_id: i64) -> bool {
        self.catalogue.index(product_id).is_some()
    }

    pub fn history(&self, user: &str) -> Option<&History> {
        self.users.get(user)
    }

    /// A sale: (product id, quantity) lines bought together, by a customer when known.
    /// Products the engine does not know are ignored.
    pub fn observe_sale(&mut self, customer: Option<i64>, lines: &[(i64, i64)], at: i64) {
        let items: Vec<(u32, f32)> = lines
            .iter()
            .filter_map(|&(id, qty)| Some((self.catalogue.index(id)?, qty.max(1) as f32)))
            .collect();
        for &(item, qty) in &items {
            self.sold[item as usize] += qty;
        }
        if let Some(customer) = customer {
            let history = self.users.entry(customer.to_string()).or_default();
            for &(item, qty) in &items {
                history.events.push((item, self.weights.purchase * qty, at));
            }
        }
    }

    /// An explicit interaction. Unknown products are ignored (the API checks them first).
    pub fn observe_interaction(&mut self, user: &str, product_id: i64, kind: InteractionKind, at: i64) {
        let Some(item) = self.catalogue.index(product_id) else {
            return;
        };
        let weight = self.weights.weight(kind);
        self.users
            .entry(user.to_string())
            .or_default()
            .events
            .push((item, weight, at));
    }

    /// Products to suggest with a basket (the till, seed 003): the top `n` not in it.
    pub fn for_basket(&self, product_ids: &[i64], n: usize) -> Answer {
        let basket: Vec<u32> = product_ids.iter().filter_map(|&id| self.catalogue.index(id)).collect();
        let mut recommendations = same_category(&self.catalogue, &basket, n);
        if recommendations.len() < n {
            let exclude: Vec<u32> = basket
                .iter()
                .copied()
                .chain(
                    recommendations
                        .iter()
                        .filter_map(|r| self.catalogue.index(r.product_id)),
                )
                .collect();
            self.append_best_sellers(&mut recommendations, &exclude, n);
        }
        Answer {
            recommendations,
            fallback: true,
            model_version: self.version,
        }
    }

    /// Products for a user (seed 000's `recommendations/get`).
    pub fn for_user(&self, user: &str, _strategy: Strategy, n: usize) -> Answer {
        let recent: Vec<i64> = self
            .users
            .get(user)
            .map(|h| {
                h.events
                    .iter()
                    .rev()
                    .take(20)
                    .map(|&(i, _, _)| self.catalogue.product(i).id)
                    .collect()
            })
            .unwrap_or_default();
        self.for_basket(&recent, n)
    }

    /// Products similar to one product; None when the product is unknown.
    pub fn similar(&self, product_id: i64, k: usize) -> Option<Vec<Similar>> {
        let item = self.catalogue.index(product_id)?;
        Some(
            same_category(&self.catalogue, &[item], k)
                .into_iter()
                .map(|r| Similar {
                    product_id: r.product_id,
                    product_name: r.product_name,
                    similarity: r.relevance / 100.0,
                    reason: r.reason,
                    source: r.source,
                })
                .collect(),
        )
    }

    fn append_best_sellers(&self, into: &mut Vec<Recommendation>, exclude: &[u32], n: usize) {
        let wanted = n - into.len();
        let chosen = top_n(&self.sold, wanted, |i| {
            exclude.contains(&i) || !self.catalogue.is_active(i)
        });
        let first_rank = into.len() as u32;
        for mut r in ranked(&self.catalogue, &chosen, |item| {
            let units = self.sold[item as usize];
            (format!("best seller: {units:.0} units sold"), 0.0, "popular".into())
        }) {
            r.rank += first_rank;
            into.push(r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(id: i64, name: &str, category: Option<i64>) -> Product {
        Product {
            id,
            name: name.into(),
            text: name.into(),
            category_id: category,
            category: category.map(|c| format!("cat{c}")),
            active: true,
        }
    }

    #[test]
    fn same_category_prefers_the_basket_s_main_category_and_skips_the_basket() {
        let catalogue = Catalogue::new(vec![
            product(10, "a", Some(1)),
            product(11, "b", Some(1)),
            product(12, "c", Some(2)),
            product(13, "d", Some(2)),
            product(14, "e", None),
            product(15, "f", Some(2)),
        ]);
        let basket = [catalogue.index(12).unwrap_or(0), catalogue.index(13).unwrap_or(0), 0];
        let recs = same_category(&catalogue, &basket, 5);
        let ids: Vec<i64> = recs.iter().map(|r| r.product_id).collect();
        assert_eq!(ids, vec![15, 11]);
        assert_eq!(recs[0].rank, 1);
        assert!(recs[0].reason.contains("cat2"));
    }

    #[test]
    fn upsert_moves_a_product_between_categories() {
        let mut catalogue = Catalogue::new(vec![product(1, "a", Some(1))]);
        catalogue.upsert(product(1, "a", Some(2)));
        assert!(catalogue.in_category(1).is_empty());
        assert_eq!(catalogue.in_category(2), &[0]);
    }
}
