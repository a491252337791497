//! Drawing a [`Timeline`] as one inline SVG: lanes top to bottom, sim time
//! left to right. Every drawn mark carries its trace line(s) in a
//! `<title>` (the browser's own hover tooltip) and `data-kind`/`data-at-ms`
//! attributes, so tests and scripts can find marks without parsing shapes.

use std::{fmt::Write, time::Duration};

use super::{
    html::esc,
    model::{
        BreakerState, CloseKind, ConnRow, ConnState, FaultClass, HostGroup, HostState, Mark,
        MarkKind, RpcTick, Series, Span, Timeline,
    },
};

/// Width of the whole drawing, in SVG units (pixels at 100% zoom).
pub const WIDTH: f64 = 1560.0;
/// Left column, for lane labels.
pub const LEFT: f64 = 190.0;
const RIGHT: f64 = 30.0;
const PLOT_WIDTH: f64 = WIDTH - LEFT - RIGHT;

const AXIS_H: f64 = 26.0;
const FAULT_ROW_H: f64 = 18.0;
const HEADER_H: f64 = 18.0;
const HOST_H: f64 = 14.0;
const CONN_H: f64 = 12.0;
const CONN_GAP: f64 = 4.0;
const RPC_H: f64 = 18.0;
const PLOT_H: f64 = 34.0;
const GROUP_GAP: f64 = 14.0;

/// Maps sim time to x.
#[derive(Debug, Clone, Copy)]
pub struct Axis {
    end: Duration,
}

impl Axis {
    pub fn new(end: Duration) -> Axis {
        debug_assert!(!end.is_zero(), "an axis needs a positive length");
        Axis { end }
    }

    /// The x of `at`, as written in the SVG (one decimal).
    pub fn x(&self, at: Duration) -> String {
        format!("{:.1}", self.xf(at))
    }

    fn xf(&self, at: Duration) -> f64 {
        let at = at.min(self.end).as_secs_f64();
        LEFT + at / self.end.as_secs_f64() * PLOT_WIDTH
    }

    /// Tick spacing giving at most about 15 labelled ticks.
    fn tick(&self) -> Duration {
        const STEPS_MS: [u64; 14] = [
            100, 200, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000,
            600_000, 1_800_000,
        ];
        let end_ms = self.end.as_millis() as u64;
        let step = STEPS_MS
            .iter()
            .copied()
            .find(|step| end_ms / step <= 15)
            .unwrap_or(3_600_000);
        Duration::from_millis(step)
    }
}

/// Colours, shared with the page's legend.
pub(super) mod colour {
    pub const CONNECTING: &str = "#f0b429";
    pub const READY: &str = "#2f9e5a";
    pub const DRAINING: &str = "#4c7fe0";
    pub const BACKOFF: &str = "#b9b9b9";
    pub const HOST_UP: &str = "#cfe3d3";
    pub const HOST_DOWN: &str = "#444444";
    pub const DETECTION: &str = "#d11f1f";
    pub const RPC_OK: &str = "#2f9e5a";
    pub const NETWORK_FAULT: &str = "#e4572e";
    pub const SERVER_FAULT: &str = "#8e44ad";
    pub const GOAWAY: &str = "#8e44ad";
    pub const BREAKER_OPEN: &str = "#d11f1f";
    pub const BREAKER_HALF_OPEN: &str = "#f0b429";
    pub const BREAKER_CLOSED: &str = "#cfe3d3";
    pub const INVARIANT: &str = "#d11f1f";
    pub const PLOT: &str = "#4c7fe0";
}

pub(super) fn conn_colour(state: ConnState) -> &'static str {
    match state {
        ConnState::Connecting => colour::CONNECTING,
        ConnState::Ready => colour::READY,
        ConnState::Draining => colour::DRAINING,
        ConnState::Backoff => colour::BACKOFF,
    }
}

pub(super) fn close_colour(kind: CloseKind) -> &'static str {
    match kind {
        CloseKind::KeepaliveTimeout => "#d11f1f",
        CloseKind::UserTimeout => "#8e1010",
        CloseKind::ConnectFailed => "#777777",
        CloseKind::PeerClosed => "#4c7fe0",
        CloseKind::Transport => "#e67e22",
        CloseKind::Shutdown => "#222222",
    }
}

/// A failed RPC's colour, by its gRPC code name.
pub(super) fn code_colour(code: &str) -> &'static str {
    match code {
        "DeadlineExceeded" => "#d11f1f",
        "Unavailable" => "#e67e22",
        "Cancelled" => "#777777",
        "ResourceExhausted" => "#8e44ad",
        "Unknown" | "Internal" => "#8c564b",
        _ => "#1f3b73",
    }
}

pub(super) fn fault_colour(class: FaultClass) -> &'static str {
    match class {
        FaultClass::Network => colour::NETWORK_FAULT,
        FaultClass::Server => colour::SERVER_FAULT,
    }
}

/// The drawing, in three layers: shading under the lanes, the lanes, and
/// marks that must stay on top.
struct Canvas {
    axis: Axis,
    under: String,
    lanes: String,
    over: String,
    y: f64,
}

impl Canvas {
    fn label(&mut self, y: f64, h: f64, text: &str, class: &str) {
        let _ = write!(
            self.lanes,
            r#"<text class="{class}" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            LEFT - 8.0,
            y + h / 2.0 + 4.0,
            esc(text)
        );
    }

    /// A span's rectangle in the band `(y, height)`, at least 1 unit wide
    /// so an instant state still shows.
    fn bar<S>(&mut self, span: &Span<S>, (y, h): (f64, f64), fill: &str, kind: &str) {
        let x = self.axis.xf(span.from);
        let w = (self.axis.xf(span.to) - x).max(1.0);
        let _ = write!(
            self.lanes,
            r#"<rect data-kind="{kind}" data-at-ms="{}" x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" fill="{fill}"><title>{}</title></rect>"#,
            span.from.as_millis(),
            esc(&span.text)
        );
    }
}

/// The timeline as an `<svg>` element.
pub fn render(timeline: &Timeline) -> String {
    let axis = Axis::new(timeline.end);
    let mut c = Canvas {
        axis,
        under: String::new(),
        lanes: String::new(),
        over: String::new(),
        y: AXIS_H,
    };
    faults(&mut c, timeline);
    let mut host_ranges: Vec<(&str, f64, f64)> = Vec::new();
    for group in &timeline.groups {
        let top = c.y;
        host_group(&mut c, group);
        host_ranges.push((&group.host, top, c.y));
        c.y += GROUP_GAP;
    }
    client(&mut c, timeline);
    let bottom = c.y;
    shade_faults(&mut c, timeline, &host_ranges, bottom);
    invariants(&mut c, timeline, bottom);
    let height = bottom + AXIS_H;
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" id="timeline" width="{WIDTH:.0}" height="{height:.0}" viewBox="0 0 {WIDTH:.0} {height:.0}" data-left="{LEFT:.0}" data-width="{PLOT_WIDTH:.0}" data-end-ms="{}">"#,
        timeline.end.as_millis()
    );
    svg.push_str(&defs());
    axis_lines(&mut svg, axis, bottom);
    svg.push_str(&c.under);
    svg.push_str(&c.lanes);
    svg.push_str(&c.over);
    let _ = write!(
        svg,
        r##"<line id="cursor" x1="0" x2="0" y1="{AXIS_H:.0}" y2="{bottom:.0}" stroke="#000" stroke-opacity="0.35" visibility="hidden"/>"##
    );
    svg.push_str("</svg>");
    svg
}

fn defs() -> String {
    format!(
        r##"<defs><pattern id="backoff" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#eeeeee"/><line x1="0" y1="0" x2="0" y2="6" stroke="{}" stroke-width="3"/></pattern></defs>"##,
        colour::BACKOFF
    )
}

/// Gridlines and second labels, top and bottom.
fn axis_lines(svg: &mut String, axis: Axis, bottom: f64) {
    let step = axis.tick();
    let mut at = Duration::ZERO;
    while at <= axis.end {
        let x = axis.x(at);
        let secs = at.as_secs_f64();
        let label = if step.subsec_millis() == 0 {
            format!("{secs:.0}s")
        } else {
            format!("{secs:.1}s")
        };
        let _ = write!(
            svg,
            r##"<line class="grid" x1="{x}" x2="{x}" y1="{AXIS_H:.0}" y2="{bottom:.0}" stroke="#e4e4e4"/><text class="tick" x="{x}" y="{:.0}" text-anchor="middle">{label}</text><text class="tick" x="{x}" y="{:.0}" text-anchor="middle">{label}</text>"##,
            AXIS_H - 8.0,
            bottom + 16.0
        );
        at += step;
    }
    let _ = write!(
        svg,
        r#"<text class="tick" x="{:.0}" y="{:.0}" text-anchor="end">sim time</text>"#,
        LEFT - 8.0,
        AXIS_H - 8.0
    );
}

/// Rough width of `text` at the lane font: enough to keep labels apart.
fn text_width(text: &str) -> f64 {
    text.chars().count() as f64 * 6.8
}

/// The fault lane: one bar per fault, labelled inside when the label fits
/// and after the bar when not. Faults stack in rows so that no bar or
/// label covers another's.
fn faults(c: &mut Canvas, timeline: &Timeline) {
    if timeline.faults.is_empty() {
        return;
    }
    c.y += 4.0;
    c.label(c.y, FAULT_ROW_H, "faults", "lane strong");
    // Per row, the x where it is free again.
    let mut free_from: Vec<f64> = Vec::new();
    for fault in &timeline.faults {
        let end = fault.end.unwrap_or(timeline.end);
        let x = c.axis.xf(fault.start);
        let w = (c.axis.xf(end) - x).max(2.0);
        let label_w = text_width(&fault.title) + 8.0;
        let inside = label_w <= w;
        let right = if inside { x + w } else { x + w + label_w };
        let row = free_from
            .iter()
            .position(|&free| free + 4.0 <= x)
            .unwrap_or(free_from.len());
        match free_from.get_mut(row) {
            Some(free) => *free = right,
            None => free_from.push(right),
        }
        let y = c.y + row as f64 * FAULT_ROW_H;
        let fill = fault_colour(fault.class);
        let (text_x, text_class) = if inside {
            (x + 4.0, "fault")
        } else {
            (x + w + 4.0, "fault outside")
        };
        let _ = write!(
            c.lanes,
            r#"<g data-kind="fault" data-at-ms="{}"><title>{}</title><rect x="{x:.1}" y="{:.1}" width="{w:.1}" height="{:.1}" fill="{fill}" fill-opacity="0.85" rx="2"/><text class="{text_class}" x="{text_x:.1}" y="{:.1}">{}</text></g>"#,
            fault.start.as_millis(),
            esc(&fault.text),
            y + 1.0,
            FAULT_ROW_H - 3.0,
            y + FAULT_ROW_H - 5.5,
            esc(&fault.title)
        );
    }
    c.y += free_from.len() as f64 * FAULT_ROW_H + 8.0;
}

fn host_group(c: &mut Canvas, group: &HostGroup) {
    let what = if group.endpoint {
        "pool endpoint"
    } else {
        "host"
    };
    let _ = write!(
        c.lanes,
        r#"<text class="group" x="8" y="{:.1}">{} <tspan class="what">{what}</tspan></text><line x1="8" x2="{:.0}" y1="{:.1}" y2="{:.1}" class="sep"/>"#,
        c.y + 13.0,
        esc(&group.host),
        WIDTH - RIGHT,
        c.y + HEADER_H,
        c.y + HEADER_H
    );
    c.y += HEADER_H + 4.0;
    host_row(c, group);
    if !group.server_conns.points.is_empty() {
        let label = if group.endpoint && !group.host.starts_with("server") {
            "flows open"
        } else {
            "server-side conns"
        };
        plot(c, &group.server_conns, label, PLOT_H * 0.7);
    }
    for (index, row) in group.rows.iter().enumerate() {
        let label = if index == 0 { "pool conns" } else { "" };
        conn_row(c, row, label);
    }
    if group.endpoint || !group.rpcs.is_empty() {
        rpc_row(c, &group.rpcs, "rpcs");
    }
    if !group.breaker.is_empty() {
        breaker_row(c, &group.breaker);
    }
}

fn host_row(c: &mut Canvas, group: &HostGroup) {
    if group.states.is_empty() && group.marks.is_empty() {
        return;
    }
    let y = c.y;
    c.label(
        y,
        HOST_H,
        if group.states.is_empty() {
            "events"
        } else {
            "process"
        },
        "lane",
    );
    for span in &group.states {
        let (fill, kind) = match span.state {
            HostState::Up => (colour::HOST_UP, "host-up"),
            HostState::Down => (colour::HOST_DOWN, "host-down"),
        };
        c.bar(span, (y + 3.0, HOST_H - 6.0), fill, kind);
    }
    for mark in &group.marks {
        glyph(c, mark, y, HOST_H);
    }
    c.y += HOST_H + CONN_GAP;
}

fn conn_row(c: &mut Canvas, row: &ConnRow, label: &str) {
    let y = c.y;
    c.label(y, CONN_H, label, "lane");
    for span in &row.spans {
        let kind = match span.state {
            ConnState::Connecting => "conn-connecting",
            ConnState::Ready => "conn-ready",
            ConnState::Draining => "conn-draining",
            ConnState::Backoff => "conn-backoff",
        };
        let fill = match span.state {
            ConnState::Backoff => "url(#backoff)",
            state => conn_colour(state),
        };
        let (y, h) = match span.state {
            // Waiting is not a connection: draw it thinner.
            ConnState::Backoff => (y + 3.0, CONN_H - 6.0),
            _ => (y, CONN_H),
        };
        c.bar(span, (y, h), fill, kind);
    }
    for mark in &row.marks {
        glyph(c, mark, y, CONN_H);
    }
    for d in &row.detections {
        let mid = y + CONN_H / 2.0;
        let from = c.axis.xf(d.fault_at);
        let (to, kind) = match d.detected_at {
            Some(at) => (c.axis.xf(at), "detection"),
            None => (c.axis.xf(c.axis.end), "undetected"),
        };
        let at = d.detected_at.unwrap_or(c.axis.end).as_millis();
        let _ = write!(
            c.over,
            r##"<g data-kind="{kind}" data-at-ms="{at}" data-conn="{}"><title>{}</title><line x1="{from:.1}" x2="{to:.1}" y1="{mid:.1}" y2="{mid:.1}" stroke="{red}" stroke-width="2" stroke-dasharray="4 3"/><path d="M{to:.1} {:.1} l6 7 l-6 7 l-6 -7 z" fill="{fill}" stroke="{red}" stroke-width="1.5"/></g>"##,
            d.conn,
            esc(&d.text),
            mid - 7.0,
            red = colour::DETECTION,
            fill = if d.detected_at.is_some() {
                colour::DETECTION
            } else {
                "#ffffff"
            },
        );
        let after = match d.detected_at {
            Some(at) => format!("+{:.3} s", (at - d.fault_at).as_secs_f64()),
            None => "never detected".to_owned(),
        };
        let _ = write!(
            c.over,
            r#"<text class="detection" x="{:.1}" y="{:.1}">{after}</text>"#,
            to + 9.0,
            mid + 4.0
        );
    }
    c.y += CONN_H + CONN_GAP;
}

/// One mark on a lane of height `h` at `y`.
fn glyph(c: &mut Canvas, mark: &Mark, y: f64, h: f64) {
    let x = c.axis.xf(mark.at);
    let (kind, shape) = match &mark.kind {
        MarkKind::Closed(cause) => (
            "conn-closed",
            format!(
                r#"<rect x="{:.1}" y="{:.1}" width="2" height="{:.1}" fill="{}"/>"#,
                x - 1.0,
                y - 2.0,
                h + 4.0,
                close_colour(*cause)
            ),
        ),
        MarkKind::LeaseHeld => (
            "lease-held",
            format!(
                r##"<circle cx="{x:.1}" cy="{:.1}" r="4" fill="#f0b429" stroke="#000"/>"##,
                y + h / 2.0
            ),
        ),
        MarkKind::Goaway => (
            "goaway",
            format!(
                r##"<path d="M{:.1} {:.1} h10 l-5 9 z" fill="{}" stroke="#fff" stroke-width="0.5"/>"##,
                x - 5.0,
                y - 2.0,
                colour::GOAWAY
            ),
        ),
        MarkKind::HostCrash => (
            "host-crash",
            format!(
                r##"<path d="M{:.1} {:.1} l10 10 m0 -10 l-10 10" stroke="#000" stroke-width="2.5"/>"##,
                x - 5.0,
                y + h / 2.0 - 5.0
            ),
        ),
        MarkKind::HostRestart => (
            "host-restart",
            format!(
                r##"<path d="M{:.1} {:.1} h10 l-5 -9 z" fill="#2f9e5a" stroke="#000" stroke-width="0.5"/>"##,
                x - 5.0,
                y + h
            ),
        ),
        MarkKind::ServerStopped => (
            "server-stopped",
            format!(
                r##"<rect x="{:.1}" y="{:.1}" width="8" height="8" fill="#000"/>"##,
                x - 4.0,
                y + h / 2.0 - 4.0
            ),
        ),
        MarkKind::ServerRefused | MarkKind::NatRefused => (
            "refused",
            format!(
                r##"<path d="M{:.1} {:.1} l6 6 m0 -6 l-6 6" stroke="#777" stroke-width="1.5"/>"##,
                x - 3.0,
                y + h / 2.0 - 3.0
            ),
        ),
        MarkKind::NatExpired => (
            "nat-expired",
            format!(
                r##"<circle cx="{x:.1}" cy="{:.1}" r="5" fill="#e67e22" stroke="#000" stroke-width="0.5"/>"##,
                y + h / 2.0
            ),
        ),
        MarkKind::PoolShutdown => (
            "pool-shutdown",
            format!(
                r##"<rect x="{:.1}" y="{:.1}" width="3" height="{:.1}" fill="#222"/>"##,
                x - 1.5,
                y - 2.0,
                h + 4.0
            ),
        ),
    };
    let _ = write!(
        c.over,
        r#"<g data-kind="{kind}" data-at-ms="{}"><title>{}</title>{shape}</g>"#,
        mark.at.as_millis(),
        esc(&mark.text)
    );
}

fn rpc_row(c: &mut Canvas, rpcs: &[RpcTick], label: &str) {
    let y = c.y;
    let ok = rpcs.iter().filter(|r| r.failed.is_none()).count();
    let failed = rpcs.len() - ok;
    c.label(y, RPC_H, &format!("{label} {ok}✓ {failed}✗"), "lane");
    let _ = write!(
        c.lanes,
        r##"<line x1="{LEFT:.0}" x2="{:.0}" y1="{:.1}" y2="{:.1}" stroke="#cccccc"/>"##,
        WIDTH - RIGHT,
        y + RPC_H,
        y + RPC_H
    );
    // Failed ticks after ok ones, so a failure is never hidden under a
    // success in the same pixel.
    for tick in rpcs.iter().filter(|r| r.failed.is_none()) {
        rpc_tick(c, tick, y);
    }
    for tick in rpcs.iter().filter(|r| r.failed.is_some()) {
        rpc_tick(c, tick, y);
    }
    c.y += RPC_H + CONN_GAP;
}

fn rpc_tick(c: &mut Canvas, tick: &RpcTick, y: f64) {
    let x = c.axis.x(tick.at);
    let (kind, top, stroke, width) = match &tick.failed {
        None => ("rpc-ok", y + RPC_H * 0.55, colour::RPC_OK, 1.0),
        Some(code) => ("rpc-failed", y, code_colour(code), 2.0),
    };
    let _ = write!(
        c.lanes,
        r#"<line data-kind="{kind}" data-at-ms="{}" x1="{x}" x2="{x}" y1="{top:.1}" y2="{:.1}" stroke="{stroke}" stroke-width="{width}"><title>{}</title></line>"#,
        tick.at.as_millis(),
        y + RPC_H,
        esc(&tick.text)
    );
}

fn breaker_row(c: &mut Canvas, spans: &[Span<BreakerState>]) {
    let y = c.y;
    c.label(y, CONN_H, "breaker", "lane");
    for span in spans {
        let (fill, kind) = match span.state {
            BreakerState::Closed => (colour::BREAKER_CLOSED, "breaker-closed"),
            BreakerState::Open => (colour::BREAKER_OPEN, "breaker-open"),
            BreakerState::HalfOpen => (colour::BREAKER_HALF_OPEN, "breaker-half-open"),
        };
        c.bar(span, (y, CONN_H), fill, kind);
    }
    c.y += CONN_H + CONN_GAP;
}

/// A step plot of `series`, `h` high.
fn plot(c: &mut Canvas, series: &Series, label: &str, h: f64) {
    let y = c.y;
    let max = series.max().max(1);
    c.label(y, h, &format!("{label} (max {})", series.max()), "lane");
    let level = |v: u64| y + h - (v as f64 / max as f64) * (h - 2.0);
    let mut d = format!("M{LEFT:.1} {:.1}", level(0));
    for &(at, value) in &series.points {
        let _ = write!(d, " H{} V{:.1}", c.axis.x(at), level(value));
    }
    let _ = write!(d, " H{:.1} V{:.1} Z", c.axis.xf(c.axis.end), level(0));
    // Filled: a load of short RPCs is a comb of thin spikes, which reads
    // as a density when filled and as noise when stroked.
    let _ = write!(
        c.lanes,
        r##"<rect x="{LEFT:.0}" y="{y:.1}" width="{PLOT_WIDTH:.0}" height="{h:.1}" fill="#fafafa"/><path data-kind="plot" d="{d}" fill="{}" fill-opacity="0.3" stroke="{}" stroke-width="1"><title>{}: max {}</title></path>"##,
        colour::PLOT,
        colour::PLOT,
        esc(&series.label),
        series.max()
    );
    c.y += h + CONN_GAP;
}

fn client(c: &mut Canvas, timeline: &Timeline) {
    let lanes = &timeline.client;
    let _ = write!(
        c.lanes,
        r#"<text class="group" x="8" y="{:.1}">client <tspan class="what">the pool and its load</tspan></text><line x1="8" x2="{:.0}" y1="{:.1}" y2="{:.1}" class="sep"/>"#,
        c.y + 13.0,
        WIDTH - RIGHT,
        c.y + HEADER_H,
        c.y + HEADER_H
    );
    c.y += HEADER_H + 4.0;
    if !lanes.marks.is_empty() {
        let y = c.y;
        c.label(y, HOST_H, "pool", "lane");
        for mark in &lanes.marks {
            glyph(c, mark, y, HOST_H);
        }
        c.y += HOST_H + CONN_GAP;
    }
    if !lanes.unrouted.is_empty() {
        rpc_row(c, &lanes.unrouted, "rpcs, no conn");
    }
    for series in &lanes.plots {
        plot(c, series, &series.label, PLOT_H);
    }
}

/// Each fault shades the groups of the hosts it hits, and dashed lines
/// at its start and end run across every lane, so effects elsewhere (the
/// client's plots) line up with it.
fn shade_faults(c: &mut Canvas, timeline: &Timeline, ranges: &[(&str, f64, f64)], bottom: f64) {
    for fault in &timeline.faults {
        let x = c.axis.xf(fault.start);
        let w = (c.axis.xf(fault.end.unwrap_or(timeline.end)) - x).max(2.0);
        let colour = fault_colour(fault.class);
        let ends = match fault.end {
            Some(end) if end > fault.start => vec![x, x + w],
            _ => vec![x],
        };
        for guide in ends {
            let _ = write!(
                c.under,
                r#"<line x1="{guide:.1}" x2="{guide:.1}" y1="{AXIS_H:.0}" y2="{bottom:.1}" stroke="{colour}" stroke-opacity="0.5" stroke-dasharray="3 3"/>"#
            );
        }
        for (host, top, bottom) in ranges
            .iter()
            .filter(|(h, ..)| fault.hosts.iter().any(|f| f == h))
        {
            let _ = write!(
                c.under,
                r#"<rect data-kind="fault-shade" data-host="{}" data-at-ms="{}" x="{x:.1}" y="{top:.1}" width="{w:.1}" height="{:.1}" fill="{}" fill-opacity="0.13"><title>{}</title></rect>"#,
                esc(host),
                fault.start.as_millis(),
                bottom - top,
                fault_colour(fault.class),
                esc(&fault.text)
            );
        }
    }
}

/// A line across every lane where a failed invariant was broken.
fn invariants(c: &mut Canvas, timeline: &Timeline, bottom: f64) {
    for inv in timeline.invariants.iter().filter(|i| !i.ok) {
        let Some(at) = inv.at else { continue };
        let x = c.axis.x(at);
        let _ = write!(
            c.over,
            r#"<g data-kind="invariant" data-at-ms="{}"><title>FAIL {}: {}</title><line x1="{x}" x2="{x}" y1="{AXIS_H:.0}" y2="{bottom:.1}" stroke="{red}" stroke-width="2"/><text class="invariant" x="{x}" y="{:.0}" text-anchor="end" fill="{red}">✗ {} </text></g>"#,
            at.as_millis(),
            esc(&inv.name),
            esc(&inv.detail),
            AXIS_H + 12.0,
            esc(&inv.name),
            red = colour::INVARIANT,
        );
    }
}
