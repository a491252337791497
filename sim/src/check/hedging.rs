//! Hedging (`hedges_within_max_attempts`, for a pool with a hedging
//! policy): no call is sent more than `max_attempts` times. Every hedge
//! line numbers its copy (2 for the first hedge) and every cancellation
//! the copy it cancelled, so the bound holds for every call when it holds
//! for every line; the count of lines is reported beside it.

use squall_pool::{EventKind, HedgingConfig};

use crate::{
    check::{Invariant, invariant},
    trace::{Trace, TraceEvent},
};

/// Every copy a hedge sent or cancelled is within `max_attempts`.
pub fn hedges_within_max_attempts(trace: &Trace, hedging: &HedgingConfig) -> Invariant {
    let max = hedging.max_attempts;
    let (mut hedges, mut cancelled) = (0u64, 0u64);
    let result = trace
        .lines
        .iter()
        .try_for_each(|line| {
            let TraceEvent::PoolEndpoint { endpoint, kind } = &line.event else {
                return Ok(());
            };
            let (copy, first) = match kind {
                EventKind::Hedge { attempt, .. } => {
                    hedges += 1;
                    (*attempt, 2)
                }
                EventKind::HedgeCancelled { attempt, .. } => {
                    cancelled += 1;
                    (*attempt, 1)
                }
                _ => return Ok(()),
            };
            if (first..=max).contains(&copy) {
                Ok(())
            } else {
                Err(format!(
                    "{} ms: copy {copy} of a call on {endpoint}, outside {first}..={max} (max_attempts {max})",
                    line.at.as_millis()
                ))
            }
        })
        .map(|()| format!("{hedges} hedge(s), {cancelled} cancelled copies, each within max_attempts {max}"));
    invariant("hedges_within_max_attempts", result)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use squall_pool::{ConnId, EndpointId};

    use super::*;
    use crate::trace::TraceLine;

    fn line(at_ms: u64, kind: EventKind) -> TraceLine {
        TraceLine {
            at: Duration::from_millis(at_ms),
            host: "client".into(),
            event: TraceEvent::PoolEndpoint {
                endpoint: "server-1".into(),
                kind,
            },
        }
    }

    fn hedge(attempt: u32) -> EventKind {
        EventKind::Hedge {
            endpoint: EndpointId(0),
            conn: ConnId(1),
            attempt,
            after: Duration::from_millis(100),
        }
    }

    #[test]
    fn a_copy_past_max_attempts_is_a_violation() {
        let config = HedgingConfig {
            max_attempts: 2,
            ..HedgingConfig::default()
        };
        let mut trace = Trace::default();
        trace.lines.push(line(100, hedge(2)));
        trace.lines.push(line(
            102,
            EventKind::HedgeCancelled {
                endpoint: EndpointId(0),
                conn: ConnId(2),
                attempt: 1,
            },
        ));
        let verdict = hedges_within_max_attempts(&trace, &config);
        assert!(verdict.ok, "{}", verdict.detail);
        assert_eq!(
            verdict.detail,
            "1 hedge(s), 1 cancelled copies, each within max_attempts 2"
        );
        trace.lines.push(line(200, hedge(3)));
        let verdict = hedges_within_max_attempts(&trace, &config);
        assert!(!verdict.ok);
        assert_eq!(
            verdict.detail,
            "200 ms: copy 3 of a call on server-1, outside 2..=2 (max_attempts 2)"
        );
    }
}
