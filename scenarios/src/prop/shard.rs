//! Which share of a sweep's cases this machine runs: `--shard k/n`, or, when
//! the flag is not given, what a distributed runner put in the environment.
//!
//! Sources, first found wins:
//! 1. the `--shard k/n` flag;
//! 2. `SQUALL_SHARD=k/n`, for a CI matrix (GitHub Actions, GitLab, ...);
//! 3. a Kubernetes Indexed Job: `JOB_COMPLETION_INDEX` (set by Kubernetes
//!    in every pod of the Job) with `SQUALL_SHARDS` (the Job's
//!    `completions`, which Kubernetes does not export, so the Job's spec
//!    sets it).
//!
//! cargo-nextest is not a source: `--partition` splits test binaries and
//! tests, and nextest exports no partition variable to the processes it
//! runs (its documented variables are `NEXTEST`, `NEXTEST_RUN_ID`,
//! `NEXTEST_EXECUTION_MODE`, attempt and slot numbers), so there is
//! nothing to read.
//!
//! [`resolve`] is a pure function of the flag and a map of variables, so
//! tests never touch the process environment.

use std::collections::BTreeMap;

use thiserror::Error;

/// The CI-matrix variable: `k/n`.
pub const SHARD_VAR: &str = "SQUALL_SHARD";
/// Set by Kubernetes in each pod of an Indexed Job: `0..completions`.
pub const K8S_INDEX_VAR: &str = "JOB_COMPLETION_INDEX";
/// The Indexed Job's `completions`, set in the Job's pod template.
pub const K8S_COUNT_VAR: &str = "SQUALL_SHARDS";

/// `k/n`: this machine runs the cases `i` with `i % n == k`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

/// A shard that cannot be used, naming where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ShardError {
    /// `k/n` text that does not parse or has `k >= n`.
    #[error("`{text}`: {reason}")]
    Syntax { text: String, reason: String },
    /// An environment variable with an unusable value.
    #[error("{var}=`{value}`: {reason}")]
    Var {
        var: &'static str,
        value: String,
        reason: String,
    },
    /// One of the Kubernetes pair without the other.
    #[error("{present} is set but {missing} is not: {hint}")]
    Incomplete {
        present: &'static str,
        missing: &'static str,
        hint: &'static str,
    },
}

impl Shard {
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Parses `k/n` with `k < n`.
    pub fn parse(text: &str) -> Result<Shard, ShardError> {
        let syntax = |reason: String| ShardError::Syntax {
            text: text.to_owned(),
            reason,
        };
        let (k, n) = text
            .split_once('/')
            .ok_or_else(|| syntax("a shard is written k/n, e.g. 0/4".to_owned()))?;
        let index: u64 = k
            .trim()
            .parse()
            .map_err(|_| syntax(format!("`{k}` is not a number")))?;
        let count: u64 = n
            .trim()
            .parse()
            .map_err(|_| syntax(format!("`{n}` is not a number")))?;
        if count == 0 || index >= count {
            return Err(syntax("need 0 <= k < n".to_owned()));
        }
        Ok(Shard { index, count })
    }

    /// Whether case `case` belongs to this shard.
    pub fn includes(self, case: u64) -> bool {
        case % self.count == self.index
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Where a shard came from, for the log line that says which one runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardSource {
    Flag,
    SquallShard,
    Kubernetes,
    /// Nothing said: every case.
    Default,
}

impl std::fmt::Display for ShardSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShardSource::Flag => write!(f, "--shard"),
            ShardSource::SquallShard => write!(f, "{SHARD_VAR}"),
            ShardSource::Kubernetes => write!(f, "{K8S_INDEX_VAR} and {K8S_COUNT_VAR}"),
            ShardSource::Default => write!(f, "default"),
        }
    }
}

/// The shard to run: the flag if given, else `SQUALL_SHARD`, else a
/// Kubernetes Indexed Job's pair, else every case. An empty variable
/// counts as unset (CI templates often expand a missing value to "").
pub fn resolve(
    flag: Option<Shard>,
    env: &BTreeMap<String, String>,
) -> Result<(Shard, ShardSource), ShardError> {
    if let Some(shard) = flag {
        return Ok((shard, ShardSource::Flag));
    }
    let var = |name: &str| env.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    if let Some(text) = var(SHARD_VAR) {
        let shard = Shard::parse(text).map_err(|e| ShardError::Var {
            var: SHARD_VAR,
            value: text.to_owned(),
            reason: match e {
                ShardError::Syntax { reason, .. } => reason,
                other => other.to_string(),
            },
        })?;
        return Ok((shard, ShardSource::SquallShard));
    }
    match (var(K8S_INDEX_VAR), var(K8S_COUNT_VAR)) {
        (None, None) => Ok((Shard::ALL, ShardSource::Default)),
        (Some(_), None) => Err(ShardError::Incomplete {
            present: K8S_INDEX_VAR,
            missing: K8S_COUNT_VAR,
            hint: "in a Kubernetes Indexed Job set SQUALL_SHARDS to the Job's `completions` \
                   (Kubernetes does not export it), or pass --shard 0/1 to run every case",
        }),
        (None, Some(_)) => Err(ShardError::Incomplete {
            present: K8S_COUNT_VAR,
            missing: K8S_INDEX_VAR,
            hint: "SQUALL_SHARDS only counts the pods of a Kubernetes Indexed Job, \
                   which sets JOB_COMPLETION_INDEX; elsewhere use SQUALL_SHARD=k/n",
        }),
        (Some(index), Some(count)) => {
            let number = |var: &'static str, value: &str| {
                value.parse::<u64>().map_err(|_| ShardError::Var {
                    var,
                    value: value.to_owned(),
                    reason: "not a whole number".to_owned(),
                })
            };
            let k = number(K8S_INDEX_VAR, index)?;
            let n = number(K8S_COUNT_VAR, count)?;
            if n == 0 {
                return Err(ShardError::Var {
                    var: K8S_COUNT_VAR,
                    value: count.to_owned(),
                    reason: "need at least 1 shard".to_owned(),
                });
            }
            if k >= n {
                return Err(ShardError::Var {
                    var: K8S_INDEX_VAR,
                    value: index.to_owned(),
                    reason: format!("must be below {K8S_COUNT_VAR}={n}"),
                });
            }
            Ok((Shard { index: k, count: n }, ShardSource::Kubernetes))
        }
    }
}

/// The variables [`resolve`] reads, from the process environment.
pub fn shard_env() -> BTreeMap<String, String> {
    [SHARD_VAR, K8S_INDEX_VAR, K8S_COUNT_VAR]
        .into_iter()
        .filter_map(|name| Some((name.to_owned(), std::env::var(name).ok()?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// A CI matrix of n jobs covers every case exactly once only if each
    /// job runs what it was told: the flag first, then SQUALL_SHARD, then
    /// Kubernetes.
    #[test]
    fn precedence_is_flag_then_squall_shard_then_kubernetes() {
        let all = env(&[
            ("SQUALL_SHARD", "1/4"),
            ("JOB_COMPLETION_INDEX", "2"),
            ("SQUALL_SHARDS", "8"),
        ]);
        let flag = Shard { index: 3, count: 5 };
        assert_eq!(
            resolve(Some(flag), &all).unwrap(),
            (flag, ShardSource::Flag)
        );
        assert_eq!(
            resolve(None, &all).unwrap(),
            (Shard { index: 1, count: 4 }, ShardSource::SquallShard)
        );
        let k8s = env(&[("JOB_COMPLETION_INDEX", "2"), ("SQUALL_SHARDS", "8")]);
        assert_eq!(
            resolve(None, &k8s).unwrap(),
            (Shard { index: 2, count: 8 }, ShardSource::Kubernetes)
        );
        assert_eq!(
            resolve(None, &env(&[])).unwrap(),
            (Shard::ALL, ShardSource::Default)
        );
        // A template that expands a missing value to "" means "unset".
        assert_eq!(
            resolve(None, &env(&[("SQUALL_SHARD", " ")])).unwrap(),
            (Shard::ALL, ShardSource::Default)
        );
    }

    /// A bad value names the variable it came from, so a user knows which
    /// line of a CI file to fix; it never falls back to running everything.
    #[test]
    fn invalid_values_name_their_variable() {
        let err = resolve(None, &env(&[("SQUALL_SHARD", "4/4")])).unwrap_err();
        assert_eq!(err.to_string(), "SQUALL_SHARD=`4/4`: need 0 <= k < n");
        let err = resolve(None, &env(&[("SQUALL_SHARD", "two")])).unwrap_err();
        assert!(err.to_string().starts_with("SQUALL_SHARD=`two`: "), "{err}");
        let err = resolve(
            None,
            &env(&[("JOB_COMPLETION_INDEX", "x"), ("SQUALL_SHARDS", "4")]),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "JOB_COMPLETION_INDEX=`x`: not a whole number"
        );
        let err = resolve(
            None,
            &env(&[("JOB_COMPLETION_INDEX", "4"), ("SQUALL_SHARDS", "4")]),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "JOB_COMPLETION_INDEX=`4`: must be below SQUALL_SHARDS=4"
        );
        let err = resolve(
            None,
            &env(&[("JOB_COMPLETION_INDEX", "0"), ("SQUALL_SHARDS", "0")]),
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("SQUALL_SHARDS=`0`"), "{err}");
    }

    /// An Indexed Job without its count would run every case in every pod:
    /// n times the work, silently. That is an error instead.
    #[test]
    fn half_a_kubernetes_pair_is_an_error() {
        let err = resolve(None, &env(&[("JOB_COMPLETION_INDEX", "3")])).unwrap_err();
        assert!(
            matches!(
                err,
                ShardError::Incomplete {
                    missing: "SQUALL_SHARDS",
                    ..
                }
            ),
            "{err}"
        );
        let err = resolve(None, &env(&[("SQUALL_SHARDS", "3")])).unwrap_err();
        assert!(
            matches!(
                err,
                ShardError::Incomplete {
                    missing: "JOB_COMPLETION_INDEX",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn parse_accepts_k_below_n_only() {
        assert_eq!(Shard::parse("0/1").unwrap(), Shard::ALL);
        assert_eq!(
            Shard::parse(" 2 / 3 ").unwrap(),
            Shard { index: 2, count: 3 }
        );
        for bad in ["", "1", "1/0", "3/3", "-1/2", "a/b"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }

    /// n shards partition the cases: each case in exactly one.
    #[test]
    fn shards_partition_the_cases() {
        for case in 0..50 {
            let owners = (0..7)
                .filter(|k| {
                    Shard {
                        index: *k,
                        count: 7,
                    }
                    .includes(case)
                })
                .count();
            assert_eq!(owners, 1);
        }
    }
}
