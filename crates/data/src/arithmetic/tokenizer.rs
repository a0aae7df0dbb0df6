//! The arithmetic task's tokenizer: a word-level vocabulary built with the `tokenizers` crate,
//! saved as an ordinary Hugging Face `tokenizer.json` + `tokenizer_config.json` (ChatML
//! template, `<|im_end|>` as eos, `<|endoftext|>` as pad), so the demo loads it through the same
//! `prime_models::Tokenizer::from_dir` path as a real model.
//!
//! Every integer in `-N..=N` (N = the config's largest magnitude, 60 by default) is one token
//! after a `-` sign token, so a solution line `10*2=20\n` is 6 tokens and a step is one fact to
//! recall, not a digit-by-digit carry. Words and symbols are single tokens too; whitespace
//! characters are tokens of their own, so decoding is exact concatenation (`Fuse` decoder).
//! Text outside the vocabulary becomes `[UNK]`.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::Path;

use serde_json::json;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::models::wordlevel::WordLevel;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer};

use super::config::ArithmeticConfig;
use crate::error::DataError;

/// The special tokens of the task's tokenizer, Qwen2.5-style.
#[derive(Debug, Clone, Copy)]
pub struct ArithmeticTokens;

impl ArithmeticTokens {
    /// Padding (id 0).
    pub const PAD: &'static str = "<|endoftext|>";
    /// Opens a chat turn (id 1).
    pub const IM_START: &'static str = "<|im_start|>";
    /// Closes a chat turn; the end-of-sequence token (id 2).
    pub const IM_END: &'static str = "<|im_end|>";
    /// Out-of-vocabulary text (id 3).
    pub const UNK: &'static str = "[UNK]";
}

/// How text is cut before lookup: `\boxed{`, runs of digits, runs of letters, single
/// whitespace characters, single other characters.
const PRE_TOKENIZER_PATTERN: &str = r"\\boxed\{|\d+|[A-Za-z]+|\s|[^\sA-Za-z\d]";

/// Symbols and words besides numbers: the chat roles, the solution's symbols, and enough
/// English for short system prompts.
const FIXED_TOKENS: &[&str] = &[
    "\n",
    " ",
    "system",
    "user",
    "assistant",
    "\\boxed{",
    "}",
    "{",
    "+",
    "-",
    "*",
    "/",
    "=",
    ":",
    ".",
    ",",
    "?",
    "!",
    "(",
    ")",
    "'",
    "\"",
    "Compute",
    "Evaluate",
    "Solve",
    "from",
    "left",
    "to",
    "right",
    "the",
    "answer",
    "Answer",
    "Put",
    "put",
    "final",
    "in",
    "You",
    "are",
    "a",
    "helpful",
    "step",
    "by",
    "Think",
    "and",
    "is",
    "of",
    "with",
    "each",
    "line",
    "one",
];

/// Builds the tokenizer for `config`: special tokens (ids 0–3), the fixed symbols and words (chat
/// roles, the solution's symbols, some English), the words of `config.instruction`, then the
/// integers `0..=config.max_abs_number()`.
pub fn arithmetic_tokenizer(config: &ArithmeticConfig) -> Result<Tokenizer, DataError> {
    let error = |e: tokenizers::Error| DataError::Tokenizer(e.to_string());
    let specials = [
        ArithmeticTokens::PAD,
        ArithmeticTokens::IM_START,
        ArithmeticTokens::IM_END,
        ArithmeticTokens::UNK,
    ];
    let pattern = SplitPattern::Regex(PRE_TOKENIZER_PATTERN.into());
    let splitter = Split::new(pattern, SplitDelimiterBehavior::Isolated, false).map_err(error)?;

    let mut words: Vec<String> = specials.iter().map(|s| s.to_string()).collect();
    let mut seen: BTreeSet<String> = words.iter().cloned().collect();
    let mut add = |word: String, words: &mut Vec<String>| {
        if seen.insert(word.clone()) {
            words.push(word);
        }
    };
    for token in FIXED_TOKENS {
        add(token.to_string(), &mut words);
    }
    for piece in pieces(&config.instruction)? {
        add(piece, &mut words);
    }
    for n in 0..=config.max_abs_number() {
        add(n.to_string(), &mut words);
    }
    let vocab: HashMap<String, u32> = words
        .iter()
        .enumerate()
        .map(|(id, word)| (word.clone(), id as u32))
        .collect();
    // `WordLevel`'s deserializer borrows strings, so it reads from text, not from a `Value`.
    let model_json = json!({
        "type": "WordLevel",
        "vocab": vocab,
        "unk_token": ArithmeticTokens::UNK,
    })
    .to_string();
    let model: WordLevel = serde_json::from_str(&model_json)
        .map_err(|e| DataError::Tokenizer(format!("word-level model: {e}")))?;

    let mut tokenizer = Tokenizer::new(model);
    tokenizer.with_pre_tokenizer(Some(splitter));
    tokenizer.with_decoder(Some(Fuse::new()));
    tokenizer
        .add_special_tokens(specials.iter().map(|s| AddedToken::from(*s, true)))
        .map_err(error)?;
    Ok(tokenizer)
}

/// The pieces the pre-tokenizer cuts `text` into (instruction words enter the vocabulary).
fn pieces(text: &str) -> Result<Vec<String>, DataError> {
    use tokenizers::{OffsetReferential, OffsetType, PreTokenizedString, PreTokenizer};
    let pattern = SplitPattern::Regex(PRE_TOKENIZER_PATTERN.into());
    let splitter = Split::new(pattern, SplitDelimiterBehavior::Isolated, false)
        .map_err(|e| DataError::Tokenizer(e.to_string()))?;
    let mut pretokenized = PreTokenizedString::from(text);
    splitter
        .pre_tokenize(&mut pretokenized)
        .map_err(|e| DataError::Tokenizer(e.to_string()))?;
    Ok(pretokenized
        .get_splits(OffsetReferential::Original, OffsetType::Char)
        .into_iter()
        .map(|(piece, _, _)| piece.to_string())
        .collect())
}

/// Writes `tokenizer.json` and `tokenizer_config.json` (ChatML `chat_template`, eos
/// `<|im_end|>`, pad `<|endoftext|>`) for `config` into `dir` (created if missing).
pub fn save_arithmetic_tokenizer(dir: &Path, config: &ArithmeticConfig) -> Result<(), DataError> {
    fs::create_dir_all(dir).map_err(|err| DataError::io(dir, err))?;
    let tokenizer = arithmetic_tokenizer(config)?;
    let path = dir.join("tokenizer.json");
    tokenizer
        .save(&path, true)
        .map_err(|e| DataError::Tokenizer(format!("{}: {e}", path.display())))?;
    let tokenizer_config = json!({
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": null,
        "eos_token": ArithmeticTokens::IM_END,
        "pad_token": ArithmeticTokens::PAD,
        "unk_token": ArithmeticTokens::UNK,
        "model_max_length": 512,
        "clean_up_tokenization_spaces": false,
        "chat_template": prime_models::CHATML_TEMPLATE,
    });
    let path = dir.join("tokenizer_config.json");
    let text = serde_json::to_string_pretty(&tokenizer_config)
        .map_err(|e| DataError::Tokenizer(e.to_string()))?;
    fs::write(&path, text).map_err(|err| DataError::io(&path, err))
}
