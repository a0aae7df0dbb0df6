//! Picks a verifier by `data_source`, then by `ability` (docs/algorithm.md §13–14).

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use crate::code::{CodeConfig, CodeVerifier};
use crate::math::MathVerifier;
use crate::synthetic::{ExactAnswerVerifier, SYNTHETIC_TASKS};
use crate::{Reference, Verdict, Verifier};

/// Verifiers registered by name. A reference is routed to the verifier registered under its
/// `data_source` if there is one, else under its `ability`; an unknown name is a
/// [`crate::Status::Error`] verdict that lists the known names.
///
/// `Router::default()` knows `math`, `code` and the built-in synthetic tasks. A fork adds a
/// verifier with [`Router::register`] without touching the trainer.
#[derive(Clone)]
pub struct Router {
    by_name: BTreeMap<String, Arc<dyn Verifier>>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("names", &self.names())
            .finish()
    }
}

impl Router {
    /// A router that knows nothing.
    pub fn empty() -> Self {
        Self {
            by_name: BTreeMap::new(),
        }
    }

    /// Register `verifier` under an ability or data-source name, replacing any earlier one.
    pub fn register(&mut self, name: impl Into<String>, verifier: Box<dyn Verifier>) -> &mut Self {
        self.register_shared(name, Arc::from(verifier))
    }

    /// Register one shared verifier under a name (the same instance may serve several names).
    pub fn register_shared(
        &mut self,
        name: impl Into<String>,
        verifier: Arc<dyn Verifier>,
    ) -> &mut Self {
        self.by_name.insert(name.into(), verifier);
        self
    }

    /// The registered names, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.by_name.keys().map(String::as_str).collect()
    }

    /// The verifier a reference is routed to, if any.
    pub fn route(&self, reference: &Reference) -> Option<&Arc<dyn Verifier>> {
        self.by_name
            .get(&reference.data_source)
            .or_else(|| self.by_name.get(&reference.ability))
    }
}

/// The code verifier, built on first use: building it inspects the Python interpreter, which a
/// math-only user of the router should not pay for.
#[derive(Default)]
struct LazyCode(OnceLock<CodeVerifier>);

impl Verifier for LazyCode {
    fn verify(&self, response: &str, reference: &Reference) -> Verdict {
        self.0
            .get_or_init(|| CodeVerifier::new(CodeConfig::default()))
            .verify(response, reference)
    }
}

impl Default for Router {
    /// `math` → [`MathVerifier`], `code` → [`CodeVerifier`] (default sandbox settings), and the
    /// built-in synthetic tasks → [`ExactAnswerVerifier`].
    fn default() -> Self {
        let mut router = Router::empty();
        router.register("math", Box::new(MathVerifier::default()));
        router.register("code", Box::new(LazyCode::default()));
        let exact: Arc<dyn Verifier> = Arc::new(ExactAnswerVerifier);
        for name in SYNTHETIC_TASKS {
            router.register_shared(name, Arc::clone(&exact));
        }
        router
    }
}

impl Verifier for Router {
    fn verify(&self, response: &str, reference: &Reference) -> Verdict {
        match self.route(reference) {
            Some(verifier) => verifier.verify(response, reference),
            None => Verdict::error(format!(
                "no verifier for ability `{}` / data_source `{}` (known: {})",
                reference.ability,
                reference.data_source,
                self.names().join(", ")
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    fn reference(ability: &str, data_source: &str, truth: &str) -> Reference {
        Reference {
            ability: ability.into(),
            data_source: data_source.into(),
            ground_truth: truth.into(),
        }
    }

    struct Always(Status);

    impl Verifier for Always {
        fn verify(&self, _: &str, _: &Reference) -> Verdict {
            Verdict::new(0.5, self.0, "fixed")
        }
    }

    #[test]
    fn routes_by_source_then_ability() {
        let router = Router::default();
        // math: 0.5 == 1/2 symbolically; the exact verifier would also accept it, so use an
        // expression only the math verifier understands.
        let v = router.verify(
            r"\boxed{\frac{2}{4}}",
            &reference("math", "numina_olympiads", "0.5"),
        );
        assert_eq!(v.status, Status::Correct);
        let v = router.verify(
            r"\boxed{10+5}",
            &reference("arithmetic", "arithmetic_chain", "15"),
        );
        assert_eq!(v.status, Status::Wrong, "synthetic tasks are exact: {v:?}");
        let v = router.verify(r"\boxed{10+5}", &reference("math", "", "15"));
        assert_eq!(v.status, Status::Correct);
    }

    #[test]
    fn default_knows_math_code_and_synthetic_tasks() {
        let router = Router::default();
        assert_eq!(
            router.names(),
            ["arithmetic", "arithmetic_chain", "code", "math"]
        );
        // A response without a python block never reaches the sandbox, but it does reach the
        // code verifier (not the router's unknown-name error).
        let tests = r#"{"inputs": ["1\n"], "outputs": ["1\n"]}"#;
        let v = router.verify("no code here", &reference("code", "apps", tests));
        assert!(!v.reason.contains("no verifier for"), "{v:?}");
        assert_eq!(v.score, 0.0);
    }

    #[test]
    fn registered_names_win_and_unknown_is_an_error() {
        let mut router = Router::default();
        router.register("my_source", Box::new(Always(Status::Wrong)));
        let v = router.verify("", &reference("math", "my_source", "1"));
        assert_eq!((v.status, v.reason.as_str()), (Status::Wrong, "fixed"));
        let v = router.verify("", &reference("poetry", "nowhere", "1"));
        assert_eq!(v.status, Status::Error);
        assert!(v.reason.contains("math"), "{}", v.reason);
    }
}
