//! `added` against two reference upstreams, one with an injected delay: the
//! latency added must come out as that delay, with the rounds interleaved.

mod common;

use std::time::Duration;

use common::{loadgen, temp_path, Serve};

#[test]
fn added_latency_recovers_an_injected_delay() {
    let direct = Serve::start(&[]);
    let via = Serve::start(&["--delay-us", "3000"]);
    let json = temp_path("added.json");
    let out = loadgen(
        &[
            "added",
            "--direct",
            &direct.url(),
            "--via",
            &via.url(),
            "--rate",
            "400",
            "-c",
            "4",
            "-d",
            "500ms",
            "--warmup",
            "100ms",
            "--rounds",
            "2",
            "--json",
            json.to_str().unwrap(),
        ],
        Duration::from_secs(60),
    );
    assert!(
        out.code == 0 || out.code == 3,
        "{}{}",
        out.stdout,
        out.stderr
    );
    assert!(out.stdout.contains("added"), "{}", out.stdout);
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(j["schema"], "ringway-loadgen/added");
    assert_eq!(j["rounds"].as_array().unwrap().len(), 2);
    let p50 = j["added"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["percentile"] == "p50")
        .unwrap();
    let added = p50["added_us"].as_f64().unwrap();
    // 3 ms injected; the timer may overshoot, never undershoot.
    assert!(
        (2_900.0..6_000.0).contains(&added),
        "added p50 {added} us for a 3000 us delay"
    );
    assert!(
        p50["added_min_us"].as_f64().unwrap() <= added
            && added <= p50["added_max_us"].as_f64().unwrap()
    );
    // Each side was served by its own upstream: 2 rounds × 200 requests each, plus warm-up.
    assert!(via.stats().1 >= 400 && direct.stats().1 >= 400);
}
