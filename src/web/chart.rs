//! Server-rendered SVG: the overview's calls-per-hour chart and the success-rate meter. No
//! script and no inline style (the CSP forbids both); colours come from CSS classes.

use maud::{html, Markup};

use crate::domain::activity::{Bucket, Tally};

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 170.0;
const PLOT_TOP: f64 = 10.0;
const PLOT_BOTTOM: f64 = 145.0;
const LEFT: f64 = 34.0;

/// Stacked bars per bucket (success at the bottom, then failed, then pending), a scale on
/// the left and the hour under every sixth bar. Each bar has a tooltip with its counts.
pub fn calls_chart(buckets: &[Bucket]) -> Markup {
    let peak = buckets
        .iter()
        .map(|b| b.calls.total())
        .max()
        .unwrap_or(0)
        .max(1);
    let scale = nice_ceiling(peak);
    let slot = (WIDTH - LEFT) / buckets.len().max(1) as f64;
    let bar = (slot * 0.72).max(1.0);
    let per_call = (PLOT_BOTTOM - PLOT_TOP) / scale as f64;
    let total: i64 = buckets.iter().map(|b| b.calls.total()).sum();
    let label = format!(
        "Calls per hour over the last {} hours: {total} in all",
        buckets.len()
    );
    html! {
        svg.chart viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img" aria-label=(label) {
            line.axis x1=(LEFT) x2=(WIDTH) y1=(PLOT_BOTTOM) y2=(PLOT_BOTTOM) {}
            line.axis x1=(LEFT) x2=(WIDTH) y1=(PLOT_TOP) y2=(PLOT_TOP) stroke-dasharray="3 3" {}
            text x="0" y=(PLOT_TOP + 4.0) { (scale) }
            text x="0" y=(PLOT_BOTTOM) { "0" }
            @for (i, b) in buckets.iter().enumerate() {
                @let x = LEFT + i as f64 * slot + (slot - bar) / 2.0;
                g {
                    title { (tooltip(b)) }
                    @for (class, top, h) in stack(&b.calls, per_call) {
                        rect class=(class) x=(fmt(x)) y=(fmt(top)) width=(fmt(bar)) height=(fmt(h)) rx="1.5" {}
                    }
                    // An invisible full-height target so the tooltip shows on empty hours too.
                    rect x=(fmt(x)) y=(PLOT_TOP) width=(fmt(bar)) height=(PLOT_BOTTOM - PLOT_TOP) fill="transparent" {}
                }
                @if i % 6 == 0 {
                    text x=(fmt(x)) y=(HEIGHT - 6.0) { (hour_label(b.start)) }
                }
            }
        }
        div.legend {
            span.l-success { "success" }
            span.l-failed { "failed" }
            span.l-pending { "pending" }
        }
    }
}

/// Each non-empty part of a bar: its class, top and height.
fn stack(calls: &Tally, per_call: f64) -> Vec<(&'static str, f64, f64)> {
    let mut base = PLOT_BOTTOM;
    [
        ("bar-success", calls.success),
        ("bar-failed", calls.failed),
        ("bar-pending", calls.pending),
    ]
    .into_iter()
    .filter(|(_, n)| *n > 0)
    .map(|(class, n)| {
        let h = n as f64 * per_call;
        base -= h;
        (class, base, h)
    })
    .collect()
}

fn tooltip(b: &Bucket) -> String {
    format!(
        "{}: {} success, {} failed, {} pending",
        hour_label(b.start),
        b.calls.success,
        b.calls.failed,
        b.calls.pending
    )
}

/// `14:00` (UTC).
fn hour_label(ms: i64) -> String {
    format!("{:02}:00", (ms / 3_600_000).rem_euclid(24))
}

fn fmt(v: f64) -> String {
    format!("{v:.1}")
}

/// 1, 2, 5, 10, 20, 50, … at or above `n`: a round top for the scale.
fn nice_ceiling(n: i64) -> i64 {
    let mut step = 1;
    loop {
        for m in [1, 2, 5] {
            if step * m >= n {
                return step * m;
            }
        }
        step *= 10;
    }
}

/// A small bar that fills with the share of finished calls that succeeded.
pub fn success_meter(calls: &Tally) -> Markup {
    match calls.success_rate() {
        None => html! { span.muted { "no finished calls" } },
        Some(rate) => html! {
            span.meter aria-hidden="true" {
                svg width="70" height="7" { rect width=(fmt(rate * 0.7)) height="7" {} }
            }
            span { (format!("{rate:.0} %")) }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(start: i64, success: i64, failed: i64) -> Bucket {
        Bucket {
            start,
            calls: Tally {
                success,
                failed,
                pending: 0,
                not_sent: 0,
            },
        }
    }

    #[test]
    fn bars_are_stacked_in_proportion() {
        let svg = calls_chart(&[bucket(0, 8, 2), bucket(3_600_000, 0, 0)]).into_string();
        // Scale 10 over 135 px: 8 calls are 108 px high, 2 calls 27 px stacked above them.
        assert!(svg.contains(r#"class="bar-success" x="#), "{svg}");
        assert!(svg.contains(r#"y="37.0" width="#), "{svg}");
        assert!(svg.contains(r#"height="108.0""#), "{svg}");
        assert!(svg.contains(r#"y="10.0" width="#), "{svg}");
        assert!(svg.contains(r#"height="27.0""#), "{svg}");
        assert!(svg.contains("00:00: 8 success, 2 failed, 0 pending"));
        assert!(svg.contains("10 in all"));
        assert_eq!(svg.matches("bar-failed").count(), 1);
    }

    #[test]
    fn the_scale_rounds_up() {
        assert_eq!(nice_ceiling(1), 1);
        assert_eq!(nice_ceiling(3), 5);
        assert_eq!(nice_ceiling(11), 20);
        assert_eq!(nice_ceiling(501), 1000);
    }

    #[test]
    fn the_meter_shows_the_rate_or_says_there_is_none() {
        let half = Tally {
            success: 1,
            failed: 1,
            pending: 3,
            not_sent: 0,
        };
        assert!(success_meter(&half).into_string().contains("50 %"));
        assert!(success_meter(&Tally::default())
            .into_string()
            .contains("no finished calls"));
    }
}
