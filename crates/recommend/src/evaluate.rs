//! Offline evaluation of a training run on its own newest weeks (filled in with the eval
//! harness).

use crate::engine::{EngineConfig, TrainingData};

/// Scores the engine trained on everything before the last four weeks against those weeks.
pub fn holdout(_data: &TrainingData, _config: &EngineConfig) -> serde_json::Value {
    serde_json::json!({})
}
