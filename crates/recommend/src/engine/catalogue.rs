//! The catalogue the engine ranks, and the answers built from it without a model.

use std::collections::HashMap;

use super::{Product, Recommendation};
use crate::ids::Ids;
use crate::scorer::{top_n, Scored};

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
