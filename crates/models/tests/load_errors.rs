//! Bad inputs give one-line typed errors naming what is wrong, never a panic: a corrupted or
//! truncated safetensors file, a `config.json` without a required field, and a tokenizer whose
//! ids do not all have a row in the model's embedding.

use std::path::{Path, PathBuf};

use prime_models::backend::CpuBackend;
use prime_models::{
    load_hf, save_hf, CausalLm, ModelError, Qwen2Config, SaveDtype, Tokenizer, TokenizerError,
};

type B = CpuBackend;

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel)
}

/// A copy of the `tied_f32` fixture checkpoint in a fresh scratch directory.
fn scratch_checkpoint(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("prime-load-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for file in ["config.json", "model.safetensors", "tokenizer.json"] {
        std::fs::copy(fixture("tied_f32").join(file), dir.join(file)).unwrap();
    }
    dir
}

fn load_error(dir: &Path) -> ModelError {
    match load_hf::<B>(dir, &Default::default()) {
        Ok(_) => panic!("{} loaded although it is broken", dir.display()),
        Err(err) => err,
    }
}

fn assert_one_line_naming(message: &str, needle: &str) {
    assert!(!message.contains('\n'), "multi-line error: {message:?}");
    assert!(
        message.contains(needle),
        "{message:?} does not name {needle:?}"
    );
}

#[test]
fn the_untouched_copy_loads() {
    let dir = scratch_checkpoint("ok");
    let model = load_hf::<B>(&dir, &Default::default()).unwrap();
    assert_eq!(model.vocab_size(), 403);
}

#[test]
fn truncated_safetensors_is_a_typed_error() {
    let dir = scratch_checkpoint("truncated");
    let path = dir.join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = load_error(&dir);
    assert!(matches!(err, ModelError::Safetensors { .. }), "{err:?}");
    assert_one_line_naming(&err.to_string(), "model.safetensors");
}

#[test]
fn corrupted_safetensors_header_is_a_typed_error() {
    let dir = scratch_checkpoint("corrupted");
    let path = dir.join("model.safetensors");
    let mut bytes = std::fs::read(&path).unwrap();
    // The header is JSON after an 8-byte length: break its first characters.
    bytes[8..16].copy_from_slice(b"\xff\xfegarbag");
    std::fs::write(&path, &bytes).unwrap();
    let err = load_error(&dir);
    assert!(matches!(err, ModelError::Safetensors { .. }), "{err:?}");
    assert_one_line_naming(&err.to_string(), "model.safetensors");

    // An absurd header length (larger than the file) as well.
    bytes[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let err = load_error(&dir);
    assert!(matches!(err, ModelError::Safetensors { .. }), "{err:?}");
    assert_one_line_naming(&err.to_string(), "model.safetensors");
}

#[test]
fn config_without_a_required_field_names_the_field() {
    let dir = scratch_checkpoint("missing-field");
    let path = dir.join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    config.as_object_mut().unwrap().remove("hidden_size");
    std::fs::write(&path, serde_json::to_string_pretty(&config).unwrap()).unwrap();
    let err = load_error(&dir);
    assert!(matches!(err, ModelError::Json { .. }), "{err:?}");
    let message = err.to_string();
    assert_one_line_naming(&message, "hidden_size");
    assert_one_line_naming(&message, "config.json");
}

#[test]
fn tokenizer_with_more_ids_than_the_model_has_rows_is_a_typed_error() {
    // A model with 256 embedding rows next to the fixture tokenizer (403 ids).
    let dir = std::env::temp_dir().join(format!("prime-load-{}-small-vocab", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = Qwen2Config {
        vocab_size: 256,
        ..Qwen2Config::tiny()
    };
    let model = config.init::<B>(&Default::default());
    save_hf(&model, &dir, SaveDtype::F32).unwrap();
    for file in ["tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(fixture("tokenizer").join(file), dir.join(file)).unwrap();
    }

    let model = load_hf::<B>(&dir, &Default::default()).unwrap();
    let tokenizer = Tokenizer::from_dir(&dir).unwrap();
    let err = tokenizer.check_model_vocab(model.vocab_size()).unwrap_err();
    assert!(
        matches!(
            err,
            TokenizerError::VocabExceedsModel {
                tokenizer_vocab: 403,
                model_vocab: 256,
                ..
            }
        ),
        "{err:?}"
    );
    assert_one_line_naming(&err.to_string(), "tokenizer.json");
}
