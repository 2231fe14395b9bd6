//! Drawing charts as SVG with `plotters`.

use plotters::coord::types::RangedCoordf64;
use plotters::drawing::DrawingAreaErrorKind;
use plotters::prelude::*;

use super::super::format::fmt_num;
use super::{Line, Mark, Span, SpanKind};

/// A chart could not be drawn.
#[derive(Debug, thiserror::Error)]
#[error("plot {title}: {reason}")]
pub struct PlotError {
    /// The chart's title.
    pub title: String,
    /// What `plotters` said.
    pub reason: String,
}

impl PlotError {
    fn of<E: std::error::Error + Send + Sync>(title: &str, e: DrawingAreaErrorKind<E>) -> Self {
        PlotError {
            title: title.to_string(),
            reason: e.to_string(),
        }
    }
}

/// A chart of `title` on `root`, with the time axis's label area.
fn titled<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, plotters::coord::Shift>,
    title: &str,
) -> ChartBuilder<'a, 'b, SVGBackend<'b>> {
    let mut b = ChartBuilder::on(root);
    b.caption(title, ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(35);
    b
}

fn span_color(kind: SpanKind) -> RGBColor {
    match kind {
        SpanKind::Fault => RGBColor(214, 39, 40),
        SpanKind::Bounce => RGBColor(255, 127, 14),
        SpanKind::Teardown => RGBColor(127, 127, 127),
    }
}

/// The top of the y axis: 15 % above the highest point of `lines` (never 0).
fn y_top(lines: &[Line]) -> f64 {
    lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .fold(0.0_f64, f64::max)
        .max(1e-9)
        * 1.15
}

/// Each of `lines` in its palette colour — its segments (see [`Line::segments`]), one legend
/// entry, a dot per point (a line of one point still shows) — then the legend at `position`.
fn draw_lines<'a, 'b: 'a>(
    chart: &mut ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    lines: &[Line],
    position: SeriesLabelPosition,
    title: &str,
) -> Result<(), PlotError> {
    let e = |e: DrawingAreaErrorKind<_>| PlotError::of(title, e);
    for (i, l) in lines.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        for (n, segment) in l.segments().into_iter().enumerate() {
            let drawn = chart
                .draw_series(LineSeries::new(segment, color.stroke_width(2)))
                .map_err(e)?;
            if n == 0 {
                drawn.label(l.label.clone()).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
            }
        }
        chart
            .draw_series(l.points.iter().map(|p| Circle::new(*p, 3, color.filled())))
            .map_err(e)?;
    }
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(e)?;
    Ok(())
}

/// A line plot over time as an SVG document: `lines` against seconds since the test started,
/// `spans` shaded and `marks` as thin vertical lines, all on the one time axis; the y axis
/// in `unit`. `x_max` is the end of the axis (the test's duration).
pub fn svg_plot(
    title: &str,
    unit: &str,
    lines: &[Line],
    spans: &[Span],
    marks: &[Mark],
    x_max: f64,
) -> Result<String, PlotError> {
    let y_max = y_top(lines);
    let x_max = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.0))
        .chain(spans.iter().map(|s| s.to))
        .fold(x_max, f64::max)
        .max(1.0);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 320)).into_drawing_area();
        let e = |e: DrawingAreaErrorKind<_>| PlotError::of(title, e);
        root.fill(&WHITE).map_err(e)?;
        let mut chart = titled(&root, title)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max)
            .map_err(e)?;
        let y_fmt = |v: &f64| fmt_num(*v);
        chart
            .configure_mesh()
            .light_line_style(RGBColor(235, 235, 235))
            .x_desc("seconds since the test started")
            .y_desc(unit)
            .y_label_formatter(&y_fmt)
            .draw()
            .map_err(e)?;
        for kind in [SpanKind::Teardown, SpanKind::Bounce, SpanKind::Fault] {
            let of_kind: Vec<&Span> = spans.iter().filter(|s| s.kind == kind).collect();
            if of_kind.is_empty() {
                continue;
            }
            let color = span_color(kind);
            let label = match kind {
                SpanKind::Fault => "fault",
                SpanKind::Bounce => "bounce",
                SpanKind::Teardown => "teardown",
            };
            chart
                .draw_series(of_kind.iter().map(|s| {
                    Rectangle::new(
                        [(s.from, 0.0), (s.to.max(s.from), y_max)],
                        color.mix(0.18).filled(),
                    )
                }))
                .map_err(e)?
                .label(label)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 18, y + 5)], color.mix(0.4).filled())
                });
        }
        // Labels only while they can be read; the events table has them all.
        let label_marks = marks.len() <= 12;
        for (i, m) in marks.iter().enumerate() {
            let grey = RGBColor(90, 90, 90);
            chart
                .draw_series(LineSeries::new(
                    vec![(m.at, 0.0), (m.at, y_max)],
                    grey.mix(0.5),
                ))
                .map_err(e)?;
            if !label_marks {
                continue;
            }
            let y = y_max * (0.97 - 0.06 * (i % 6) as f64);
            chart
                .draw_series(std::iter::once(Text::new(
                    m.label.clone(),
                    (m.at, y),
                    ("sans-serif", 10).into_font().color(&grey),
                )))
                .map_err(e)?;
        }
        draw_lines(&mut chart, lines, SeriesLabelPosition::UpperRight, title)?;
        root.present().map_err(e)?;
    }
    Ok(svg)
}

/// The fault and bounce windows as labelled bars, one row each, against seconds since the test
/// started (`x_max` the end of the axis). Teardown is left out: every test has one.
pub fn svg_windows(title: &str, spans: &[Span], x_max: f64) -> Result<String, PlotError> {
    let rows: Vec<&Span> = spans
        .iter()
        .filter(|s| s.kind != SpanKind::Teardown)
        .collect();
    let x_max = rows.iter().map(|s| s.to).fold(x_max, f64::max).max(1.0);
    let n = rows.len().max(1);
    let mut svg = String::new();
    {
        let height = 110 + 30 * n as u32;
        let root = SVGBackend::with_string(&mut svg, (900, height)).into_drawing_area();
        let e = |e: DrawingAreaErrorKind<_>| PlotError::of(title, e);
        root.fill(&WHITE).map_err(e)?;
        let mut chart = titled(&root, title)
            .y_label_area_size(10)
            .build_cartesian_2d(0f64..x_max, 0f64..n as f64)
            .map_err(e)?;
        chart
            .configure_mesh()
            .light_line_style(RGBColor(235, 235, 235))
            .disable_y_mesh()
            .disable_y_axis()
            .x_desc("seconds since the test started")
            .draw()
            .map_err(e)?;
        for (i, s) in rows.iter().enumerate() {
            let color = span_color(s.kind);
            let top = (n - i) as f64 - 0.15;
            let bottom = (n - i - 1) as f64 + 0.15;
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(s.from, bottom), (s.to.max(s.from), top)],
                    color.mix(0.5).filled(),
                )))
                .map_err(e)?;
            chart
                .draw_series(std::iter::once(Text::new(
                    format!("{} ({:.1}–{:.1} s)", s.label, s.from, s.to),
                    (s.from, top - 0.1),
                    ("sans-serif", 11).into_font().color(&BLACK),
                )))
                .map_err(e)?;
        }
        root.present().map_err(e)?;
    }
    Ok(svg)
}

/// Lines across named categories (say, Kafka builds) as an SVG document: `categories` along the
/// x axis in the order given, each line's points at `(category index, value)`, the y axis in
/// `unit` from 0.
pub fn svg_by_category(
    title: &str,
    unit: &str,
    categories: &[String],
    lines: &[Line],
) -> Result<String, PlotError> {
    let y_max = y_top(lines);
    let n = categories.len().max(1);
    let mut svg = String::new();
    {
        let height = 340 + 16 * lines.len() as u32;
        let root = SVGBackend::with_string(&mut svg, (900, height)).into_drawing_area();
        let e = |e: DrawingAreaErrorKind<_>| PlotError::of(title, e);
        root.fill(&WHITE).map_err(e)?;
        let mut chart = titled(&root, title)
            .y_label_area_size(70)
            .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0f64..y_max)
            .map_err(e)?;
        let x_fmt = |v: &f64| {
            let i = v.round();
            if (v - i).abs() < 1e-6 && i >= 0.0 {
                categories.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        };
        let y_fmt = |v: &f64| fmt_num(*v);
        chart
            .configure_mesh()
            .light_line_style(RGBColor(235, 235, 235))
            .x_labels(n * 2 + 1)
            .x_label_formatter(&x_fmt)
            .y_desc(unit)
            .y_label_formatter(&y_fmt)
            .draw()
            .map_err(e)?;
        draw_lines(&mut chart, lines, SeriesLabelPosition::LowerLeft, title)?;
        root.present().map_err(e)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::plots::Shape;

    #[test]
    fn the_plot_is_an_svg_with_one_path_per_line() {
        let lines = vec![
            Line {
                label: "a".into(),
                points: vec![(1.0, 1.0), (2.0, 3.0)],
                shape: Shape::Joined,
            },
            Line {
                label: "b".into(),
                points: vec![(1.0, 2.0), (2.0, 2.0)],
                shape: Shape::Joined,
            },
        ];
        let spans = vec![Span {
            label: "partition".into(),
            kind: SpanKind::Fault,
            from: 1.2,
            to: 1.6,
        }];
        let svg = svg_plot("records/s", "records/s", &lines, &spans, &[], 3.0).unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("seconds since the test started"));
        assert!(svg.matches("<polyline").count() >= 2, "{svg}");
    }
}
