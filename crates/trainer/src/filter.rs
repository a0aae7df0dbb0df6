//! The accuracy filter with refill / oversampling and the leftover prompt buffer
//! (docs/algorithm.md §1, §4).
//!
//! Pure logic over group accuracies: the sampler and verifier are passed in as a closure, so the
//! bookkeeping (which prompts were drawn, which groups survived, what goes back to the buffer) is
//! tested without a model.

use prime_data::prompts::PromptBatcher;
use serde::{Deserialize, Serialize};

use crate::config::FilterSection;

/// Why a group was kept or dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GroupFate {
    /// `lo ≤ mean acc ≤ hi` (and no truncation, if that filter is on).
    Kept,
    /// Mean accuracy above the upper bound: nothing to learn.
    TooEasy,
    /// Mean accuracy below the lower bound: nothing to learn.
    TooHard,
    /// A response hit `max_response_len` and the truncation filter is on.
    Truncated,
}

/// The filter rule of one group, docs/algorithm.md §4.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupFilter {
    /// Apply the accuracy bounds at all.
    pub accuracy: bool,
    /// Inclusive lower bound on the group's mean accuracy.
    pub lower: f64,
    /// Inclusive upper bound on the group's mean accuracy.
    pub upper: f64,
    /// Drop groups with a truncated response.
    pub truncation: bool,
}

impl From<&FilterSection> for GroupFilter {
    fn from(f: &FilterSection) -> Self {
        Self {
            accuracy: f.accuracy,
            lower: f.accuracy_lower,
            upper: f.accuracy_upper,
            truncation: f.truncation,
        }
    }
}

impl GroupFilter {
    /// The fate of a group with per-response scores `accuracies` (`acc_i ∈ [0,1]`) and truncation
    /// flags `truncated` (one per response).
    pub fn judge(&self, accuracies: &[f64], truncated: &[bool]) -> GroupFate {
        if self.truncation && truncated.iter().any(|&t| t) {
            return GroupFate::Truncated;
        }
        if !self.accuracy || accuracies.is_empty() {
            return GroupFate::Kept;
        }
        let mean = accuracies.iter().sum::<f64>() / accuracies.len() as f64;
        // A tolerance keeps 0.2 = 1/5 and 0.8 = 4/5 inside the inclusive bounds despite rounding.
        const EPS: f64 = 1e-9;
        if mean < self.lower - EPS {
            GroupFate::TooHard
        } else if mean > self.upper + EPS {
            GroupFate::TooEasy
        } else {
            GroupFate::Kept
        }
    }
}

/// A sampled, verified group as the collector needs to see it.
pub trait ScoredGroup {
    /// The prompt the group was sampled from (returned to the buffer if surplus).
    type Prompt;
    /// Per-response scores.
    fn accuracies(&self) -> &[f64];
    /// Per-response truncation flags.
    fn truncated(&self) -> &[bool];
    /// The prompt, for the buffer.
    fn prompt(&self) -> &Self::Prompt;
}

/// Where a step's prompts come from: the leftovers of earlier steps first, then fresh ones.
pub trait PromptSource {
    /// How a prompt is named (a dataset index).
    type Prompt;
    /// Up to `n` prompts, buffered ones first; fewer only when every source is dry.
    fn next_prompts(&mut self, n: usize) -> Vec<Self::Prompt>;
    /// Prompts waiting in the buffer.
    fn buffered(&self) -> usize;
    /// Puts a prompt whose group survived but was not needed at the back of the buffer.
    fn push_leftover(&mut self, prompt: Self::Prompt);
}

/// prime-data's prompt pipeline: its buffer, then its seeded epochs.
impl PromptSource for PromptBatcher {
    type Prompt = usize;

    fn next_prompts(&mut self, n: usize) -> Vec<usize> {
        self.next_indices(n)
    }

    fn buffered(&self) -> usize {
        self.buffer().len()
    }

    fn push_leftover(&mut self, prompt: usize) {
        self.push_leftovers([prompt]);
    }
}

/// Counts of one step's collection, for the metrics.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FilterStats {
    /// Sampling rounds run (1 + refills).
    pub rounds: usize,
    /// Groups sampled over all rounds.
    pub groups_sampled: usize,
    /// Groups that survived (including surplus returned to the buffer).
    pub groups_survived: usize,
    /// Groups used for training (`≤ B`).
    pub groups_kept: usize,
    /// Dropped as too easy.
    pub too_easy: usize,
    /// Dropped as too hard.
    pub too_hard: usize,
    /// Dropped by the truncation filter.
    pub truncated: usize,
    /// Surviving prompts put back into the buffer.
    pub returned_to_buffer: usize,
    /// Prompts taken from the buffer.
    pub taken_from_buffer: usize,
}

/// How one step draws prompts and keeps groups.
#[derive(Debug, Clone, PartialEq)]
pub struct Collector {
    /// Groups wanted per step (`B`).
    pub target: usize,
    /// Each round draws `ceil(missing × oversample_factor)` prompts.
    pub oversample_factor: f64,
    /// Extra rounds after the first while fewer than `target` groups survived.
    pub max_refills: usize,
    /// The per-group rule.
    pub filter: GroupFilter,
}

impl Collector {
    /// Builds the collector of a config.
    pub fn new(target: usize, section: &FilterSection) -> Self {
        Self {
            target,
            oversample_factor: section.oversample_factor,
            max_refills: section.max_refills,
            filter: GroupFilter::from(section),
        }
    }

    /// Runs the rounds of one step.
    ///
    /// Each round draws prompts from `source` (its buffer first) and calls `sample(prompts)`,
    /// which must return one scored group per prompt in order. Survivors are kept in order up to
    /// `target`; surviving prompts beyond it go back to the source's buffer. Rounds stop once
    /// `target` groups survived, after `1 + max_refills` rounds, or when the source is dry.
    /// Returns the kept groups (possibly fewer than `target`) and the counts.
    pub fn collect<G, S, E>(
        &self,
        source: &mut S,
        mut sample: impl FnMut(Vec<G::Prompt>) -> Result<Vec<G>, E>,
    ) -> Result<(Vec<G>, FilterStats), E>
    where
        G: ScoredGroup,
        G::Prompt: Clone,
        S: PromptSource<Prompt = G::Prompt>,
    {
        let mut kept = Vec::new();
        let mut stats = FilterStats::default();
        while stats.rounds <= self.max_refills && kept.len() < self.target {
            let missing = self.target - kept.len();
            let want = ((missing as f64) * self.oversample_factor).ceil() as usize;
            stats.taken_from_buffer += source.buffered().min(want);
            let prompts = source.next_prompts(want);
            if prompts.is_empty() {
                break;
            }
            stats.rounds += 1;
            stats.groups_sampled += prompts.len();
            for group in sample(prompts)? {
                match self.filter.judge(group.accuracies(), group.truncated()) {
                    GroupFate::Kept => {
                        stats.groups_survived += 1;
                        if kept.len() < self.target {
                            kept.push(group);
                        } else {
                            stats.returned_to_buffer += 1;
                            source.push_leftover(group.prompt().clone());
                        }
                    }
                    GroupFate::TooEasy => stats.too_easy += 1,
                    GroupFate::TooHard => stats.too_hard += 1,
                    GroupFate::Truncated => stats.truncated += 1,
                }
            }
        }
        stats.groups_kept = kept.len();
        Ok((kept, stats))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// A buffer in front of a (possibly finite) stream of fresh prompts.
    struct Source<I: Iterator<Item = u32>> {
        buffer: VecDeque<u32>,
        fresh: I,
    }

    fn source<I: Iterator<Item = u32>>(fresh: I) -> Source<I> {
        Source {
            buffer: VecDeque::new(),
            fresh,
        }
    }

    impl<I: Iterator<Item = u32>> PromptSource for Source<I> {
        type Prompt = u32;
        fn next_prompts(&mut self, n: usize) -> Vec<u32> {
            let mut out: Vec<u32> = self.buffer.drain(..n.min(self.buffer.len())).collect();
            out.extend(self.fresh.by_ref().take(n - out.len()));
            out
        }
        fn buffered(&self) -> usize {
            self.buffer.len()
        }
        fn push_leftover(&mut self, prompt: u32) {
            self.buffer.push_back(prompt);
        }
    }

    #[derive(Debug, Clone, PartialEq)]
    struct G {
        prompt: u32,
        acc: Vec<f64>,
        trunc: Vec<bool>,
    }

    impl ScoredGroup for G {
        type Prompt = u32;
        fn accuracies(&self) -> &[f64] {
            &self.acc
        }
        fn truncated(&self) -> &[bool] {
            &self.trunc
        }
        fn prompt(&self) -> &u32 {
            &self.prompt
        }
    }

    fn filter() -> GroupFilter {
        GroupFilter {
            accuracy: true,
            lower: 0.2,
            upper: 0.8,
            truncation: false,
        }
    }

    #[test]
    fn bounds_are_inclusive() {
        let f = filter();
        let t = [false; 5];
        assert_eq!(f.judge(&[1., 0., 0., 0., 0.], &t), GroupFate::Kept); // 0.2
        assert_eq!(f.judge(&[1., 1., 1., 1., 0.], &t), GroupFate::Kept); // 0.8
        assert_eq!(f.judge(&[0.; 5], &t), GroupFate::TooHard);
        assert_eq!(f.judge(&[1.; 5], &t), GroupFate::TooEasy);
        assert_eq!(f.judge(&[0.1, 0.1, 0.1, 0.1], &t[..4]), GroupFate::TooHard);
    }

    #[test]
    fn truncation_filter_only_when_on() {
        let mut f = filter();
        let acc = [1., 0., 1., 0.];
        let trunc = [false, true, false, false];
        assert_eq!(f.judge(&acc, &trunc), GroupFate::Kept);
        f.truncation = true;
        assert_eq!(f.judge(&acc, &trunc), GroupFate::Truncated);
        f.accuracy = false;
        assert_eq!(f.judge(&[1.; 4], &[false; 4]), GroupFate::Kept);
    }

    /// Prompt p gets accuracy pattern by p % 3: 0 → all right, 1 → half, 2 → all wrong.
    fn score(prompts: Vec<u32>) -> Result<Vec<G>, ()> {
        Ok(prompts
            .into_iter()
            .map(|p| G {
                prompt: p,
                acc: match p % 3 {
                    0 => vec![1.0; 4],
                    1 => vec![1.0, 0.0, 1.0, 0.0],
                    _ => vec![0.0; 4],
                },
                trunc: vec![false; 4],
            })
            .collect())
    }

    #[test]
    fn refills_until_target_and_counts() {
        let c = Collector {
            target: 3,
            oversample_factor: 1.0,
            max_refills: 5,
            filter: filter(),
        };
        let mut source = source(0u32..);
        let (kept, stats) = c.collect(&mut source, score).unwrap();
        // Round 1 draws 0,1,2 → keeps 1. Round 2 draws 3,4 → keeps 4. Round 3 draws 5 → none.
        // Round 4 draws 6 → none. Round 5 draws 7 → keeps 7.
        assert_eq!(
            kept.iter().map(|g| g.prompt).collect::<Vec<_>>(),
            vec![1, 4, 7]
        );
        assert_eq!(stats.rounds, 5);
        assert_eq!(stats.groups_sampled, 8);
        assert_eq!(stats.too_easy, 3); // 0, 3, 6
        assert_eq!(stats.too_hard, 2); // 2, 5
        assert_eq!(stats.groups_kept, 3);
        assert!(source.buffer.is_empty());
    }

    #[test]
    fn oversampling_returns_surplus_to_the_buffer_and_uses_it_next_step() {
        let c = Collector {
            target: 2,
            oversample_factor: 4.0,
            max_refills: 0,
            filter: filter(),
        };
        let mut source = source(0u32..);
        let (kept, stats) = c.collect(&mut source, score).unwrap();
        // Draws 0..8 → survivors 1, 4, 7 → keep 1, 4; 7 back to the buffer.
        assert_eq!(
            kept.iter().map(|g| g.prompt).collect::<Vec<_>>(),
            vec![1, 4]
        );
        assert_eq!(stats.groups_survived, 3);
        assert_eq!(stats.returned_to_buffer, 1);
        assert_eq!(source.buffer, VecDeque::from(vec![7]));
        // Next step: 7 first, then 8.. from the source.
        let mut drawn = Vec::new();
        let (kept, stats) = c
            .collect(&mut source, |p: Vec<u32>| {
                drawn.extend(p.iter().copied());
                score(p)
            })
            .unwrap();
        assert_eq!(drawn, vec![7, 8, 9, 10, 11, 12, 13, 14]);
        assert_eq!(stats.taken_from_buffer, 1);
        assert_eq!(
            kept.iter().map(|g| g.prompt).collect::<Vec<_>>(),
            vec![7, 10]
        );
        assert_eq!(source.buffer, VecDeque::from(vec![13]));
    }

    #[test]
    fn bounded_refills_may_return_fewer_groups() {
        let c = Collector {
            target: 4,
            oversample_factor: 1.0,
            max_refills: 1,
            filter: filter(),
        };
        let mut source = source([0u32, 3, 6, 9, 12, 15, 18, 21].into_iter());
        let (kept, stats) = c.collect(&mut source, score).unwrap();
        assert!(kept.is_empty());
        assert_eq!(stats.rounds, 2);
        assert_eq!(stats.groups_sampled, 8);
        assert_eq!(stats.too_easy, 8);
    }

    #[test]
    fn stops_when_the_sources_run_dry_and_propagates_errors() {
        let c = Collector {
            target: 10,
            oversample_factor: 1.0,
            max_refills: 3,
            filter: filter(),
        };
        let mut dry = source([1u32, 4].into_iter());
        let (kept, stats) = c.collect(&mut dry, score).unwrap();
        assert_eq!(kept.len(), 2);
        assert_eq!(stats.rounds, 1);
        let failing = c.collect(
            &mut source(std::iter::repeat(1u32)),
            |_p: Vec<u32>| -> Result<Vec<G>, &str> { Err("sampler failed") },
        );
        assert_eq!(failing.unwrap_err(), "sampler failed");
    }
}
