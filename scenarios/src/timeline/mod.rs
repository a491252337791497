//! Trace timelines: a run drawn as one self-contained HTML page, so a
//! scenario can be seen instead of read. Lanes per connection coloured by
//! state, fault spans shaded over the hosts they hit, detection marks, RPC
//! ticks, plots, and the failing invariant at its time; hovering a mark
//! shows its trace line.
//!
//! - [`model`]: the report turned into spans and marks (pure data).
//! - `conns`: packing connections into rows.
//! - `violation`: when a failed invariant was broken.
//! - [`svg`]: drawing the model; [`html`]: the page around it.
//! - [`summary`]: the model's structure as text, for snapshots.

mod conns;
pub mod html;
pub mod model;
pub mod summary;
pub mod svg;
mod violation;

use std::path::{Path, PathBuf};

pub use model::Timeline;
pub use svg::Axis;

use crate::Report;

/// Writing a timeline failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the timeline to `{}`: {source}", path.display())]
pub struct WriteError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// The run's timeline page, as HTML text.
pub fn render_html(report: &Report) -> String {
    html::page(&Timeline::from_report(report), report)
}

/// Writes the run's timeline page to `path` (for `--html`, and next to a
/// failing property case's replay file).
pub fn write_html(report: &Report, path: &Path) -> Result<(), WriteError> {
    std::fs::write(path, render_html(report)).map_err(|source| WriteError {
        path: path.to_owned(),
        source,
    })
}
