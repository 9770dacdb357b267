//! Reorder advice (below).
