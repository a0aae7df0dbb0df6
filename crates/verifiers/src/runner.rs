//! A parallel runner: verifies a batch on N worker threads with a wall-clock limit per item,
//! returning verdicts in input order and counts per status.
//!
//! A thread cannot be killed. When an item passes its limit the runner stops waiting for it,
//! records [`Status::Timeout`], retires that worker (it exits once its call returns, and its
//! late verdict is dropped) and starts a replacement, so the batch always ends on time. The
//! verifiers themselves are bounded (the math step budget, the code sandbox's wall-clock kill),
//! so abandoned workers are the exception; their number is capped, and past the cap the items
//! nobody can run are marked [`Status::Error`]. A verifier that panics yields `Error`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::{Reference, Status, Verdict, Verifier};

/// One response to verify.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifyItem {
    /// The full model output.
    pub response: String,
    /// What it is checked against (also picks the verifier when the runner holds a router).
    pub reference: Reference,
}

/// Runner settings.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Worker threads (at least 1).
    pub workers: usize,
    /// Wall-clock limit per item: a backstop above the verifiers' own bounds (the default, 75 s,
    /// exceeds the code verifier's default 60 s budget for all tests of one response).
    pub item_timeout: Duration,
    /// Abandoned (timed-out) workers tolerated per batch before the rest of the batch is failed.
    pub max_abandoned: usize,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        Self {
            workers: thread::available_parallelism().map_or(2, usize::from),
            item_timeout: Duration::from_secs(75),
            max_abandoned: 64,
        }
    }
}

/// Verdict counts per status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCounts {
    /// [`Status::Correct`]
    pub correct: usize,
    /// [`Status::Wrong`]
    pub wrong: usize,
    /// [`Status::NoAnswer`]
    pub no_answer: usize,
    /// [`Status::Timeout`]
    pub timeout: usize,
    /// [`Status::Error`]
    pub error: usize,
}

impl StatusCounts {
    /// Count one verdict.
    pub fn add(&mut self, status: Status) {
        *self.get_mut(status) += 1;
    }

    /// The count of one status.
    pub fn get(&self, status: Status) -> usize {
        match status {
            Status::Correct => self.correct,
            Status::Wrong => self.wrong,
            Status::NoAnswer => self.no_answer,
            Status::Timeout => self.timeout,
            Status::Error => self.error,
        }
    }

    fn get_mut(&mut self, status: Status) -> &mut usize {
        match status {
            Status::Correct => &mut self.correct,
            Status::Wrong => &mut self.wrong,
            Status::NoAnswer => &mut self.no_answer,
            Status::Timeout => &mut self.timeout,
            Status::Error => &mut self.error,
        }
    }

    /// All verdicts counted.
    pub fn total(&self) -> usize {
        Status::ALL.iter().map(|&s| self.get(s)).sum()
    }
}

/// The verdicts of a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchResult {
    /// One verdict per item, in input order.
    pub verdicts: Vec<Verdict>,
    /// Wall-clock microseconds per item (for a timeout: until it was given up).
    pub micros: Vec<u64>,
    /// Counts per status.
    pub counts: StatusCounts,
}

/// Runs one verifier (typically a [`crate::Router`]) over batches in parallel.
#[derive(Clone)]
pub struct VerifyRunner {
    verifier: Arc<dyn Verifier>,
    config: RunnerConfig,
}

enum Event {
    Started {
        worker: usize,
        item: usize,
        at: Instant,
    },
    Done {
        item: usize,
        verdict: Verdict,
        micros: u64,
    },
}

struct Shared {
    items: Vec<VerifyItem>,
    next: AtomicUsize,
    verifier: Arc<dyn Verifier>,
}

fn run_one(verifier: &dyn Verifier, item: &VerifyItem) -> Verdict {
    match catch_unwind(AssertUnwindSafe(|| {
        verifier.verify(&item.response, &item.reference)
    })) {
        Ok(v) => v,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Verdict::error(format!("verifier panicked: {msg}"))
        }
    }
}

fn spawn_worker(
    worker: usize,
    shared: Arc<Shared>,
    retired: Arc<AtomicBool>,
    events: Sender<Event>,
) -> bool {
    thread::Builder::new()
        .name(format!("verify-{worker}"))
        .spawn(move || loop {
            if retired.load(Ordering::Acquire) {
                return;
            }
            let item = shared.next.fetch_add(1, Ordering::AcqRel);
            if item >= shared.items.len() {
                return;
            }
            let at = Instant::now();
            if events.send(Event::Started { worker, item, at }).is_err() {
                return;
            }
            let verdict = run_one(shared.verifier.as_ref(), &shared.items[item]);
            let micros = at.elapsed().as_micros() as u64;
            if events
                .send(Event::Done {
                    item,
                    verdict,
                    micros,
                })
                .is_err()
            {
                return;
            }
        })
        .is_ok()
}

impl VerifyRunner {
    /// A runner over `verifier`.
    pub fn new(verifier: Arc<dyn Verifier>, config: RunnerConfig) -> Self {
        Self { verifier, config }
    }

    /// The settings.
    pub fn config(&self) -> &RunnerConfig {
        &self.config
    }

    /// Verify every item; returns when all have a verdict, at the latest about
    /// `item_timeout` after the last item started.
    pub fn run(&self, items: Vec<VerifyItem>) -> BatchResult {
        let n = items.len();
        let shared = Arc::new(Shared {
            items,
            next: AtomicUsize::new(0),
            verifier: Arc::clone(&self.verifier),
        });
        let (tx, rx) = mpsc::channel();
        let mut retired: Vec<Arc<AtomicBool>> = Vec::new();
        let mut in_flight: Vec<Option<(usize, Instant)>> = Vec::new();
        let mut live = 0usize;
        for _ in 0..self.config.workers.max(1).min(n.max(1)) {
            let flag = Arc::new(AtomicBool::new(false));
            if spawn_worker(
                retired.len(),
                Arc::clone(&shared),
                Arc::clone(&flag),
                tx.clone(),
            ) {
                live += 1;
            }
            retired.push(flag);
            in_flight.push(None);
        }

        let mut verdicts: Vec<Option<Verdict>> = vec![None; n];
        let mut micros = vec![0u64; n];
        let mut resolved = 0usize;
        let mut abandoned = 0usize;
        let limit = self.config.item_timeout;
        while resolved < n {
            if live == 0 {
                // No worker left (spawn failures or too many abandoned): fail what remains.
                for (i, v) in verdicts.iter_mut().enumerate() {
                    if v.is_none() {
                        *v = Some(Verdict::error(format!(
                            "runner: no worker left for item {i} ({abandoned} abandoned after timeouts)"
                        )));
                    }
                }
                break;
            }
            let now = Instant::now();
            let deadline = in_flight.iter().flatten().map(|&(_, at)| at + limit).min();
            let wait = deadline.map_or(Duration::from_millis(100), |d| {
                d.saturating_duration_since(now)
            });
            match rx.recv_timeout(wait) {
                Ok(Event::Started { worker, item, at }) => in_flight[worker] = Some((item, at)),
                Ok(Event::Done {
                    item,
                    verdict,
                    micros: m,
                }) => {
                    if let Some(slot) = in_flight
                        .iter_mut()
                        .find(|s| matches!(s, Some((i, _)) if *i == item))
                    {
                        *slot = None;
                    }
                    if verdicts[item].is_none() {
                        verdicts[item] = Some(verdict);
                        micros[item] = m;
                        resolved += 1;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => live = 0,
            }
            // Give up on items past their limit; replace their workers.
            let now = Instant::now();
            for worker in 0..in_flight.len() {
                let Some((item, at)) = in_flight[worker] else {
                    continue;
                };
                if now.duration_since(at) < limit {
                    continue;
                }
                in_flight[worker] = None;
                retired[worker].store(true, Ordering::Release);
                live -= 1;
                abandoned += 1;
                if verdicts[item].is_none() {
                    verdicts[item] = Some(Verdict::timeout(format!(
                        "no verdict within the {:.1} s wall-clock limit",
                        limit.as_secs_f64()
                    )));
                    micros[item] = now.duration_since(at).as_micros() as u64;
                    resolved += 1;
                }
                if abandoned <= self.config.max_abandoned {
                    let flag = Arc::new(AtomicBool::new(false));
                    let id = retired.len();
                    if spawn_worker(id, Arc::clone(&shared), Arc::clone(&flag), tx.clone()) {
                        live += 1;
                    }
                    retired.push(flag);
                    in_flight.push(None);
                }
            }
        }
        // Tell every worker to stop after its current item.
        for flag in &retired {
            flag.store(true, Ordering::Release);
        }
        let verdicts: Vec<Verdict> = verdicts
            .into_iter()
            .map(|v| v.unwrap_or_else(|| Verdict::error("runner: item lost")))
            .collect();
        let mut counts = StatusCounts::default();
        for v in &verdicts {
            counts.add(v.status);
        }
        BatchResult {
            verdicts,
            micros,
            counts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Test verifier: the response says what to do.
    struct Scripted;

    impl Verifier for Scripted {
        fn verify(&self, response: &str, _: &Reference) -> Verdict {
            if let Some(ms) = response.strip_prefix("sleep ") {
                thread::sleep(Duration::from_millis(ms.parse().unwrap_or(0)));
                Verdict::correct("slept")
            } else if response == "panic" {
                panic!("scripted panic");
            } else if response == "right" {
                Verdict::correct("right")
            } else {
                Verdict::wrong(response.to_string())
            }
        }
    }

    fn items(responses: &[&str]) -> Vec<VerifyItem> {
        responses
            .iter()
            .map(|r| VerifyItem {
                response: r.to_string(),
                reference: Reference {
                    ability: "test".into(),
                    data_source: String::new(),
                    ground_truth: String::new(),
                },
            })
            .collect()
    }

    fn runner(workers: usize, timeout_ms: u64) -> VerifyRunner {
        VerifyRunner::new(
            Arc::new(Scripted),
            RunnerConfig {
                workers,
                item_timeout: Duration::from_millis(timeout_ms),
                max_abandoned: 8,
            },
        )
    }

    #[test]
    fn verdicts_come_back_in_order() {
        let responses: Vec<String> = (0..50).map(|i| format!("w{i}")).collect();
        let refs: Vec<&str> = responses.iter().map(String::as_str).collect();
        let result = runner(4, 5_000).run(items(&refs));
        let reasons: Vec<&str> = result.verdicts.iter().map(|v| v.reason.as_str()).collect();
        assert_eq!(reasons, refs);
        assert_eq!(result.counts.wrong, 50);
        assert_eq!(result.counts.total(), 50);
    }

    #[test]
    fn a_hanging_item_times_out_and_the_rest_still_finish() {
        let start = Instant::now();
        let result = runner(2, 200).run(items(&[
            "right",
            "sleep 5000",
            "x",
            "right",
            "sleep 5000",
            "right",
        ]));
        let elapsed = start.elapsed();
        let statuses: Vec<Status> = result.verdicts.iter().map(|v| v.status).collect();
        assert_eq!(
            statuses,
            [
                Status::Correct,
                Status::Timeout,
                Status::Wrong,
                Status::Correct,
                Status::Timeout,
                Status::Correct
            ]
        );
        assert!(elapsed < Duration::from_millis(2_000), "took {elapsed:?}");
        assert_eq!(result.counts.timeout, 2);
        assert!(result.micros[1] >= 200_000);
    }

    #[test]
    fn panics_become_errors() {
        let result = runner(1, 5_000).run(items(&["panic", "right"]));
        assert_eq!(result.verdicts[0].status, Status::Error);
        assert!(result.verdicts[0].reason.contains("scripted panic"));
        assert_eq!(result.verdicts[1].status, Status::Correct);
    }

    #[test]
    fn too_many_abandoned_workers_fail_the_rest() {
        let config = RunnerConfig {
            workers: 1,
            item_timeout: Duration::from_millis(50),
            max_abandoned: 1,
        };
        let runner = VerifyRunner::new(Arc::new(Scripted), config);
        let result = runner.run(items(&["sleep 3000", "sleep 3000", "right"]));
        assert_eq!(result.verdicts[0].status, Status::Timeout);
        assert_eq!(result.verdicts[1].status, Status::Timeout);
        assert_eq!(result.verdicts[2].status, Status::Error);
        assert_eq!(result.counts.total(), 3);
    }

    #[test]
    fn empty_batch() {
        let result = runner(3, 100).run(Vec::new());
        assert!(result.verdicts.is_empty());
        assert_eq!(result.counts.total(), 0);
    }
}
