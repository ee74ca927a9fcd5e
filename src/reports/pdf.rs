//! The monthly report as a PDF (printpdf, the built-in Helvetica and
//! Courier fonts, A4). Tables break across pages with their header
//! repeated; every page has a running footer with its number.
//!
//! Deterministic: the same [`ReportData`] gives the same bytes. Nothing
//! reads the clock; the document dates are printpdf's fixed epoch; and the
//! trailer `/ID` (which printpdf fills from a process-wide counter) is
//! replaced by one derived from the document's own bytes.

use printpdf::{
    BuiltinFont, Color, Line, LinePoint, Mm, Op, PaintMode, PdfDocument, PdfFontHandle, PdfPage,
    PdfSaveOptions, Point, Pt, Rect, Rgb, TextItem,
};
use sha2::{Digest, Sha256};

use super::data::{ControlRow, ControlStatus, FailingRow, ReportData, SiteRow};
use crate::evidence::bundle::CheckStatus;
use crate::evidence::controls::{check_label, control_name};
use crate::evidence::remediation::remediation;
use crate::evidence::score::{self, Colour};
use crate::views::format::DIRECT;

const PAGE_W: f32 = 595.28;
const PAGE_H: f32 = 841.89;
const LEFT: f32 = 48.0;
const RIGHT: f32 = PAGE_W - 48.0;
const CONTENT_W: f32 = RIGHT - LEFT;
const TOP: f32 = PAGE_H - 52.0;
/// Content stops here; the footer sits below.
const BOTTOM: f32 = 60.0;
const ROW_H: f32 = 16.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Font {
    Regular,
    Bold,
    Mono,
}

impl Font {
    fn builtin(self) -> BuiltinFont {
        match self {
            Font::Regular => BuiltinFont::Helvetica,
            Font::Bold => BuiltinFont::HelveticaBold,
            Font::Mono => BuiltinFont::Courier,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Ink(f32, f32, f32);

const TEXT: Ink = Ink(0.106, 0.145, 0.188);
const MUTED: Ink = Ink(0.42, 0.467, 0.522);
const BRAND: Ink = Ink(0.059, 0.369, 0.431);
const RULE: Ink = Ink(0.89, 0.906, 0.925);
const HEADER_BG: Ink = Ink(0.933, 0.945, 0.957);
const WHITE: Ink = Ink(1.0, 1.0, 1.0);
const GREEN: Ink = Ink(0.082, 0.502, 0.239);
const AMBER: Ink = Ink(0.706, 0.325, 0.035);
const RED: Ink = Ink(0.725, 0.11, 0.11);
const GRAY: Ink = Ink(0.357, 0.4, 0.451);

fn colour_ink(c: Colour) -> Ink {
    match c {
        Colour::Green => GREEN,
        Colour::Amber => AMBER,
        Colour::Red => RED,
        Colour::NoData => GRAY,
    }
}

fn color(ink: Ink) -> Color {
    Color::Rgb(Rgb { r: ink.0, g: ink.1, b: ink.2, icc_profile: None })
}

/// Helvetica advance widths (1/1000 em) for ' '..='~' (Adobe's AFM).
const HELVETICA: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556,
    556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667,
    611, 778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667,
    667, 611, 278, 278, 278, 469, 556, 333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500,
    222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
];

/// Helvetica-Bold advance widths for ' '..='~'.
const HELVETICA_BOLD: [u16; 95] = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556,
    556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611, 975, 722, 722, 722, 722, 667,
    611, 778, 722, 278, 556, 722, 611, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667,
    667, 611, 333, 278, 333, 584, 556, 333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556,
    278, 889, 611, 611, 611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584,
];

fn char_width(font: Font, c: char) -> u16 {
    let table = match font {
        Font::Mono => return 600,
        Font::Regular => &HELVETICA,
        Font::Bold => &HELVETICA_BOLD,
    };
    match c {
        ' '..='~' => table[c as usize - 32],
        // Latin-1 letters and typographic signs: close enough for layout.
        _ => 556,
    }
}

/// Width of `s` in points.
fn width(s: &str, font: Font, size: f32) -> f32 {
    s.chars().map(|c| f32::from(char_width(font, c))).sum::<f32>() * size / 1000.0
}

/// Text the built-in fonts can show: control characters become spaces
/// (printpdf turns characters outside WinAnsi into `?`).
fn clean(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// `s` cut to `max` points, ending in "..." when cut.
fn fit(s: &str, font: Font, size: f32, max: f32) -> String {
    let s = clean(s);
    if width(&s, font, size) <= max {
        return s;
    }
    let ellipsis = width("...", font, size);
    let mut out = String::new();
    let mut w = 0.0;
    for c in s.chars() {
        let cw = f32::from(char_width(font, c)) * size / 1000.0;
        if w + cw + ellipsis > max {
            break;
        }
        w += cw;
        out.push(c);
    }
    out.truncate(out.trim_end().len());
    out.push_str("...");
    out
}

/// `s` in lines of at most `max` points, broken at spaces (a word longer
/// than a line is cut into pieces).
fn wrap(s: &str, font: Font, size: f32, max: f32) -> Vec<String> {
    let s = clean(s);
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in s.split(' ').filter(|w| !w.is_empty()) {
        let candidate = if line.is_empty() { word.to_owned() } else { format!("{line} {word}") };
        if width(&candidate, font, size) <= max {
            line = candidate;
            continue;
        }
        if !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        let mut piece = String::new();
        for c in word.chars() {
            piece.push(c);
            if width(&piece, font, size) > max {
                piece.pop();
                lines.push(std::mem::take(&mut piece));
                piece.push(c);
            }
        }
        line = piece;
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Align {
    Left,
    Right,
}

struct Col {
    title: &'static str,
    width: f32,
    align: Align,
}

const fn col(title: &'static str, width: f32, align: Align) -> Col {
    Col { title, width, align }
}

struct Cell {
    text: String,
    font: Font,
    ink: Ink,
}

/// A table cell's font size.
fn cell_size(cell: &Cell) -> f32 {
    if cell.font == Font::Mono { 7.5 } else { 8.5 }
}

fn cell(text: impl Into<String>) -> Cell {
    Cell { text: text.into(), font: Font::Regular, ink: TEXT }
}

fn cell_with(text: impl Into<String>, font: Font, ink: Ink) -> Cell {
    Cell { text: text.into(), font, ink }
}

/// Pages being laid out top to bottom.
struct Writer {
    pages: Vec<Vec<Op>>,
    ops: Vec<Op>,
    y: f32,
    running_title: String,
}

impl Writer {
    fn new(running_title: String) -> Writer {
        Writer { pages: Vec::new(), ops: Vec::new(), y: TOP, running_title }
    }

    fn text(&mut self, x: f32, y: f32, font: Font, size: f32, ink: Ink, s: &str) {
        self.ops.extend([
            Op::StartTextSection,
            Op::SetFillColor { col: color(ink) },
            Op::SetFont { font: PdfFontHandle::Builtin(font.builtin()), size: Pt(size) },
            Op::SetTextCursor { pos: Point { x: Pt(x), y: Pt(y) } },
            Op::ShowText { items: vec![TextItem::Text(clean(s))] },
            Op::EndTextSection,
        ]);
    }

    fn text_right(&mut self, right: f32, y: f32, font: Font, size: f32, ink: Ink, s: &str) {
        let x = right - width(&clean(s), font, size);
        self.text(x, y, font, size, ink, s);
    }

    fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, ink: Ink) {
        self.ops.extend([
            Op::SetFillColor { col: color(ink) },
            Op::DrawRectangle {
                rectangle: Rect {
                    x: Pt(x),
                    y: Pt(y),
                    width: Pt(w),
                    height: Pt(h),
                    mode: Some(PaintMode::Fill),
                    winding_order: None,
                },
            },
        ]);
    }

    fn hline(&mut self, x1: f32, x2: f32, y: f32, ink: Ink, thickness: f32) {
        let p = |x: f32| LinePoint { p: Point { x: Pt(x), y: Pt(y) }, bezier: false };
        self.ops.extend([
            Op::SetOutlineColor { col: color(ink) },
            Op::SetOutlineThickness { pt: Pt(thickness) },
            Op::DrawLine { line: Line { points: vec![p(x1), p(x2)], is_closed: false } },
        ]);
    }

    fn new_page(&mut self) {
        self.pages.push(std::mem::take(&mut self.ops));
        self.y = TOP;
        let title = self.running_title.clone();
        self.text(LEFT, self.y, Font::Regular, 8.0, MUTED, &title);
        self.hline(LEFT, RIGHT, self.y - 6.0, RULE, 0.75);
        self.y -= 26.0;
    }

    /// Starts a new page unless `h` points still fit; true when it did.
    fn ensure(&mut self, h: f32) -> bool {
        if self.y - h < BOTTOM {
            self.new_page();
            true
        } else {
            false
        }
    }

    fn gap(&mut self, h: f32) {
        self.y -= h;
    }

    /// A section title; keeps at least a few rows with it.
    fn heading(&mut self, title: &str) {
        self.ensure(40.0 + 3.0 * ROW_H);
        self.gap(16.0);
        self.text(LEFT, self.y - 13.0, Font::Bold, 13.0, BRAND, title);
        self.y -= 22.0;
    }

    fn paragraph(&mut self, s: &str, font: Font, size: f32, ink: Ink) {
        let lh = size * 1.35;
        for line in wrap(s, font, size, CONTENT_W) {
            self.ensure(lh);
            self.text(LEFT, self.y - size, font, size, ink, &line);
            self.y -= lh;
        }
    }

    fn table_header(&mut self, cols: &[Col]) {
        self.rect(LEFT, self.y - ROW_H, CONTENT_W, ROW_H, HEADER_BG);
        let mut x = LEFT;
        for c in cols {
            let title = fit(c.title, Font::Bold, 8.0, c.width - 8.0);
            match c.align {
                Align::Left => self.text(x + 4.0, self.y - 11.0, Font::Bold, 8.0, GRAY, &title),
                Align::Right => {
                    self.text_right(x + c.width - 4.0, self.y - 11.0, Font::Bold, 8.0, GRAY, &title)
                }
            }
            x += c.width;
        }
        self.y -= ROW_H;
    }

    /// A table; rows that do not fit go to the next page under a repeated
    /// header. A cell's text wraps onto more lines (never cut off), and the
    /// row grows to its tallest cell.
    fn table(&mut self, cols: &[Col], rows: &[Vec<Cell>]) {
        const LINE_H: f32 = 10.5;
        self.ensure(2.0 * ROW_H);
        self.table_header(cols);
        for row in rows {
            let lines: Vec<Vec<String>> = cols
                .iter()
                .zip(row)
                .map(|(c, cell)| wrap(&cell.text, cell.font, cell_size(cell), c.width - 8.0))
                .collect();
            let most = lines.iter().map(Vec::len).max().unwrap_or(1).max(1);
            let row_h = ROW_H + (most - 1) as f32 * LINE_H;
            if self.ensure(row_h) {
                self.table_header(cols);
            }
            let mut x = LEFT;
            for ((c, cell), text) in cols.iter().zip(row).zip(&lines) {
                let size = cell_size(cell);
                for (k, line) in text.iter().enumerate() {
                    let y = self.y - 11.0 - k as f32 * LINE_H;
                    match c.align {
                        Align::Left => self.text(x + 4.0, y, cell.font, size, cell.ink, line),
                        Align::Right => {
                            self.text_right(x + c.width - 4.0, y, cell.font, size, cell.ink, line)
                        }
                    }
                }
                x += c.width;
            }
            self.y -= row_h;
            self.hline(LEFT, RIGHT, self.y, RULE, 0.5);
        }
    }

    /// Finishes the pages: footer with "Page i of n" on each.
    fn finish(mut self, footer: &str) -> Vec<Vec<Op>> {
        self.pages.push(std::mem::take(&mut self.ops));
        let n = self.pages.len();
        let mut pages = std::mem::take(&mut self.pages);
        for (i, page) in pages.iter_mut().enumerate() {
            let mut w = Writer::new(String::new());
            w.hline(LEFT, RIGHT, 44.0, RULE, 0.75);
            w.text(LEFT, 32.0, Font::Regular, 8.0, MUTED, &fit(footer, Font::Regular, 8.0, 380.0));
            w.text_right(RIGHT, 32.0, Font::Regular, 8.0, MUTED, &format!("Page {} of {n}", i + 1));
            page.extend(w.ops);
        }
        pages
    }
}

/// A score as printed: `92.5%`, `100%`, or `No data` (the band's words).
fn score_text(s: Option<f64>) -> String {
    score::text(s, Colour::NoData.label())
}

/// `1,234`.
fn thousands(n: i128) -> String {
    crate::views::format::thousands(n)
}

fn plural(n: i128, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

fn day(t: chrono::DateTime<chrono::Utc>) -> String {
    local(t).format("%Y-%m-%d").to_string()
}

/// `t` in the practice's zone (the report renders in it).
fn local(t: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<crate::zone::Tz> {
    crate::zone::local(t)
}

/// `to_date` in a month-to-date report, `at_end` in a finished month's.
fn by_period<'a>(data: &ReportData, to_date: &'a str, at_end: &'a str) -> &'a str {
    if data.month_to_date { to_date } else { at_end }
}

/// The report as PDF bytes.
pub fn render(data: &ReportData) -> Vec<u8> {
    crate::zone::sync_scope_with(data.zone, || document(data, layout(data)))
}

/// The report's pages: the sections top to bottom, then the footer on each.
fn layout(data: &ReportData) -> Vec<Vec<Op>> {
    let mut w = Writer::new(format!(
        "{} - Monthly HIPAA compliance report - {}",
        clean(&data.practice),
        data.month.label()
    ));
    masthead(&mut w);
    practice_and_partner(&mut w, data);
    overall_score(&mut w, data);
    to_do(&mut w, data);
    incidents(&mut w, data);
    sites(&mut w, data);
    controls(&mut w, data);
    failing_checks(&mut w, data);
    notifications(&mut w, data);
    chain_heads(&mut w, data);
    how_to_verify(&mut w);
    log_checkpoint(&mut w, data);
    let footer = format!("OsirisCare - {} - {}", clean(&data.practice), data.month.label());
    w.finish(&footer)
}

/// The brand line over a rule, at the top of the first page (the later
/// pages have the running title instead).
fn masthead(w: &mut Writer) {
    w.text(LEFT, w.y - 10.0, Font::Bold, 10.0, BRAND, "OsirisCare");
    w.text_right(RIGHT, w.y - 10.0, Font::Regular, 9.0, MUTED, "Monthly HIPAA compliance report");
    w.gap(20.0);
    w.hline(LEFT, RIGHT, w.y, BRAND, 1.5);
    w.gap(30.0);
}

/// The practice's name as the title, then the practice, its partner and
/// the month, labelled.
fn practice_and_partner(w: &mut Writer, data: &ReportData) {
    let month = data.month;
    w.text(LEFT, w.y, Font::Bold, 20.0, TEXT, &fit(&data.practice, Font::Bold, 20.0, CONTENT_W));
    w.gap(22.0);
    let mut when = format!(
        "{} ({} to {}, UTC)",
        month.label(),
        month.first_day().format("%Y-%m-%d"),
        month.last_day().format("%Y-%m-%d")
    );
    if data.month_to_date {
        when.push_str(" - month to date");
    }
    let zone = crate::zone::current();
    let times = match zone {
        crate::zone::Tz::UTC => "UTC".to_owned(),
        tz => format!(
            "{} ({}); the month itself runs in UTC",
            tz.name(),
            local(data.as_of).format("%Z")
        ),
    };
    for (k, v) in [
        ("Practice", data.practice.as_str()),
        ("Partner", &data.partner),
        ("Month", &when),
        ("Times", &times),
    ] {
        w.text(LEFT, w.y, Font::Bold, 9.5, GRAY, k);
        let v = fit(v, Font::Regular, 9.5, CONTENT_W - 70.0);
        w.text(LEFT + 70.0, w.y, Font::Regular, 9.5, TEXT, &v);
        w.gap(14.0);
    }
    w.gap(8.0);
}

/// "month to date" or "month end": what the score is as of.
fn period_word(data: &ReportData) -> &'static str {
    by_period(data, "month to date", "month end")
}

/// The overall score in a box coloured by its band, the month's figures
/// beside it, and how the score is counted below.
fn overall_score(w: &mut Writer, data: &ReportData) {
    const BOX_W: f32 = 150.0;
    const BOX_H: f32 = 74.0;
    let top = w.y;
    score_box(w, &data.figures().controls(), top, BOX_W, BOX_H);
    let x = LEFT + BOX_W + 18.0;
    let mut y = top - 14.0;
    for (font, size, ink, s) in &score_figures(data) {
        w.text(x, y, *font, *size, *ink, &fit(s, *font, *size, RIGHT - x));
        y -= 15.0;
    }
    // The figures were placed by hand beside the box: the cursor goes on
    // below the box.
    w.y = top - BOX_H - 14.0;
    w.paragraph(
        &format!(
            "A HIPAA control (safeguard) is met when every check mapped to it passed, fails when any of them \
             failed, and is at risk when some raised warnings and none failed; the practice is compliant only \
             when every control is met. \"Checks passing\" is a secondary figure: the latest result of each \
             check on each host at each site as of the {}, among the checks run during the month, passed \
             divided by all results, to one decimal (warnings and errors count in the total but not as \
             passed). A high share can hide a failing control.",
            period_word(data)
        ),
        Font::Regular,
        8.0,
        MUTED,
    );
}

/// A `box_w` by `box_h` box at the left margin hanging from `top`, in the
/// colour of where the HIPAA controls stand, with "N of M" safeguards met
/// and the standing's name centred in white.
fn score_box(w: &mut Writer, controls: &score::Controls, top: f32, box_w: f32, box_h: f32) {
    let standing = controls.standing();
    w.rect(LEFT, top - box_h, box_w, box_h, colour_ink(standing.colour()));
    let big = if controls.total() == 0 {
        "No data".to_owned()
    } else {
        format!("{} of {}", controls.passed, controls.total())
    };
    let big_size = if controls.total() > 0 { 24.0 } else { 20.0 };
    let big_x = LEFT + (box_w - width(&big, Font::Bold, big_size)) / 2.0;
    w.text(big_x, top - 38.0, Font::Bold, big_size, WHITE, &big);
    let label = standing.label();
    let label_x = LEFT + (box_w - width(label, Font::Bold, 10.0)) / 2.0;
    w.text(label_x, top - 58.0, Font::Bold, 10.0, WHITE, label);
}

/// The lines beside the score box, each with its font, size and ink.
fn score_figures(data: &ReportData) -> [(Font, f32, Ink, String); 5] {
    let t = data.total;
    let figures = data.figures();
    [
        (
            Font::Bold,
            11.0,
            TEXT,
            format!("{} ({})", figures.controls().headline(), period_word(data)),
        ),
        (
            Font::Regular,
            9.0,
            TEXT,
            format!(
                "Checks passing: {} ({}: {} passed, {} failed, {} with warnings)",
                score_text(data.overall_score()),
                plural(i128::from(t.total()), "check", "checks"),
                thousands(i128::from(t.passed)),
                thousands(i128::from(t.failed)),
                thousands(i128::from(t.warnings))
            ),
        ),
        (
            Font::Regular,
            9.0,
            TEXT,
            format!(
                "HIPAA controls: {} passed, {} failed, {} at risk, of {}",
                figures.controls_passed,
                figures.controls_failed,
                figures.at_risk(),
                figures.controls_total
            ),
        ),
        (
            Font::Regular,
            9.0,
            TEXT,
            format!(
                "{} checked this month, from {}",
                plural(i128::from(data.evidence_count), "evidence bundle", "evidence bundles"),
                plural(i128::from(figures.sites_count), "site", "sites")
            ),
        ),
        incident_line(data),
    ]
}

/// The month's failures in one line beside the headline, so a month whose
/// failures recovered never reads as a clean one.
fn incident_line(data: &ReportData) -> (Font, f32, Ink, String) {
    let counts = data.incident_counts();
    if counts.failures == 0 {
        let clean = by_period(
            data,
            "No check has failed so far this month.",
            "No check failed at any time this month.",
        );
        return (Font::Regular, 9.0, TEXT, clean.to_owned());
    }
    (
        Font::Bold,
        9.0,
        RED,
        format!(
            "Incidents: {}, {} recovered, {} {}",
            plural(i128::from(counts.failures), "failure", "failures"),
            thousands(i128::from(counts.recovered())),
            thousands(i128::from(counts.open)),
            by_period(data, "still failing", "open at month end")
        ),
    )
}

const SITE_COLS: [Col; 6] = [
    col("Site", 199.0, Align::Left),
    col("Score", 70.0, Align::Right),
    col("Passed", 55.0, Align::Right),
    col("Failed", 55.0, Align::Right),
    col("Warnings", 60.0, Align::Right),
    col("Evidence", 60.28, Align::Right),
];

/// Each site's score and counts, with a note when a site sent nothing.
fn sites(w: &mut Writer, data: &ReportData) {
    w.heading("Sites");
    let rows: Vec<Vec<Cell>> = data
        .sites
        .iter()
        .map(|s| {
            let sc = s.score();
            vec![
                cell(&s.name),
                cell_with(score_text(sc), Font::Bold, colour_ink(score::colour(sc))),
                cell(thousands(i128::from(s.tally.passed))),
                cell(thousands(i128::from(s.tally.failed))),
                cell(thousands(i128::from(s.tally.warnings))),
                cell(thousands(i128::from(s.evidence_count))),
            ]
        })
        .collect();
    w.table(&SITE_COLS, &rows);
    if data.sites.iter().any(|s| s.evidence_count == 0) {
        w.gap(4.0);
        w.paragraph(
            "Sites with no evidence this month sent none: their score is \"No data\", not 0 or 100.",
            Font::Regular,
            8.0,
            MUTED,
        );
    }
}

const CONTROL_COLS: [Col; 6] = [
    col("Control", 110.0, Align::Left),
    col("Name", 165.0, Align::Left),
    col("Passed", 50.0, Align::Right),
    col("Failed", 50.0, Align::Right),
    col("Warnings", 55.0, Align::Right),
    col("Status", 69.28, Align::Right),
];

/// Each HIPAA control's counts and status, then a row for the checks that
/// name no control.
fn controls(w: &mut Writer, data: &ReportData) {
    w.heading("HIPAA controls");
    if data.controls.is_empty() {
        w.paragraph(
            "No check this month named a HIPAA control; their results count in the score only.",
            Font::Regular,
            9.0,
            TEXT,
        );
        return;
    }
    let mut rows: Vec<Vec<Cell>> = data.controls.iter().map(control_row).collect();
    if data.unmapped.total() > 0 {
        let u = data.unmapped;
        rows.push(vec![
            cell_with("(no control)", Font::Regular, MUTED),
            cell_with("Checks that name no control", Font::Regular, MUTED),
            cell(thousands(i128::from(u.passed))),
            cell(thousands(i128::from(u.failed))),
            cell(thousands(i128::from(u.warnings))),
            cell_with("Score only", Font::Regular, MUTED),
        ]);
    }
    w.table(&CONTROL_COLS, &rows);
}

/// A control's row, its status in the status's colour.
fn control_row(c: &ControlRow) -> Vec<Cell> {
    let status = c.status();
    let ink = match status {
        ControlStatus::Passed => GREEN,
        ControlStatus::AtRisk => AMBER,
        ControlStatus::Failed => RED,
    };
    vec![
        cell(&c.control),
        cell(crate::evidence::controls::control_name(&c.control).unwrap_or("")),
        cell(thousands(i128::from(c.tally.passed))),
        cell(thousands(i128::from(c.tally.failed))),
        cell(thousands(i128::from(c.tally.warnings))),
        cell_with(status.label(), Font::Bold, ink),
    ]
}

/// Failing checks described in full under "To do"; the table after the
/// controls lists them all.
const TODO_IN_FULL: usize = 10;

/// What to fix first: the longest-failing checks at the month's end, each
/// with how to fix it and who usually does.
fn to_do(w: &mut Writer, data: &ReportData) {
    let mut oldest: Vec<&FailingRow> = data.failing.iter().collect();
    oldest
        .sort_by(|a, b| (a.since, &a.site, &a.check_type).cmp(&(b.since, &b.site, &b.check_type)));
    let items: Vec<ToDoText> =
        oldest.iter().take(TODO_IN_FULL).enumerate().map(|(i, f)| to_do_text(data, i, f)).collect();
    // The heading keeps its first item with it (an item is never split).
    if let Some(first) = items.first() {
        w.ensure(60.0 + first.height());
    }
    w.heading(by_period(data, "To do", "To do at month end"));
    if items.is_empty() {
        let none = by_period(
            data,
            "Nothing: no check is failing so far this month.",
            "Nothing: no check was failing at the end of the month.",
        );
        w.paragraph(none, Font::Regular, 9.0, TEXT);
        return;
    }
    for item in &items {
        // Keep an item together on one page.
        w.ensure(item.height());
        w.paragraph(&item.title, Font::Bold, 10.0, RED);
        w.paragraph(&item.meta, Font::Regular, 8.5, MUTED);
        w.paragraph(&item.fix, Font::Regular, 9.0, TEXT);
        w.paragraph(&item.who, Font::Regular, 8.5, MUTED);
        w.gap(8.0);
    }
    if data.failing.len() > TODO_IN_FULL {
        w.paragraph(
            &format!(
                "... and {} more failing checks, listed under \"{}\" below.",
                thousands((data.failing.len() - TODO_IN_FULL) as i128),
                by_period(data, "Failing checks so far", "Failing checks at month end")
            ),
            Font::Regular,
            9.0,
            TEXT,
        );
    }
}

/// The lines of one to-do item.
struct ToDoText {
    title: String,
    meta: String,
    fix: String,
    who: String,
}

impl ToDoText {
    /// Its height on the page: title, facts, fix, who fixes it and a gap.
    fn height(&self) -> f32 {
        let lines = |s: &str, font: Font, size: f32| wrap(s, font, size, CONTENT_W).len() as f32;
        lines(&self.title, Font::Bold, 10.0) * 13.5
            + lines(&self.meta, Font::Regular, 8.5) * 11.5
            + lines(&self.fix, Font::Regular, 9.0) * 12.2
            + 11.5
            + 8.0
    }
}

/// The `i`-th to-do item, for the failing check `f`.
fn to_do_text(data: &ReportData, i: usize, f: &FailingRow) -> ToDoText {
    let r = remediation(&f.check_type);
    let until = if data.month_to_date { data.as_of } else { data.month.end() };
    let days = (until - f.since).num_days().max(0);
    let mut meta = format!(
        "Failing for {} {} (since {}) - check {}",
        plural(i128::from(days), "day", "days"),
        by_period(data, "so far", "at month end"),
        day(f.since),
        f.check_type
    );
    if let Some(c) = &f.control {
        meta.push_str(&format!(" - HIPAA {c}"));
        if let Some(name) = control_name(c) {
            meta.push_str(&format!(" {name}"));
        }
    }
    let partner = (data.partner != DIRECT).then_some(data.partner.as_str());
    ToDoText {
        title: format!(
            "{}. {}",
            i + 1,
            r.problem(&f.check_type, CheckStatus::Fail, &f.host, &f.site)
        ),
        meta,
        fix: format!("How to fix: {}", r.fix),
        who: r.fixed_by.usually(partner),
    }
}

const FAILING_COLS: [Col; 5] = [
    col("Site", 120.0, Align::Left),
    col("Host", 95.0, Align::Left),
    col("Check", 120.0, Align::Left),
    col("HIPAA control", 85.0, Align::Left),
    col("Failing since", 79.28, Align::Right),
];

/// The checks failing at the month's end (or so far), with when each
/// started failing.
fn failing_checks(w: &mut Writer, data: &ReportData) {
    w.heading(by_period(data, "Failing checks so far", "Failing checks at month end"));
    if data.failing.is_empty() {
        let none = by_period(
            data,
            "No check is failing so far this month.",
            "No check was failing at the end of the month.",
        );
        w.paragraph(none, Font::Regular, 9.0, TEXT);
        return;
    }
    let rows: Vec<Vec<Cell>> = data
        .failing
        .iter()
        .map(|f| {
            vec![
                cell(&f.site),
                cell_with(&f.host, Font::Mono, TEXT),
                cell_with(&f.check_type, Font::Mono, TEXT),
                cell(f.control.as_deref().unwrap_or("-")),
                cell_with(day(f.since), Font::Regular, RED),
            ]
        })
        .collect();
    w.table(&FAILING_COLS, &rows);
}

const NOTIFICATION_COLS: [Col; 5] = [
    col("Site", 110.0, Align::Left),
    col("Severity", 52.0, Align::Left),
    col("Notification", 212.28, Align::Left),
    col("Count", 40.0, Align::Right),
    col("First - last", 85.0, Align::Right),
];

/// The month's notifications collapsed per site, severity and title (a
/// flapping check is one line with its count), and how many more.
fn notifications(w: &mut Writer, data: &ReportData) {
    w.heading("Notifications this month");
    if data.notifications.is_empty() {
        w.paragraph("No notifications this month.", Font::Regular, 9.0, TEXT);
        return;
    }
    w.paragraph(
        &format!(
            "{} in all, collapsed into {}: the same notification about the same site is one line.",
            plural(i128::from(data.notifications_total), "notification", "notifications"),
            plural(i128::from(data.notification_groups), "line", "lines"),
        ),
        Font::Regular,
        8.5,
        MUTED,
    );
    w.gap(4.0);
    let rows: Vec<Vec<Cell>> = data
        .notifications
        .iter()
        .map(|n| {
            let ink = match n.severity.as_str() {
                "critical" => RED,
                "warning" => AMBER,
                _ => TEXT,
            };
            let span = if n.first_at.date_naive() == n.last_at.date_naive() {
                local(n.first_at).format("%b %-d").to_string()
            } else {
                format!(
                    "{} - {}",
                    local(n.first_at).format("%b %-d"),
                    local(n.last_at).format("%b %-d")
                )
            };
            vec![
                cell(n.site.as_deref().unwrap_or("(practice)")),
                cell_with(&n.severity, Font::Regular, ink),
                cell(&n.title),
                cell(thousands(i128::from(n.count))),
                cell(span),
            ]
        })
        .collect();
    w.table(&NOTIFICATION_COLS, &rows);
    let more = data.notification_groups - data.notifications.len() as i64;
    if more > 0 {
        w.gap(6.0);
        w.paragraph(
            &format!(
                "... and {} more lines (the {} most severe and frequent shown). All notifications are in the portal under Notifications.",
                thousands(i128::from(more)),
                data.notifications.len()
            ),
            Font::Regular,
            8.5,
            MUTED,
        );
    }
}

const INCIDENT_COLS: [Col; 7] = [
    col("Site", 80.0, Align::Left),
    col("Host", 72.0, Align::Left),
    col("Check", 92.0, Align::Left),
    col("HIPAA control", 84.0, Align::Left),
    col("Failed", 38.0, Align::Right),
    col("From - to", 88.0, Align::Left),
    col("Failing", 45.28, Align::Right),
];

/// A span of time in words: "45 min", "26 h", "3 days".
fn duration(d: chrono::TimeDelta) -> String {
    let minutes = d.num_minutes().max(0);
    match minutes {
        m if m < 120 => format!("{m} min"),
        m if m < 48 * 60 => format!("{} h", m / 60),
        m => plural(i128::from(m / (24 * 60)), "day", "days"),
    }
}

/// Every check on a host that failed at any time in the month, recovered
/// or not, one row each however often it failed, and the evidence that
/// arrived after the month ended: a month whose failures recovered never
/// reads as a clean one.
fn incidents(w: &mut Writer, data: &ReportData) {
    w.heading(by_period(data, "Incidents so far this month", "Incidents this month"));
    let counts = data.incident_counts();
    if data.incidents.is_empty() {
        w.paragraph(
            by_period(
                data,
                "No check has failed at any time so far this month.",
                "No check failed at any time this month.",
            ),
            Font::Regular,
            9.0,
            TEXT,
        );
    } else {
        w.paragraph(
            &format!(
                "{} of {}: {} recovered, {} {}. A failure is one check on one host failing from its \
                 first failing result to the first result that did not fail. Each row is one check \
                 on one host: how often it failed, from its first failure to the end of its last, \
                 and its time spent failing in all.",
                plural(i128::from(counts.failures), "failure", "failures"),
                plural(data.incidents.len() as i128, "check", "checks"),
                thousands(i128::from(counts.recovered())),
                thousands(i128::from(counts.open)),
                by_period(data, "still failing", "still failing at month end"),
            ),
            Font::Regular,
            8.5,
            MUTED,
        );
        w.gap(4.0);
        let rows: Vec<Vec<Cell>> = data
            .incidents
            .iter()
            .map(|i| {
                let (to, ink) = match i.ended {
                    Some(t) => (local(t).format("%b %-d %H:%M").to_string(), TEXT),
                    None => ("still failing".to_owned(), RED),
                };
                vec![
                    cell(&i.site),
                    cell_with(&i.host, Font::Mono, TEXT),
                    cell(format!("{} ({})", check_label(&i.check_type), i.check_type)),
                    cell(i.control.as_deref().unwrap_or("-")),
                    cell(match i.failures {
                        1 => "once".to_owned(),
                        n => format!("{} times", thousands(i128::from(n))),
                    }),
                    cell_with(
                        format!("{} - {to}", local(i.started).format("%b %-d %H:%M")),
                        Font::Regular,
                        ink,
                    ),
                    cell(duration(i.time_failing)),
                ]
            })
            .collect();
        w.table(&INCIDENT_COLS, &rows);
    }
    if !data.month_to_date {
        w.gap(6.0);
        let late = match (data.late.count, data.late.last_received) {
            (0, _) | (_, None) => {
                "Late evidence: none. Every bundle checked this month arrived before it ended."
                    .to_owned()
            }
            (n, Some(last)) => format!(
                "Late evidence: {} checked this month arrived after it ended, the last on {}. They are counted above.",
                plural(i128::from(n), "bundle", "bundles"),
                local(last).format("%Y-%m-%d %H:%M %Z")
            ),
        };
        w.paragraph(&late, Font::Regular, 8.5, TEXT);
    }
}

/// What a chain head is, then each site's head: its ID, position and
/// chain hash, or that no bundle had arrived.
fn chain_heads(w: &mut Writer, data: &ReportData) {
    w.heading(by_period(data, "Evidence chains so far", "Evidence chains at month end"));
    w.paragraph(
        &format!(
            "Each site's evidence forms a hash chain: every bundle's chain hash covers all bundles before it. \
             The head below is the last bundle received {}, in chain order.",
            by_period(data, "so far", "by the end of the month")
        ),
        Font::Regular,
        8.5,
        TEXT,
    );
    w.gap(4.0);
    for s in &data.sites {
        chain_head(w, data, s);
    }
}

/// One site's chain head; kept on one page.
fn chain_head(w: &mut Writer, data: &ReportData, s: &SiteRow) {
    w.ensure(58.0);
    w.text(LEFT, w.y - 10.0, Font::Bold, 9.5, TEXT, &fit(&s.name, Font::Bold, 9.5, CONTENT_W));
    w.gap(14.0);
    chain_field(w, "Site ID", &s.site_id.to_string());
    match &s.chain_head {
        Some(h) => {
            let pos = format!("{}   (bundle {})", h.position, h.bundle_id);
            chain_field(w, "Position", &fit(&pos, Font::Mono, 8.0, CONTENT_W - 80.0));
            chain_field(w, "Chain hash", &hex::encode(&h.chain_hash));
        }
        None => {
            let none = by_period(
                data,
                "No bundle received so far.",
                "No bundle received by the end of the month.",
            );
            w.text(LEFT + 10.0, w.y - 9.0, Font::Regular, 8.0, MUTED, none);
            w.gap(12.0);
        }
    }
    w.gap(6.0);
}

/// A line of a chain head: an indented label and its value in Courier.
fn chain_field(w: &mut Writer, label: &str, value: &str) {
    w.text(LEFT + 10.0, w.y - 9.0, Font::Regular, 8.0, GRAY, label);
    w.text(LEFT + 80.0, w.y - 9.0, Font::Mono, 8.0, TEXT, value);
    w.gap(12.0);
}

/// How to check a printed chain head against the portal.
fn how_to_verify(w: &mut Writer) {
    w.gap(2.0);
    w.paragraph(
        "To verify, run the practice verification (\"Verify the practice's evidence\" on a site page, or \
         POST /api/client/log/verify): it re-derives every stored row from the signed bundles and checks them, their \
         keys and chain links against the evidence log below. The chain hash at the printed position (on that \
         bundle's evidence page and in the X-Chain-Hash header of its download) must equal the hash printed here.",
        Font::Regular,
        8.5,
        TEXT,
    );
}

/// The evidence log's checkpoint for the month, verbatim, with the key to
/// check it and its consistency with last month's.
fn log_checkpoint(w: &mut Writer, data: &ReportData) {
    w.heading(by_period(
        data,
        "Evidence log: latest checkpoint",
        "Evidence log: month-end checkpoint",
    ));
    let Some(log) = &data.log else {
        w.paragraph(
            by_period(
                data,
                "The practice's evidence log has no signed checkpoint yet.",
                "The checkpoint that closes this month is not signed yet (it is signed at 00:00 UTC on the 1st); \
                 the next copy of this report will carry it.",
            ),
            Font::Regular,
            8.5,
            TEXT,
        );
        return;
    };
    w.paragraph(
        &format!(
            "Every accepted bundle, site key and finished report is a leaf of the practice's evidence log, an RFC 6962 \
             Merkle tree. This checkpoint (c2sp.org/tlog-checkpoint, {} leaves, signed {}) is the log's signed \
             head{}. Keep this page: a later checkpoint that is not consistent with it proves the log was rewritten. \
             Verify it with the verifier key below (for example Go's golang.org/x/mod/sumdb/note) or paste it into \
             POST /api/client/log/check-checkpoint.",
            log.size,
            local(log.signed_at).format("%Y-%m-%d %H:%M %Z"),
            if log.month_end { " at the end of the month" } else { " so far this month" }
        ),
        Font::Regular,
        8.5,
        TEXT,
    );
    w.gap(4.0);
    w.text(LEFT, w.y - 9.0, Font::Bold, 8.0, GRAY, "Verifier key");
    w.gap(12.0);
    mono_block(w, &log.vkey);
    w.gap(4.0);
    w.text(LEFT, w.y - 9.0, Font::Bold, 8.0, GRAY, "Checkpoint (verbatim)");
    w.gap(12.0);
    mono_block(w, &log.checkpoint);
    w.gap(4.0);
    let ink = match log.consistency {
        crate::reports::log_copy::Consistency::Inconsistent(_) => RED,
        _ => TEXT,
    };
    w.paragraph(&log.consistency.sentence(), Font::Bold, 8.5, ink);
}

/// Courier text, line for line, small enough that a signature line fits;
/// a longer line is continued on the next, marked with a trailing `\`.
fn mono_block(w: &mut Writer, text: &str) {
    const SIZE: f32 = 5.6;
    let per_line = ((RIGHT - LEFT) / (SIZE * 0.6)).floor() as usize - 1;
    for line in text.lines() {
        let chars: Vec<char> = line.chars().collect();
        let mut parts: Vec<String> =
            chars.chunks(per_line.max(1)).map(|c| c.iter().collect::<String>()).collect();
        if parts.is_empty() {
            parts.push(String::new());
        }
        let last = parts.len() - 1;
        for (i, part) in parts.iter().enumerate() {
            w.ensure(SIZE * 1.5);
            let shown = if i < last { format!("{part}\\") } else { part.clone() };
            w.text(LEFT, w.y - SIZE, Font::Mono, SIZE, TEXT, &shown);
            w.y -= SIZE * 1.45;
        }
    }
}

/// The laid-out pages as an A4 document with its metadata, saved.
fn document(data: &ReportData, pages: Vec<Vec<Op>>) -> Vec<u8> {
    let month = data.month;
    let title = format!("{} - Monthly HIPAA compliance report - {}", clean(&data.practice), month);
    let mut doc = PdfDocument::new(&title);
    doc.metadata.info.author = "OsirisCare".to_owned();
    doc.metadata.info.creator = "OsirisCare client portal".to_owned();
    doc.metadata.info.producer = "OsirisCare client portal".to_owned();
    doc.metadata.info.subject = format!("HIPAA compliance report for {month}");
    // When the data was complete, not the wall clock: the same data give
    // the same bytes.
    if let Ok(at) = printpdf::OffsetDateTime::from_unix_timestamp(data.as_of.timestamp()) {
        doc.metadata.info.creation_date = at;
        doc.metadata.info.modification_date = at;
    }
    let pages: Vec<PdfPage> =
        pages.into_iter().map(|ops| PdfPage::new(Mm(210.0), Mm(297.0), ops)).collect();
    let mut warnings = Vec::new();
    let bytes = doc.with_pages(pages).save(&PdfSaveOptions::default(), &mut warnings);
    with_language(stable_id(bytes))
}

/// The language of the report's text, for screen readers and text to speech.
const LANGUAGE: &str = "en-US";

/// Adds what printpdf cannot write to the document catalog: its language
/// (`/Lang`) and that viewers show the title rather than the file name
/// (`/ViewerPreferences /DisplayDocTitle`). Done as an incremental update
/// (ISO 32000-1 §7.5.6): the catalog again with those entries, an xref
/// section for it and a trailer pointing back at the original, appended,
/// so nothing printpdf wrote moves. Returns the bytes unchanged if they do
/// not have the shape printpdf writes (a classic xref table and trailer).
fn with_language(bytes: Vec<u8>) -> Vec<u8> {
    let updated = (|| {
        // The trailer and the catalog are ASCII; the rest (fonts, content
        // streams) is not text, so offsets are taken in bytes throughout.
        let trailer_at = find_last(&bytes, b"trailer")?;
        let trailer = std::str::from_utf8(&bytes[trailer_at..]).ok()?;
        let dict = &trailer[trailer.find("<<")?..trailer.find("startxref")?];
        let number = |key: &str| -> Option<u64> {
            let rest = &dict[dict.find(key)? + key.len()..];
            let digits: String =
                rest.trim_start().chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        };
        let (root, size) = (number("/Root")?, number("/Size")?);
        let info = number("/Info");
        let id = &dict[dict.find("/ID")?..];
        let id = &id[..id.find(']')? + 1];
        let prev: u64 =
            trailer.split("startxref").nth(1)?.split_whitespace().next()?.parse().ok()?;
        let header = format!("\n{root} 0 obj");
        let start = find_last(&bytes, header.as_bytes())? + 1;
        let length = bytes[start..].windows(6).position(|w| w == b"endobj")?;
        let object = std::str::from_utf8(&bytes[start..start + length]).ok()?;
        let catalog = &object[object.find("<<")?..object.rfind(">>")?];
        if !catalog.contains("/Catalog") || catalog.contains("/Lang") {
            return None;
        }
        let mut out = bytes.clone();
        if !out.ends_with(b"\n") {
            out.push(b'\n');
        }
        let object_at = out.len();
        out.extend_from_slice(
            format!(
                "{root} 0 obj\n{catalog}/Lang({LANGUAGE})/ViewerPreferences<</DisplayDocTitle true>>>>\nendobj\n"
            )
            .as_bytes(),
        );
        let xref_at = out.len();
        let info = info.map(|i| format!("/Info {i} 0 R")).unwrap_or_default();
        out.extend_from_slice(
            format!(
                "xref\n0 1\n0000000000 65535 f \n{root} 1\n{object_at:010} 00000 n \ntrailer\n<</Size {size}/Root {root} 0 R{info}{id}/Prev {prev}>>\nstartxref\n{xref_at}\n%%EOF\n"
            )
            .as_bytes(),
        );
        Some(out)
    })();
    updated.unwrap_or(bytes)
}

/// Replaces the two strings of the trailer's `/ID` array (printpdf makes
/// them from a process-wide counter, so they differ call to call) with the
/// hex of a hash of the rest of the file, keeping their length so every
/// byte offset stays right.
fn stable_id(mut bytes: Vec<u8>) -> Vec<u8> {
    let Some(at) = find_last(&bytes, b"/ID") else {
        return bytes;
    };
    // The literal strings after /ID: `[(...)(...)]` (possibly with spaces).
    let mut spans = Vec::new();
    let mut i = at + 3;
    while i < bytes.len() && spans.len() < 2 {
        if bytes[i] == b'(' {
            let start = i + 1;
            let mut j = start;
            while j < bytes.len() && bytes[j] != b')' {
                j += 1;
            }
            spans.push((start, j));
            i = j;
        } else if bytes[i] == b']' {
            break;
        }
        i += 1;
    }
    if spans.len() != 2 {
        return bytes;
    }
    for &(s, e) in &spans {
        bytes[s..e].fill(b'0');
    }
    let digest = hex::encode(Sha256::digest(&bytes));
    for &(s, e) in &spans {
        let n = (e - s).min(digest.len());
        bytes[s..s + n].copy_from_slice(&digest.as_bytes()[..n]);
    }
    bytes
}

fn find_last(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

#[cfg(test)]
mod language_tests {
    use super::*;

    /// The catalog's update is where its xref says, and names the language
    /// and the title display; the original bytes are untouched before it.
    #[test]
    fn the_catalog_names_its_language_in_an_appended_update() {
        let mut doc = PdfDocument::new("A title");
        let mut warnings = Vec::new();
        let page = PdfPage::new(Mm(210.0), Mm(297.0), Vec::new());
        let original =
            stable_id(doc.with_pages(vec![page]).save(&PdfSaveOptions::default(), &mut warnings));
        let tagged = with_language(original.clone());
        assert!(tagged.starts_with(&original), "an update appends only");
        let added = String::from_utf8(tagged[original.len()..].to_vec()).unwrap();
        assert!(added.contains("/Type/Catalog") && added.contains("/Lang(en-US)"), "{added}");
        assert!(added.contains("/ViewerPreferences<</DisplayDocTitle true>>"), "{added}");
        // startxref points at the new xref, whose one entry points at the
        // object (offsets in bytes of the whole file).
        let xref_at: usize =
            added.rsplit("startxref\n").next().unwrap().lines().next().unwrap().parse().unwrap();
        let xref = std::str::from_utf8(&tagged[xref_at..]).unwrap();
        assert!(xref.starts_with("xref\n0 1\n"), "{added}");
        let entry = xref.lines().nth(4).unwrap();
        let object_at: usize = entry[..10].parse().unwrap();
        let root = xref.lines().nth(3).unwrap().split(' ').next().unwrap().to_owned();
        assert!(tagged[object_at..].starts_with(format!("{root} 0 obj\n").as_bytes()), "{entry}");
        assert!(added.contains("/Prev "), "{added}");
        // Once is enough: a second pass changes nothing.
        assert_eq!(with_language(tagged.clone()), tagged);
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use uuid::Uuid;

    use super::*;
    use crate::db::reports::{ChainHead, ReportNotification};
    use crate::evidence::score::Tally;
    use crate::reports::Month;
    use crate::reports::data::{ControlRow, FailingRow, SiteRow};

    fn sample(sites: usize, failing: usize) -> ReportData {
        let at = chrono::Utc.with_ymd_and_hms(2026, 10, 12, 9, 30, 0).unwrap();
        ReportData {
            practice: "Oak Street Clinic".into(),
            partner: "Acme IT".into(),
            month: Month::parse("2026-10").unwrap(),
            month_to_date: false,
            total: Tally { passed: 8, failed: 1, warnings: 1 },
            evidence_count: 12,
            sites: (0..sites)
                .map(|i| SiteRow {
                    site_id: Uuid::from_u128(i as u128 + 1),
                    name: format!("Site {i:03}"),
                    tally: Tally { passed: 4, failed: 1, warnings: 0 },
                    evidence_count: 6,
                    chain_head: Some(ChainHead {
                        position: 41,
                        chain_hash: vec![0xab; 32],
                        bundle_id: "CB-2026-10-31-aaaa".into(),
                    }),
                })
                .collect(),
            controls: vec![ControlRow {
                control: "164.312(a)(2)(iv)".into(),
                tally: Tally { passed: 2, failed: 1, warnings: 0 },
            }],
            unmapped: Tally { passed: 1, failed: 0, warnings: 0 },
            failing: (0..failing)
                .map(|i| FailingRow {
                    site: "Site 000".into(),
                    host: format!("HOST-{i:04}"),
                    check_type: "bitlocker_status".into(),
                    control: Some("164.312(a)(2)(iv)".into()),
                    since: at,
                    last_checked: at,
                })
                .collect(),
            incidents: vec![crate::reports::data::IncidentRow {
                site: "Site 000 with a name longer than its column has room for".into(),
                host: "SRV-01".into(),
                check_type: "backup_status".into(),
                control: Some("164.308(a)(7)(ii)(A)".into()),
                failures: 2,
                started: at - chrono::TimeDelta::hours(30),
                ended: Some(at - chrono::TimeDelta::hours(4)),
                time_failing: chrono::TimeDelta::hours(20),
            }],
            late: crate::db::reports::MonthEvidence { count: 2, last_received: Some(at) },
            notifications: vec![ReportNotification {
                site: Some("Site 000".into()),
                severity: "warning".into(),
                title: "Backup failed at Site 000\n(again)".into(),
                count: 3,
                first_at: at,
                last_at: at,
            }],
            notification_groups: 1,
            notifications_total: 3,
            as_of: at,
            zone: crate::zone::Tz::UTC,
            log: Some(crate::reports::log_copy::LogCopy {
                checkpoint: "portal.example/log/5a0f9e2c-8d1b-4c3e-9f7a-2b6d4e8c1a3f\n8\nq83tPuAZxgtZi3KLwhoMnAWsrpy1uRgNvEoBmH/KOJc=\n\n\u{2014} portal.example/log/5a0f9e2c-8d1b-4c3e-9f7a-2b6d4e8c1a3f Az3g8mO2y4ZPa2ZbvU5q3AkYbH5LWkt3xWqPzA0wJpA2cGz6pm9GvTTgmJ0Gd1ZpjZxMcVzkP0KEXoXyY5Sl6TYmJD0=\n".into(),
                vkey: "portal.example/log/5a0f9e2c-8d1b-4c3e-9f7a-2b6d4e8c1a3f+033de0f2+AXsk2pG3Kq8m0dJbqH0Yt0U8jV6V3N9mO0eP3mQe1kVr".into(),
                size: 8,
                signed_at: at,
                month_end: true,
                consistency: crate::reports::log_copy::Consistency::NoPrevious,
            }),
        }
    }

    #[test]
    fn the_same_data_gives_the_same_bytes() {
        let a = render(&sample(2, 3));
        let b = render(&sample(2, 3));
        assert!(a.starts_with(b"%PDF-"));
        assert_eq!(a, b);
        assert_ne!(a, render(&sample(3, 3)), "other data, other bytes");
    }

    #[test]
    fn long_reports_get_more_pages() {
        let short = render(&sample(1, 1));
        let long = render(&sample(40, 300));
        let pages = |b: &[u8]| b.windows(10).filter(|w| w == b"/Type/Page").count();
        assert!(pages(&long) > pages(&short) + 3, "{} vs {}", pages(&long), pages(&short));
    }

    #[test]
    fn text_is_fitted_and_wrapped() {
        assert_eq!(fit("short", Font::Regular, 10.0, 100.0), "short");
        let cut = fit(&"W".repeat(100), Font::Regular, 10.0, 100.0);
        assert!(cut.ends_with("..."));
        assert!(width(&cut, Font::Regular, 10.0) <= 100.0);
        let lines = wrap("one two three four five six seven", Font::Regular, 10.0, 60.0);
        assert!(lines.len() > 1);
        assert!(lines.iter().all(|l| width(l, Font::Regular, 10.0) <= 60.0));
        assert_eq!(lines.join(" "), "one two three four five six seven");
        let long = wrap(&"x".repeat(200), Font::Mono, 10.0, 100.0);
        assert!(long.iter().all(|l| width(l, Font::Mono, 10.0) <= 100.0));
        assert_eq!(long.concat().len(), 200);
        assert_eq!(clean("a\nb\tc"), "a b c");
    }

    /// The text shown on each page, in drawing order.
    fn page_texts(data: &ReportData) -> Vec<Vec<String>> {
        let shown = |op: &Op| match op {
            Op::ShowText { items } => Some(
                items
                    .iter()
                    .map(|i| match i {
                        TextItem::Text(t) => t.as_str(),
                        _ => "",
                    })
                    .collect::<String>(),
            ),
            _ => None,
        };
        layout(data).iter().map(|ops| ops.iter().filter_map(shown).collect()).collect()
    }

    /// The report's section headings, in order.
    const SECTIONS: [&str; 7] = [
        "To do at month end",
        "Incidents this month",
        "Sites",
        "HIPAA controls",
        "Failing checks at month end",
        "Notifications this month",
        "Evidence chains at month end",
    ];

    #[test]
    fn no_heading_is_left_at_the_foot_of_a_page() {
        for (sites, failing) in (0..60).map(|n| (1 + n % 7, n)) {
            for page in page_texts(&sample(sites, failing)) {
                // Before the footer (its two texts), the page's last text.
                let last = &page[page.len().saturating_sub(3)];
                assert!(
                    !SECTIONS.contains(&last.as_str()),
                    "{sites} sites, {failing} failing: {last:?} ends a page"
                );
            }
        }
    }

    #[test]
    fn long_cells_wrap_instead_of_being_cut() {
        let pages = page_texts(&sample(1, 1));
        let all: Vec<&str> = pages.iter().flatten().map(String::as_str).collect();
        let name = "Site 000 with a name longer than its column has room for";
        assert!(!all.contains(&name), "too long for one line of its column");
        assert!(!all.iter().any(|t| t.ends_with("...")), "nothing is cut off: {all:?}");
        // Its lines, in order, among the row's other cells.
        let first = all.iter().position(|t| t.starts_with("Site 000 with")).expect("line one");
        let lines: Vec<&str> =
            all[first..first + 12].iter().copied().filter(|t| name.contains(*t)).collect();
        assert_eq!(lines.join(" "), name, "{:?}", &all[first..first + 12]);
    }

    #[test]
    fn sections_come_in_order_and_a_long_table_repeats_its_header() {
        let pages = page_texts(&sample(3, 120));
        let all: Vec<&str> = pages.iter().flatten().map(String::as_str).collect();
        // The last time each text is shown: a site's name is in its table
        // row and then over its chain head.
        let at = |s: &str| all.iter().rposition(|t| *t == s).expect(s);
        let headline = all
            .iter()
            .find(|t| t.contains("HIPAA safeguard") && t.ends_with("(month end)"))
            .expect("the controls' headline");
        let order: Vec<&str> = ["OsirisCare", "Oak Street Clinic", headline]
            .into_iter()
            .chain(SECTIONS)
            .chain(["Site 002"])
            .collect();
        for pair in order.windows(2) {
            assert!(at(pair[0]) < at(pair[1]), "{pair:?} out of order");
        }
        let verify = all.iter().position(|t| t.starts_with("To verify, run")).expect("verify");
        assert!(at("Site 002") < verify, "how to verify comes after the chain heads");

        let n = pages.len();
        let header = ["Site", "Host", "Check", "HIPAA control", "Failing since"];
        let mut with_failures = 0;
        for (i, page) in pages.iter().enumerate() {
            assert_eq!(page.last(), Some(&format!("Page {} of {n}", i + 1)));
            if i > 0 {
                assert!(page[0].starts_with("Oak Street Clinic - Monthly"), "running title");
            }
            if let Some(k) = page.iter().position(|t| t.starts_with("HOST-")) {
                with_failures += 1;
                assert!(page[..k].windows(5).any(|w| w == header), "page {} has no header", i + 1);
            }
        }
        assert!(with_failures >= 3, "120 failing checks span pages: {with_failures}");
    }
}
