//! Helpers for the unit tests.

/// Asserts `actual[k] ≈ expected[k]` within `tol` for every `k`, with a readable message.
pub(crate) fn assert_close(actual: &[f32], expected: &[f64], tol: f64) {
    assert_eq!(actual.len(), expected.len(), "{actual:?} vs {expected:?}");
    for (k, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        assert!(
            (f64::from(a) - e).abs() <= tol,
            "entry {k}: {a} vs {e}\n actual {actual:?}\n expected {expected:?}"
        );
    }
}
