//! Trace timelines (`squall run --html`): every built-in script gets a
//! well-formed, self-contained page whose structure is pinned, and the
//! marks sit at the times the trace says.
//!
//! Users open these pages to see what a run did instead of reading its
//! trace; a page that is broken, fetches something from the network, or
//! draws a mark at the wrong time would mislead them.

use std::{fs, time::Duration};

use squall_pool::{CloseCause, ConnEvent, ConnId};
use squall_scenarios::{
    Report, Script, library, run_script,
    timeline::{self, Axis, Timeline, summary::summary},
};
use squall_sim::TraceEvent;
use squall_suite::{script_files, script_stem};

/// The sim tests' helpers, for `user_timeout_abort`.
#[path = "../sim/tests/common/mod.rs"]
mod common;

/// Checks that `page` is well-formed XML apart from its doctype (the page
/// is written that way so this check needs no parser): tags nest and
/// close, attributes are quoted, and `&` only starts an entity. `<style>`
/// and `<script>` bodies are raw text, as in HTML.
fn assert_well_formed(page: &str) {
    let body = page
        .strip_prefix("<!DOCTYPE html>\n")
        .expect("the page starts with its doctype");
    let mut stack: Vec<&str> = Vec::new();
    let mut rest = body;
    let mut roots = 0;
    while let Some(open) = rest.find('<') {
        assert_text(&rest[..open]);
        rest = &rest[open..];
        let close = rest.find('>').expect("every tag ends");
        let tag = &rest[1..close];
        rest = &rest[close + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            let top = stack
                .pop()
                .unwrap_or_else(|| panic!("</{name}> closes nothing"));
            assert_eq!(top, name, "</{name}> closes <{top}>");
            continue;
        }
        let self_closing = tag.ends_with('/');
        let tag = tag.trim_end_matches('/');
        let name_end = tag.find(char::is_whitespace).unwrap_or(tag.len());
        let name = &tag[..name_end];
        assert!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric()),
            "bad tag name in <{tag}>"
        );
        assert_attributes(&tag[name_end..]);
        if stack.is_empty() {
            roots += 1;
        }
        if self_closing {
            continue;
        }
        if name == "style" || name == "script" {
            let end = format!("</{name}>");
            let at = rest.find(&end).expect("raw text element closes");
            rest = &rest[at + end.len()..];
            continue;
        }
        stack.push(name);
    }
    assert_text(rest);
    assert!(stack.is_empty(), "unclosed: {stack:?}");
    assert_eq!(roots, 1, "one root element");
}

fn assert_text(text: &str) {
    for (i, _) in text.match_indices('&') {
        let entity = &text[i..];
        assert!(
            ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;"]
                .iter()
                .any(|e| entity.starts_with(e)),
            "raw & in text: {}",
            &entity[..entity.len().min(30)]
        );
    }
    assert!(!text.contains('>'), "raw > in text: {text}");
}

/// ` name="value"` pairs, nothing else.
fn assert_attributes(mut attrs: &str) {
    loop {
        attrs = attrs.trim_start();
        if attrs.is_empty() {
            return;
        }
        let eq = attrs
            .find("=\"")
            .unwrap_or_else(|| panic!("unquoted attribute: {attrs}"));
        let name = &attrs[..eq];
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ':'),
            "bad attribute name `{name}`"
        );
        let value_end = attrs[eq + 2..].find('"').expect("attribute value ends") + eq + 2;
        assert_text(&attrs[eq + 2..value_end]);
        attrs = &attrs[value_end + 1..];
    }
}

/// Nothing on the page reaches outside it.
fn assert_self_contained(page: &str) {
    for outside in ["src=", "href=", "@import", "url(http", "//cdn", "<link"] {
        assert!(
            !page.contains(outside),
            "the page refers outside itself: {outside}"
        );
    }
    let links: Vec<&str> = page
        .match_indices("://")
        .map(|(i, _)| &page[i.saturating_sub(4)..i + 23])
        .collect();
    assert!(
        links.iter().all(|l| *l == "http://www.w3.org/2000/svg\""),
        "only the SVG namespace may be a URL: {links:?}"
    );
}

#[test]
fn every_builtin_script_has_a_well_formed_self_contained_timeline() {
    for path in script_files() {
        let name = script_stem(&path);
        let script = Script::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let report = run_script(&script, script.default_seed());
        let page = timeline::render_html(&report);
        assert_well_formed(&page);
        assert_self_contained(&page);
        let model = Timeline::from_report(&report);
        // Structure before the snapshot: one group per pool endpoint, each
        // with at least one connection row, and an RPC tick per RPC.
        let endpoints: Vec<&str> = report
            .trace
            .lines
            .iter()
            .filter_map(|l| match &l.event {
                TraceEvent::Pool { endpoint, .. } => Some(endpoint.as_str()),
                _ => None,
            })
            .collect();
        for group in &model.groups {
            assert_eq!(
                group.endpoint,
                endpoints.contains(&group.host.as_str()),
                "{name}"
            );
            assert_eq!(
                group.endpoint,
                !group.rows.is_empty(),
                "{name}: {}",
                group.host
            );
        }
        let ticks: usize =
            model.groups.iter().map(|g| g.rpcs.len()).sum::<usize>() + model.client.unrouted.len();
        assert_eq!(ticks, report.trace.rpcs().count(), "{name}");
        assert_eq!(
            page.matches(r#"data-kind="fault""#).count(),
            model.faults.len(),
            "{name}"
        );
        insta::assert_snapshot!(name.as_str(), summary(&model));
    }
}

fn black_hole() -> Report {
    let script = library::builtin("black-hole").expect("the built-in black-hole script");
    run_script(&script, 1)
}

/// The `<g>` element of the detection mark for `conn`.
fn detection_mark(page: &str, conn: ConnId) -> &str {
    let key = format!(r#"data-conn="{conn}""#);
    let at = page
        .find(&key)
        .unwrap_or_else(|| panic!("no detection mark for conn {conn}"));
    let start = page[..at].rfind("<g ").expect("the mark's element");
    let end = page[at..].find("</g>").expect("the mark ends") + at;
    &page[start..end]
}

/// The black-hole run: both connections to server-2 are cut off at
/// 5.05 s, and each is closed by TCP's user timeout about 1.23 s after the
/// first RPC it carried into the hole (tail loss probe, one RTO, then the
/// 1 s user timeout, on the kernel's timer wheel: `user_timeout_abort`,
/// `tests/black_hole.rs`). The page marks each detection at exactly that
/// time, on that connection's row.
#[test]
fn a_black_hole_run_shows_each_detection_at_its_time() {
    let report = black_hole();
    let page = timeline::render_html(&report);
    let fault_at = Duration::from_millis(5_050);
    let cut: Vec<ConnId> = report
        .trace
        .lines
        .iter()
        .filter(|l| l.at < fault_at)
        .filter_map(|l| match &l.event {
            TraceEvent::Pool {
                conn,
                endpoint,
                kind: ConnEvent::Ready,
            } if endpoint == "server-2" => Some(*conn),
            _ => None,
        })
        .collect();
    assert_eq!(cut.len(), 2, "the script keeps 2 connections to server-2");
    let axis = Axis::new(report.trace.lines.last().expect("a trace").at);
    for conn in cut {
        let first_into_hole = report
            .trace
            .rpcs()
            .filter(|(_, rpc)| rpc.conn == Some(conn) && rpc.sent_at >= fault_at)
            .map(|(_, rpc)| rpc.sent_at)
            .min()
            .expect("the connection carried an RPC into the hole");
        let detected = common::user_timeout_abort(first_into_hole);
        // The trace agrees: the close at that time was TCP's (the user
        // timeout's ETIMEDOUT).
        assert!(report.trace.lines.iter().any(|l| l.at == detected
            && matches!(&l.event, TraceEvent::Pool {
                conn: c,
                kind: ConnEvent::Closed { cause: CloseCause::UserTimeout },
                ..
            } if *c == conn)));
        let mark = detection_mark(&page, conn);
        assert!(
            mark.contains(&format!(r#"data-at-ms="{}""#, detected.as_millis())),
            "conn {conn}: {mark}"
        );
        // The dashed line runs from the fault to the diamond at the close.
        assert!(
            mark.contains(&format!(
                r#"x1="{}" x2="{}""#,
                axis.x(fault_at),
                axis.x(detected)
            )),
            "conn {conn}: {mark}"
        );
        assert!(
            mark.contains(&format!(r#"d="M{} "#, axis.x(detected))),
            "conn {conn}: {mark}"
        );
        assert!(mark.contains("cause=user_timeout"), "{mark}");
    }
}

/// A failed invariant is drawn at the moment it broke: for "at most 3
/// failed RPCs", the fourth failure.
#[test]
fn a_failed_invariant_is_marked_where_it_broke() {
    let mut report = black_hole();
    report.expect.max_failed_rpcs = Some(3);
    report
        .invariants
        .retain(|i| i.name != "failed_rpcs_at_most");
    report
        .invariants
        .push(squall_sim::check::failed_rpcs_at_most(&report.trace, 3));
    assert!(!report.passed());
    let fourth = report
        .trace
        .rpcs()
        .filter(|(_, rpc)| rpc.result.is_err())
        .nth(3)
        .map(|(line, _)| line.at)
        .expect("the black hole fails more than 3 RPCs");
    let model = Timeline::from_report(&report);
    let mark = model
        .invariants
        .iter()
        .find(|i| !i.ok)
        .expect("the failed invariant");
    assert_eq!(mark.name, "failed_rpcs_at_most");
    assert_eq!(mark.at, Some(fourth));
    let page = timeline::render_html(&report);
    assert_well_formed(&page);
    assert_eq!(page.matches(r#"data-kind="invariant""#).count(), 1);
    assert!(page.contains(&format!(
        r#"data-kind="invariant" data-at-ms="{}""#,
        fourth.as_millis()
    )));
    assert!(page.contains(r#"<span class="fail">FAIL</span>"#));
}

/// `write_html` writes the page; a path it cannot write is a typed error
/// naming the path, not a panic.
#[test]
fn write_html_writes_the_page_or_names_the_path() {
    let report = black_hole();
    let dir = std::env::temp_dir().join(format!("squall-timeline-{}", std::process::id()));
    fs::create_dir_all(&dir).expect("a temp dir");
    let path = dir.join("black-hole.html");
    timeline::write_html(&report, &path).expect("written");
    assert_eq!(
        fs::read_to_string(&path).expect("readable"),
        timeline::render_html(&report)
    );
    let bad = dir.join("missing-dir").join("x.html");
    let error = timeline::write_html(&report, &bad).expect_err("no such directory");
    assert_eq!(error.path, bad);
    assert!(error.to_string().contains("missing-dir"), "{error}");
    fs::remove_dir_all(&dir).expect("cleaned up");
}
