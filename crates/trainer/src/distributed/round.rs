//! One sampling round split between ranks: each samples its block of the round's prompts, and
//! the groups' summaries (scores, truncation, lengths, decodability) are exchanged so every
//! rank's accuracy filter sees every group and keeps, refills and buffers the same prompts.

use prime_distributed::codec::{decode_f64s, encode_f64s};
use prime_distributed::{block, CommError, Communicator};

use crate::error::TrainError;
use crate::filter::ScoredGroup;
use crate::rollout::SampledGroup;

/// A group of the round as every rank sees it; `local` holds the responses on the rank that
/// sampled them.
pub(crate) struct ShardGroup {
    prompt: usize,
    acc: Vec<f64>,
    truncated: Vec<bool>,
    lengths: Vec<usize>,
    undecodable: bool,
    local: Option<SampledGroup>,
}

impl ScoredGroup for ShardGroup {
    type Prompt = usize;
    fn accuracies(&self) -> &[f64] {
        &self.acc
    }
    fn truncated(&self) -> &[bool] {
        &self.truncated
    }
    fn prompt(&self) -> &usize {
        &self.prompt
    }
}

/// Samples this rank's block of `prompts` with `sample` (which returns one group per prompt, in
/// order) and returns every group of the round, in prompt order, on every rank.
pub(crate) fn sample_round(
    comm: &dyn Communicator,
    prompts: &[usize],
    sample: impl FnOnce(&[usize]) -> Result<Vec<SampledGroup>, TrainError>,
) -> Result<Vec<ShardGroup>, TrainError> {
    let (rank, size) = (comm.rank(), comm.size());
    let mine = &prompts[block(prompts.len(), rank, size)];
    let local = if mine.is_empty() {
        Vec::new()
    } else {
        sample(mine)?
    };
    if local.len() != mine.len() || local.iter().zip(mine).any(|(g, &p)| g.prompt != p) {
        return Err(TrainError::Model(format!(
            "rank {rank}: the sampler returned {} groups for {} prompts",
            local.len(),
            mine.len()
        )));
    }
    let summaries: Vec<f64> = local.iter().flat_map(summary).collect();
    let all = comm.gather(&encode_f64s(&summaries))?;
    let mut local = local.into_iter();
    let mut groups = Vec::with_capacity(prompts.len());
    for (from, bytes) in all.iter().enumerate() {
        let values = decode_f64s(bytes, from, "group summaries")?;
        let theirs = &prompts[block(prompts.len(), from, size)];
        let mut cursor = values.as_slice();
        for &prompt in theirs {
            let mut group = read_summary(&mut cursor, prompt, from)?;
            if from == rank {
                group.local = local.next();
            }
            groups.push(group);
        }
        if !cursor.is_empty() {
            return Err(malformed(from, "more summaries than prompts").into());
        }
    }
    Ok(groups)
}

/// `[k, acc × k, truncated × k, length × k, undecodable]`.
fn summary(group: &SampledGroup) -> Vec<f64> {
    let r = &group.responses;
    let mut out = vec![r.len() as f64];
    out.extend(r.iter().map(|x| x.score));
    out.extend(r.iter().map(|x| f64::from(u8::from(x.truncated))));
    out.extend(r.iter().map(|x| x.ids.len() as f64));
    out.push(f64::from(u8::from(r.iter().any(|x| x.text.is_none()))));
    out
}

fn read_summary(cursor: &mut &[f64], prompt: usize, from: usize) -> Result<ShardGroup, CommError> {
    let k = *cursor
        .first()
        .ok_or_else(|| malformed(from, "fewer summaries than prompts"))? as usize;
    let need = 1 + 3 * k + 1;
    if cursor.len() < need {
        return Err(malformed(from, "a truncated group summary"));
    }
    let (this, rest) = cursor.split_at(need);
    *cursor = rest;
    Ok(ShardGroup {
        prompt,
        acc: this[1..1 + k].to_vec(),
        truncated: this[1 + k..1 + 2 * k].iter().map(|&t| t != 0.0).collect(),
        lengths: this[1 + 2 * k..1 + 3 * k]
            .iter()
            .map(|&l| l as usize)
            .collect(),
        undecodable: this[need - 1] != 0.0,
        local: None,
    })
}

fn malformed(from: usize, reason: &str) -> CommError {
    CommError::Decode {
        from,
        what: "group summaries",
        reason: reason.to_string(),
    }
}

/// One kept response of the step, as every rank sees it (for the step's metrics).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct BatchRow {
    /// Verifier score.
    pub score: f64,
    /// Response tokens.
    pub length: usize,
    /// Hit `max_response_len`.
    pub truncated: bool,
}

/// The kept groups of a step, as every rank sees them.
pub(crate) struct KeptGroups {
    /// This rank's kept groups: (group index in the step, its first global row, the group).
    pub local: Vec<(usize, usize, SampledGroup)>,
    /// Every kept response of the step, in global row order.
    pub rows: Vec<BatchRow>,
    /// Kept groups left out of training for a response that could not be decoded.
    pub undecodable: usize,
}

/// Drops the groups with an undecodable response (as [`crate::rollout::without_undecodable`]
/// does in one process) and numbers the rest: group `g`, rows in order.
pub(crate) fn kept_groups(groups: Vec<ShardGroup>) -> KeptGroups {
    let mut kept = KeptGroups {
        local: Vec::new(),
        rows: Vec::new(),
        undecodable: 0,
    };
    let mut g = 0;
    for group in groups {
        if group.undecodable {
            kept.undecodable += 1;
            continue;
        }
        let first = kept.rows.len();
        for ((&score, &length), &truncated) in
            group.acc.iter().zip(&group.lengths).zip(&group.truncated)
        {
            kept.rows.push(BatchRow {
                score,
                length,
                truncated,
            });
        }
        if let Some(local) = group.local {
            kept.local.push((g, first, local));
        }
        g += 1;
    }
    kept
}
