//! [`FusedAdamW`] against burn's `AdamW` with the same hyper-parameters: several steps on
//! random parameters and gradients (ranks 1–3, sizes across the parallel block, with and
//! without weight decay, a learning rate that changes every step), parameters and moments equal
//! within 1e-6 relative (`max |fused − burn| / max |burn|`); the same through burn's optimizer
//! adaptor on a whole model; records interchangeable with burn's AdamW ones; a shared parameter
//! buffer is left untouched.

use burn::backend::{Autodiff, Flex};
use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{AdamW, AdamWState, GradientsParams, Optimizer, SimpleOptimizer};
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder, Recorder};
use burn::tensor::{Int, Tensor};

use crate::fused_test_support::{host, random, relative_error};
use crate::optim::{adamw, FusedAdamW};
use crate::{CausalLm, Qwen2Config, Qwen2ForCausalLm, TokenBatch};

const TOLERANCE: f32 = 1e-6;

/// Parameter, first and second moment after `steps` steps of `optimizer`.
fn run<O: SimpleOptimizer<Flex, State<D> = AdamWState<Flex, D>>, const D: usize>(
    optimizer: &O,
    dims: [usize; D],
    steps: usize,
    seed: u64,
) -> [Vec<f32>; 3] {
    let mut param = random(dims, seed, 1.0);
    let mut state = None;
    for step in 0..steps {
        // Gradients of very different sizes (1e-6 … 1) exercise ε and the bias corrections.
        let scale = 10f32.powi(-(step as i32 % 7));
        let grad = random(dims, seed + 1 + step as u64, scale);
        let lr = 1e-3 * (1.0 + step as f64);
        (param, state) = optimizer.step(lr, param, grad, state);
    }
    let state = state.expect("a state after a step").momentum;
    assert_eq!(state.time, steps);
    [host(param), host(state.moment_1), host(state.moment_2)]
}

fn check<const D: usize>(dims: [usize; D], weight_decay: f32, seed: u64) {
    let config = adamw(weight_decay);
    let fused = config.build();
    let burn: AdamW = config.burn_config().build();
    let got = run(&fused, dims, 9, seed);
    let want = run(&burn, dims, 9, seed);
    for (name, got, want) in ["param", "m", "v"]
        .into_iter()
        .zip(&got)
        .zip(&want)
        .map(|((n, g), w)| (n, g, w))
    {
        let error = relative_error(got, want);
        assert!(
            error <= TOLERANCE,
            "{name} at {dims:?}, λ {weight_decay}: relative error {error}"
        );
    }
}

#[test]
fn steps_equal_burns_adamw_on_random_tensors() {
    check([1], 0.0, 1);
    check([7], 0.1, 2);
    check([33, 65], 0.0, 3);
    check([40_000], 0.01, 4);
    check([3, 129, 100], 0.1, 5);
}

#[test]
fn a_shared_parameter_buffer_is_left_untouched() {
    let param = random::<Flex, 1>([300], 7, 1.0);
    let kept = param.clone();
    let before = host(kept.clone());
    let fused: FusedAdamW = adamw(0.1).build();
    let (after, _) = fused.step(1e-2, param, random([300], 8, 1.0), None);
    assert_eq!(host(kept), before);
    assert_ne!(host(after), before);
}

type Ad = Autodiff<Flex>;

fn tiny_model() -> Qwen2ForCausalLm<Ad> {
    let config = Qwen2Config {
        vocab_size: 32,
        hidden_size: 16,
        intermediate_size: 32,
        num_attention_heads: 2,
        num_key_value_heads: 1,
        head_dim: 8,
        num_hidden_layers: 2,
        ..Qwen2Config::tiny()
    };
    config.init::<Ad>(&Default::default())
}

/// The gradients of the mean logit on a batch that depends on `step`.
fn grads(model: &Qwen2ForCausalLm<Ad>, step: i64) -> GradientsParams {
    let device = Default::default();
    let ids = Tensor::<Ad, 2, Int>::from_ints([[1, 2, 3, 4]], &device).add_scalar(step);
    let batch = TokenBatch {
        attention_mask: ids.ones_like(),
        input_ids: ids,
    };
    GradientsParams::from_grads(model.forward(&batch).mean().backward(), model)
}

/// All weights of `model`, concatenated in visiting order.
fn weights(model: &Qwen2ForCausalLm<Ad>) -> Vec<f32> {
    struct Collect(Vec<f32>);
    impl ModuleVisitor<Ad> for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<Ad, D>>) {
            self.0.extend(host(param.val()));
        }
    }
    let mut collect = Collect(Vec::new());
    model.visit(&mut collect);
    collect.0
}

#[test]
fn a_model_steps_like_with_burns_adamw_and_the_records_interchange() {
    let start = tiny_model();
    let mut fused = adamw(0.1).init::<Ad, Qwen2ForCausalLm<Ad>>();
    let mut burn = adamw(0.1).burn_config().init::<Ad, Qwen2ForCausalLm<Ad>>();
    let (mut a, mut b) = (start.clone(), start);
    for step in 0..3 {
        let (grads_a, grads_b) = (grads(&a, step), grads(&b, step));
        a = fused.step(1e-2, a, grads_a);
        b = burn.step(1e-2, b, grads_b);
    }
    let error = relative_error(&weights(&a), &weights(&b));
    assert!(error <= TOLERANCE, "relative error {error}");

    // burn's AdamW record, written and read back as the fused optimizer's (and the reverse):
    // the same file format, so checkpoints of either kind load.
    let dir = std::env::temp_dir().join(format!("prime-adamw-fused-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let recorder = NamedMpkFileRecorder::<FullPrecisionSettings>::new();
    let device = Default::default();
    recorder.record(burn.to_record(), dir.join("burn")).unwrap();
    recorder
        .record(fused.to_record(), dir.join("fused"))
        .unwrap();
    let mut fused_from_burn = adamw(0.1)
        .init::<Ad, Qwen2ForCausalLm<Ad>>()
        .load_record(recorder.load(dir.join("burn"), &device).unwrap());
    let mut burn_from_fused = adamw(0.1)
        .burn_config()
        .init::<Ad, Qwen2ForCausalLm<Ad>>()
        .load_record(recorder.load(dir.join("fused"), &device).unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
    let (grads_a, grads_b) = (grads(&a, 3), grads(&b, 3));
    let a = fused_from_burn.step(1e-2, a, grads_a);
    let b = burn_from_fused.step(1e-2, b, grads_b);
    let error = relative_error(&weights(&a), &weights(&b));
    assert!(error <= TOLERANCE, "relative error {error}");
}
