//! The code verifier's modes end to end: stdin/stdout and call-based tests, the comparison
//! cascade, partial credit, and the verdicts for missing code and bad ground truth.

use std::sync::OnceLock;
use std::time::Duration;

use prime_verifiers::{CodeConfig, CodeVerifier, Reference, Status, Verdict, Verifier};

fn verifier() -> Option<&'static CodeVerifier> {
    static V: OnceLock<Option<CodeVerifier>> = OnceLock::new();
    V.get_or_init(|| {
        complete_or_skip(CodeVerifier::new(CodeConfig {
            time_limit: Duration::from_secs(2),
            ..CodeConfig::default()
        }))
    })
    .as_ref()
}

/// A verifier whose sandbox is complete here, or `None` (test skipped, loudly) on a host that
/// forbids a required layer (e.g. no user namespaces in a container). A sandbox that cannot start
/// Python at all fails the test.
fn complete_or_skip(verifier: CodeVerifier) -> Option<CodeVerifier> {
    match verifier.sandbox_report() {
        Ok(report) if report.is_complete() => Some(verifier),
        Ok(report) if report.usable.is_ok() || !cfg!(target_os = "linux") => {
            eprintln!("SKIPPED: this host cannot give the full sandbox: {report}");
            None
        }
        Ok(report) => panic!("sandbox unusable: {report}"),
        Err(e) => panic!("no interpreter: {e}"),
    }
}

fn verify(code: &str, ground_truth: &str) -> Verdict {
    let reference = Reference {
        ability: "code".into(),
        data_source: "test".into(),
        ground_truth: ground_truth.into(),
    };
    let verifier = verifier().expect("each test returns early without a sandbox");
    let verdict = verifier.verify(&format!("Solution:\n```python\n{code}\n```"), &reference);
    eprintln!("{verdict:?}");
    verdict
}

#[test]
fn call_mode_method_of_solution() {
    if verifier().is_none() {
        return;
    }
    let gt = r#"{"fn_name": "twoSum", "inputs": ["[2,7,11,15]\n9", "[3,2,4]\n6"],
                 "outputs": ["[0, 1]", "[1, 2]"]}"#;
    let code = "class Solution:\n    def twoSum(self, nums: List[int], target: int) -> List[int]:\n\
                \x20       seen = {}\n        for i, x in enumerate(nums):\n\
                \x20           if target - x in seen:\n                return [seen[target - x], i]\n\
                \x20           seen[x] = i";
    let v = verify(code, gt);
    assert_eq!((v.status, v.score), (Status::Correct, 1.0));
    // A wrong method: both tests fail.
    let v = verify(
        "class Solution:\n    def twoSum(self, nums, target):\n        return [1, 0]",
        gt,
    );
    assert_eq!((v.status, v.score), (Status::Wrong, 0.0));
    assert!(v.reason.contains("wrong answer"), "{v:?}");
}

#[test]
fn call_mode_plain_function_tuples_and_wrapped_outputs() {
    if verifier().is_none() {
        return;
    }
    // APPS style: argument lists as arrays, return values wrapped in a list; tuples become lists.
    let gt =
        r#"{"fn_name": "divmod2", "inputs": [[7, 2], [9, 3]], "outputs": [[[3, 1]], [[3, 0]]]}"#;
    let v = verify("def divmod2(a, b):\n    return divmod(a, b)", gt);
    assert_eq!((v.status, v.score), (Status::Correct, 1.0));
    let gt = r#"{"fn_name": "half", "inputs": ["3"], "outputs": ["1.5000001"]}"#;
    let v = verify("def half(x):\n    return x / 2", gt);
    assert_eq!(v.status, Status::Correct, "float closeness");
    let gt = r#"{"fn_name": "f", "inputs": ["1"], "outputs": ["1"]}"#;
    let v = verify("def f(x):\n    return object()", gt);
    assert!(v.reason.contains("non-JSON"), "{v:?}");
    let v = verify("def g(x):\n    return x", gt);
    assert!(v.reason.contains("runtime error"), "{v:?}");
}

#[test]
fn stdin_mode_cascade_and_exit_codes() {
    if verifier().is_none() {
        return;
    }
    let gt = r#"{"inputs": ["3\n"], "outputs": ["1 2 3\n"]}"#;
    // Tokens on separate lines are accepted by the last rule of the cascade.
    let v = verify(
        "n = int(input())\nfor i in range(1, n + 1):\n    print(i)",
        gt,
    );
    assert_eq!(v.status, Status::Correct, "{v:?}");
    // sys.exit(0) after printing is fine; a non-zero exit is a runtime error.
    let v = verify("import sys\nprint('1 2 3')\nsys.exit(0)", gt);
    assert_eq!(v.status, Status::Correct, "{v:?}");
    let v = verify("print('1 2 3')\nraise ValueError('late')", gt);
    assert!(v.reason.contains("ValueError: late"), "{v:?}");
    let gt = r#"{"inputs": [""], "outputs": ["0.333333"]}"#;
    assert_eq!(verify("print(1/3)", gt).status, Status::Correct);
}

#[test]
fn partial_credit_over_the_first_ten_tests() {
    if verifier().is_none() {
        return;
    }
    // 12 tests, the program is right on even n only: 5 of the first 10 pass → 0.5.
    let inputs: Vec<String> = (1..=12).map(|n| format!("{n}\n")).collect();
    let outputs: Vec<String> = (1..=12).map(|n| format!("{}\n", n * 2)).collect();
    let gt = serde_json::json!({"inputs": inputs, "outputs": outputs}).to_string();
    let v = verify("n = int(input())\nprint(n * 2 if n % 2 == 0 else 0)", &gt);
    assert_eq!((v.status, v.score), (Status::Wrong, 0.5), "{v:?}");
    let v = verify("print(int(input()) * 2)", &gt);
    assert_eq!((v.status, v.score), (Status::Correct, 1.0));
}

#[test]
fn missing_code_and_bad_ground_truth() {
    let reference = Reference {
        ability: "code".into(),
        data_source: "test".into(),
        ground_truth: r#"{"inputs": ["1"], "outputs": ["1"]}"#.into(),
    };
    let Some(verifier) = verifier() else { return };
    let v = verifier.verify("I think the answer is 1.", &reference);
    assert_eq!(v.status, Status::NoAnswer);
    let v = verify("print(1)", "not json");
    assert_eq!(v.status, Status::Error);
    assert!(v.reason.contains("not JSON"), "{v:?}");
}

#[test]
fn syntax_error_is_a_failing_test() {
    if verifier().is_none() {
        return;
    }
    let v = verify(
        "def broken(:\n    pass",
        r#"{"inputs": [""], "outputs": [""]}"#,
    );
    assert_eq!(v.status, Status::Wrong);
    assert!(v.reason.contains("SyntaxError"), "{v:?}");
}

#[test]
fn missing_interpreter_is_an_error_verdict_not_a_silent_zero() {
    let v = CodeVerifier::new(CodeConfig {
        python: "/nonexistent/python3".into(),
        ..CodeConfig::default()
    });
    assert!(v.ready().is_err());
    let reference = Reference {
        ability: "code".into(),
        data_source: "test".into(),
        ground_truth: r#"{"inputs": [""], "outputs": ["1"]}"#.into(),
    };
    let verdict = v.verify("```python\nprint(1)\n```", &reference);
    assert_eq!(verdict.status, Status::Error);
    assert!(verdict.reason.contains("interpreter"), "{verdict:?}");
}

#[test]
fn sandbox_report_names_every_layer() {
    let v = CodeVerifier::new(CodeConfig::default());
    let report = v.sandbox_report().expect("interpreter found");
    eprintln!("{report}");
    let names: Vec<&str> = report.layers.iter().map(|l| l.name).collect();
    for layer in [
        "network namespace",
        "pid namespace",
        "landlock",
        "seccomp",
        "rlimits",
    ] {
        assert!(names.contains(&layer), "{layer} missing from {names:?}");
    }
    assert_eq!(report.is_complete(), v.ready().is_ok(), "{report}");
}
