//! Vector kernels (dot product, `y += a·x`) with the CPU's widest instructions chosen at run
//! time: AVX2 with FMA on the x86-64 machines Bodega runs on, SSE2 elsewhere.
//!
//! Why not plain loops: a release build targets baseline x86-64, so the compiler may only use
//! SSE2 (4 lanes, no fused multiply-add), and `unsafe` (for `#[target_feature]`) is forbidden in
//! this workspace. `pulp` (the SIMD layer under faer) dispatches safely: [`dispatch`] runs a
//! closure compiled once per instruction set, and the generic kernels below take the `Simd`
//! token it hands over, so everything inlined into them uses 8-lane FMA. ALS training and
//! scoring spend nearly all their time in these two kernels.

use pulp::{Arch, Simd, WithSimd};

/// Runs `op` with the best instruction set of this CPU.
#[inline]
pub fn dispatch<Op: WithSimd>(op: Op) -> Op::Output {
    Arch::new().dispatch(op)
}

/// [`dot`] on its own, dispatched: for a single product where no kernel is running already.
pub fn dispatched_dot(a: &[f32], b: &[f32]) -> f32 {
    struct Dot<'a>(&'a [f32], &'a [f32]);
    impl WithSimd for Dot<'_> {
        type Output = f32;
        #[inline(always)]
        fn with_simd<S: Simd>(self, simd: S) -> f32 {
            dot(simd, self.0, self.1)
        }
    }
    dispatch(Dot(a, b))
}

/// `Σ a_i · b_i` over the common length.
#[inline(always)]
pub fn dot<S: Simd>(simd: S, a: &[f32], b: &[f32]) -> f32 {
    let len = a.len().min(b.len());
    let (head_a, tail_a) = S::as_simd_f32s(&a[..len]);
    let (head_b, tail_b) = S::as_simd_f32s(&b[..len]);
    // Two accumulators hide the FMA latency.
    let mut even = simd.splat_f32s(0.0);
    let mut odd = simd.splat_f32s(0.0);
    let mut pairs_a = head_a.chunks_exact(2);
    let mut pairs_b = head_b.chunks_exact(2);
    for (x, y) in pairs_a.by_ref().zip(pairs_b.by_ref()) {
        even = simd.mul_add_e_f32s(x[0], y[0], even);
        odd = simd.mul_add_e_f32s(x[1], y[1], odd);
    }
    for (x, y) in pairs_a.remainder().iter().zip(pairs_b.remainder()) {
        even = simd.mul_add_e_f32s(*x, *y, even);
    }
    if !tail_a.is_empty() {
        let (x, y) = (simd.partial_load_f32s(tail_a), simd.partial_load_f32s(tail_b));
        odd = simd.mul_add_e_f32s(x, y, odd);
    }
    simd.reduce_sum_f32s(simd.add_f32s(even, odd))
}

/// `y += alpha · x` over the common length.
#[inline(always)]
pub fn axpy<S: Simd>(simd: S, alpha: f32, x: &[f32], y: &mut [f32]) {
    let len = x.len().min(y.len());
    let (head_y, tail_y) = S::as_mut_simd_f32s(&mut y[..len]);
    let (head_x, tail_x) = S::as_simd_f32s(&x[..len]);
    let a = simd.splat_f32s(alpha);
    for (yv, xv) in head_y.iter_mut().zip(head_x) {
        *yv = simd.mul_add_e_f32s(a, *xv, *yv);
    }
    for (yi, xi) in tail_y.iter_mut().zip(tail_x) {
        *yi += alpha * xi;
    }
}

/// The largest finite value, or 0 when there is none above it (the hybrid's normaliser).
/// Eight running maxima instead of one: a single `fold` is a chain of dependent `max`es that
/// the compiler cannot vectorise.
pub fn max_finite(values: &[f32]) -> f32 {
    let finite = |x: f32| if x.is_finite() { x } else { 0.0 };
    let mut lanes = [0f32; 8];
    let chunks = values.chunks_exact(8);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (m, &x) in lanes.iter_mut().zip(chunk) {
            *m = m.max(finite(x));
        }
    }
    let tail = rest.iter().fold(0f32, |m, &x| m.max(finite(x)));
    lanes.iter().fold(tail, |m, &x| m.max(x))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Check;

    impl WithSimd for Check {
        type Output = ();

        fn with_simd<S: Simd>(self, simd: S) {
            for len in [0usize, 1, 3, 7, 8, 9, 16, 17, 31, 100, 101] {
                let a: Vec<f32> = (0..len).map(|i| (i % 7) as f32 - 2.5).collect();
                let b: Vec<f32> = (0..len).map(|i| (i % 5) as f32 * 0.5).collect();
                let expected: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
                assert!((dot(simd, &a, &b) - expected).abs() < 1e-3, "dot of {len}");
                let mut y = b.clone();
                axpy(simd, 2.0, &a, &mut y);
                for i in 0..len {
                    assert_eq!(y[i], b[i] + 2.0 * a[i], "axpy of {len} at {i}");
                }
            }
        }
    }

    #[test]
    fn the_largest_finite_value_ignores_infinities_and_nan() {
        let mut values = vec![-1.0f32; 21];
        assert_eq!(max_finite(&values), 0.0);
        values[3] = f32::INFINITY;
        values[7] = f32::NAN;
        values[20] = 2.5;
        values[11] = 1.5;
        assert_eq!(max_finite(&values), 2.5);
        values[20] = f32::NEG_INFINITY;
        assert_eq!(max_finite(&values), 1.5);
        assert_eq!(max_finite(&[]), 0.0);
    }

    #[test]
    fn kernels_match_the_scalar_definitions_at_every_length() {
        dispatch(Check);
        // And on the portable fallback, whatever this CPU has.
        Check.with_simd(pulp::Scalar::new());
    }
}
