//! The trainer's errors. Each names the file, key, step or tensor it is about.

use std::path::PathBuf;

/// A config that cannot be read, parsed or accepted.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The config file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The text is not valid TOML.
    #[error("config is not valid TOML: {message}")]
    Syntax {
        /// The TOML parser's message (with line and column).
        message: String,
    },
    /// A key is unknown or its value has the wrong type.
    #[error("config key `{key}`: {message}")]
    Field {
        /// Dotted path of the key (`ppo.clip_eps`), or of the table holding an unknown key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A value is out of range or inconsistent with another.
    #[error("config key `{key}`: {message}")]
    Invalid {
        /// Dotted path of the key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A `--set` item is malformed.
    #[error("override `{item}`: {message}")]
    Override {
        /// The item as given.
        item: String,
        /// What is wrong.
        message: String,
    },
    /// Any of the above, inside a named file.
    #[error("{path}: {inner}")]
    InFile {
        /// The config file.
        path: PathBuf,
        /// The error.
        inner: Box<ConfigError>,
    },
}

impl ConfigError {
    /// Attaches the file the error comes from.
    pub fn in_file(self, path: &std::path::Path) -> Self {
        match self {
            e @ (ConfigError::Read { .. } | ConfigError::InFile { .. }) => e,
            e => ConfigError::InFile {
                path: path.to_path_buf(),
                inner: Box::new(e),
            },
        }
    }
}

/// Anything that stops a training run.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The config file is unusable.
    #[error(transparent)]
    ConfigFile(#[from] ConfigError),
    /// A setting cannot be honoured at run time.
    #[error("config: {0}")]
    Config(String),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file has unexpected content.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The model crate failed (loading, saving, tokenizing).
    #[error("model: {0}")]
    Model(String),
    /// The data crate failed.
    #[error("data: {0}")]
    Data(String),
    /// The advantage estimator failed.
    #[error("advantages: {0}")]
    Advantage(String),
    /// A collective between the ranks of a data-parallel run failed.
    #[error("data-parallel: {0}")]
    Distributed(#[from] prime_distributed::CommError),
    /// The implicit PRM failed.
    #[error("implicit PRM: {0}")]
    Prm(String),
    /// A vLLM rollout server could not be reached, launched or trusted.
    #[error(transparent)]
    Vllm(#[from] crate::vllm::VllmError),
    /// A vLLM server stayed down during a step; the run stopped after checkpointing the last
    /// whole step.
    #[error("{source}; stopped after a checkpoint of step {step}: continue with `prime-train train --resume {}` once the server is back", run_dir.display())]
    RolloutServer {
        /// What failed, naming the server.
        source: crate::vllm::VllmError,
        /// The step of the checkpoint written.
        step: usize,
        /// The run directory to resume.
        run_dir: PathBuf,
    },
    /// A tensor holds NaN or Inf where it must not.
    #[error("non-finite {what} at step {step}")]
    NonFinite {
        /// Which quantity (`policy loss`, `process rewards`, …).
        what: String,
        /// The RL step.
        step: usize,
    },
}

impl TrainError {
    /// An I/O error about `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        TrainError::Io {
            path: path.into(),
            source,
        }
    }
}
