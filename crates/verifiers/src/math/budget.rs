//! A step budget: every parse and evaluation step pays from it, so no answer can make the grader
//! work for long. Big-integer operations pay in proportion to the size of their operands.

/// The budget ran out: the caller reports [`crate::Status::Timeout`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exhausted;

/// Remaining work units for one verdict.
#[derive(Debug, Clone)]
pub struct Budget {
    remaining: u64,
}

impl Budget {
    /// A budget of `steps` work units.
    pub fn new(steps: u64) -> Self {
        Self { remaining: steps }
    }

    /// Pay `cost` units, or fail once the budget is spent.
    pub fn charge(&mut self, cost: u64) -> Result<(), Exhausted> {
        if cost > self.remaining {
            self.remaining = 0;
            return Err(Exhausted);
        }
        self.remaining -= cost;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_until_spent() {
        let mut budget = Budget::new(10);
        assert_eq!(budget.charge(4), Ok(()));
        assert_eq!(budget.charge(6), Ok(()));
        assert_eq!(budget.charge(1), Err(Exhausted));
        assert_eq!(budget.charge(1), Err(Exhausted));
    }
}
