//! [`Trainer`]: one run — setup or resume, SFT warm-up, the RL loop with evaluations and
//! checkpoints, the report and the final summary.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use prime_advantages::AdvantageEstimator;
use prime_implicit_prm::{ImplicitPrm, PrmConfig, PrmReference};
use prime_models::{load_hf, save_hf, Qwen2Config, Qwen2ForCausalLm, SaveDtype, Tokenizer};
use prime_verifiers::VerifyRunner;

use crate::checkpoint_dir::CheckpointDir;
use crate::config::{choice_name, ReferenceMode, ScratchModel, TrainConfig};
use crate::cursor::{derive_seed, PromptCursor};
use crate::error::TrainError;
use crate::eval::{evaluate, EvalSettings};
use crate::metrics::{read_jsonl, EvalRecord, JsonlWriter, SampleRecord, StepMetrics};
use crate::progress::Progress;
use crate::report::{Report, ReportRun};
use crate::rollout::PromptItem;
use crate::schedule::LrSchedule;
use crate::setup;
use crate::sft::{supervised_warmup, SftSettings};
use crate::state::{RunState, RunSummary};
use prime_models::optim_state::{load_adamw, save_adamw, AdamWOf};

/// The implicit PRM as the trainer holds it.
pub type Prm<B> = ImplicitPrm<B, Qwen2ForCausalLm<B>>;

/// Files of a run directory.
pub mod files {
    /// Per-step metrics.
    pub const METRICS: &str = "metrics.jsonl";
    /// Evaluations.
    pub const EVAL: &str = "eval.jsonl";
    /// Sample responses with token rewards.
    pub const SAMPLES: &str = "samples.jsonl";
    /// The config the run uses.
    pub const CONFIG: &str = "config.toml";
    /// The report.
    pub const REPORT: &str = "report.html";
    /// The model RL starts from (after SFT): reference of the PRM and the KL term.
    pub const INIT: &str = "init";
    /// The trained policy, HF layout in `model.save_dtype`.
    pub const FINAL: &str = "final";
}

/// A training run.
pub struct Trainer<B: AutodiffBackend> {
    pub(crate) config: TrainConfig,
    pub(crate) run_dir: PathBuf,
    pub(crate) device: B::Device,
    pub(crate) tokenizer: Tokenizer,
    pub(crate) tokenizer_dir: PathBuf,
    pub(crate) train: Vec<PromptItem>,
    pub(crate) eval: Vec<PromptItem>,
    pub(crate) policy: Qwen2ForCausalLm<B>,
    pub(crate) optimizer: AdamWOf<Qwen2ForCausalLm<B>, B>,
    pub(crate) prm: Option<Prm<B>>,
    pub(crate) kl_reference: Option<Qwen2ForCausalLm<B::InnerBackend>>,
    pub(crate) estimator: Box<dyn AdvantageEstimator>,
    pub(crate) runner: VerifyRunner,
    pub(crate) state: RunState,
    pub(crate) stop_ids: Vec<u32>,
    pub(crate) eos_id: u32,
    pub(crate) pad_id: u32,
    pub(crate) schedule: LrSchedule,
    pub(crate) interrupt: Arc<AtomicBool>,
    pub(crate) metrics: JsonlWriter,
    pub(crate) evals: JsonlWriter,
    pub(crate) samples: JsonlWriter,
    /// The run has an RL start model (`init/`) and step-0 state (false only before SFT ends).
    pub(crate) started_rl: bool,
    pub(crate) progress: Progress,
}

impl<B: AutodiffBackend> Trainer<B> {
    /// Opens `run_dir` — resuming from its latest checkpoint when `resume` and one exists — and
    /// builds everything the run needs. `interrupt` is polled between steps (Ctrl-C).
    pub fn open(
        config: TrainConfig,
        run_dir: &Path,
        resume: bool,
        device: B::Device,
        interrupt: Arc<AtomicBool>,
    ) -> Result<Self, TrainError> {
        std::fs::create_dir_all(run_dir).map_err(|e| TrainError::io(run_dir, e))?;
        let checkpoints = CheckpointDir::new(run_dir, config.checkpoint.keep_last);
        let latest = if resume { checkpoints.latest()? } else { None };
        let config_path = run_dir.join(files::CONFIG);
        if latest.is_none() {
            std::fs::write(&config_path, config.to_toml_string()?)
                .map_err(|e| TrainError::io(&config_path, e))?;
        }

        let (tokenizer, tokenizer_dir) = setup::load_tokenizer(&config, run_dir)?;
        let eos_id = tokenizer
            .eos_token_id()
            .ok_or_else(|| TrainError::Model("the tokenizer names no eos token".into()))?;
        let pad_id = tokenizer.pad_token_id().unwrap_or(eos_id);
        let mut stop_ids = tokenizer.stop_token_ids().to_vec();
        if !stop_ids.contains(&eos_id) {
            stop_ids.push(eos_id);
        }
        let (train, eval) = setup::load_problems(&config)?;
        let (train, dropped_train) =
            setup::tokenize_prompts(train, &tokenizer, config.data.max_prompt_len)?;
        let (eval, dropped_eval) =
            setup::tokenize_prompts(eval, &tokenizer, config.data.max_prompt_len)?;
        if train.is_empty() {
            return Err(TrainError::Data(
                "no training prompt fits data.max_prompt_len".into(),
            ));
        }
        tracing::info!(
            train = train.len(),
            eval = eval.len(),
            dropped_train,
            dropped_eval,
            "prompts ready"
        );

        let runner = setup::verify_runner();
        let estimator = setup::build_estimator(&config)?;
        let schedule = LrSchedule::from_section(&config.schedule, config.optim.lr, config.steps);
        let weight_decay = config.optim.weight_decay as f32;
        let fresh_optimizer = || {
            prime_models::optim::adamw(weight_decay)
                .with_beta_1(config.optim.beta1 as f32)
                .with_beta_2(config.optim.beta2 as f32)
                .with_epsilon(config.optim.eps as f32)
                .init::<B, Qwen2ForCausalLm<B>>()
        };

        let (policy, optimizer, prm, kl_reference, state, started_rl) = match &latest {
            Some((step, dir)) => {
                tracing::info!(step, dir = %dir.display(), "resuming");
                let state: RunState = read_json(&dir.join("state.json"))?;
                let policy = load_hf::<B>(&dir.join("policy"), &device).map_err(model_err)?;
                let optimizer = load_adamw(
                    fresh_optimizer(),
                    &policy,
                    &dir.join("policy_optim.mpk"),
                    &device,
                )
                .map_err(model_err)?;
                let prm = if config.prm.enabled {
                    let model = load_hf::<B>(&dir.join("prm"), &device).map_err(model_err)?;
                    let mut prm = build_prm::<B>(&config, model, run_dir, &device)?;
                    prm.load_optimizer(&dir.join("prm_optim.mpk"))
                        .map_err(|e| TrainError::Prm(e.to_string()))?;
                    Some(prm)
                } else {
                    None
                };
                let kl = kl_reference::<B>(&config, run_dir, &device)?;
                (policy, optimizer, prm, kl, state, true)
            }
            None => {
                let policy = match &config.model.path {
                    Some(path) => load_hf::<B>(path, &device).map_err(model_err)?,
                    None => {
                        B::seed(&device, derive_seed(config.seed, &[0x1417]));
                        qwen2_config(&config.model.scratch, tokenizer.vocab_size())
                            .init::<B>(&device)
                    }
                };
                tokenizer
                    .check_model_vocab(policy.config().vocab_size)
                    .map_err(|e| TrainError::Model(e.to_string()))?;
                let state = RunState {
                    step: 0,
                    cursor: PromptCursor::new(
                        derive_seed(config.seed, &[0xDA7A]),
                        train.len(),
                        config.data.shuffle,
                    ),
                    buffer: Vec::new(),
                    skipped_total: 0,
                    accuracy_before: None,
                    last_eval: None,
                    wall_seconds: 0.0,
                    seed: config.seed,
                };
                (policy, fresh_optimizer(), None, None, state, false)
            }
        };
        let keep = latest.as_ref().map(|(s, _)| *s);
        let metrics = JsonlWriter::open(&run_dir.join(files::METRICS), keep)?;
        let evals = JsonlWriter::open(&run_dir.join(files::EVAL), keep)?;
        let samples = JsonlWriter::open(&run_dir.join(files::SAMPLES), keep)?;
        let progress = Progress::new(config.steps as u64, config.logging.progress);
        Ok(Self {
            config,
            run_dir: run_dir.to_path_buf(),
            device,
            tokenizer,
            tokenizer_dir,
            train,
            eval,
            policy,
            optimizer,
            prm,
            kl_reference,
            estimator,
            runner,
            state,
            stop_ids,
            eos_id,
            pad_id,
            schedule,
            interrupt,
            metrics,
            evals,
            samples,
            started_rl,
            progress,
        })
    }

    /// Runs to `config.steps` (or Ctrl-C) and returns the summary. Writes the report.
    pub fn run(mut self) -> Result<RunSummary, TrainError> {
        let session = Instant::now();
        let wall_before = self.state.wall_seconds;
        let wall = |s: &Instant| wall_before + s.elapsed().as_secs_f64();
        if !self.started_rl {
            if self.config.sft.enabled {
                self.policy = self.supervised(self.policy.clone(), "SFT")?;
                self.scratch_prm_warmup()?;
            }
            self.start_rl()?;
            let record = self.evaluate(0)?;
            self.state.accuracy_before = Some(record.accuracy);
            self.state.last_eval = Some((0, record.accuracy));
            self.state.wall_seconds = wall(&session);
            self.checkpoint()?;
        }
        let mut interrupted = false;
        self.progress.set_position(self.state.step as u64);
        while self.state.step < self.config.steps {
            let step = self.state.step + 1;
            let metrics = self.step(step)?;
            self.metrics.write(&metrics)?;
            self.progress.step(&metrics);
            self.state.step = step;
            let last = step == self.config.steps;
            if (self.config.eval.every > 0 && step % self.config.eval.every == 0) || last {
                let record = self.evaluate(step)?;
                self.state.last_eval = Some((step, record.accuracy));
            }
            interrupted = self.interrupted();
            if (self.config.checkpoint.every > 0 && step % self.config.checkpoint.every == 0)
                || last
                || interrupted
            {
                self.state.wall_seconds = wall(&session);
                self.checkpoint()?;
            }
            if interrupted {
                tracing::warn!(step, "interrupted: checkpoint written, stopping");
                break;
            }
        }
        self.progress.finish();
        if !interrupted {
            let out = self.run_dir.join(files::FINAL);
            save_hf(&self.policy, &out, self.config.model.save_dtype).map_err(model_err)?;
            setup::copy_tokenizer_files(&self.tokenizer_dir, &out)?;
        }
        self.state.wall_seconds = wall(&session);
        if self.config.logging.report {
            let report = run_report(&self.run_dir, "PRIME")?;
            Report {
                title: format!("prime-rs run {}", self.run_dir.display()),
                summary: self.summary_lines(),
                runs: vec![report],
            }
            .write(&self.run_dir.join(files::REPORT))?;
        }
        Ok(RunSummary {
            run_dir: self.run_dir.clone(),
            accuracy_before: self.state.accuracy_before.unwrap_or(f64::NAN),
            accuracy_after: self.state.last_eval.map(|(_, a)| a).unwrap_or(f64::NAN),
            wall_seconds: self.state.wall_seconds,
            steps: self.state.step,
            interrupted,
        })
    }

    fn interrupted(&self) -> bool {
        self.interrupt.load(Ordering::SeqCst)
    }

    fn summary_lines(&self) -> Vec<(String, String)> {
        let c = &self.config;
        vec![
            ("estimator".into(), c.advantage.estimator.clone()),
            (
                "implicit PRM".into(),
                if c.prm.enabled {
                    format!(
                        "on (β = {}, update {})",
                        c.prm.beta,
                        choice_name(&c.prm.update)
                    )
                } else {
                    "off".into()
                },
            ),
            ("steps".into(), self.state.step.to_string()),
            (
                "prompts × samples".into(),
                format!("{} × {}", c.rollout.batch_size, c.rollout.n_samples),
            ),
            (
                "accuracy before RL".into(),
                fmt_pct(self.state.accuracy_before),
            ),
            (
                "accuracy after".into(),
                fmt_pct(self.state.last_eval.map(|x| x.1)),
            ),
            (
                "wall seconds".into(),
                format!("{:.1}", self.state.wall_seconds),
            ),
            ("seed".into(), c.seed.to_string()),
        ]
    }

    /// SFT warm-up of `model` on the built-in task's worked solutions (`[sft]`); `label`
    /// (`SFT`, `PRM SFT`) prefixes the progress bar and tags the log lines. Interrupting it is an error: there is no
    /// checkpoint before RL starts.
    fn supervised(
        &self,
        model: Qwen2ForCausalLm<B>,
        label: &'static str,
    ) -> Result<Qwen2ForCausalLm<B>, TrainError> {
        let sft = self.config.sft.clone();
        let schedule = LrSchedule::WarmupCosine {
            base: sft.lr,
            warmup: sft.warmup_steps,
            total: sft.steps,
            min_ratio: 0.1,
        };
        let settings = SftSettings {
            steps: sft.steps,
            batch_size: sft.batch_size,
            schedule,
            grad_clip: sft.grad_clip,
            pad_id: self.pad_id,
        };
        let mut optimizer =
            prime_models::optim::adamw(sft.weight_decay as f32).init::<B, Qwen2ForCausalLm<B>>();
        let config = self.config.clone();
        let tokenizer = &self.tokenizer;
        let eos = self.eos_id;
        let interrupt = self.interrupt.clone();
        let bar = Progress::new(sft.steps as u64, self.config.logging.progress);
        bar.set_prefix(label);
        let (model, report) = supervised_warmup(
            model,
            &mut optimizer,
            &settings,
            |step| {
                if interrupt.load(Ordering::SeqCst) {
                    return Ok(Vec::new());
                }
                setup::sft_pairs(
                    &config,
                    tokenizer,
                    eos,
                    (step * sft.batch_size) as u64,
                    sft.batch_size,
                )
            },
            &self.device,
            |step, loss| {
                bar.sft_step(loss);
                if step % 50 == 0 || step + 1 == sft.steps {
                    tracing::info!(model = label, step, loss, "sft");
                }
            },
        )?;
        bar.finish();
        tracing::info!(
            model = label,
            steps = report.losses.len(),
            final_loss = report.losses.last().copied().unwrap_or(f64::NAN),
            skipped = report.skipped,
            seconds = report.seconds,
            "sft done"
        );
        if self.interrupted() {
            return Err(TrainError::Config(
                "interrupted during SFT; nothing to resume from".into(),
            ));
        }
        Ok(model)
    }

    /// With `[prm.scratch]`: builds the PRM at its own architecture, gives it the same SFT
    /// warm-up as the policy and saves it where [`prm_init_dir`] points.
    fn scratch_prm_warmup(&self) -> Result<(), TrainError> {
        let Some(arch) = self
            .config
            .prm
            .scratch
            .as_ref()
            .filter(|_| self.config.prm.enabled)
        else {
            return Ok(());
        };
        B::seed(&self.device, derive_seed(self.config.seed, &[0x9A17]));
        let model = qwen2_config(arch, self.tokenizer.vocab_size()).init::<B>(&self.device);
        let model = self.supervised(model, "PRM SFT")?;
        let dir = prm_init_dir(&self.config, &self.run_dir);
        save_hf(&model, &dir, SaveDtype::F32).map_err(model_err)?;
        setup::copy_tokenizer_files(&self.tokenizer_dir, &dir)
    }

    /// Saves the RL start model and builds the PRM and the KL reference from it.
    fn start_rl(&mut self) -> Result<(), TrainError> {
        let init = self.run_dir.join(files::INIT).join("policy");
        save_hf(&self.policy, &init, SaveDtype::F32).map_err(model_err)?;
        setup::copy_tokenizer_files(&self.tokenizer_dir, &init)?;
        if self.config.prm.enabled {
            let source = prm_init_dir(&self.config, &self.run_dir);
            let model = load_hf::<B>(&source, &self.device).map_err(model_err)?;
            self.prm = Some(build_prm::<B>(
                &self.config,
                model,
                &self.run_dir,
                &self.device,
            )?);
        }
        self.kl_reference = kl_reference::<B>(&self.config, &self.run_dir, &self.device)?;
        self.started_rl = true;
        Ok(())
    }

    pub(crate) fn evaluate(&mut self, step: usize) -> Result<EvalRecord, TrainError> {
        let settings = EvalSettings {
            k: self.config.eval.k,
            temperature: self.config.eval.temperature,
            max_response_len: self
                .config
                .eval
                .max_response_len
                .unwrap_or(self.config.rollout.max_response_len),
            prompts_per_call: self.config.eval.micro_batch_size,
            stop_token_ids: self.stop_ids.clone(),
            pad_token_id: self.pad_id,
            seed: derive_seed(self.config.seed, &[0xE7A1]),
        };
        let model = self.policy.valid();
        let record = evaluate(
            &model,
            &self.eval,
            &self.tokenizer,
            &self.runner,
            &settings,
            step,
            &self.device,
        )?;
        tracing::info!(step, accuracy = record.accuracy, avg_at_k = ?record.avg_at_k, seconds = record.seconds, "eval");
        self.progress.eval(step, record.accuracy);
        self.evals.write(&record)?;
        Ok(record)
    }

    /// Writes checkpoint `state.step` atomically.
    pub(crate) fn checkpoint(&mut self) -> Result<PathBuf, TrainError> {
        let dir = CheckpointDir::new(&self.run_dir, self.config.checkpoint.keep_last);
        let config_text = self.config.to_toml_string()?;
        let state_text =
            serde_json::to_string_pretty(&self.state).map_err(|e| TrainError::Format {
                path: "state.json".into(),
                message: e.to_string(),
            })?;
        let path = dir.write(self.state.step, |tmp| {
            save_hf(&self.policy, &tmp.join("policy"), SaveDtype::F32).map_err(model_err)?;
            setup::copy_tokenizer_files(&self.tokenizer_dir, &tmp.join("policy"))?;
            save_adamw(&self.optimizer, &self.policy, &tmp.join("policy_optim.mpk"))
                .map_err(model_err)?;
            if let Some(prm) = &self.prm {
                save_hf(prm.model(), &tmp.join("prm"), SaveDtype::F32).map_err(model_err)?;
                prm.save_optimizer(&tmp.join("prm_optim.mpk"))
                    .map_err(|e| TrainError::Prm(e.to_string()))?;
            }
            let write = |name: &str, text: &str| {
                let p = tmp.join(name);
                std::fs::write(&p, text).map_err(|e| TrainError::io(&p, e))
            };
            write("state.json", &state_text)?;
            write("config.toml", &config_text)
        })?;
        tracing::debug!(path = %path.display(), "checkpoint written");
        Ok(path)
    }

    pub(crate) fn record_samples(&mut self, samples: Vec<SampleRecord>) -> Result<(), TrainError> {
        for s in &samples {
            self.samples.write(s)?;
        }
        Ok(())
    }

    pub(crate) fn buffer(&self) -> VecDeque<usize> {
        self.state.buffer.iter().copied().collect()
    }
}

/// Where the run's initial PRM comes from: `prm.path`, the scratch PRM after its SFT warm-up
/// (`init/prm`), or the initial policy (`init/policy`, the paper's choice).
fn prm_init_dir(config: &TrainConfig, run_dir: &Path) -> PathBuf {
    match (&config.prm.path, &config.prm.scratch) {
        (Some(path), _) => path.clone(),
        (None, Some(_)) => run_dir.join(files::INIT).join("prm"),
        (None, None) => run_dir.join(files::INIT).join("policy"),
    }
}

/// The Qwen2 architecture of a model built from scratch.
fn qwen2_config(s: &ScratchModel, vocab_size: usize) -> Qwen2Config {
    Qwen2Config {
        vocab_size,
        hidden_size: s.hidden_size,
        intermediate_size: s.intermediate_size,
        num_hidden_layers: s.num_hidden_layers,
        num_attention_heads: s.num_attention_heads,
        num_key_value_heads: s.num_key_value_heads,
        head_dim: s.hidden_size / s.num_attention_heads,
        max_position_embeddings: s.max_position_embeddings,
        rope_theta: s.rope_theta,
        tie_word_embeddings: s.tie_word_embeddings,
        ..Qwen2Config::tiny()
    }
}

/// The PRM around `model`, with its reference (a frozen copy of the run's initial PRM, loaded
/// from disk so a resumed run gets bit-identical weights, or the policy's old log-probs).
fn build_prm<B: AutodiffBackend>(
    config: &TrainConfig,
    model: Qwen2ForCausalLm<B>,
    run_dir: &Path,
    device: &B::Device,
) -> Result<Prm<B>, TrainError> {
    let p = &config.prm;
    let prm_config = PrmConfig {
        beta: p.beta as f32,
        loss: p.loss,
        update: p.update,
        lr: p.lr,
        weight_decay: p.weight_decay as f32,
        grad_clip: p.grad_clip as f32,
        mini_batch_size: p.mini_batch_size,
        measure_after_update: false,
    };
    let reference = match config.reference.mode {
        ReferenceMode::Policy => PrmReference::Policy,
        ReferenceMode::Freeze => {
            let dir = config
                .reference
                .path
                .clone()
                .unwrap_or_else(|| prm_init_dir(config, run_dir));
            PrmReference::Frozen(load_hf::<B::InnerBackend>(&dir, device).map_err(model_err)?)
        }
    };
    ImplicitPrm::new(model, reference, prm_config).map_err(|e| TrainError::Prm(e.to_string()))
}

/// The frozen initial policy for the KL term (only when `ppo.kl_coef ≠ 0`).
fn kl_reference<B: AutodiffBackend>(
    config: &TrainConfig,
    run_dir: &Path,
    device: &B::Device,
) -> Result<Option<Qwen2ForCausalLm<B::InnerBackend>>, TrainError> {
    if config.ppo.kl_coef == 0.0 {
        return Ok(None);
    }
    let dir = run_dir.join(files::INIT).join("policy");
    Ok(Some(
        load_hf::<B::InnerBackend>(&dir, device).map_err(model_err)?,
    ))
}

fn model_err(e: prime_models::ModelError) -> TrainError {
    TrainError::Model(e.to_string())
}

fn read_json<T: for<'de> serde::Deserialize<'de>>(path: &Path) -> Result<T, TrainError> {
    let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| TrainError::Format {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

fn fmt_pct(x: Option<f64>) -> String {
    x.map(|a| format!("{:.1}%", 100.0 * a))
        .unwrap_or_else(|| "–".into())
}

/// A run directory's curves, evaluations and samples, labelled for a report.
pub fn run_report(run_dir: &Path, label: &str) -> Result<ReportRun, TrainError> {
    let mut samples: Vec<SampleRecord> = read_jsonl(&run_dir.join(files::SAMPLES))?;
    // Keep the report small: the samples of the first and the last recorded step.
    if let (Some(first), Some(last)) = (
        samples.first().map(|s| s.step),
        samples.last().map(|s| s.step),
    ) {
        samples.retain(|s| s.step == first || s.step == last);
    }
    Ok(ReportRun {
        label: label.to_string(),
        metrics: read_jsonl::<StepMetrics>(&run_dir.join(files::METRICS))?,
        evals: read_jsonl::<EvalRecord>(&run_dir.join(files::EVAL))?,
        samples,
    })
}
