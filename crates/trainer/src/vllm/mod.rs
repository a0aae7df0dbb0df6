//! Rollouts from vLLM servers (`[rollout] engine = "vllm"`, issue 26): the servers sample, the
//! trainer verifies and trains exactly as with the in-process sampler
//! ([`crate::rollout::Sampler::sample_with`] is the one seam).
//!
//! - [`VllmRollouts::open`] reaches the user's servers (`urls`, one `/health` each) or starts one
//!   ([`server::LaunchedServer`], `launch = true`) on the run's model;
//! - [`VllmRollouts::sync`] writes the policy as an HF checkpoint into the sync directory and has
//!   every server reload it in place (`POST /collective_rpc reload_weights`, then
//!   `/reset_prefix_cache` so no KV block of the old weights is reused) — before every step's
//!   rollouts, so a failed sync leaves no step half-applied;
//! - [`VllmRollouts::generate`] sends each chunk of prompts as one `/v1/completions` request
//!   (token-id prompts, `n` = K, seeded), chunks spread over the servers and in flight together,
//!   and checks every answer ([`completion::checked`]);
//! - [`logprob_gap`] compares the server's log-probs with the trainer's old log-probs: the check
//!   `vllm_logprob_abs_diff_mean/_max` of `metrics.jsonl`. The trainer still recomputes the old
//!   log-probs itself (PRIME's order).
//!
//! Faults: a request that fails or times out is retried with backoff ([`client::Client`]); a
//! server that stays down ends the run after a checkpoint of the last whole step
//! (`Trainer::run`), with a message naming the url.

mod adapter_rollouts;
mod adapters;
pub mod client;
pub mod completion;
mod error;
mod open;
mod run;
pub mod server;
mod untie;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use prime_models::{FinishReason, Generation, SamplingConfig};

use prime_data::prompts::PromptDataset;

use crate::config::TrainConfig;
use crate::error::TrainError;
use client::{Client, RetryPolicy};
use completion::{checked, CompletionRequest, CompletionResponse, Limits};
pub use error::VllmError;
pub(crate) use open::open_engine;
use server::{LaunchSpec, LaunchedServer};

/// The name a launched server serves the policy under.
pub const SERVED_NAME: &str = "prime-policy";

/// The vLLM side of a run: its servers, what they serve, and which policy they hold.
pub struct VllmRollouts {
    clients: Vec<Client>,
    /// The `model` of every completion request.
    model: String,
    /// Where synced weights are written.
    sync_dir: PathBuf,
    /// Rows of the policy's embedding (ids must lie below), from the synced `config.json`.
    vocab_size: usize,
    /// The servers hold the policy of the last sync (false before the first).
    synced: bool,
    /// The server this run started, stopped when this is dropped.
    launched: Option<LaunchedServer>,
    /// A server to launch at the first sync (LoRA: the base must be on disk first).
    pending: Option<LaunchSpec>,
    /// With LoRA: the adapters the servers hold.
    adapters: Option<adapters::AdapterSync>,
    /// Per-request timeout and retries of every client.
    timeout: Duration,
    retry: RetryPolicy,
    run_dir: PathBuf,
}

impl VllmRollouts {
    /// Reaches the configured servers, or launches one on the policy `write_policy` writes (an
    /// HF directory with tokenizer files). `cancelled` is polled while a launched server starts.
    /// With LoRA (`[lora] rank > 0`) the servers sample from the frozen base plus the policy's
    /// adapter ([`VllmRollouts::sync_adapter`]); a launched server then starts at the first sync,
    /// once the base is on disk.
    pub fn open(
        config: &TrainConfig,
        run_dir: &Path,
        write_policy: impl FnOnce(&Path) -> Result<(), TrainError>,
        cancelled: impl Fn() -> bool,
    ) -> Result<Self, TrainError> {
        let settings = &config.rollout.vllm;
        let sync_dir = settings
            .sync_dir
            .clone()
            .unwrap_or_else(|| run_dir.join("vllm/weights"));
        let lora = config.lora.enabled();
        let mut engine = Self {
            clients: Vec::new(),
            model: settings.model.clone().unwrap_or_else(|| SERVED_NAME.into()),
            sync_dir: sync_dir.clone(),
            vocab_size: 0,
            synced: false,
            launched: None,
            pending: None,
            adapters: lora.then(|| adapters::AdapterSync::new(config, run_dir)),
            timeout: Duration::from_secs_f64(settings.timeout_s),
            retry: RetryPolicy {
                retries: settings.retries,
                backoff: Duration::from_secs_f64(settings.backoff_s),
            },
            run_dir: run_dir.to_path_buf(),
        };
        if settings.launch {
            let mut spec = LaunchSpec {
                python: server::python(),
                model_dir: sync_dir,
                served_name: engine.model.clone(),
                dtype: settings.dtype.clone(),
                max_model_len: settings.max_model_len.unwrap_or(0),
                seed: config.seed,
                extra_args: settings.server_args.clone(),
                env: Vec::new(),
                log: run_dir.join("vllm/server.log"),
                startup_timeout: Duration::from_secs_f64(settings.startup_timeout_s),
            };
            if let Some(adapters) = &engine.adapters {
                adapters.configure_launch(&mut spec, config.lora.rank)?;
                engine.pending = Some(spec);
            } else {
                write_weights(&spec.model_dir, write_policy)?;
                engine.launch(spec, cancelled)?;
            }
            return Ok(engine);
        }
        engine.clients = settings.urls.iter().map(|u| engine.client(u)).collect();
        for c in &engine.clients {
            c.healthy(Duration::from_secs(10))
                .map_err(|message| VllmError::Unreachable {
                    url: c.url().into(),
                    message,
                })?;
        }
        if settings.model.is_none() {
            engine.model = served_model(&engine.clients[0])?;
        }
        tracing::info!(urls = ?settings.urls, model = engine.model, "vLLM servers reachable");
        Ok(engine)
    }

    fn client(&self, url: &str) -> Client {
        Client::new(url, self.timeout, self.retry)
    }

    /// Starts the server of `spec` (`max_model_len` 0: the model's `max_position_embeddings`)
    /// and points the engine at it.
    fn launch(
        &mut self,
        mut spec: LaunchSpec,
        cancelled: impl Fn() -> bool,
    ) -> Result<(), TrainError> {
        let model_config = read_model_config(&spec.model_dir)?;
        if spec.max_model_len == 0 {
            spec.max_model_len = model_config.max_position_embeddings;
        }
        let server = LaunchedServer::start(&spec, cancelled)?;
        let pid_file = self.run_dir.join("vllm/server.pid");
        std::fs::write(&pid_file, server.pid().to_string())
            .map_err(|e| TrainError::io(&pid_file, e))?;
        self.clients = vec![self.client(server.url())];
        self.vocab_size = model_config.vocab_size;
        self.launched = Some(server);
        Ok(())
    }

    /// Runs `request` against every server at once.
    fn on_every_server<T: Send>(
        &self,
        request: impl Fn(&Client) -> Result<T, VllmError> + Sync,
    ) -> Result<Vec<T>, VllmError> {
        std::thread::scope(|s| {
            let handles: Vec<_> = self
                .clients
                .iter()
                .map(|c| s.spawn(|| request(c)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a request thread does not panic"))
                .collect()
        })
    }

    /// The servers' urls.
    pub fn urls(&self) -> Vec<&str> {
        self.clients.iter().map(Client::url).collect()
    }

    /// Makes every server hold the policy `write_policy` writes: reloaded in place from the
    /// sync directory. Called before every step's rollouts, whatever changed the policy since
    /// (an update, the SFT warm-up, a resume). Returns the seconds it took.
    pub fn sync(
        &mut self,
        write_policy: impl FnOnce(&Path) -> Result<(), TrainError>,
    ) -> Result<f64, TrainError> {
        let started = Instant::now();
        write_weights(&self.sync_dir, write_policy)?;
        self.vocab_size = read_model_config(&self.sync_dir)?.vocab_size;
        let reload = serde_json::json!({
            "method": "reload_weights",
            "kwargs": { "weights_path": self.sync_dir },
        });
        self.on_every_server(|c| c.post::<serde_json::Value>("/collective_rpc", &reload))?;
        // Cached KV blocks of prompts were computed with the old weights.
        let null = serde_json::Value::Null;
        self.on_every_server(|c| c.post::<serde_json::Value>("/reset_prefix_cache", &null))?;
        self.synced = true;
        let seconds = started.elapsed().as_secs_f64();
        tracing::debug!(seconds, "weights synced to vLLM");
        Ok(seconds)
    }

    /// `k` responses to each prompt of each chunk (indices into `dataset`; greedy: the prompt
    /// `k` times), one request per chunk, chunk `c` to server `c mod servers` with seed `derive_seed(seed, [c])`, all in
    /// flight together. Rows as [`crate::rollout::Sampler::sample_with`] wants them; the
    /// log-probs are the server's.
    pub fn generate(
        &self,
        dataset: &PromptDataset,
        chunks: &[&[usize]],
        k: usize,
        sampling: &SamplingConfig,
        seed: u64,
    ) -> Result<Vec<Generation>, TrainError> {
        if !self.synced {
            return Err(TrainError::Config(
                "vLLM rollouts before the first weight sync".into(),
            ));
        }
        let limits = Limits {
            vocab_size: self.vocab_size,
            max_tokens: sampling.max_new_tokens,
            stop_ids: &sampling.stop_token_ids,
        };
        // vLLM refuses `n > 1` when greedy: then each prompt is sent `k` times with `n = 1`.
        let greedy = sampling.greedy || sampling.temperature <= 0.0;
        let (copies, n) = if greedy { (k, 1) } else { (1, k) };
        let chunks: Vec<Vec<&[u32]>> = chunks
            .iter()
            .map(|chunk| {
                chunk
                    .iter()
                    .flat_map(|&p| std::iter::repeat_n(dataset.prompt_ids(p), copies))
                    .collect()
            })
            .collect();
        let results = std::thread::scope(|s| {
            let handles: Vec<_> = chunks
                .iter()
                .enumerate()
                .map(|(c, prompts)| {
                    let client = &self.clients[c % self.clients.len()];
                    let limits = &limits;
                    let seed = crate::seeds::derive_seed(seed, &[c as u64]);
                    s.spawn(move || -> Result<Generation, VllmError> {
                        let request =
                            CompletionRequest::new(&self.model, prompts.clone(), n, seed, sampling);
                        let response: CompletionResponse =
                            client.post("/v1/completions", &request)?;
                        let completions =
                            checked(response, prompts, n, limits).map_err(|message| {
                                VllmError::Invalid {
                                    url: client.url().into(),
                                    endpoint: "/v1/completions".into(),
                                    message,
                                }
                            })?;
                        Ok(to_generation(completions))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a request thread does not panic"))
                .collect::<Vec<_>>()
        });
        results
            .into_iter()
            .map(|r| r.map_err(TrainError::from))
            .collect()
    }

    /// The process id of the server this run launched.
    pub fn launched_pid(&self) -> Option<u32> {
        self.launched.as_ref().map(LaunchedServer::pid)
    }
}

fn to_generation(completions: Vec<completion::Completion>) -> Generation {
    let mut generation = Generation {
        tokens: Vec::with_capacity(completions.len()),
        finish_reasons: Vec::with_capacity(completions.len()),
        logprobs: Vec::with_capacity(completions.len()),
    };
    for c in completions {
        generation.finish_reasons.push(if c.truncated {
            FinishReason::Length
        } else {
            FinishReason::Stop
        });
        generation.tokens.push(c.ids);
        generation.logprobs.push(c.log_probs);
    }
    generation
}

/// `(mean, max)` of `|server − trainer|` over every token of every response with server
/// log-probs; `None` when no response has them. `sampler[i]` and `trainer[i]` are response
/// `i`'s per-token log-probs.
pub fn logprob_gap<'a>(
    sampler: impl IntoIterator<Item = &'a [f32]>,
    trainer: &[Vec<f32>],
) -> Option<(f64, f64)> {
    let (mut sum, mut max, mut n) = (0.0f64, 0.0f64, 0usize);
    for (server, ours) in sampler.into_iter().zip(trainer) {
        if server.len() != ours.len() {
            continue;
        }
        for (&a, &b) in server.iter().zip(ours) {
            let d = (a as f64 - b as f64).abs();
            sum += d;
            max = max.max(d);
            n += 1;
        }
    }
    (n > 0).then(|| (sum / n as f64, max))
}

/// The fields of `config.json` the servers need.
#[derive(serde::Deserialize)]
struct ModelConfig {
    vocab_size: usize,
    max_position_embeddings: usize,
}

fn read_model_config(dir: &Path) -> Result<ModelConfig, TrainError> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|e| TrainError::io(&path, e))?;
    serde_json::from_str(&text).map_err(|e| TrainError::Format {
        path,
        message: e.to_string(),
    })
}

/// Empties `dir` of weight files (vLLM loads every `*.safetensors` there), then writes.
fn write_weights(
    dir: &Path,
    write: impl FnOnce(&Path) -> Result<(), TrainError>,
) -> Result<(), TrainError> {
    std::fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
    for entry in std::fs::read_dir(dir).map_err(|e| TrainError::io(dir, e))? {
        let path = entry.map_err(|e| TrainError::io(dir, e))?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.ends_with(".safetensors") || name.ends_with(".safetensors.index.json") {
            // `lm_head.safetensors` included: it is rewritten from the new embedding.
            std::fs::remove_file(&path).map_err(|e| TrainError::io(&path, e))?;
        }
    }
    write(dir)?;
    untie::untie_embeddings(dir)?;
    Ok(())
}

/// The first model a server lists under `/v1/models`.
fn served_model(client: &Client) -> Result<String, VllmError> {
    #[derive(serde::Deserialize)]
    struct Models {
        data: Vec<Model>,
    }
    #[derive(serde::Deserialize)]
    struct Model {
        id: String,
    }
    let models: Models = client.get("/v1/models")?;
    models
        .data
        .into_iter()
        .next()
        .map(|m| m.id)
        .ok_or_else(|| VllmError::Invalid {
            url: client.url().into(),
            endpoint: "/v1/models".into(),
            message: "the server serves no model".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gap_is_over_tokens_of_responses_with_server_log_probs() {
        let server: Vec<Vec<f32>> = vec![vec![-1.0, -2.0], vec![], vec![-0.5]];
        let trainer = vec![vec![-1.5, -2.0], vec![-3.0], vec![-0.25]];
        let (mean, max) = logprob_gap(server.iter().map(Vec::as_slice), &trainer).unwrap();
        assert!((mean - 0.75 / 3.0).abs() < 1e-12, "{mean}");
        assert_eq!(max, 0.5);
        assert!(logprob_gap([&[][..]], &trainer).is_none());
    }

    #[test]
    fn sync_clears_stale_weight_shards() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "model-00001-of-00002.safetensors",
            "model.safetensors.index.json",
            "tokenizer.json",
        ] {
            std::fs::write(dir.path().join(name), "x").unwrap();
        }
        write_weights(dir.path(), |d| {
            std::fs::write(d.join("config.json"), r#"{"tie_word_embeddings": false}"#)
                .and_then(|()| std::fs::write(d.join("model.safetensors"), "y"))
                .map_err(|e| TrainError::io(d, e))
        })
        .unwrap();
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["config.json", "model.safetensors", "tokenizer.json"]);
    }
}
