//! `POST /v1/completions` with token-id prompts: the request, the answer, and the checks that
//! turn an untrusted answer into responses the trainer can score.

use serde::{Deserialize, Serialize};

use prime_models::SamplingConfig;

/// One request: `n` responses for each prompt of a micro-batch.
#[derive(Debug, Clone, Serialize)]
pub struct CompletionRequest<'a> {
    /// The served model name.
    pub model: &'a str,
    /// Token ids of each prompt.
    pub prompt: Vec<&'a [u32]>,
    /// Responses per prompt.
    pub n: usize,
    /// Seed of the request (vLLM seeds response `j` of a prompt with `seed + j`).
    pub seed: u64,
    /// Sampling temperature (0 = greedy).
    pub temperature: f32,
    /// Nucleus mass.
    pub top_p: f32,
    /// Top-k, when on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<usize>,
    /// Longest response.
    pub max_tokens: usize,
    /// Ids that end a response (kept as its last token).
    pub stop_token_ids: &'a [u32],
    /// Only `stop_token_ids` end a response (they include the eos id).
    pub ignore_eos: bool,
    /// Log-prob of each sampled token (0 alternatives).
    pub logprobs: u32,
    /// Answer with token ids, not only text.
    pub return_token_ids: bool,
    /// Name the log-probs' tokens `token_id:<id>`.
    pub return_tokens_as_token_ids: bool,
}

impl<'a> CompletionRequest<'a> {
    /// The request for `prompts` with the run's sampling settings.
    pub fn new(
        model: &'a str,
        prompts: Vec<&'a [u32]>,
        n: usize,
        seed: u64,
        sampling: &'a SamplingConfig,
    ) -> Self {
        let greedy = sampling.greedy || sampling.temperature <= 0.0;
        Self {
            model,
            prompt: prompts,
            n,
            // vLLM adds the response index to the seed; keep the sum in range.
            seed: seed >> 2,
            temperature: if greedy { 0.0 } else { sampling.temperature },
            top_p: sampling.top_p,
            top_k: sampling.top_k,
            max_tokens: sampling.max_new_tokens,
            stop_token_ids: &sampling.stop_token_ids,
            ignore_eos: true,
            logprobs: 0,
            return_token_ids: true,
            return_tokens_as_token_ids: true,
        }
    }
}

/// The answer to a [`CompletionRequest`], as much of it as is read.
#[derive(Debug, Clone, Deserialize)]
pub struct CompletionResponse {
    /// One choice per (prompt, response).
    pub choices: Vec<Choice>,
}

/// One response.
#[derive(Debug, Clone, Deserialize)]
pub struct Choice {
    /// `prompt · n + j`.
    pub index: usize,
    /// The response's token ids.
    pub token_ids: Option<Vec<i64>>,
    /// The prompt it answers.
    pub prompt_token_ids: Option<Vec<i64>>,
    /// Per token log-probs.
    pub logprobs: Option<ChoiceLogProbs>,
    /// `stop` | `length`.
    pub finish_reason: Option<String>,
}

/// The log-probs of one response.
#[derive(Debug, Clone, Deserialize)]
pub struct ChoiceLogProbs {
    /// `token_id:<id>` per token.
    pub tokens: Vec<String>,
    /// `log π(y_t)` per token.
    pub token_logprobs: Vec<Option<f64>>,
}

/// One checked response.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// New token ids (the stop token included when one ended it).
    pub ids: Vec<u32>,
    /// The server's `log π(y_t)` of each.
    pub log_probs: Vec<f32>,
    /// It ran to `max_tokens` without a stop token.
    pub truncated: bool,
}

/// What a response must satisfy.
#[derive(Debug, Clone)]
pub struct Limits<'a> {
    /// Rows of the model's embedding: every id must lie below.
    pub vocab_size: usize,
    /// `max_tokens` of the request.
    pub max_tokens: usize,
    /// Ids that end a response.
    pub stop_ids: &'a [u32],
}

/// Checks `response` against the request (`prompts.len() · n` choices, each index once, ids in
/// the vocabulary, lengths, a finite log-prob ≤ 0 per token, the prompt it answers) and
/// returns the responses in request order. The error says what is wrong.
pub fn checked(
    response: CompletionResponse,
    prompts: &[&[u32]],
    n: usize,
    limits: &Limits,
) -> Result<Vec<Completion>, String> {
    let expected = prompts.len() * n;
    if response.choices.len() != expected {
        return Err(format!(
            "{} choices for {} prompts × {n} responses",
            response.choices.len(),
            prompts.len()
        ));
    }
    let mut out: Vec<Option<Completion>> = vec![None; expected];
    for choice in response.choices {
        let index = choice.index;
        let slot = out
            .get_mut(index)
            .ok_or_else(|| format!("choice index {index} out of range (0..{expected})"))?;
        if slot.is_some() {
            return Err(format!("choice index {index} appears twice"));
        }
        let prompt = prompts[index / n];
        *slot =
            Some(check_choice(choice, prompt, limits).map_err(|e| format!("choice {index}: {e}"))?);
    }
    Ok(out.into_iter().flatten().collect())
}

fn check_choice(choice: Choice, prompt: &[u32], limits: &Limits) -> Result<Completion, String> {
    let raw = choice
        .token_ids
        .ok_or("no `token_ids` (a vLLM without `return_token_ids`?)")?;
    let ids = raw
        .iter()
        .map(|&id| {
            u32::try_from(id)
                .ok()
                .filter(|&id| (id as usize) < limits.vocab_size)
                .ok_or_else(|| {
                    format!(
                        "token id {id} outside the vocabulary (0..{})",
                        limits.vocab_size
                    )
                })
        })
        .collect::<Result<Vec<u32>, String>>()?;
    if ids.is_empty() || ids.len() > limits.max_tokens {
        return Err(format!(
            "{} tokens, expected 1..={}",
            ids.len(),
            limits.max_tokens
        ));
    }
    if let Some(seen) = &choice.prompt_token_ids {
        if !seen
            .iter()
            .map(|&id| id as i128)
            .eq(prompt.iter().map(|&id| id as i128))
        {
            return Err("answers another prompt".into());
        }
    }
    let logprobs = choice.logprobs.ok_or("no `logprobs`")?;
    if logprobs.token_logprobs.len() != ids.len() || logprobs.tokens.len() != ids.len() {
        return Err(format!(
            "{} log-probs for {} tokens",
            logprobs.token_logprobs.len(),
            ids.len()
        ));
    }
    for (t, (name, &id)) in logprobs.tokens.iter().zip(&ids).enumerate() {
        if name.strip_prefix("token_id:") != Some(id.to_string().as_str()) {
            return Err(format!("log-prob {t} is of `{name}`, the token is {id}"));
        }
    }
    let log_probs = logprobs
        .token_logprobs
        .iter()
        .enumerate()
        .map(|(t, lp)| match lp {
            // vLLM floors -inf at -9999; a log-prob may exceed 0 only by rounding.
            Some(v) if v.is_finite() && *v <= 1e-4 => Ok(v.min(0.0) as f32),
            other => Err(format!("log-prob {t} is {other:?}")),
        })
        .collect::<Result<Vec<f32>, String>>()?;
    let stopped = limits
        .stop_ids
        .contains(ids.last().expect("ids is not empty"));
    let truncated = match choice.finish_reason.as_deref() {
        Some("length") if ids.len() == limits.max_tokens => true,
        Some("stop") if stopped => false,
        other => {
            return Err(format!(
                "finish reason {other:?} with {} tokens ending in {}",
                ids.len(),
                ids[ids.len() - 1]
            ))
        }
    };
    Ok(Completion {
        ids,
        log_probs,
        truncated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const LIMITS: Limits<'static> = Limits {
        vocab_size: 10,
        max_tokens: 3,
        stop_ids: &[9],
    };

    fn choice(index: usize, ids: &[i64], finish: &str) -> serde_json::Value {
        json!({
            "index": index,
            "token_ids": ids,
            "prompt_token_ids": [1, 2],
            "finish_reason": finish,
            "logprobs": {
                "tokens": ids.iter().map(|i| format!("token_id:{i}")).collect::<Vec<_>>(),
                "token_logprobs": ids.iter().map(|&i| -0.5 * i as f64).collect::<Vec<_>>(),
            }
        })
    }

    fn check(choices: Vec<serde_json::Value>) -> Result<Vec<Completion>, String> {
        let response: CompletionResponse =
            serde_json::from_value(json!({ "choices": choices })).unwrap();
        checked(response, &[&[1, 2]], 2, &LIMITS)
    }

    #[test]
    fn choices_come_back_in_request_order_with_their_finish() {
        let out = check(vec![
            choice(1, &[3, 9], "stop"),
            choice(0, &[4, 5, 6], "length"),
        ])
        .unwrap();
        assert_eq!(out[0].ids, [4, 5, 6]);
        assert!(out[0].truncated);
        assert_eq!(out[1].ids, [3, 9]);
        assert_eq!(out[1].log_probs, [-1.5, -4.5]);
        assert!(!out[1].truncated);
    }

    #[test]
    fn untrusted_answers_are_refused_with_the_reason() {
        let cases = [
            (vec![choice(0, &[3, 9], "stop")], "1 choices"),
            (
                vec![choice(0, &[3, 9], "stop"), choice(0, &[3, 9], "stop")],
                "twice",
            ),
            (
                vec![choice(0, &[3, 9], "stop"), choice(5, &[3, 9], "stop")],
                "out of range",
            ),
            (
                vec![choice(0, &[3, 10], "stop"), choice(1, &[9], "stop")],
                "outside the vocabulary",
            ),
            (
                vec![choice(0, &[-1, 9], "stop"), choice(1, &[9], "stop")],
                "outside the vocabulary",
            ),
            (
                vec![choice(0, &[], "stop"), choice(1, &[9], "stop")],
                "0 tokens",
            ),
            (
                vec![choice(0, &[1, 2, 3, 9], "stop"), choice(1, &[9], "stop")],
                "4 tokens",
            ),
            (
                vec![choice(0, &[3, 4], "stop"), choice(1, &[9], "stop")],
                "finish reason",
            ),
            (
                vec![choice(0, &[3, 4], "length"), choice(1, &[9], "stop")],
                "finish reason",
            ),
        ];
        for (choices, expected) in cases {
            let err = check(choices).unwrap_err();
            assert!(err.contains(expected), "expected `{expected}`: {err}");
        }
        let mut wrong_name = choice(1, &[9], "stop");
        wrong_name["logprobs"]["tokens"][0] = json!("token_id:8");
        let err = check(vec![choice(0, &[9], "stop"), wrong_name]).unwrap_err();
        assert!(err.contains("`token_id:8`"), "{err}");
        let mut positive = choice(1, &[9], "stop");
        positive["logprobs"]["token_logprobs"][0] = json!(0.5);
        assert!(check(vec![choice(0, &[9], "stop"), positive])
            .unwrap_err()
            .contains("log-prob 0"));
        let mut other_prompt = choice(1, &[9], "stop");
        other_prompt["prompt_token_ids"] = json!([1, 3]);
        let err = check(vec![choice(0, &[9], "stop"), other_prompt]).unwrap_err();
        assert!(err.contains("another prompt"), "{err}");
    }

    #[test]
    fn the_request_is_greedy_at_temperature_zero_and_keeps_stop_ids() {
        let sampling = SamplingConfig {
            temperature: 0.0,
            max_new_tokens: 7,
            stop_token_ids: vec![2, 3],
            ..SamplingConfig::default()
        };
        let prompt: &[u32] = &[1, 2];
        let request = CompletionRequest::new("m", vec![prompt], 4, u64::MAX, &sampling);
        let body = serde_json::to_value(&request).unwrap();
        assert_eq!(body["temperature"], 0.0);
        assert_eq!(body["max_tokens"], 7);
        assert_eq!(body["stop_token_ids"], json!([2, 3]));
        assert_eq!(body["prompt"], json!([[1, 2]]));
        assert!(body.get("top_k").is_none());
        // vLLM adds the response index to the seed: it must stay below 2^64.
        assert!(request.seed.checked_add(1 << 20).is_some());
    }
}
