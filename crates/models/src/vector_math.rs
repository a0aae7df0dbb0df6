//! What the fused CPU kernels share to run at the vector unit's width: an `exp` and a maximum
//! ([`max_ignoring_nan`]) written so the loops around them vectorise, and [`at_widest_vector_width!`], which compiles a kernel for
//! AVX-512 and AVX2 besides the build's baseline and runs the widest the CPU has.
//!
//! Rust never contracts `a * b + c` into a fused multiply-add, and the kernels keep the same
//! order of operations at every width, so every width gives the same bits (the kernels' tests
//! check it): results never depend on the machine's vector unit.

/// `e^x`, within 3·10⁻⁷ relative for `−87 ≤ x ≤ 88`; 0 below −87 and NaN for NaN.
///
/// `x = n ln 2 + r` with `n = round(x / ln 2)` and `|r| ≤ ln 2 / 2`; `e^r` is its Taylor
/// polynomial of degree 7 in Horner form (truncation `< 0.347⁸/8! ≈ 5·10⁻⁹`) and `2ⁿ` is built
/// from its exponent bits. Branch-free, so loops over it vectorise (std's `expf` is a libm call
/// per value).
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    // ln 2 = LN2_HIGH + LN2_LOW (Cody–Waite): LN2_HIGH = 355/512 has 9 significant bits, so
    // n · LN2_HIGH is exact for |n| ≤ 127.
    const LN2_HIGH: f32 = 0.693_359_4;
    const LN2_LOW: f32 = -2.121_944_4e-4;
    // 1.5 · 2²³: adding it rounds an f32 below 2²² in magnitude to an integer (ties to even)
    // with plain additions, and leaves that integer in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    let clamped = x.clamp(-87.0, 88.0);
    let shifted = clamped * LOG2_E + ROUND;
    let n = shifted - ROUND;
    let r = (clamped - n * LN2_HIGH) - n * LN2_LOW;
    let mut p = 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    // The low bits of `shifted` hold n + 0x40_0000; n + 127 is the biased exponent of 2ⁿ (from
    // integer lane operations: a saturating `n as i32` would not vectorise).
    let two_to_n = f32::from_bits(
        shifted
            .to_bits()
            .wrapping_sub(ROUND.to_bits())
            .wrapping_add(127)
            << 23,
    );
    let value = p * two_to_n;
    if x < -87.0 {
        0.0
    } else {
        value
    }
}

/// The largest of `values`: NaNs are skipped, and an empty or all-NaN slice gives −∞. Kept in
/// 64 partial maxima, so the loop vectorises (`f32::max` does not, for its NaN rule) into four
/// AVX-512 registers that do not wait on each other; the result does not depend on the order, so
/// every width gives the same bits.
#[inline(always)]
pub(crate) fn max_ignoring_nan(values: &[f32]) -> f32 {
    let larger = |m: f32, v: f32| if v > m { v } else { m };
    let mut maxima = [f32::NEG_INFINITY; 64];
    let mut blocks = values.chunks_exact(64);
    for block in &mut blocks {
        for (m, &v) in maxima.iter_mut().zip(block) {
            *m = larger(*m, v);
        }
    }
    for (m, &v) in maxima.iter_mut().zip(blocks.remainder()) {
        *m = larger(*m, v);
    }
    maxima.into_iter().fold(f32::NEG_INFINITY, larger)
}

/// Defines `fn name(args) -> ret` that calls `kernel(args)` compiled for AVX-512F, else AVX2,
/// else the build's baseline: the widest the CPU has, detected at run time (nothing ties the
/// binary to the build machine's CPU). `kernel` should be `#[inline(always)]` so each copy is
/// compiled for its width.
///
/// ```ignore
/// at_widest_vector_width! {
///     /// `h = a ⊙ b`.
///     fn multiply(a: &[f32], b: &[f32], h: &mut [f32]) => multiply_block
/// }
/// ```
macro_rules! at_widest_vector_width {
    (
        $(#[$doc:meta])*
        $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? => $kernel:path
    ) => {
        $(#[$doc])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                fn avx512($($arg: $ty),*) $(-> $ret)? {
                    $kernel($($arg),*)
                }
                #[target_feature(enable = "avx2")]
                fn avx2($($arg: $ty),*) $(-> $ret)? {
                    $kernel($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU has AVX-512F (checked just above).
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU has AVX2 (checked just above).
                    return unsafe { avx2($($arg),*) };
                }
            }
            $kernel($($arg),*)
        }
    };
}
pub(crate) use at_widest_vector_width;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_the_standard_library() {
        let mut worst = 0.0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let want = f64::from(x).exp();
            let got = f64::from(exp(x));
            worst = worst.max((got - want).abs() / want);
            x += 0.001_37;
        }
        assert!(worst < 3e-7, "relative error {worst}");
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-100.0), 0.0);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert!(exp(f32::NAN).is_nan());
    }

    #[test]
    fn max_ignoring_nan_skips_nans_at_any_length() {
        let xs: Vec<f32> = (0..83)
            .map(|i| ((i * 37 % 83) as f32 - 40.0) * 0.5)
            .collect();
        assert_eq!(max_ignoring_nan(&xs), 21.0);
        assert_eq!(
            max_ignoring_nan(&xs[..5]),
            xs[..5].iter().fold(f32::MIN, |m, &x| m.max(x))
        );
        let mut with_nan = xs.clone();
        with_nan[70] = f32::NAN;
        with_nan[3] = f32::NAN;
        assert_eq!(max_ignoring_nan(&with_nan), 21.0);
        assert_eq!(max_ignoring_nan(&[]), f32::NEG_INFINITY);
        assert_eq!(max_ignoring_nan(&[f32::NAN; 20]), f32::NEG_INFINITY);
    }

    #[inline(always)]
    fn exp_block(x: &[f32], y: &mut [f32]) {
        for (y, &x) in y.iter_mut().zip(x) {
            *y = exp(x);
        }
    }

    at_widest_vector_width! {
        fn exp_widest(x: &[f32], y: &mut [f32]) => exp_block
    }

    #[test]
    fn every_vector_width_gives_the_same_bits() {
        let x: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.37).sin() * 90.0).collect();
        let (mut base, mut wide) = (vec![0.0; 1000], vec![0.0; 1000]);
        exp_block(&x, &mut base);
        exp_widest(&x, &mut wide);
        assert!(base
            .iter()
            .zip(&wide)
            .all(|(a, b)| a.to_bits() == b.to_bits()));
    }
}
