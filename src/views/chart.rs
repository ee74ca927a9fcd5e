//! A server-rendered SVG line chart of daily compliance scores: no script,
//! no inline styles (the CSP forbids both), colours from classes in
//! `app.css`. The y axis runs 0–100 % with the 95 and 80 bands drawn as
//! dashed guides; days without data leave a gap rather than a zero.

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
}

// The drawing's own coordinates; the SVG scales to its container's width
// and keeps this aspect ratio. 1000 units is about a full-width card, so
// text renders close to its nominal size.
const WIDTH: f64 = 1000.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 52.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 34.0;
const PLOT_W: f64 = WIDTH - LEFT - RIGHT;
const PLOT_H: f64 = HEIGHT - TOP - BOTTOM;
/// Most date labels on the x axis.
const MAX_X_LABELS: usize = 7;

fn y_of(score: f64) -> f64 {
    TOP + (100.0 - score.clamp(0.0, 100.0)) / 100.0 * PLOT_H
}

/// x of the `i`-th of `n` days: spread over the plot, one day in the middle.
fn x_of(i: usize, n: usize) -> f64 {
    if n <= 1 { LEFT + PLOT_W / 2.0 } else { LEFT + PLOT_W * i as f64 / (n - 1) as f64 }
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
            format!("{date}: {} · {} ({} checks)", score_text(Some(s)), colour.label(), p.checks)
        }
        None => format!("{date}: no data"),
    }
}

/// What the chart says, for screen readers.
fn description(points: &[Point]) -> String {
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
        }
        _ => out.push_str(" No data in this period."),
    }
    out
}

/// A line chart of daily scores. `id` must be unique on the page (it names
/// the title and description); `title` is the accessible name.
pub fn score_chart(id: &str, title: &str, points: &[Point]) -> Markup {
    let n = points.len();
    let runs = segments(points);
    let mut line = String::new();
    let mut area = String::new();
    for run in &runs {
        let coords: Vec<(f64, f64)> =
            run.iter().filter_map(|&i| points[i].score.map(|s| (x_of(i, n), y_of(s)))).collect();
        if coords.len() < 2 {
            continue;
        }
        for (k, (x, y)) in coords.iter().enumerate() {
            let _ = write!(line, "{}{x:.1},{y:.1} ", if k == 0 { "M" } else { "L" });
        }
        let base = TOP + PLOT_H;
        if let (Some((x0, _)), Some((xn, _))) = (coords.first(), coords.last()) {
            let _ = write!(area, "M{x0:.1},{base:.1} ");
            for (x, y) in &coords {
                let _ = write!(area, "L{x:.1},{y:.1} ");
            }
            let _ = write!(area, "L{xn:.1},{base:.1} Z ");
        }
    }
    let step = if n > 1 { PLOT_W / (n - 1) as f64 } else { PLOT_W };
    let has_data = !runs.is_empty();
    let title_id = format!("{id}-title");
    let desc_id = format!("{id}-desc");
    html! {
        div.chart.chart-line id=(id) {
            svg xmlns="http://www.w3.org/2000/svg" viewBox={ "0 0 " (WIDTH) " " (HEIGHT) }
                role="img" aria-labelledby={ (title_id) " " (desc_id) } {
                title id=(title_id) { (title) }
                desc id=(desc_id) { (description(points)) }
                g.chart-grid {
                    @for v in [0.0, 25.0, 50.0, 75.0, 100.0] {
                        line x1=(LEFT) x2=(LEFT + PLOT_W) y1=(y_of(v)) y2=(y_of(v)) {}
                        text.chart-axis x=(LEFT - 10.0) y=(y_of(v) + 4.0) text-anchor="end" { (v) "%" }
                    }
                }
                g.chart-thresholds {
                    line.chart-threshold.threshold-green x1=(LEFT) x2=(LEFT + PLOT_W) y1=(y_of(95.0)) y2=(y_of(95.0)) stroke-dasharray="6 5" {}
                    text.chart-threshold-label.score-green x=(LEFT + PLOT_W + 8.0) y=(y_of(95.0) + 4.0) { "95%" }
                    line.chart-threshold.threshold-amber x1=(LEFT) x2=(LEFT + PLOT_W) y1=(y_of(80.0)) y2=(y_of(80.0)) stroke-dasharray="6 5" {}
                    text.chart-threshold-label.score-amber x=(LEFT + PLOT_W + 8.0) y=(y_of(80.0) + 4.0) { "80%" }
                }
                g.chart-x {
                    @for i in label_indices(n) {
                        @let anchor = if n > 1 && i == 0 { "start" } else if n > 1 && i == n - 1 { "end" } else { "middle" };
                        text.chart-axis x=(format!("{:.1}", x_of(i, n))) y=(HEIGHT - 10.0) text-anchor=(anchor) {
                            (points[i].date.format("%b %-d"))
                        }
                    }
                }
                @if !has_data {
                    text.chart-empty x=(LEFT + PLOT_W / 2.0) y=(TOP + PLOT_H / 2.0) text-anchor="middle" { "No data in this period" }
                }
                path.chart-area d=(area.trim_end()) {}
                path.chart-line-path d=(line.trim_end()) fill="none" {}
                // One invisible column per day, so hovering anywhere above a
                // day shows its tooltip, not only over the small dot.
                g.chart-hits {
                    @for (i, p) in points.iter().enumerate() {
                        @let x = (x_of(i, n) - step / 2.0).max(LEFT - step / 2.0);
                        rect.chart-hit x=(format!("{x:.1}")) y=(TOP) width=(format!("{step:.1}")) height=(PLOT_H) {
                            title { (tooltip(p)) }
                        }
                    }
                }
                g.chart-points {
                    @for (i, p) in points.iter().enumerate() {
                        @if let Some(s) = p.score {
                            @let colour: Colour = score::colour(Some(s));
                            circle.chart-dot.(colour.css_class()) cx=(format!("{:.1}", x_of(i, n))) cy=(format!("{:.1}", y_of(s))) r="4" {
                                title { (tooltip(p)) }
                            }
                        }
                    }
                }
            }
        }
        div.chart-legend aria-hidden="true" {
            span.legend-item { span.legend-swatch.legend-line {} "Daily score" }
            span.legend-item { span.legend-swatch.legend-green {} "95% of checks pass" }
            span.legend-item { span.legend-swatch.legend-amber {} "80% at risk" }
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
            .map(|(i, &score)| Point { date: day(i as u32 + 1), score, checks: 10 })
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
    fn the_axis_runs_from_0_to_100_with_guides() {
        assert_eq!(y_of(100.0), TOP);
        assert_eq!(y_of(0.0), TOP + PLOT_H);
        let svg = score_chart("c", "Chart", &points(&[Some(50.0)])).into_string();
        assert!(svg.contains("<title id=\"c-title\">Chart</title>"), "{svg}");
        assert!(svg.contains("95%") && svg.contains("80%"));
        assert!(svg.contains("stroke-dasharray"));
    }

    #[test]
    fn an_empty_period_says_so() {
        let svg = score_chart("c", "Chart", &points(&[None, None])).into_string();
        assert!(svg.contains("No data in this period"), "{svg}");
        assert!(!svg.contains("<circle"));
    }

    #[test]
    fn date_labels_are_spread_evenly() {
        assert_eq!(label_indices(0), Vec::<usize>::new());
        assert_eq!(label_indices(1), vec![0]);
        assert_eq!(label_indices(3), vec![0, 1, 2]);
        assert_eq!(label_indices(30), vec![0, 5, 10, 15, 19, 24, 29]);
    }
}
