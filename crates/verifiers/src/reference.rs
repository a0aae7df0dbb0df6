//! What a response is checked against.

use serde::{Deserialize, Serialize};

/// The ground truth of one problem, as stored in a dataset row (`reward_model.ground_truth`) plus
/// the fields a router needs to pick a verifier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reference {
    /// `math`, `code`, or the name of a built-in synthetic task.
    pub ability: String,
    /// Where the problem comes from (`numina_olympiads`, `apps`, `arithmetic_chain`, …).
    #[serde(default)]
    pub data_source: String,
    /// The answer (math), a JSON string `{"inputs","outputs","fn_name"?}` (code), or the exact
    /// answer of a synthetic task.
    pub ground_truth: String,
}
