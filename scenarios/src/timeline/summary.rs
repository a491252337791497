//! A timeline's structure as short text: which lanes, how many spans and
//! marks of each kind, and the times that matter (faults, detections,
//! broken invariants). Snapshot tests pin this instead of the page, which
//! is too long to review.

use std::{collections::BTreeMap, fmt::Write, time::Duration};

use super::model::{ConnRow, HostGroup, Mark, RpcTick, Timeline};

/// The summary, one item per line.
pub fn summary(timeline: &Timeline) -> String {
    let mut out = format!(
        "scenario {} seed {} end_ms {} {}\n",
        timeline.scenario,
        timeline.seed,
        ms(timeline.end),
        if timeline.passed { "PASS" } else { "FAIL" }
    );
    for fault in &timeline.faults {
        let end = fault.end.map_or("end".to_owned(), |e| ms(e).to_string());
        let _ = writeln!(
            out,
            "fault {}..{end} {:?} \"{}\" shades [{}]",
            ms(fault.start),
            fault.class,
            fault.title,
            fault.hosts.join(", ")
        );
    }
    for group in &timeline.groups {
        host_group(&mut out, group);
    }
    out.push_str("client\n");
    if !timeline.client.marks.is_empty() {
        let _ = writeln!(out, "  marks: {}", marks(&timeline.client.marks));
    }
    if !timeline.client.unrouted.is_empty() {
        let _ = writeln!(
            out,
            "  rpcs without conn: {}",
            rpcs(&timeline.client.unrouted)
        );
    }
    for plot in &timeline.client.plots {
        let _ = writeln!(
            out,
            "  plot \"{}\": {} steps, max {}",
            plot.label,
            plot.points.len(),
            plot.max()
        );
    }
    for inv in &timeline.invariants {
        let at = inv
            .at
            .map(|at| format!(" at {} ms", ms(at)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "invariant {} {}{at}",
            if inv.ok { "ok" } else { "FAIL" },
            inv.name
        );
    }
    if timeline.omitted_rpcs > 0 {
        let _ = writeln!(out, "omitted rpc ticks: {}", timeline.omitted_rpcs);
    }
    out
}

fn host_group(out: &mut String, group: &HostGroup) {
    let _ = writeln!(
        out,
        "host {}{}",
        group.host,
        if group.endpoint { " (endpoint)" } else { "" }
    );
    if !group.states.is_empty() {
        let states: Vec<String> = group
            .states
            .iter()
            .map(|s| format!("{:?} {}..{}", s.state, ms(s.from), ms(s.to)))
            .collect();
        let _ = writeln!(out, "  process: {}", states.join(", "));
    }
    if !group.marks.is_empty() {
        let _ = writeln!(out, "  marks: {}", marks(&group.marks));
    }
    if !group.server_conns.points.is_empty() {
        let _ = writeln!(
            out,
            "  conns held: {} steps, max {}",
            group.server_conns.points.len(),
            group.server_conns.max()
        );
    }
    for (index, row) in group.rows.iter().enumerate() {
        conn_row(out, index, row);
    }
    if group.endpoint || !group.rpcs.is_empty() {
        let _ = writeln!(out, "  rpcs: {}", rpcs(&group.rpcs));
    }
    if !group.breaker.is_empty() {
        let states: Vec<String> = group
            .breaker
            .iter()
            .map(|s| format!("{:?} {}..{}", s.state, ms(s.from), ms(s.to)))
            .collect();
        let _ = writeln!(out, "  breaker: {}", states.join(", "));
    }
}

fn conn_row(out: &mut String, index: usize, row: &ConnRow) {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for span in &row.spans {
        *counts.entry(format!("{:?}", span.state)).or_default() += 1;
    }
    let spans: Vec<String> = counts.iter().map(|(k, n)| format!("{k}×{n}")).collect();
    let from = row.spans.first().map_or(0, |s| ms(s.from));
    let to = row.spans.iter().map(|s| ms(s.to)).max().unwrap_or(0);
    let _ = writeln!(
        out,
        "  conn row {} {from}..{to}: {} | {}",
        index + 1,
        spans.join(" "),
        marks(&row.marks)
    );
    for d in &row.detections {
        let at = d
            .detected_at
            .map_or("never".to_owned(), |at| format!("{} ms", ms(at)));
        let _ = writeln!(
            out,
            "    detection conn {} fault {} ms closed {at}",
            d.conn,
            ms(d.fault_at)
        );
    }
}

/// Marks counted by kind, in kind order.
fn marks(marks: &[Mark]) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for mark in marks {
        *counts.entry(format!("{:?}", mark.kind)).or_default() += 1;
    }
    let parts: Vec<String> = counts.iter().map(|(k, n)| format!("{k}×{n}")).collect();
    parts.join(" ")
}

/// RPC ticks: ok count, then failures by code.
fn rpcs(ticks: &[RpcTick]) -> String {
    let ok = ticks.iter().filter(|t| t.failed.is_none()).count();
    let mut failed: BTreeMap<&str, usize> = BTreeMap::new();
    for code in ticks.iter().filter_map(|t| t.failed.as_deref()) {
        *failed.entry(code).or_default() += 1;
    }
    let mut out = format!("{ok} ok");
    for (code, n) in failed {
        let _ = write!(out, ", {n} {code}");
    }
    out
}

fn ms(at: Duration) -> u128 {
    at.as_millis()
}
