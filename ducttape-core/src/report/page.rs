//! A test's own page: why it failed, status and phases, plots over time, events, numbers with
//! their units.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

use super::html::{escape, rel_dir, secs, STYLE};
use super::plots::{PlotInput, PLOTS};
use super::{data, fmt_num, metrics};

/// How many lines of `test.log` a failed test's page shows.
const LOG_TAIL_LINES: usize = 40;

/// The end of a failed test's `test.log`: the last lines before its teardown began (what the
/// test was doing when it failed, not its services being stopped), each cut to a readable
/// length.
fn log_tail(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("test.log")).ok()?;
    let lines: Vec<&str> = text.lines().collect();
    let end = lines
        .iter()
        .position(|l| l.contains("event=\"teardown_started\""))
        .unwrap_or(lines.len());
    let from = end.saturating_sub(LOG_TAIL_LINES);
    let tail: Vec<String> = lines[from..end]
        .iter()
        .map(|l| match l.char_indices().nth(400) {
            Some((cut, _)) => format!("{}…", &l[..cut]),
            None => l.to_string(),
        })
        .collect();
    (!tail.is_empty()).then(|| tail.join("\n"))
}

/// The first section of a page of a test that did not pass: why, where, and the log it points
/// at.
fn why(summary: &data::Summary, dir: &Path) -> String {
    let heading = match summary.status.as_str() {
        "fail" => "Why it failed",
        "timeout" => "Why it timed out",
        "error" => "Why it is an error",
        _ => return String::new(),
    };
    let mut h = format!("<section id=\"why\"><h2>{heading}</h2>");
    match summary.reason() {
        Some((reason, place)) => {
            let _ = write!(h, "<p class=\"reason\"><b>{}</b></p>", escape(&reason));
            if let Some(place) = place {
                let _ = write!(
                    h,
                    "<p class=\"place\">at <code>{}</code></p>",
                    escape(&place)
                );
            }
            if let Some(m) = &summary.message {
                if m.trim() != reason {
                    let _ = write!(h, "<pre class=\"message\">{}</pre>", escape(m));
                }
            }
        }
        None if summary.status == "timeout" => {
            h.push_str("<p class=\"reason\"><b>it ran past its timeout and was torn down by the watchdog</b></p>");
        }
        None => h.push_str(
            "<p class=\"reason\"><b>no panic message was caught on the test's thread</b> \
             (a panic in another thread or task); the log below ends where it failed</p>",
        ),
    }
    if let Some(tail) = log_tail(dir) {
        let _ = write!(
            h,
            "<h3>the end of <a href=\"test.log\">test.log</a> before teardown</h3>\
             <pre class=\"log-tail\">{}</pre>",
            escape(&tail)
        );
    }
    h.push_str("</section>");
    h
}

/// A test's own page (see the module docs), from its `summary.json` at `summary_path`.
pub fn test_page(run_dir: &Path, summary_path: &Path, summary: &Value) -> String {
    let dir = summary_path.parent().unwrap_or(run_dir);
    let depth = rel_dir(run_dir, summary_path).components().count();
    let up = "../".repeat(depth);
    let name = summary["test"].as_str().unwrap_or("?");
    let status = summary["status"].as_str().unwrap_or("?");
    let events = data::read_events(&dir.join("events.jsonl"));
    let mut h = format!(
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>{n}</title><style>{STYLE}</style>\
         <p><a href=\"{up}report.html\">run report</a> · <a href=\"test.log\">test.log</a> · \
         <a href=\"events.jsonl\">events.jsonl</a> · <a href=\"summary.json\">summary.json</a></p>\
         <h1>{n}</h1>",
        n = escape(name),
    );
    let typed = serde_json::from_value::<data::Summary>(summary.clone());
    if let Ok(s) = &typed {
        h.push_str(&why(s, dir));
    }
    let _ = write!(
        h,
        "<p>status <b class=\"{status}\">{status}</b> in {} s: bring-up {} s, workload {} s, teardown {} s</p>",
        secs(&summary["duration_secs"]),
        secs(&summary["phases"]["bring_up_secs"]),
        secs(&summary["phases"]["workload_secs"]),
        secs(&summary["phases"]["teardown_secs"]),
    );
    match &typed {
        Ok(s) if matches!(s.status.as_str(), "fail" | "timeout" | "error") => {}
        _ => {
            if let Some(m) = summary["message"].as_str() {
                let _ = write!(h, "<pre>{}</pre>", escape(m));
            }
        }
    }
    match &typed {
        Ok(s) => {
            let input = PlotInput::new(s, &events, dir);
            for plot in PLOTS {
                let Some(chart) = (plot.chart)(&input) else {
                    continue;
                };
                match input.draw(&chart) {
                    Ok(svg) => {
                        let _ = write!(
                            h,
                            "<figure class=\"plot\" id=\"plot-{}\">{svg}</figure>",
                            plot.name
                        );
                    }
                    Err(e) => {
                        let _ = write!(h, "<p class=\"error\">{}</p>", escape(&e.to_string()));
                    }
                }
            }
        }
        Err(e) => {
            let _ = write!(
                h,
                "<p class=\"error\">summary.json does not follow the data contract, no plots: {}</p>",
                escape(&e.to_string())
            );
        }
    }
    h.push_str(
        "<h2>Events</h2><table id=\"events\"><tr><th>s</th><th>event</th><th>detail</th></tr>",
    );
    let t0 = events.first().and_then(data::event_time);
    for e in &events {
        let (Some(t0), Some(t)) = (t0, data::event_time(e)) else {
            continue;
        };
        let kind = e["event"].as_str().unwrap_or("?");
        let detail: Vec<String> = e
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| !["ts", "event", "dir", "nodes_json"].contains(&k.as_str()))
            .map(|(k, v)| match v {
                Value::String(s) => format!("{k}={s}"),
                v => format!("{k}={v}"),
            })
            .collect();
        let _ = write!(
            h,
            "<tr><td class=\"num\">{:.2}</td><td>{}</td><td>{}</td></tr>",
            (t - t0).num_milliseconds() as f64 / 1000.0,
            escape(kind),
            escape(&detail.join(" "))
        );
    }
    h.push_str("</table>");
    let numbers = metrics::of_summary(summary);
    if !numbers.is_empty() {
        h.push_str("<h2>Numbers</h2><table id=\"numbers\"><tr><th>number</th><th>value</th><th>unit</th></tr>");
        for (k, v) in &numbers {
            let short = k.split_once(' ').map_or(k.as_str(), |(_, rest)| rest);
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
                escape(short),
                fmt_num(*v),
                metrics::unit_of(k).0
            );
        }
        h.push_str("</table>");
    }
    let problems = summary["teardown_problems"]
        .as_array()
        .filter(|p| !p.is_empty());
    if let Some(problems) = problems {
        h.push_str("<h2>Teardown problems</h2><ul>");
        for p in problems {
            let _ = write!(h, "<li>{}</li>", escape(p.as_str().unwrap_or("?")));
        }
        h.push_str("</ul>");
    }
    h
}
