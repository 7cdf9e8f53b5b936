//! What a run reports: each scenario's figures, the raw limits around them, and the
//! medians of repeated runs (printed by `table.rs`, or written as JSON).

use serde::Serialize;

use super::raw::RawResult;

#[derive(Debug, Default, Serialize)]
pub(super) struct ScenarioResult {
    pub(super) name: String,
    pub(super) fan_out: usize,
    pub(super) body_bytes: usize,
    pub(super) events_accepted: u64,
    pub(super) events_accepted_per_s: f64,
    pub(super) calls_accepted: u64,
    pub(super) calls_delivered: u64,
    /// Ran out of retries (the receiver kept failing): hookrelay's log says `failed`.
    pub(super) calls_failed: u64,
    /// Neither delivered nor failed: lost. Must be 0.
    pub(super) calls_missing: u64,
    pub(super) duplicate_deliveries: u64,
    pub(super) receiver_requests: u64,
    pub(super) deliveries_per_s: f64,
    /// The raw limit around this scenario: the mean of the measurements just before and
    /// just after it (the machine's own speed drifts during a run, so one taken earlier
    /// would say less about this scenario).
    pub(super) raw_limit_per_s: f64,
    pub(super) percent_of_raw_limit: f64,
    /// The same for bare POSTs (see [`RawRequests::Bare`]).
    pub(super) bare_raw_limit_per_s: f64,
    pub(super) percent_of_bare_raw_limit: f64,
    pub(super) latency_ms_p50: f64,
    pub(super) latency_ms_p90: f64,
    pub(super) latency_ms_p99: f64,
    pub(super) latency_ms_max: f64,
    pub(super) server_idle_rss_mb: f64,
    pub(super) server_peak_rss_mb: f64,
    /// CPU the server used from the first publish until every call was accounted for,
    /// in cores (CPU seconds per second); the same for the bench process itself
    /// (publisher and receiver): together they show how much of the machine was busy.
    pub(super) server_cores: f64,
    pub(super) bench_cores: f64,
    /// Cores' worth of CPU the host took from this (virtual) machine meanwhile: figures
    /// measured while it did are lower than the machine's own and not comparable.
    pub(super) stolen_cores: f64,
    /// The most the host took during the two raw measurements around this run.
    pub(super) raw_stolen_cores: f64,
    /// The webhook's rate limit, when the scenario sets one, and the most calls that
    /// arrived within any one second.
    pub(super) rate_limit_per_s: Option<u32>,
    pub(super) busiest_second: u64,
    /// For an ordered scenario: the unordered one it is compared with.
    pub(super) unordered_twin: Option<String>,
}

impl ScenarioResult {
    /// Whether the host left the machine alone during this run and the raw measurements
    /// around it, so its share of the raw limit compares with other runs'.
    fn is_calm(&self) -> bool {
        self.stolen_cores.max(self.raw_stolen_cores) < STOLEN_WORTH_A_WARNING
    }
}

#[derive(Debug, Serialize)]
pub(super) struct Report {
    pub(super) version: &'static str,
    pub(super) cores: usize,
    pub(super) database: String,
    /// Concurrent publishers in the full-speed scenarios.
    pub(super) publishers: usize,
    /// Every measurement of the raw limit, in order: before the first scenario and after
    /// each one.
    pub(super) raw_limits: Vec<RawResult>,
    /// Every run of every scenario, in the order they ran.
    pub(super) scenarios: Vec<ScenarioResult>,
    /// Per scenario run more than once (`--repeat`): the medians of its runs.
    pub(super) medians: Vec<ScenarioMedians>,
    /// Each ordered scenario beside its unordered twin, both from this run.
    pub(super) ordering_costs: Vec<OrderingCost>,
}

/// What ordering costs: an ordered scenario's deliveries/s against its unordered twin's,
/// each the mean of its runs in one bench run.
#[derive(Debug, Serialize, PartialEq)]
pub(super) struct OrderingCost {
    pub(super) ordered: String,
    pub(super) unordered: String,
    pub(super) ordered_deliveries_per_s: f64,
    pub(super) unordered_deliveries_per_s: f64,
    pub(super) percent_of_unordered: f64,
}

/// The ordered scenarios whose unordered twin ran too, in the order they first ran.
pub(super) fn ordering_costs(results: &[ScenarioResult]) -> Vec<OrderingCost> {
    let mean = |name: &str| {
        let runs: Vec<f64> = results
            .iter()
            .filter(|r| r.name == name)
            .map(|r| r.deliveries_per_s)
            .collect();
        (!runs.is_empty()).then(|| runs.iter().sum::<f64>() / runs.len() as f64)
    };
    let mut costs: Vec<OrderingCost> = Vec::new();
    for r in results {
        let Some(twin) = &r.unordered_twin else {
            continue;
        };
        if costs.iter().any(|c| c.ordered == r.name) {
            continue;
        }
        if let (Some(ordered), Some(unordered)) = (mean(&r.name), mean(twin)) {
            costs.push(OrderingCost {
                ordered: r.name.clone(),
                unordered: twin.clone(),
                ordered_deliveries_per_s: ordered,
                unordered_deliveries_per_s: unordered,
                percent_of_unordered: 100.0 * ordered / unordered.max(1e-9),
            });
        }
    }
    costs
}

#[derive(Debug, Serialize, PartialEq)]
pub(super) struct ScenarioMedians {
    pub(super) name: String,
    /// Runs the medians are of.
    pub(super) runs: usize,
    /// Runs left out because the host took CPU during them (or during a raw measurement
    /// around them); none are left out when it took CPU during every run.
    pub(super) runs_left_out: usize,
    pub(super) deliveries_per_s: f64,
    pub(super) percent_of_raw_limit: f64,
    pub(super) percent_of_raw_limit_min: f64,
    pub(super) percent_of_raw_limit_max: f64,
    /// Runs that delivered at least half the raw limit around them.
    pub(super) runs_at_half_the_raw_limit: usize,
    pub(super) percent_of_bare_raw_limit: f64,
    pub(super) latency_ms_p99: f64,
    pub(super) server_peak_rss_mb: f64,
}

/// The medians of each scenario that ran more than once, in the order scenarios first ran.
pub(super) fn medians(results: &[ScenarioResult]) -> Vec<ScenarioMedians> {
    let mut names: Vec<&str> = Vec::new();
    for r in results {
        if !names.contains(&r.name.as_str()) {
            names.push(&r.name);
        }
    }
    names
        .into_iter()
        .filter_map(|name| {
            let all: Vec<&ScenarioResult> = results.iter().filter(|r| r.name == name).collect();
            if all.len() < 2 {
                return None;
            }
            let calm: Vec<&ScenarioResult> = all.iter().copied().filter(|r| r.is_calm()).collect();
            let runs = if calm.is_empty() { all.clone() } else { calm };
            let median = |figure: fn(&ScenarioResult) -> f64| {
                let mut values: Vec<f64> = runs.iter().map(|r| figure(r)).collect();
                values.sort_by(f64::total_cmp);
                let middle = values.len() / 2;
                if values.len().is_multiple_of(2) {
                    (values[middle - 1] + values[middle]) / 2.0
                } else {
                    values[middle]
                }
            };
            let percents = runs.iter().map(|r| r.percent_of_raw_limit);
            Some(ScenarioMedians {
                name: name.to_owned(),
                runs: runs.len(),
                runs_left_out: all.len() - runs.len(),
                deliveries_per_s: median(|r| r.deliveries_per_s),
                percent_of_raw_limit: median(|r| r.percent_of_raw_limit),
                percent_of_raw_limit_min: percents.clone().fold(f64::INFINITY, f64::min),
                percent_of_raw_limit_max: percents.clone().fold(0.0, f64::max),
                runs_at_half_the_raw_limit: percents.filter(|&p| p >= 50.0).count(),
                percent_of_bare_raw_limit: median(|r| r.percent_of_bare_raw_limit),
                latency_ms_p99: median(|r| r.latency_ms_p99),
                server_peak_rss_mb: median(|r| r.server_peak_rss_mb),
            })
        })
        .collect()
}

/// Stolen CPU (cores) from which the table warns that its figures are not comparable.
pub(super) const STOLEN_WORTH_A_WARNING: f64 = 0.1;

#[cfg(test)]
mod tests {
    use super::*;

    fn run_of(name: &str, percent: f64, p99: f64) -> ScenarioResult {
        ScenarioResult {
            name: name.into(),
            deliveries_per_s: percent * 100.0,
            percent_of_raw_limit: percent,
            percent_of_bare_raw_limit: percent / 2.0,
            latency_ms_p99: p99,
            ..ScenarioResult::default()
        }
    }

    #[test]
    fn medians_cover_each_repeated_scenario_in_the_order_it_first_ran() {
        let runs = [
            run_of("b", 40.0, 10.0),
            run_of("a", 70.0, 1.0),
            run_of("b", 55.0, 30.0),
            run_of("b", 60.0, 20.0),
        ];
        let found = medians(&runs);
        assert_eq!(found.len(), 1, "a scenario run once has no medians");
        let b = &found[0];
        assert_eq!((b.name.as_str(), b.runs), ("b", 3));
        assert_eq!(b.percent_of_raw_limit, 55.0);
        assert_eq!(b.deliveries_per_s, 5500.0);
        assert_eq!(
            (b.percent_of_raw_limit_min, b.percent_of_raw_limit_max),
            (40.0, 60.0)
        );
        assert_eq!(b.runs_at_half_the_raw_limit, 2);
        assert_eq!(b.percent_of_bare_raw_limit, 27.5);
        assert_eq!(b.latency_ms_p99, 20.0);
        let mut stolen = run_of("b", 10.0, 99.0);
        stolen.raw_stolen_cores = 0.5;
        let with_stolen: Vec<ScenarioResult> = runs.into_iter().chain([stolen]).collect();
        let calm = &medians(&with_stolen)[0];
        assert_eq!(
            (calm.runs, calm.runs_left_out),
            (3, 1),
            "a run with CPU stolen is left out"
        );
        assert_eq!(calm.percent_of_raw_limit, 55.0);
        let mut all_stolen = vec![run_of("c", 30.0, 1.0), run_of("c", 40.0, 1.0)];
        all_stolen.iter_mut().for_each(|r| r.stolen_cores = 0.3);
        let fallback = &medians(&all_stolen)[0];
        assert_eq!(
            (fallback.runs, fallback.runs_left_out),
            (2, 0),
            "unless every run had some"
        );
        let even = medians(&with_stolen[..3]);
        assert_eq!(
            even[0].percent_of_raw_limit, 47.5,
            "an even count takes the mean of the middle two"
        );
    }

    #[test]
    fn ordered_runs_are_set_beside_their_unordered_twins_means() {
        let mut runs = vec![
            run_of("plain", 90.0, 1.0),
            run_of("plain", 90.0, 1.0),
            run_of("ordered", 50.0, 1.0),
        ];
        runs[0].deliveries_per_s = 1000.0;
        runs[1].deliveries_per_s = 3000.0;
        runs[2].deliveries_per_s = 1500.0;
        runs[2].unordered_twin = Some("plain".into());
        let costs = ordering_costs(&runs);
        assert_eq!(costs.len(), 1);
        assert_eq!(costs[0].unordered_deliveries_per_s, 2000.0);
        assert_eq!(costs[0].percent_of_unordered, 75.0);
        assert!(ordering_costs(&runs[2..]).is_empty(), "no twin, no figure");
    }
}
