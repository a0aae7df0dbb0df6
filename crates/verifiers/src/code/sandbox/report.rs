//! What a probed sandbox provides: one line per isolation layer, and whether that is complete.

use std::fmt;

use super::Layers;

/// One line of the [`SandboxReport`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerState {
    /// Layer name.
    pub name: &'static str,
    /// Whether runs use it.
    pub active: bool,
    /// Why not, or details.
    pub detail: String,
    /// Whether a complete sandbox requires it.
    pub required: bool,
}

/// What the sandbox could set up on this machine, found by starting real sandboxed processes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxReport {
    /// Every layer, active or not.
    pub layers: Vec<LayerState>,
    /// `Err` when no sandboxed process could be started at all.
    pub usable: Result<(), String>,
}

impl SandboxReport {
    /// True when every required layer is active and processes start.
    pub fn is_complete(&self) -> bool {
        self.usable.is_ok() && self.layers.iter().all(|l| l.active || !l.required)
    }

    /// Names of required layers that are missing.
    pub fn missing(&self) -> Vec<&'static str> {
        self.layers
            .iter()
            .filter(|l| l.required && !l.active)
            .map(|l| l.name)
            .collect()
    }

    pub(super) fn from_layers(
        layers: &Layers,
        is_root: bool,
        usable: Result<(), String>,
    ) -> SandboxReport {
        let line = |name, active, detail: &str, required| LayerState {
            name,
            active,
            detail: detail.to_string(),
            required,
        };
        let uid_detail = if layers.unprivileged_uid {
            "own host uid per sandbox".to_string()
        } else if layers.user_namespace && !is_root {
            "uid 1000 in the namespace = the verifier's own unprivileged uid".to_string()
        } else {
            "runs as the verifier's uid".to_string()
        };
        let uid_active = layers.unprivileged_uid || (layers.user_namespace && !is_root);
        SandboxReport {
            layers: vec![
                line("user namespace", layers.user_namespace, "", false),
                line(
                    "network namespace",
                    layers.network_namespace,
                    "no network",
                    true,
                ),
                line(
                    "pid namespace",
                    layers.pid_namespace,
                    "kill reaches every descendant",
                    true,
                ),
                line(
                    "mount namespace",
                    layers.mount_namespace,
                    "private tmpfs work dir",
                    false,
                ),
                line("unprivileged uid", uid_active, &uid_detail, true),
                line(
                    "landlock",
                    layers.landlock_abi > 0,
                    &format!("ABI {}", layers.landlock_abi),
                    true,
                ),
                line("seccomp", layers.seccomp, "", true),
                line("rlimits", cfg!(target_os = "linux"), "", true),
                line("cleared environment", true, "", true),
                line("process group + wall-clock kill", true, "", true),
            ],
            usable,
        }
    }
}

impl fmt::Display for SandboxReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.usable {
            Ok(()) if self.is_complete() => write!(f, "code sandbox complete:")?,
            Ok(()) => write!(
                f,
                "code sandbox INCOMPLETE (missing {}):",
                self.missing().join(", ")
            )?,
            Err(e) => write!(f, "code sandbox UNUSABLE ({e}):")?,
        }
        for layer in &self.layers {
            let mark = if layer.active { "+" } else { "-" };
            write!(f, " {mark}{}", layer.name)?;
            if !layer.detail.is_empty() && layer.active {
                write!(f, " ({})", layer.detail)?;
            }
            write!(f, ";")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> Layers {
        Layers {
            user_namespace: true,
            network_namespace: true,
            pid_namespace: true,
            mount_namespace: true,
            unprivileged_uid: true,
            landlock_abi: 6,
            seccomp: true,
        }
    }

    #[test]
    fn complete_report_needs_every_required_layer() {
        let report = SandboxReport::from_layers(&full(), true, Ok(()));
        assert!(report.is_complete(), "{report}");
        assert!(report.to_string().starts_with("code sandbox complete"));
        // The private tmpfs and the user namespace are optional (root can drop to a pool uid).
        let mut layers = full();
        layers.mount_namespace = false;
        layers.user_namespace = false;
        assert!(SandboxReport::from_layers(&layers, true, Ok(())).is_complete());
    }

    #[test]
    fn missing_layers_are_named() {
        let mut layers = full();
        layers.landlock_abi = 0;
        layers.pid_namespace = false;
        let report = SandboxReport::from_layers(&layers, true, Ok(()));
        assert!(!report.is_complete());
        assert_eq!(report.missing(), vec!["pid namespace", "landlock"]);
        assert!(report
            .to_string()
            .contains("INCOMPLETE (missing pid namespace, landlock)"));
        // Without root and without a user namespace the program runs as the verifier's uid.
        let mut layers = full();
        layers.user_namespace = false;
        layers.unprivileged_uid = false;
        let report = SandboxReport::from_layers(&layers, false, Ok(()));
        assert_eq!(report.missing(), vec!["unprivileged uid"]);
        let report = SandboxReport::from_layers(&full(), true, Err("no python".into()));
        assert!(!report.is_complete());
        assert!(report.to_string().contains("UNUSABLE (no python)"));
    }
}
