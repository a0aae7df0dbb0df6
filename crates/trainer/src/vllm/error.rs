//! What can go wrong between the trainer and a vLLM server. Each error names the server.

use std::path::PathBuf;

/// A vLLM server could not be started, reached, or trusted.
#[derive(Debug, thiserror::Error)]
pub enum VllmError {
    /// The server did not answer at all when the run opened.
    #[error("vLLM server {url} is not reachable: {message} (is it running? start it or set rollout.vllm.launch = true)")]
    Unreachable {
        /// The server's base url.
        url: String,
        /// The transport error.
        message: String,
    },
    /// A request kept failing after every retry.
    #[error(
        "vLLM server {url} stopped answering `{endpoint}` after {attempts} attempts: {message}"
    )]
    Down {
        /// The server's base url.
        url: String,
        /// The request path (`/v1/completions`, …).
        endpoint: String,
        /// Attempts made.
        attempts: usize,
        /// The last error.
        message: String,
    },
    /// The server refused a request (a 4xx status: retrying would not help).
    #[error("vLLM server {url} rejected `{endpoint}` with status {status}: {body}")]
    Rejected {
        /// The server's base url.
        url: String,
        /// The request path.
        endpoint: String,
        /// The HTTP status.
        status: u16,
        /// The start of the response body.
        body: String,
    },
    /// The server answered with something the trainer cannot use.
    #[error("vLLM server {url}: invalid `{endpoint}` response: {message}")]
    Invalid {
        /// The server's base url.
        url: String,
        /// The request path.
        endpoint: String,
        /// What is wrong.
        message: String,
    },
    /// The server the trainer launches could not be started.
    #[error("cannot launch the vLLM server ({python}): {message}; server log: {log}")]
    Launch {
        /// The Python interpreter used.
        python: String,
        /// What went wrong.
        message: String,
        /// The server's log file.
        log: PathBuf,
    },
}

impl VllmError {
    /// The url of the server the error is about (`None` for a launch failure).
    pub fn url(&self) -> Option<&str> {
        match self {
            VllmError::Unreachable { url, .. }
            | VllmError::Down { url, .. }
            | VllmError::Rejected { url, .. }
            | VllmError::Invalid { url, .. } => Some(url),
            VllmError::Launch { .. } => None,
        }
    }
}
