//! File discovery on a real file: the set follows the file, an invalid or
//! missing file keeps the last good set and is counted once per change, a
//! file gone bad between load and start starts empty, and `ringway check`
//! reports a bad file with its key.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::sink::RecordingSink;
use common::{eventually, run_cli, write_config};
use ringway::discovery;

/// A fresh directory for one test's files.
fn dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ringway-file-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Replaces `path` as a deployment tool would: write, then rename.
fn put(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn config_text(path: &Path) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n\n[[upstreams]]\nname = \"legacy\"\ndiscovery = \"file\"\ntargets_file = {:?}\n",
        path.display().to_string()
    )
}

fn config(path: &Path) -> ringway::config::Compiled {
    ringway::config::load_str(&config_text(path), "t.toml").unwrap_or_else(|e| panic!("{e}"))
}

const WAIT: Duration = Duration::from_secs(3);

#[test]
fn the_set_follows_the_file_and_bad_versions_are_kept_out() {
    let d = dir("follow");
    let f = d.join("targets.json");
    put(
        &f,
        r#"[{"addr": "127.0.0.2:8080", "weight": 2}, {"addr": "127.0.0.1:8080"}]"#,
    );
    let sink = RecordingSink::new();
    let h = discovery::start(&config(&f), sink.clone()).expect("start");
    // Published before `start` returns.
    assert!(sink.wait_for(
        0,
        &[("127.0.0.1:8080", 1), ("127.0.0.2:8080", 2)],
        Duration::ZERO
    ));

    put(&f, r#"[{"addr": "127.0.0.3:9000", "weight": 5}]"#);
    assert!(
        sink.wait_for(0, &[("127.0.0.3:9000", 5)], WAIT),
        "{:?}",
        sink.latest(0)
    );

    // Invalid JSON, a bad entry, a missing file: each one error, set kept.
    let published = sink.count(0);
    for (n, bad) in ["[{\"addr\": ", r#"[{"addr": "legacy.internal:80"}]"#]
        .iter()
        .enumerate()
    {
        put(&f, bad);
        let want = n as u64 + 1;
        assert!(
            eventually(WAIT, || h.stats().failures(0) == want),
            "{}",
            h.stats().failures(0)
        );
    }
    std::fs::remove_file(&f).unwrap();
    assert!(eventually(WAIT, || h.stats().failures(0) == 3));
    // Once per change: an unchanged bad state is not counted again.
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(h.stats().failures(0), 3);
    assert_eq!(sink.count(0), published);
    assert!(sink.wait_for(0, &[("127.0.0.3:9000", 5)], Duration::ZERO));
    let mut text = String::new();
    h.stats().render(&mut text);
    assert!(
        text.contains("ringway_discovery_file_errors_total{upstream=\"legacy\"} 3"),
        "{text}"
    );

    // Fixed: applied. An empty list is a valid (empty) set.
    put(&f, r#"[{"addr": "127.0.0.4:80"}]"#);
    assert!(sink.wait_for(0, &[("127.0.0.4:80", 1)], WAIT));
    put(&f, "[]");
    assert!(sink.wait_for(0, &[], WAIT));

    // Dropped: the watcher stops.
    drop(h);
    let after = sink.count(0);
    put(&f, r#"[{"addr": "127.0.0.5:80"}]"#);
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(sink.count(0), after);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_file_gone_bad_before_start_starts_empty() {
    let d = dir("start");
    let f = d.join("targets.json");
    put(&f, r#"[{"addr": "127.0.0.1:80"}]"#);
    let cfg = config(&f);
    put(&f, "not json");
    let sink = RecordingSink::new();
    let h = discovery::start(&cfg, sink.clone()).expect("start");
    assert!(
        sink.wait_for(0, &[], Duration::ZERO),
        "{:?}",
        sink.latest(0)
    );
    assert_eq!(h.stats().failures(0), 1);
    put(&f, r#"[{"addr": "127.0.0.1:80"}]"#);
    assert!(sink.wait_for(0, &[("127.0.0.1:80", 1)], WAIT));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn check_reports_a_bad_targets_file() {
    let d = dir("check");
    let f = d.join("targets.json");
    put(
        &f,
        r#"[{"addr": "127.0.0.1:80"}, {"addr": "127.0.0.1:80"}]"#,
    );
    let cfg = write_config(&config_text(&f));
    let out = run_cli(&["check", "--config", &cfg.display().to_string()]);
    assert!(!out.status.success(), "{}", out.stdout);
    let want = format!(
        "upstreams[0].targets_file: {}: [1].addr: 127.0.0.1:80 is already [0]",
        f.display()
    );
    assert!(out.stderr.contains(&want), "{}", out.stderr);
    put(&f, r#"[{"addr": "127.0.0.1:80"}]"#);
    let out = run_cli(&["check", "--config", &cfg.display().to_string()]);
    assert!(out.status.success(), "{}", out.stderr);
    std::fs::remove_file(cfg).unwrap();
    std::fs::remove_dir_all(&d).unwrap();
}
