//! `prime-train`: the trainer's command line (what `cargo xtask train | eval | demo` run).
//!
//! ```text
//! prime-train train --config configs/demo.toml [--run-dir DIR] [--backend cpu|cuda] [--set key=value …]
//! prime-train train --resume RUN_DIR [--set key=value …]
//! prime-train eval --run RUN_DIR
//! prime-train report --out FILE --run LABEL=RUN_DIR [--run LABEL=RUN_DIR …]
//! ```
//!
//! `train` prints the summary as one JSON line, the last line of stdout.
//!
//! Started by `mpirun -n N prime-train train …` (a build with the `mpi` feature; `cargo xtask
//! train --nproc N` does both), the N processes train one data-parallel run: rank 0 writes the
//! run directory and prints; the others log warnings only, each line naming its rank.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::{Parser, Subcommand};
use prime_trainer::{files, run_report, Extensions, RunOptions, TrainConfig, TrainError};

/// mimalloc with freed pages kept for reuse (`prime_trainer::allocator`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "prime-train",
    about = "PRIME: RL with implicit process rewards"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train (SFT warm-up if configured, then PRIME).
    Train {
        /// The run's TOML config.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Where the run writes (default `runs/<config>-<time>`).
        #[arg(long)]
        run_dir: Option<PathBuf>,
        /// Continue the run in this directory from its latest checkpoint.
        #[arg(long)]
        resume: Option<PathBuf>,
        /// `cpu` or `cuda` (overrides `[backend] kind`).
        #[arg(long)]
        backend: Option<String>,
        /// `section.key=value` overrides, applied before the config is checked.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
    },
    /// Evaluate the latest checkpoint of a run on its eval split; prints one JSON line.
    Eval {
        /// The run directory.
        #[arg(long)]
        run: PathBuf,
    },
    /// One report with the curves of several runs.
    Report {
        /// Output HTML file.
        #[arg(long)]
        out: PathBuf,
        /// `LABEL=RUN_DIR`, repeated.
        #[arg(long = "run", value_name = "LABEL=RUN_DIR")]
        runs: Vec<String>,
        /// Page title.
        #[arg(long, default_value = "prime-rs runs")]
        title: String,
    },
}

fn main() -> ExitCode {
    prime_trainer::allocator::keep_freed_memory();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train {
            config,
            run_dir,
            resume,
            backend,
            overrides,
        } => train(config, run_dir, resume, backend, overrides),
        Command::Eval { run } => eval(&run),
        Command::Report { out, runs, title } => report(&out, &runs, &title),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            match rank_of_env() {
                Some(rank) => eprintln!("prime-train (rank {rank}): {e}"),
                None => eprintln!("prime-train: {e}"),
            }
            ExitCode::FAILURE
        }
    }
}

/// The MPI rank from the launcher's environment (for error lines), if started by one.
fn rank_of_env() -> Option<String> {
    ["OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"]
        .iter()
        .find_map(|name| std::env::var(name).ok())
}

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

fn train(
    config: Option<PathBuf>,
    run_dir: Option<PathBuf>,
    resume: Option<PathBuf>,
    backend: Option<String>,
    mut overrides: Vec<String>,
) -> Result<ExitCode, TrainError> {
    if let Some(kind) = backend {
        overrides.push(format!("backend.kind={kind}"));
    }
    let (config, run_dir, resume) = match (resume, config) {
        (Some(dir), _) => {
            let config = TrainConfig::load(&dir.join(files::CONFIG), &overrides)?;
            (config, dir, true)
        }
        (None, Some(path)) => {
            let config = TrainConfig::load(&path, &overrides)?;
            let dir = run_dir.unwrap_or_else(|| default_run_dir(&path));
            (config, dir, false)
        }
        (None, None) => {
            return Err(TrainError::Config(
                "give --config FILE or --resume RUN_DIR".into(),
            ));
        }
    };
    let comm = prime_trainer::communicator_from_env()?;
    let root = comm.is_root();
    init_logging(if root { &config.logging.level } else { "warn" });
    let run_dir = same_run_dir(comm.as_ref(), run_dir)?;
    let interrupt = Arc::new(AtomicBool::new(false));
    let flag = interrupt.clone();
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            eprintln!("\nsecond Ctrl-C: exiting without a checkpoint");
            std::process::exit(130);
        }
        eprintln!("\nCtrl-C: finishing the current step, writing a checkpoint, then exiting");
    });
    let options = RunOptions {
        resume,
        interrupt,
        extensions: Extensions::builtin(),
        communicator: comm,
    };
    let summary = prime_trainer::train(config, &run_dir, options)?;
    if !root {
        return Ok(ExitCode::SUCCESS);
    }
    let report = run_dir.join(files::REPORT);
    println!(
        "accuracy on the eval split: {:.1}% before RL → {:.1}% after {} steps ({:+.1} points) in {:.0} s",
        100.0 * summary.accuracy_before,
        100.0 * summary.accuracy_after,
        summary.steps,
        100.0 * (summary.accuracy_after - summary.accuracy_before),
        summary.wall_seconds
    );
    if report.exists() {
        println!("report: {}", report.display());
    }
    println!(
        "{}",
        serde_json::to_string(&summary).map_err(|e| TrainError::Config(e.to_string()))?
    );
    Ok(if summary.interrupted {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}

/// Rank 0's run directory on every rank (a default one is named after the clock).
fn same_run_dir(
    comm: &dyn prime_distributed::Communicator,
    run_dir: PathBuf,
) -> Result<PathBuf, TrainError> {
    let mut bytes = run_dir.to_string_lossy().into_owned().into_bytes();
    comm.broadcast(0, &mut bytes)?;
    String::from_utf8(bytes)
        .map(PathBuf::from)
        .map_err(|e| TrainError::Config(format!("rank 0's run directory is not UTF-8: {e}")))
}

fn default_run_dir(config: &Path) -> PathBuf {
    let stem = config.file_stem().and_then(|s| s.to_str()).unwrap_or("run");
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    PathBuf::from("runs").join(format!("{stem}-{secs}"))
}

fn eval(run: &Path) -> Result<ExitCode, TrainError> {
    let config = TrainConfig::load(&run.join(files::CONFIG), &[])?;
    init_logging(&config.logging.level);
    let record = prime_trainer::evaluate_run(&config, run)?;
    println!(
        "{}",
        serde_json::to_string(&record).map_err(|e| TrainError::Config(e.to_string()))?
    );
    Ok(ExitCode::SUCCESS)
}

fn report(out: &Path, runs: &[String], title: &str) -> Result<ExitCode, TrainError> {
    let mut parsed = Vec::new();
    for item in runs {
        let (label, dir) = item
            .split_once('=')
            .ok_or_else(|| TrainError::Config(format!("--run `{item}`: expected LABEL=RUN_DIR")))?;
        parsed.push(run_report(Path::new(dir), label)?);
    }
    let mut summary = Vec::new();
    for run in &parsed {
        let first = run.evals.first().map(|e| e.accuracy);
        let last = run.evals.last().map(|e| e.accuracy);
        let train_final = run.metrics.last().map(|m| m.accuracy);
        summary.push((
            run.label.clone(),
            format!(
                "eval {} → {}; final training accuracy {}; {} steps",
                pct(first),
                pct(last),
                pct(train_final),
                run.metrics.len()
            ),
        ));
    }
    prime_trainer::report::Report {
        title: title.to_string(),
        summary,
        runs: parsed,
    }
    .write(out)?;
    println!("{}", out.display());
    Ok(ExitCode::SUCCESS)
}

fn pct(x: Option<f64>) -> String {
    x.map(|a| format!("{:.1}%", 100.0 * a))
        .unwrap_or_else(|| "–".into())
}
