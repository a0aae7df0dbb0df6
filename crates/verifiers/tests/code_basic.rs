//! End-to-end runs of ordinary programs through the sandboxed code verifier.

use std::time::Duration;

use prime_verifiers::{CodeConfig, CodeVerifier, Reference, Status, Verifier};

fn verifier() -> CodeVerifier {
    CodeVerifier::new(CodeConfig {
        time_limit: Duration::from_secs(2),
        ..CodeConfig::default()
    })
}

fn reference(ground_truth: &str) -> Reference {
    Reference {
        ability: "code".into(),
        data_source: "test".into(),
        ground_truth: ground_truth.into(),
    }
}

fn response(code: &str) -> String {
    format!("Here is my solution.\n```python\n{code}\n```\n")
}

#[test]
fn sandbox_report_is_printed_and_ready() {
    let v = verifier();
    let report = v.sandbox_report().expect("interpreter found");
    eprintln!("{report}");
    assert!(v.ready().is_ok(), "{:?}", v.ready().err());
}

#[test]
fn stdin_program_scores_one() {
    let v = verifier();
    let gt = r#"{"inputs": ["1 2\n", "5 7\n"], "outputs": ["3\n", "12\n"]}"#;
    let verdict = v.verify(
        &response("a, b = map(int, input().split())\nprint(a + b)"),
        &reference(gt),
    );
    assert_eq!(verdict.status, Status::Correct, "{verdict:?}");
    assert_eq!(verdict.score, 1.0);
}
