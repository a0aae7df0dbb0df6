//! Hostile math answers through the router and the parallel runner: each ends as a failing
//! verdict well under a second, and the ordinary items of the same batch still score.

use std::sync::Arc;
use std::time::{Duration, Instant};

use prime_verifiers::{Reference, Router, RunnerConfig, Status, VerifyItem, VerifyRunner};

fn item(ability: &str, truth: &str, response: String) -> VerifyItem {
    VerifyItem {
        response,
        reference: Reference {
            ability: ability.into(),
            data_source: String::new(),
            ground_truth: truth.into(),
        },
    }
}

fn hostile_answers() -> Vec<String> {
    vec![
        "9^{9^{9^{9^{9^{9^{9}}}}}}".into(),
        "10^{10^{10^{10}}}-10^{10^{10^{10}}}+3".into(),
        "(10^{100000}+1)^{100000}".into(),
        "1000000!".into(),
        r"\binom{10^{9}}{10^{8}}".into(),
        "(".repeat(5_000),
        "{".repeat(3_000) + &"}".repeat(3_000),
        r"\frac{1}{".repeat(400) + &"2}".repeat(400),
        "x^{x^{x^{x^{x^{x^{x^{x^{x^{x}}}}}}}}}".into(),
        "1+".repeat(20_000) + "1",
        r"\sqrt{".repeat(1_000) + "2" + &"}".repeat(1_000),
        r"3 \pm 1 \pm 1 \pm 1 \pm 1 \pm 1 \pm 1 \pm 1 \pm 1".into(),
        "\u{0}\u{1}\u{7f}\u{202e}3".into(),
        r"\begin{pmatrix}".to_string() + &"1&".repeat(2_000) + r"1\end{pmatrix}",
        "9".repeat(50_000),
        r"\sin(\cos(\tan(\ln(\exp(10^{300})))))".into(),
        r"2^{2^{2^{2^{2^{2^{2}}}}}} / 2^{2^{2^{2^{2^{2^{2}}}}}}".into(),
    ]
}

#[test]
fn hostile_answers_fail_fast_and_ordinary_items_still_score() {
    let mut items = Vec::new();
    for answer in hostile_answers() {
        items.push(item("math", "3", format!("so \\boxed{{{answer}}}")));
        items.push(item("math", r"\frac{3}{4}", "the answer is $0.75$.".into()));
        items.push(item(
            "arithmetic",
            "15",
            "7+3=10\n10*2=20\n20-5=15\n\\boxed{15}".into(),
        ));
    }
    // An unbalanced box and a huge response with no answer.
    items.push(item(
        "math",
        "3",
        format!("\\boxed{{{}", "{".repeat(100_000)),
    ));
    items.push(item("math", "3", "blah ".repeat(200_000)));

    let runner = VerifyRunner::new(
        Arc::new(Router::default()),
        RunnerConfig {
            workers: 2,
            item_timeout: Duration::from_secs(5),
            max_abandoned: 4,
        },
    );
    let start = Instant::now();
    let result = runner.run(items);
    let elapsed = start.elapsed();

    let n_hostile = hostile_answers().len();
    for (i, verdict) in result.verdicts.iter().enumerate().take(3 * n_hostile) {
        match i % 3 {
            0 => assert!(
                matches!(verdict.status, Status::Wrong | Status::Timeout),
                "hostile #{}: {verdict:?}",
                i / 3
            ),
            _ => assert_eq!(
                verdict.status,
                Status::Correct,
                "ordinary item {i}: {verdict:?}"
            ),
        }
        assert!(verdict.score == 0.0 || verdict.status == Status::Correct);
    }
    let tail = &result.verdicts[3 * n_hostile..];
    assert!(
        tail.iter().all(|v| v.status == Status::NoAnswer),
        "{tail:?}"
    );
    for (i, m) in result.micros.iter().enumerate() {
        if *m > 100_000 {
            println!("item {i} took {m} µs: {:?}", result.verdicts[i]);
        }
    }
    let slowest = result.micros.iter().max().copied().unwrap_or(0);
    println!(
        "{} items in {elapsed:?}, slowest {slowest} µs, counts {:?}",
        result.verdicts.len(),
        result.counts
    );
    assert!(slowest < 1_000_000, "slowest verdict {slowest} µs");
    assert_eq!(result.counts.correct, 2 * n_hostile);
    assert_eq!(
        result.counts.timeout, 0,
        "the step budget, not the runner, should stop them"
    );
}
