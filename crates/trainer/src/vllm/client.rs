//! One vLLM server over HTTP: JSON requests with a timeout, retried with exponential backoff
//! when the transport fails or the server answers 5xx / 429.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::VllmError;

/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// How often and how patiently a request is tried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub retries: usize,
    /// Wait before the first retry; doubled for each next one, at most 30 s.
    pub backoff: Duration,
}

impl RetryPolicy {
    /// The wait before retry `n` (0-based).
    pub fn wait(&self, n: usize) -> Duration {
        let factor = 1u32.checked_shl(n.min(16) as u32).unwrap_or(u32::MAX);
        self.backoff.saturating_mul(factor).min(MAX_BACKOFF)
    }
}

/// A client of the server at `url`.
#[derive(Debug, Clone)]
pub struct Client {
    url: String,
    agent: ureq::Agent,
    retry: RetryPolicy,
}

/// Why one attempt failed, and whether another may succeed.
enum Attempt {
    Retry(String),
    Fatal(VllmError),
}

impl Client {
    /// A client of `url` (trailing `/` dropped) whose requests time out after `timeout`.
    pub fn new(url: &str, timeout: Duration, retry: RetryPolicy) -> Self {
        Self {
            url: url.trim_end_matches('/').to_string(),
            agent: ureq::AgentBuilder::new().timeout(timeout).build(),
            retry,
        }
    }

    /// The server's base url.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// One `GET /health` with `timeout`, no retries: whether the server answers 200.
    pub fn healthy(&self, timeout: Duration) -> Result<(), String> {
        match self
            .agent
            .get(&format!("{}/health", self.url))
            .timeout(timeout)
            .call()
        {
            Ok(_) => Ok(()),
            Err(ureq::Error::Status(status, _)) => Err(format!("/health answered {status}")),
            Err(e) => Err(e.to_string()),
        }
    }

    /// `GET endpoint`, decoded as `T`, with retries.
    pub fn get<T: DeserializeOwned>(&self, endpoint: &str) -> Result<T, VllmError> {
        self.with_retries(
            endpoint,
            || {
                self.agent
                    .get(&self.path(endpoint))
                    .call()
                    .map_err(Box::new)
            },
            |r| r.into_json::<T>(),
        )
    }

    /// `POST endpoint` with a JSON body, the answer decoded as `T`, with retries.
    pub fn post<T: DeserializeOwned>(
        &self,
        endpoint: &str,
        body: &impl Serialize,
    ) -> Result<T, VllmError> {
        let body = serde_json::to_value(body).map_err(|e| VllmError::Invalid {
            url: self.url.clone(),
            endpoint: endpoint.into(),
            message: format!("cannot encode the request: {e}"),
        })?;
        self.with_retries(
            endpoint,
            || self.send(endpoint, &body),
            |r| r.into_json::<T>(),
        )
    }

    /// `POST endpoint` with a JSON body, the answer as text (vLLM's LoRA endpoints answer plain
    /// text), with retries.
    pub fn post_text(&self, endpoint: &str, body: &serde_json::Value) -> Result<String, VllmError> {
        self.with_retries(
            endpoint,
            || self.send(endpoint, body),
            ureq::Response::into_string,
        )
    }

    fn send(
        &self,
        endpoint: &str,
        body: &serde_json::Value,
    ) -> Result<ureq::Response, Box<ureq::Error>> {
        self.agent
            .post(&self.path(endpoint))
            .send_json(body)
            .map_err(Box::new)
    }

    fn path(&self, endpoint: &str) -> String {
        format!("{}{endpoint}", self.url)
    }

    fn with_retries<T>(
        &self,
        endpoint: &str,
        send: impl Fn() -> Result<ureq::Response, Box<ureq::Error>>,
        read: impl Fn(ureq::Response) -> std::io::Result<T>,
    ) -> Result<T, VllmError> {
        let attempts = self.retry.retries + 1;
        let mut last = String::new();
        for attempt in 0..attempts {
            if attempt > 0 {
                let wait = self.retry.wait(attempt - 1);
                tracing::warn!(url = %self.url, endpoint, error = %last, retry = attempt, wait_s = wait.as_secs_f64(), "vLLM request failed; retrying");
                std::thread::sleep(wait);
            }
            match self.attempt(endpoint, send(), &read) {
                Ok(value) => return Ok(value),
                Err(Attempt::Fatal(e)) => return Err(e),
                Err(Attempt::Retry(message)) => last = message,
            }
        }
        Err(VllmError::Down {
            url: self.url.clone(),
            endpoint: endpoint.into(),
            attempts,
            message: last,
        })
    }

    fn attempt<T>(
        &self,
        endpoint: &str,
        response: Result<ureq::Response, Box<ureq::Error>>,
        read: impl Fn(ureq::Response) -> std::io::Result<T>,
    ) -> Result<T, Attempt> {
        match response.map_err(|e| *e) {
            Ok(response) => read(response).map_err(|e| {
                // A body cut short is a transport failure; one that parses wrongly is not.
                if e.kind() == std::io::ErrorKind::InvalidData {
                    Attempt::Fatal(VllmError::Invalid {
                        url: self.url.clone(),
                        endpoint: endpoint.into(),
                        message: e.to_string(),
                    })
                } else {
                    Attempt::Retry(format!("reading the answer: {e}"))
                }
            }),
            Err(ureq::Error::Status(status, response)) => {
                let body: String = response
                    .into_string()
                    .unwrap_or_default()
                    .chars()
                    .take(500)
                    .collect();
                if status >= 500 || status == 429 {
                    Err(Attempt::Retry(format!("status {status}: {body}")))
                } else {
                    Err(Attempt::Fatal(VllmError::Rejected {
                        url: self.url.clone(),
                        endpoint: endpoint.into(),
                        status,
                        body,
                    }))
                }
            }
            Err(e) => Err(Attempt::Retry(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_thirty_seconds() {
        let policy = RetryPolicy {
            retries: 10,
            backoff: Duration::from_secs(2),
        };
        let waits: Vec<u64> = (0..6).map(|n| policy.wait(n).as_secs()).collect();
        assert_eq!(waits, [2, 4, 8, 16, 30, 30]);
        assert_eq!(policy.wait(1000), MAX_BACKOFF);
    }

    #[test]
    fn a_server_that_is_not_there_is_down_after_every_retry() {
        // A port nobody listens on: bind one, then close it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}");
        let client = Client::new(
            &url,
            Duration::from_secs(2),
            RetryPolicy {
                retries: 2,
                backoff: Duration::from_millis(1),
            },
        );
        assert!(client.healthy(Duration::from_secs(1)).is_err());
        let err = client
            .post::<serde_json::Value>("/v1/completions", &serde_json::json!({}))
            .unwrap_err();
        match &err {
            VllmError::Down {
                attempts, endpoint, ..
            } => assert_eq!((*attempts, endpoint.as_str()), (3, "/v1/completions")),
            other => panic!("expected Down, got {other:?}"),
        }
        assert!(err.to_string().contains(&url), "{err}");
    }
}
