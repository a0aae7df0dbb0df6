//! The tokenizer of a Hugging Face model directory: `tokenizer.json` (loaded with the
//! `tokenizers` crate), the special tokens and chat template of `tokenizer_config.json`, and the
//! end-of-sequence / padding ids of `generation_config.json`.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use crate::chat_template::{ChatMessage, ChatTemplate, ChatTemplateError, SpecialTokens};

/// Why a tokenizer could not be loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    /// A file could not be read.
    #[error("cannot read {}: {message}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        message: String,
    },
    /// A file is not what it should be (invalid JSON, a field of the wrong type, …).
    #[error("invalid {}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A special token named in `tokenizer_config.json` is not in the vocabulary.
    #[error("{}: {field} {token:?} is not in the tokenizer's vocabulary", path.display())]
    UnknownSpecialToken {
        /// The config file.
        path: PathBuf,
        /// `eos_token`, `pad_token`, …
        field: &'static str,
        /// The token text.
        token: String,
    },
    /// Encoding text failed.
    #[error("cannot encode text: {0}")]
    Encode(String),
    /// Decoding ids failed (for example an id outside the vocabulary).
    #[error("cannot decode ids: {0}")]
    Decode(String),
    /// The tokenizer produces ids the model has no embedding row for.
    #[error(
        "tokenizer {origin} has {tokenizer_vocab} token ids but the model's vocabulary has only {model_vocab} rows"
    )]
    VocabExceedsModel {
        /// Where the tokenizer came from.
        origin: String,
        /// One more than the largest id the tokenizer can produce.
        tokenizer_vocab: usize,
        /// The model's `vocab_size`.
        model_vocab: usize,
    },
    /// Rendering the chat template failed.
    #[error(transparent)]
    ChatTemplate(#[from] ChatTemplateError),
}

/// A text tokenizer with the special tokens and chat template of its model.
///
/// ```text
/// let tokenizer = Tokenizer::from_dir("Qwen2.5-0.5B-Instruct".as_ref())?;
/// let prompt = tokenizer.apply_chat_template(&[ChatMessage::user("What is 2+2?")], true)?;
/// let ids = tokenizer.encode(&prompt, false)?;
/// ```
///
/// (Not a doc-test: doc-tests of this crate link burn and are slow to build; the integration
/// test `tests/tokenizer_parity.rs` runs this path against `transformers`.)
#[derive(Debug, Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    origin: String,
    /// One more than the largest id in the vocabulary (added tokens included).
    vocab_size: usize,
    eos_token_id: Option<u32>,
    pad_token_id: Option<u32>,
    /// Ids that end a generation: the tokenizer's eos and `generation_config.json`'s eos ids.
    stop_token_ids: Vec<u32>,
    chat_template: ChatTemplate,
}

impl Tokenizer {
    /// Loads a model directory: `tokenizer.json` (required), `tokenizer_config.json` (special
    /// tokens and `chat_template`; optional), `chat_template.jinja` (newer `transformers` save the
    /// template there; it takes precedence) and `generation_config.json` (`eos_token_id`,
    /// `pad_token_id`; optional).
    pub fn from_dir(dir: &Path) -> Result<Self, TokenizerError> {
        let mut tokenizer = Self::from_file(&dir.join("tokenizer.json"))?;

        let config_path = dir.join("tokenizer_config.json");
        let config = read_json_if_exists(&config_path)?;
        let mut special = SpecialTokens::default();
        let mut template_source = None;
        if let Some(config) = &config {
            special = SpecialTokens {
                bos_token: token_text(config, "bos_token", &config_path)?,
                eos_token: token_text(config, "eos_token", &config_path)?,
                pad_token: token_text(config, "pad_token", &config_path)?,
                unk_token: token_text(config, "unk_token", &config_path)?,
            };
            template_source = chat_template_source(config, &config_path)?;
            tokenizer.eos_token_id =
                tokenizer.special_id(&special.eos_token, "eos_token", &config_path)?;
            tokenizer.pad_token_id =
                tokenizer.special_id(&special.pad_token, "pad_token", &config_path)?;
        }
        let mut template_origin = config_path.display().to_string();
        let jinja_path = dir.join("chat_template.jinja");
        if jinja_path.is_file() {
            template_source = Some(read_to_string(&jinja_path)?);
            template_origin = jinja_path.display().to_string();
        }

        let generation_path = dir.join("generation_config.json");
        let mut stop = Vec::new();
        if let Some(generation) = read_json_if_exists(&generation_path)? {
            stop = id_list(&generation, "eos_token_id", &generation_path)?;
            if tokenizer.pad_token_id.is_none() {
                tokenizer.pad_token_id = id_list(&generation, "pad_token_id", &generation_path)?
                    .first()
                    .copied();
            }
        }
        if tokenizer.eos_token_id.is_none() {
            tokenizer.eos_token_id = stop.first().copied();
        }
        if let Some(eos) = tokenizer.eos_token_id {
            if !stop.contains(&eos) {
                stop.insert(0, eos);
            }
        }
        tokenizer.stop_token_ids = stop;

        tokenizer.chat_template = match template_source {
            Some(source) => ChatTemplate::new(source, special, template_origin)?,
            None => ChatTemplate::chatml(special),
        };
        Ok(tokenizer)
    }

    /// Loads a bare `tokenizer.json`: no special-token ids, the ChatML chat template.
    pub fn from_file(path: &Path) -> Result<Self, TokenizerError> {
        let text = read_to_string(path)?;
        let inner: tokenizers::Tokenizer =
            text.parse()
                .map_err(|err: tokenizers::Error| TokenizerError::Parse {
                    path: path.to_path_buf(),
                    message: err.to_string(),
                })?;
        Ok(Self::from_tokenizers(inner, path.display().to_string()))
    }

    /// Wraps a tokenizer built in memory (for example a synthetic task's); `origin` names it in
    /// error messages. No special-token ids, the ChatML chat template.
    pub fn from_tokenizers(inner: tokenizers::Tokenizer, origin: impl Into<String>) -> Self {
        let vocab_size = inner
            .get_vocab(true)
            .values()
            .max()
            .map_or(0, |&max| max as usize + 1);
        Self {
            inner,
            origin: origin.into(),
            vocab_size,
            eos_token_id: None,
            pad_token_id: None,
            stop_token_ids: Vec::new(),
            chat_template: ChatTemplate::chatml(SpecialTokens::default()),
        }
    }

    /// Sets the end-of-sequence token (which also becomes a stop token).
    pub fn with_eos_token(mut self, id: u32) -> Self {
        self.eos_token_id = Some(id);
        if !self.stop_token_ids.contains(&id) {
            self.stop_token_ids.insert(0, id);
        }
        self
    }

    /// Sets the padding token.
    pub fn with_pad_token(mut self, id: u32) -> Self {
        self.pad_token_id = Some(id);
        self
    }

    /// Replaces the chat template.
    pub fn with_chat_template(mut self, template: ChatTemplate) -> Self {
        self.chat_template = template;
        self
    }

    /// Passes `name = value` to the chat template on every render (see
    /// [`ChatTemplate::with_variable`]; e.g. `("enable_thinking", false)` for Qwen3).
    pub fn with_template_variable(
        mut self,
        name: impl Into<String>,
        value: impl serde::Serialize,
    ) -> Self {
        self.chat_template = self.chat_template.with_variable(name, value);
        self
    }

    /// Token ids of `text`. `add_special_tokens` applies the tokenizer's post-processor (Qwen's
    /// adds nothing; BERT-style tokenizers add `[CLS]`/`[SEP]`). Special tokens written in the text
    /// (`<|im_start|>`) are recognised as single tokens.
    pub fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>, TokenizerError> {
        let encoding = self
            .inner
            .encode(text, add_special_tokens)
            .map_err(|err| TokenizerError::Encode(err.to_string()))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// The text of `ids`; `skip_special` drops special tokens such as `<|im_end|>`.
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String, TokenizerError> {
        if let Some(&bad) = ids.iter().find(|&&id| id as usize >= self.vocab_size) {
            return Err(TokenizerError::Decode(format!(
                "id {bad} is outside the vocabulary of {} ({} ids)",
                self.origin, self.vocab_size
            )));
        }
        self.inner
            .decode(ids, skip_special)
            .map_err(|err| TokenizerError::Decode(err.to_string()))
    }

    /// Renders `messages` with the chat template (see [`ChatTemplate::render`]).
    pub fn apply_chat_template(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<String, TokenizerError> {
        Ok(self.chat_template.render(messages, add_generation_prompt)?)
    }

    /// Token ids of the rendered chat (`apply_chat_template` then `encode` without the
    /// post-processor, as `transformers`' `apply_chat_template(tokenize=True)` does).
    pub fn encode_chat(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<Vec<u32>, TokenizerError> {
        self.encode(
            &self.apply_chat_template(messages, add_generation_prompt)?,
            false,
        )
    }

    /// The end-of-sequence id (`tokenizer_config.json`'s `eos_token`, else the first
    /// `eos_token_id` of `generation_config.json`).
    pub fn eos_token_id(&self) -> Option<u32> {
        self.eos_token_id
    }

    /// The padding id (`tokenizer_config.json`'s `pad_token`, else `generation_config.json`'s
    /// `pad_token_id`).
    pub fn pad_token_id(&self) -> Option<u32> {
        self.pad_token_id
    }

    /// Every id that ends a generation: the eos id and `generation_config.json`'s `eos_token_id`s
    /// (Qwen2.5-Instruct stops on both `<|im_end|>` and `<|endoftext|>`).
    pub fn stop_token_ids(&self) -> &[u32] {
        &self.stop_token_ids
    }

    /// One more than the largest id the tokenizer can produce (added tokens included). A model's
    /// vocabulary must be at least this large; it may be larger (Qwen pads 151,665 to 151,936).
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// The id of a token's text, if it is in the vocabulary.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Checks that every id this tokenizer produces has a row in a model with `model_vocab` rows.
    pub fn check_model_vocab(&self, model_vocab: usize) -> Result<(), TokenizerError> {
        if self.vocab_size > model_vocab {
            return Err(TokenizerError::VocabExceedsModel {
                origin: self.origin.clone(),
                tokenizer_vocab: self.vocab_size,
                model_vocab,
            });
        }
        Ok(())
    }

    /// The underlying `tokenizers` tokenizer.
    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }

    fn special_id(
        &self,
        token: &Option<String>,
        field: &'static str,
        path: &Path,
    ) -> Result<Option<u32>, TokenizerError> {
        let Some(token) = token else { return Ok(None) };
        match self.inner.token_to_id(token) {
            Some(id) => Ok(Some(id)),
            None => Err(TokenizerError::UnknownSpecialToken {
                path: path.to_path_buf(),
                field,
                token: token.clone(),
            }),
        }
    }
}

fn read_to_string(path: &Path) -> Result<String, TokenizerError> {
    fs::read_to_string(path).map_err(|err| TokenizerError::Io {
        path: path.to_path_buf(),
        message: err.to_string(),
    })
}

fn read_json_if_exists(path: &Path) -> Result<Option<Json>, TokenizerError> {
    if !path.exists() {
        return Ok(None);
    }
    let text = read_to_string(path)?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|err| TokenizerError::Parse {
            path: path.to_path_buf(),
            message: err.to_string(),
        })
}

/// A special token of `tokenizer_config.json`: a string, an added-token object
/// (`{"content": "<|im_end|>", …}`), or absent / null.
fn token_text(config: &Json, field: &str, path: &Path) -> Result<Option<String>, TokenizerError> {
    match config.get(field) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(text)) => Ok(Some(text.clone())),
        Some(Json::Object(object)) => match object.get("content") {
            Some(Json::String(text)) => Ok(Some(text.clone())),
            _ => Err(parse_error(
                path,
                format!("{field} has no string \"content\""),
            )),
        },
        Some(other) => Err(parse_error(
            path,
            format!("{field} must be a string or an object, found {other}"),
        )),
    }
}

/// `chat_template`: a string, or a list of `{name, template}` (the entry named `default`).
fn chat_template_source(config: &Json, path: &Path) -> Result<Option<String>, TokenizerError> {
    match config.get("chat_template") {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(source)) => Ok(Some(source.clone())),
        Some(Json::Array(named)) => {
            let templates: HashMap<&str, &str> = named
                .iter()
                .filter_map(|entry| {
                    Some((
                        entry.get("name")?.as_str()?,
                        entry.get("template")?.as_str()?,
                    ))
                })
                .collect();
            match templates.get("default") {
                Some(source) => Ok(Some(source.to_string())),
                None => Err(parse_error(
                    path,
                    "chat_template is a list without a \"default\" entry".into(),
                )),
            }
        }
        Some(_) => Err(parse_error(
            path,
            "chat_template must be a string or a list".into(),
        )),
    }
}

/// An id field of `generation_config.json`: an integer, a list of integers, or absent / null.
fn id_list(config: &Json, field: &str, path: &Path) -> Result<Vec<u32>, TokenizerError> {
    let as_id = |value: &Json| -> Result<u32, TokenizerError> {
        value
            .as_u64()
            .and_then(|id| u32::try_from(id).ok())
            .ok_or_else(|| parse_error(path, format!("{field} must hold token ids, found {value}")))
    };
    match config.get(field) {
        None | Some(Json::Null) => Ok(Vec::new()),
        Some(Json::Array(values)) => values.iter().map(as_id).collect(),
        Some(value) => Ok(vec![as_id(value)?]),
    }
}

fn parse_error(path: &Path, message: String) -> TokenizerError {
    TokenizerError::Parse {
        path: path.to_path_buf(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = "dir/tokenizer_config.json";

    #[test]
    fn special_tokens_may_be_strings_objects_or_null() {
        let config: Json = serde_json::json!({
            "eos_token": "<|im_end|>",
            "pad_token": {"content": "<|endoftext|>", "lstrip": false},
            "bos_token": null,
        });
        let path = Path::new(PATH);
        assert_eq!(
            token_text(&config, "eos_token", path).unwrap().as_deref(),
            Some("<|im_end|>")
        );
        assert_eq!(
            token_text(&config, "pad_token", path).unwrap().as_deref(),
            Some("<|endoftext|>")
        );
        assert_eq!(token_text(&config, "bos_token", path).unwrap(), None);
        assert_eq!(token_text(&config, "unk_token", path).unwrap(), None);
        let bad: Json = serde_json::json!({"eos_token": 7});
        let err = token_text(&bad, "eos_token", path).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid dir/tokenizer_config.json: eos_token must be a string or an object, found 7"
        );
    }

    #[test]
    fn chat_template_may_be_a_named_list() {
        let path = Path::new(PATH);
        let config: Json = serde_json::json!({"chat_template": [
            {"name": "tool_use", "template": "T"},
            {"name": "default", "template": "D"},
        ]});
        assert_eq!(
            chat_template_source(&config, path).unwrap().as_deref(),
            Some("D")
        );
        let no_default: Json =
            serde_json::json!({"chat_template": [{"name": "x", "template": "T"}]});
        assert!(matches!(
            chat_template_source(&no_default, path),
            Err(TokenizerError::Parse { .. })
        ));
        assert_eq!(
            chat_template_source(&serde_json::json!({}), path).unwrap(),
            None
        );
    }

    #[test]
    fn generation_config_ids_may_be_one_or_many() {
        let path = Path::new("dir/generation_config.json");
        let config: Json = serde_json::json!({
            "eos_token_id": [151645, 151643],
            "pad_token_id": 151643,
            "bad": "x",
        });
        assert_eq!(
            id_list(&config, "eos_token_id", path).unwrap(),
            vec![151645, 151643]
        );
        assert_eq!(
            id_list(&config, "pad_token_id", path).unwrap(),
            vec![151643]
        );
        assert!(id_list(&config, "missing", path).unwrap().is_empty());
        let err = id_list(&config, "bad", path).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid dir/generation_config.json: bad must hold token ids, found \"x\""
        );
    }
}
