//! The budget of upstream calls one request may make.
//!
//! Workers cap the subrequests of one request (50 on the free plan, 1000 on paid plans). A
//! request that talks to several upstreams (remediation: GitHub and the model) draws every call
//! from one [`CallBudget`], so that running out is a decision the caller sees in advance
//! (defer the item) rather than a fetch that fails half-way through a GitHub change.

use std::cell::Cell;
use std::fmt;

/// Upstream calls this request may still make. Single-threaded, like a Worker request: shared
/// by reference (or `Rc`) between the clients that draw from it.
#[derive(Debug)]
pub struct CallBudget {
    left: Cell<u32>,
}

/// A call refused because the request's budget is spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetSpent;

impl fmt::Display for BudgetSpent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("this request's budget of upstream calls is spent")
    }
}

impl std::error::Error for BudgetSpent {}

impl CallBudget {
    pub fn new(calls: u32) -> Self {
        Self {
            left: Cell::new(calls),
        }
    }

    /// Calls still allowed.
    pub fn left(&self) -> u32 {
        self.left.get()
    }

    /// Takes one call, or says the budget is spent (and takes nothing).
    pub fn spend(&self) -> Result<(), BudgetSpent> {
        match self.left.get() {
            0 => Err(BudgetSpent),
            n => {
                self.left.set(n - 1);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spends_down_to_zero_then_refuses() {
        let budget = CallBudget::new(2);
        assert_eq!(budget.spend(), Ok(()));
        assert_eq!(budget.left(), 1);
        assert_eq!(budget.spend(), Ok(()));
        assert_eq!(budget.spend(), Err(BudgetSpent));
        assert_eq!(budget.left(), 0);
        assert_eq!(CallBudget::new(0).spend(), Err(BudgetSpent));
    }
}
