//! `cargo xtask train --nproc N …`: one data-parallel run of N ranks on this machine, through
//! `mpirun` (OpenMPI or MPICH from the system packages). The trainer is built with the `mpi`
//! feature; each rank gets `--threads-per-rank` compute threads (default: the cores / N). When a
//! rank dies, hangs or fails, the job ends non-zero and this prints one line naming it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::prime_train::build_trainer_with;
use crate::workspace::workspace_root;

/// A data-parallel launch: ranks, threads per rank, and the trainer's own arguments.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Launch {
    /// Ranks (`mpirun -n`).
    pub nproc: usize,
    /// Compute threads per rank (`RAYON_NUM_THREADS`).
    pub threads: usize,
    /// `prime-train train …` arguments.
    pub trainer_args: Vec<String>,
}

impl Launch {
    /// Takes `--nproc N` and `--threads-per-rank T` out of `args`; `None` without `--nproc`.
    pub fn parse(args: &[String], cores: usize) -> Result<Option<Self>, String> {
        let mut rest = Vec::new();
        let (mut nproc, mut threads) = (None, None);
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = |flag: &str| -> Result<Option<usize>, String> {
                let text = match a.strip_prefix(&format!("{flag}=")) {
                    Some(v) => v.to_string(),
                    None if a == flag => it
                        .next()
                        .cloned()
                        .ok_or_else(|| format!("{flag} needs a number"))?,
                    None => return Ok(None),
                };
                match text.parse::<usize>() {
                    Ok(n) if n > 0 => Ok(Some(n)),
                    _ => Err(format!("{flag}: `{text}` is not a positive whole number")),
                }
            };
            if let Some(n) = value("--nproc")? {
                nproc = Some(n);
            } else if let Some(n) = value("--threads-per-rank")? {
                threads = Some(n);
            } else {
                rest.push(a.clone());
            }
        }
        match (nproc, threads) {
            (None, Some(_)) => Err("--threads-per-rank goes with --nproc".into()),
            (None, None) => Ok(None),
            (Some(nproc), threads) => Ok(Some(Self {
                nproc,
                threads: threads.unwrap_or((cores / nproc).max(1)),
                trainer_args: rest,
            })),
        }
    }

    /// The `mpirun` command line (without the program): root needs `--allow-run-as-root`, and
    /// `--oversubscribe` lets N exceed the cores OpenMPI counts (2-core CI machines).
    pub fn mpirun_args(&self, bin: &Path, as_root: bool) -> Vec<String> {
        let mut args = vec!["-n".to_string(), self.nproc.to_string()];
        if as_root {
            args.push("--allow-run-as-root".into());
        }
        args.extend(["--oversubscribe", "--bind-to", "none"].map(String::from));
        args.extend(["-x".into(), format!("RAYON_NUM_THREADS={}", self.threads)]);
        for name in ["PRIME_COLLECTIVE_TIMEOUT_S", "RUST_LOG"] {
            if std::env::var_os(name).is_some() {
                args.extend(["-x".into(), name.into()]);
            }
        }
        args.push(bin.display().to_string());
        args.push("train".into());
        args.extend(self.trainer_args.iter().cloned());
        args
    }
}

/// Builds the trainer with MPI and runs `launch` through `mpirun`, echoing its output; on
/// failure returns the one line that names the rank at fault.
pub(crate) fn run(launch: &Launch, cuda: bool) -> Result<(), String> {
    let mut features = vec!["mpi"];
    if cuda {
        features.push("cuda");
    }
    let bin = build_trainer_with(&features)?;
    let as_root = is_root_user();
    let args = launch.mpirun_args(&bin, as_root);
    eprintln!("$ mpirun {}", args.join(" "));
    let mut child = Command::new("mpirun")
        .args(&args)
        .current_dir(workspace_root())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run mpirun ({e}); install OpenMPI: apt-get install openmpi-bin libopenmpi-dev"))?;
    let mut faults = Faults::default();
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("{line}");
            faults.read(&line);
        }
    }
    let status = child.wait().map_err(|e| format!("mpirun: {e}"))?;
    if status.success() {
        return Ok(());
    }
    Err(faults.summary(launch.nproc, &status.to_string()))
}

fn is_root_user() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// What the ranks and mpirun said about a failure.
#[derive(Debug, Default)]
struct Faults {
    /// A rank killed by a signal: (rank, signal description).
    killed: Option<(usize, String)>,
    /// Ranks whose watchdog fired while waiting, and the first such line's collective.
    waiting: Vec<usize>,
    collective: Option<String>,
    /// A rank that returned an error: (rank, message).
    failed: Option<(usize, String)>,
}

impl Faults {
    fn read(&mut self, line: &str) {
        // OpenMPI: "mpirun noticed that process rank 1 with PID 42 on node x exited on signal 9 (Killed)."
        if let Some(rest) = line.split("process rank ").nth(1) {
            if let (Some(rank), Some(signal)) = (
                first_number(rest),
                line.split("exited on ")
                    .nth(1)
                    .map(|s| s.trim_end_matches('.')),
            ) {
                self.killed.get_or_insert((rank, signal.to_string()));
            }
        }
        // The watchdog: "prime-distributed: rank 0 of 2: collective #57 (gather) not completed …"
        if let Some(rest) = line.strip_prefix("prime-distributed: rank ") {
            if let Some(rank) = first_number(rest) {
                self.waiting.push(rank);
                if let Some(c) = rest.split(": ").nth(1) {
                    self.collective
                        .get_or_insert_with(|| c.split(';').next().unwrap_or(c).to_string());
                }
            }
        }
        // The trainer: "prime-train (rank 1): message"
        if let Some(rest) = line.strip_prefix("prime-train (rank ") {
            if let (Some(rank), Some(message)) = (first_number(rest), rest.split("): ").nth(1)) {
                self.failed.get_or_insert((rank, message.to_string()));
            }
        }
    }

    fn summary(&self, nproc: usize, status: &str) -> String {
        if let Some((rank, signal)) = &self.killed {
            return format!("data-parallel run ended: rank {rank} died ({signal}); the last whole checkpoint resumes with --resume RUN_DIR and the same --nproc {nproc}");
        }
        if !self.waiting.is_empty() {
            let hung: Vec<String> = (0..nproc)
                .filter(|r| !self.waiting.contains(r))
                .map(|r| r.to_string())
                .collect();
            let what = self.collective.as_deref().unwrap_or("a collective");
            return match hung.is_empty() {
                true => format!("data-parallel run ended: every rank timed out in {what}"),
                false => format!(
                    "data-parallel run ended: rank {} hung (the others waited in {what}); resume with --resume RUN_DIR and the same --nproc {nproc}",
                    hung.join(", ")
                ),
            };
        }
        if let Some((rank, message)) = &self.failed {
            return format!("data-parallel run ended: rank {rank} failed: {message}");
        }
        format!("mpirun failed ({status})")
    }
}

fn first_number(text: &str) -> Option<usize> {
    let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn nproc_and_threads_are_taken_out_of_the_trainer_arguments() {
        let launch = Launch::parse(&args(&["--nproc", "2", "--config", "c.toml"]), 2)
            .unwrap()
            .unwrap();
        assert_eq!(launch.nproc, 2);
        assert_eq!(launch.threads, 1);
        assert_eq!(launch.trainer_args, args(&["--config", "c.toml"]));
        let launch = Launch::parse(&args(&["--threads-per-rank=3", "--nproc=4"]), 16)
            .unwrap()
            .unwrap();
        assert_eq!((launch.nproc, launch.threads), (4, 3));
        assert!(Launch::parse(&args(&["--config", "c"]), 2)
            .unwrap()
            .is_none());
        assert!(Launch::parse(&args(&["--nproc", "0"]), 2).is_err());
        assert!(Launch::parse(&args(&["--nproc"]), 2).is_err());
        assert!(Launch::parse(&args(&["--threads-per-rank", "2"]), 2).is_err());
    }

    #[test]
    fn mpirun_runs_the_trainer_with_one_thread_per_rank() {
        let launch = Launch::parse(&args(&["--nproc", "2", "--resume", "runs/x"]), 2)
            .unwrap()
            .unwrap();
        let line = launch
            .mpirun_args(Path::new("/t/prime-train"), true)
            .join(" ");
        assert!(
            line.starts_with("-n 2 --allow-run-as-root --oversubscribe"),
            "{line}"
        );
        assert!(line.contains("-x RAYON_NUM_THREADS=1"), "{line}");
        assert!(
            line.ends_with("/t/prime-train train --resume runs/x"),
            "{line}"
        );
        let line = launch.mpirun_args(Path::new("p"), false).join(" ");
        assert!(!line.contains("--allow-run-as-root"), "{line}");
    }

    #[test]
    fn the_summary_names_the_rank_at_fault() {
        let mut killed = Faults::default();
        killed.read("prime-train (rank 0): data-parallel: rank 0: gather failed");
        killed.read("mpirun noticed that process rank 1 with PID 4242 on node ci exited on signal 9 (Killed).");
        assert_eq!(
            killed.summary(2, "exit status: 137"),
            "data-parallel run ended: rank 1 died (signal 9 (Killed)); the last whole checkpoint resumes with --resume RUN_DIR and the same --nproc 2"
        );
        let mut hung = Faults::default();
        hung.read("prime-distributed: rank 0 of 3: collective #7 (gather) not completed after 5 s; waiting for one or more of ranks 1, 2 (hung or dead); ending the job");
        hung.read("prime-distributed: rank 2 of 3: collective #7 (gather) not completed after 5 s; waiting for one or more of ranks 0, 1 (hung or dead); ending the job");
        let line = hung.summary(3, "exit status: 75");
        assert!(line.contains("rank 1 hung"), "{line}");
        assert!(line.contains("collective #7 (gather)"), "{line}");
        let mut failed = Faults::default();
        failed.read("prime-train (rank 1): config: bad");
        assert_eq!(
            failed.summary(2, "exit status: 1"),
            "data-parallel run ended: rank 1 failed: config: bad"
        );
        assert_eq!(Faults::default().summary(2, "x"), "mpirun failed (x)");
    }
}
