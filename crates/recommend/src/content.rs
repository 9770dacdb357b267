//! Content similarity of products from their text (name, description, keywords, category):
//! TF-IDF with sublinear term frequency over accent-folded, lower-cased tokens without stop
//! words, L2-normalised sparse vectors, cosine top-k through an inverted index (only products
//! sharing a term are ever compared). Behind [`ContentModel`], so an embeddings model can
//! replace it.
//!
//! Written here: the whole model is a few hundred lines over the catalogue's own text, and a
//! search-engine crate would bring an index format and I/O the engine does not need.

use std::collections::HashMap;

use crate::scorer::{top_n, Scored, Scorer};

/// What any content model offers the engine.
pub trait ContentModel: Send + Sync {
    /// The `k` products most alike `item` (not itself), best first.
    fn similar(&self, item: u32, k: usize) -> Vec<Scored>;
    /// Similarity of two products in [0, 1].
    fn similarity(&self, a: u32, b: u32) -> f32;
}

const STOP_WORDS: &[&str] = &[
    "a", "al", "and", "con", "de", "del", "el", "en", "for", "la", "las", "los", "of", "or", "para", "por", "set",
    "the", "to", "un", "una", "with", "y",
];

/// Lower-case, accents folded, split on anything but letters and digits, stop words and
/// one-letter tokens dropped.
pub fn tokens(text: &str) -> Vec<String> {
    let folded: String = text
        .chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'á' | 'à' | 'ä' | 'â' => 'a',
            'é' | 'è' | 'ë' | 'ê' => 'e',
            'í' | 'ì' | 'ï' | 'î' => 'i',
            'ó' | 'ò' | 'ö' | 'ô' => 'o',
            'ú' | 'ù' | 'ü' | 'û' => 'u',
            'ñ' => 'n',
            'ç' => 'c',
            c if c.is_alphanumeric() => c,
            _ => ' ',
        })
        .collect();
    folded
        .split_whitespace()
        .filter(|t| t.chars().count() >= 2 && !STOP_WORDS.contains(t))
        .map(str::to_string)
        .collect()
}

/// TF-IDF vectors of every product and the inverted index over them.
#[derive(Debug, Clone, Default)]
pub struct TfIdf {
    /// Per item: (term, weight), L2-normalised, sorted by term.
    vectors: Vec<Vec<(u32, f32)>>,
    /// Per term: (item, weight).
    postings: Vec<Vec<(u32, f32)>>,
}

impl TfIdf {
    /// `documents[i]` is item `i`'s text.
    pub fn build(documents: &[String]) -> Self {
        let mut vocabulary: HashMap<String, u32> = HashMap::new();
        let counted: Vec<Vec<(u32, f32)>> = documents
            .iter()
            .map(|d| {
                let mut tf: HashMap<u32, f32> = HashMap::new();
                for t in tokens(d) {
                    let next = vocabulary.len() as u32;
                    let id = *vocabulary.entry(t).or_insert(next);
                    *tf.entry(id).or_insert(0.0) += 1.0;
                }
                let mut v: Vec<(u32, f32)> = tf.into_iter().collect();
                v.sort_unstable_by_key(|e| e.0);
                v
            })
            .collect();
        let mut df = vec![0f32; vocabulary.len()];
        for v in &counted {
            for &(t, _) in v {
                df[t as usize] += 1.0;
            }
        }
        let n = documents.len() as f32;
        let mut postings = vec![Vec::new(); vocabulary.len()];
        let vectors: Vec<Vec<(u32, f32)>> = counted
            .into_iter()
            .enumerate()
            .map(|(item, v)| {
                // Sublinear tf, smoothed idf (as scikit-learn's TfidfVectorizer).
                let mut w: Vec<(u32, f32)> = v
                    .into_iter()
                    .map(|(t, tf)| (t, (1.0 + tf.ln()) * (((1.0 + n) / (1.0 + df[t as usize])).ln() + 1.0)))
                    .collect();
                let norm = w.iter().map(|e| e.1 * e.1).sum::<f32>().sqrt();
                if norm > 0.0 {
                    w.iter_mut().for_each(|e| e.1 /= norm);
                }
                for &(t, x) in &w {
                    postings[t as usize].push((item as u32, x));
                }
                w
            })
            .collect();
        Self { vectors, postings }
    }

    pub fn items(&self) -> usize {
        self.vectors.len()
    }

    /// Cosine with every item sharing a term with `weights` (a query vector), accumulated.
    fn accumulate(&self, weights: &[(u32, f32)], scale: f32, into: &mut [f32]) {
        for &(t, w) in weights {
            for &(j, x) in &self.postings[t as usize] {
                if let Some(s) = into.get_mut(j as usize) {
                    *s += scale * w * x;
                }
            }
        }
    }
}

impl ContentModel for TfIdf {
    fn similar(&self, item: u32, k: usize) -> Vec<Scored> {
        let Some(v) = self.vectors.get(item as usize) else {
            return Vec::new();
        };
        let mut scores = vec![0f32; self.vectors.len()];
        self.accumulate(v, 1.0, &mut scores);
        top_n(&scores, k, |j| j == item || scores[j as usize] <= 0.0)
    }

    fn similarity(&self, a: u32, b: u32) -> f32 {
        let (Some(x), Some(y)) = (self.vectors.get(a as usize), self.vectors.get(b as usize)) else {
            return 0.0;
        };
        // Merge of two term-sorted vectors.
        let (mut i, mut j, mut sum) = (0, 0, 0.0);
        while i < x.len() && j < y.len() {
            match x[i].0.cmp(&y[j].0) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    sum += x[i].1 * y[j].1;
                    i += 1;
                    j += 1;
                }
            }
        }
        sum.clamp(0.0, 1.0)
    }
}

impl Scorer for TfIdf {
    fn name(&self) -> &str {
        "content"
    }

    /// Similarity to the history's products, weighted by their strength; items sharing no
    /// term with the history get `NEG_INFINITY`.
    fn score(&self, _user: Option<u32>, history: &[(u32, f32)], scores: &mut [f32]) {
        scores.iter_mut().for_each(|s| *s = 0.0);
        for &(item, strength) in history {
            if let Some(v) = self.vectors.get(item as usize) {
                self.accumulate(v, strength, scores);
            }
        }
        scores.iter_mut().for_each(|s| {
            if *s <= 0.0 {
                *s = f32::NEG_INFINITY
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_folded_and_filtered() {
        assert_eq!(
            tokens("Café de Grano, ÑANDÚ y té x2"),
            vec!["cafe", "grano", "nandu", "te", "x2"]
        );
    }

    #[test]
    fn weights_and_cosine_match_a_hand_computation() {
        // Three documents; "cafe" in two, "grano" in one, "molido" in one, "te" in one.
        let docs = ["cafe grano".to_string(), "cafe molido".to_string(), "te".to_string()];
        let m = TfIdf::build(&docs);
        let idf = |df: f32| ((1.0f32 + 3.0) / (1.0 + df)).ln() + 1.0;
        let (a, b) = (idf(2.0), idf(1.0));
        // doc 0 = (a, b)/|.|, doc 1 = (a, b)/|.|: cosine = a² / (a² + b²).
        let want = a * a / (a * a + b * b);
        assert!(
            (m.similarity(0, 1) - want).abs() < 1e-6,
            "{} vs {want}",
            m.similarity(0, 1)
        );
        assert_eq!(m.similarity(0, 2), 0.0);
        let similar = m.similar(0, 5);
        assert_eq!(similar.len(), 1, "only documents sharing a term");
        assert_eq!(similar[0].item, 1);
        assert!((similar[0].score - want).abs() < 1e-6);
        let mut scores = vec![0.0; 3];
        m.score(None, &[(2, 1.0)], &mut scores);
        assert_eq!(scores[2], 1.0);
        assert_eq!(scores[0], f32::NEG_INFINITY);
    }
}
