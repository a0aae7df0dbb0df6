//! Line-oriented talk with a sandboxed process under deadlines: every write and every read polls
//! all three stdio descriptors, so the sandbox can never block the parent (a full stderr pipe, a
//! driver that stops reading, one that never answers) and output is capped as it arrives.

use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Instant;

use super::spawn::Spawned;

/// Why an exchange with the sandbox stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelError {
    /// The deadline passed.
    #[error("no answer before the deadline")]
    Timeout,
    /// The sandbox closed its end (it exited or was killed).
    #[error("the sandbox closed its output")]
    Closed,
    /// One line exceeded the cap.
    #[error("a line of output exceeded {0} bytes")]
    LineTooLong(usize),
    /// A system call failed.
    #[error("i/o with the sandbox failed: {0}")]
    Io(String),
}

/// A running sandbox with buffered, capped stdout (read as lines) and stderr (kept as a tail).
#[derive(Debug)]
pub struct Channel {
    spawned: Spawned,
    out: Vec<u8>,
    err: Vec<u8>,
    err_cap: usize,
    line_cap: usize,
    out_open: bool,
    err_open: bool,
}

fn set_nonblocking(fd: &OwnedFd) -> Result<(), ChannelError> {
    // SAFETY: fcntl on a descriptor we own.
    let ok = unsafe {
        let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
        flags >= 0 && libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) >= 0
    };
    if ok {
        Ok(())
    } else {
        Err(ChannelError::Io(
            std::io::Error::last_os_error().to_string(),
        ))
    }
}

fn millis_until(deadline: Instant) -> i32 {
    let left = deadline.saturating_duration_since(Instant::now());
    // Round up so that a poll never spins on a sub-millisecond remainder.
    (left.as_micros().div_ceil(1000)).min(i32::MAX as u128) as i32
}

impl Channel {
    /// Wraps a spawned sandbox. Lines longer than `line_cap` and stderr beyond `err_cap` bytes
    /// are refused / dropped.
    pub fn new(spawned: Spawned, line_cap: usize, err_cap: usize) -> Result<Channel, ChannelError> {
        set_nonblocking(&spawned.stdin)?;
        set_nonblocking(&spawned.stdout)?;
        set_nonblocking(&spawned.stderr)?;
        Ok(Channel {
            spawned,
            out: Vec::new(),
            err: Vec::new(),
            err_cap,
            line_cap,
            out_open: true,
            err_open: true,
        })
    }

    /// Writes all of `data` to the sandbox's stdin before `deadline`, draining its output meanwhile.
    pub fn send(&mut self, data: &[u8], deadline: Instant) -> Result<(), ChannelError> {
        let mut written = 0;
        while written < data.len() {
            let ready = self.poll(true, deadline)?;
            if ready.stdin {
                let rest = &data[written..];
                // SAFETY: sending from a live buffer on a socket we own.
                let n = unsafe {
                    libc::send(
                        self.spawned.stdin.as_raw_fd(),
                        rest.as_ptr().cast(),
                        rest.len(),
                        libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
                    )
                };
                if n >= 0 {
                    written += n as usize;
                } else {
                    let e = std::io::Error::last_os_error();
                    match e.raw_os_error() {
                        Some(libc::EAGAIN) | Some(libc::EINTR) => {}
                        Some(libc::EPIPE) | Some(libc::ECONNRESET) => {
                            return Err(ChannelError::Closed)
                        }
                        _ => return Err(ChannelError::Io(e.to_string())),
                    }
                }
            }
        }
        Ok(())
    }

    /// The next line of stdout (without its `\n`), waiting until `deadline`.
    pub fn recv_line(&mut self, deadline: Instant) -> Result<Vec<u8>, ChannelError> {
        loop {
            if let Some(pos) = self.out.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.out.drain(..=pos).collect();
                line.pop();
                return Ok(line);
            }
            if self.out.len() > self.line_cap {
                return Err(ChannelError::LineTooLong(self.line_cap));
            }
            if !self.out_open {
                return Err(ChannelError::Closed);
            }
            self.poll(false, deadline)?;
        }
    }

    /// What the sandbox wrote to stderr so far (at most the cap), lossily decoded.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.err).into_owned()
    }

    /// Kills the sandbox and everything in it, and reaps it.
    pub fn kill(&mut self) {
        self.spawned.kill_and_reap();
    }

    /// One `poll` round: reads whatever stdout/stderr hold, reports whether stdin can take data.
    fn poll(&mut self, want_stdin: bool, deadline: Instant) -> Result<Ready, ChannelError> {
        let timeout = millis_until(deadline);
        if timeout == 0 {
            return Err(ChannelError::Timeout);
        }
        let mut fds = [
            libc::pollfd {
                fd: if self.out_open {
                    self.spawned.stdout.as_raw_fd()
                } else {
                    -1
                },
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: if self.err_open {
                    self.spawned.stderr.as_raw_fd()
                } else {
                    -1
                },
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: if want_stdin {
                    self.spawned.stdin.as_raw_fd()
                } else {
                    -1
                },
                events: libc::POLLOUT,
                revents: 0,
            },
        ];
        // SAFETY: `fds` is a valid array of three pollfd.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                return Ok(Ready { stdin: false });
            }
            return Err(ChannelError::Io(e.to_string()));
        }
        if n == 0 {
            return Err(ChannelError::Timeout);
        }
        if fds[0].revents != 0 {
            let cap = self.line_cap.saturating_mul(2);
            self.out_open = read_available(&self.spawned.stdout, &mut self.out, cap)?;
        }
        if fds[1].revents != 0 {
            self.err_open = read_available(&self.spawned.stderr, &mut self.err, self.err_cap)?;
        }
        if fds[2].revents & (libc::POLLERR | libc::POLLHUP) != 0 {
            return Err(ChannelError::Closed);
        }
        Ok(Ready {
            stdin: fds[2].revents & libc::POLLOUT != 0,
        })
    }
}

struct Ready {
    stdin: bool,
}

/// Reads until the pipe is empty; keeps at most `cap` bytes in `buf` (the rest is read and
/// dropped so the writer never blocks). Returns whether the pipe is still open.
fn read_available(fd: &OwnedFd, buf: &mut Vec<u8>, cap: usize) -> Result<bool, ChannelError> {
    let mut chunk = [0u8; 65_536];
    loop {
        // SAFETY: reading into a live stack buffer.
        let n = unsafe { libc::read(fd.as_raw_fd(), chunk.as_mut_ptr().cast(), chunk.len()) };
        if n > 0 {
            let room = cap.saturating_sub(buf.len());
            buf.extend_from_slice(&chunk[..(n as usize).min(room)]);
            if (n as usize) < chunk.len() {
                return Ok(true);
            }
        } else if n == 0 {
            return Ok(false);
        } else {
            let e = std::io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EAGAIN) => Ok(true),
                Some(libc::EINTR) => continue,
                _ => Err(ChannelError::Io(e.to_string())),
            };
        }
    }
}
