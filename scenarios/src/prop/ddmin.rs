//! Delta debugging, as pure functions over a "does it still fail?"
//! predicate: [`ddmin`] removes elements of a list (Zeller's ddmin, the
//! complement-removal form), [`minimize`] walks single simplification
//! steps until none still fails. Both stop at a run budget ([`Budget`]):
//! every loop here is bounded, whatever the predicate does.
//!
//! Neither knows about the simulator; `simplify.rs` supplies the steps for
//! a case and `sweep.rs` the predicate that runs it.

/// How many predicate calls a shrink may still make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub runs_max: u32,
    pub runs: u32,
}

impl Budget {
    pub fn new(runs_max: u32) -> Self {
        Self { runs_max, runs: 0 }
    }

    pub fn exhausted(&self) -> bool {
        self.runs >= self.runs_max
    }

    /// Calls `fails` on `candidate` if the budget allows; `None` once it
    /// is spent.
    fn test<T: ?Sized>(
        &mut self,
        candidate: &T,
        fails: &mut dyn FnMut(&T) -> bool,
    ) -> Option<bool> {
        if self.exhausted() {
            return None;
        }
        self.runs += 1;
        Some(fails(candidate))
    }
}

/// The smallest sublist of `items` (order kept) that still fails, as far
/// as ddmin finds one: first the empty list, then the complement of each
/// of n chunks, n doubling up to one chunk per element. On return (budget
/// not spent) removing any single element makes it pass: 1-minimal.
///
/// `items` itself is assumed to fail; it is never re-tested.
pub fn ddmin<T: Clone>(
    items: &[T],
    budget: &mut Budget,
    fails: &mut dyn FnMut(&[T]) -> bool,
) -> Vec<T> {
    let mut current = items.to_vec();
    if current.is_empty() {
        return current;
    }
    // Often nothing in the list matters (the bug needs no fault at all).
    if budget.test(&[][..], fails) == Some(true) {
        return Vec::new();
    }
    let mut chunks = 2usize;
    // Each pass either shrinks `current` or raises `chunks`, and `chunks`
    // stops at `current.len()`: at most len + log2(len) passes, besides
    // the budget.
    while current.len() > 1 && !budget.exhausted() {
        chunks = chunks.min(current.len());
        let size = current.len().div_ceil(chunks);
        let mut reduced = false;
        for start in (0..current.len()).step_by(size) {
            let end = (start + size).min(current.len());
            let complement: Vec<T> = current[..start]
                .iter()
                .chain(&current[end..])
                .cloned()
                .collect();
            match budget.test(&complement[..], fails) {
                Some(true) => {
                    current = complement;
                    chunks = (chunks - 1).max(2);
                    reduced = true;
                    break;
                }
                Some(false) => {}
                None => return current,
            }
        }
        if !reduced {
            if chunks >= current.len() {
                break;
            }
            chunks = (chunks * 2).min(current.len());
        }
    }
    current
}

/// Greedy minimisation: from `start` (assumed failing), take the first
/// candidate of `steps(current)` that still fails, and start over from it;
/// stop when none does (1-minimal with respect to `steps`) or the budget
/// is spent. `steps` must only ever make a value simpler (smaller under
/// some well-founded order), so the walk ends even without the budget.
/// A candidate tried once is not run again.
pub fn minimize<T: Clone + PartialEq>(
    start: T,
    budget: &mut Budget,
    steps: &dyn Fn(&T) -> Vec<T>,
    fails: &mut dyn FnMut(&T) -> bool,
) -> T {
    let mut current = start;
    // Candidates that passed: a later state often offers the same one
    // again (its other knobs unchanged), and a run costs a simulation.
    let mut passed: Vec<T> = Vec::new();
    'walk: while !budget.exhausted() {
        for candidate in steps(&current) {
            if candidate == current || passed.contains(&candidate) {
                continue;
            }
            match budget.test(&candidate, fails) {
                Some(true) => {
                    current = candidate;
                    continue 'walk;
                }
                Some(false) => passed.push(candidate),
                None => break 'walk,
            }
        }
        break;
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example: a failure that needs fault #3 alone shrinks to
    /// exactly that fault, in a handful of runs.
    #[test]
    fn one_culprit_shrinks_to_itself_in_few_runs() {
        for len in [1usize, 2, 4, 7, 8, 16] {
            let culprit = len.min(4) - 1;
            let items: Vec<usize> = (0..len).collect();
            let mut budget = Budget::new(1_000);
            let mut calls = 0;
            let result = ddmin(&items, &mut budget, &mut |list| {
                calls += 1;
                list.contains(&culprit)
            });
            assert_eq!(result, vec![culprit], "len {len}");
            // Halving finds one element in about 2·log2(len) runs, plus
            // the empty list.
            let bound = 2 * (usize::BITS - len.leading_zeros()) as usize + 2;
            assert!(calls <= bound, "len {len}: {calls} calls > {bound}");
            assert_eq!(budget.runs as usize, calls);
        }
    }

    /// Two faults that only fail together: both stay, nothing else does,
    /// and removing either one passes (1-minimal).
    #[test]
    fn two_needed_elements_both_stay() {
        let items: Vec<u32> = (0..10).collect();
        let fails = |list: &[u32]| list.contains(&2) && list.contains(&7);
        let mut budget = Budget::new(1_000);
        let result = ddmin(&items, &mut budget, &mut |l| fails(l));
        assert_eq!(result, vec![2, 7]);
        for i in 0..result.len() {
            let mut less = result.clone();
            less.remove(i);
            assert!(!fails(&less));
        }
        assert!(budget.runs <= 40, "{} runs", budget.runs);
    }

    #[test]
    fn a_failure_that_needs_nothing_shrinks_to_nothing_in_one_run() {
        let mut budget = Budget::new(10);
        let result = ddmin(&[1, 2, 3], &mut budget, &mut |_| true);
        assert!(result.is_empty());
        assert_eq!(budget.runs, 1);
    }

    /// The budget is a hard cap: a predicate that always fails for
    /// non-empty lists (and so keeps ddmin busy) gets exactly runs_max
    /// calls, and the result is still a failing sublist.
    #[test]
    fn the_budget_caps_predicate_calls() {
        let items: Vec<u32> = (0..64).collect();
        let mut budget = Budget::new(3);
        let mut calls = 0;
        let result = ddmin(&items, &mut budget, &mut |l| {
            calls += 1;
            l.len() >= 60
        });
        assert_eq!(calls, 3);
        assert!(result.len() >= 60);
    }

    /// minimize stops at the first value every step of which passes: here
    /// "fails iff x ≥ 37", with steps "x − 10" and "x − 1", from 100.
    #[test]
    fn minimize_reaches_a_one_minimal_value() {
        let steps = |x: &u32| vec![x.saturating_sub(10), x.saturating_sub(1)];
        let mut budget = Budget::new(1_000);
        let result = minimize(100u32, &mut budget, &steps, &mut |x| *x >= 37);
        assert_eq!(result, 37);
        assert!(budget.runs < 30, "{} runs", budget.runs);
    }

    #[test]
    fn minimize_respects_the_budget_and_skips_known_passes() {
        let steps = |x: &u32| vec![0, x.saturating_sub(1)];
        let mut calls = 0;
        let mut budget = Budget::new(5);
        let result = minimize(100u32, &mut budget, &steps, &mut |x| {
            calls += 1;
            *x > 0
        });
        // 0 passes once and is never asked again: 1 + 4 decrements.
        assert_eq!(calls, 5);
        assert_eq!(result, 96);
    }
}
