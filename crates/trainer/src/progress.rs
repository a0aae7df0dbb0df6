//! The live view: an indicatif bar with the key metrics (hidden when stderr is not a terminal,
//! where each step is logged through `tracing` instead).

use indicatif::{ProgressBar, ProgressStyle};

use crate::metrics::StepMetrics;

/// A progress bar over steps.
pub struct Progress {
    bar: ProgressBar,
    last_eval: Option<(usize, f64)>,
}

impl Progress {
    /// A bar of `len` steps; `enabled = false` or a non-terminal stderr hides it.
    pub fn new(len: u64, enabled: bool) -> Self {
        let bar = if enabled {
            ProgressBar::new(len)
        } else {
            ProgressBar::hidden()
        };
        if let Ok(style) = ProgressStyle::with_template(
            "{prefix:>4} [{elapsed_precise}] {bar:30.cyan/blue} {pos}/{len} (eta {eta}) {msg}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix("RL");
        Self {
            bar,
            last_eval: None,
        }
    }

    /// Changes the label in front of the bar.
    pub fn set_prefix(&self, prefix: &'static str) {
        self.bar.set_prefix(prefix);
    }

    /// Moves the bar (after a resume).
    pub fn set_position(&self, pos: u64) {
        self.bar.set_position(pos);
    }

    /// One SFT step with its loss.
    pub fn sft_step(&self, loss: f64) {
        self.bar.set_message(format!("loss {loss:.3}"));
        self.bar.inc(1);
    }

    /// One RL step with its metrics.
    pub fn step(&self, m: &StepMetrics) {
        let eval = self
            .last_eval
            .map(|(s, a)| format!(" | eval@{s} {:.1}%", 100.0 * a))
            .unwrap_or_default();
        let line = format!(
            "acc {:.3} kept {}/{} prm {:.3} dpo {:.2} pl {:+.3} clip {:.3} len {:.1} {:.1}s{}{eval}",
            m.accuracy,
            m.groups_kept,
            m.groups_sampled,
            m.prm_loss,
            m.dpo_acc,
            m.policy_loss,
            m.clip_frac,
            m.response_length,
            m.time_step,
            if m.skipped { " SKIPPED" } else { "" },
        );
        if self.bar.is_hidden() {
            tracing::info!(step = m.step, "{line}");
        } else {
            self.bar.set_message(line);
        }
        self.bar.inc(1);
    }

    /// Remembers the latest evaluation for the message line.
    pub fn eval(&mut self, step: usize, accuracy: f64) {
        self.last_eval = Some((step, accuracy));
    }

    /// Leaves the bar drawn in its final state.
    pub fn finish(&self) {
        self.bar.abandon();
    }
}
