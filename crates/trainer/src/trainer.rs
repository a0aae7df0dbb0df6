//! [`Trainer`]: one run — setup or resume, SFT warm-up, the RL loop with evaluations and
//! checkpoints, the report and the final summary. Generic over the backend `B` and the model
//! family `M` (any [`TrainableLm`]); [`crate::train`] picks both from the config.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use burn::tensor::backend::AutodiffBackend;
use prime_advantages::AdvantageEstimator;
use prime_data::prompts::{PromptBatcher, PromptDataset};
use prime_models::{SaveDtype, TrainableLm};
use prime_verifiers::VerifyRunner;

use crate::checkpoint_dir::CheckpointDir;
use crate::config::{choice_name, TrainConfig};
use crate::distributed::{agree, same_on_every_rank, RankScratch};
use crate::error::TrainError;
use crate::eval::{evaluate, EvalSettings};
use crate::extensions::Extensions;
use crate::metrics::EvalRecord;
use crate::models::{model_err, prm_init_dir, scratch, RunModels};
use crate::progress::Progress;
use crate::report::Report;
use crate::run_files::{files, run_report, RunLogs};
use crate::schedule::LrSchedule;
use crate::seeds::{seed_for, PROMPT_ORDER, SCRATCH_PRM};
use crate::setup::{prompt_datasets, sft_pairs, Vocabulary};
use crate::sft::{supervised_warmup, SftSettings};
use crate::state::{RunState, RunSummary};

/// How a run is opened besides its config: resume or start over, the Ctrl-C flag, the
/// extensions (estimators, verifiers) it may use, and the ranks of a data-parallel run.
pub struct RunOptions {
    /// Continue from the latest checkpoint of the run directory, if there is one.
    pub resume: bool,
    /// Polled between steps; when set, the run writes a checkpoint and stops.
    pub interrupt: Arc<AtomicBool>,
    /// Registered estimators and verifiers.
    pub extensions: Extensions,
    /// The ranks of a data-parallel run ([`prime_distributed::SingleProcess`] by default):
    /// each samples and trains on a share of every step's prompt groups; rank 0 writes.
    pub communicator: Arc<dyn prime_distributed::Communicator>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            resume: false,
            interrupt: Arc::new(AtomicBool::new(false)),
            extensions: Extensions::builtin(),
            communicator: Arc::new(prime_distributed::SingleProcess),
        }
    }
}

/// What the policy's step needs of the outside world, built once from the config and the
/// extensions.
pub(crate) struct StepTools {
    /// The estimator `[advantage]` selects.
    pub estimator: Box<dyn AdvantageEstimator>,
    /// The parallel verifier over the registered verifiers.
    pub runner: VerifyRunner,
    /// The learning rate per step.
    pub schedule: LrSchedule,
}

/// A training run.
pub struct Trainer<B: AutodiffBackend, M: TrainableLm<B>> {
    pub(crate) config: TrainConfig,
    pub(crate) run_dir: PathBuf,
    pub(crate) device: B::Device,
    pub(crate) vocabulary: Vocabulary,
    /// Training prompts with their epoch order and the filter's buffer.
    pub(crate) prompts: PromptBatcher,
    pub(crate) eval_prompts: PromptDataset,
    pub(crate) models: RunModels<B, M>,
    pub(crate) tools: StepTools,
    pub(crate) state: RunState,
    pub(crate) logs: RunLogs,
    pub(crate) progress: Progress,
    /// The ranks of the run; rank 0 writes the run directory.
    pub(crate) comm: Arc<dyn prime_distributed::Communicator>,
    /// Where a rank other than 0 puts what the run would read back from the run directory.
    rank_scratch: Option<RankScratch>,
    /// The vLLM servers when `rollout.engine = "vllm"` (a launched one stops when this drops).
    pub(crate) vllm: Option<crate::vllm::VllmRollouts>,
    interrupt: Arc<AtomicBool>,
    /// The run has an RL start model (`init/`) and step-0 state (false only before SFT ends).
    started_rl: bool,
}

impl<B: AutodiffBackend, M: TrainableLm<B>> Trainer<B, M> {
    /// Opens `run_dir` — resuming from its latest checkpoint when `options.resume` and one
    /// exists — and builds everything the run needs. The config's extension choices are checked
    /// against `options.extensions` first, and every problem must route to a verifier.
    pub fn open(
        config: TrainConfig,
        run_dir: &Path,
        options: RunOptions,
        device: B::Device,
    ) -> Result<Self, TrainError> {
        let RunOptions {
            resume,
            interrupt,
            extensions,
            communicator: comm,
        } = options;
        extensions.check(&config)?;
        let root = comm.is_root();
        if root {
            std::fs::create_dir_all(run_dir).map_err(|e| TrainError::io(run_dir, e))?;
        }
        let rank_scratch = (!root).then(|| RankScratch::new(comm.rank())).transpose()?;
        let work_dir = rank_scratch.as_ref().map_or(run_dir, RankScratch::path);
        let checkpoints = CheckpointDir::new(run_dir, config.checkpoint.keep_last);
        let latest = if resume { checkpoints.latest()? } else { None };
        let resumed_at = latest.as_ref().map_or(0, |(s, _)| *s as u64 + 1);
        same_on_every_rank(
            comm.as_ref(),
            resumed_at,
            "the checkpoint to resume (step + 1)",
        )?;
        let config_path = run_dir.join(files::CONFIG);
        if latest.is_none() && root {
            std::fs::write(&config_path, config.to_toml_string()?)
                .map_err(|e| TrainError::io(&config_path, e))?;
        }

        let vocabulary = Vocabulary::load(&config, work_dir)?;
        let (train, eval_prompts) = prompt_datasets(&config, &vocabulary.tokenizer)?;
        extensions.check_problems(train.problems().iter().chain(eval_prompts.problems()))?;
        let mut prompts = PromptBatcher::from_dataset(
            train,
            seed_for(config.seed, PROMPT_ORDER, &[]),
            config.data.shuffle,
        );
        let tools = StepTools {
            estimator: extensions.estimator(&config.advantage)?,
            runner: extensions.verify_runner(),
            schedule: LrSchedule::from_section(&config.schedule, config.optim.lr, config.steps),
        };

        let (models, state, started_rl) = match &latest {
            Some((step, dir)) => {
                tracing::info!(step, dir = %dir.display(), "resuming");
                let state: RunState = read_json(&dir.join("state.json"))?;
                prompts
                    .restore(state.prompts.clone())
                    .map_err(|e| TrainError::Data(e.to_string()))?;
                (
                    RunModels::load(&config, run_dir, dir, &device)?,
                    state,
                    true,
                )
            }
            None => {
                let state = RunState {
                    step: 0,
                    prompts: prompts.state(),
                    skipped_total: 0,
                    accuracy_before: None,
                    last_eval: None,
                    wall_seconds: 0.0,
                    seed: config.seed,
                };
                let models = RunModels::new_run(&config, &vocabulary, &device)?;
                (models, state, false)
            }
        };
        let vllm = crate::vllm::open_engine(
            &config,
            run_dir,
            comm.size(),
            &models.policy,
            &vocabulary,
            || interrupt.load(Ordering::SeqCst),
        )?;
        let logs = match root {
            true => RunLogs::open(run_dir, latest.as_ref().map(|(s, _)| *s))?,
            false => RunLogs::discard(run_dir),
        };
        let progress = Progress::new(config.steps as u64, config.logging.progress && root);
        Ok(Self {
            config,
            run_dir: run_dir.to_path_buf(),
            device,
            vocabulary,
            prompts,
            eval_prompts,
            models,
            tools,
            state,
            logs,
            progress,
            comm,
            rank_scratch,
            vllm,
            interrupt,
            started_rl,
        })
    }

    /// Runs to `config.steps` (or Ctrl-C) and returns the summary. Writes the report.
    pub fn run(mut self) -> Result<RunSummary, TrainError> {
        let session = Instant::now();
        let wall_before = self.state.wall_seconds;
        let wall = |s: &Instant| wall_before + s.elapsed().as_secs_f64();
        if !self.started_rl {
            self.prepare_rl()?;
            self.state.wall_seconds = wall(&session);
            self.checkpoint()?;
        }
        let mut interrupted = false;
        self.progress.set_position(self.state.step as u64);
        while self.state.step < self.config.steps {
            let step = self.state.step + 1;
            let before = self.prompts.state();
            let metrics = match self.step(step) {
                Err(TrainError::Vllm(error)) => {
                    return Err(self.stop_on_server_fault(before, error))
                }
                other => other?.with_peak_memory(),
            };
            self.logs.metrics.write(&metrics)?;
            self.progress.step(&metrics);
            self.state.step = step;
            let last = step == self.config.steps;
            if (self.config.eval.every > 0 && step % self.config.eval.every == 0) || last {
                let record = self.evaluate(step)?;
                self.state.last_eval = Some((step, record.accuracy));
            }
            interrupted = agree(self.comm.as_ref(), self.interrupted())?;
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
        if !interrupted && self.comm.is_root() {
            let out = self.run_dir.join(files::FINAL);
            // With LoRA: the merged model (what the policy computes), and its adapter alone.
            self.models
                .policy
                .save_pretrained(&out, self.config.model.save_dtype)
                .map_err(model_err)?;
            self.vocabulary.copy_files_to(&out)?;
            if crate::lora_base::has_adapters(&self.models.policy) {
                let base = crate::lora_base::base_dir(&self.config, &self.run_dir);
                prime_models::peft::save_adapter(
                    &self.models.policy,
                    &out.join(files::FINAL_ADAPTER),
                    Some(&base),
                )
                .map_err(model_err)?;
            }
        }
        self.state.wall_seconds = wall(&session);
        if self.config.logging.report && self.comm.is_root() {
            Report {
                title: format!("prime-rs run {}", self.run_dir.display()),
                summary: self.summary_lines(),
                runs: vec![run_report(&self.run_dir, "PRIME")?],
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

    /// Runs RL step `state.step + 1` alone and records it (metrics and state), without the
    /// evaluation, checkpoint or report of [`Trainer::run`]; starts RL first if needed. For
    /// benchmarks and tools that drive the loop themselves.
    pub fn run_step(&mut self) -> Result<crate::metrics::StepMetrics, TrainError> {
        if !self.started_rl {
            self.prepare_rl()?;
        }
        let step = self.state.step + 1;
        let metrics = self.step(step)?.with_peak_memory();
        self.logs.metrics.write(&metrics)?;
        self.state.step = step;
        Ok(metrics)
    }

    /// SFT warm-up (when on), the RL start model, the PRM and the step-0 evaluation.
    fn prepare_rl(&mut self) -> Result<(), TrainError> {
        if self.config.sft.enabled {
            self.models.policy = self.supervised(self.models.policy.clone(), "SFT")?;
            self.scratch_prm_warmup()?;
        }
        let work_dir = self.work_dir().to_path_buf();
        self.models
            .start_rl(&self.config, &work_dir, &self.vocabulary, &self.device)?;
        self.started_rl = true;
        let record = self.evaluate(0)?;
        self.state.accuracy_before = Some(record.accuracy);
        self.state.last_eval = Some((0, record.accuracy));
        Ok(())
    }

    /// The run directory for rank 0; a rank's private directory for the others, which build
    /// the same RL start models from their own (identical) SFT without writing the run's files.
    fn work_dir(&self) -> &Path {
        self.rank_scratch
            .as_ref()
            .map_or(self.run_dir.as_path(), RankScratch::path)
    }

    pub(crate) fn interrupted(&self) -> bool {
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
    /// (`SFT`, `PRM SFT`) prefixes the progress bar and tags the log lines. Interrupting it is
    /// an error: there is no checkpoint before RL starts.
    fn supervised(&self, model: M, label: &'static str) -> Result<M, TrainError> {
        let sft = self.config.sft.clone();
        let settings = SftSettings {
            steps: sft.steps,
            batch_size: sft.batch_size,
            schedule: LrSchedule::WarmupCosine {
                base: sft.lr,
                warmup: sft.warmup_steps,
                total: sft.steps,
                min_ratio: 0.1,
            },
            grad_clip: sft.grad_clip,
            pad_id: self.vocabulary.pad_id,
            vocab_limit: self.vocabulary.vocab_limit(),
            logprob_chunk: self.config.memory.logprob_chunk,
        };
        let mut optimizer = prime_models::optim::adamw(sft.weight_decay as f32).init::<B, M>();
        let bar = Progress::new(sft.steps as u64, self.config.logging.progress);
        bar.set_prefix(label);
        let (model, report) = supervised_warmup(
            model,
            &mut optimizer,
            &settings,
            |step| {
                if self.interrupted() {
                    return Ok(Vec::new());
                }
                let first = (step * sft.batch_size) as u64;
                sft_pairs(&self.config, &self.vocabulary, first, sft.batch_size)
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
        let Some(architecture) = self
            .config
            .prm
            .scratch
            .as_ref()
            .filter(|_| self.config.prm.enabled)
        else {
            return Ok(());
        };
        let model: M = scratch(
            &self.config,
            architecture,
            SCRATCH_PRM,
            &self.vocabulary,
            &self.device,
        )?;
        let model = self.supervised(model, "PRM SFT")?;
        let dir = prm_init_dir(&self.config, self.work_dir());
        model
            .save_pretrained(&dir, SaveDtype::F32)
            .map_err(model_err)?;
        self.vocabulary.copy_files_to(&dir)
    }

    /// Greedy (and avg@k) evaluation of the current policy on the eval prompts, logged.
    pub(crate) fn evaluate(&mut self, step: usize) -> Result<EvalRecord, TrainError> {
        let eval = &self.config.eval;
        let settings = EvalSettings {
            k: eval.k,
            temperature: eval.temperature,
            max_response_len: eval
                .max_response_len
                .unwrap_or(self.config.rollout.max_response_len),
            prompts_per_call: eval.micro_batch_size,
            stop_token_ids: self.vocabulary.stop_ids.clone(),
            pad_token_id: self.vocabulary.pad_id,
            vocab_limit: self.vocabulary.vocab_limit(),
            seed: self.config.seed,
        };
        let record = evaluate(
            &self.models.policy.valid(),
            &self.eval_prompts,
            &self.vocabulary.tokenizer,
            &self.tools.runner,
            &settings,
            step,
            &self.device,
        )?;
        tracing::info!(step, accuracy = record.accuracy, avg_at_k = ?record.avg_at_k, seconds = record.seconds, "eval");
        self.progress.eval(step, record.accuracy);
        self.logs.evals.write(&record)?;
        Ok(record)
    }

    /// Writes checkpoint `state.step` atomically.
    pub(crate) fn checkpoint(&mut self) -> Result<PathBuf, TrainError> {
        self.state.prompts = self.prompts.state();
        let dir = CheckpointDir::new(&self.run_dir, self.config.checkpoint.keep_last);
        if !self.comm.is_root() {
            return Ok(dir.path_of(self.state.step));
        }
        let config_text = self.config.to_toml_string()?;
        let state_text =
            serde_json::to_string_pretty(&self.state).map_err(|e| TrainError::Format {
                path: "state.json".into(),
                message: e.to_string(),
            })?;
        let path = dir.write(self.state.step, |tmp| {
            self.models.save(tmp, &self.vocabulary)?;
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
