//! The recommender as the ERP uses it: the catalogue, every customer's history and the
//! trained models behind one value, answering in product ids with a human reason for every
//! result. The server keeps one `Engine` in memory, feeds it every sale and interaction as
//! they happen, and replaces it after each training run.

mod catalogue;
mod config;
mod types;

pub use catalogue::{ranked, same_category, Catalogue};
pub use config::{EngineConfig, BASKET_MODEL_FEATURES, BASKET_MODEL_LINES};
pub use types::{
    Answer, Basket, History, InteractionKind, InteractionWeights, Product, Recommendation, Similar, Strategy,
    TrainingData, UserEvent,
};

use std::collections::HashMap;
use std::sync::Arc;

use crate::als::Als;
use crate::content::{ContentModel, TfIdf};
use crate::ease::Ease;
use crate::hoease::{HoEase, HoEaseConfig};
use crate::hybrid::{add_normalised, top_with_bounded_part};
use crate::itemitem::{ItemItem, TimedBasket};
use crate::matrix::Csr;
use crate::popular::Popular;
use crate::scorer::{top_n, Scored, Scorer};
use crate::shortlist::{AlsShortlist, Folded, FoldedUsers, Shortlist};

/// Orders item-item's basket candidates (product, score, anchor) by
/// `score / best + weight · learned / best learned` (negative and unknown learned scores count
/// 0); the anchor, and so the evidence, stays item-item's.
fn rerank(candidates: &mut [(u32, f32, u32)], learned: impl Fn(u32) -> f32, weight: f32) {
    let learned: Vec<f32> = candidates
        .iter()
        .map(|c| learned(c.0))
        .map(|e| if e.is_finite() { e.max(0.0) } else { 0.0 })
        .collect();
    let best_ii = candidates.iter().map(|c| c.1).fold(0.0f32, f32::max);
    let best_learned = learned.iter().copied().fold(0.0f32, f32::max);
    for (c, e) in candidates.iter_mut().zip(learned) {
        let ii = if best_ii > 0.0 { c.1 / best_ii } else { 0.0 };
        let e = if best_learned > 0.0 { e / best_learned } else { 0.0 };
        c.1 = ii + weight * e;
    }
    candidates.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
}

const DAY: f64 = 86_400.0;

/// Item-item candidates re-ranked by EASE for a basket answer.
const BASKET_POOL: usize = 50;

/// A user's ALS factor for one answer, with their shortlist.
enum UserFactor<'a> {
    Trained {
        x: &'a [f32],
        shortlist: Option<Shortlist<'a>>,
    },
    /// Folded in since training (kept until the user's next event).
    Folded(Arc<Folded>),
}

impl UserFactor<'_> {
    fn x(&self) -> &[f32] {
        match self {
            UserFactor::Trained { x, .. } => x,
            UserFactor::Folded(folded) => &folded.x,
        }
    }

    fn shortlist(&self) -> Option<Shortlist<'_>> {
        match self {
            UserFactor::Trained { shortlist, .. } => *shortlist,
            UserFactor::Folded(folded) => folded.shortlist(),
        }
    }
}

/// The recommender: catalogue, histories and models.
#[derive(Debug, Clone)]
pub struct Engine {
    pub catalogue: Catalogue,
    users: HashMap<String, History>,
    /// Units sold per item (all time), for the best-seller reasons.
    sold: Vec<f32>,
    config: EngineConfig,
    item_item: ItemItem,
    popular: Popular,
    /// Text similarity of the products (name, description, keywords, category).
    content: TfIdf,
    /// Collaborative model over the customers with a history at training (None without any).
    als: Option<Als>,
    /// Learned item-item weights over the same histories (None without any, or for a
    /// catalogue above `config.ease.max_items`); retrained in batch only.
    ease: Option<Ease>,
    /// Learned basket completion over the baskets (None for a catalogue above
    /// `config.basket_model.max_features`); retrained in batch only.
    basket_model: Option<HoEase>,
    /// Each trained user's ALS row and how many events it had then: with more events since,
    /// the user is folded in afresh instead.
    als_users: HashMap<String, (u32, usize)>,
    /// Each trained user's best products by ALS, so hybrid answers need not score them all.
    als_shortlist: AlsShortlist,
    /// Customers folded in since training, until their next event.
    folded: FoldedUsers,
    /// The newest sale or interaction seen (unix seconds): the clock of decays and windows.
    now: i64,
    version: i64,
}

impl Engine {
    /// An engine that knows the products but no sale: it answers with same-category matching
    /// and best sellers, flagged as fallbacks.
    pub fn untrained(products: Vec<Product>, weights: InteractionWeights) -> Self {
        let config = EngineConfig {
            weights,
            ..EngineConfig::default()
        };
        Self::train(
            &TrainingData {
                products,
                ..TrainingData::default()
            },
            &config,
            0,
        )
    }

    /// Trains every model on `data`; `version` labels the answers.
    pub fn train(data: &TrainingData, config: &EngineConfig, version: i64) -> Self {
        let catalogue = Catalogue::new(data.products.clone());
        let n = catalogue.len();
        let now = data
            .baskets
            .iter()
            .map(|b| b.at)
            .chain(data.interactions.iter().map(|i| i.at))
            .max()
            .unwrap_or(0);
        let baskets: Vec<TimedBasket> = data
            .baskets
            .iter()
            .map(|b| TimedBasket {
                at: b.at,
                items: b.lines.iter().filter_map(|l| catalogue.index(l.0)).collect(),
            })
            .collect();
        let item_item = ItemItem::train(n, &baskets, config.item_item.clone(), now);
        let purchases: Vec<(u32, i64)> = baskets
            .iter()
            .flat_map(|b| b.items.iter().map(move |&i| (i, b.at)))
            .collect();
        let popular = Popular::train(
            n,
            &purchases,
            &catalogue.dense_categories(),
            config.popular.clone(),
            now,
        );
        let mut engine = Self {
            sold: vec![0.0; n],
            catalogue,
            users: HashMap::new(),
            config: config.clone(),
            item_item,
            popular,
            content: TfIdf::default(),
            als: None,
            ease: None,
            basket_model: None,
            als_users: HashMap::new(),
            als_shortlist: AlsShortlist::default(),
            folded: FoldedUsers::default(),
            now,
            version,
        };
        engine.rebuild_content();
        for b in &data.baskets {
            engine.remember_sale(b.customer, &b.lines, b.at);
        }
        for i in &data.interactions {
            engine.remember_interaction(&i.user, i.product_id, i.kind, i.at);
        }
        engine.train_collaborative();
        engine.basket_model = Self::train_basket_model(&baskets, n, &config.basket_model);
        engine
    }

    /// The basket model on every sale's distinct products (sales of more than
    /// [`BASKET_MODEL_LINES`] products left out).
    fn train_basket_model(baskets: &[TimedBasket], items: usize, config: &HoEaseConfig) -> Option<HoEase> {
        if items > config.max_features {
            return None;
        }
        let mut triples = Vec::new();
        let mut row = 0u32;
        for b in baskets {
            let mut distinct = b.items.clone();
            distinct.sort_unstable();
            distinct.dedup();
            if distinct.is_empty() || distinct.len() > BASKET_MODEL_LINES {
                continue;
            }
            triples.extend(distinct.into_iter().map(|i| (row, i, 1.0)));
            row += 1;
        }
        HoEase::train(&Csr::from_triples(row as usize, items, &triples), config)
    }

    /// ALS and EASE on every history: a bought line counts 1, an interaction its weight
    /// relative to a purchase.
    fn train_collaborative(&mut self) {
        let mut rows: Vec<(&String, &History)> = self.users.iter().filter(|(_, h)| !h.events.is_empty()).collect();
        if rows.is_empty() {
            return;
        }
        rows.sort_by(|a, b| a.0.cmp(b.0));
        let purchase = self.config.weights.purchase.max(f32::MIN_POSITIVE);
        let mut triples = Vec::new();
        let mut users = HashMap::with_capacity(rows.len());
        for (row, (user, history)) in rows.iter().enumerate() {
            users.insert((*user).clone(), (row as u32, history.events.len()));
            for &(item, weight, _) in &history.events {
                triples.push((row as u32, item, weight / purchase));
            }
        }
        let matrix = Csr::from_triples(rows.len(), self.catalogue.len(), &triples);
        self.ease = Ease::train(&matrix, &self.config.ease);
        if self.config.als.factors > 0 {
            let als = Als::train(&matrix, self.config.als.clone());
            self.als_shortlist = AlsShortlist::build(&als, self.config.als_shortlist);
            self.als = Some(als);
            self.als_users = users;
        }
    }

    /// The user's ALS factor: the trained one while their history is what it was trained on
    /// (with its shortlist), else folded in from their events. None without the model or
    /// without events.
    fn user_factor(&self, user: &str) -> Option<UserFactor<'_>> {
        let als = self.als.as_ref()?;
        let events = self.users.get(user).map_or(0, |h| h.events.len());
        if events == 0 {
            return None;
        }
        let (row, events_then) = self.als_users.get(user).copied().unzip();
        let trained = row.and_then(|row| als.user_factor(row));
        if let (Some(x), Some(row)) = (trained, row) {
            if events_then == Some(events) {
                let shortlist = self.als_shortlist.of(row);
                return Some(UserFactor::Trained { x, shortlist });
            }
        }
        Some(UserFactor::Folded(self.folded_in(als, user, events, trained)))
    }

    /// Folds a customer whose events changed since training into ALS ahead of their next
    /// answer, so that the answer does not pay for it. The server calls this right after an
    /// event, outside its write lock; an answer that comes first folds them in itself, and
    /// either way the answer is the same.
    pub fn prepare_user(&self, user: &str) {
        self.user_factor(user);
    }

    /// A user with events since training, folded in on the same undecayed strengths training
    /// uses (from their trained factor when there is one) and kept until their next event.
    #[inline(never)]
    fn folded_in(&self, als: &Als, user: &str, events: usize, trained: Option<&[f32]>) -> Arc<Folded> {
        if let Some(folded) = self.folded.get(user, events) {
            return folded;
        }
        let x = als.fold_in_from(&self.collaborative_history(user), trained);
        let folded = Arc::new(Folded::new(als, x, events, self.config.als_shortlist));
        self.folded.put(user, Arc::clone(&folded));
        folded
    }

    /// A user's events as ALS trains on them: a bought line counts 1, an interaction its
    /// weight relative to a purchase, without decay.
    fn collaborative_history(&self, user: &str) -> Vec<(u32, f32)> {
        let purchase = self.config.weights.purchase.max(f32::MIN_POSITIVE);
        self.users
            .get(user)
            .map(|h| {
                h.events
                    .iter()
                    .map(|&(item, weight, _)| (item, weight / purchase))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Changes the best sellers' weight in the hybrid (it is only read when answering).
    pub fn set_hybrid_popular_weight(&mut self, weight: f32) {
        self.config.hybrid_popular_weight = weight;
    }

    /// Labels the answers with the version stored for this engine.
    pub fn set_version(&mut self, version: i64) {
        self.version = version;
    }

    /// The trained model version answering (0: none stored).
    pub fn version(&self) -> i64 {
        self.version
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// What a model version stores besides its settings and scores: its size, which models
    /// were trained, and every product's neighbours (product id → [(product id, similarity)]), for inspection and
    /// export.
    pub fn artifact(&self) -> serde_json::Value {
        let neighbours: serde_json::Map<String, serde_json::Value> = (0..self.catalogue.len() as u32)
            .filter_map(|i| {
                let list: Vec<(i64, f32)> = self
                    .item_item
                    .neighbours(i)
                    .into_iter()
                    .take(20)
                    .map(|(j, s)| (self.catalogue.product(j).id, s))
                    .collect();
                (!list.is_empty()).then(|| (self.catalogue.product(i).id.to_string(), serde_json::json!(list)))
            })
            .collect();
        serde_json::json!({
            "version": self.version,
            "products": self.catalogue.len(),
            "users": self.users.len(),
            "clock": self.now,
            "models": {
                "item_item": true,
                "als": self.als.is_some(),
                "ease": self.ease.is_some(),
                "basket_model": self.basket_model.as_ref().map(|m| serde_json::json!({"pairs": m.pairs().len()})),
            },
            "neighbours": neighbours,
        })
    }

    pub fn upsert_product(&mut self, product: Product) {
        let index = self.catalogue.upsert(product) as usize;
        if index >= self.sold.len() {
            self.sold.resize(index + 1, 0.0);
        }
        // Milliseconds for thousands of products, and catalogue edits are rare.
        self.rebuild_content();
    }

    fn rebuild_content(&mut self) {
        let texts: Vec<String> = self.catalogue.products().iter().map(|p| p.text.clone()).collect();
        self.content = TfIdf::build(&texts);
    }

    /// A product removed from the catalogue: never recommended again, history kept.
    pub fn deactivate_product(&mut self, product_id: i64) {
        if let Some(index) = self.catalogue.index(product_id) {
            self.catalogue.deactivate(index);
        }
    }

    pub fn knows_product(&self, product_id: i64) -> bool {
        self.catalogue.index(product_id).is_some()
    }

    pub fn history(&self, user: &str) -> Option<&History> {
        self.users.get(user)
    }

    /// A sale: (product id, quantity) lines bought together, by a customer when known.
    /// The item-item model learns the basket at once. Unknown products are ignored.
    pub fn observe_sale(&mut self, customer: Option<i64>, lines: &[(i64, i64)], at: i64) {
        let items: Vec<u32> = lines.iter().filter_map(|l| self.catalogue.index(l.0)).collect();
        self.item_item.observe_basket(&items, at);
        self.remember_sale(customer, lines, at);
    }

    fn remember_sale(&mut self, customer: Option<i64>, lines: &[(i64, i64)], at: i64) {
        self.now = self.now.max(at);
        let items: Vec<(u32, f32)> = lines
            .iter()
            .filter_map(|&(id, qty)| Some((self.catalogue.index(id)?, qty.max(1) as f32)))
            .collect();
        for &(item, qty) in &items {
            self.sold[item as usize] += qty;
        }
        if let Some(customer) = customer {
            let history = self.users.entry(customer.to_string()).or_default();
            // One purchase per basket line: a bulk quantity is one decision.
            for &(item, _) in &items {
                history.events.push((item, self.config.weights.purchase, at));
            }
        }
    }

    /// An explicit interaction. Unknown products are ignored (the API checks them first).
    pub fn observe_interaction(&mut self, user: &str, product_id: i64, kind: InteractionKind, at: i64) {
        self.remember_interaction(user, product_id, kind, at);
    }

    fn remember_interaction(&mut self, user: &str, product_id: i64, kind: InteractionKind, at: i64) {
        let Some(item) = self.catalogue.index(product_id) else {
            return;
        };
        self.now = self.now.max(at);
        let weight = self.config.weights.weight(kind);
        self.users
            .entry(user.to_string())
            .or_default()
            .events
            .push((item, weight, at));
    }

    /// Products to suggest with a basket (the till, seed 003): the top `n` not in it, from
    /// the item-item model (a wider pool of its candidates re-ranked with EASE when trained);
    /// same-category matching and best sellers fill in (and flag the answer as a fallback)
    /// when the model knows too little of the basket.
    pub fn for_basket(&self, product_ids: &[i64], n: usize) -> Answer {
        let basket: Vec<u32> = product_ids.iter().filter_map(|&id| self.catalogue.index(id)).collect();
        let learned = self.basket_model.is_some() || self.ease.is_some();
        let pool = if learned { n.max(BASKET_POOL) } else { n };
        // Ask for as many more as inactive products took places.
        let mut wanted = pool;
        let mut candidates = loop {
            let mut candidates = self.item_item.basket_candidates(&basket, wanted);
            let got = candidates.len();
            candidates.retain(|c| self.catalogue.is_active(c.0));
            if candidates.len() >= pool || got < wanted {
                break candidates;
            }
            wanted = pool + 2 * (got - candidates.len());
        };
        if let Some(model) = &self.basket_model {
            let mut scores = vec![0f32; self.catalogue.len()];
            let history: Vec<(u32, f32)> = basket.iter().map(|&i| (i, 1.0)).collect();
            model.score(None, &history, &mut scores);
            let learned = |item: u32| scores.get(item as usize).copied().unwrap_or(f32::NEG_INFINITY);
            rerank(&mut candidates, learned, self.config.basket_model_weight);
        } else if let Some(ease) = &self.ease {
            let learned = |item: u32| basket.iter().map(|&b| ease.weight(b, item)).sum::<f32>();
            rerank(&mut candidates, learned, self.config.hybrid_ease_weight);
        }
        candidates.truncate(n);
        // Evidence (exact shared-basket counts) only for what is answered.
        let mut recommendations: Vec<Recommendation> = self
            .item_item
            .suggestions(candidates)
            .iter()
            .map(|s| {
                let p = self.catalogue.product(s.item);
                Recommendation {
                    rank: s.rank,
                    product_id: p.id,
                    product_name: p.name.clone(),
                    category: p.category.clone(),
                    score: s.score,
                    relevance: s.relevance,
                    confidence: s.confidence,
                    reason: ItemItem::reason(s, &self.catalogue.product(s.anchor).name),
                    source: "item-item".into(),
                }
            })
            .collect();
        let fallback = recommendations.is_empty();
        self.fill(&mut recommendations, &basket, n);
        Answer {
            recommendations,
            fallback,
            model_version: self.version,
        }
    }

    /// Products for a user (seed 000's `recommendations/get`): scored over the whole
    /// catalogue from the user's history; a user without history gets the best sellers.
    pub fn for_user(&self, user: &str, strategy: Strategy, n: usize) -> Answer {
        let history = self.weighted_history(user);
        if history.is_empty() {
            let mut recommendations = Vec::new();
            self.fill(&mut recommendations, &[], n);
            return Answer {
                recommendations,
                fallback: true,
                model_version: self.version,
            };
        }
        let factor = self.user_factor(user);
        let mut owned: Vec<u32> = history.iter().map(|h| h.0).collect();
        owned.sort_unstable();
        // "Alike" answers leave out what the user already has; the others may repeat it
        // (shops sell repeat purchases).
        let skip_own = strategy == Strategy::Visual;
        let exclude = |i: u32| !self.catalogue.is_active(i) || (skip_own && owned.binary_search(&i).is_ok());
        let mut scores = Vec::new();
        if strategy != Strategy::Hybrid {
            scores.resize(self.catalogue.len(), 0.0f32);
        }
        let chosen = match (strategy, &factor, &self.als) {
            // Until an image model exists, "looks alike" is alike in the products' text.
            (Strategy::Visual, _, _) => {
                self.content.score(None, &history, &mut scores);
                top_n(&scores, n, exclude)
            }
            (Strategy::Collaborative, Some(factor), Some(als)) => {
                als.score_factor(factor.x(), &mut scores);
                top_n(&scores, n, exclude)
            }
            (Strategy::Collaborative, _, _) => {
                self.item_item.score(None, &history, &mut scores);
                top_n(&scores, n, exclude)
            }
            (Strategy::Hybrid, _, _) => self.hybrid_top(&history, factor.as_ref(), n, exclude),
        };
        let als_score = |item: u32| Some(self.als.as_ref()?.score_item(factor.as_ref()?.x(), item));
        let events = self.users.get(user).map(|h| h.events.as_slice()).unwrap_or(&[]);
        let mut times: Vec<i64> = events.iter().map(|e| e.2).collect();
        times.sort_unstable();
        times.dedup();
        let baskets = times.len();
        let mut by_product = history.clone();
        by_product.sort_unstable_by_key(|&(i, _)| i);
        let mut recommendations = ranked(&self.catalogue, &chosen, |item| {
            self.explain_for_user(events, baskets, &history, &by_product, item, als_score(item))
        });
        let fallback = recommendations.iter().all(|r| r.source == "popular");
        let exclude: Vec<u32> = recommendations
            .iter()
            .filter_map(|r| self.catalogue.index(r.product_id))
            .collect();
        self.fill(&mut recommendations, &exclude, n);
        Answer {
            recommendations,
            fallback,
            model_version: self.version,
        }
    }

    /// The hybrid's best `n` for a history: item-item (weight 1), ALS and EASE, each divided
    /// by its largest score. ALS is evaluated only where it can change the top `n` when the
    /// user's shortlist bounds it, everywhere otherwise; the answer is the same either way.
    fn hybrid_top(
        &self,
        history: &[(u32, f32)],
        factor: Option<&UserFactor<'_>>,
        n: usize,
        exclude: impl Fn(u32) -> bool,
    ) -> Vec<Scored> {
        let items = self.catalogue.len();
        let mut fixed = vec![0f32; items];
        let mut part = vec![0f32; items];
        self.item_item.score(None, history, &mut part);
        add_normalised(&mut fixed, &part, 1.0);
        // EASE is added after ALS, as in every blend, so that the sums round alike.
        let mut after = vec![0f32; items];
        if let Some(ease) = &self.ease {
            ease.score(None, history, &mut part);
            add_normalised(&mut after, &part, self.config.hybrid_ease_weight);
        }
        if self.config.hybrid_popular_weight > 0.0 {
            self.popular.score(None, history, &mut part);
            add_normalised(&mut after, &part, self.config.hybrid_popular_weight);
        }
        let weight = self.config.hybrid_als_weight;
        if let (Some(als), Some(factor)) = (&self.als, factor) {
            match factor.shortlist().filter(|list| list.best() > 0.0 && weight >= 0.0) {
                Some(list) => {
                    return top_with_bounded_part(
                        &fixed,
                        &after,
                        weight / list.best(),
                        list,
                        als.items(),
                        n,
                        exclude,
                        |item| als.score_item(factor.x(), item),
                    )
                }
                None => {
                    als.score_factor(factor.x(), &mut part);
                    add_normalised(&mut fixed, &part, weight);
                }
            }
        }
        for (total, e) in fixed.iter_mut().zip(&after) {
            *total += e;
        }
        top_n(&fixed, n, exclude)
    }

    /// Products similar to one product (bought in the same baskets); same-category matching
    /// when the model has no neighbours for it. None when the product is unknown.
    pub fn similar(&self, product_id: i64, k: usize) -> Option<Vec<Similar>> {
        let item = self.catalogue.index(product_id)?;
        let window = self.config.item_item.window_days;
        let mut similar: Vec<Similar> = self
            .item_item
            .neighbours(item)
            .into_iter()
            .filter(|&(j, s)| s > 0.0 && self.catalogue.is_active(j))
            .take(k)
            .map(|(j, s)| {
                let shared = self.item_item.shared_baskets(item, j);
                Similar {
                    product_id: self.catalogue.product(j).id,
                    product_name: self.catalogue.product(j).name.clone(),
                    similarity: s.clamp(0.0, 1.0),
                    reason: format!(
                        "bought by the same customers: together in {shared} basket{} in the last {window} days",
                        if shared == 1 { "" } else { "s" }
                    ),
                    source: "item-item".into(),
                }
            })
            .collect();
        if similar.len() < k {
            let known: Vec<u32> = std::iter::once(item)
                .chain(similar.iter().filter_map(|s| self.catalogue.index(s.product_id)))
                .collect();
            for s in self.content.similar(item, k + known.len()) {
                if similar.len() == k {
                    break;
                }
                if known.contains(&s.item) || !self.catalogue.is_active(s.item) {
                    continue;
                }
                similar.push(Similar {
                    product_id: self.catalogue.product(s.item).id,
                    product_name: self.catalogue.product(s.item).name.clone(),
                    similarity: s.score.clamp(0.0, 1.0),
                    reason: format!("alike in name and description to {}", self.catalogue.product(item).name),
                    source: "content".into(),
                });
            }
        }
        if similar.len() < k {
            let known: Vec<u32> = std::iter::once(item)
                .chain(similar.iter().filter_map(|s| self.catalogue.index(s.product_id)))
                .collect();
            for r in same_category(&self.catalogue, &[item], k + known.len()) {
                if similar.len() == k {
                    break;
                }
                if known.contains(&self.catalogue.index(r.product_id).unwrap_or(item)) {
                    continue;
                }
                similar.push(Similar {
                    product_id: r.product_id,
                    product_name: r.product_name,
                    similarity: 0.0,
                    reason: r.reason,
                    source: r.source,
                });
            }
        }
        Some(similar)
    }

    /// The user's history as (item, strength), strengths decayed to the engine's clock,
    /// oldest first.
    fn weighted_history(&self, user: &str) -> Vec<(u32, f32)> {
        let Some(history) = self.users.get(user) else {
            return Vec::new();
        };
        let half_life = self.config.history_half_life_days.max(1e-6) * DAY;
        // (item, decayed weight, newest time) per event, merged per item in item order.
        let mut per_item: Vec<(u32, f32, i64)> = history
            .events
            .iter()
            .map(|&(item, weight, at)| {
                let decay = (-((self.now - at).max(0) as f64) / half_life).exp2() as f32;
                (item, weight * decay, at)
            })
            .collect();
        per_item.sort_unstable_by_key(|&(item, _, at)| (item, at));
        per_item.dedup_by(|next, kept| {
            let same = next.0 == kept.0;
            if same {
                kept.1 += next.1;
                kept.2 = kept.2.max(next.2);
            }
            same
        });
        per_item.sort_unstable_by_key(|&(i, _, t)| (t, i));
        per_item.into_iter().map(|(i, w, _)| (i, w)).collect()
    }

    /// Reason, confidence and source of a product recommended to a user; `baskets` is how
    /// many distinct purchase times the user's history holds.
    fn explain_for_user(
        &self,
        events: &[(u32, f32, i64)],
        baskets: usize,
        own: &[(u32, f32)],
        by_product: &[(u32, f32)],
        item: u32,
        als_score: Option<f32>,
    ) -> (String, f32, String) {
        let (times, last) = events
            .iter()
            .filter(|e| e.0 == item)
            .fold((0usize, 0i64), |(n, last), e| (n + 1, last.max(e.2)));
        if times > 0 {
            // A date's Display is YYYY-MM-DD, without parsing a format string per answer.
            let date = chrono::DateTime::from_timestamp(last, 0)
                .map(|d| d.date_naive().to_string())
                .unwrap_or_default();
            return (
                format!(
                    "bought before: {times} time{}, last on {date}",
                    if times == 1 { "" } else { "s" }
                ),
                (times as f32 / baskets.max(1) as f32).min(1.0),
                "repeat".into(),
            );
        }
        // The history product that ties to it best.
        if let Some(i) = self.item_item.strongest_tie(item, by_product) {
            let shared = self.item_item.shared_baskets(i, item);
            let confidence = {
                let c = self.item_item.count(i);
                if c > 0.0 {
                    (self.item_item.co_count(i, item) / c) as f32
                } else {
                    0.0
                }
            };
            return (
                format!(
                    "bought together with {} (in your history) in {shared} basket{} in the last {} days",
                    self.catalogue.product(i).name,
                    if shared == 1 { "" } else { "s" },
                    self.config.item_item.window_days
                ),
                confidence,
                "item-item".into(),
            );
        }
        let alike = own
            .iter()
            .map(|&(i, _)| (i, self.content.similarity(i, item)))
            .filter(|&(i, s)| i != item && s > 0.0)
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
        if let Some((i, similarity)) = alike.filter(|_| als_score.is_none_or(|s| !s.is_finite() || s <= 0.0)) {
            return (
                format!(
                    "alike in name and description to {} (in your history)",
                    self.catalogue.product(i).name
                ),
                similarity,
                "content".into(),
            );
        }
        if let Some(score) = als_score.filter(|s| s.is_finite() && *s > 0.0) {
            return (
                "customers who buy what you buy also bought it".into(),
                score.clamp(0.0, 1.0),
                "collaborative".into(),
            );
        }
        let units = self.sold.get(item as usize).copied().unwrap_or(0.0);
        (format!("best seller: {units:.0} units sold"), 0.0, "popular".into())
    }

    /// Tops `into` up to `n` with same-category matches for `basket`, then best sellers.
    fn fill(&self, into: &mut Vec<Recommendation>, basket: &[u32], n: usize) {
        let mut exclude: Vec<u32> = basket.to_vec();
        exclude.extend(into.iter().filter_map(|r| self.catalogue.index(r.product_id)));
        if into.len() < n && !basket.is_empty() {
            let history: Vec<(u32, f32)> = basket.iter().map(|&i| (i, 1.0)).collect();
            let mut scores = vec![0f32; self.catalogue.len()];
            self.content.score(None, &history, &mut scores);
            let chosen = top_n(&scores, n - into.len(), |i| {
                exclude.contains(&i) || !self.catalogue.is_active(i)
            });
            for r in ranked(&self.catalogue, &chosen, |item| {
                let (anchor, similarity) = basket
                    .iter()
                    .map(|&b| (b, self.content.similarity(b, item)))
                    .max_by(|a, b| a.1.total_cmp(&b.1))
                    .unwrap_or((item, 0.0));
                (
                    format!(
                        "alike in name and description to {}",
                        self.catalogue.product(anchor).name
                    ),
                    similarity,
                    "content".into(),
                )
            }) {
                exclude.extend(self.catalogue.index(r.product_id));
                into.push(r);
            }
        }
        if into.len() < n && !basket.is_empty() {
            for r in same_category(&self.catalogue, basket, n + exclude.len()) {
                if into.len() == n {
                    break;
                }
                let Some(item) = self.catalogue.index(r.product_id) else {
                    continue;
                };
                if !exclude.contains(&item) {
                    exclude.push(item);
                    into.push(r);
                }
            }
        }
        if into.len() < n {
            let wanted = n - into.len();
            let popularity: Vec<f32> = (0..self.catalogue.len() as u32)
                .map(|i| self.popular.overall(i))
                .collect();
            let chosen = top_n(&popularity, wanted, |i| {
                exclude.contains(&i) || !self.catalogue.is_active(i) || popularity[i as usize] <= 0.0
            });
            into.extend(ranked(&self.catalogue, &chosen, |item| {
                let units = self.sold.get(item as usize).copied().unwrap_or(0.0);
                (format!("best seller: {units:.0} units sold"), 0.0, "popular".into())
            }));
        }
        for (rank, r) in into.iter_mut().enumerate() {
            r.rank = rank as u32 + 1;
        }
    }
}

#[cfg(test)]
mod tests;
