//! The fused SwiGLU middle ([`crate::swiglu_fused`]) against the decomposed burn ops it
//! replaces ([`Qwen2Mlp::swiglu_decomposed`], differentiated by burn-autodiff): value, `∂L/∂a`
//! and `∂L/∂b` for `L = Σ h ⊙ c` with random `c`, on random shapes including length 1, and
//! the whole MLP block's gradients. Error measure: `max |fused − reference| / max |reference|`
//! over each tensor, ≤ 1e-5.

use burn::backend::autodiff::checkpoint::strategy::{
    BalancedCheckpointing, CheckpointStrategy, NoCheckpointing,
};
use burn::backend::{Autodiff, Flex};

use crate::fused_test_support::{host, random, relative_error, SizeDraws};
use crate::mlp::Qwen2Mlp;
use crate::swiglu_fused::fused_swiglu;
use crate::Qwen2Config;

const TOLERANCE: f32 = 1e-5;

/// `(h, ∂L/∂a, ∂L/∂b)` on `Autodiff<Flex, C>`, fused or decomposed. Gate values span
/// `[-12, 12)`, both tails of the sigmoid.
fn run<C: CheckpointStrategy>(
    shape: [usize; 3],
    seed: u64,
    fused: bool,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    type Ad<C> = Autodiff<Flex, C>;
    let a = random::<Ad<C>, 3>(shape, seed, 12.0).require_grad();
    let b = random::<Ad<C>, 3>(shape, seed + 1, 2.0).require_grad();
    let h = if fused {
        fused_swiglu(&a, &b).expect("the CPU backend takes the fused op")
    } else {
        Qwen2Mlp::swiglu_decomposed(a.clone(), b.clone())
    };
    let (a_before, b_before) = (host(a.clone()), host(b.clone()));
    let c = random::<Ad<C>, 3>(shape, seed + 2, 1.0);
    let grads = h.clone().mul(c).sum().backward();
    let d_a = a.grad(&grads).expect("∂L/∂a");
    let d_b = b.grad(&grads).expect("∂L/∂b");
    // The in-place backward leaves inputs that something else still holds alone.
    assert_eq!((host(a), host(b)), (a_before, b_before));
    (host(h), host(d_a), host(d_b))
}

fn check<C: CheckpointStrategy>(shape: [usize; 3], seed: u64) {
    let (h, d_a, d_b) = run::<C>(shape, seed, true);
    let (h_ref, d_a_ref, d_b_ref) = run::<C>(shape, seed, false);
    for (name, got, want) in [
        ("h", &h, &h_ref),
        ("da", &d_a, &d_a_ref),
        ("db", &d_b, &d_b_ref),
    ] {
        let error = relative_error(got, want);
        assert!(
            error <= TOLERANCE,
            "{name} at {shape:?}: relative error {error}"
        );
    }
}

#[test]
fn value_and_gradients_equal_the_decomposed_ops_on_random_shapes() {
    let mut draws = SizeDraws::new(5);
    let mut draw = |bound: u64| draws.next(bound);
    let mut shapes = vec![[1, 1, 1], [1, 1, 64], [3, 1, 96], [2, 130, 131]];
    shapes.extend((0..8).map(|_| [draw(4), draw(40), draw(300)]));
    for (seed, shape) in shapes.into_iter().enumerate() {
        check::<NoCheckpointing>(shape, seed as u64);
    }
}

#[test]
fn balanced_checkpointing_takes_the_fused_node_too() {
    check::<BalancedCheckpointing>([2, 7, 48], 11);
}

#[test]
fn inference_forward_equals_the_decomposed_ops_and_the_untracked_autodiff_one() {
    let shape = [3, 17, 70];
    let (a, b) = (
        random::<Flex, 3>(shape, 3, 12.0),
        random::<Flex, 3>(shape, 4, 2.0),
    );
    let fused = host(fused_swiglu(&a, &b).expect("the CPU backend takes the fused op"));
    let reference = host(Qwen2Mlp::swiglu_decomposed(a, b));
    let error = relative_error(&fused, &reference);
    assert!(error <= TOLERANCE, "relative error {error}");
    // Bit-identical under autodiff, tracked or not (PRIME's step-1 rewards are exactly 0).
    type Ad = Autodiff<Flex>;
    let (a, b) = (
        random::<Ad, 3>(shape, 3, 12.0),
        random::<Ad, 3>(shape, 4, 2.0),
    );
    assert_eq!(host(fused_swiglu(&a, &b).unwrap()), fused);
    let (a, b) = (a.require_grad(), b.require_grad());
    assert_eq!(host(fused_swiglu(&a, &b).unwrap()), fused);
}

#[test]
fn other_shapes_fall_back_to_the_decomposed_ops() {
    let (a, b) = (
        random::<Flex, 3>([2, 3, 4], 1, 1.0),
        random::<Flex, 3>([2, 3, 1], 2, 1.0),
    );
    assert!(fused_swiglu(&a, &b).is_none());
}

/// The MLP block through [`Qwen2Mlp::forward`] (fused middle) and through the decomposed
/// middle: output and every projection's weight gradient.
#[test]
fn the_mlp_block_takes_the_fused_middle_with_the_same_gradients() {
    type Ad = Autodiff<Flex>;
    let config = Qwen2Config {
        hidden_size: 24,
        intermediate_size: 40,
        ..Qwen2Config::tiny()
    };
    let device = Default::default();
    let mlp = Qwen2Mlp::<Ad>::init(&config, &device);
    let x = random::<Ad, 3>([2, 5, 24], 9, 3.0);
    let grads_of = |fused: bool| {
        let (gate, up) = (
            mlp.gate_proj.forward(x.clone()),
            mlp.up_proj.forward(x.clone()),
        );
        let middle = if fused {
            fused_swiglu(&gate, &up).unwrap()
        } else {
            Qwen2Mlp::swiglu_decomposed(gate, up)
        };
        let y = mlp.down_proj.forward(middle);
        let grads = y.clone().powi_scalar(2).sum().backward();
        let mut all = vec![host(y)];
        for (_, layer) in mlp.projections() {
            all.push(host(layer.weight.val().grad(&grads).unwrap()));
        }
        all
    };
    for (got, want) in grads_of(true).iter().zip(grads_of(false)) {
        let error = relative_error(got, &want);
        assert!(error <= TOLERANCE, "relative error {error}");
    }
}
