//! Lossy, slow or jittery link: packets between two sets of hosts are
//! delayed, delayed by a varying amount, or lost.
//!
//! **Real-world event.** Latency: a cross-region path, a congested link,
//! bufferbloat. Jitter: queueing on a busy path, Wi-Fi, a noisy neighbour.
//! Loss: a flapping link, a bad cable or optic, congestion drops.
//!
//! **Turmoil mechanism.** `latency`: `Sim::set_link_latency` (minimum =
//! maximum, so segments stay in order and timings are exact). `jitter`:
//! `Sim::set_link_max_message_latency(latency + jitter)`; each message then
//! takes `latency` plus a seeded random extra of at most `jitter` (turmoil's
//! exponential latency curve), so segments can arrive out of order and
//! turmoil's TCP reorders them. `loss_permille`: squall's turmoil fork's
//! `Sim::set_link_loss_rate`: each message on the link, each way, is lost
//! with that probability, drawn from the seeded RNG, and TCP retransmits it
//! (tail loss probe or RTO, ~200 ms), so runs are reproducible and loss
//! costs latency, not connections. The heal sets the links back to the
//! world's `link_latency` and no loss (not to any earlier per-link
//! setting).
//!
//! **What a real network does differently.** Real loss comes in bursts,
//! and real TCP has SACK and fast retransmit, which repair a loss in about
//! one round trip when later segments follow it; here a loss waits for its
//! tail loss probe or RTO. Kernel mode agrees on the counts
//! (docs/fidelity.md: 0 RPCs failed in both).

use std::{fmt, time::Duration};

use serde::{Deserialize, Serialize};

use super::{Cut, FaultClass, FaultContext, HostField, Kind, pairs};

/// Changes every link between a host of `a` and a host of `b`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LossyLink {
    pub a: Vec<String>,
    pub b: Vec<String>,
    /// One-way latency while the fault holds; `None` keeps the world's.
    #[serde(default, with = "humantime_serde")]
    pub latency: Option<Duration>,
    /// Up to this much extra latency per message; `None` for none.
    #[serde(default, with = "humantime_serde")]
    pub jitter: Option<Duration>,
    /// Per-message probability (in 1/1000, 0..=1000) of breaking the link,
    /// see above.
    #[serde(default)]
    pub loss_permille: u16,
}

impl LossyLink {
    pub(crate) fn inject(&self, ctx: &mut FaultContext<'_, '_>) {
        let latency = self.latency.unwrap_or(ctx.link_latency);
        for (a, b) in pairs(&self.a, &self.b) {
            ctx.sim.set_link_latency(a, b, latency);
            if let Some(jitter) = self.jitter {
                ctx.sim.set_link_max_message_latency(a, b, latency + jitter);
            }
            let rate = f64::from(self.loss_permille.min(1000)) / 1000.0;
            ctx.sim
                .set_link_loss_rate(a, b, rate)
                .expect("loss_permille is clamped to a probability");
        }
    }

    pub(crate) fn heal(&self, ctx: &mut FaultContext<'_, '_>) {
        for (a, b) in pairs(&self.a, &self.b) {
            ctx.sim.set_link_latency(a, b, ctx.link_latency);
            ctx.sim
                .set_link_loss_rate(a, b, 0.0)
                .expect("zero is a probability");
        }
    }
}

impl Kind for LossyLink {
    fn name(&self) -> &'static str {
        "lossy_link"
    }

    fn class(&self) -> FaultClass {
        FaultClass::Network
    }

    fn title(&self) -> String {
        format!(
            "lossy link {} ↔ {} ({}‰ loss)",
            self.a.join(","),
            self.b.join(","),
            self.loss_permille
        )
    }

    fn host_fields(&self) -> Vec<HostField<'_>> {
        vec![HostField::set("a", &self.a), HostField::set("b", &self.b)]
    }

    fn cut(&self) -> Cut<'_> {
        Cut::Lossy {
            a: &self.a,
            b: &self.b,
        }
    }

    fn check_fields(&self) -> Result<(), String> {
        if self.loss_permille > 1000 {
            return Err("loss_permille must be at most 1000".to_owned());
        }
        Ok(())
    }

    fn write_fields(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let opt = |d: Option<Duration>| d.map_or("-".to_owned(), |d| d.as_millis().to_string());
        write!(
            f,
            " a={} b={} latency_ms={} jitter_ms={} loss_permille={}",
            self.a.join(","),
            self.b.join(","),
            opt(self.latency),
            opt(self.jitter),
            self.loss_permille
        )
    }
}
