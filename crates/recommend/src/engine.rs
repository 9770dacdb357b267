//! The recommender as the ERP uses it: the catalogue, every customer's history and the
//! trained models behind one value, answering in product ids with a human reason for every
//! result. The server keeps one `Engine` in memory, feeds it every sale and interaction as
//! they happen, and replaces it after each training run.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::als::{Als, AlsConfig};
use crate::content::{ContentModel, TfIdf};
use crate::ease::{Ease, EaseConfig};
use crate::hoease::{HoEase, HoEaseConfig};
use crate::hybrid::{add_normalised, top_with_bounded_part};
use crate::ids::Ids;
use crate::itemitem::{ItemItem, ItemItemConfig, TimedBasket};
use crate::matrix::Csr;
use crate::popular::{Popular, PopularConfig};
use crate::scorer::{top_n, Scored, Scorer};
use crate::shortlist::{AlsShortlist, Folded, FoldedUsers, Shortlist};

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
    products: Vec<Product>,
    /// `products[i].active`, packed: every answer tests it for each product it ranks.
    active: Vec<bool>,
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
            self.active.push(product.active);
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
            self.active[index as usize] = product.active;
            self.products[index as usize] = product;
        }
        index
    }

    /// Every product, by index.
    pub fn products(&self) -> &[Product] {
        &self.products
    }

    /// Marks a product as never to be recommended.
    pub fn deactivate(&mut self, index: u32) {
        if let Some(p) = self.products.get_mut(index as usize) {
            p.active = false;
            self.active[index as usize] = false;
        }
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

    /// Every product's category as a dense index (for models that group by category).
    pub fn dense_categories(&self) -> Vec<Option<u32>> {
        let mut ids = Ids::new();
        self.products
            .iter()
            .map(|p| p.category_id.map(|c| ids.intern(c)))
            .collect()
    }

    pub fn is_active(&self, index: u32) -> bool {
        self.active.get(index as usize).copied().unwrap_or(false)
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

/// Same-category matching: what answers when no trained model knows the products. Products
/// of the basket's categories, the most common category first, each category's products
/// in catalogue order; flagged as a fallback by the caller.
pub fn same_category(catalogue: &Catalogue, basket: &[u32], n: usize) -> Vec<Recommendation> {
    let mut categories: Vec<(i64, usize, u32)> = Vec::new();
    for &item in basket {
        if let Some(c) = catalogue.products().get(item as usize).and_then(|p| p.category_id) {
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EngineConfig {
    pub weights: InteractionWeights,
    pub item_item: ItemItemConfig,
    pub popular: PopularConfig,
    pub als: AlsConfig,
    /// Weight of the collaborative (ALS) scores next to item-item's 1 in the hybrid (chosen on
    /// the Online Retail validation split).
    pub hybrid_als_weight: f32,
    /// Half-life of a customer's past purchases when scoring what they buy next.
    pub history_half_life_days: f64,
    /// The learned item-item model (EASE), trained on the customers' histories when the
    /// catalogue is small enough.
    pub ease: EaseConfig,
    /// Weight of EASE's scores next to item-item's 1 in the hybrid and basket answers (chosen
    /// on Online Retail's validation split: 0.3189 NDCG@10 against 0.3160 without EASE;
    /// Groceries' validation queries would take 4: 0.2453 against 0.2434).
    pub hybrid_ease_weight: f32,
    /// How many of each trained user's best products by ALS are kept from training, so that
    /// a hybrid answer evaluates ALS only where it can still change the top (0: score every
    /// product).
    pub als_shortlist: usize,
    /// Learned basket completion: higher-order EASE trained on the baskets themselves (each
    /// sale a row, with or without a customer), which re-ranks basket answers in place of
    /// EASE when the catalogue and its pair features fit `max_features`.
    pub basket_model: HoEaseConfig,
    /// Weight of the basket model next to item-item's 1 in basket answers.
    pub basket_model_weight: f32,
    /// Weight of recent best sellers (in the customer's favourite categories) next to
    /// item-item's 1 in the hybrid. Every training run chooses it on the shop's own newest
    /// weeks ([`crate::evaluate::holdout`]): shops whose customers mostly follow the season's
    /// best sellers get more of them, shops of loyal reorders none.
    pub hybrid_popular_weight: f32,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            weights: InteractionWeights::default(),
            item_item: ItemItemConfig::default(),
            popular: PopularConfig::default(),
            history_half_life_days: crate::eval::DEFAULT_HISTORY_HALF_LIFE_DAYS,
            als: AlsConfig::default(),
            hybrid_als_weight: 0.3,
            ease: EaseConfig::default(),
            hybrid_ease_weight: 0.3,
            als_shortlist: 32,
            basket_model: HoEaseConfig {
                max_features: BASKET_MODEL_FEATURES,
                ..HoEaseConfig::default()
            },
            basket_model_weight: 4.0,
            hybrid_popular_weight: 0.0,
        }
    }
}

const DAY: f64 = 86_400.0;

/// Item-item candidates re-ranked by EASE for a basket answer.
const BASKET_POOL: usize = 50;

/// Products + pair features of the basket model at most: its training inverts a matrix of
/// this side (3,000: ≈ 2 s and 144 MB on two cores), so it is for catalogues of up to some
/// hundreds of products, where cosine co-occurrence is weakest against learned models.
pub const BASKET_MODEL_FEATURES: usize = 3_000;

/// Sales with more distinct products than this do not train the basket model: a sale's cost
/// grows with the square of its products and pairs (a 200-line restock order would cost as
/// much as thousands of till baskets), while its rows weigh 1/size in the model anyway.
pub const BASKET_MODEL_LINES: usize = 64;

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
    /// (with its shortlist), else folded in from `history`. None without the model.
    fn user_factor(&self, user: &str, history: &[(u32, f32)]) -> Option<UserFactor<'_>> {
        let als = self.als.as_ref()?;
        let events = self.users.get(user).map_or(0, |h| h.events.len());
        let (row, events_then) = self.als_users.get(user).copied().unzip();
        let trained = row.and_then(|row| als.user_factor(row));
        if let (Some(x), Some(row)) = (trained, row) {
            if events_then == Some(events) {
                let shortlist = self.als_shortlist.of(row);
                return Some(UserFactor::Trained { x, shortlist });
            }
        }
        if history.is_empty() {
            return None;
        }
        Some(UserFactor::Folded(self.folded_in(als, user, events, trained)))
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
        let factor = self.user_factor(user, &history);
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

    fn shop() -> TrainingData {
        let day = 86_400;
        let t = 1_700_000_000;
        let products = vec![
            product(1, "pan", Some(1)),
            product(2, "mantequilla", Some(1)),
            product(3, "mermelada", Some(1)),
            product(4, "jabon", Some(2)),
        ];
        let basket = |sale_id, customer, days: i64, lines: &[i64]| Basket {
            sale_id,
            customer,
            at: t + days * day,
            lines: lines.iter().map(|&p| (p, 1)).collect(),
        };
        TrainingData {
            products,
            baskets: vec![
                basket(1, Some(7), 0, &[1, 2]),
                basket(2, Some(8), 1, &[1, 2]),
                basket(3, Some(8), 2, &[1, 3]),
                basket(4, None, 3, &[4]),
            ],
            interactions: vec![],
        }
    }

    #[test]
    fn learned_models_rerank_basket_candidates_and_keep_their_evidence() {
        let basket_model = Engine::train(&shop(), &EngineConfig::default(), 1);
        assert!(
            basket_model.basket_model.is_some(),
            "a 4-product shop fits the basket model"
        );
        let mut config = EngineConfig::default();
        config.basket_model.max_features = 0;
        let ease = Engine::train(&shop(), &config, 1);
        assert!(ease.basket_model.is_none() && ease.ease.is_some());
        config.ease.max_items = 0;
        let neither = Engine::train(&shop(), &config, 1);
        assert!(neither.ease.is_none());
        let ids = |answer: &Answer| {
            let mut ids: Vec<i64> = answer.recommendations.iter().map(|r| r.product_id).collect();
            ids.sort();
            ids
        };
        let b = neither.for_basket(&[1], 3);
        for engine in [&basket_model, &ease] {
            let a = engine.for_basket(&[1], 3);
            assert_eq!(ids(&a), ids(&b), "same candidates");
            for r in &a.recommendations {
                let same = b
                    .recommendations
                    .iter()
                    .find(|o| o.product_id == r.product_id)
                    .expect("listed");
                assert_eq!((&r.reason, r.confidence), (&same.reason, same.confidence));
            }
            let ranks: Vec<u32> = a.recommendations.iter().map(|r| r.rank).collect();
            assert_eq!(ranks, (1..=a.recommendations.len() as u32).collect::<Vec<_>>());
            assert!(a.recommendations.windows(2).all(|w| w[0].score >= w[1].score));
            assert_eq!(a.recommendations[0].relevance, 100.0);
            // Butter (bought with bread by two customers) still leads jam (one).
            assert_eq!(a.recommendations[0].product_id, 2);
        }
    }

    /// Bread and butter are each bought with milk more often than with anything else, but
    /// whoever takes both never takes milk, and half of them take jam. Cosine co-occurrence
    /// sees the products apart and answers milk; the basket model has the pair as a feature
    /// and answers jam.
    #[test]
    fn the_basket_model_learns_what_a_pair_is_bought_with() {
        let t = 1_700_000_000;
        let mut baskets = Vec::new();
        let mut add = |times: usize, lines: &[i64]| {
            for _ in 0..times {
                let sale_id = baskets.len() as i64 + 1;
                baskets.push(Basket {
                    sale_id,
                    customer: None,
                    at: t + sale_id,
                    lines: lines.iter().map(|&p| (p, 1)).collect(),
                });
            }
        };
        add(10, &[1, 2, 3]);
        add(10, &[1, 2]);
        add(30, &[1, 4]);
        add(30, &[2, 4]);
        let data = TrainingData {
            products: vec![
                product(1, "pan", Some(1)),
                product(2, "mantequilla", Some(1)),
                product(3, "mermelada", Some(1)),
                product(4, "leche", Some(1)),
            ],
            baskets,
            interactions: vec![],
        };
        let mut config = EngineConfig::default();
        config.basket_model.lambda = 1.0;
        config.basket_model.pair_lambda = 1.0;
        let first = |engine: &Engine, basket: &[i64]| engine.for_basket(basket, 2).recommendations[0].product_id;
        let with = Engine::train(&data, &config, 1);
        assert_eq!(first(&with, &[1, 2]), 3);
        assert_eq!(first(&with, &[1]), 4, "bread alone still goes with milk");
        // Pairs that meet: bread with butter, jam and milk; butter with jam and milk.
        assert_eq!(with.artifact()["models"]["basket_model"]["pairs"], 5);
        config.basket_model.max_features = 0;
        let without = Engine::train(&data, &config, 1);
        assert_eq!(first(&without, &[1, 2]), 4, "cosine alone answers milk");
        assert!(without.artifact()["models"]["basket_model"].is_null());
    }

    #[test]
    fn basket_answers_come_from_co_occurrence_with_exact_evidence() {
        let engine = Engine::train(&shop(), &EngineConfig::default(), 3);
        let answer = engine.for_basket(&[1], 2);
        assert!(!answer.fallback);
        assert_eq!(answer.model_version, 3);
        let first = &answer.recommendations[0];
        assert_eq!(
            (first.product_id, first.rank, first.source.as_str()),
            (2, 1, "item-item")
        );
        assert_eq!(
            first.reason,
            "bought together with pan in 2 baskets in the last 90 days"
        );
        // Decayed P(mantequilla | pan): two of pan's three baskets, the newest one (with
        // mermelada) weighing a little more, so just under 2/3.
        assert!(first.confidence > 0.6 && first.confidence < 2.0 / 3.0, "{first:?}");
        assert_eq!(answer.recommendations[1].product_id, 3);
    }

    #[test]
    fn users_get_repeats_and_neighbours_with_reasons_and_strangers_best_sellers() {
        let mut engine = Engine::train(&shop(), &EngineConfig::default(), 1);
        let for_7 = engine.for_user("7", Strategy::Hybrid, 3);
        let sources: Vec<&str> = for_7.recommendations.iter().map(|r| r.source.as_str()).collect();
        assert!(sources.contains(&"repeat"), "{for_7:?}");
        let mermelada = for_7
            .recommendations
            .iter()
            .find(|r| r.product_id == 3)
            .expect("mermelada");
        assert!(
            mermelada
                .reason
                .starts_with("bought together with pan (in your history)"),
            "{mermelada:?}"
        );
        let stranger = engine.for_user("nobody", Strategy::Hybrid, 2);
        assert!(stranger.fallback);
        assert_eq!(stranger.recommendations[0].product_id, 1, "pan is the best seller");
        // A discontinued product is never recommended again.
        engine.deactivate_product(3);
        assert!(engine
            .for_basket(&[1], 5)
            .recommendations
            .iter()
            .all(|r| r.product_id != 3));
    }

    #[test]
    fn collaborative_answers_come_from_als_and_a_new_event_is_folded_in() {
        let mut engine = Engine::train(&shop(), &EngineConfig::default(), 1);
        let answer = engine.for_user("8", Strategy::Collaborative, 2);
        assert!(!answer.fallback, "{answer:?}");
        assert_eq!(answer.recommendations.len(), 2);
        // A user unknown at training, with one view since: folded in, not a stranger.
        engine.observe_interaction("web-1", 2, InteractionKind::View, 1_700_000_000 + 9 * 86_400);
        let folded = engine.for_user("web-1", Strategy::Hybrid, 2);
        assert!(!folded.fallback, "{folded:?}");
    }

    #[test]
    fn products_never_sold_together_are_similar_by_their_text() {
        let mut data = shop();
        data.products.push(product(5, "pan integral", Some(1)));
        let engine = Engine::train(&data, &EngineConfig::default(), 1);
        let similar = engine.similar(5, 3).unwrap_or_default();
        assert_eq!(
            (similar[0].product_id, similar[0].source.as_str()),
            (1, "content"),
            "{similar:?}"
        );
        assert!(similar[0].similarity > 0.0 && similar[0].similarity < 1.0);
        let visual = engine.for_user("7", Strategy::Visual, 2);
        assert!(visual.recommendations.iter().any(|r| r.product_id == 5), "{visual:?}");
    }

    #[test]
    fn a_sale_is_learnt_by_the_next_answer() {
        let mut engine = Engine::train(&shop(), &EngineConfig::default(), 1);
        assert!(
            engine.for_basket(&[4], 1).fallback,
            "jabon was never bought with anything"
        );
        engine.observe_sale(None, &[(4, 1), (3, 2)], 1_700_000_000 + 5 * 86_400);
        let answer = engine.for_basket(&[4], 1);
        assert!(!answer.fallback);
        assert_eq!(answer.recommendations[0].product_id, 3);
    }

    /// A shop of 80 products in 4 categories and 60 customers with tastes, 600 baskets over a
    /// year, from a fixed-seed generator.
    fn busy_shop() -> TrainingData {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let products = (0..80)
            .map(|i| product(i + 1, &format!("product {i}"), Some(i % 4)))
            .collect();
        let baskets = (0..600)
            .map(|sale| {
                let customer: i64 = rng.gen_range(0..60);
                let taste = customer % 4;
                let lines = (0..rng.gen_range(1..6))
                    .map(|_| {
                        let product = if rng.gen_bool(0.7) {
                            4 * rng.gen_range(0..20) + taste
                        } else {
                            rng.gen_range(0..80)
                        };
                        (product + 1, 1)
                    })
                    .collect();
                Basket {
                    sale_id: sale + 1,
                    customer: Some(customer),
                    at: 1_700_000_000 + sale * 50_000,
                    lines,
                }
            })
            .collect();
        TrainingData {
            products,
            baskets,
            interactions: vec![],
        }
    }

    #[test]
    fn shortlisted_hybrid_answers_equal_the_fully_scored_ones() {
        // One training (ALS's parallel sums may round differently run to run), its shortlist
        // rebuilt at several lengths.
        let mut full = Engine::train(&busy_shop(), &EngineConfig::default(), 1);
        let als = full.als.clone().expect("ALS trained");
        let mut engines: Vec<Engine> = [1, 3, 10]
            .map(|m| {
                let mut engine = full.clone();
                engine.config.als_shortlist = m;
                engine.als_shortlist = AlsShortlist::build(&als, m);
                engine
            })
            .into();
        full.config.als_shortlist = 0;
        full.als_shortlist = AlsShortlist::build(&als, 0);
        // A product unseen by ALS, one withdrawn, and a customer with a sale since training
        // (folded in, no shortlist).
        for engine in engines.iter_mut().chain([&mut full]) {
            engine.upsert_product(product(81, "new product", Some(1)));
            engine.deactivate_product(5);
            engine.observe_sale(Some(3), &[(81, 1), (2, 1)], 1_700_000_000 + 601 * 50_000);
        }
        let shortlisted = (0..60)
            .filter(|c| {
                engines[0]
                    .user_factor(&c.to_string(), &[(0, 1.0)])
                    .is_some_and(|f| matches!(f, UserFactor::Trained { shortlist: Some(_), .. }))
            })
            .count();
        assert_eq!(shortlisted, 59, "every customer but the one with a new sale");
        for customer in 0..60 {
            let expected = full.for_user(&customer.to_string(), Strategy::Hybrid, 10);
            for engine in &engines {
                assert_eq!(
                    engine.for_user(&customer.to_string(), Strategy::Hybrid, 10),
                    expected,
                    "customer {customer}, shortlist of {}",
                    engine.config.als_shortlist
                );
            }
        }
        // The folded-in customer's next answers reuse their factor until their next event;
        // an engine's clone starts without any, so it folds them in afresh.
        let engine = &mut engines[1];
        let first = engine.for_user("3", Strategy::Hybrid, 10);
        assert_eq!(engine.for_user("3", Strategy::Hybrid, 10), first);
        engine.observe_interaction("3", 7, InteractionKind::Cart, 1_700_000_000 + 602 * 50_000);
        let after = engine.for_user("3", Strategy::Hybrid, 10);
        assert_ne!(after, first);
        assert_eq!(after, engine.clone().for_user("3", Strategy::Hybrid, 10));
    }

    #[test]
    fn upsert_moves_a_product_between_categories() {
        let mut catalogue = Catalogue::new(vec![product(1, "a", Some(1))]);
        catalogue.upsert(product(1, "a", Some(2)));
        assert!(catalogue.in_category(1).is_empty());
        assert_eq!(catalogue.in_category(2), &[0]);
    }
}
