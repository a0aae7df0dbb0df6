//! The fused rotary embedding ([`crate::rotary_fused`]) and attention
//! ([`crate::attention_fused`]) against the decomposed burn ops they replace, differentiated by
//! burn-autodiff: values and the gradients of `L = Σ y ⊙ c` (random `c`) on random shapes with
//! grouped-query and multi-head attention, left- and right-padded rows (fully masked query rows
//! included), length 1; then whole models (`Qwen2ForCausalLm`, Qwen2 and Qwen3 layouts) with
//! [`with_decomposed_attention`] as the reference, the bit-identity of plain and autodiff
//! forwards, and the independence of the thread count. Error measure:
//! `max |fused − reference| / max |reference|` per tensor, ≤ 1e-5.

use burn::backend::autodiff::checkpoint::strategy::{
    BalancedCheckpointing, CheckpointStrategy, NoCheckpointing,
};
use burn::backend::{Autodiff, Flex};
use burn::module::{AutodiffModule, Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{activation::softmax, backend::Backend, Int, Tensor, TensorData};

use crate::attention::with_decomposed_attention;
use crate::attention_fused::fused_attention;
use crate::fused_test_support::{host, relative_error, tensor, values, SizeDraws};
use crate::rotary_fused::fused_rotary;
use crate::{CausalLm, Qwen2Config, Qwen2ForCausalLm, RotaryEmbedding, TokenBatch};

const TOLERANCE: f32 = 1e-5;
const MASKED: f32 = -1e30;

fn assert_close(name: &str, got: &[f32], want: &[f32], context: &str) {
    let error = relative_error(got, want);
    assert!(
        error <= TOLERANCE,
        "{name} {context}: relative error {error}"
    );
}

/// A row's key mask: `left` pads, then ones, then `right` pads (`t` keys).
fn padded(t: usize, left: usize, right: usize) -> Vec<i64> {
    (0..t)
        .map(|k| i64::from(k >= left && k + right < t))
        .collect()
}

/// `[batch, 1, n, t]` as the model builds it: query `q` (absolute `t − n + q`) sees key `k` iff
/// `k ≤ t − n + q` and the key is not padding.
fn mask_bias(rows: &[Vec<i64>], n: usize) -> Vec<f32> {
    let t = rows[0].len();
    rows.iter()
        .flat_map(|row| {
            (0..n).flat_map(move |q| {
                (0..t).map(move |k| {
                    if k <= t - n + q && row[k] == 1 {
                        0.0
                    } else {
                        MASKED
                    }
                })
            })
        })
        .collect()
}

/// One case of the op-level tests.
#[derive(Debug, Clone, Copy)]
struct Case {
    batch: usize,
    n: usize,
    t: usize,
    heads: usize,
    kv_heads: usize,
    d: usize,
    seed: u64,
}

impl Case {
    /// Key masks: row 0 left-padded, row 1 right-padded, others both or neither.
    fn rows(&self) -> Vec<Vec<i64>> {
        (0..self.batch)
            .map(|b| {
                let pad = (self.seed as usize + b) % self.t.max(1);
                match b % 4 {
                    0 => padded(self.t, pad, 0),
                    1 => padded(self.t, 0, pad),
                    2 => padded(self.t, pad / 2, pad / 3),
                    _ => padded(self.t, 0, 0),
                }
            })
            .collect()
    }
}

/// The decomposed reference: head transposes, `repeat_kv`, explicit scores and softmax.
fn decomposed_attention<B: Backend>(
    case: &Case,
    q: Tensor<B, 3>,
    k: Tensor<B, 3>,
    v: Tensor<B, 3>,
    mask: Tensor<B, 4>,
) -> Tensor<B, 3> {
    let Case {
        batch,
        n,
        t,
        heads,
        kv_heads,
        d,
        ..
    } = *case;
    let groups = heads / kv_heads;
    let split = |x: Tensor<B, 3>, rows, h| x.reshape([batch, rows, h, d]).swap_dims(1, 2);
    let repeat = |x: Tensor<B, 4>| {
        x.unsqueeze_dim::<5>(2)
            .expand([batch, kv_heads, groups, t, d])
            .reshape([batch, heads, t, d])
    };
    let q = split(q, n, heads);
    let k = repeat(split(k, t, kv_heads));
    let v = repeat(split(v, t, kv_heads));
    let scores = q
        .matmul(k.swap_dims(2, 3))
        .mul_scalar((d as f64).powf(-0.5))
        .add(mask);
    softmax(scores, 3)
        .matmul(v)
        .swap_dims(1, 2)
        .reshape([batch, n, heads * d])
}

/// `(o, dq, dk, dv)` on `Autodiff<Flex, C>`, fused or decomposed.
fn run_attention<C: CheckpointStrategy>(case: &Case, fused: bool) -> [Vec<f32>; 4] {
    type Ad<C> = Autodiff<Flex, C>;
    let Case {
        batch,
        n,
        t,
        heads,
        kv_heads,
        d,
        seed,
    } = *case;
    let q = tensor::<Ad<C>, 3>(
        values(batch * n * heads * d, seed, 2.0),
        [batch, n, heads * d],
    )
    .require_grad();
    let k = tensor::<Ad<C>, 3>(
        values(batch * t * kv_heads * d, seed + 1, 2.0),
        [batch, t, kv_heads * d],
    )
    .require_grad();
    let v = tensor::<Ad<C>, 3>(
        values(batch * t * kv_heads * d, seed + 2, 2.0),
        [batch, t, kv_heads * d],
    )
    .require_grad();
    let mask = tensor::<Ad<C>, 4>(mask_bias(&case.rows(), n), [batch, 1, n, t]);
    let o = if fused {
        fused_attention(&q, &k, &v, &mask, heads, kv_heads).expect("fused attention applies")
    } else {
        decomposed_attention(case, q.clone(), k.clone(), v.clone(), mask)
    };
    let c = tensor::<Ad<C>, 3>(
        values(batch * n * heads * d, seed + 3, 2.0),
        [batch, n, heads * d],
    );
    let grads = o.clone().mul(c).sum().backward();
    let grad = |x: &Tensor<Ad<C>, 3>| host(x.grad(&grads).expect("gradient"));
    [host(o), grad(&q), grad(&k), grad(&v)]
}

fn check_attention<C: CheckpointStrategy>(case: Case) {
    let fused = run_attention::<C>(&case, true);
    let reference = run_attention::<C>(&case, false);
    for (name, (got, want)) in ["o", "dq", "dk", "dv"]
        .iter()
        .zip(fused.iter().zip(&reference))
    {
        assert_close(name, got, want, &format!("{case:?}"));
    }
}

#[test]
fn attention_equals_the_decomposed_ops_on_random_shapes() {
    let mut draws = SizeDraws::new(5);
    let mut draw = |bound: u64| draws.next(bound);
    let mut cases = vec![
        // length 1; MHA; GQA 2 and 4 heads per kv head; one key with 3 queries is not causal,
        // so queries see keys `≤ t − n + q` as after a cache.
        (1, 1, 1, 1, 1, 4),
        (2, 1, 1, 4, 2, 8),
        (4, 9, 9, 4, 4, 16),
        (4, 12, 12, 8, 2, 8),
        (3, 5, 11, 6, 3, 12),
    ];
    for _ in 0..8 {
        let kv_heads = draw(3);
        let heads = kv_heads * draw(3);
        let n = draw(20);
        cases.push((draw(5), n, n + draw(4) - 1, heads, kv_heads, 2 * draw(20)));
    }
    for (seed, (batch, n, t, heads, kv_heads, d)) in cases.into_iter().enumerate() {
        check_attention::<NoCheckpointing>(Case {
            batch,
            n,
            t,
            heads,
            kv_heads,
            d,
            seed: seed as u64,
        });
    }
}

#[test]
fn attention_under_balanced_checkpointing_takes_the_fused_node_too() {
    check_attention::<BalancedCheckpointing>(Case {
        batch: 4,
        n: 7,
        t: 7,
        heads: 4,
        kv_heads: 2,
        d: 16,
        seed: 21,
    });
}

#[test]
fn fully_masked_rows_are_uniform_as_in_the_decomposed_softmax() {
    // Row 0 is all padding: every query sees no key.
    let case = Case {
        batch: 1,
        n: 4,
        t: 4,
        heads: 2,
        kv_heads: 1,
        d: 8,
        seed: 3,
    };
    let q = tensor::<Flex, 3>(values(64, 1, 2.0), [1, 4, 16]);
    let k = tensor::<Flex, 3>(values(32, 2, 2.0), [1, 4, 8]);
    let v = tensor::<Flex, 3>(values(32, 3, 2.0), [1, 4, 8]);
    let mask = tensor::<Flex, 4>(vec![MASKED; 16], [1, 1, 4, 4]);
    let fused = fused_attention(&q, &k, &v, &mask, 2, 1).expect("fused attention applies");
    let reference = decomposed_attention(&case, q, k, v.clone(), mask);
    assert_close("o", &host(fused.clone()), &host(reference), "all masked");
    // The uniform mix of the values, for every query and head.
    let mean = host(v.mean_dim(1));
    for row in host(fused).chunks(8) {
        assert_close("o", row, &mean, "uniform");
    }
}

#[test]
fn attention_inference_forward_equals_the_decomposed_ops() {
    let case = Case {
        batch: 3,
        n: 10,
        t: 10,
        heads: 4,
        kv_heads: 2,
        d: 8,
        seed: 9,
    };
    let q = tensor::<Flex, 3>(values(3 * 10 * 32, 1, 2.0), [3, 10, 32]);
    let k = tensor::<Flex, 3>(values(3 * 10 * 16, 2, 2.0), [3, 10, 16]);
    let v = tensor::<Flex, 3>(values(3 * 10 * 16, 3, 2.0), [3, 10, 16]);
    let mask = tensor::<Flex, 4>(mask_bias(&case.rows(), 10), [3, 1, 10, 10]);
    let fused = fused_attention(&q, &k, &v, &mask, 4, 2).expect("fused attention applies");
    let reference = decomposed_attention(&case, q, k, v, mask);
    assert_close("o", &host(fused), &host(reference), "inference");
}

#[test]
fn attention_rejects_inconsistent_shapes() {
    let q = tensor::<Flex, 3>(values(24, 1, 2.0), [1, 2, 12]);
    let k = tensor::<Flex, 3>(values(12, 2, 2.0), [1, 2, 6]);
    let mask = tensor::<Flex, 4>(vec![0.0; 4], [1, 1, 2, 2]);
    // 12 is not a multiple of 5 heads; 4 heads over 3 kv heads; k narrower than 2 kv heads of 3.
    assert!(fused_attention(&q, &k, &k, &mask, 5, 1).is_none());
    assert!(fused_attention(&q, &k, &k, &mask, 4, 3).is_none());
    assert!(fused_attention(&q, &k, &k, &mask, 4, 4).is_none());
    assert!(fused_attention(&q, &k, &k, &mask, 4, 2).is_some());
}

/// `(y, dx)` of the rotary embedding in the `[batch, n, heads, d]` layout, fused or through
/// [`RotaryEmbedding::apply`] on the head-major layout.
fn run_rotary<C: CheckpointStrategy>(shape: [usize; 4], seed: u64, fused: bool) -> [Vec<f32>; 2] {
    type Ad<C> = Autodiff<Flex, C>;
    let [batch, n, heads, d] = shape;
    let size = batch * n * heads * d;
    let x = tensor::<Ad<C>, 4>(values(size, seed, 2.0), shape).require_grad();
    let positions: Vec<i64> = (0..batch * n).map(|i| (i as i64 * 7) % 50).collect();
    let positions = Tensor::<Ad<C>, 2, Int>::from_data(
        TensorData::new(positions, [batch, n]),
        &Default::default(),
    );
    let (cos, sin) = RotaryEmbedding::new(d, 10_000.0).cos_sin(positions);
    let y = if fused {
        fused_rotary(&x, &cos, &sin).expect("fused rotary applies")
    } else {
        RotaryEmbedding::apply(x.clone().swap_dims(1, 2), &cos, &sin).swap_dims(1, 2)
    };
    let c = tensor::<Ad<C>, 4>(values(size, seed + 1, 2.0), shape);
    let grads = y.clone().mul(c).sum().backward();
    [host(y), host(x.grad(&grads).expect("gradient"))]
}

#[test]
fn rotary_equals_the_decomposed_ops() {
    for (seed, shape) in [[1, 1, 1, 2], [2, 5, 3, 8], [3, 17, 4, 32], [1, 40, 2, 64]]
        .into_iter()
        .enumerate()
    {
        let [y, d_x] = run_rotary::<NoCheckpointing>(shape, seed as u64, true);
        let [y_ref, d_x_ref] = run_rotary::<NoCheckpointing>(shape, seed as u64, false);
        // The forward rounds as the decomposed ops do.
        assert_eq!(y, y_ref, "y at {shape:?}");
        assert_close("dx", &d_x, &d_x_ref, &format!("{shape:?}"));
    }
    let [y, d_x] = run_rotary::<BalancedCheckpointing>([2, 6, 2, 16], 9, true);
    let [y_ref, d_x_ref] = run_rotary::<BalancedCheckpointing>([2, 6, 2, 16], 9, false);
    assert_eq!(y, y_ref);
    assert_close("dx", &d_x, &d_x_ref, "balanced");
}

#[test]
fn rotary_declines_odd_widths_and_mismatched_tables() {
    let x = tensor::<Flex, 4>(values(6, 1, 2.0), [1, 2, 1, 3]);
    let table = tensor::<Flex, 4>(values(6, 2, 2.0), [1, 1, 2, 3]);
    assert!(fused_rotary(&x, &table, &table).is_none());
    let x = tensor::<Flex, 4>(values(8, 1, 2.0), [1, 2, 1, 4]);
    let table = tensor::<Flex, 4>(values(4, 2, 2.0), [1, 1, 1, 4]);
    assert!(fused_rotary(&x, &table, &table).is_none());
}

/// A tiny model with weights large enough for peaked attention.
fn model_config(qk_norm: bool, kv_heads: usize) -> Qwen2Config {
    Qwen2Config {
        initializer_range: 0.15,
        num_key_value_heads: kv_heads,
        qk_norm,
        // Qwen3: per-head q/k norms, no projection biases.
        qkv_bias: !qk_norm,
        family: if qk_norm {
            crate::ModelFamily::Qwen3
        } else {
            crate::ModelFamily::Qwen2
        },
        ..Qwen2Config::tiny()
    }
}

/// Rows of 12 tokens: left-padded by 5, right-padded by 3, unpadded, both.
fn token_batch<B: Backend>(vocab: usize) -> TokenBatch<B> {
    let t = 12;
    let rows = [
        padded(t, 5, 0),
        padded(t, 0, 3),
        padded(t, 0, 0),
        padded(t, 2, 2),
    ];
    let mask: Vec<i64> = rows.concat();
    let ids: Vec<i64> = (0..mask.len())
        .map(|i| ((i * 37 + 11) % vocab) as i64)
        .collect();
    let device = Default::default();
    TokenBatch {
        input_ids: Tensor::from_data(TensorData::new(ids, [4, t]), &device),
        attention_mask: Tensor::from_data(TensorData::new(mask, [4, t]), &device),
    }
}

/// Every parameter's gradient, in visiting order.
fn parameter_grads<B: burn::tensor::backend::AutodiffBackend>(
    model: &Qwen2ForCausalLm<B>,
    grads: GradientsParams,
) -> Vec<Vec<f32>> {
    struct Collect<B: burn::tensor::backend::AutodiffBackend>(
        GradientsParams,
        Vec<Vec<f32>>,
        std::marker::PhantomData<B>,
    );
    impl<B: burn::tensor::backend::AutodiffBackend> ModuleVisitor<B> for Collect<B> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            let grad = self.0.get::<B::InnerBackend, D>(param.id);
            self.1.push(grad.map_or_else(Vec::new, host));
        }
    }
    let mut collect = Collect::<B>(grads, Vec::new(), std::marker::PhantomData);
    model.visit(&mut collect);
    collect.1
}

/// `(logits, parameter gradients)` of `L = Σ logits ⊙ c` on `Autodiff<Flex>`.
/// The model is built once by the caller: the backend's seed is global, so a test running
/// beside this one could draw from it between a seed and an init.
fn run_model(
    config: &Qwen2Config,
    model: &Qwen2ForCausalLm<Autodiff<Flex>>,
) -> (Vec<f32>, Vec<Vec<f32>>) {
    type Ad = Autodiff<Flex>;
    let batch = token_batch::<Ad>(config.vocab_size);
    let logits = model.forward(&batch);
    let dims = logits.dims();
    let c = tensor::<Ad, 3>(values(dims.iter().product(), 5, 2.0), dims);
    let grads = logits.clone().mul(c).sum().backward();
    let grads = GradientsParams::from_grads(grads, model);
    (host(logits), parameter_grads(model, grads))
}

#[test]
fn whole_models_equal_the_decomposed_attention_in_value_and_parameter_gradients() {
    for (qk_norm, kv_heads) in [(false, 2), (true, 2), (false, 4)] {
        let config = model_config(qk_norm, kv_heads);
        let device = Default::default();
        Autodiff::<Flex>::seed(&device, 17);
        let model = config.init::<Autodiff<Flex>>(&device);
        let (logits, grads) = run_model(&config, &model);
        let (logits_ref, grads_ref) = with_decomposed_attention(|| run_model(&config, &model));
        let context = format!("qk_norm {qk_norm}, kv heads {kv_heads}");
        assert_close("logits", &logits, &logits_ref, &context);
        assert_eq!(grads.len(), grads_ref.len());
        for (i, (got, want)) in grads.iter().zip(&grads_ref).enumerate() {
            assert!(!want.is_empty(), "parameter {i} has a gradient");
            assert_close(&format!("parameter {i}"), got, want, &context);
        }
    }
}

#[test]
fn plain_and_autodiff_forwards_are_bit_identical() {
    if !crate::fused::fused_kernels_enabled() {
        // A property of the fused kernels: burn's decomposed plain and autodiff forwards
        // round differently.
        return;
    }
    let config = model_config(false, 2);
    let device = Default::default();
    Flex::seed(&device, 3);
    let model = config.init::<Flex>(&device);
    let batch = token_batch::<Flex>(config.vocab_size);
    let plain = host(model.forward(&batch));
    let reference = host(with_decomposed_attention(|| model.forward(&batch)));
    assert_close("logits", &plain, &reference, "plain Flex");
    type Ad = Autodiff<Flex>;
    let tracked_model = <Qwen2ForCausalLm<Ad> as AutodiffModule<Ad>>::from_inner(model.clone());
    let tracked_batch = token_batch::<Ad>(config.vocab_size);
    // Untracked (no parameter requires a gradient) and tracked autodiff forwards.
    let untracked = host(tracked_model.forward(&tracked_batch));
    let tracked_model = tracked_model.map(&mut RequireGrad);
    let tracked = host(tracked_model.forward(&tracked_batch));
    assert_eq!(plain, untracked);
    assert_eq!(plain, tracked);
}

/// Marks every float parameter as requiring a gradient.
struct RequireGrad;

impl burn::module::ModuleMapper<Autodiff<Flex>> for RequireGrad {
    fn map_float<const D: usize>(
        &mut self,
        param: Param<Tensor<Autodiff<Flex>, D>>,
    ) -> Param<Tensor<Autodiff<Flex>, D>> {
        param.map(|tensor| tensor.require_grad())
    }
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let case = Case {
        batch: 3,
        n: 21,
        t: 21,
        heads: 4,
        kv_heads: 2,
        d: 16,
        seed: 4,
    };
    let on = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("thread pool")
            .install(|| {
                let [y, d_x] = run_rotary::<NoCheckpointing>([3, 21, 4, 16], 4, true);
                let [o, d_q, d_k, d_v] = run_attention::<NoCheckpointing>(&case, true);
                [y, d_x, o, d_q, d_k, d_v]
            })
    };
    assert!(on(1) == on(3), "results differ between 1 and 3 threads");
}

/// Logits of a prefill of 8 positions and then one position per step up to 12, through a KV
/// cache; `prefill_decomposed` runs the prefill on the decomposed attention (the steps follow
/// the thread's setting), so the cache changes layout on the way. Also whether the cache ended
/// in the fused path's layout.
fn decode(model: &Qwen2ForCausalLm<Flex>, prefill_decomposed: bool) -> (Vec<f32>, bool) {
    let batch = token_batch::<Flex>(model.config.vocab_size);
    let [rows, t] = batch.input_ids.dims();
    let mut cache = model.new_cache(rows, t);
    let mut step = |from: usize, to: usize| {
        let ids = batch.input_ids.clone().slice([0..rows, from..to]);
        let mask = batch.attention_mask.clone().slice([0..rows, 0..to]);
        host(model.forward_step(ids, mask, &mut cache))
    };
    let mut logits = if prefill_decomposed {
        with_decomposed_attention(|| step(0, 8))
    } else {
        step(0, 8)
    };
    for position in 8..t {
        logits.extend(step(position, position + 1));
    }
    (logits, cache.layers[0].is_rows_layout())
}

#[test]
fn cached_decoding_equals_the_decomposed_attention() {
    for (qk_norm, kv_heads) in [(false, 2), (true, 2), (false, 4)] {
        let config = model_config(qk_norm, kv_heads);
        let device = Default::default();
        Flex::seed(&device, 23);
        let model = config.init::<Flex>(&device);
        let (reference, reference_rows) = with_decomposed_attention(|| decode(&model, false));
        assert!(!reference_rows);
        let context = format!("qk_norm {qk_norm}, kv heads {kv_heads}");
        let (fused, fused_rows) = decode(&model, false);
        assert!(fused_rows, "the fused path filled the cache");
        assert_close("fused cache", &fused, &reference, &context);
        // A cache filled by the decomposed path, continued by the fused one.
        let (converted, converted_rows) = decode(&model, true);
        assert!(converted_rows);
        assert_close("converted cache", &converted, &reference, &context);
    }
}
