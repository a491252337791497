//! Single simplification steps of a generated case, for the delta
//! debugging pass of the shrinker ([`super::ddmin::minimize`]).
//!
//! Every step makes the case strictly simpler, so a walk over them ends:
//! it removes a fault or an optional part (limiter, breaker, NAT, a stream
//! cap), or moves one number down toward the low end of its generator
//! range (the generator's simple end, see `cases.rs`): to that end, to a
//! round value below (a multiple of 1000, then of 100), halfway, or, for
//! small counts, one less. Every
//! value stays inside the generator's range, so a step never makes a
//! script the generator could not have made.

use crate::prop::cases::{CaseSpec, FIRST_FAULT_MS, LoadSpec};

/// Values below `x` and at least `low`, simplest first: `low`, the
/// multiple of 1000 just below `x`, halfway to `low`, the multiple of 100
/// just below, and, for small counts, `x - 1`.
fn lower(x: u32, low: u32) -> Vec<u32> {
    if x <= low {
        return Vec::new();
    }
    let mut candidates = vec![
        low,
        (x - 1) / 1000 * 1000,
        low + (x - low) / 2,
        (x - 1) / 100 * 100,
    ];
    if x - low <= 16 {
        candidates.push(x - 1);
    }
    let mut out: Vec<u32> = Vec::new();
    for v in candidates {
        if v >= low && v < x && !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// Pushes, for each value of [`lower`], `case` with that value set.
fn each_lower(
    out: &mut Vec<CaseSpec>,
    case: &CaseSpec,
    x: u32,
    low: u32,
    set: impl Fn(&mut CaseSpec, u32),
) {
    for v in lower(x, low) {
        let mut next = case.clone();
        set(&mut next, v);
        out.push(next);
    }
}

/// A `u8` knob's lowered value (always from a `u8`, so it fits).
fn byte(v: u32) -> u8 {
    u8::try_from(v).unwrap_or(u8::MAX)
}

/// `u8` knobs go through the same steps.
fn each_lower_u8(
    out: &mut Vec<CaseSpec>,
    case: &CaseSpec,
    x: u8,
    low: u8,
    set: impl Fn(&mut CaseSpec, u8),
) {
    each_lower(out, case, u32::from(x), u32::from(low), |c, v| {
        set(c, u8::try_from(v).unwrap_or(low));
    });
}

/// Every single simplification of `case`, the biggest first: removing a
/// fault or a part before moving numbers.
pub fn steps(case: &CaseSpec) -> Vec<CaseSpec> {
    let mut out = Vec::new();
    for i in 0..case.faults.len() {
        let mut next = case.clone();
        next.faults.remove(i);
        out.push(next);
    }
    structural(&mut out, case);
    pool_numbers(&mut out, case);
    load_numbers(&mut out, case);
    fault_numbers(&mut out, case);
    out
}

fn structural(out: &mut Vec<CaseSpec>, case: &CaseSpec) {
    let mut with = |edit: &dyn Fn(&mut CaseSpec)| {
        let mut next = case.clone();
        edit(&mut next);
        if next != *case {
            out.push(next);
        }
    };
    with(&|c| c.pool.limiter = None);
    with(&|c| c.pool.breaker = None);
    with(&|c| c.pool.hedging = None);
    with(&|c| c.nat = None);
    with(&|c| c.server_max_streams = None);
    with(&|c| c.pool.max_streams = None);
    with(&|c| {
        if let Some(l) = &mut c.pool.limiter {
            l.rate = None;
        }
    });
    each_lower_u8(out, case, case.servers, 1, |c, v| c.servers = v);
}

fn pool_numbers(out: &mut Vec<CaseSpec>, case: &CaseSpec) {
    let p = &case.pool;
    each_lower_u8(out, case, p.connections, 1, |c, v| c.pool.connections = v);
    each_lower_u8(out, case, p.extra_connections, 0, |c, v| {
        c.pool.extra_connections = v;
    });
    if let Some(s) = case.server_max_streams {
        each_lower_u8(out, case, s, 1, |c, v| c.server_max_streams = Some(v));
    }
    if let Some(s) = p.max_streams {
        each_lower_u8(out, case, s, 1, |c, v| c.pool.max_streams = Some(v));
    }
    if let Some((idle, rst)) = case.nat {
        each_lower(out, case, idle, 2_000, move |c, v| c.nat = Some((v, rst)));
    }
    each_lower(out, case, p.keepalive_interval_ms, 1_000, |c, v| {
        c.pool.keepalive_interval_ms = v;
    });
    each_lower(out, case, p.keepalive_timeout_ms, 200, |c, v| {
        c.pool.keepalive_timeout_ms = v;
    });
    each_lower(out, case, p.backoff_initial_ms, 100, |c, v| {
        c.pool.backoff_initial_ms = v;
    });
    // The generator keeps max ≥ initial.
    let max_low = 1_000u32.max(p.backoff_initial_ms);
    each_lower(out, case, p.backoff_max_ms, max_low, |c, v| {
        c.pool.backoff_max_ms = v;
    });
    if let Some(l) = p.limiter {
        each_lower_u8(out, case, l.max_concurrency, 1, |c, v| {
            if let Some(l) = &mut c.pool.limiter {
                l.max_concurrency = v;
            }
        });
        each_lower_u8(out, case, l.max_queue_len, 0, |c, v| {
            if let Some(l) = &mut c.pool.limiter {
                l.max_queue_len = v;
            }
        });
        each_lower(out, case, l.max_queue_wait_ms, 10, |c, v| {
            if let Some(l) = &mut c.pool.limiter {
                l.max_queue_wait_ms = v;
            }
        });
    }
    if let Some(b) = p.breaker {
        let set = |edit: fn(&mut crate::prop::cases::BreakerSpec, u32)| {
            move |c: &mut CaseSpec, v: u32| {
                if let Some(b) = &mut c.pool.breaker {
                    edit(b, v);
                }
            }
        };
        each_lower(
            out,
            case,
            b.window.into(),
            5,
            set(|b, v| b.window = byte(v)),
        );
        each_lower(
            out,
            case,
            b.minimum_calls.into(),
            3,
            set(|b, v| b.minimum_calls = byte(v)),
        );
        each_lower(
            out,
            case,
            b.failure_rate_percent.into(),
            30,
            set(|b, v| b.failure_rate_percent = byte(v)),
        );
        each_lower(
            out,
            case,
            b.wait_in_open_ms,
            500,
            set(|b, v| b.wait_in_open_ms = v),
        );
        each_lower(
            out,
            case,
            b.probes.into(),
            1,
            set(|b, v| b.probes = byte(v)),
        );
    }
}

fn load_numbers(out: &mut Vec<CaseSpec>, case: &CaseSpec) {
    match case.load {
        LoadSpec::Open { rate, deadline_ms } => {
            each_lower(out, case, rate, 1, move |c, v| {
                c.load = LoadSpec::Open {
                    rate: v,
                    deadline_ms,
                };
            });
            each_lower(out, case, deadline_ms, 200, move |c, v| {
                c.load = LoadSpec::Open {
                    rate,
                    deadline_ms: v,
                };
            });
        }
        LoadSpec::Closed {
            callers,
            think_ms,
            deadline_ms,
        } => {
            let closed = move |callers, think_ms, deadline_ms| LoadSpec::Closed {
                callers,
                think_ms,
                deadline_ms,
            };
            each_lower(out, case, callers, 1, move |c, v| {
                c.load = closed(v, think_ms, deadline_ms);
            });
            each_lower(out, case, think_ms, 20, move |c, v| {
                c.load = closed(callers, v, deadline_ms);
            });
            each_lower(out, case, deadline_ms, 200, move |c, v| {
                c.load = closed(callers, think_ms, v);
            });
        }
    }
}

fn fault_numbers(out: &mut Vec<CaseSpec>, case: &CaseSpec) {
    for (i, f) in case.faults.iter().enumerate() {
        each_lower_u8(out, case, f.target, 0, move |c, v| c.faults[i].target = v);
        each_lower(out, case, f.at_ms, FIRST_FAULT_MS, move |c, v| {
            c.faults[i].at_ms = v;
        });
        each_lower(out, case, f.hold_ms, 100, move |c, v| {
            c.faults[i].hold_ms = v
        });
        each_lower(out, case, f.param, 0, move |c, v| c.faults[i].param = v);
    }
}

#[cfg(test)]
mod tests {
    use proptest::{
        strategy::{Strategy, ValueTree},
        test_runner::TestRunner,
    };

    use super::*;
    use crate::prop::{
        cases::{GenOptions, case_strategy},
        ddmin::{Budget, minimize},
    };

    #[test]
    fn lower_goes_to_the_low_end_round_values_and_halfway() {
        assert_eq!(lower(3_456, 1_000), vec![1_000, 3_000, 2_228, 3_400]);
        assert_eq!(lower(3_000, 1_000), vec![1_000, 2_000, 2_900]);
        assert_eq!(lower(1_000, 1_000), Vec::<u32>::new());
        assert_eq!(lower(3, 1), vec![1, 2]);
        assert_eq!(lower(7, 0), vec![0, 3, 6]);
    }

    /// Every step is simpler: fewer faults, or the same faults with a
    /// smaller sum of numbers, or a part removed. A walk therefore ends,
    /// and from a generated case every step still makes a valid script.
    #[test]
    fn every_step_is_simpler_and_valid() {
        let mut runner = TestRunner::deterministic();
        let strategy = case_strategy(&GenOptions::all_faults());
        for _ in 0..20 {
            let case = strategy.new_tree(&mut runner).unwrap().current();
            for step in steps(&case) {
                assert_ne!(step, case);
                assert!(weight(&step) < weight(&case), "{step:?}\nfrom {case:?}");
                if let Err(e) = step.script("t") {
                    panic!("{e}\n{step:?}");
                }
            }
        }
    }

    /// A measure every step lowers.
    fn weight(c: &CaseSpec) -> u64 {
        let p = &c.pool;
        let mut w = 1_000_000_000 * c.faults.len() as u64;
        let opt = |o: bool| if o { 100_000_000 } else { 0 };
        w += opt(p.limiter.is_some()) + opt(p.breaker.is_some()) + opt(c.nat.is_some());
        w += opt(p.hedging.is_some());
        w += opt(c.server_max_streams.is_some()) + opt(p.max_streams.is_some());
        w += opt(p.limiter.is_some_and(|l| l.rate.is_some()));
        let mut n: u64 = u64::from(c.servers)
            + u64::from(p.connections)
            + u64::from(p.extra_connections)
            + u64::from(c.server_max_streams.unwrap_or(0))
            + u64::from(p.max_streams.unwrap_or(0))
            + u64::from(c.nat.map_or(0, |n| n.0))
            + u64::from(p.keepalive_interval_ms + p.keepalive_timeout_ms)
            + u64::from(p.backoff_initial_ms + p.backoff_max_ms);
        if let Some(l) = p.limiter {
            n += u64::from(l.max_concurrency)
                + u64::from(l.max_queue_len)
                + u64::from(l.max_queue_wait_ms);
        }
        if let Some(h) = p.hedging {
            n += u64::from(h.max_attempts) + u64::from(h.delay_ms);
        }
        if let Some(b) = p.breaker {
            n += u64::from(b.window)
                + u64::from(b.minimum_calls)
                + u64::from(b.failure_rate_percent)
                + u64::from(b.wait_in_open_ms)
                + u64::from(b.probes);
        }
        n += match c.load {
            LoadSpec::Open { rate, deadline_ms } => u64::from(rate + deadline_ms),
            LoadSpec::Closed {
                callers,
                think_ms,
                deadline_ms,
            } => u64::from(callers + think_ms + deadline_ms),
        };
        for f in &c.faults {
            n += u64::from(f.target) + u64::from(f.at_ms + f.hold_ms + f.param);
        }
        w + n
    }

    /// With a fake predicate (no simulator), the walk ends 1-minimal: here
    /// the "bug" needs a black hole held at least 2 s and a keepalive
    /// interval of at least 2 s; everything else goes to its low end and
    /// those two knobs to exactly their thresholds.
    #[test]
    fn a_walk_keeps_only_what_the_failure_needs() {
        use crate::prop::cases::FaultKind;
        let mut runner = TestRunner::deterministic();
        let strategy = case_strategy(&GenOptions::all_faults());
        let fails = |c: &CaseSpec| {
            c.pool.keepalive_interval_ms >= 2_000
                && c.faults
                    .iter()
                    .any(|f| f.kind == FaultKind::BlackHole && f.hold_ms >= 2_000)
        };
        let mut checked = 0;
        for _ in 0..200 {
            let case = strategy.new_tree(&mut runner).unwrap().current();
            if !fails(&case) {
                continue;
            }
            checked += 1;
            let mut budget = Budget::new(2_000);
            let shrunk = minimize(case, &mut budget, &steps, &mut |c| fails(c));
            assert!(!budget.exhausted());
            assert_eq!(shrunk.faults.len(), 1);
            assert_eq!(shrunk.faults[0].hold_ms, 2_000);
            assert_eq!(shrunk.faults[0].at_ms, FIRST_FAULT_MS);
            assert_eq!(shrunk.pool.keepalive_interval_ms, 2_000);
            assert_eq!(shrunk.servers, 1);
            assert_eq!(shrunk.pool.connections, 1);
            assert!(shrunk.pool.limiter.is_none() && shrunk.pool.breaker.is_none());
            assert!(steps(&shrunk).iter().all(|s| !fails(s)), "not 1-minimal");
        }
        assert!(checked > 0, "no generated case had the fake bug");
    }
}
