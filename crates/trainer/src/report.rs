//! `report.html`: one self-contained page (inline SVG and CSS, no scripts, nothing fetched) with
//! the training curves of one or more runs, the evaluation table, and sample responses whose tokens
//! are shaded by their implicit process reward.

use std::fmt::Write as _;
use std::path::Path;

use crate::error::TrainError;
use crate::metrics::{EvalRecord, SampleRecord, StepMetrics};

/// One run's data as the report shows it.
#[derive(Debug, Clone, Default)]
pub struct ReportRun {
    /// Legend label (`PRIME`, `RLOO outcome-only`, …).
    pub label: String,
    /// Per-step metrics.
    pub metrics: Vec<StepMetrics>,
    /// Evaluations (step 0 = before RL).
    pub evals: Vec<EvalRecord>,
    /// Sample responses with per-token rewards.
    pub samples: Vec<SampleRecord>,
}

/// The whole page.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Page title.
    pub title: String,
    /// Free-form `(name, value)` lines shown at the top (config, wall time, …).
    pub summary: Vec<(String, String)>,
    /// The runs, drawn in the same charts.
    pub runs: Vec<ReportRun>,
}

const COLORS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
];

/// The per-step curves: (metric key, chart title).
const CURVES: [(&str, &str); 17] = [
    ("accuracy", "Training accuracy (all samples)"),
    ("groups_kept", "Groups kept by the filter"),
    ("prm_loss", "PRM loss"),
    ("dpo_acc", "PRM pairwise accuracy (dpo_acc)"),
    ("policy_loss", "Policy loss"),
    ("clip_frac", "Clip fraction"),
    ("approx_kl", "Approx. KL to π_old"),
    ("entropy", "Entropy"),
    ("response_length", "Response length (tokens)"),
    ("grad_norm", "Policy grad norm"),
    ("advantage_abs_mean", "|advantage| mean"),
    ("process_reward_mean", "Process reward mean"),
    ("lr", "Learning rate"),
    ("time_step", "Seconds per step"),
    // vLLM rollouts only (absent otherwise, so no chart).
    (
        "vllm_logprob_abs_diff_mean",
        "vLLM − trainer |Δ log π| mean",
    ),
    ("vllm_logprob_abs_diff_max", "vLLM − trainer |Δ log π| max"),
    ("weight_sync_seconds", "Weight sync to vLLM (s)"),
];

impl Report {
    /// Writes the page to `path`.
    pub fn write(&self, path: &Path) -> Result<(), TrainError> {
        std::fs::write(path, self.render()).map_err(|e| TrainError::io(path, e))
    }

    /// The page as a string.
    pub fn render(&self) -> String {
        let mut h = String::new();
        let _ = write!(
            h,
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{}</title><style>{}</style></head><body>",
            escape(&self.title),
            CSS
        );
        let _ = write!(h, "<h1>{}</h1>", escape(&self.title));
        if !self.summary.is_empty() {
            h.push_str("<table class=\"summary\">");
            for (k, v) in &self.summary {
                let _ = write!(h, "<tr><th>{}</th><td>{}</td></tr>", escape(k), escape(v));
            }
            h.push_str("</table>");
        }
        h.push_str("<h2>Evaluation (held-back split)</h2>");
        h.push_str(&self.eval_chart());
        h.push_str(&self.eval_table());
        h.push_str("<h2>Training curves</h2><div class=\"grid\">");
        for (key, title) in CURVES {
            let series: Vec<Series> = self
                .runs
                .iter()
                .map(|r| Series {
                    label: r.label.clone(),
                    points: r
                        .metrics
                        .iter()
                        .filter(|m| !m.skipped)
                        .filter_map(|m| metric(m, key).map(|v| (m.step as f64, v)))
                        .collect(),
                })
                .collect();
            if series.iter().any(|s| !s.points.is_empty()) {
                h.push_str(&line_chart(title, &series));
            }
        }
        h.push_str("</div>");
        h.push_str(&self.phase_chart());
        h.push_str(&self.samples_html());
        h.push_str("</body></html>\n");
        h
    }

    fn eval_chart(&self) -> String {
        let series: Vec<Series> = self
            .runs
            .iter()
            .map(|r| Series {
                label: r.label.clone(),
                points: r
                    .evals
                    .iter()
                    .map(|e| (e.step as f64, e.accuracy))
                    .collect(),
            })
            .collect();
        if series.iter().all(|s| s.points.is_empty()) {
            return String::new();
        }
        line_chart("Greedy pass@1 on the eval split", &series)
    }

    fn eval_table(&self) -> String {
        let mut h = String::from(
            "<table class=\"evals\"><tr><th>run</th><th>step</th><th>pass@1</th><th>avg@k</th><th>per source</th><th>resp. len</th></tr>",
        );
        for run in &self.runs {
            for e in &run.evals {
                let sources: Vec<String> = e
                    .by_source
                    .iter()
                    .map(|s| {
                        format!(
                            "{} ({}): {:.1}%{}",
                            s.source,
                            s.problems,
                            100.0 * s.pass_at_1,
                            s.avg_at_k
                                .map(|a| format!(" / avg@k {:.1}%", 100.0 * a))
                                .unwrap_or_default()
                        )
                    })
                    .collect();
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td>{:.1}%</td><td>{}</td><td>{}</td><td>{:.1}</td></tr>",
                    escape(&run.label),
                    e.step,
                    100.0 * e.accuracy,
                    e.avg_at_k.map(|a| format!("{:.1}%", 100.0 * a)).unwrap_or_else(|| "–".into()),
                    escape(&sources.join("; ")),
                    e.response_length
                );
            }
        }
        h.push_str("</table>");
        h
    }

    fn phase_chart(&self) -> String {
        let mut h = String::from("<h2>Seconds per phase</h2><div class=\"grid\">");
        for run in &self.runs {
            let phases: [Phase; 6] = [
                ("rollout", |m| m.time_rollout),
                ("verify", |m| m.time_verify),
                ("old log-probs", |m| m.time_old_log_probs),
                ("PRM", |m| m.time_prm),
                ("advantages", |m| m.time_advantage),
                ("policy", |m| m.time_policy),
            ];
            let series: Vec<Series> = phases
                .iter()
                .map(|(label, f)| Series {
                    label: label.to_string(),
                    points: run.metrics.iter().map(|m| (m.step as f64, f(m))).collect(),
                })
                .collect();
            if run.metrics.is_empty() {
                continue;
            }
            h.push_str(&line_chart(
                &format!("{}: seconds per phase", run.label),
                &series,
            ));
        }
        h.push_str("</div>");
        h
    }

    fn samples_html(&self) -> String {
        let mut h = String::from(
            "<h2>Sample responses</h2><p class=\"note\">Each response token is shaded by its implicit process reward r<sup>p</sup> = β·(log π<sub>φ</sub> − log π<sub>ref</sub>): green positive, red negative, intensity relative to the largest |r<sup>p</sup>| of the response. Hover a token for its value.</p>",
        );
        for run in &self.runs {
            for s in &run.samples {
                let _ = write!(
                    h,
                    "<div class=\"sample\"><div class=\"meta\">{} · step {} · score {:.2}</div><pre class=\"prompt\">{}</pre><div class=\"resp\">",
                    escape(&run.label),
                    s.step,
                    s.score,
                    escape(&s.prompt)
                );
                let scale = s
                    .rewards
                    .iter()
                    .fold(0.0f64, |m, r| m.max(r.abs()))
                    .max(1e-12);
                for (i, tok) in s.tokens.iter().enumerate() {
                    match s.rewards.get(i) {
                        Some(&r) => {
                            let alpha = (r.abs() / scale).min(1.0) * 0.85;
                            let rgb = if r >= 0.0 { "40,160,60" } else { "220,40,40" };
                            let _ = write!(
                                h,
                                "<span style=\"background:rgba({rgb},{alpha:.3})\" title=\"{r:.4}\">{}</span>",
                                escape(tok)
                            );
                        }
                        None => {
                            let _ = write!(h, "<span>{}</span>", escape(tok));
                        }
                    }
                }
                h.push_str("</div></div>");
            }
        }
        h
    }
}

/// A phase's label and how to read its seconds from a step.
type Phase = (&'static str, fn(&StepMetrics) -> f64);

fn metric(m: &StepMetrics, key: &str) -> Option<f64> {
    let v = serde_json::to_value(m).ok()?;
    let x = v.get(key)?.as_f64()?;
    x.is_finite().then_some(x)
}

/// One curve of a chart.
#[derive(Debug, Clone)]
struct Series {
    label: String,
    points: Vec<(f64, f64)>,
}

/// An SVG line chart with axes, min/max ticks and a legend.
fn line_chart(title: &str, series: &[Series]) -> String {
    const W: f64 = 420.0;
    const H: f64 = 240.0;
    const L: f64 = 58.0;
    const R: f64 = 12.0;
    const T: f64 = 28.0;
    const BOT: f64 = 44.0;
    let all: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|s| s.points.iter().copied())
        .collect();
    let mut svg = format!(
        "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {H}\" width=\"{W}\" height=\"{H}\"><text x=\"{}\" y=\"18\" class=\"title\">{}</text>",
        W / 2.0,
        escape(title)
    );
    if all.is_empty() {
        svg.push_str("</svg>");
        return svg;
    }
    let (mut x0, mut x1, mut y0, mut y1) = all.iter().fold(
        (
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ),
        |(a, b, c, d), &(x, y)| (a.min(x), b.max(x), c.min(y), d.max(y)),
    );
    if x1 - x0 < 1e-12 {
        x0 -= 1.0;
        x1 += 1.0;
    }
    if y1 - y0 < 1e-12 {
        let pad = y0.abs().max(1e-3) * 0.1;
        y0 -= pad;
        y1 += pad;
    }
    let px = |x: f64| L + (x - x0) / (x1 - x0) * (W - L - R);
    let py = |y: f64| H - BOT - (y - y0) / (y1 - y0) * (H - T - BOT);
    let _ = write!(
        svg,
        "<line x1=\"{L}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" class=\"axis\"/><line x1=\"{L}\" y1=\"{T}\" x2=\"{L}\" y2=\"{}\" class=\"axis\"/>",
        H - BOT,
        W - R,
        H - BOT,
        H - BOT
    );
    for (y, anchor_y) in [
        (y0, H - BOT),
        (y1, T + 4.0),
        ((y0 + y1) / 2.0, (H - BOT + T) / 2.0),
    ] {
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{anchor_y}\" class=\"tick\" text-anchor=\"end\">{}</text>",
            L - 4.0,
            fmt_num(y)
        );
    }
    for x in [x0, x1] {
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" class=\"tick\" text-anchor=\"middle\">{}</text>",
            px(x),
            H - BOT + 14.0,
            fmt_num(x)
        );
    }
    let _ = write!(
        svg,
        "<text x=\"{}\" y=\"{}\" class=\"tick\" text-anchor=\"middle\">step</text>",
        (L + W - R) / 2.0,
        H - BOT + 14.0
    );
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        if !s.points.is_empty() {
            let pts: Vec<String> = s
                .points
                .iter()
                .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
                .collect();
            let _ = write!(
                svg,
                "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.6\" points=\"{}\"/>",
                pts.join(" ")
            );
            if s.points.len() <= 40 {
                for &(x, y) in &s.points {
                    let _ = write!(
                        svg,
                        "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2\" fill=\"{color}\"/>",
                        px(x),
                        py(y)
                    );
                }
            }
        }
        let lx = L + 4.0 + (i as f64) * 118.0 % (W - L - 100.0);
        let ly = H - 10.0 - 12.0 * ((i as f64 * 118.0) / (W - L - 100.0)).floor();
        let _ = write!(
            svg,
            "<rect x=\"{lx}\" y=\"{}\" width=\"10\" height=\"3\" fill=\"{color}\"/><text x=\"{}\" y=\"{ly}\" class=\"legend\">{}</text>",
            ly - 4.0,
            lx + 13.0,
            escape(&s.label)
        );
    }
    svg.push_str("</svg>");
    svg
}

fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if !(1e-3..1e5).contains(&a) {
        format!("{v:.2e}")
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

/// Escapes text for HTML element content and attribute values.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = "body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1400px}\
h1{font-size:22px}h2{font-size:18px;margin-top:28px}\
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:left}\
.grid{display:flex;flex-wrap:wrap;gap:8px}.chart{background:#fafafa;border:1px solid #ddd}\
.chart .title{font-size:13px;text-anchor:middle;font-weight:600}.chart .tick{font-size:10px;fill:#555}\
.chart .legend{font-size:10px}.chart .axis{stroke:#888;stroke-width:1}\
.sample{border:1px solid #ddd;margin:10px 0;padding:8px;background:#fcfcfc}.meta{font-size:12px;color:#666}\
.prompt{white-space:pre-wrap;font-size:12px;color:#444;margin:4px 0}\
.resp{font-family:ui-monospace,monospace;font-size:13px;white-space:pre-wrap;line-height:1.7}\
.resp span{border-radius:2px}.note{font-size:12px;color:#555}";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::SourceScore;

    fn run(label: &str, offset: f64) -> ReportRun {
        ReportRun {
            label: label.into(),
            metrics: (1..=5)
                .map(|s| StepMetrics {
                    step: s,
                    accuracy: offset + 0.1 * s as f64,
                    prm_loss: 0.7,
                    time_rollout: 1.0,
                    ..Default::default()
                })
                .collect(),
            evals: vec![
                EvalRecord {
                    step: 0,
                    accuracy: 0.3,
                    ..Default::default()
                },
                EvalRecord {
                    step: 5,
                    accuracy: 0.6,
                    by_source: vec![SourceScore {
                        source: "arith<metic>".into(),
                        problems: 10,
                        pass_at_1: 0.6,
                        avg_at_k: None,
                    }],
                    ..Default::default()
                },
            ],
            samples: vec![SampleRecord {
                step: 5,
                prompt: "2+2=<?>".into(),
                tokens: vec!["4".into(), "<eos>".into()],
                rewards: vec![0.5, -0.25],
                score: 1.0,
            }],
        }
    }

    #[test]
    fn renders_a_self_contained_page_with_both_runs() {
        let report = Report {
            title: "PRIME vs RLOO".into(),
            summary: vec![("seed".into(), "42".into())],
            runs: vec![run("PRIME", 0.0), run("RLOO", 0.05)],
        };
        let html = report.render();
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(!html.contains("<script"), "no scripts");
        assert!(
            !html.contains("http://")
                || html.matches("http://").count()
                    == html.matches("xmlns=\"http://www.w3.org/2000/svg\"").count()
        );
        assert!(html.contains("Training accuracy"));
        // Both runs appear in the legend; text is escaped.
        assert!(html.contains(">PRIME<") && html.contains(">RLOO<"));
        assert!(html.contains("arith&lt;metic&gt;"));
        assert!(html.contains("2+2=&lt;?&gt;"));
        // The largest |reward| gets full intensity (0.85), the other half of it.
        assert!(html.contains("rgba(40,160,60,0.850)"));
        assert!(html.contains("rgba(220,40,40,0.425)"));
        assert!(html.contains("&lt;eos&gt;"));
        // One polyline per run in each curve that has data.
        assert!(html.matches("<polyline").count() >= 4);
    }

    #[test]
    fn constant_series_and_empty_runs_do_not_break_the_chart() {
        let s = line_chart(
            "c",
            &[Series {
                label: "a".into(),
                points: vec![(1.0, 2.0)],
            }],
        );
        assert!(s.contains("<polyline") && !s.contains("NaN"));
        let e = line_chart("c", &[]);
        assert!(e.ends_with("</svg>"));
    }

    #[test]
    fn vllm_checks_are_charted_only_for_runs_that_have_them() {
        let mut with_vllm = run("vllm", 0.0);
        for m in &mut with_vllm.metrics {
            m.vllm_logprob_abs_diff_mean = Some(2e-7);
            m.vllm_logprob_abs_diff_max = Some(5e-7);
            m.weight_sync_seconds = Some(0.03);
        }
        let page = |runs| {
            Report {
                title: "t".into(),
                summary: vec![],
                runs,
            }
            .render()
        };
        let title = "vLLM − trainer |Δ log π| mean";
        assert!(page(vec![with_vllm]).contains(title));
        assert!(!page(vec![run("burn", 0.0)]).contains(title));
    }
}
