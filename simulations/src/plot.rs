//! SVG plots of a report (plotters, SVG backend only: no fonts or image libraries to build).

use std::path::Path;

use plotters::prelude::*;

use crate::report::Report;

fn io(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

fn line_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    points: &[(f64, f64)],
) -> std::io::Result<()> {
    let root = SVGBackend::new(path, (720, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(io)?;
    let x_max = points.iter().map(|p| p.0).fold(0.0, f64::max).max(1e-9) * 1.05;
    let y_max = points.iter().map(|p| p.1).fold(0.0, f64::max).max(1e-9) * 1.05;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)
        .map_err(io)?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .draw()
        .map_err(io)?;
    chart
        .draw_series(LineSeries::new(
            points.iter().copied(),
            BLUE.stroke_width(2),
        ))
        .map_err(io)?;
    root.present().map_err(io)
}

/// latency_cdf.svg, delivery.svg, bytes_per_node.svg and memory.svg.
pub fn all(r: &Report, dir: &Path) -> std::io::Result<()> {
    let name = format!("{}, {} nodes", r.scenario.name, r.scenario.nodes);
    line_chart(
        &dir.join("latency_cdf.svg"),
        &format!("{name}: propagation latency CDF"),
        "latency (ms)",
        "share of deliveries",
        &r.latency_cdf,
    )?;
    line_chart(
        &dir.join("delivery.svg"),
        &format!("{name}: deliveries over time"),
        "seconds since the workload started",
        "share of (node, event) delivered",
        &r.delivery_over_time,
    )?;
    let mut sorted = r.bytes_per_node.clone();
    sorted.sort_by(f64::total_cmp);
    let pts: Vec<(f64, f64)> = sorted
        .iter()
        .enumerate()
        .map(|(i, b)| (i as f64, *b / 1024.0))
        .collect();
    line_chart(
        &dir.join("bytes_per_node.svg"),
        &format!("{name}: bytes sent per node per event (sorted)"),
        "nodes, by bytes sent",
        "KiB per event",
        &pts,
    )?;
    line_chart(
        &dir.join("memory.svg"),
        &format!("{name}: resident memory"),
        "seconds since start",
        "MiB",
        &r.rss_over_time,
    )
}
