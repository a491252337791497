//! The page around the drawing: one self-contained HTML file (inline SVG,
//! CSS and a few lines of script; no external resources, no network) with
//! the verdict, a legend, the invariants, the detections and the trace.
//!
//! The page is also well-formed XML (void elements closed, attributes
//! quoted, text escaped), so tests can check its structure without a
//! browser.

use std::fmt::Write;

use super::{
    model::{CloseKind, ConnState, FaultClass, MarkKind, Timeline},
    svg::{self, colour},
};
use crate::Report;

/// Most trace lines the page includes as text; the drawing still covers
/// the whole run.
pub const MAX_TRACE_TEXT_LINES: usize = 20_000;

/// Escapes text for an HTML/XML text node or a quoted attribute.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
body { font: 13px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 16px 20px; color: #222; }
h1 { font-size: 20px; margin: 0 0 4px; }
h1 .seed { color: #666; font-weight: normal; }
.pass { color: #1d7a3e; } .fail { color: #c01515; }
h2 { font-size: 15px; margin: 20px 0 6px; }
p.meta { margin: 0 0 8px; color: #444; }
code, pre, #hover { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 12px; }
#hover { position: sticky; top: 0; z-index: 1; background: #fffbe6; border: 1px solid #e6d9a2; padding: 4px 8px; margin: 6px 0; white-space: pre; min-height: 16px; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 16px; margin: 4px 0 8px; }
.legend span.sw { display: inline-block; width: 14px; height: 10px; margin-right: 4px; vertical-align: -1px; }
svg text { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; font-size: 11px; fill: #333; }
svg text.tick { fill: #777; font-size: 10px; }
svg text.lane { fill: #555; }
svg text.strong { font-weight: 600; }
svg text.group { font-weight: 600; font-size: 12px; }
svg text.group .what { font-weight: normal; fill: #888; }
svg text.fault { fill: #fff; font-weight: 600; }
svg text.fault.outside { fill: #333; }
svg text.detection { fill: #d11f1f; font-weight: 700; paint-order: stroke; stroke: #fff; stroke-width: 3px; }
svg#timeline { max-width: 100%; height: auto; }
svg text.invariant { font-weight: 700; }
svg line.sep { stroke: #bbb; }
table { border-collapse: collapse; }
td, th { padding: 2px 10px 2px 0; text-align: left; vertical-align: top; }
td.ok { color: #1d7a3e; font-weight: 600; } td.bad { color: #c01515; font-weight: 600; }
pre { background: #f6f6f6; padding: 8px; overflow: auto; max-height: 480px; }
"#;

/// Shows the hovered mark's trace line(s) and the time under the pointer
/// in the bar above the drawing; a click pins or unpins it.
const SCRIPT: &str = r#"
(function () {
  var svg = document.getElementById('timeline');
  var info = document.getElementById('hover');
  var cursor = document.getElementById('cursor');
  var left = +svg.dataset.left, width = +svg.dataset.width, end = +svg.dataset.endMs;
  var pinned = false;
  svg.addEventListener('mousemove', function (e) {
    var p = svg.createSVGPoint(); p.x = e.clientX; p.y = e.clientY;
    var q = p.matrixTransform(svg.getScreenCTM().inverse());
    var t = (q.x - left) / width * end;
    var inside = t >= 0 && t <= end;
    cursor.setAttribute('x1', q.x); cursor.setAttribute('x2', q.x);
    cursor.setAttribute('visibility', inside ? 'visible' : 'hidden');
    if (pinned) return;
    var mark = e.target.closest('[data-kind]');
    var title = mark ? mark.querySelector(':scope > title') : null;
    var at = inside ? 't = ' + (t / 1000).toFixed(3) + ' s' : '';
    info.textContent = at + (title ? '\n' + title.textContent : '');
  });
  svg.addEventListener('click', function () { pinned = !pinned; });
})();
"#;

/// The whole page.
pub fn page(timeline: &Timeline, report: &Report) -> String {
    let mut out = String::new();
    let verdict = if timeline.passed {
        r#"<span class="pass">PASS</span>"#
    } else {
        r#"<span class="fail">FAIL</span>"#
    };
    let (ok, failed) = report.rpc_counts();
    let _ = write!(
        out,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"/><title>squall: {name} seed {seed}</title><style>{STYLE}</style></head><body>
<h1>{name} <span class="seed">seed {seed}</span> {verdict}</h1>
<p class="meta">{ok} RPCs ok, {failed} failed · {lines} trace lines · trace hash <code>{hash}</code> · replay: <code>squall run {name} --seed {seed}</code></p>
"#,
        name = esc(&timeline.scenario),
        seed = timeline.seed,
        lines = report.trace.lines.len(),
        hash = esc(&timeline.trace_hash),
    );
    if timeline.omitted_rpcs > 0 {
        let _ = writeln!(
            out,
            r#"<p class="meta">{} RPC ticks are not drawn (at most {} are).</p>"#,
            timeline.omitted_rpcs,
            super::model::MAX_RPC_TICKS
        );
    }
    out.push_str(&legend(timeline));
    out.push_str(r#"<div id="hover">hover over a mark to see its trace line; click to pin</div>"#);
    out.push('\n');
    out.push_str(&svg::render(timeline));
    out.push('\n');
    invariants(&mut out, timeline);
    detections(&mut out, report);
    trace(&mut out, report);
    let _ = write!(out, "<script>{SCRIPT}</script>\n</body></html>\n");
    out
}

/// A legend of what this page draws, and nothing else.
fn legend(timeline: &Timeline) -> String {
    let rows = || timeline.groups.iter().flat_map(|g| g.rows.iter());
    let marks = || {
        timeline
            .groups
            .iter()
            .flat_map(|g| {
                g.marks
                    .iter()
                    .chain(g.rows.iter().flat_map(|r| r.marks.iter()))
            })
            .map(|m| &m.kind)
    };
    let mut items: Vec<(String, &str)> = Vec::new();
    for (name, state) in [
        ("connecting", ConnState::Connecting),
        ("ready", ConnState::Ready),
        ("draining", ConnState::Draining),
        ("backoff (waiting to redial)", ConnState::Backoff),
    ] {
        if rows().any(|r| r.spans.iter().any(|s| s.state == state)) {
            items.push((name.to_owned(), svg::conn_colour(state)));
        }
    }
    for (name, kind) in [
        ("closed: keepalive timeout", CloseKind::KeepaliveTimeout),
        ("closed: user timeout (kernel)", CloseKind::UserTimeout),
        ("closed: connect failed", CloseKind::ConnectFailed),
        ("closed: peer closed", CloseKind::PeerClosed),
        ("closed: transport error", CloseKind::Transport),
        ("closed: shutdown", CloseKind::Shutdown),
    ] {
        if marks().any(|m| *m == MarkKind::Closed(kind)) {
            items.push((name.to_owned(), svg::close_colour(kind)));
        }
    }
    if rows().any(|r| !r.detections.is_empty()) {
        items.push(("detection: fault → close".to_owned(), colour::DETECTION));
    }
    for (name, class) in [
        ("network fault", FaultClass::Network),
        ("server fault", FaultClass::Server),
    ] {
        if timeline.faults.iter().any(|f| f.class == class) {
            items.push((name.to_owned(), svg::fault_colour(class)));
        }
    }
    let ticks = || {
        timeline
            .groups
            .iter()
            .flat_map(|g| g.rpcs.iter())
            .chain(timeline.client.unrouted.iter())
    };
    if ticks().any(|t| t.failed.is_none()) {
        items.push(("rpc ok (short tick)".to_owned(), colour::RPC_OK));
    }
    let mut codes: Vec<&str> = ticks().filter_map(|r| r.failed.as_deref()).collect();
    codes.sort_unstable();
    codes.dedup();
    for code in codes {
        items.push((format!("rpc failed: {code}"), svg::code_colour(code)));
    }
    let mut out = String::from(r#"<div class="legend">"#);
    for (name, fill) in items {
        let _ = write!(
            out,
            r#"<span><span class="sw" style="background:{fill}"></span>{}</span>"#,
            esc(&name)
        );
    }
    let glyphs: Vec<&str> = [
        (MarkKind::Goaway, "▼ GOAWAY"),
        (MarkKind::HostCrash, "✕ crash"),
        (MarkKind::HostRestart, "▲ restart"),
        (MarkKind::ServerStopped, "■ server stopped"),
        (MarkKind::NatExpired, "● NAT flow expired"),
    ]
    .into_iter()
    .filter(|(kind, _)| marks().any(|m| m == kind))
    .map(|(_, name)| name)
    .collect();
    if !glyphs.is_empty() {
        let _ = write!(out, "<span>{}</span>", glyphs.join(" · "));
    }
    out.push_str("</div>\n");
    out
}

fn invariants(out: &mut String, timeline: &Timeline) {
    out.push_str("<h2>Invariants</h2>\n<table>");
    for inv in &timeline.invariants {
        let (class, mark) = if inv.ok {
            ("ok", "ok")
        } else {
            ("bad", "FAIL")
        };
        let at = inv
            .at
            .map(|at| format!(" (at {} ms)", at.as_millis()))
            .unwrap_or_default();
        let _ = write!(
            out,
            r#"<tr><td class="{class}">{mark}</td><td><code>{}</code></td><td>{}{at}</td></tr>"#,
            esc(&inv.name),
            esc(&inv.detail)
        );
    }
    out.push_str("</table>\n");
}

fn detections(out: &mut String, report: &Report) {
    if report.detections.is_empty() {
        return;
    }
    out.push_str(
        "<h2>Detections</h2>\n<table><tr><th>conn</th><th>endpoint</th><th>fault at</th><th>closed at</th><th>after</th></tr>",
    );
    for d in &report.detections {
        let (closed, latency) = match (d.detected_at, d.latency()) {
            (Some(at), Some(latency)) => (
                format!("{} ms", at.as_millis()),
                format!("{} ms", latency.as_millis()),
            ),
            _ => ("never".to_owned(), "-".to_owned()),
        };
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{} ms</td><td>{closed}</td><td>{latency}</td></tr>",
            d.conn,
            esc(&d.endpoint),
            d.fault_at.as_millis()
        );
    }
    out.push_str("</table>\n");
}

fn trace(out: &mut String, report: &Report) {
    let lines = &report.trace.lines;
    let _ = write!(
        out,
        "<details><summary>Trace ({} lines)</summary><pre>",
        lines.len()
    );
    for line in lines.iter().take(MAX_TRACE_TEXT_LINES) {
        out.push_str(&esc(&line.to_string()));
        out.push('\n');
    }
    if lines.len() > MAX_TRACE_TEXT_LINES {
        let _ = writeln!(
            out,
            "… {} more lines: squall run {} --seed {} --trace FILE",
            lines.len() - MAX_TRACE_TEXT_LINES,
            esc(&report.scenario),
            report.seed
        );
    }
    out.push_str("</pre></details>\n");
}
