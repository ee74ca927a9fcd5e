//! A server-rendered SVG line chart of daily compliance scores: no script,
//! no inline styles (the CSP forbids both), colours from classes in
//! `app.css`. The y axis fits the data (from a round value below the
//! lowest score to 100 %), with the 95 and 80 % guides dashed when they are
//! in range; days on which a check failed are marked; days without data
//! leave a gap rather than a zero. The numbers are also a table.

use std::fmt::Write as _;

use chrono::NaiveDate;
use maud::{Markup, html};

use super::format::score_text;
use crate::evidence::score::{self, Colour};

/// One day of a score chart.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub date: NaiveDate,
    /// None: nothing was checked in the window ending that day.
    pub score: Option<f64>,
    /// Checks counted that day.
    pub checks: u64,
    /// Of them, checks that failed (the day is marked when any did).
    pub failed: u64,
}

// The drawing. Its height is fixed in CSS pixels (`.chart-svg`), its width
// is the card's: x is a percentage of it, so text and dots keep their size
// on every screen (a scaled drawing shrank its labels to 4 px on a phone).
// The line and the area are drawn in a nested SVG stretched to the width
// (`preserveAspectRatio="none"`, strokes that do not scale).
const HEIGHT: f64 = 240.0;
/// Top of the plot (room for the top value's label above its line).
const TOP: f64 = 18.0;
/// The plot's height; below it, the date labels.
const PLOT_H: f64 = 186.0;
/// Baseline of the date labels.
const X_LABELS_Y: f64 = HEIGHT - 8.0;
/// The plot's horizontal margins, in percent of the width.
const X_PAD: f64 = 2.5;
/// Most date labels on the x axis (phones show every other one).
const MAX_X_LABELS: usize = 7;

/// The y axis: from `lo` to 100 %, a guide every `step`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Axis {
    lo: f64,
    step: f64,
}

impl Axis {
    /// An axis that fits the scores: its bottom a round value below the
    /// lowest, with at most five steps, so a dip from 99 % to 97 % shows
    /// (on a 0–100 axis it was a pixel); 0–100 without data.
    fn fit(points: &[Point]) -> Axis {
        let low = points.iter().filter_map(|p| p.score).fold(f64::INFINITY, f64::min);
        if !low.is_finite() {
            return Axis { lo: 0.0, step: 25.0 };
        }
        // Some room below the lowest point, so it does not sit on the axis.
        let floor = (low - 0.5).max(0.0);
        for step in [1.0, 2.0, 5.0, 10.0, 20.0, 25.0] {
            let lo = (floor / step).floor() * step;
            if (100.0 - lo) / step <= 5.0 {
                return Axis { lo, step };
            }
        }
        Axis { lo: 0.0, step: 25.0 }
    }

    fn y(&self, score: f64) -> f64 {
        let share = (score.clamp(self.lo, 100.0) - self.lo) / (100.0 - self.lo);
        TOP + (1.0 - share) * PLOT_H
    }

    fn ticks(&self) -> Vec<f64> {
        let mut out = Vec::new();
        let mut v = self.lo;
        while v <= 100.0 + 1e-9 {
            out.push(v);
            v += self.step;
        }
        out
    }

    fn shows(&self, score: f64) -> bool {
        score >= self.lo
    }
}

/// x of the `i`-th of `n` days, in percent of the width.
fn x_of(i: usize, n: usize) -> f64 {
    let span = 100.0 - 2.0 * X_PAD;
    if n <= 1 { 50.0 } else { X_PAD + span * i as f64 / (n - 1) as f64 }
}

/// Runs of consecutive days with data, as indices.
fn segments(points: &[Point]) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut current = Vec::new();
    for (i, p) in points.iter().enumerate() {
        if p.score.is_some() {
            current.push(i);
        } else if !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Which days get a date label: evenly spread, first and last included.
fn label_indices(n: usize) -> Vec<usize> {
    match n {
        0 => Vec::new(),
        1 => vec![0],
        _ => {
            let count = n.min(MAX_X_LABELS);
            let mut out: Vec<usize> = (0..count)
                .map(|k| ((k * (n - 1)) as f64 / (count - 1) as f64).round() as usize)
                .collect();
            out.dedup();
            out
        }
    }
}

/// The words of a day's tooltip.
fn tooltip(p: &Point) -> String {
    let date = p.date.format("%a %b %-d, %Y");
    match p.score {
        Some(s) => {
            let colour = score::colour(Some(s));
            let failed = match p.failed {
                0 => String::new(),
                n => format!(", {n} failed"),
            };
            format!(
                "{date}: {} · {} ({} checks{failed})",
                score_text(Some(s)),
                colour.label(),
                p.checks
            )
        }
        None => format!("{date}: no data"),
    }
}

/// What the chart says, for screen readers.
fn description(points: &[Point], axis: &Axis) -> String {
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return "No days to show.".to_owned();
    };
    let mut out = format!("From {} to {}.", first.date, last.date);
    let scored: Vec<(NaiveDate, f64)> =
        points.iter().filter_map(|p| p.score.map(|s| (p.date, s))).collect();
    match (scored.last(), scored.iter().min_by(|a, b| a.1.total_cmp(&b.1))) {
        (Some(&(latest_day, latest)), Some(&(low_day, low))) => {
            let _ = write!(
                out,
                " Latest score {} on {latest_day}; lowest {} on {low_day}.",
                score_text(Some(latest)),
                score_text(Some(low))
            );
            let failing = points.iter().filter(|p| p.score.is_some() && p.failed > 0).count();
            let _ = write!(out, " Checks failed on {failing} of {} days with data.", scored.len());
            if axis.lo > 0.0 {
                let _ = write!(out, " The axis starts at {}%.", axis.lo);
            }
        }
        _ => out.push_str(" No data in this period."),
    }
    out
}

/// A line chart of daily scores. `id` must be unique on the page (it names
/// the title and description); `title` is the accessible name. Under it, a
/// legend and the numbers themselves as a table (behind "Show the numbers").
pub fn score_chart(id: &str, title: &str, points: &[Point]) -> Markup {
    let n = points.len();
    let axis = Axis::fit(points);
    let runs = segments(points);
    // The line and area, in the nested drawing: x 0–1000 across the width,
    // y in pixels from the plot's top.
    let ux = |i: usize| x_of(i, n) * 10.0;
    let uy = |s: f64| axis.y(s) - TOP;
    let mut line = String::new();
    let mut area = String::new();
    for run in &runs {
        let coords: Vec<(f64, f64)> =
            run.iter().filter_map(|&i| points[i].score.map(|s| (ux(i), uy(s)))).collect();
        if coords.len() < 2 {
            continue;
        }
        for (k, (x, y)) in coords.iter().enumerate() {
            let _ = write!(line, "{}{x:.1},{y:.1} ", if k == 0 { "M" } else { "L" });
        }
        if let (Some((x0, _)), Some((xn, _))) = (coords.first(), coords.last()) {
            let _ = write!(area, "M{x0:.1},{PLOT_H:.1} ");
            for (x, y) in &coords {
                let _ = write!(area, "L{x:.1},{y:.1} ");
            }
            let _ = write!(area, "L{xn:.1},{PLOT_H:.1} Z ");
        }
    }
    let step = if n > 1 { (100.0 - 2.0 * X_PAD) / (n - 1) as f64 } else { 100.0 - 2.0 * X_PAD };
    let has_data = !runs.is_empty();
    let title_id = format!("{id}-title");
    let desc_id = format!("{id}-desc");
    let guides =
        [(95.0, "threshold-green", "score-green"), (80.0, "threshold-amber", "score-amber")];
    let labels = label_indices(n);
    html! {
        div.chart.chart-line id=(id) {
            svg.chart-svg xmlns="http://www.w3.org/2000/svg" role="img"
                aria-labelledby={ (title_id) " " (desc_id) } {
                title id=(title_id) { (title) }
                desc id=(desc_id) { (description(points, &axis)) }
                svg x="0" y=(TOP) width="100%" height=(PLOT_H) viewBox={ "0 0 1000 " (PLOT_H) }
                    preserveAspectRatio="none" aria-hidden="true" {
                    g.chart-grid {
                        @for v in axis.ticks() {
                            line x1="0" x2="1000" y1=(format!("{:.1}", uy(v))) y2=(format!("{:.1}", uy(v))) vector-effect="non-scaling-stroke" {}
                        }
                    }
                    g.chart-thresholds {
                        @for (v, line_class, _) in guides {
                            @if axis.shows(v) && v < 100.0 {
                                line.chart-threshold.(line_class) x1="0" x2="1000" y1=(format!("{:.1}", uy(v))) y2=(format!("{:.1}", uy(v)))
                                    stroke-dasharray="6 5" vector-effect="non-scaling-stroke" {}
                            }
                        }
                    }
                    // Failure days: a red band under the plot.
                    g.chart-failures {
                        @for (i, p) in points.iter().enumerate() {
                            @if p.score.is_some() && p.failed > 0 {
                                @let w = (step * 10.0 * 0.7).clamp(2.0, 40.0);
                                rect.chart-fail-mark x=(format!("{:.1}", ux(i) - w / 2.0)) y=(format!("{:.1}", PLOT_H - 5.0)) width=(format!("{w:.1}")) height="5" {}
                            }
                        }
                    }
                    path.chart-area d=(area.trim_end()) {}
                    path.chart-line-path d=(line.trim_end()) fill="none" vector-effect="non-scaling-stroke" {}
                }
                g.chart-axis-labels {
                    @for v in axis.ticks() {
                        text.chart-axis x="2" y=(format!("{:.1}", axis.y(v) - 4.0)) { (v) "%" }
                    }
                    @for (v, _, text_class) in guides {
                        @if axis.shows(v) && v < 100.0 {
                            text.chart-threshold-label.(text_class) x="100%" y=(format!("{:.1}", axis.y(v) - 4.0)) text-anchor="end" { (v) "% guide" }
                        }
                    }
                }
                g.chart-x {
                    @for (k, i) in labels.iter().copied().enumerate() {
                        @let anchor = if n > 1 && i == 0 { "start" } else if n > 1 && i == n - 1 { "end" } else { "middle" };
                        // Phones show the first, the last and every other one.
                        @let minor = k % 2 == 1 && k + 1 != labels.len();
                        text.chart-axis.minor[minor] x=(format!("{:.2}%", x_of(i, n))) y=(X_LABELS_Y) text-anchor=(anchor) {
                            (points[i].date.format("%b %-d"))
                        }
                    }
                }
                @if !has_data {
                    text.chart-empty x="50%" y=(TOP + PLOT_H / 2.0) text-anchor="middle" { "No data in this period" }
                }
                // One invisible column per day, so hovering anywhere above a
                // day shows its tooltip, not only over the small dot.
                g.chart-hits {
                    @for (i, p) in points.iter().enumerate() {
                        @let x = (x_of(i, n) - step / 2.0).max(0.0);
                        rect.chart-hit x=(format!("{x:.2}%")) y=(TOP) width=(format!("{step:.2}%")) height=(PLOT_H) {
                            title { (tooltip(p)) }
                        }
                    }
                }
                g.chart-points {
                    @for (i, p) in points.iter().enumerate() {
                        @if let Some(s) = p.score {
                            @let colour: Colour = score::colour(Some(s));
                            circle.chart-dot.(colour.css_class()).chart-dot-failed[p.failed > 0]
                                cx=(format!("{:.2}%", x_of(i, n))) cy=(format!("{:.1}", axis.y(s))) r="4" {
                                title { (tooltip(p)) }
                            }
                        }
                    }
                }
            }
        }
        div.chart-legend aria-hidden="true" {
            span.legend-item { span.legend-swatch.legend-line {} "Daily score" }
            @if axis.shows(95.0) {
                span.legend-item { span.legend-swatch.legend-green {} "95% of checks pass" }
            }
            @if axis.shows(80.0) {
                span.legend-item { span.legend-swatch.legend-amber {} "80% at risk" }
            }
            @if points.iter().any(|p| p.score.is_some() && p.failed > 0) {
                span.legend-item { span.legend-swatch.legend-fail {} "A check failed that day" }
            }
            @if axis.lo > 0.0 {
                span.legend-item { "Axis from " (axis.lo) "%" }
            }
        }
        @if has_data {
            details.chart-numbers {
                summary { "Show the numbers" span.sr-only { ": " (title) } }
                div.table-wrap tabindex="0" role="region" aria-label={ (title) ", by day" } {
                    table.table {
                        thead { tr { th scope="col" { "Day" } th.num scope="col" { "Checks passing" } th.num scope="col" { "Checks" } th.num scope="col" { "Failed" } } }
                        tbody {
                            @for p in points.iter().rev() {
                                tr {
                                    td { (p.date.format("%a %b %-d, %Y")) }
                                    td.num { (score_text(p.score)) }
                                    td.num { (p.checks) }
                                    td.num { (p.failed) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
    }

    fn points(scores: &[Option<f64>]) -> Vec<Point> {
        scores
            .iter()
            .enumerate()
            .map(|(i, &score)| Point { date: day(i as u32 + 1), score, checks: 10, failed: 0 })
            .collect()
    }

    #[test]
    fn gaps_split_the_line() {
        let p = points(&[Some(90.0), Some(95.0), None, Some(80.0), None, Some(70.0), Some(60.0)]);
        assert_eq!(segments(&p), vec![vec![0, 1], vec![3], vec![5, 6]]);
        let svg = score_chart("c", "Chart", &p).into_string();
        // Two runs of two points draw two line pieces; the lone day is a dot.
        let line = svg.split("class=\"chart-line-path\" d=\"").nth(1).unwrap();
        let line = &line[..line.find('"').unwrap()];
        assert_eq!(line.matches('M').count(), 2, "{line}");
        assert_eq!(svg.matches("<circle").count(), 5);
        assert!(svg.contains("Mon Nov 2, 2026: 95% · Most checks pass (10 checks)"), "{svg}");
        assert!(svg.contains("Tue Nov 3, 2026: no data"), "{svg}");
    }

    #[test]
    fn the_axis_fits_the_scores() {
        let fit = |scores: &[Option<f64>]| Axis::fit(&points(scores));
        // 97–99 %: a 1 % grid from 96 %, so a 2-point dip is a third of
        // the plot, not two pixels.
        assert_eq!(fit(&[Some(97.2), Some(98.9), Some(99.0)]), Axis { lo: 96.0, step: 1.0 });
        assert_eq!(fit(&[Some(91.0), Some(100.0)]), Axis { lo: 90.0, step: 2.0 });
        assert_eq!(fit(&[Some(82.0)]), Axis { lo: 80.0, step: 5.0 });
        assert_eq!(fit(&[Some(50.0)]), Axis { lo: 40.0, step: 20.0 });
        assert_eq!(fit(&[Some(3.0)]), Axis { lo: 0.0, step: 20.0 });
        assert_eq!(fit(&[None]), Axis { lo: 0.0, step: 25.0 });
        let axis = Axis { lo: 96.0, step: 1.0 };
        assert_eq!(axis.ticks(), vec![96.0, 97.0, 98.0, 99.0, 100.0]);
        assert_eq!((axis.y(100.0), axis.y(96.0)), (TOP, TOP + PLOT_H));
        assert_eq!(axis.y(50.0), TOP + PLOT_H, "below the axis sits on it");
    }

    #[test]
    fn guides_are_drawn_only_in_range() {
        let svg = score_chart("c", "Chart", &points(&[Some(97.0), Some(99.0)])).into_string();
        assert!(svg.contains("<title id=\"c-title\">Chart</title>"), "{svg}");
        assert!(svg.contains(">96%<") && svg.contains(">100%<"), "{svg}");
        assert!(!svg.contains("80% guide") && !svg.contains("80% at risk"), "{svg}");
        assert!(svg.contains("The axis starts at 96%."), "{svg}");
        let svg = score_chart("c", "Chart", &points(&[Some(50.0)])).into_string();
        assert!(svg.contains("95% guide") && svg.contains("80% guide"), "{svg}");
        assert_eq!(svg.matches("stroke-dasharray").count(), 2);
    }

    #[test]
    fn failure_days_are_marked_and_counted() {
        let mut p = points(&[Some(99.0), Some(97.0), Some(98.0)]);
        p[1].failed = 2;
        let svg = score_chart("c", "Chart", &p).into_string();
        assert_eq!(svg.matches("class=\"chart-fail-mark\"").count(), 1, "{svg}");
        assert_eq!(svg.matches("chart-dot-failed").count(), 1, "{svg}");
        assert!(svg.contains("Checks failed on 1 of 3 days with data."), "{svg}");
        assert!(svg.contains("(10 checks, 2 failed)"), "{svg}");
        assert!(svg.contains("A check failed that day"));
        // The numbers as a table, newest first.
        let table = svg.split("<tbody>").nth(1).unwrap();
        assert!(
            table.starts_with("<tr><td>Tue Nov 3, 2026</td><td class=\"num\">98%</td>"),
            "{table}"
        );
    }

    #[test]
    fn an_empty_period_says_so() {
        let svg = score_chart("c", "Chart", &points(&[None, None])).into_string();
        assert!(svg.contains("No data in this period"), "{svg}");
        assert!(!svg.contains("<circle"));
        assert!(!svg.contains("Show the numbers"));
    }

    #[test]
    fn date_labels_are_spread_evenly() {
        assert_eq!(label_indices(0), Vec::<usize>::new());
        assert_eq!(label_indices(1), vec![0]);
        assert_eq!(label_indices(3), vec![0, 1, 2]);
        assert_eq!(label_indices(30), vec![0, 5, 10, 15, 19, 24, 29]);
    }
}
