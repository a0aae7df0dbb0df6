//! Chat templates: the Jinja program in a Hugging Face `tokenizer_config.json` (`chat_template`)
//! that turns a list of messages into the prompt text a chat model was trained on.
//!
//! Rendered with minijinja, configured the way `transformers` configures Jinja2 for chat
//! templates: `trim_blocks` and `lstrip_blocks` on, loop controls (`break` / `continue`), Python
//! string methods (`.startswith`, `.split`, `.strip`, …), a `raise_exception(message)` function,
//! and the special tokens (`bos_token`, `eos_token`, `pad_token`, `unk_token`) as variables.
//! Variables a template may test for but that this crate never passes (`tools`, `documents`) are
//! undefined, which Jinja treats as false. When a tokenizer has no template, [`CHATML_TEMPLATE`]
//! is used, as `transformers` did by default.

use std::collections::BTreeMap;

use minijinja::{syntax::SyntaxConfig, Environment, ErrorKind, Value};
use serde::{Deserialize, Serialize};

/// The ChatML template (`<|im_start|>role\ncontent<|im_end|>\n` per message), used when a
/// tokenizer does not define its own.
pub const CHATML_TEMPLATE: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/// Name under which the template is registered in its minijinja environment.
const TEMPLATE_NAME: &str = "chat_template";

/// One message of a conversation, as chat templates expect it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user`, `assistant` or `tool`.
    pub role: String,
    /// The message text.
    pub content: String,
}

impl ChatMessage {
    /// A message with the given role and content.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
        }
    }

    /// A `system` message.
    pub fn system(content: impl Into<String>) -> Self {
        Self::new("system", content)
    }

    /// A `user` message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::new("user", content)
    }

    /// An `assistant` message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new("assistant", content)
    }
}

/// The special tokens a chat template may refer to by name (`{{ bos_token }}` and so on).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpecialTokens {
    /// Beginning-of-sequence token text.
    pub bos_token: Option<String>,
    /// End-of-sequence token text.
    pub eos_token: Option<String>,
    /// Padding token text.
    pub pad_token: Option<String>,
    /// Unknown-token text.
    pub unk_token: Option<String>,
}

/// Why a chat template could not be compiled or rendered.
#[derive(Debug, thiserror::Error)]
pub enum ChatTemplateError {
    /// The template is not valid Jinja (as far as minijinja accepts it).
    #[error("chat template from {origin} does not compile: {message}")]
    Compile {
        /// Where the template came from (a file path or "ChatML default").
        origin: String,
        /// minijinja's description, with line number.
        message: String,
    },
    /// The template called `raise_exception(message)`, e.g. for an unsupported role order.
    #[error("chat template from {origin} rejected the conversation: {message}")]
    Raised {
        /// Where the template came from.
        origin: String,
        /// The message the template raised.
        message: String,
    },
    /// Rendering failed for another reason (an unknown filter, a type error, …).
    #[error("chat template from {origin} failed to render: {message}")]
    Render {
        /// Where the template came from.
        origin: String,
        /// minijinja's description, with line number.
        message: String,
    },
}

/// A compiled chat template together with the special tokens it may reference.
#[derive(Debug, Clone)]
pub struct ChatTemplate {
    env: Environment<'static>,
    special_tokens: SpecialTokens,
    origin: String,
    /// Extra variables every render sees (`transformers`' `apply_chat_template(**kwargs)`).
    variables: Vec<(String, Value)>,
}

/// Prefix of the error message `raise_exception` produces, used to tell template-raised errors
/// from engine errors.
const RAISED_PREFIX: &str = "raise_exception: ";

impl ChatTemplate {
    /// Compiles `source`. `origin` names where it came from, for error messages.
    pub fn new(
        source: impl Into<String>,
        special_tokens: SpecialTokens,
        origin: impl Into<String>,
    ) -> Result<Self, ChatTemplateError> {
        let origin = origin.into();
        let mut env = Environment::new();
        let syntax = SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .map_err(|err| ChatTemplateError::Compile {
                origin: origin.clone(),
                message: err.to_string(),
            })?;
        env.set_syntax(syntax);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", |message: String| -> Result<Value, _> {
            Err(minijinja::Error::new(
                ErrorKind::InvalidOperation,
                format!("{RAISED_PREFIX}{message}"),
            ))
        });
        env.add_template_owned(TEMPLATE_NAME, source.into())
            .map_err(|err| ChatTemplateError::Compile {
                origin: origin.clone(),
                message: one_line(&err),
            })?;
        Ok(Self {
            env,
            special_tokens,
            origin,
            variables: Vec::new(),
        })
    }

    /// Passes `name = value` to every render, as `transformers`' `apply_chat_template(name=value)`
    /// does: e.g. Qwen3's `enable_thinking = false`, which opens the reply with an empty
    /// `<think>\n\n</think>\n\n` block. A later value for the same name replaces the earlier.
    pub fn with_variable(mut self, name: impl Into<String>, value: impl Serialize) -> Self {
        let name = name.into();
        self.variables.retain(|(n, _)| *n != name);
        self.variables
            .push((name, Value::from(minijinja::value::Serde(value))));
        self
    }

    /// The ChatML template ([`CHATML_TEMPLATE`]).
    pub fn chatml(special_tokens: SpecialTokens) -> Self {
        Self::new(CHATML_TEMPLATE, special_tokens, "ChatML default")
            .expect("the built-in ChatML template compiles")
    }

    /// The special tokens passed to the template.
    pub fn special_tokens(&self) -> &SpecialTokens {
        &self.special_tokens
    }

    /// Renders `messages`; with `add_generation_prompt` the text ends with the header that opens
    /// the assistant's reply (for ChatML: `<|im_start|>assistant\n`).
    pub fn render(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<String, ChatTemplateError> {
        let messages: Vec<Value> = messages
            .iter()
            .map(|m| {
                map([
                    ("role", Value::from(m.role.as_str())),
                    ("content", Value::from(m.content.as_str())),
                ])
            })
            .collect();
        let tokens = &self.special_tokens;
        let mut ctx: BTreeMap<String, Value> = self.variables.iter().cloned().collect();
        for (name, value) in [
            ("messages", Value::from(messages)),
            ("add_generation_prompt", Value::from(add_generation_prompt)),
            ("bos_token", optional(&tokens.bos_token)),
            ("eos_token", optional(&tokens.eos_token)),
            ("pad_token", optional(&tokens.pad_token)),
            ("unk_token", optional(&tokens.unk_token)),
        ] {
            ctx.insert(name.to_string(), value);
        }
        let ctx = Value::from(ctx);
        let template = self
            .env
            .get_template(TEMPLATE_NAME)
            .map_err(|err| self.render_error(&err))?;
        template.render(ctx).map_err(|err| self.render_error(&err))
    }

    fn render_error(&self, err: &minijinja::Error) -> ChatTemplateError {
        let origin = self.origin.clone();
        // minijinja wraps a function's error; find the one `raise_exception` produced.
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
        while let Some(current) = source {
            if let Some(detail) = current
                .downcast_ref::<minijinja::Error>()
                .and_then(|e| e.detail())
            {
                if let Some(message) = detail.strip_prefix(RAISED_PREFIX) {
                    return ChatTemplateError::Raised {
                        origin,
                        message: message.to_string(),
                    };
                }
            }
            source = current.source();
        }
        ChatTemplateError::Render {
            origin,
            message: one_line(err),
        }
    }
}

/// A Jinja mapping (`message.role` and `message['role']` both work on it).
fn map<const N: usize>(entries: [(&'static str, Value); N]) -> Value {
    Value::from(BTreeMap::from(entries))
}

/// A string variable, or `none` when absent.
fn optional(token: &Option<String>) -> Value {
    token.as_deref().map_or(Value::from(()), Value::from)
}

/// minijinja's message with its line information, on one line.
fn one_line(err: &minijinja::Error) -> String {
    let mut message = err.to_string();
    if let Some(line) = err.line() {
        if !message.contains("line") {
            message.push_str(&format!(" (line {line})"));
        }
    }
    message.replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> SpecialTokens {
        SpecialTokens {
            eos_token: Some("<|im_end|>".into()),
            ..SpecialTokens::default()
        }
    }

    #[test]
    fn chatml_renders_messages_and_generation_prompt() {
        let template = ChatTemplate::chatml(tokens());
        let text = template
            .render(
                &[ChatMessage::system("Be brief."), ChatMessage::user("2+2?")],
                true,
            )
            .unwrap();
        assert_eq!(
            text,
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n"
        );
        let without = template.render(&[ChatMessage::user("hi")], false).unwrap();
        assert_eq!(without, "<|im_start|>user\nhi<|im_end|>\n");
    }

    #[test]
    fn block_tags_are_trimmed_like_transformers() {
        // trim_blocks removes the newline after a tag, lstrip_blocks the indentation before it.
        let source = "{% for m in messages %}\n    {% if m.role == 'user' %}\n[{{ m.content }}]\n    {% endif %}\n{% endfor %}";
        let template = ChatTemplate::new(source, tokens(), "test").unwrap();
        let text = template
            .render(&[ChatMessage::user("a"), ChatMessage::user("b")], false)
            .unwrap();
        assert_eq!(text, "[a]\n[b]\n");
    }

    #[test]
    fn python_string_methods_slices_and_namespace_work() {
        let source = "{%- set ns = namespace(last=-1) %}{%- for m in messages[::-1] %}{%- if m.content.startswith('<x>') %}{%- set ns.last = loop.index0 %}{%- endif %}{%- endfor %}{{ ns.last }}|{{ messages[0]['content'].split('|')[-1].strip() }}|{{ eos_token }}|{{ tools is defined }}";
        let template = ChatTemplate::new(source, tokens(), "test").unwrap();
        let text = template
            .render(
                &[ChatMessage::user("a| b "), ChatMessage::user("<x>c")],
                false,
            )
            .unwrap();
        assert_eq!(text, "0|b|<|im_end|>|False"); // Jinja2 prints Python booleans
    }

    #[test]
    fn raise_exception_is_a_typed_error_with_the_message() {
        let source = "{% if messages[0]['role'] != 'user' %}{{ raise_exception('Conversation must start with user') }}{% endif %}ok";
        let template = ChatTemplate::new(source, tokens(), "my/tokenizer_config.json").unwrap();
        assert_eq!(
            template.render(&[ChatMessage::user("x")], false).unwrap(),
            "ok"
        );
        let err = template
            .render(&[ChatMessage::assistant("x")], false)
            .unwrap_err();
        assert!(matches!(err, ChatTemplateError::Raised { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "chat template from my/tokenizer_config.json rejected the conversation: Conversation must start with user"
        );
    }

    #[test]
    fn a_broken_template_is_a_compile_error_naming_its_origin() {
        let err = ChatTemplate::new("{% for m in messages %}", tokens(), "cfg.json").unwrap_err();
        assert!(matches!(err, ChatTemplateError::Compile { .. }));
        let message = err.to_string();
        assert!(message.starts_with("chat template from cfg.json does not compile"));
        assert!(!message.contains('\n'));
    }

    #[test]
    fn chat_message_round_trips_through_json() {
        let m: ChatMessage = serde_json::from_str(r#"{"role":"user","content":"hi"}"#).unwrap();
        assert_eq!(m, ChatMessage::user("hi"));
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"role":"user","content":"hi"}"#
        );
    }
}
