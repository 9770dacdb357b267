//! Settings of a training run (stored with every model version).

use serde::{Deserialize, Serialize};

use super::InteractionWeights;
use crate::als::AlsConfig;
use crate::ease::EaseConfig;
use crate::hoease::HoEaseConfig;
use crate::itemitem::ItemItemConfig;
use crate::popular::PopularConfig;

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

/// Products + pair features of the basket model at most: its training inverts a matrix of
/// this side (3,000: ≈ 2 s and 144 MB on two cores), so it is for catalogues of up to some
/// hundreds of products, where cosine co-occurrence is weakest against learned models.
pub const BASKET_MODEL_FEATURES: usize = 3_000;

/// Sales with more distinct products than this do not train the basket model: a sale's cost
/// grows with the square of its products and pairs (a 200-line restock order would cost as
/// much as thousands of till baskets), while its rows weigh 1/size in the model anyway.
pub const BASKET_MODEL_LINES: usize = 64;
