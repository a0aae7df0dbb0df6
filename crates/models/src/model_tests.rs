//! Behavioural tests of the whole model: cache consistency, padding invariance, checkpoint
//! round trips and typed loading errors, sampling.

use std::borrow::Cow;
use std::path::PathBuf;

use burn::backend::Flex;
use burn::tensor::{Int, Tensor, TensorData};
use safetensors::{Dtype, View};

use crate::*;

type B = Flex;

fn tiny_model(seed: u64, tied: bool) -> Qwen2ForCausalLm<B> {
    let device = Default::default();
    <B as burn::tensor::backend::Backend>::seed(&device, seed);
    let mut config = Qwen2Config::tiny();
    config.tie_word_embeddings = tied;
    // Large init so that logits are far from uniform and bugs show.
    config.initializer_range = 0.2;
    config.init::<B>(&device)
}

fn batch(ids: Vec<Vec<i64>>, mask: Vec<Vec<i64>>) -> TokenBatch<B> {
    let device = Default::default();
    let (rows, cols) = (ids.len(), ids[0].len());
    let flat = |m: Vec<Vec<i64>>| TensorData::new(m.concat(), [rows, cols]);
    TokenBatch {
        input_ids: Tensor::<B, 2, Int>::from_data(flat(ids), &device),
        attention_mask: Tensor::<B, 2, Int>::from_data(flat(mask), &device),
    }
}

fn values<const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data().to_vec().unwrap()
}

pub(crate) fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("prime-models-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn cached_steps_match_the_full_forward() {
    let model = tiny_model(1, true);
    let ids = vec![vec![5, 17, 42, 8, 300, 11, 2, 99]];
    let full = values(model.forward(&batch(ids.clone(), vec![vec![1; 8]])));
    let device = Default::default();
    let mut cache = model.new_cache(1, 8);
    let mut stepped = Vec::new();
    // A 3-token chunk, then single tokens.
    for (start, end) in [(0, 3), (3, 4), (4, 5), (5, 6), (6, 7), (7, 8)] {
        let new_ids: Vec<i64> = ids[0][start..end].to_vec();
        let new =
            Tensor::<B, 2, Int>::from_data(TensorData::new(new_ids, [1, end - start]), &device);
        let mask = Tensor::<B, 2, Int>::ones([1, end], &device);
        stepped.extend(values(model.forward_step(new, mask, &mut cache)));
    }
    assert_eq!(cache.len, 8);
    let diff = max_abs_diff(&full, &stepped);
    assert!(diff < 1e-4, "cached vs full logits differ by {diff}");
}

#[test]
fn left_padding_does_not_change_logits() {
    let model = tiny_model(2, false);
    let vocab = model.vocab_size();
    let alone = values(model.forward(&batch(vec![vec![7, 8, 9]], vec![vec![1, 1, 1]])));
    let padded = values(model.forward(&batch(
        vec![vec![0, 0, 7, 8, 9], vec![1, 2, 3, 4, 5]],
        vec![vec![0, 0, 1, 1, 1], vec![1, 1, 1, 1, 1]],
    )));
    assert!(
        padded.iter().all(|x| x.is_finite()),
        "NaN/inf in padded logits"
    );
    let row0_real = &padded[2 * vocab..5 * vocab];
    let diff = max_abs_diff(&alone, row0_real);
    assert!(diff < 1e-4, "padded vs unpadded logits differ by {diff}");
    let full = values(model.forward(&batch(vec![vec![1, 2, 3, 4, 5]], vec![vec![1; 5]])));
    assert!(max_abs_diff(&full, &padded[5 * vocab..]) < 1e-4);
}

#[test]
fn autodiff_forward_matches_the_fused_inference_forward() {
    use burn::module::AutodiffModule;
    type AD = burn::backend::Autodiff<B>;
    let model = tiny_model(15, false);
    let trainable: Qwen2ForCausalLm<AD> = Qwen2ForCausalLm::<AD>::from_inner(model.clone());
    let ids = vec![vec![0, 0, 7, 8, 9, 10], vec![1, 2, 3, 4, 5, 6]];
    let mask = vec![vec![0, 0, 1, 1, 1, 1], vec![1; 6]];
    let device = Default::default();
    let flat = |m: Vec<Vec<i64>>| TensorData::new(m.concat(), [2, 6]);
    let ad_batch = TokenBatch::<AD> {
        input_ids: Tensor::from_data(flat(ids.clone()), &device),
        attention_mask: Tensor::from_data(flat(mask.clone()), &device),
    };
    let fused = values(model.forward(&batch(ids, mask)));
    let explicit: Vec<f32> = trainable.forward(&ad_batch).into_data().to_vec().unwrap();
    let diff = max_abs_diff(&fused, &explicit);
    assert!(diff < 1e-5, "autodiff vs inference logits differ by {diff}");
}

#[test]
fn a_clone_of_a_fresh_model_has_the_same_weights() {
    let model = tiny_model(16, false);
    assert_eq!(model.clone().hf_tensors(), model.hf_tensors());
}

#[test]
fn fully_padded_row_is_finite() {
    let model = tiny_model(3, true);
    let logits = values(model.forward(&batch(vec![vec![0, 0, 0]], vec![vec![0, 0, 0]])));
    assert!(logits.iter().all(|x| x.is_finite()));
}

#[test]
fn log_probs_of_model_are_normalised() {
    let model = tiny_model(4, true);
    let batch = batch(vec![vec![3, 4, 5, 6]], vec![vec![1, 1, 1, 1]]);
    let logits = model.forward(&batch);
    let log_probs = values(token_log_probs(logits.clone(), &batch));
    assert_eq!(log_probs.len(), 3);
    assert!(log_probs.iter().all(|&l| l < 0.0 && l.is_finite()));
    // Σ_v exp(log p(v)) = 1 at each position.
    let probs = values(burn::tensor::activation::softmax(logits, 2).sum_dim(2));
    assert!(probs.iter().all(|p| (p - 1.0).abs() < 1e-5));
    let h = values(entropy(model.forward(&batch), &batch));
    let max_entropy = (model.vocab_size() as f32).ln();
    assert!(h.iter().all(|&h| h > 0.0 && h < max_entropy));
}

#[test]
fn save_load_round_trip_f32_is_exact_and_bf16_is_close() {
    for tied in [true, false] {
        let model = tiny_model(5, tied);
        let batch = batch(vec![vec![1, 50, 400, 7]], vec![vec![1; 4]]);
        let reference = values(model.forward(&batch));
        let dir = temp_dir(&format!("roundtrip-{tied}"));
        save_hf(&model, &dir, SaveDtype::F32).unwrap();
        let config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap())
                .unwrap();
        assert_eq!(config["torch_dtype"], "float32");
        assert_eq!(config["tie_word_embeddings"], tied);
        let loaded = load_hf::<B>(&dir, &Default::default()).unwrap();
        assert_eq!(loaded.hf_tensors(), model.hf_tensors());
        assert_eq!(values(loaded.forward(&batch)), reference);

        save_hf(&model, &dir, SaveDtype::Bf16).unwrap();
        let loaded = load_hf::<B>(&dir, &Default::default()).unwrap();
        assert_eq!(loaded.config().torch_dtype.as_deref(), Some("bfloat16"));
        let diff = max_abs_diff(&values(loaded.forward(&batch)), &reference);
        assert!(diff > 0.0 && diff < 0.1, "bf16 logits differ by {diff}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn saved_tensor_names_follow_hugging_face() {
    let model = tiny_model(6, false);
    let names: Vec<String> = model
        .hf_tensors()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(names.len(), 1 + 2 * 12 + 1 + 1);
    for expected in [
        "model.embed_tokens.weight",
        "model.layers.0.input_layernorm.weight",
        "model.layers.0.self_attn.q_proj.weight",
        "model.layers.0.self_attn.q_proj.bias",
        "model.layers.1.self_attn.k_proj.bias",
        "model.layers.1.self_attn.v_proj.bias",
        "model.layers.1.self_attn.o_proj.weight",
        "model.layers.1.post_attention_layernorm.weight",
        "model.layers.1.mlp.gate_proj.weight",
        "model.layers.1.mlp.up_proj.weight",
        "model.layers.1.mlp.down_proj.weight",
        "model.norm.weight",
        "lm_head.weight",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected} missing");
    }
    let shape = |name: &str| {
        model
            .hf_tensors()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.shape)
            .unwrap()
    };
    // HF layout: [out, in].
    assert_eq!(
        shape("model.layers.0.self_attn.k_proj.weight"),
        vec![32, 64]
    );
    assert_eq!(shape("model.layers.0.mlp.down_proj.weight"), vec![64, 176]);
    assert_eq!(shape("lm_head.weight"), vec![512, 64]);
}

/// A tensor for hand-written safetensors files.
struct Raw(Dtype, Vec<usize>, Vec<u8>);

impl View for Raw {
    fn dtype(&self) -> Dtype {
        self.0
    }
    fn shape(&self) -> &[usize] {
        &self.1
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.2)
    }
    fn data_len(&self) -> usize {
        self.2.len()
    }
}

fn f16_raw(t: &HostTensor) -> Raw {
    let bytes = t
        .values
        .iter()
        .flat_map(|v| half::f16::from_f32(*v).to_bits().to_le_bytes())
        .collect();
    Raw(Dtype::F16, t.shape.clone(), bytes)
}

#[test]
fn loads_sharded_f16_checkpoints() {
    let model = tiny_model(7, true);
    let dir = temp_dir("sharded");
    save_hf(&model, &dir, SaveDtype::F32).unwrap();
    std::fs::remove_file(dir.join("model.safetensors")).unwrap();
    let tensors = model.hf_tensors();
    let (first, second) = tensors.split_at(tensors.len() / 2);
    let mut weight_map = serde_json::Map::new();
    for (file, part) in [
        ("model-00001-of-00002.safetensors", first),
        ("model-00002-of-00002.safetensors", second),
    ] {
        let views: Vec<(String, Raw)> = part.iter().map(|(n, t)| (n.clone(), f16_raw(t))).collect();
        for (name, _) in part {
            weight_map.insert(name.clone(), file.into());
        }
        safetensors::serialize_to_file(views, None, &dir.join(file)).unwrap();
    }
    let index = serde_json::json!({"metadata": {"total_size": 0}, "weight_map": weight_map});
    std::fs::write(dir.join("model.safetensors.index.json"), index.to_string()).unwrap();
    let loaded = load_hf::<B>(&dir, &Default::default()).unwrap();
    for ((name, a), (_, b)) in loaded.hf_tensors().iter().zip(model.hf_tensors().iter()) {
        let diff = max_abs_diff(&a.values, &b.values);
        let expected: Vec<f32> = b
            .values
            .iter()
            .map(|v| half::f16::from_f32(*v).to_f32())
            .collect();
        assert_eq!(a.values, expected, "{name} (max diff {diff})");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

fn write_tensors(dir: &std::path::Path, tensors: Vec<(String, HostTensor)>) {
    let views: Vec<(String, Raw)> = tensors
        .into_iter()
        .map(|(n, t)| {
            let bytes = t.values.iter().flat_map(|v| v.to_le_bytes()).collect();
            (n, Raw(Dtype::F32, t.shape, bytes))
        })
        .collect();
    safetensors::serialize_to_file(views, None, &dir.join("model.safetensors")).unwrap();
}

#[test]
fn bad_checkpoints_give_typed_errors_naming_the_tensor() {
    let model = tiny_model(8, false);
    let dir = temp_dir("bad");
    save_hf(&model, &dir, SaveDtype::F32).unwrap();
    let load = || load_hf::<B>(&dir, &Default::default()).map(|_| ());

    // Missing tensor.
    let mut tensors = model.hf_tensors();
    tensors.retain(|(n, _)| n != "model.layers.1.mlp.up_proj.weight");
    write_tensors(&dir, tensors);
    let error = load().unwrap_err();
    assert!(
        matches!(&error, ModelError::MissingTensor { name, .. } if name == "model.layers.1.mlp.up_proj.weight"),
        "{error}"
    );

    // Unexpected tensor.
    let mut tensors = model.hf_tensors();
    tensors.push((
        "model.layers.0.self_attn.extra".into(),
        HostTensor {
            shape: vec![2],
            values: vec![0.0, 1.0],
        },
    ));
    write_tensors(&dir, tensors);
    let error = load().unwrap_err();
    assert!(
        matches!(&error, ModelError::UnexpectedTensor { name, .. } if name == "model.layers.0.self_attn.extra"),
        "{error}"
    );

    // Mis-shaped tensor.
    let mut tensors = model.hf_tensors();
    for (name, tensor) in tensors.iter_mut() {
        if name == "model.norm.weight" {
            *tensor = HostTensor {
                shape: vec![63],
                values: vec![1.0; 63],
            };
        }
    }
    write_tensors(&dir, tensors);
    let error = load().unwrap_err();
    assert!(
        matches!(&error, ModelError::ShapeMismatch { name, expected, found }
            if name == "model.norm.weight" && expected == &vec![64] && found == &vec![63]),
        "{error}"
    );

    // Truncated and corrupted files.
    save_hf(&model, &dir, SaveDtype::F32).unwrap();
    let path = dir.join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
    assert!(matches!(
        load().unwrap_err(),
        ModelError::Safetensors { .. }
    ));
    std::fs::write(&path, &bytes[..5]).unwrap();
    assert!(matches!(
        load().unwrap_err(),
        ModelError::Safetensors { .. }
    ));
    let mut garbage = bytes.clone();
    garbage[10..40].fill(b'#');
    std::fs::write(&path, &garbage).unwrap();
    let error = load().unwrap_err();
    assert!(matches!(error, ModelError::Safetensors { .. }));
    assert!(error.to_string().contains("model.safetensors"), "{error}");

    // Missing file, missing config.
    std::fs::remove_file(&path).unwrap();
    assert!(matches!(load().unwrap_err(), ModelError::Io { .. }));
    std::fs::remove_file(dir.join("config.json")).unwrap();
    assert!(matches!(load().unwrap_err(), ModelError::Io { .. }));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn parameter_count_matches_the_built_model() {
    use burn::module::Module;
    for tied in [true, false] {
        let model = tiny_model(14, tied);
        assert_eq!(model.num_params(), model.config().num_parameters());
    }
}

#[test]
fn model_vocab_may_exceed_tokenizer_vocab() {
    // Only ids below the tokenizer's size appear; the extra rows are simply never indexed.
    let model = tiny_model(9, true);
    let batch = batch(vec![vec![1, 2, 3]], vec![vec![1; 3]]);
    assert_eq!(model.forward(&batch).dims(), [1, 3, 512]);
}

fn prompts() -> TokenBatch<B> {
    batch(
        vec![
            vec![0, 0, 11, 12, 13],
            vec![21, 22, 23, 24, 25],
            vec![0, 0, 0, 0, 31],
        ],
        vec![vec![0, 0, 1, 1, 1], vec![1; 5], vec![0, 0, 0, 0, 1]],
    )
}

#[test]
fn cached_and_uncached_generation_agree() {
    let model = tiny_model(10, true);
    for config in [
        SamplingConfig {
            max_new_tokens: 12,
            greedy: true,
            ..Default::default()
        },
        SamplingConfig {
            max_new_tokens: 12,
            temperature: 0.8,
            top_k: Some(50),
            top_p: 0.9,
            ..Default::default()
        },
        SamplingConfig {
            max_new_tokens: 12,
            temperature: 1.3,
            ..Default::default()
        },
    ] {
        let cached = generate(&model, &prompts(), &config, 42);
        let uncached = generate_uncached(&model, &prompts(), &config, 42);
        assert_eq!(cached.tokens, uncached.tokens);
        assert_eq!(cached.lengths(), vec![12, 12, 12]);
        for (a, b) in cached
            .logprobs
            .iter()
            .flatten()
            .zip(uncached.logprobs.iter().flatten())
        {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
    }
}

#[test]
fn greedy_generation_matches_argmax_of_the_full_forward() {
    let model = tiny_model(11, false);
    let config = SamplingConfig {
        max_new_tokens: 6,
        greedy: true,
        ..Default::default()
    };
    let generation = generate(&model, &prompts(), &config, 0);
    // Row 1 (unpadded): re-score prompt + generated tokens and check each was the argmax.
    let mut ids = vec![21i64, 22, 23, 24, 25];
    ids.extend(generation.tokens[1].iter().map(|&t| t as i64));
    let n = ids.len();
    let logits = values(model.forward(&batch(vec![ids.clone()], vec![vec![1; n]])));
    let vocab = model.vocab_size();
    for (k, &token) in generation.tokens[1].iter().enumerate() {
        let row = &logits[(4 + k) * vocab..(5 + k) * vocab];
        let argmax = (0..vocab)
            .max_by(|&a, &b| row[a].total_cmp(&row[b]).then(b.cmp(&a)))
            .unwrap();
        assert_eq!(token as usize, argmax);
        let max = row[argmax] as f64;
        let lse = max
            + row
                .iter()
                .map(|&x| (x as f64 - max).exp())
                .sum::<f64>()
                .ln();
        assert!((generation.logprobs[1][k] as f64 - (max - lse)).abs() < 1e-4);
    }
}

#[test]
fn sampling_is_seeded_and_stops_per_row() {
    let model = tiny_model(12, true);
    let config = SamplingConfig {
        max_new_tokens: 20,
        ..Default::default()
    };
    let a = generate(&model, &prompts(), &config, 7);
    assert_eq!(a, generate(&model, &prompts(), &config, 7));
    assert_ne!(a.tokens, generate(&model, &prompts(), &config, 8).tokens);
    // Stop on the token row 0 produced third: row 0 ends there, the others go on unless they hit it.
    let stop = a.tokens[0][2];
    let config = SamplingConfig {
        stop_token_ids: vec![stop],
        ..config
    };
    let b = generate(&model, &prompts(), &config, 7);
    assert_eq!(b.finish_reasons[0], FinishReason::Stop);
    for row in 0..3 {
        let cut = a.tokens[row].iter().position(|&t| t == stop);
        match cut {
            Some(i) => {
                assert_eq!(b.tokens[row], a.tokens[row][..=i].to_vec());
                assert_eq!(b.finish_reasons[row], FinishReason::Stop);
            }
            None => {
                assert_eq!(b.tokens[row], a.tokens[row]);
                assert_eq!(b.finish_reasons[row], FinishReason::Length);
            }
        }
    }
}

#[test]
fn top_k_one_is_greedy() {
    let model = tiny_model(13, true);
    let greedy = SamplingConfig {
        max_new_tokens: 5,
        greedy: true,
        ..Default::default()
    };
    let top1 = SamplingConfig {
        max_new_tokens: 5,
        top_k: Some(1),
        ..Default::default()
    };
    assert_eq!(
        generate(&model, &prompts(), &greedy, 1).tokens,
        generate(&model, &prompts(), &top1, 99).tokens
    );
}
