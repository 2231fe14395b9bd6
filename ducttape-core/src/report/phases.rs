//! Where a test's time went: bring-up, workload and teardown, read from its own events.
//!
//! - **bring-up**: from `test_started` to the last moment the test was still getting ready —
//!   the last `service_ready` of a service that is not a workload (or `nodes_leased`) before
//!   the first workload starts (`service_starting` with `workload: true`, or the test's own
//!   [`TestContext::workload_started`](crate::TestContext::workload_started)) or teardown
//!   begins;
//! - **workload**: from there to `teardown_started`;
//! - **teardown**: from `teardown_started` to the end (the summary is written).
//!
//! The three add up to the test's duration. A test with no services has a bring-up of its
//! leases only. Events after the first teardown (checks made after it) are not counted here.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::data::event_time;

/// A test's phase durations, in seconds (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Phases {
    /// From the test's start until its services were ready.
    pub bring_up_secs: f64,
    /// From then until teardown began.
    pub workload_secs: f64,
    /// Teardown.
    pub teardown_secs: f64,
    /// Checks made after teardown (`TestContext::finish_for_checks`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checks_after_teardown_secs: Option<f64>,
}

impl Phases {
    /// The phases of `events` (in the order written), the test having ended at `end`; `None`
    /// without a `test_started` event.
    ///
    /// ```
    /// use ducttape_core::report::phases::Phases;
    /// let events: Vec<serde_json::Value> = [
    ///     r#"{"ts":"2026-01-01T00:00:00Z","event":"test_started"}"#,
    ///     r#"{"ts":"2026-01-01T00:00:10Z","event":"service_ready","service":"kafka","workload":false}"#,
    ///     r#"{"ts":"2026-01-01T00:00:30Z","event":"teardown_started"}"#,
    /// ].iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    /// let end = "2026-01-01T00:00:35Z".parse().unwrap();
    /// let p = Phases::of(&events, end).unwrap();
    /// assert_eq!((p.bring_up_secs, p.workload_secs, p.teardown_secs), (10.0, 20.0, 5.0));
    /// ```
    pub fn of(events: &[Value], end: DateTime<Utc>) -> Option<Phases> {
        let kind = |e: &Value| e["event"].as_str().unwrap_or("").to_string();
        let start = events
            .iter()
            .find(|e| kind(e) == "test_started")
            .and_then(event_time)?;
        let mut ready = start;
        let mut teardown = None;
        let mut workload_began = false;
        for e in events {
            let Some(t) = event_time(e) else { continue };
            match kind(e).as_str() {
                "teardown_started" => {
                    teardown = Some(t);
                    break;
                }
                "service_starting" if e["workload"] == true => workload_began = true,
                "workload_started" => {
                    if !workload_began && t > ready {
                        ready = t;
                    }
                    workload_began = true;
                }
                "service_ready" | "nodes_leased"
                    if !workload_began && e["workload"] != true && t > ready =>
                {
                    ready = t
                }
                _ => {}
            }
        }
        let teardown = teardown.unwrap_or(end);
        let secs = |a: DateTime<Utc>, b: DateTime<Utc>| {
            ((b - a).num_microseconds().unwrap_or(0) as f64 / 1e6).max(0.0)
        };
        let ready = ready.min(teardown);
        Some(Phases {
            bring_up_secs: secs(start, ready),
            workload_secs: secs(ready, teardown),
            teardown_secs: secs(teardown, end),
            checks_after_teardown_secs: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(secs: u32, event: &str, extra: Value) -> Value {
        let mut e = json!({ "ts": format!("2026-01-01T00:00:{secs:02}Z"), "event": event });
        if let (Some(o), Value::Object(x)) = (e.as_object_mut(), extra) {
            o.extend(x);
        }
        e
    }

    fn end(secs: u32) -> DateTime<Utc> {
        format!("2026-01-01T00:00:{secs:02}Z").parse().unwrap()
    }

    #[test]
    fn workers_started_after_bring_up_count_as_workload() {
        let events = vec![
            at(0, "test_started", json!({})),
            at(1, "nodes_leased", json!({})),
            at(
                2,
                "service_starting",
                json!({"service": "zk", "workload": false}),
            ),
            at(
                5,
                "service_ready",
                json!({"service": "zk", "workload": false}),
            ),
            at(
                12,
                "service_ready",
                json!({"service": "kafka", "workload": false}),
            ),
            at(
                13,
                "service_starting",
                json!({"service": "producer", "workload": true}),
            ),
            at(
                14,
                "service_ready",
                json!({"service": "producer", "workload": true}),
            ),
            // A broker bounced during the workload is not bring-up.
            at(
                20,
                "service_ready",
                json!({"service": "kafka", "workload": false}),
            ),
            at(40, "teardown_started", json!({})),
            at(45, "test_started", json!({})),
        ];
        let p = Phases::of(&events, end(52)).unwrap();
        assert_eq!(
            (p.bring_up_secs, p.workload_secs, p.teardown_secs),
            (12.0, 28.0, 12.0)
        );
    }

    #[test]
    fn a_test_can_say_where_its_workload_starts() {
        let events = vec![
            at(0, "test_started", json!({})),
            at(
                3,
                "service_ready",
                json!({"service": "zk", "workload": false}),
            ),
            at(5, "workload_started", json!({})),
            // Started by the workload (a second ensemble, say): not bring-up.
            at(
                8,
                "service_ready",
                json!({"service": "zk-2", "workload": false}),
            ),
            at(20, "teardown_started", json!({})),
        ];
        let p = Phases::of(&events, end(21)).unwrap();
        assert_eq!(
            (p.bring_up_secs, p.workload_secs, p.teardown_secs),
            (5.0, 15.0, 1.0)
        );
    }

    #[test]
    fn a_test_without_services_is_all_workload_after_its_lease() {
        let events = vec![
            at(0, "test_started", json!({})),
            at(1, "nodes_leased", json!({})),
            at(9, "teardown_started", json!({})),
        ];
        let p = Phases::of(&events, end(10)).unwrap();
        assert_eq!(
            (p.bring_up_secs, p.workload_secs, p.teardown_secs),
            (1.0, 8.0, 1.0)
        );
        assert_eq!(Phases::of(&events[1..], end(10)), None);
    }
}
