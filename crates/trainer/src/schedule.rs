//! Learning-rate schedules over optimizer steps.

use crate::config::{ScheduleKind, ScheduleSection};

/// A learning rate as a function of the step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LrSchedule {
    /// `lr(s) = base`.
    Constant {
        /// The rate.
        base: f64,
    },
    /// Linear warm-up from `base/warmup` to `base` over `warmup` steps, then cosine decay to
    /// `base·min_ratio` at `total`:
    /// `lr(s) = base·(s+1)/warmup` for `s < warmup`, else
    /// `base·(min + (1−min)·½(1 + cos(π·(s−warmup)/(total−warmup))))`.
    WarmupCosine {
        /// Peak rate.
        base: f64,
        /// Warm-up steps.
        warmup: usize,
        /// Steps in the whole schedule.
        total: usize,
        /// Final rate as a fraction of `base`.
        min_ratio: f64,
    },
}

impl LrSchedule {
    /// The schedule of `section` with peak `base` over `total` steps.
    pub fn from_section(section: &ScheduleSection, base: f64, total: usize) -> Self {
        match section.kind {
            ScheduleKind::Constant => Self::Constant { base },
            ScheduleKind::WarmupCosine => Self::WarmupCosine {
                base,
                warmup: section.warmup_steps,
                total,
                min_ratio: section.min_lr_ratio,
            },
        }
    }

    /// The rate at (0-based) step `step`.
    pub fn lr(&self, step: usize) -> f64 {
        match *self {
            Self::Constant { base } => base,
            Self::WarmupCosine {
                base,
                warmup,
                total,
                min_ratio,
            } => {
                if step < warmup {
                    return base * (step + 1) as f64 / warmup as f64;
                }
                let span = total.saturating_sub(warmup).max(1) as f64;
                let progress = ((step - warmup) as f64 / span).min(1.0);
                let cosine = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
                base * (min_ratio + (1.0 - min_ratio) * cosine)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_is_constant() {
        let s = LrSchedule::Constant { base: 5e-7 };
        assert_eq!(s.lr(0), 5e-7);
        assert_eq!(s.lr(1000), 5e-7);
    }

    #[test]
    fn warmup_then_cosine() {
        let s = LrSchedule::WarmupCosine {
            base: 1.0,
            warmup: 4,
            total: 14,
            min_ratio: 0.1,
        };
        assert_eq!(s.lr(0), 0.25);
        assert_eq!(s.lr(3), 1.0);
        assert!((s.lr(4) - 1.0).abs() < 1e-12);
        // Half-way through the decay: 0.1 + 0.9·0.5 = 0.55.
        assert!((s.lr(9) - 0.55).abs() < 1e-12);
        assert!((s.lr(14) - 0.1).abs() < 1e-12);
        assert!((s.lr(100) - 0.1).abs() < 1e-12);
    }

    #[test]
    fn from_section_reads_the_kind() {
        let mut sec = ScheduleSection::default();
        assert_eq!(
            LrSchedule::from_section(&sec, 2.0, 10),
            LrSchedule::Constant { base: 2.0 }
        );
        sec.kind = ScheduleKind::WarmupCosine;
        sec.warmup_steps = 3;
        assert_eq!(
            LrSchedule::from_section(&sec, 2.0, 10),
            LrSchedule::WarmupCosine {
                base: 2.0,
                warmup: 3,
                total: 10,
                min_ratio: 0.0
            }
        );
    }
}
