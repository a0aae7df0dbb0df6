//! [`RolloutBatch`]: the plain-data input of every estimator.

use serde::{Deserialize, Serialize};

use crate::error::AdvantageError;

/// A batch of sampled responses, grouped by prompt, with their rewards.
///
/// Storage is flat and padded: `n` responses, a padded `width`, and per-token fields stored
/// row-major as `[n, width]` (`process[i * width + t]` is token `t` of response `i`). Only the
/// first `lengths[i]` tokens of row `i` are valid (mask `m_{i,t} = 1[t < L_i]`, the EOS token
/// included); padding entries are never read, so they may hold anything.
///
/// - `group[i]`: the prompt (group) id of response `i`. Ids are arbitrary numbers; members of a
///   group need not be contiguous and groups may differ in size.
/// - `lengths[i]`: valid length `L_i`, `1 ≤ L_i ≤ width` (a truncated response has `L_i = width`
///   when `width` is the maximum response length).
/// - `acc[i]`: outcome score, `acc_i ∈ [0, 1]` from a verifier (any finite value is accepted).
/// - `process` (optional): per-token process rewards `r^p_{i,t}` (β·q, or q: with the default
///   batch normalisation the two give the same advantages), `[n, width]`.
/// - `values` (optional): per-token value estimates `V(y_{<t})` for GAE, `[n, width]`.
///
/// Construction validates everything once (sizes, lengths, finiteness of valid entries), so the
/// estimators can trust the batch.
///
/// ```
/// use prime_advantages::RolloutBatch;
/// // two prompts, two responses each, padded width 3
/// let batch = RolloutBatch::new(3, vec![0, 0, 1, 1], vec![3, 1, 2, 2], vec![1.0, 0.0, 0.0, 1.0])?
///     .with_process(vec![
///         0.1, 0.2, 0.3, //
///         0.5, 0.0, 0.0, // padding after the first token
///         -0.1, 0.1, 0.0, //
///         0.2, 0.2, 0.0, //
///     ])?;
/// assert_eq!(batch.len(), 4);
/// assert_eq!(batch.response(0).process, Some(&[0.1, 0.2, 0.3][..]));
/// # Ok::<(), prime_advantages::AdvantageError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RolloutBatchData", into = "RolloutBatchData")]
pub struct RolloutBatch {
    data: RolloutBatchData,
    groups: Groups,
}

/// The serialised form of a [`RolloutBatch`] (flat, padded), validated on the way in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutBatchData {
    /// Padded width of every per-token row.
    pub width: usize,
    /// Group (prompt) id per response, `[n]`.
    pub group: Vec<usize>,
    /// Valid length per response, `[n]`.
    pub lengths: Vec<usize>,
    /// Outcome score per response, `[n]`.
    pub acc: Vec<f32>,
    /// Per-token process rewards, `[n, width]` row-major.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<Vec<f32>>,
    /// Per-token values, `[n, width]` row-major.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<f32>>,
}

/// Group membership, precomputed once: dense group index per response and members per group.
#[derive(Debug, Clone, PartialEq)]
struct Groups {
    /// The caller's id of each dense group, in order of first appearance.
    ids: Vec<usize>,
    /// Members of all groups, concatenated; group `g` is `members[offsets[g]..offsets[g + 1]]`.
    members: Vec<usize>,
    offsets: Vec<usize>,
}

/// One response of a batch: its scalars and the valid part of its per-token rows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Response<'a> {
    /// Row index in the batch.
    pub index: usize,
    /// Group (prompt) id.
    pub group: usize,
    /// Valid length `L_i`.
    pub length: usize,
    /// Outcome score `acc_i`.
    pub acc: f32,
    /// Process rewards of the valid tokens, `[L_i]`.
    pub process: Option<&'a [f32]>,
    /// Values of the valid tokens, `[L_i]`.
    pub values: Option<&'a [f32]>,
}

/// One group: the responses sampled for one prompt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Group<'a> {
    /// The group id as given in the batch.
    pub id: usize,
    /// Row indices of the members, in batch order.
    pub members: &'a [usize],
}

impl RolloutBatch {
    /// A batch without per-token inputs (outcome scores only).
    ///
    /// `group`, `lengths` and `acc` have one entry per response. Errors on an empty batch,
    /// mismatched sizes, a length of 0 or past `width`, and a non-finite score.
    pub fn new(
        width: usize,
        group: Vec<usize>,
        lengths: Vec<usize>,
        acc: Vec<f32>,
    ) -> Result<Self, AdvantageError> {
        RolloutBatchData {
            width,
            group,
            lengths,
            acc,
            process: None,
            values: None,
        }
        .try_into()
    }

    /// Adds per-token process rewards, `[n, width]` row-major; valid entries must be finite.
    pub fn with_process(mut self, process: Vec<f32>) -> Result<Self, AdvantageError> {
        check_token_field("process", &process, &self.data)?;
        self.data.process = Some(process);
        Ok(self)
    }

    /// Adds per-token values, `[n, width]` row-major; valid entries must be finite.
    pub fn with_values(mut self, values: Vec<f32>) -> Result<Self, AdvantageError> {
        check_token_field("values", &values, &self.data)?;
        self.data.values = Some(values);
        Ok(self)
    }

    /// Builds a batch from ragged per-token lists (`process[i].len() == lengths[i]`), padding
    /// every row to the longest response.
    pub fn from_ragged(
        group: Vec<usize>,
        lengths: Vec<usize>,
        acc: Vec<f32>,
        process: Option<&[Vec<f32>]>,
        values: Option<&[Vec<f32>]>,
    ) -> Result<Self, AdvantageError> {
        let width = lengths.iter().copied().max().unwrap_or(0);
        let mut batch = Self::new(width, group, lengths, acc)?;
        if let Some(rows) = process {
            let flat = pad_ragged("process", rows, &batch.data.lengths, width)?;
            batch = batch.with_process(flat)?;
        }
        if let Some(rows) = values {
            let flat = pad_ragged("values", rows, &batch.data.lengths, width)?;
            batch = batch.with_values(flat)?;
        }
        Ok(batch)
    }

    /// Number of responses `n`.
    pub fn len(&self) -> usize {
        self.data.lengths.len()
    }

    /// Always false: an empty batch cannot be built.
    pub fn is_empty(&self) -> bool {
        self.data.lengths.is_empty()
    }

    /// Padded width of the per-token rows.
    pub fn width(&self) -> usize {
        self.data.width
    }

    /// Valid length per response, `[n]`.
    pub fn lengths(&self) -> &[usize] {
        &self.data.lengths
    }

    /// Outcome score per response, `[n]`.
    pub fn acc(&self) -> &[f32] {
        &self.data.acc
    }

    /// Group id per response, `[n]`.
    pub fn group_ids(&self) -> &[usize] {
        &self.data.group
    }

    /// Per-token process rewards, `[n, width]` row-major (padding unspecified).
    pub fn process(&self) -> Option<&[f32]> {
        self.data.process.as_deref()
    }

    /// Per-token values, `[n, width]` row-major (padding unspecified).
    pub fn values(&self) -> Option<&[f32]> {
        self.data.values.as_deref()
    }

    /// Total number of valid tokens, `Σ_i L_i`.
    pub fn valid_tokens(&self) -> usize {
        self.data.lengths.iter().sum()
    }

    /// Response `i` (panics if `i >= len()`, like slice indexing).
    pub fn response(&self, i: usize) -> Response<'_> {
        let length = self.data.lengths[i];
        let start = i * self.data.width;
        let range = start..start + length;
        Response {
            index: i,
            group: self.data.group[i],
            length,
            acc: self.data.acc[i],
            process: self.data.process.as_ref().map(|p| &p[range.clone()]),
            values: self.data.values.as_ref().map(|v| &v[range]),
        }
    }

    /// All responses, in batch order.
    pub fn responses(&self) -> impl ExactSizeIterator<Item = Response<'_>> + '_ {
        (0..self.len()).map(|i| self.response(i))
    }

    /// All groups, in order of first appearance in the batch.
    pub fn groups(&self) -> impl ExactSizeIterator<Item = Group<'_>> + '_ {
        let g = &self.groups;
        (0..g.ids.len()).map(move |k| Group {
            id: g.ids[k],
            members: &g.members[g.offsets[k]..g.offsets[k + 1]],
        })
    }

    /// Errors with [`AdvantageError::GroupTooSmall`] if a group has fewer than `needed` members.
    pub fn require_group_size(
        &self,
        estimator: &'static str,
        needed: usize,
    ) -> Result<(), AdvantageError> {
        match self.groups().find(|g| g.members.len() < needed) {
            Some(g) => Err(AdvantageError::GroupTooSmall {
                estimator,
                group: g.id,
                size: g.members.len(),
                needed,
            }),
            None => Ok(()),
        }
    }

    /// The plain serialisable data (consumes the batch).
    pub fn into_data(self) -> RolloutBatchData {
        self.data
    }
}

impl TryFrom<RolloutBatchData> for RolloutBatch {
    type Error = AdvantageError;

    fn try_from(data: RolloutBatchData) -> Result<Self, Self::Error> {
        let n = data.lengths.len();
        if n == 0 && data.group.is_empty() && data.acc.is_empty() {
            return Err(AdvantageError::EmptyBatch);
        }
        check_size("group", data.group.len(), n)?;
        check_size("acc", data.acc.len(), n)?;
        for (response, &length) in data.lengths.iter().enumerate() {
            if length == 0 {
                return Err(AdvantageError::EmptyResponse { response });
            }
            if length > data.width {
                return Err(AdvantageError::LengthPastWidth {
                    response,
                    length,
                    width: data.width,
                });
            }
        }
        if let Some(response) = data.acc.iter().position(|a| !a.is_finite()) {
            return Err(AdvantageError::NonFinite {
                field: "acc",
                response,
                token: None,
                value: data.acc[response],
            });
        }
        if let Some(process) = &data.process {
            check_token_field("process", process, &data)?;
        }
        if let Some(values) = &data.values {
            check_token_field("values", values, &data)?;
        }
        let groups = Groups::new(&data.group);
        Ok(Self { data, groups })
    }
}

impl From<RolloutBatch> for RolloutBatchData {
    fn from(batch: RolloutBatch) -> Self {
        batch.data
    }
}

impl Groups {
    fn new(group: &[usize]) -> Self {
        let mut ids: Vec<usize> = Vec::new();
        let mut dense = Vec::with_capacity(group.len());
        let mut index = std::collections::HashMap::new();
        for &id in group {
            let k = *index.entry(id).or_insert_with(|| {
                ids.push(id);
                ids.len() - 1
            });
            dense.push(k);
        }
        let mut offsets = vec![0; ids.len() + 1];
        for &k in &dense {
            offsets[k + 1] += 1;
        }
        for k in 0..ids.len() {
            offsets[k + 1] += offsets[k];
        }
        let mut next = offsets.clone();
        let mut members = vec![0; group.len()];
        for (i, &k) in dense.iter().enumerate() {
            members[next[k]] = i;
            next[k] += 1;
        }
        Self {
            ids,
            members,
            offsets,
        }
    }
}

fn check_size(field: &'static str, found: usize, expected: usize) -> Result<(), AdvantageError> {
    if found == expected {
        Ok(())
    } else {
        Err(AdvantageError::SizeMismatch {
            field,
            expected,
            found,
            why: "one entry per response, as in `lengths`",
        })
    }
}

/// Checks a flat `[n, width]` per-token field: its size and the finiteness of valid entries.
fn check_token_field(
    field: &'static str,
    flat: &[f32],
    data: &RolloutBatchData,
) -> Result<(), AdvantageError> {
    let expected = data.lengths.len() * data.width;
    if flat.len() != expected {
        return Err(AdvantageError::SizeMismatch {
            field,
            expected,
            found: flat.len(),
            why: "responses × padded width",
        });
    }
    for (response, &length) in data.lengths.iter().enumerate() {
        let row = &flat[response * data.width..response * data.width + length];
        if let Some(token) = row.iter().position(|v| !v.is_finite()) {
            return Err(AdvantageError::NonFinite {
                field,
                response,
                token: Some(token),
                value: row[token],
            });
        }
    }
    Ok(())
}

fn pad_ragged(
    field: &'static str,
    rows: &[Vec<f32>],
    lengths: &[usize],
    width: usize,
) -> Result<Vec<f32>, AdvantageError> {
    if rows.len() != lengths.len() {
        return Err(AdvantageError::SizeMismatch {
            field,
            expected: lengths.len(),
            found: rows.len(),
            why: "one list per response, as in `lengths`",
        });
    }
    let mut flat = vec![0.0; lengths.len() * width];
    for (response, (row, &length)) in rows.iter().zip(lengths).enumerate() {
        if row.len() != length {
            return Err(AdvantageError::RaggedLength {
                field,
                response,
                length,
                found: row.len(),
            });
        }
        flat[response * width..response * width + length].copy_from_slice(row);
    }
    Ok(flat)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch() -> RolloutBatch {
        RolloutBatch::new(
            3,
            vec![7, 2, 7, 2, 9, 9],
            vec![3, 1, 2, 3, 1, 1],
            vec![1.0; 6],
        )
        .unwrap()
    }

    #[test]
    fn groups_follow_first_appearance_and_allow_interleaving() {
        let b = batch();
        let groups: Vec<(usize, Vec<usize>)> =
            b.groups().map(|g| (g.id, g.members.to_vec())).collect();
        assert_eq!(
            groups,
            vec![(7, vec![0, 2]), (2, vec![1, 3]), (9, vec![4, 5])]
        );
        assert_eq!(b.valid_tokens(), 11);
    }

    #[test]
    fn rejects_empty_batch() {
        let err = RolloutBatch::new(4, vec![], vec![], vec![]).unwrap_err();
        assert_eq!(err, AdvantageError::EmptyBatch);
    }

    #[test]
    fn rejects_size_mismatch_naming_the_field() {
        let err = RolloutBatch::new(4, vec![0, 0], vec![1, 2], vec![1.0]).unwrap_err();
        assert!(matches!(
            err,
            AdvantageError::SizeMismatch {
                field: "acc",
                expected: 2,
                found: 1,
                ..
            }
        ));
        let err = RolloutBatch::new(2, vec![0], vec![1, 2], vec![1.0, 0.0]).unwrap_err();
        assert!(matches!(
            err,
            AdvantageError::SizeMismatch { field: "group", .. }
        ));
    }

    #[test]
    fn rejects_bad_lengths() {
        let err = RolloutBatch::new(2, vec![0, 0], vec![1, 3], vec![1.0, 0.0]).unwrap_err();
        assert_eq!(
            err,
            AdvantageError::LengthPastWidth {
                response: 1,
                length: 3,
                width: 2
            }
        );
        let err = RolloutBatch::new(2, vec![0, 0], vec![0, 2], vec![1.0, 0.0]).unwrap_err();
        assert_eq!(err, AdvantageError::EmptyResponse { response: 0 });
    }

    #[test]
    fn rejects_non_finite_valid_entries_but_ignores_padding() {
        let err = RolloutBatch::new(2, vec![0, 0], vec![1, 2], vec![f32::NAN, 0.0]).unwrap_err();
        assert!(matches!(
            err,
            AdvantageError::NonFinite {
                field: "acc",
                response: 0,
                ..
            }
        ));
        let b = RolloutBatch::new(2, vec![0, 0], vec![1, 2], vec![1.0, 0.0]).unwrap();
        // padding (row 0, token 1) may hold NaN; valid entries may not
        let ok = b.clone().with_process(vec![0.5, f32::NAN, 0.1, 0.2]);
        assert!(ok.is_ok());
        let err = b
            .with_values(vec![0.5, 0.0, 0.1, f32::INFINITY])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "`values[1][1]` is inf: inputs must be finite"
        );
    }

    #[test]
    fn rejects_wrong_token_field_size() {
        let err = batch().with_process(vec![0.0; 17]).unwrap_err();
        assert!(matches!(
            err,
            AdvantageError::SizeMismatch {
                field: "process",
                expected: 18,
                found: 17,
                ..
            }
        ));
    }

    #[test]
    fn ragged_rows_are_padded_and_checked() {
        let process = vec![vec![1.0, 2.0], vec![3.0]];
        let b =
            RolloutBatch::from_ragged(vec![0, 0], vec![2, 1], vec![1.0, 0.0], Some(&process), None)
                .unwrap();
        assert_eq!(b.width(), 2);
        assert_eq!(b.process(), Some(&[1.0, 2.0, 3.0, 0.0][..]));
        let bad = vec![vec![1.0, 2.0], vec![3.0, 4.0]];
        let err =
            RolloutBatch::from_ragged(vec![0, 0], vec![2, 1], vec![1.0, 0.0], Some(&bad), None)
                .unwrap_err();
        assert_eq!(
            err,
            AdvantageError::RaggedLength {
                field: "process",
                response: 1,
                length: 1,
                found: 2
            }
        );
    }

    #[test]
    fn serde_round_trip_validates() {
        let b = batch().with_process(vec![0.25; 18]).unwrap();
        let json = serde_json::to_string(&b).unwrap();
        let back: RolloutBatch = serde_json::from_str(&json).unwrap();
        assert_eq!(back, b);
        let bad = r#"{"width":1,"group":[0],"lengths":[2],"acc":[1.0]}"#;
        let err = serde_json::from_str::<RolloutBatch>(bad).unwrap_err();
        assert!(err.to_string().contains("past the padded width"), "{err}");
    }
}
