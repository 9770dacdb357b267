//! Recommendation models for Bodega. Pure computation: no database, no HTTP. The server feeds
//! the models from the store and the event bus; the CLI feeds them from CSV files.
//!
//! Items and users are addressed by dense indexes (`u32`) inside the models; [`Ids`] maps the
//! ERP's ids to them. Every model can score the whole catalogue for a user through [`Scorer`],
//! which is what the offline evaluation and the hybrid blend use.

pub mod als;
pub mod content;
pub mod ease;
pub mod engine;
pub mod eval;
pub mod evaluate;
pub mod hoease;
pub mod hybrid;
pub mod ids;
pub mod itemitem;
pub mod matrix;
pub mod metrics;
pub mod popular;
pub mod scorer;
pub mod served;
pub mod shortlist;
pub mod simd;

pub use engine::{
    Answer, Basket, Engine, EngineConfig, InteractionKind, InteractionWeights, Product, Recommendation, Similar,
    Strategy, TrainingData, UserEvent,
};
pub use ids::Ids;
pub use matrix::Csr;
pub use scorer::{top_n, Scored, Scorer};
