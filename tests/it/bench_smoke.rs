//! The bench keeps working: a very short run of one scenario produces a complete report
//! whose ledger balances. (Figures are not asserted: performance is measured by the bench,
//! not by tests.)

use serde_json::Value;

#[test]
fn a_short_bench_run_reports_every_figure_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hookrelay"))
        .args([
            "bench",
            "--duration=300ms",
            "--concurrency=8",
            "--publishers=4",
            "--only=fanout10-0ms-1KiB-max",
            "--repeat=2",
        ])
        .arg(format!("--json={}", json.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("raw loopback limit") && table.contains("fanout10-0ms-1KiB-max"),
        "{table}"
    );
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    // The raw limit is measured before the first run and again after each; each run is
    // compared with the mean of the two measurements around it.
    let raw_limits = |field: &str| -> Vec<f64> {
        report["raw_limits"]
            .as_array()
            .expect("raw limits")
            .iter()
            .map(|raw| raw[field].as_f64().unwrap())
            .collect()
    };
    let raw = raw_limits("requests_per_s");
    assert_eq!(raw.len(), 3, "{raw:?}");
    assert!(raw.iter().all(|&r| r > 0.0), "{raw:?}");
    // Each measurement also sends bare POSTs, reported beside the delivery-shaped ones.
    let bare = raw_limits("bare_requests_per_s");
    assert!(bare.iter().all(|&r| r > 0.0), "{bare:?}");
    assert_eq!(report["publishers"], 4);
    let runs = report["scenarios"].as_array().expect("runs");
    assert_eq!(runs.len(), 2);
    let second = runs[1]["raw_limit_per_s"].as_f64().unwrap();
    assert!((second - (raw[1] + raw[2]) / 2.0).abs() < 1e-6, "{second}");
    // Repeated, the scenario also gets its medians.
    let medians = &report["medians"][0];
    assert_eq!(medians["name"], "fanout10-0ms-1KiB-max");
    // Runs during which the host took CPU are left out (unless both were).
    let counted = medians["runs"].as_u64().unwrap();
    assert_eq!(counted + medians["runs_left_out"].as_u64().unwrap(), 2);
    if counted == 2 {
        let percents: Vec<f64> = runs
            .iter()
            .map(|run| run["percent_of_raw_limit"].as_f64().unwrap())
            .collect();
        let median = medians["percent_of_raw_limit"].as_f64().unwrap();
        assert!(
            (median - (percents[0] + percents[1]) / 2.0).abs() < 1e-6,
            "{median}"
        );
    }
    assert!(table.contains("medians"), "{table}");
    let scenario = &runs[0];
    assert_eq!(scenario["fan_out"], 10);
    let accepted = scenario["calls_accepted"].as_u64().unwrap();
    assert!(accepted > 0);
    assert_eq!(accepted, 10 * scenario["events_accepted"].as_u64().unwrap());
    assert_eq!(
        scenario["calls_delivered"].as_u64().unwrap() + scenario["calls_failed"].as_u64().unwrap(),
        accepted
    );
    assert_eq!(scenario["calls_missing"], 0);
    let around = scenario["raw_limit_per_s"].as_f64().unwrap();
    assert!((around - (raw[0] + raw[1]) / 2.0).abs() < 1e-6, "{around}");
    let percent = scenario["percent_of_raw_limit"].as_f64().unwrap();
    let delivered = scenario["deliveries_per_s"].as_f64().unwrap();
    assert!(
        (percent - 100.0 * delivered / around).abs() < 1e-6,
        "{percent}"
    );
    let bare_around = scenario["bare_raw_limit_per_s"].as_f64().unwrap();
    assert!((bare_around - (bare[0] + bare[1]) / 2.0).abs() < 1e-6);
    let percent_of_bare = scenario["percent_of_bare_raw_limit"].as_f64().unwrap();
    assert!((percent_of_bare - 100.0 * delivered / bare_around).abs() < 1e-6);
    for field in [
        "latency_ms_p50",
        "latency_ms_p99",
        "server_idle_rss_mb",
        "server_peak_rss_mb",
        "percent_of_raw_limit",
        "server_cores",
        "bench_cores",
    ] {
        assert!(scenario[field].as_f64().unwrap() > 0.0, "{field}");
    }
    // Stolen CPU is reported (0 on a machine of its own), never more than it has.
    let cores = report["cores"].as_f64().unwrap();
    for stolen in [
        &report["raw_limits"][1]["stolen_cores"],
        &scenario["stolen_cores"],
    ] {
        let stolen = stolen.as_f64().expect("stolen cores reported");
        assert!((0.0..=cores).contains(&stolen), "{stolen}");
    }
}

/// The scenarios of the bad months run too: a black hole beside healthy receivers, whose
/// calls are left out of the ledger, and a rate-limited webhook, whose busiest second is
/// reported.
#[test]
fn the_black_hole_and_rate_limit_scenarios_balance_their_ledgers() {
    for (only, check) in [("blackhole", None), ("ratelimit", Some(200u64))] {
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("bench.json");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_hookrelay"))
            .args(["bench", "--duration=500ms", "--concurrency=16"])
            .arg(format!("--only={only}"))
            .arg(format!("--json={}", json.display()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        let run = &report["scenarios"][0];
        assert_eq!(run["calls_missing"], 0, "{run}");
        assert!(run["calls_delivered"].as_u64().unwrap() > 0, "{run}");
        if let Some(limit) = check {
            assert_eq!(run["rate_limit_per_s"], limit);
            // A twentieth of a second's calls may go at once, on top of the limit.
            let busiest = run["busiest_second"].as_u64().unwrap();
            assert!(busiest <= limit + limit / 20, "{run}");
        } else {
            // 9 of the 10 webhooks are in the ledger.
            let accepted = run["calls_accepted"].as_u64().unwrap();
            let events = run["events_accepted"].as_u64().unwrap();
            assert_eq!(accepted, events * 9, "{run}");
        }
    }
}
