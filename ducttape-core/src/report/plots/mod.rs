//! What a test's page plots: a registry of plots ([`PLOTS`]), each one function that reads
//! what the test left ([`PlotInput`]: its [`Summary`], events and results directory) and
//! returns a [`Chart`] — or `None` when it has nothing to draw, so no empty plot is ever
//! drawn. The page draws every registered plot that has data, in the registry's order.
//!
//! Everything is placed on one axis: seconds since the test started ([`timeline`]). Charts
//! over time shade the fault, bounce and teardown windows and mark services changing state.
//! A line says how it is to be read ([`Shape`]): a cumulative count is drawn as steps (it held
//! still between its points, it did not climb), sampled values are joined only where the
//! samples are close enough, so a gap in sampling shows as a gap.
//!
//! Plots are drawn with `plotters`' SVG backend into the page itself: no JavaScript, nothing
//! loaded from outside. Adding a plot: see `docs/adding-a-plot.md`.

pub mod broker_metrics;
mod draw;
pub mod timeline;

use std::path::Path;

use serde_json::Value;

pub use draw::{svg_by_category, svg_plot, svg_windows, PlotError};
pub use timeline::{
    lines_of, spans_and_marks, window_ends, worker_series, Mark, Span, SpanKind, WindowPoint,
    WorkerSeries,
};

use super::data::Summary;

/// One line of a plot: `(seconds since the test started, value)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// What it is (`producer/worker4 avg`).
    pub label: String,
    /// Its points, in time order.
    pub points: Vec<(f64, f64)>,
    /// How the points are joined.
    pub shape: Shape,
}

/// How a line's points are joined.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shape {
    /// Each point to the next (windows laid end to end: there is no gap between them).
    Joined,
    /// A cumulative count with a point at every change: it holds its value until the next
    /// point, then jumps. Drawn as steps, never as a slope between two samples.
    Steps,
    /// Samples taken every so often: joined while two are at most `max_gap` seconds apart,
    /// else left apart (a gap in sampling is a gap in the line).
    Sampled {
        /// The longest interval still joined, in seconds.
        max_gap: f64,
    },
}

impl Line {
    /// The stretches of polyline to draw (see [`Shape`]).
    pub fn segments(&self) -> Vec<Vec<(f64, f64)>> {
        match self.shape {
            Shape::Joined => vec![self.points.clone()],
            Shape::Steps => {
                let mut path = Vec::with_capacity(self.points.len() * 2);
                for (i, &(x, y)) in self.points.iter().enumerate() {
                    if i > 0 {
                        // Held at the previous value until this point.
                        path.push((x, self.points[i - 1].1));
                    }
                    path.push((x, y));
                }
                vec![path]
            }
            Shape::Sampled { max_gap } => {
                let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
                for &(x, y) in &self.points {
                    match out.last_mut() {
                        Some(seg) if seg.last().is_some_and(|&(px, _)| x - px <= max_gap) => {
                            seg.push((x, y))
                        }
                        _ => out.push(vec![(x, y)]),
                    }
                }
                out
            }
        }
    }
}

/// What one registered plot draws.
#[derive(Debug, Clone, PartialEq)]
pub enum Chart {
    /// Lines over time, with the windows shaded behind them.
    OverTime {
        /// The plot's title.
        title: String,
        /// The y axis's unit.
        unit: String,
        /// Its lines: at least one with a point.
        lines: Vec<Line>,
    },
    /// The fault and bounce windows themselves, one labelled bar each.
    Windows {
        /// The plot's title.
        title: String,
    },
}

/// What a plot reads: the test's summary and events, and where its files are (a plot that
/// draws from a file of its own reads it there, and returns `None` when it is absent).
pub struct PlotInput<'a> {
    /// The test's `summary.json`.
    pub summary: &'a Summary,
    /// The test's `events.jsonl`.
    pub events: &'a [Value],
    /// The test's results directory.
    pub dir: &'a Path,
    /// The perf workers' windows, placed in time.
    pub workers: Vec<WorkerSeries>,
    /// Fault, bounce and teardown windows.
    pub spans: Vec<Span>,
    /// Services changing state while the test ran.
    pub marks: Vec<Mark>,
    /// The end of the time axis: the test's duration, in seconds.
    pub x_max: f64,
}

impl<'a> PlotInput<'a> {
    /// The input for the test whose summary, events and directory these are.
    pub fn new(summary: &'a Summary, events: &'a [Value], dir: &'a Path) -> Self {
        let (spans, marks) = spans_and_marks(events);
        PlotInput {
            summary,
            events,
            dir,
            workers: worker_series(summary),
            spans,
            marks,
            x_max: summary.duration_secs.max(1.0),
        }
    }

    /// A chart over time of `lines`, or `None` when no line has a point.
    pub fn over_time(&self, title: String, unit: &str, lines: Vec<Line>) -> Option<Chart> {
        let lines: Vec<Line> = lines.into_iter().filter(|l| !l.points.is_empty()).collect();
        (!lines.is_empty()).then(|| Chart::OverTime {
            title,
            unit: unit.to_string(),
            lines,
        })
    }

    /// Draws `chart` as SVG.
    pub fn draw(&self, chart: &Chart) -> Result<String, PlotError> {
        match chart {
            Chart::OverTime { title, unit, lines } => svg_plot(
                &format!("{title} ({unit})"),
                unit,
                lines,
                &self.spans,
                &self.marks,
                self.x_max,
            ),
            Chart::Windows { title } => svg_windows(title, &self.spans, self.x_max),
        }
    }
}

/// A registered plot: a name (the figure's `id` on the page) and the function that makes it.
pub struct Plot {
    /// Its name: the page's figure is `plot-<name>`.
    pub name: &'static str,
    /// Makes the chart, or `None` when there is nothing to draw.
    pub chart: fn(&PlotInput<'_>) -> Option<Chart>,
}

/// Every plot a test page can have, in page order. A new plot is one function here.
pub const PLOTS: &[Plot] = &[
    Plot {
        name: "records-per-sec",
        chart: records_per_sec,
    },
    Plot {
        name: "mb-per-sec",
        chart: mb_per_sec,
    },
    Plot {
        name: "latency",
        chart: latency,
    },
    Plot {
        name: "delivery",
        chart: delivery,
    },
    Plot {
        name: "windows",
        chart: fault_windows,
    },
    Plot {
        name: "under-replicated",
        chart: broker_metrics::under_replicated,
    },
];

/// Every perf worker's records/s, window by window.
fn records_per_sec(input: &PlotInput<'_>) -> Option<Chart> {
    let lines = lines_of(&input.workers, "", |w| Some(w.records_per_sec));
    input.over_time("throughput".into(), "records/s", lines)
}

/// Every perf worker's MB/s, window by window.
fn mb_per_sec(input: &PlotInput<'_>) -> Option<Chart> {
    let lines = lines_of(&input.workers, "", |w| Some(w.mb_per_sec));
    input.over_time("throughput".into(), "MB/s", lines)
}

/// Every perf worker's mean, p99 and largest latency, window by window.
fn latency(input: &PlotInput<'_>) -> Option<Chart> {
    let mut lines = lines_of(&input.workers, "avg", |w| w.avg_ms);
    lines.extend(lines_of(&input.workers, "p99", |w| w.p99_ms));
    lines.extend(lines_of(&input.workers, "max", |w| w.max_ms));
    input.over_time("latency".into(), "ms", lines)
}

/// The acknowledged-vs-consumed counts of every delivery check, as steps; the title says what
/// each check lost and duplicated.
fn delivery(input: &PlotInput<'_>) -> Option<Chart> {
    let deliveries = input.summary.deliveries();
    let counts: Vec<String> = deliveries
        .iter()
        .map(|(k, d)| {
            format!(
                "{k}: {} lost, {} duplicated",
                d.lost_acknowledged, d.duplicated
            )
        })
        .collect();
    let title = format!("acknowledged vs consumed — {}", counts.join("; "));
    input.over_time(title, "records", delivery_lines(input.summary))
}

/// The acknowledged and consumed lines of every delivery check a test recorded
/// (`results.<key>.delivery_timeline`), as steps.
pub fn delivery_lines(summary: &Summary) -> Vec<Line> {
    let Some(t0) = summary.started_at().map(|t| t.timestamp_millis() as f64) else {
        return Vec::new();
    };
    let mut lines = Vec::new();
    for (key, d) in summary.deliveries() {
        for (field, pick) in [
            (
                "acked",
                (|p| p.acked) as fn(&super::data::DeliveryPoint) -> u64,
            ),
            ("consumed", |p| p.consumed),
        ] {
            let points: Vec<(f64, f64)> = d
                .delivery_timeline
                .iter()
                .map(|p| ((p.ts_ms as f64 - t0) / 1000.0, pick(p) as f64))
                .collect();
            if !points.is_empty() {
                lines.push(Line {
                    label: format!("{key} {field}"),
                    points,
                    shape: Shape::Steps,
                });
            }
        }
    }
    lines
}

/// The fault and bounce windows of the test, one labelled bar each: what was done to which
/// nodes, when, for how long. Drawn when the test had at least one.
fn fault_windows(input: &PlotInput<'_>) -> Option<Chart> {
    input
        .spans
        .iter()
        .any(|s| s.kind != SpanKind::Teardown)
        .then(|| Chart::Windows {
            title: "fault and bounce windows".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_hold_their_value_and_samples_break_at_a_gap() {
        let points = vec![(1.0, 1.0), (2.0, 2.0), (3.0, 3.0), (30.0, 4.0), (31.0, 5.0)];
        let line = |shape| Line {
            label: "x".into(),
            points: points.clone(),
            shape,
        };
        assert_eq!(line(Shape::Joined).segments(), vec![points.clone()]);
        assert_eq!(
            line(Shape::Steps).segments(),
            vec![vec![
                (1.0, 1.0),
                (2.0, 1.0),
                (2.0, 2.0),
                (3.0, 2.0),
                (3.0, 3.0),
                (30.0, 3.0),
                (30.0, 4.0),
                (31.0, 4.0),
                (31.0, 5.0)
            ]]
        );
        assert_eq!(
            line(Shape::Sampled { max_gap: 5.0 }).segments(),
            vec![points[..3].to_vec(), points[3..].to_vec()]
        );
        // Drawn: one polyline per stretch (and the legend's sample), two wide.
        let wide = |svg: &str| {
            svg.split("<polyline")
                .skip(1)
                .filter(|p| {
                    p.split("/>")
                        .next()
                        .is_some_and(|p| p.contains("stroke-width=\"2\""))
                })
                .count()
        };
        let sampled = [line(Shape::Sampled { max_gap: 5.0 })];
        let svg = svg_plot("x", "", &sampled, &[], &[], 40.0).unwrap();
        assert_eq!(wide(&svg), 3, "{svg}");
        let svg = svg_plot("x", "", &[line(Shape::Joined)], &[], &[], 40.0).unwrap();
        assert_eq!(wide(&svg), 2, "{svg}");
    }
}
