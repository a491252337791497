//! Packing the pool's connections into rows: each endpoint gets as few
//! rows as it can, a connection taking the first row that is free when it
//! starts dialling (its last connection closed and its backoff over). A
//! reconnect gets a new connection id, so without packing a flapping
//! endpoint would need one row per attempt.

use std::{collections::BTreeMap, time::Duration};

use squall_pool::{ConnEvent, ConnId};
use squall_sim::{TraceLine, check::Detection};

use super::model::{ConnRow, ConnState, DetectionMark, Mark, MarkKind, Span, conn_state};

#[derive(Debug, Default)]
pub(super) struct ConnRows {
    /// Rows per endpoint; each row with the time it is free from (`None`
    /// while a connection holds it).
    endpoints: BTreeMap<String, Vec<(ConnRow, Option<Duration>)>>,
    /// Every connection seen: its endpoint and row.
    placed: BTreeMap<ConnId, (String, usize)>,
    /// The state span each live connection is in, not yet ended.
    open: BTreeMap<ConnId, Span<ConnState>>,
}

impl ConnRows {
    /// Applies one pool event line.
    pub(super) fn apply(
        &mut self,
        line: &TraceLine,
        conn: ConnId,
        endpoint: &str,
        kind: &ConnEvent,
    ) {
        let (endpoint, row) = self.place(conn, endpoint, line.at);
        self.end_open(conn, line);
        let rows = self
            .endpoints
            .get_mut(&endpoint)
            .expect("placed on a known endpoint");
        let (row, free_at) = &mut rows[row];
        if let Some(state) = conn_state(kind) {
            self.open.insert(
                conn,
                Span {
                    from: line.at,
                    to: line.at,
                    state,
                    text: line.to_string(),
                },
            );
            return;
        }
        match kind {
            ConnEvent::Closed { cause } => {
                *free_at = Some(line.at);
                row.marks.push(Mark {
                    at: line.at,
                    kind: MarkKind::Closed(cause.into()),
                    text: line.to_string(),
                });
            }
            ConnEvent::Backoff { delay } => {
                *free_at = Some(line.at + *delay);
                row.spans.push(Span {
                    from: line.at,
                    to: line.at + *delay,
                    state: ConnState::Backoff,
                    text: line.to_string(),
                });
            }
            ConnEvent::LeaseHeld { .. } => row.marks.push(Mark {
                at: line.at,
                kind: MarkKind::LeaseHeld,
                text: line.to_string(),
            }),
            ConnEvent::Connecting { .. } | ConnEvent::Ready | ConnEvent::Draining { .. } => {
                unreachable!("states are handled above")
            }
        }
    }

    /// The row of `conn`, giving it one when it first appears.
    fn place(&mut self, conn: ConnId, endpoint: &str, at: Duration) -> (String, usize) {
        if let Some(placed) = self.placed.get(&conn) {
            return placed.clone();
        }
        let rows = self.endpoints.entry(endpoint.to_owned()).or_default();
        let free = rows
            .iter()
            .position(|(_, free_at)| free_at.is_some_and(|t| t <= at));
        let index = match free {
            Some(index) => index,
            None => {
                rows.push((ConnRow::default(), None));
                rows.len() - 1
            }
        };
        rows[index].1 = None;
        let placed = (endpoint.to_owned(), index);
        self.placed.insert(conn, placed.clone());
        placed
    }

    /// Ends `conn`'s current state span at this line, which is what ended it.
    fn end_open(&mut self, conn: ConnId, line: &TraceLine) {
        let Some(mut span) = self.open.remove(&conn) else {
            return;
        };
        span.to = line.at;
        span.text.push('\n');
        span.text.push_str(&line.to_string());
        self.push_span(conn, span);
    }

    fn push_span(&mut self, conn: ConnId, span: Span<ConnState>) {
        let (endpoint, row) = &self.placed[&conn];
        let rows = self
            .endpoints
            .get_mut(endpoint)
            .expect("placed on a known endpoint");
        rows[*row].0.spans.push(span);
    }

    /// Ends the spans still open at `end`, adds the detections, and gives
    /// each endpoint's rows.
    pub(super) fn finish(
        mut self,
        end: Duration,
        detections: &[Detection],
    ) -> Vec<(String, Vec<ConnRow>)> {
        for (conn, mut span) in std::mem::take(&mut self.open) {
            span.to = end;
            self.push_span(conn, span);
        }
        for d in detections {
            let Some((endpoint, row)) = self.placed.get(&d.conn) else {
                continue;
            };
            let text = match d.detected_at {
                Some(at) => format!(
                    "conn {} to {}: cut off by the fault at {} ms, closed at {} ms (+{} ms){}",
                    d.conn,
                    d.endpoint,
                    d.fault_at.as_millis(),
                    at.as_millis(),
                    (at - d.fault_at).as_millis(),
                    d.cause
                        .as_ref()
                        .map(|c| format!(", cause={c}"))
                        .unwrap_or_default()
                ),
                None => format!(
                    "conn {} to {}: cut off by the fault at {} ms, never closed",
                    d.conn,
                    d.endpoint,
                    d.fault_at.as_millis()
                ),
            };
            let rows = self
                .endpoints
                .get_mut(endpoint)
                .expect("placed on a known endpoint");
            rows[*row].0.detections.push(DetectionMark {
                conn: d.conn,
                fault_at: d.fault_at,
                detected_at: d.detected_at,
                text,
            });
        }
        self.endpoints
            .into_iter()
            .map(|(endpoint, rows)| {
                let mut rows: Vec<ConnRow> = rows.into_iter().map(|(row, _)| row).collect();
                for row in &mut rows {
                    // Backoff spans are pushed when they start, state spans
                    // when they end: order by start for drawing.
                    row.spans.sort_by_key(|s| (s.from, s.to));
                }
                (endpoint, rows)
            })
            .collect()
    }
}
