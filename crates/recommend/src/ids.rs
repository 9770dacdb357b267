//! Dense indexes for external ids.

use std::collections::HashMap;

/// Maps external ids (the ERP's `i64` product or customer ids) to dense `u32` indexes, in order
/// of first appearance, and back.
#[derive(Debug, Clone, Default)]
pub struct Ids {
    to_index: HashMap<i64, u32>,
    to_id: Vec<i64>,
}

impl Ids {
    pub fn new() -> Self {
        Self::default()
    }

    /// The index of `id`, assigning the next one if `id` is new.
    pub fn intern(&mut self, id: i64) -> u32 {
        if let Some(&index) = self.to_index.get(&id) {
            return index;
        }
        let index = u32::try_from(self.to_id.len()).expect("more than u32::MAX ids");
        self.to_index.insert(id, index);
        self.to_id.push(id);
        index
    }

    pub fn index(&self, id: i64) -> Option<u32> {
        self.to_index.get(&id).copied()
    }

    pub fn id(&self, index: u32) -> i64 {
        self.to_id[index as usize]
    }

    pub fn len(&self) -> usize {
        self.to_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.to_id.is_empty()
    }

    pub fn ids(&self) -> &[i64] {
        &self.to_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_is_stable_and_reversible() {
        let mut ids = Ids::new();
        assert_eq!(ids.intern(42), 0);
        assert_eq!(ids.intern(7), 1);
        assert_eq!(ids.intern(42), 0);
        assert_eq!(ids.index(7), Some(1));
        assert_eq!(ids.index(8), None);
        assert_eq!(ids.id(1), 7);
        assert_eq!(ids.len(), 2);
    }
}
