//! Small random helpers (no extra dependency for distributions) and generators of names.

use std::f64::consts::PI;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

pub(crate) fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
}

pub(crate) fn poisson(rng: &mut ChaCha8Rng, lambda: f64) -> u32 {
    if lambda <= 0.0 {
        return 0;
    }
    if lambda > 30.0 {
        return (lambda + lambda.sqrt() * normal(rng)).round().max(0.0) as u32;
    }
    let limit = (-lambda).exp();
    let mut k = 0;
    let mut p = 1.0;
    loop {
        p *= rng.gen::<f64>();
        if p <= limit {
            return k;
        }
        k += 1;
    }
}

pub(crate) fn pick<'a>(rng: &mut ChaCha8Rng, list: &[&'a str]) -> &'a str {
    list[rng.gen_range(0..list.len())]
}

pub(crate) fn phone(rng: &mut ChaCha8Rng, landline: bool) -> String {
    if landline {
        format!("+56 2 2{:03} {:04}", rng.gen_range(0..1000), rng.gen_range(0..10000))
    } else {
        format!("+56 9 {:04} {:04}", rng.gen_range(1000..10000), rng.gen_range(0..10000))
    }
}

/// Lower-case ASCII for e-mail addresses: accents dropped, ñ → n, other characters removed.
pub(crate) fn ascii(s: &str) -> String {
    s.chars()
        .filter_map(|c| match c.to_lowercase().next().unwrap_or(c) {
            'á' | 'à' => Some('a'),
            'é' => Some('e'),
            'í' => Some('i'),
            'ó' => Some('o'),
            'ú' | 'ü' => Some('u'),
            'ñ' => Some('n'),
            c if c.is_ascii_alphanumeric() => Some(c),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_slugs() {
        assert_eq!(ascii("Núñez"), "nunez");
        assert_eq!(ascii("José Ángel"), "joseangel");
    }
}
