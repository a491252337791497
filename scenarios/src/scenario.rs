//! A scenario: a world to run and what must hold when it has run.

use std::time::Duration;

use squall_sim::WorldConfig;

/// A named world plus its expectations.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: &'static str,
    /// One line for `squall list`.
    pub summary: &'static str,
    pub world: WorldConfig,
    pub expect: Expectations,
}

/// What a run must show, beyond the checks every run gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectations {
    /// Every connection cut off by a black hole is closed within this of the
    /// fault. `None`: not checked.
    pub detection_within: Option<Duration>,
}
