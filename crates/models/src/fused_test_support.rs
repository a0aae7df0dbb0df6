//! What the fused kernels' tests share: seeded random values, the relative error they are
//! judged by, and moving tensors to and from host vectors.

use burn::tensor::{backend::Backend, Tensor, TensorData};

/// `n` values in `[-scale, scale)` from a xorshift64 stream seeded by `seed`.
pub(crate) fn values(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

/// `max |got − want| / max |want|` (entries equal to each other count as exact, so equal
/// infinities do too; the scale is over the finite entries).
pub(crate) fn relative_error(got: &[f32], want: &[f32]) -> f32 {
    relative_error_above(got, want, 0.0)
}

/// [`relative_error`] with a scale of at least `floor`.
pub(crate) fn relative_error_above(got: &[f32], want: &[f32], floor: f32) -> f32 {
    assert_eq!(got.len(), want.len(), "lengths differ");
    let scale = want
        .iter()
        .filter(|v| v.is_finite())
        .fold(floor, |m, v| m.max(v.abs()))
        .max(f32::MIN_POSITIVE);
    let diff = got
        .iter()
        .zip(want)
        .filter(|(g, w)| g != w)
        .fold(0.0f32, |m, (g, w)| m.max((g - w).abs()));
    assert!(!diff.is_nan(), "NaN where the reference has a value");
    diff / scale
}

/// A tensor's values on the host.
pub(crate) fn host<B: Backend, const D: usize>(tensor: Tensor<B, D>) -> Vec<f32> {
    tensor.into_data().to_vec().expect("f32 tensor")
}

/// A tensor of `dims` holding `values`, on the default device.
pub(crate) fn tensor<B: Backend, const D: usize>(
    values: Vec<f32>,
    dims: [usize; D],
) -> Tensor<B, D> {
    Tensor::from_data(TensorData::new(values, dims), &Default::default())
}

/// A tensor of `dims` holding [`values`]`(·, seed, scale)`.
pub(crate) fn random<B: Backend, const D: usize>(
    dims: [usize; D],
    seed: u64,
    scale: f32,
) -> Tensor<B, D> {
    tensor(values(dims.iter().product(), seed, scale), dims)
}

/// A seeded stream of sizes for random test shapes (a 64-bit LCG).
pub(crate) struct SizeDraws(u64);

impl SizeDraws {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next size, in `1..=bound`.
    pub(crate) fn next(&mut self, bound: u64) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        1 + ((self.0 >> 33) % bound) as usize
    }
}
