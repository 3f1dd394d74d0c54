//! The JSON document and the .hgrm file: versioned, with `meta` and every
//! figure and validity flag a reader needs, in a stable shape.

mod common;

use std::time::Duration;

use common::{loadgen, temp_path, Serve};

#[test]
fn run_json_has_the_versioned_schema() {
    let serve = Serve::start(&[]);
    let json = temp_path("schema.json");
    let hgrm = temp_path("schema.hgrm");
    let out = loadgen(
        &[
            "run",
            &serve.url(),
            "--rate",
            "500",
            "-c",
            "2",
            "-d",
            "400ms",
            "--warmup",
            "100ms",
            "--cpus",
            "0",
            "-H",
            "x-test: 1",
            "--json",
            json.to_str().unwrap(),
            "--hgrm",
            hgrm.to_str().unwrap(),
        ],
        Duration::from_secs(60),
    );
    assert!(out.code == 0 || out.code == 3, "{}", out.stderr);
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(j["schema"], "ringway-loadgen/run");
    assert_eq!(j["version"], 1);
    for k in [
        "time",
        "loadgen_version",
        "kernel",
        "cpu_model",
        "cores",
        "loadavg",
        "pinning",
        "command",
        "io",
    ] {
        assert!(!j["meta"][k].is_null(), "meta.{k} missing: {}", j["meta"]);
    }
    assert!(j["meta"].get("git_sha").is_some());
    assert!(j["meta"]["pinning"].as_str().unwrap().contains("[0]"));
    assert!(j["meta"]["command"]
        .as_str()
        .unwrap()
        .contains("--rate 500"));
    for h in ["latency_us", "service_us", "ttfb_us", "send_delay_us"] {
        for k in [
            "count", "min", "mean", "stdev", "p50", "p90", "p99", "p99_9", "p99_99", "max",
        ] {
            assert!(j["result"][h][k].is_number(), "result.{h}.{k} missing");
        }
    }
    let r = &j["result"];
    assert!(r["latency_us"]["p50"].as_f64().unwrap() <= r["latency_us"]["p99"].as_f64().unwrap());
    assert!(
        r["service_us"]["p50"].as_f64().unwrap() <= r["latency_us"]["p50"].as_f64().unwrap() + 0.01
    );
    for k in ["connect", "timeout", "read", "write", "status"] {
        assert!(!r["errors"][k].is_null(), "errors.{k} missing");
    }
    for k in [
        "valid",
        "target_rate",
        "achieved_rate",
        "rate_ok",
        "send_delay_p99_us",
        "send_delay_bound_us",
        "send_delay_ok",
        "loadgen_cpu",
        "cpu_ok",
        "errors",
        "errors_ok",
        "failures",
    ] {
        assert!(j["validity"].get(k).is_some(), "validity.{k} missing");
    }
    assert_eq!(j["config"]["rate"].as_f64(), Some(500.0));
    assert_eq!(j["config"]["connections"], 2);
    let responses = j["result"]["responses"].as_u64().unwrap();
    assert!(
        (180..=200).contains(&responses),
        "{responses} of 200 scheduled"
    );

    let h = std::fs::read_to_string(&hgrm).unwrap();
    let mut lines = h.lines();
    assert!(lines
        .next()
        .unwrap()
        .contains("Value     Percentile TotalCount 1/(1-Percentile)"));
    assert!(
        h.contains("#[Mean    =")
            && h.contains("#[Max     =")
            && h.contains(&format!("Total count    = {responses:>12}]")),
        "{h}"
    );
    // Percentiles climb monotonically to 1.0.
    let qs: Vec<f64> = h
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1)?.parse().ok())
        .collect();
    assert!(
        qs.windows(2).all(|w| w[0] <= w[1]) && *qs.last().unwrap() == 1.0,
        "{qs:?}"
    );
}
