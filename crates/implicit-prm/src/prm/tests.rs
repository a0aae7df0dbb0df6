use burn::backend::{Autodiff, Flex};
use burn::module::{AutodiffModule, Module, ModuleMapper, Param};
use burn::optim::GradientsParams;
use burn::tensor::{backend::Backend, Distribution, ElementConversion, Tensor};

use super::*;
use crate::test_model::{ForwardEvent, ForwardLog, Instrumented, TinyLm};
use prime_models::response_scores;

type B = Autodiff<Flex>;
type Inner = Flex;

const VOCAB: usize = 16;

fn device() -> burn::tensor::Device<B> {
    Default::default()
}

fn tiny(seed: u64) -> TinyLm<B> {
    B::seed(&device(), seed);
    TinyLm::new(VOCAB, 8, &device())
}

/// Three groups of two rows; row `i` starts with token `i + 1` (a row tag), responses of
/// different lengths.
fn toy_batch() -> (PrmBatch<B>, OutcomeLabels) {
    let prompts: Vec<Vec<u32>> = (0..6).map(|i| vec![i + 1, 9, 10]).collect();
    let responses = vec![
        vec![3, 4, 5, 2],
        vec![6, 7],
        vec![8, 3, 3],
        vec![4],
        vec![5, 6, 7, 8],
        vec![12, 13, 14],
    ];
    let batch = PrmBatch::from_ids(&prompts, &responses, 0, &device()).unwrap();
    let labels = OutcomeLabels {
        acc: vec![1.0, 0.0, 0.0, 1.0, 0.5, 1.0],
        group_ids: vec![0, 0, 1, 1, 2, 2],
    };
    (batch, labels)
}

fn config(update: UpdateMode) -> PrmConfig {
    PrmConfig {
        update,
        mini_batch_size: 2,
        lr: 1e-2,
        beta: 1.0,
        ..PrmConfig::default()
    }
}

#[test]
fn prm_equal_to_reference_gives_exactly_zero_rewards() {
    let (batch, labels) = toy_batch();
    for update in [UpdateMode::After, UpdateMode::Before, UpdateMode::None] {
        let mut prm = ImplicitPrm::with_frozen_reference(tiny(1), config(update)).unwrap();
        let rewards = prm.token_rewards(&batch).unwrap();
        assert_eq!(rewards.lengths(), vec![4, 2, 3, 1, 4, 3]);
        assert!(rewards.q.iter().flatten().all(|&q| q == 0.0));
        assert!(rewards.token_rewards.iter().flatten().all(|&r| r == 0.0));
        if update == UpdateMode::After {
            // The single forward of mini-batch 0 runs on the autodiff backend before any update.
            let out = prm.step(&batch, &labels).unwrap();
            assert!(out.rewards.q[..2].iter().flatten().all(|&q| q == 0.0));
        }
    }
    // The policy as reference: passing the PRM's own log-probs gives zero too.
    let model = tiny(2);
    let old = response_scores(&model.valid(), &batch.inner().responses, false)
        .unwrap()
        .log_probs;
    let batch = batch.with_reference_log_probs(Tensor::from_inner(old));
    let prm = ImplicitPrm::new(model, PrmReference::Policy, config(UpdateMode::None)).unwrap();
    let rewards = prm.token_rewards(&batch).unwrap();
    assert!(rewards.q.iter().flatten().all(|&q| q == 0.0));
}

#[test]
fn policy_reference_without_log_probs_is_an_error() {
    let (batch, _) = toy_batch();
    let prm = ImplicitPrm::new(tiny(1), PrmReference::Policy, config(UpdateMode::None)).unwrap();
    assert!(matches!(
        prm.token_rewards(&batch),
        Err(PrmError::MissingPolicyLogProbs)
    ));
}

#[test]
fn rewards_are_the_log_ratio_of_two_models() {
    // q computed by hand from the two models' log-probs, then β.
    let (batch, _) = toy_batch();
    let (prm_model, ref_model) = (tiny(3), tiny(4));
    let prm_lp = response_scores(&prm_model.valid(), &batch.inner().responses, false)
        .unwrap()
        .log_probs;
    let ref_lp = response_scores(&ref_model.valid(), &batch.inner().responses, false)
        .unwrap()
        .log_probs;
    let expected = prm_lp.sub(ref_lp).into_data().to_vec::<f32>().unwrap();
    let width = 4;
    let mut cfg = config(UpdateMode::None);
    cfg.beta = 0.25;
    let prm = ImplicitPrm::new(prm_model, PrmReference::Frozen(ref_model.valid()), cfg).unwrap();
    let rewards = prm.token_rewards(&batch).unwrap();
    for (row, q) in rewards.q.iter().enumerate() {
        for (t, &value) in q.iter().enumerate() {
            assert_eq!(value, expected[row * width + t]);
            assert_eq!(rewards.token_rewards[row][t], 0.25 * value);
        }
    }
    assert!(rewards.q.iter().flatten().any(|&q| q != 0.0));
}

/// Adds `scale · direction[k]` to the k-th float parameter.
struct Shift<'a, BB: Backend> {
    directions: &'a [Tensor<BB, 1>],
    scale: f32,
    index: usize,
}

impl<BB: Backend> ModuleMapper<BB> for Shift<'_, BB> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<BB, D>>) -> Param<Tensor<BB, D>> {
        let direction = self.directions[self.index].clone();
        self.index += 1;
        param.map(|t| {
            let shape = t.shape();
            t.add(direction.reshape(shape).mul_scalar(self.scale))
        })
    }
}

#[test]
fn ce_gradient_matches_finite_differences() {
    let (batch, labels) = toy_batch();
    // A large β makes the loss sensitive to the log-ratios, so the f32 finite difference
    // resolves the derivative well above rounding noise.
    let cfg = PrmConfig {
        beta: 3.0,
        ..config(UpdateMode::After)
    };
    let prm = ImplicitPrm::new(tiny(5), PrmReference::Frozen(tiny(6).valid()), cfg).unwrap();
    let dims = batch.dims().unwrap();
    let loss_of = |model: &TinyLm<B>| {
        prm.mini_batch_loss(model, &batch, dims, &labels.acc, None)
            .map(|(loss, q, _)| (loss, q))
            .unwrap()
            .0
    };
    // Random unit-free direction per parameter tensor.
    let mut numels = Vec::new();
    struct Numels<'a>(&'a mut Vec<usize>);
    impl<BB: Backend> burn::module::ModuleVisitor<BB> for Numels<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<BB, D>>) {
            self.0.push(param.val().shape().num_elements());
        }
    }
    prm.model().visit(&mut Numels(&mut numels));
    Inner::seed(&Default::default(), 99);
    let directions: Vec<Tensor<B, 1>> = numels
        .iter()
        .map(|&n| Tensor::random([n], Distribution::Normal(0.0, 1.0), &device()))
        .collect();

    // Analytic directional derivative Σ_p ⟨∇_p L, d_p⟩.
    let loss = loss_of(prm.model());
    let grads = GradientsParams::from_grads(loss.backward(), prm.model());
    struct Dot<'a, BB: Backend> {
        grads: &'a GradientsParams,
        directions: &'a [Tensor<BB, 1>],
        index: usize,
        total: f64,
    }
    impl<BB: burn::tensor::backend::AutodiffBackend> burn::module::ModuleVisitor<BB> for Dot<'_, BB> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<BB, D>>) {
            let grad = self
                .grads
                .get::<BB::InnerBackend, D>(param.id)
                .expect("every parameter has a gradient");
            let d = self.directions[self.index].clone().inner();
            self.index += 1;
            let dot = grad
                .reshape([d.dims()[0]])
                .mul(d)
                .sum()
                .into_scalar()
                .elem::<f64>();
            self.total += dot;
        }
    }
    let mut dot = Dot {
        grads: &grads,
        directions: &directions,
        index: 0,
        total: 0.0,
    };
    prm.model().visit(&mut dot);
    let analytic = dot.total;

    // Central differences in f32 at ε and ε/2, Richardson-extrapolated to cancel the O(ε²) term:
    // truncation O(ε⁴); rounding ~1e-7/ε on a loss of order 1.
    let shifted = |scale: f32| {
        let model = prm.model().clone().map(&mut Shift {
            directions: &directions,
            scale,
            index: 0,
        });
        f64::from(loss_of(&model).into_scalar())
    };
    let central = |eps: f32| (shifted(eps) - shifted(-eps)) / (2.0 * f64::from(eps));
    let eps = 1e-2f32;
    let numeric = (4.0 * central(eps / 2.0) - central(eps)) / 3.0;
    let rel = (analytic - numeric).abs() / analytic.abs().max(1e-6);
    assert!(analytic.abs() > 1e-3, "degenerate direction: {analytic}");
    assert!(
        rel < 5e-3,
        "analytic {analytic} vs numeric {numeric} (rel {rel})"
    );
}

/// Maps each distinct fingerprint of the PRM to its version number in order of appearance.
fn versions(events: &[ForwardEvent], initial: f64) -> Vec<(bool, Vec<i64>, usize)> {
    let mut seen = vec![initial];
    events
        .iter()
        .filter(|e| e.tag == "prm")
        .map(|e| {
            let version = match seen.iter().position(|&f| f == e.fingerprint) {
                Some(v) => v,
                None => {
                    seen.push(e.fingerprint);
                    seen.len() - 1
                }
            };
            (e.autodiff, e.row_tags.clone(), version)
        })
        .collect()
}

fn instrumented(update: UpdateMode) -> (ImplicitPrm<B, Instrumented<B>>, ForwardLog, f64) {
    let log = ForwardLog::default();
    let inner = tiny(7);
    let reference = Instrumented {
        inner: inner.valid(),
        log: log.clone(),
        tag: "ref",
    };
    let model = Instrumented {
        inner,
        log: log.clone(),
        tag: "prm",
    };
    let prm = ImplicitPrm::new(model, PrmReference::Frozen(reference), config(update)).unwrap();
    // Fingerprint of the initial PRM from one logged inference forward.
    let (batch, _) = toy_batch();
    prm.token_rewards(&batch).unwrap();
    let initial = log.take()[0].fingerprint;
    (prm, log, initial)
}

#[test]
fn update_after_scores_mini_batch_k_with_the_prm_after_k_minus_1_steps() {
    let (batch, labels) = toy_batch();
    let (mut prm, log, initial) = instrumented(UpdateMode::After);
    let before = prm.token_rewards(&batch).unwrap();
    log.take();
    let out = prm.step(&batch, &labels).unwrap();
    let events = log.take();
    // Single forward: exactly one training forward per mini-batch, versions 0, 1, 2.
    assert_eq!(
        versions(&events, initial),
        vec![
            (true, vec![1, 2], 0),
            (true, vec![3, 4], 1),
            (true, vec![5, 6], 2)
        ]
    );
    let reference: Vec<_> = events.iter().filter(|e| e.tag == "ref").collect();
    assert_eq!(reference.len(), 3);
    // The frozen reference runs through the PRM's own (autodiff) ops, untracked, and never
    // changes.
    assert!(reference
        .iter()
        .all(|e| e.autodiff && e.fingerprint == initial));
    assert_eq!(out.stats.optimizer_steps, 3);
    // Mini-batch 0 was scored by the initial PRM, mini-batch 2 by a PRM already updated twice.
    assert_eq!(out.rewards.q[..2], before.q[..2]);
    assert_ne!(out.rewards.q[4..], before.q[4..]);
    let after = prm.token_rewards(&batch).unwrap();
    assert_ne!(out.rewards.q[4..], after.q[4..]);
    assert_eq!(out.stats.dpo_acc_after, None);
}

#[test]
fn update_before_trains_on_the_whole_batch_then_scores_it_afresh() {
    let (batch, labels) = toy_batch();
    let (mut prm, log, initial) = instrumented(UpdateMode::Before);
    let out = prm.step(&batch, &labels).unwrap();
    let events = log.take();
    assert_eq!(
        versions(&events, initial),
        vec![
            (true, vec![1, 2], 0),
            (true, vec![3, 4], 1),
            (true, vec![5, 6], 2),
            (false, vec![1, 2], 3),
            (false, vec![3, 4], 3),
            (false, vec![5, 6], 3)
        ]
    );
    assert_eq!(out.rewards, prm.token_rewards(&batch).unwrap());
    assert!(out.stats.dpo_acc_after.is_some());
    assert_eq!(out.stats.optimizer_steps, 3);
}

#[test]
fn update_none_only_scores() {
    let (batch, labels) = toy_batch();
    let (mut prm, log, initial) = instrumented(UpdateMode::None);
    let out = prm.step(&batch, &labels).unwrap();
    let events = log.take();
    assert_eq!(
        versions(&events, initial),
        vec![
            (false, vec![1, 2], 0),
            (false, vec![3, 4], 0),
            (false, vec![5, 6], 0)
        ]
    );
    assert_eq!(out.stats.optimizer_steps, 0);
    assert_eq!(out.stats.loss, None);
    assert_eq!(out.stats.grad_norm, None);
    assert!(out.rewards.q.iter().flatten().all(|&q| q == 0.0));
}

#[test]
fn dpo_loss_runs_and_trains_all_modes() {
    let (batch, labels) = toy_batch();
    for update in [UpdateMode::After, UpdateMode::Before] {
        let cfg = PrmConfig {
            loss: PrmLoss::Dpo,
            ..config(update)
        };
        let mut prm = ImplicitPrm::with_frozen_reference(tiny(8), cfg).unwrap();
        let first = prm.step(&batch, &labels).unwrap();
        assert_eq!(first.stats.optimizer_steps, 3);
        let loss = first.stats.loss.unwrap();
        assert!(loss.is_finite(), "{loss}");
        let mut last = first.stats.loss.unwrap();
        for _ in 0..5 {
            last = prm.step(&batch, &labels).unwrap().stats.loss.unwrap();
        }
        assert!(
            last < first.stats.loss.unwrap(),
            "dpo loss did not fall: {last}"
        );
    }
}

#[test]
fn bad_labels_are_rejected() {
    let (batch, mut labels) = toy_batch();
    let mut prm = ImplicitPrm::with_frozen_reference(tiny(1), config(UpdateMode::After)).unwrap();
    labels.acc[2] = 1.5;
    assert!(matches!(
        prm.step(&batch, &labels),
        Err(PrmError::Labels(_))
    ));
    labels.acc.pop();
    assert!(matches!(
        prm.update(&batch, &labels),
        Err(PrmError::Labels(_))
    ));
}

/// Micro-batches of one row inside mini-batches of three take the same optimizer steps as the
/// whole mini-batch at once (gradients summed with the rows' shares), for both losses.
#[test]
fn micro_batches_take_the_same_steps_as_whole_mini_batches() {
    let (batch, labels) = toy_batch();
    // One model for both runs: the backend's seed is global, and a test beside this one could
    // draw from it between a seed and a second init.
    let model = tiny(7);
    for loss in [PrmLoss::Ce, PrmLoss::Dpo] {
        let run = |micro_batch_size: usize| {
            let config = PrmConfig {
                loss,
                mini_batch_size: 3,
                micro_batch_size,
                ..config(UpdateMode::After)
            };
            let mut prm = ImplicitPrm::with_frozen_reference(model.clone(), config).unwrap();
            let out = prm.step(&batch, &labels).unwrap();
            let rewards: Vec<f32> = prm
                .token_rewards(&batch)
                .unwrap()
                .q
                .into_iter()
                .flatten()
                .collect();
            (out.stats.optimizer_steps, rewards)
        };
        let (whole_steps, whole) = run(0);
        let (micro_steps, micro) = run(1);
        assert_eq!((whole_steps, micro_steps), (2, 2));
        let scale = whole.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
        assert!(scale > 1e-3, "the updates must move the PRM ({scale})");
        for (a, b) in micro.iter().zip(&whole) {
            assert!((a - b).abs() <= 1e-5 * scale, "{loss:?}: {a} vs {b}");
        }
    }
}
