//! The bench's report as a table on standard output.

use super::raw::RawResult;
use super::report::{Report, STOLEN_WORTH_A_WARNING};

pub fn print_table(report: &Report) {
    let range = |limit: fn(&RawResult) -> f64| {
        let limits = report.raw_limits.iter().map(limit);
        let lowest = limits.clone().reduce(f64::min).unwrap_or(0.0);
        let highest = limits.fold(0.0, f64::max);
        if report.raw_limits.len() > 1 {
            format!("{lowest:.0}-{highest:.0}")
        } else {
            format!("{lowest:.0}")
        }
    };
    println!(
        "\nhookrelay {} bench on {} cores, {}; raw loopback limit {} req/s for requests shaped \
         as deliveries, {} for bare POSTs ({} measurements, {} concurrent); {} publishers at \
         full speed\n",
        report.version,
        report.cores,
        report.database,
        range(|raw| raw.requests_per_s),
        range(|raw| raw.bare_requests_per_s),
        report.raw_limits.len(),
        report.raw_limits.first().map_or(0, |raw| raw.concurrency),
        report.publishers
    );
    println!(
        "{:<30} {:>9} {:>10} {:>8} {:>7} {:>7} {:>8} {:>8} {:>8} {:>8} {:>9} {:>9} {:>7} {:>8} {:>9} {:>9} {:>6}",
        "scenario",
        "events/s",
        "deliv/s",
        "raw/s",
        "% raw",
        "% bare",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "idle MB",
        "peak MB",
        "failed",
        "missing",
        "srv cores",
        "bench cores",
        "stolen"
    );
    for r in &report.scenarios {
        println!(
            "{:<30} {:>9.0} {:>10.0} {:>8.0} {:>6.1}% {:>6.1}% {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>9.1} {:>9.1} {:>7} {:>8} {:>9.2} {:>11.2} {:>6.2}",
            r.name,
            r.events_accepted_per_s,
            r.deliveries_per_s,
            r.raw_limit_per_s,
            r.percent_of_raw_limit,
            r.percent_of_bare_raw_limit,
            r.latency_ms_p50,
            r.latency_ms_p90,
            r.latency_ms_p99,
            r.latency_ms_max,
            r.server_idle_rss_mb,
            r.server_peak_rss_mb,
            r.calls_failed,
            r.calls_missing,
            r.server_cores,
            r.bench_cores,
            r.stolen_cores
        );
    }
    for r in &report.scenarios {
        if let Some(limit) = r.rate_limit_per_s {
            println!(
                "{}: rate limit {limit}/s; delivered {:.1}/s over the run ({:+.1} %), at most {} in any one second",
                r.name,
                r.deliveries_per_s,
                100.0 * (r.deliveries_per_s / f64::from(limit) - 1.0),
                r.busiest_second
            );
        }
    }
    for c in &report.ordering_costs {
        println!(
            "{}: {:.0} deliveries/s, {:.1} % of {}'s {:.0} in this run (what ordering costs)",
            c.ordered,
            c.ordered_deliveries_per_s,
            c.percent_of_unordered,
            c.unordered,
            c.unordered_deliveries_per_s
        );
    }
    if !report.medians.is_empty() {
        println!(
            "\n{:<30} {:>5} {:>9} {:>10} {:>7} {:>15} {:>9} {:>7} {:>8} {:>9}",
            "medians",
            "runs",
            "left out",
            "deliv/s",
            "% raw",
            "% raw min-max",
            ">= 50 %",
            "% bare",
            "p99 ms",
            "peak MB"
        );
        for m in &report.medians {
            println!(
                "{:<30} {:>5} {:>9} {:>10.0} {:>6.1}% {:>15} {:>9} {:>6.1}% {:>8.1} {:>9.1}",
                m.name,
                m.runs,
                m.runs_left_out,
                m.deliveries_per_s,
                m.percent_of_raw_limit,
                format!(
                    "{:.1}-{:.1}%",
                    m.percent_of_raw_limit_min, m.percent_of_raw_limit_max
                ),
                m.runs_at_half_the_raw_limit,
                m.percent_of_bare_raw_limit,
                m.latency_ms_p99,
                m.server_peak_rss_mb
            );
        }
    }
    let stolen_from_raw = report
        .raw_limits
        .iter()
        .map(|r| r.stolen_cores)
        .fold(0.0, f64::max);
    let stolen = report
        .scenarios
        .iter()
        .map(|r| r.stolen_cores)
        .fold(stolen_from_raw, f64::max);
    if stolen >= STOLEN_WORTH_A_WARNING {
        println!(
            "\nwarning: the host took up to {stolen:.2} cores from this machine during the run \
             (up to {stolen_from_raw:.2} while measuring the raw limit); figures measured then \
             are lower than the machine's own and vary from run to run"
        );
    }
}
