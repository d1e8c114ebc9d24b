//! Server-side SVG charts for the quarterly review, the admin dashboard and
//! statements.
//!
//! Every chart is an accessible `<figure>`: an inline `<svg>` plus a data table
//! holding the same figures, so pages need no JavaScript or CDN and screen
//! readers get the numbers. Each data mark carries its exact value in `data-*`
//! attributes so tests can compare the drawing with the JSON figures. Geometry
//! is computed in `Decimal` so the markup is identical on every platform.

use rust_decimal::{Decimal, RoundingStrategy};

/// One named series of values, one per label.
///
/// `values[i]` belongs to `labels[i]`; `None` is a figure the data lacks (a
/// rate without a base): no mark, an empty cell. Values past the last label are not
/// drawn, and a label without a value gets no mark and an empty table cell.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Shown in the legend, the table header and each mark's `data-series`.
    pub name: String,
    /// The figures, in the chart's unit.
    pub values: Vec<Option<Decimal>>,
}

/// What every chart takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chart<'a> {
    /// Unique within the page, `[a-z0-9-]`; used for element ids and `data-chart`.
    pub id: &'a str,
    /// Caption, e.g. "Points issued and redeemed, last four quarters".
    pub title: &'a str,
    /// Unit shown in the table header and axis, e.g. "points", "EUR", "%", "accounts".
    pub unit: &'a str,
}

/// One goal of a [`progress`] chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// What the goal measures, e.g. "Active accounts".
    pub label: String,
    /// How far along the goal is; 100 means reached, and it may exceed 100.
    pub percent: Decimal,
    /// The goal's status word, e.g. "on track".
    pub status: String,
}

/// Series colours, each with at least 4.5:1 contrast on white.
const PALETTE: [&str; 6] = [
    "#1f5fa8", "#b8561b", "#2e7d32", "#6a3d9a", "#a61b4a", "#00707a",
];
const TEXT_FILL: &str = "#222";
const GRID_STROKE: &str = "#ddd";
const TRACK_FILL: &str = "#e6e6e6";
const NO_DATA: &str = "No data for this period";
/// Longer labels are cut in the drawing so they do not run into their
/// neighbours; the table and `data-label` keep them whole.
const LABEL_CHARS_MAX: usize = 14;
const WIDTH: i64 = 640;
/// Room above the plot for the unit and the legend.
const PLOT_TOP: i64 = 32;
/// Height of one item in horizontal and progress charts.
const ROW: i64 = 28;
/// Left edge of the plot in horizontal and progress charts, after the labels.
const ROW_PLOT_LEFT: i64 = 136;
/// Magnitudes past this are drawn at the edge: it keeps every intermediate
/// product inside `Decimal`'s range. The data attributes stay exact.
const DRAWABLE_MAX: i64 = 1_000_000_000_000_000_000;

/// Grouped vertical bars: one group per label, one bar per series.
pub fn bars(chart: &Chart<'_>, labels: &[String], series: &[Series]) -> String {
    columns(chart, labels, series, Kind::Bars)
}

/// One polyline with a marker per value for each series, over the labels.
pub fn lines(chart: &Chart<'_>, labels: &[String], series: &[Series]) -> String {
    columns(chart, labels, series, Kind::Lines)
}

/// One horizontal bar per item, e.g. a tier distribution or a redemption mix.
///
/// The single series is named after the chart title.
pub fn horizontal(chart: &Chart<'_>, items: &[(String, Decimal)]) -> String {
    let header = ["Category", chart.title];
    if items.iter().all(|(_, value)| value.is_zero()) {
        return empty(chart, "Horizontal bar chart", &header);
    }
    let scale = Scale::new(items.iter().map(|(_, value)| *value));
    let (left, right) = (d(ROW_PLOT_LEFT), d(560));
    let bottom = d(PLOT_TOP) + d(ROW) * Decimal::from(items.len());
    let x = |value: Decimal| left + scale.fraction(value) * (right - left);
    let mut svg = unit_label(chart.unit);
    for tick in scale.ticks() {
        svg += &line("grid", x(tick), d(PLOT_TOP), x(tick), bottom, GRID_STROKE);
        svg += &text(
            x(tick),
            bottom + d(16),
            "middle",
            &tick.normalize().to_string(),
        );
    }
    svg += &line(
        "baseline",
        x(Decimal::ZERO),
        d(PLOT_TOP),
        x(Decimal::ZERO),
        bottom,
        TEXT_FILL,
    );
    let mut rows = String::new();
    for (i, (label, value)) in items.iter().enumerate() {
        let row_top = d(PLOT_TOP) + d(ROW) * Decimal::from(i);
        svg += &text(left - d(8), row_top + d(18), "end", &short(label));
        let (start, end) = (x(Decimal::ZERO), x(*value));
        svg += &format!(
            "<rect class=\"mark\"{} x=\"{}\" y=\"{}\" width=\"{}\" height=\"18\" fill=\"{}\">{}</rect>\n",
            data(chart.title, label, *value),
            px(start.min(end)),
            px(row_top + d(5)),
            px((end - start).abs()),
            PALETTE[0],
            mark_title(label, *value, chart.unit, None),
        );
        rows += &format!(
            "<tr><th scope=\"row\">{}</th>{}</tr>",
            escape(label),
            cell(chart.title, label, Some(*value), "")
        );
    }
    let desc = format!(
        "Horizontal bar chart of {}{}.",
        count(items.len(), "item", "items"),
        in_unit(chart.unit)
    );
    figure(
        chart,
        bottom + d(28),
        &desc,
        &svg,
        &table(chart, &header, &rows),
    )
}

/// Goals: one bar per goal from 0 to 100 % (values above 100 drawn full), with
/// its status word.
///
/// A goal at 0 % is still a goal, so only an empty list reads as no data.
pub fn progress(chart: &Chart<'_>, items: &[Progress]) -> String {
    let header = ["Goal", chart.title, "Status"];
    if items.is_empty() {
        return empty(chart, "Progress chart", &header);
    }
    let (left, right) = (d(ROW_PLOT_LEFT), d(472));
    let bottom = d(PLOT_TOP) + d(ROW) * Decimal::from(items.len());
    let mut svg = unit_label(chart.unit);
    let mut rows = String::new();
    for (i, item) in items.iter().enumerate() {
        let row_top = d(PLOT_TOP) + d(ROW) * Decimal::from(i);
        let share = item.percent.clamp(Decimal::ZERO, Decimal::ONE_HUNDRED) / Decimal::ONE_HUNDRED;
        let status = format!(" data-status=\"{}\"", escape(&item.status));
        svg += &text(left - d(8), row_top + d(18), "end", &short(&item.label));
        svg += &format!(
            "<rect class=\"track\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"18\" fill=\"{TRACK_FILL}\"/>\n",
            px(left),
            px(row_top + d(5)),
            px(right - left),
        );
        svg += &format!(
            "<rect class=\"mark\"{}{status} x=\"{}\" y=\"{}\" width=\"{}\" height=\"18\" fill=\"{}\">{}</rect>\n",
            data(chart.title, &item.label, item.percent),
            px(left),
            px(row_top + d(5)),
            px(share * (right - left)),
            PALETTE[0],
            mark_title(&item.label, item.percent, chart.unit, Some(&item.status)),
        );
        svg += &text(right + d(8), row_top + d(18), "start", &short(&item.status));
        rows += &format!(
            "<tr><th scope=\"row\">{}</th>{}<td>{}</td></tr>",
            escape(&item.label),
            cell(chart.title, &item.label, Some(item.percent), &status),
            escape(&item.status)
        );
    }
    for quarter in 0..=4 {
        let tick = d(25) * d(quarter);
        let x = left + (right - left) * d(quarter) / d(4);
        svg += &text(x, bottom + d(16), "middle", &tick.to_string());
    }
    let desc = format!(
        "Progress chart of {}{}.",
        count(items.len(), "goal", "goals"),
        in_unit(chart.unit)
    );
    figure(
        chart,
        bottom + d(28),
        &desc,
        &svg,
        &table(chart, &header, &rows),
    )
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bars,
    Lines,
}

/// Bars and lines share axes, legend and table; only the marks differ.
fn columns(chart: &Chart<'_>, labels: &[String], series: &[Series], kind: Kind) -> String {
    let noun = match kind {
        Kind::Bars => "Bar chart",
        Kind::Lines => "Line chart",
    };
    let mut header = vec!["Period"];
    header.extend(series.iter().map(|s| s.name.as_str()));
    let values = || {
        series
            .iter()
            .flat_map(|s| s.values.iter().take(labels.len()).flatten().copied())
    };
    // Also true without labels or series, which keeps the divisions below safe.
    if values().all(|value| value.is_zero()) {
        return empty(chart, noun, &header);
    }
    let scale = Scale::new(values());
    let (left, right, top, bottom) = (d(72), d(624), d(PLOT_TOP), d(284));
    let y = |value: Decimal| bottom - scale.fraction(value) * (bottom - top);
    let band = (right - left) / Decimal::from(labels.len());
    let centre = |i: usize| left + band * (Decimal::from(i) + Decimal::new(5, 1));
    let mut svg = unit_label(chart.unit);
    if series.len() > 1 {
        svg += &legend(series, chart.unit);
    }
    for tick in scale.ticks() {
        svg += &line("grid", left, y(tick), right, y(tick), GRID_STROKE);
        svg += &text(
            left - d(8),
            y(tick) + d(4),
            "end",
            &tick.normalize().to_string(),
        );
    }
    svg += &line(
        "baseline",
        left,
        y(Decimal::ZERO),
        right,
        y(Decimal::ZERO),
        TEXT_FILL,
    );
    for (i, label) in labels.iter().enumerate() {
        svg += &text(centre(i), bottom + d(18), "middle", &short(label));
    }
    // Bars of one label sit side by side in the middle 80 % of its band.
    let bar_width = band * Decimal::new(8, 1) / Decimal::from(series.len());
    for (j, s) in series.iter().enumerate() {
        let colour = PALETTE[j % PALETTE.len()];
        // A missing value draws no mark, and a line passes it by.
        let points: Vec<(usize, &String, Decimal)> = labels
            .iter()
            .zip(s.values.iter())
            .enumerate()
            .filter_map(|(i, (label, value))| value.map(|v| (i, label, v)))
            .collect();
        if kind == Kind::Lines {
            let path: Vec<String> = points
                .iter()
                .map(|(i, _, value)| format!("{},{}", px(centre(*i)), px(y(*value))))
                .collect();
            svg += &format!(
                "<polyline class=\"line\" points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"/>\n",
                path.join(" ")
            );
        }
        for (i, label, value) in points {
            let attrs = data(&s.name, label, value);
            let title = mark_title(label, value, chart.unit, None);
            svg += &match kind {
                Kind::Bars => {
                    let x = left
                        + band * (Decimal::from(i) + Decimal::new(1, 1))
                        + bar_width * Decimal::from(j);
                    let (zero, end) = (y(Decimal::ZERO), y(value));
                    format!(
                        "<rect class=\"mark\"{attrs} x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{colour}\">{title}</rect>\n",
                        px(x),
                        px(zero.min(end)),
                        px(bar_width),
                        px((end - zero).abs()),
                    )
                }
                Kind::Lines => format!(
                    "<circle class=\"mark\"{attrs} cx=\"{}\" cy=\"{}\" r=\"4\" fill=\"{colour}\">{title}</circle>\n",
                    px(centre(i)),
                    px(y(value)),
                ),
            };
        }
    }
    let mut rows = String::new();
    for (i, label) in labels.iter().enumerate() {
        rows += &format!("<tr><th scope=\"row\">{}</th>", escape(label));
        for s in series {
            rows += &cell(&s.name, label, s.values.get(i).copied().flatten(), "");
        }
        rows += "</tr>";
    }
    let desc = format!(
        "{noun} of {} over {}{}.",
        count(series.len(), "series", "series"),
        count(labels.len(), "label", "labels"),
        in_unit(chart.unit)
    );
    figure(chart, d(320), &desc, &svg, &table(chart, &header, &rows))
}

/// The value axis: nice bounds that include zero, and the gridline step.
struct Scale {
    min: Decimal,
    max: Decimal,
    step: Decimal,
}

impl Scale {
    /// The larger side of zero gets a nice bound split in five steps; the other
    /// side gets as many of those steps as it needs, so zero is a gridline.
    fn new(values: impl Iterator<Item = Decimal>) -> Self {
        let (low, high) = values
            .map(drawable)
            .fold((Decimal::ZERO, Decimal::ZERO), |(low, high), value| {
                (low.min(value), high.max(value))
            });
        let (above, below) = (nice_max(high), nice_max(-low));
        if above.is_zero() && below.is_zero() {
            // Every value rounds to zero: a unit scale draws them on the baseline.
            return Scale {
                min: Decimal::ZERO,
                max: Decimal::ONE,
                step: Decimal::new(2, 1),
            };
        }
        if above >= below {
            let step = above / d(5);
            let min = -((-low) / step).ceil() * step;
            Scale {
                min,
                max: above,
                step,
            }
        } else {
            let step = below / d(5);
            let max = (high / step).ceil() * step;
            Scale {
                min: -below,
                max,
                step,
            }
        }
    }

    /// Where `value` sits between the bottom (0) and the top (1) of the axis.
    fn fraction(&self, value: Decimal) -> Decimal {
        ((drawable(value) - self.min) / (self.max - self.min)).clamp(Decimal::ZERO, Decimal::ONE)
    }

    /// Gridline values from the bottom up: at most five steps each side of zero.
    fn ticks(&self) -> Vec<Decimal> {
        (0..=10)
            .map(|k| self.min + self.step * d(k))
            .take_while(|tick| *tick <= self.max)
            .collect()
    }
}

/// Rounds `value` up to 1, 2, 2.5 or 5 × 10^n; zero and below give zero.
fn nice_max(value: Decimal) -> Decimal {
    if value <= Decimal::ZERO {
        return Decimal::ZERO;
    }
    let mut magnitude = Decimal::ONE;
    while let Some(next) = magnitude.checked_mul(Decimal::TEN)
        && next <= value
    {
        magnitude = next;
    }
    // A value of 0.0…01 needs at most 28 divisions before magnitude fits.
    while magnitude > value {
        magnitude /= Decimal::TEN;
    }
    [d(1), d(2), Decimal::new(25, 1), d(5), d(10)]
        .into_iter()
        .filter_map(|factor| magnitude.checked_mul(factor))
        .find(|candidate| *candidate >= value)
        .unwrap_or(value)
}

/// The value as drawn: bounded, and without digits finer than any pixel.
fn drawable(value: Decimal) -> Decimal {
    let limit = Decimal::from(DRAWABLE_MAX);
    value.clamp(-limit, limit).round_dp(6)
}

fn d(n: i64) -> Decimal {
    Decimal::from(n)
}

/// A coordinate as printed: one decimal place at most.
fn px(value: Decimal) -> String {
    value
        .round_dp_with_strategy(1, RoundingStrategy::MidpointAwayFromZero)
        .normalize()
        .to_string()
}

fn figure(chart: &Chart<'_>, height: Decimal, desc: &str, drawing: &str, table: &str) -> String {
    let id = escape(chart.id);
    format!(
        "<figure class=\"chart\" data-chart=\"{id}\" id=\"chart-{id}\">\n\
         <figcaption id=\"chart-{id}-title\">{title}</figcaption>\n\
         <svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" \
         aria-labelledby=\"chart-{id}-title chart-{id}-desc\" width=\"100%\">\n\
         <desc id=\"chart-{id}-desc\">{desc}</desc>\n\
         <g font-family=\"sans-serif\" font-size=\"12\">\n{drawing}</g>\n\
         </svg>\n\
         {table}\n\
         </figure>\n",
        title = escape(chart.title),
        height = px(height),
        desc = escape(desc),
    )
}

/// A figure whose drawing only says there is nothing to draw; the table keeps
/// its header so the page layout does not jump between periods.
fn empty(chart: &Chart<'_>, noun: &str, header: &[&str]) -> String {
    let height = d(120);
    let svg = text(d(WIDTH) / d(2), height / d(2), "middle", NO_DATA);
    let desc = format!("{noun} with no data for this period.");
    figure(chart, height, &desc, &svg, &table(chart, header, ""))
}

fn table(chart: &Chart<'_>, header: &[&str], rows: &str) -> String {
    let columns: String = header
        .iter()
        .map(|name| format!("<th scope=\"col\">{}</th>", escape(name)))
        .collect();
    let caption = if chart.unit.is_empty() {
        escape(chart.title)
    } else {
        format!("{} ({})", escape(chart.title), escape(chart.unit))
    };
    format!(
        "<table class=\"chart-data\"><caption>{caption}</caption>\
         <thead><tr>{columns}</tr></thead><tbody>{rows}</tbody></table>"
    )
}

/// A table cell; a missing value leaves it empty and without `data-value`.
fn cell(series: &str, label: &str, value: Option<Decimal>, extra: &str) -> String {
    match value {
        Some(value) => format!("<td{}{extra}>{value}</td>", data(series, label, value)),
        None => format!(
            "<td data-series=\"{}\" data-label=\"{}\"{extra}></td>",
            escape(series),
            escape(label)
        ),
    }
}

fn data(series: &str, label: &str, value: Decimal) -> String {
    format!(
        " data-series=\"{}\" data-label=\"{}\" data-value=\"{value}\"",
        escape(series),
        escape(label)
    )
}

fn mark_title(label: &str, value: Decimal, unit: &str, status: Option<&str>) -> String {
    let mut title = format!("{label}: {value}");
    if !unit.is_empty() {
        title += &format!(" {unit}");
    }
    if let Some(status) = status {
        title += &format!(", {status}");
    }
    format!("<title>{}</title>", escape(&title))
}

/// The legend starts over the plot, or after the unit label when that is wider.
fn legend(series: &[Series], unit: &str) -> String {
    let mut out = String::from("<g class=\"legend\">\n");
    let mut x = d(72).max(d(24) + d(7) * Decimal::from(unit.chars().count()));
    for (j, s) in series.iter().enumerate() {
        let name = short(&s.name);
        out += &format!(
            "<rect x=\"{}\" y=\"8\" width=\"10\" height=\"10\" fill=\"{}\"/>\n",
            px(x),
            PALETTE[j % PALETTE.len()]
        );
        out += &text(x + d(14), d(17), "start", &name);
        // About 7 px per character at 12 px, then a gap before the next entry.
        x += d(30) + d(7) * Decimal::from(name.chars().count());
    }
    out + "</g>\n"
}

fn unit_label(unit: &str) -> String {
    if unit.is_empty() {
        return String::new();
    }
    format!(
        "<text class=\"unit\" x=\"8\" y=\"17\" fill=\"{TEXT_FILL}\">{}</text>\n",
        escape(unit)
    )
}

fn line(class: &str, x1: Decimal, y1: Decimal, x2: Decimal, y2: Decimal, stroke: &str) -> String {
    format!(
        "<line class=\"{class}\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{stroke}\"/>\n",
        px(x1),
        px(y1),
        px(x2),
        px(y2)
    )
}

fn text(x: Decimal, y: Decimal, anchor: &str, content: &str) -> String {
    format!(
        "<text x=\"{}\" y=\"{}\" text-anchor=\"{anchor}\" fill=\"{TEXT_FILL}\">{}</text>\n",
        px(x),
        px(y),
        escape(content)
    )
}

fn short(label: &str) -> String {
    if label.chars().count() <= LABEL_CHARS_MAX {
        return label.to_owned();
    }
    let mut cut: String = label.chars().take(LABEL_CHARS_MAX - 1).collect();
    cut.push('…');
    cut
}

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn in_unit(unit: &str) -> String {
    if unit.is_empty() {
        String::new()
    } else {
        format!(", in {unit}")
    }
}

fn escape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHART: Chart<'static> = Chart {
        id: "points",
        title: "Points issued and redeemed",
        unit: "points",
    };

    fn dec(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn labels(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| (*name).to_owned()).collect()
    }

    fn series(name: &str, values: &[&str]) -> Series {
        Series {
            name: name.to_owned(),
            values: values.iter().map(|v| Some(dec(v))).collect(),
        }
    }

    /// The drawing and the table, split at the table.
    fn parts(html: &str) -> (&str, &str) {
        html.split_at(html.find("<table").unwrap())
    }

    /// The opening tag of the mark carrying `value`.
    fn mark<'a>(html: &'a str, value: &str) -> &'a str {
        let (svg, _) = parts(html);
        let at = svg.find(&format!("data-value=\"{value}\"")).unwrap();
        let start = svg[..at].rfind('<').unwrap();
        let end = at + svg[at..].find('>').unwrap();
        &svg[start..=end]
    }

    fn attr(tag: &str, name: &str) -> Decimal {
        let key = format!(" {name}=\"");
        let start = tag.find(&key).unwrap() + key.len();
        let len = tag[start..].find('"').unwrap();
        dec(&tag[start..start + len])
    }

    #[test]
    fn every_value_is_one_mark_and_one_table_cell() {
        let html = bars(
            &CHART,
            &labels(&["2026Q1", "2026Q2", "2026Q3"]),
            &[
                series("Issued", &["1200", "1350.5", "990"]),
                series("Redeemed", &["400", "610", "0.25"]),
            ],
        );
        let (svg, table) = parts(&html);
        for value in ["1200", "1350.5", "990", "400", "610", "0.25"] {
            let needle = format!("data-value=\"{value}\"");
            assert_eq!(svg.matches(&needle).count(), 1, "{value} in the drawing");
            assert_eq!(table.matches(&needle).count(), 1, "{value} in the table");
        }
        assert_eq!(svg.matches("class=\"mark\"").count(), 6);
        assert!(html.contains("data-series=\"Redeemed\" data-label=\"2026Q2\" data-value=\"610\""));
        assert!(html.contains("<title>2026Q2: 1350.5 points</title>"));
        assert!(html.contains(
            "<desc id=\"chart-points-desc\">Bar chart of 2 series over 3 labels, in points.</desc>"
        ));
        assert!(html.contains("<caption>Points issued and redeemed (points)</caption>"));
        assert!(html.contains("<th scope=\"col\">Period</th><th scope=\"col\">Issued</th>"));
    }

    #[test]
    fn the_figure_has_the_documented_frame() {
        let html = lines(&CHART, &labels(&["Q1"]), &[series("Issued", &["5"])]);
        assert!(html.starts_with(
            "<figure class=\"chart\" data-chart=\"points\" id=\"chart-points\">\n\
             <figcaption id=\"chart-points-title\">Points issued and redeemed</figcaption>\n\
             <svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 640 320\" role=\"img\" \
             aria-labelledby=\"chart-points-title chart-points-desc\" width=\"100%\">\n"
        ));
        assert!(html.ends_with("</tbody></table>\n</figure>\n"));
    }

    #[test]
    fn inserted_text_is_escaped() {
        let chart = Chart {
            id: "x",
            title: "Mix & \"match\"",
            unit: "<b>",
        };
        let html = bars(
            &chart,
            &labels(&["<script>alert('x')</script>"]),
            &[series("A<B", &["3"]), series("C", &["4"])],
        );
        assert!(!html.contains("<script>"));
        assert!(!html.contains("<b>"));
        assert!(!html.contains("A<B"));
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
        assert!(
            html.contains(
                "<figcaption id=\"chart-x-title\">Mix &amp; &quot;match&quot;</figcaption>"
            )
        );
        let status = Progress {
            label: "Goal".to_owned(),
            percent: dec("10"),
            status: "<i>late</i>".to_owned(),
        };
        assert!(!progress(&chart, &[status]).contains("<i>"));
    }

    #[test]
    fn the_axis_maximum_rounds_up_to_one_two_two_and_a_half_or_five_times_a_power_of_ten() {
        for (value, nice) in [
            ("0", "0"),
            ("7", "10"),
            ("10", "10"),
            ("12.5", "20"),
            ("999", "1000"),
            ("1001", "2000"),
            ("23", "25"),
            ("0.3", "0.5"),
            ("0.07", "0.1"),
        ] {
            assert_eq!(nice_max(dec(value)), dec(nice), "nice maximum of {value}");
        }
    }

    #[test]
    fn a_negative_value_is_drawn_below_the_zero_line() {
        let html = bars(
            &CHART,
            &labels(&["Q1", "Q2"]),
            &[series("Uplift", &["100", "-50"])],
        );
        // The larger side sets the step (100 / 5 = 20), so the axis runs from
        // -60 to 100 and zero sits 100/160 of the 252 px plot below its top.
        let baseline = &html[html.find("<line class=\"baseline\"").unwrap()..];
        assert_eq!(attr(baseline, "y1"), dec("189.5"));
        let negative = mark(&html, "-50");
        assert_eq!(attr(negative, "y"), dec("189.5"));
        assert_eq!(attr(negative, "height"), dec("78.8"));
        let positive = mark(&html, "100");
        assert_eq!(attr(positive, "y"), dec("32"));
        assert_eq!(attr(positive, "height"), dec("157.5"));
        assert!(html.contains(">-60</text>"));
    }

    #[test]
    fn extreme_values_are_drawn_at_the_edge_and_kept_exact() {
        let tiny = Decimal::new(1, 28);
        let values = Series {
            name: "Issued".to_owned(),
            values: vec![Some(Decimal::MAX), Some(Decimal::MIN), Some(tiny)],
        };
        let html = bars(&CHART, &labels(&["Q1", "Q2", "Q3"]), &[values]);
        assert_eq!(attr(mark(&html, &Decimal::MAX.to_string()), "y"), dec("32"));
        assert!(html.contains(&format!("data-value=\"{}\"", Decimal::MIN)));
        let only_tiny = lines(
            &CHART,
            &labels(&["Q1"]),
            &[series("Issued", &["0.0000000001"])],
        );
        assert_eq!(attr(mark(&only_tiny, "0.0000000001"), "cy"), dec("284"));
    }

    #[test]
    fn bars_of_one_label_share_the_middle_of_its_band() {
        let html = bars(
            &CHART,
            &labels(&["Q1", "Q2"]),
            &[
                series("Issued", &["10", "5"]),
                series("Redeemed", &["2", "8"]),
            ],
        );
        // 552 px for two labels: bands of 276 px, two bars of 110.4 px after a 27.6 px gap.
        let redeemed_q2 = mark(&html, "8");
        assert_eq!(attr(redeemed_q2, "x"), dec("486"));
        assert_eq!(attr(redeemed_q2, "width"), dec("110.4"));
        assert!(redeemed_q2.contains("fill=\"#b8561b\""));
    }

    #[test]
    fn a_line_runs_through_the_band_centres() {
        let html = lines(
            &CHART,
            &labels(&["Q1", "Q2"]),
            &[series("Issued", &["0", "10"])],
        );
        assert!(html.contains("points=\"210,284 486,32\""));
        let last = mark(&html, "10");
        assert!(last.starts_with("<circle class=\"mark\""));
        assert_eq!(attr(last, "cx"), dec("486"));
        assert_eq!(attr(last, "cy"), dec("32"));
    }

    #[test]
    fn a_legend_appears_only_with_several_series() {
        let one = lines(&CHART, &labels(&["Q1"]), &[series("Issued", &["1"])]);
        let two = lines(
            &CHART,
            &labels(&["Q1"]),
            &[series("Issued", &["1"]), series("Redeemed", &["2"])],
        );
        assert!(!one.contains("class=\"legend\""));
        assert!(two.contains("<g class=\"legend\">"));
    }

    #[test]
    fn empty_or_all_zero_input_says_there_is_no_data() {
        let outputs = [
            bars(&CHART, &[], &[series("Issued", &[])]),
            bars(&CHART, &labels(&["Q1"]), &[]),
            lines(
                &CHART,
                &labels(&["Q1", "Q2"]),
                &[series("Issued", &["0", "0"])],
            ),
            horizontal(&CHART, &[]),
            horizontal(&CHART, &[("Gold".to_owned(), Decimal::ZERO)]),
            progress(&CHART, &[]),
        ];
        for html in outputs {
            assert!(html.contains(">No data for this period</text>"), "{html}");
            assert!(html.contains("<tbody></tbody>"), "{html}");
            assert!(!html.contains("class=\"mark\""), "{html}");
        }
    }

    #[test]
    fn long_labels_are_cut_in_the_drawing_only() {
        let long = "Quarterly revenue uplift";
        let html = bars(&CHART, &labels(&[long]), &[series("Issued", &["3"])]);
        assert!(html.contains(">Quarterly rev…</text>"));
        assert!(html.contains(&format!("data-label=\"{long}\"")));
        assert!(html.contains(&format!("<th scope=\"row\">{long}</th>")));
    }

    #[test]
    fn a_missing_value_leaves_an_empty_cell_and_no_mark() {
        let html = bars(&CHART, &labels(&["Q1", "Q2"]), &[series("Issued", &["4"])]);
        assert_eq!(html.matches("class=\"mark\"").count(), 1);
        assert!(html.contains("<td data-series=\"Issued\" data-label=\"Q2\"></td>"));
    }

    #[test]
    fn horizontal_bars_belong_to_the_chart_title() {
        let chart = Chart {
            id: "tiers",
            title: "Accounts by tier",
            unit: "accounts",
        };
        let items = [
            ("Gold".to_owned(), dec("30")),
            ("Silver".to_owned(), dec("60")),
        ];
        let html = horizontal(&chart, &items);
        // 60 rounds up to an axis of 100 over 424 px.
        let silver = mark(&html, "60");
        assert!(silver.contains("data-series=\"Accounts by tier\" data-label=\"Silver\""));
        assert_eq!(attr(silver, "x"), dec("136"));
        assert_eq!(attr(silver, "width"), dec("254.4"));
        assert_eq!(attr(mark(&html, "30"), "width"), dec("127.2"));
        assert!(html.contains("Horizontal bar chart of 2 items, in accounts."));
        assert!(html.contains("viewBox=\"0 0 640 116\""));
    }

    #[test]
    fn progress_above_one_hundred_is_drawn_full_but_keeps_its_value() {
        let chart = Chart {
            id: "goals",
            title: "Goals",
            unit: "%",
        };
        let goal = |label: &str, percent: &str, status: &str| Progress {
            label: label.to_owned(),
            percent: dec(percent),
            status: status.to_owned(),
        };
        let html = progress(
            &chart,
            &[
                goal("Active accounts", "140", "achieved"),
                goal("Revenue", "50", "at risk"),
                goal("Referrals", "0", "not started"),
            ],
        );
        let full = mark(&html, "140");
        assert!(full.contains("data-status=\"achieved\""));
        assert_eq!(attr(full, "width"), dec("336"));
        assert_eq!(attr(mark(&html, "50"), "width"), dec("168"));
        assert_eq!(attr(mark(&html, "0"), "width"), dec("0"));
        assert!(html.contains(">at risk</text>"));
        assert!(html.contains(
            "<td data-series=\"Goals\" data-label=\"Revenue\" data-value=\"50\" \
             data-status=\"at risk\">50</td><td>at risk</td>"
        ));
        assert!(html.contains("<title>Active accounts: 140 %, achieved</title>"));
    }
}
