//! The fused RMSNorm ([`crate::rms_norm_fused`]) against the decomposed burn ops it replaces
//! ([`RmsNorm::decomposed`], differentiated by burn-autodiff): value, `∂L/∂x` and `∂L/∂w` for
//! `L = Σ y ⊙ c` with random `c`, on random shapes including length 1 and hidden size 1.
//! Error measure: `max |fused − reference| / scale` over each tensor, ≤ 1e-5, where `scale` is
//! `max |reference|`, and for `∂L/∂x` at least `max |r · c ⊙ w|`, the size of the two terms
//! whose difference it is (at hidden size 1 they cancel to `≈ ε/x²`, and both sides are
//! rounding noise of that size).

use burn::backend::autodiff::checkpoint::strategy::{
    BalancedCheckpointing, CheckpointStrategy, NoCheckpointing,
};
use burn::backend::{Autodiff, Flex};
use burn::tensor::{Tensor, TensorData};

use crate::fused_test_support::{host, relative_error, relative_error_above, values, SizeDraws};
use crate::rms_norm::RmsNorm;
use crate::rms_norm_fused::fused_rms_norm;

const TOLERANCE: f32 = 1e-5;

/// `(y, ∂L/∂x, ∂L/∂w)` on `Autodiff<Flex, C>`, fused or decomposed.
fn run<C: CheckpointStrategy>(
    shape: [usize; 3],
    seed: u64,
    fused: bool,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    type Ad<C> = Autodiff<Flex, C>;
    let device = Default::default();
    let n = shape.iter().product();
    let x = Tensor::<Ad<C>, 3>::from_data(TensorData::new(values(n, seed, 2.0), shape), &device)
        .require_grad();
    let weight = Tensor::from_data(
        TensorData::new(values(shape[2], seed + 1, 2.0), [shape[2]]),
        &device,
    );
    let norm = RmsNorm::<Ad<C>>::from_weight(weight, 1e-6);
    let y = if fused {
        fused_rms_norm(&x, &norm.weight.val(), norm.eps).expect("fused")
    } else {
        norm.decomposed(x.clone())
    };
    let c = Tensor::from_data(TensorData::new(values(n, seed + 2, 2.0), shape), &device);
    let grads = y.clone().mul(c).sum().backward();
    let d_x = x.grad(&grads).expect("∂L/∂x");
    let d_weight = norm.weight.val().grad(&grads).expect("∂L/∂w");
    (host(y), host(d_x), host(d_weight))
}

/// `max |r · c ⊙ w|` over all rows, in `f64` from the inputs of [`run`].
fn cancelling_terms(shape: [usize; 3], seed: u64) -> f32 {
    let hidden = shape[2];
    let n = shape.iter().product();
    let (x, weight, c) = (
        values(n, seed, 2.0),
        values(hidden, seed + 1, 2.0),
        values(n, seed + 2, 2.0),
    );
    let mut largest = 0.0f64;
    for (row, c_row) in x.chunks(hidden).zip(c.chunks(hidden)) {
        let mean_square = row.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / hidden as f64;
        let r = 1.0 / (mean_square + 1e-6).sqrt();
        for (&cv, &w) in c_row.iter().zip(&weight) {
            largest = largest.max((f64::from(cv) * f64::from(w) * r).abs());
        }
    }
    largest as f32
}

fn check<C: CheckpointStrategy>(shape: [usize; 3], seed: u64) {
    let (y, d_x, d_weight) = run::<C>(shape, seed, true);
    let (y_ref, d_x_ref, d_weight_ref) = run::<C>(shape, seed, false);
    let terms = cancelling_terms(shape, seed);
    for (name, got, want, floor) in [
        ("y", &y, &y_ref, 0.0),
        ("dx", &d_x, &d_x_ref, terms),
        ("dw", &d_weight, &d_weight_ref, 0.0),
    ] {
        let error = relative_error_above(got, want, floor);
        assert!(
            error <= TOLERANCE,
            "{name} at {shape:?}: relative error {error}"
        );
    }
}

#[test]
fn value_and_gradients_equal_the_decomposed_ops_on_random_shapes() {
    let mut draws = SizeDraws::new(7);
    let mut draw = |bound: u64| draws.next(bound);
    // [5, 37, 24]: 185 rows, twelve parallel blocks of `BLOCK_ROWS`, the last one partial.
    let mut shapes = vec![[1, 1, 1], [1, 1, 64], [3, 1, 96], [2, 5, 1], [5, 37, 24]];
    shapes.extend((0..8).map(|_| [draw(4), draw(9), draw(130)]));
    for (seed, shape) in shapes.into_iter().enumerate() {
        check::<NoCheckpointing>(shape, seed as u64);
    }
}

#[test]
fn balanced_checkpointing_takes_the_fused_node_too() {
    check::<BalancedCheckpointing>([2, 7, 48], 11);
}

#[test]
fn inference_forward_equals_the_decomposed_ops() {
    let device = Default::default();
    let shape = [6, 40];
    let x = Tensor::<Flex, 2>::from_data(TensorData::new(values(240, 3, 2.0), shape), &device);
    let weight = Tensor::from_data(TensorData::new(values(40, 4, 2.0), [40]), &device);
    let norm = RmsNorm::<Flex>::from_weight(weight, 1e-6);
    assert!(fused_rms_norm(&x, &norm.weight.val(), norm.eps).is_some());
    let fused = fused_rms_norm(&x, &norm.weight.val(), norm.eps).expect("fused");
    let error = relative_error(&host(fused), &host(norm.decomposed(x)));
    assert!(error <= TOLERANCE, "relative error {error}");
}
