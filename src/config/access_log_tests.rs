//! `[access_log]`: defaults, every key read, and each error on its key and line.

use std::path::PathBuf;

use super::route_tests::only;
use super::*;

/// Lines 1-3: a server; `[access_log]` on line 4 with `body` from line 5.
fn with(body: &str) -> String {
    format!("[server]\nlisten = \"127.0.0.1:8080\"\n\n[access_log]\n{body}\n")
}

fn spec(src: &str) -> Option<AccessLogSpec> {
    match load_str(src, "t.toml") {
        Ok(c) => c.access_log,
        Err(e) => panic!("{src}\n{e}"),
    }
}

#[test]
fn absent_table_means_no_access_log() {
    assert_eq!(spec("[server]\nlisten = \"127.0.0.1:8080\"\n"), None);
}

#[test]
fn defaults_are_stdout_json_everything() {
    let want = AccessLogSpec {
        output: LogOutput::Stdout,
        format: LogFormat::Json,
        sample: 1.0,
    };
    assert_eq!(spec(&with("")), Some(want));
}

#[test]
fn every_key_is_read() {
    let dir = std::env::temp_dir();
    let file = dir.join("ringway-access.log");
    let src = with(&format!(
        "output = \"file:{}\"\nformat = \"combined\"\nsample = 0.25",
        file.display()
    ));
    let want = AccessLogSpec {
        output: LogOutput::File(file),
        format: LogFormat::Combined,
        sample: 0.25,
    };
    assert_eq!(spec(&src), Some(want));
    let s = spec(&with("output = \"stdout\"\nformat = \"json\"\nsample = 0")).unwrap();
    assert_eq!(
        (s.output, s.format, s.sample),
        (LogOutput::Stdout, LogFormat::Json, 0.0)
    );
    // A relative path is taken from the working directory, like the gateway's other files.
    let s = spec(&with("output = \"file:access.log\"")).unwrap();
    assert_eq!(s.output, LogOutput::File(PathBuf::from("access.log")));
}

#[test]
fn sample_out_of_range() {
    for bad in ["1.5", "-0.1", "nan", "inf", "2"] {
        let msg = only(&with(&format!("sample = {bad}")), "access_log.sample", 5);
        assert!(msg.contains("between 0.0 and 1.0"), "{bad}: {msg}");
    }
    let msg = only(&with("sample = \"half\""), "access_log.sample", 5);
    assert!(msg.contains("invalid type"), "{msg}");
}

#[test]
fn bad_output_spellings() {
    for bad in [
        "Stdout",
        "stderr",
        "file",
        "/var/log/access.log",
        "file//tmp/a.log",
        "syslog:x",
    ] {
        let msg = only(&with(&format!("output = {bad:?}")), "access_log.output", 5);
        assert!(
            msg.contains("use \"stdout\" or \"file:PATH\""),
            "{bad}: {msg}"
        );
    }
    let msg = only(&with("output = \"file:\""), "access_log.output", 5);
    assert!(msg.contains("needs a path"), "{msg}");
}

#[test]
fn file_in_a_missing_directory() {
    let msg = only(
        &with("\n\noutput = \"file:/nonexistent-ringway-dir/access.log\""),
        "access_log.output",
        7,
    );
    assert!(
        msg.contains("/nonexistent-ringway-dir does not exist"),
        "{msg}"
    );
    let dir = std::env::temp_dir();
    let msg = only(
        &with(&format!("output = \"file:{}\"", dir.display())),
        "access_log.output",
        5,
    );
    assert!(msg.contains("is a directory"), "{msg}");
}

#[test]
fn unknown_keys_and_wrong_shapes() {
    let msg = only(
        &with("output = \"stdout\"\nbuffer = 65536"),
        "access_log.buffer",
        6,
    );
    assert!(msg.contains("unknown field `buffer`"), "{msg}");
    let msg = only(&with("format = \"common\""), "access_log.format", 5);
    assert!(msg.contains("\"json\" or \"combined\""), "{msg}");
    let msg = only(
        "access_log = \"stdout\"\n[server]\nlisten = \"127.0.0.1:8080\"\n",
        "access_log",
        1,
    );
    assert!(msg.contains("write it as [access_log]"), "{msg}");
}
