//! The JSON schema of the `advantages` example: ragged per-response lists in and out.
//!
//! ```text
//! in:  {"group": [0,0,0,0,1,1,1,1], "lengths": [5,3,…], "acc": [1.0,0.0,…],
//!       "process": [[…], …] (optional), "values": [[…], …] (optional, gae)}
//! out: {"advantages": [[…], …], "returns": [[…], …]}
//! ```
//!
//! Every per-token list is exactly as long as its response's valid length; unknown keys are
//! rejected. The types only derive serde: pick any serde format crate to read and write them.

use serde::{Deserialize, Serialize};

use prime_advantages::{AdvantageError, Advantages, RolloutBatch};

/// A batch as ragged lists (the input of the example).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonBatch {
    /// Group (prompt) id per response.
    pub group: Vec<usize>,
    /// Valid length per response.
    pub lengths: Vec<usize>,
    /// Outcome score per response.
    pub acc: Vec<f32>,
    /// Per-token process rewards, `process[i].len() == lengths[i]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<Vec<Vec<f32>>>,
    /// Per-token values (for `gae`), `values[i].len() == lengths[i]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<Vec<f32>>>,
}

/// Advantages and returns as ragged lists (the output of the example).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonAdvantages {
    /// Per-token advantages of the valid tokens of each response.
    pub advantages: Vec<Vec<f32>>,
    /// Per-token returns (pre-whitening) of the valid tokens of each response.
    pub returns: Vec<Vec<f32>>,
}

impl JsonBatch {
    /// Validates and pads into a [`RolloutBatch`] of width `max(lengths)`.
    pub fn into_batch(self) -> Result<RolloutBatch, AdvantageError> {
        RolloutBatch::from_ragged(
            self.group,
            self.lengths,
            self.acc,
            self.process.as_deref(),
            self.values.as_deref(),
        )
    }
}

impl From<&Advantages> for JsonAdvantages {
    fn from(a: &Advantages) -> Self {
        let n = a.lengths().len();
        Self {
            advantages: (0..n).map(|i| a.advantage_row(i).to_vec()).collect(),
            returns: (0..n).map(|i| a.return_row(i).to_vec()).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ragged form of a batch (padding dropped): the inverse of `into_batch`.
    fn from_batch(batch: &RolloutBatch) -> JsonBatch {
        let process = batch.process().is_some().then(|| {
            batch
                .responses()
                .flat_map(|r| r.process)
                .map(<[f32]>::to_vec)
                .collect()
        });
        let values = batch.values().is_some().then(|| {
            batch
                .responses()
                .flat_map(|r| r.values)
                .map(<[f32]>::to_vec)
                .collect()
        });
        JsonBatch {
            group: batch.group_ids().to_vec(),
            lengths: batch.lengths().to_vec(),
            acc: batch.acc().to_vec(),
            process,
            values,
        }
    }

    #[test]
    fn parses_the_documented_schema() {
        let text = r#"{"group": [0, 0], "lengths": [2, 1], "acc": [1.0, 0.0],
                       "process": [[0.5, -0.5], [0.25]]}"#;
        let json: JsonBatch = serde_json::from_str(text).unwrap();
        let batch = json.clone().into_batch().unwrap();
        assert_eq!(batch.width(), 2);
        assert_eq!(batch.process(), Some(&[0.5, -0.5, 0.25, 0.0][..]));
        assert!(batch.values().is_none());
        assert_eq!(from_batch(&batch), json);
    }

    #[test]
    fn inconsistent_lengths_and_unknown_keys_are_errors() {
        let text =
            r#"{"group": [0, 0], "lengths": [2, 1], "acc": [1.0, 0.0], "values": [[0.5], [0.25]]}"#;
        let err = serde_json::from_str::<JsonBatch>(text)
            .unwrap()
            .into_batch()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "`values[0]` has 1 tokens but `lengths[0]` is 2"
        );
        let text = r#"{"group": [0], "lengths": [1], "acc": [1.0], "proces": [[1.0]]}"#;
        let err = serde_json::from_str::<JsonBatch>(text).unwrap_err();
        assert!(err.to_string().contains("unknown field `proces`"), "{err}");
    }

    #[test]
    fn output_rows_drop_padding() {
        let batch = RolloutBatch::new(3, vec![0, 0], vec![3, 1], vec![1.0, 0.0]).unwrap();
        let a =
            Advantages::from_returns(&batch, vec![1.0, 2.0, 3.0, 4.0, 9.0, 9.0], false).unwrap();
        let json = JsonAdvantages::from(&a);
        assert_eq!(json.advantages, vec![vec![1.0, 2.0, 3.0], vec![4.0]]);
        assert_eq!(
            serde_json::to_string(&json).unwrap(),
            r#"{"advantages":[[1.0,2.0,3.0],[4.0]],"returns":[[1.0,2.0,3.0],[4.0]]}"#
        );
    }
}
