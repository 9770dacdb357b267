//! What the engine learns from and answers with: products, interactions, sales and the
//! answers' shape.

use serde::{Deserialize, Serialize};

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
