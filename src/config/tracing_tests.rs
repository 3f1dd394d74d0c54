//! `[tracing]`: defaults without the table, every key read, each bad value
//! reported at its key and line, and the OTLP endpoint syntax.

use super::*;

/// Lines 1-2: a valid server; `[tracing]` starts on line 4.
const BASE: &str = "[server]\nlisten = \"127.0.0.1:8080\"\n";

fn tracing(body: &str) -> String {
    format!("{BASE}\n[tracing]\n{body}")
}

fn spec(src: &str) -> TracingSpec {
    match load_str(src, "t.toml") {
        Ok(c) => c.tracing,
        Err(e) => panic!("unexpected errors:\n{e}"),
    }
}

/// The only error's key, line and message.
fn only_error(src: &str) -> (String, Option<usize>, String) {
    let errs = match load_str(src, "t.toml") {
        Ok(_) => panic!("expected an error for:\n{src}"),
        Err(e) => e.0,
    };
    assert_eq!(errs.len(), 1, "{errs:#?}");
    let e = &errs[0];
    (e.key.clone(), e.line, e.message.clone())
}

#[test]
fn absent_table_means_propagation_without_export() {
    let t = spec(BASE);
    assert_eq!(t, TracingSpec::default());
    assert_eq!(t.otlp, None);
    assert_eq!(t.sample_ratio, 1.0);
    assert!(!t.request_id_from_trace);
    assert_eq!(spec(&tracing("")), TracingSpec::default());
}

#[test]
fn every_tracing_key_is_read() {
    let t = spec(&tracing(
        "otlp_endpoint = \"http://127.0.0.1:4318/v1/traces\"\nsample_ratio = 0.1\nrequest_id = \"trace_id\"\n",
    ));
    let ep = t.otlp.expect("endpoint");
    assert_eq!(
        (&*ep.host, ep.port, &*ep.path, &*ep.authority),
        ("127.0.0.1", 4318, "/v1/traces", "127.0.0.1:4318")
    );
    assert_eq!(ep.to_string(), "http://127.0.0.1:4318/v1/traces");
    assert_eq!(t.sample_ratio, 0.1);
    assert!(t.request_id_from_trace);
    assert!(!spec(&tracing("request_id = \"generate\"\n")).request_id_from_trace);
}

#[test]
fn sample_ratio_bounds() {
    for (v, want) in [
        ("0", 0.0),
        ("1", 1.0),
        ("0.0", 0.0),
        ("1.0", 1.0),
        ("0.25", 0.25),
    ] {
        let t = spec(&tracing(&format!("sample_ratio = {v}\n")));
        assert_eq!(t.sample_ratio, want, "{v}");
    }
    for v in ["1.5", "-0.1", "nan", "inf", "2"] {
        let (key, line, msg) = only_error(&tracing(&format!("sample_ratio = {v}\n")));
        assert_eq!(
            (key.as_str(), line),
            ("tracing.sample_ratio", Some(5)),
            "{v}"
        );
        assert!(msg.contains("between 0.0 and 1.0"), "{v}: {msg}");
    }
    let (key, _, _) = only_error(&tracing("sample_ratio = \"0.5\"\n"));
    assert_eq!(key, "tracing.sample_ratio");
}

#[test]
fn request_id_values() {
    let (key, line, msg) = only_error(&tracing("request_id = \"uuid\"\n"));
    assert_eq!((key.as_str(), line), ("tracing.request_id", Some(5)));
    assert!(msg.contains("\"generate\" or \"trace_id\""), "{msg}");
}

#[test]
fn unknown_keys_and_shapes() {
    let (key, line, msg) = only_error(&tracing("endpoint = \"http://a:1/\"\n"));
    assert_eq!((key.as_str(), line), ("tracing.endpoint", Some(5)));
    assert!(msg.contains("unknown field"), "{msg}");
    let (key, _, msg) = only_error(&format!("tracing = 1\n{BASE}"));
    assert_eq!(key, "tracing");
    assert!(msg.contains("[tracing]"), "{msg}");
}

#[test]
fn bad_endpoint_is_reported_at_its_key() {
    let src = tracing("sample_ratio = 0.5\notlp_endpoint = \"https://collector:4318/v1/traces\"\n");
    let (key, line, msg) = only_error(&src);
    assert_eq!((key.as_str(), line), ("tracing.otlp_endpoint", Some(6)));
    assert!(msg.contains("TLS to the collector comes later"), "{msg}");
}

#[test]
fn endpoint_syntax() {
    let ok = |u: &str| OtlpEndpoint::parse(u).unwrap_or_else(|e| panic!("{u}: {e}"));
    let e = ok("http://collector.local:4318/v1/traces");
    assert_eq!((&*e.host, e.port), ("collector.local", 4318));
    let e = ok("HTTP://[::1]:4318/v1/traces?tenant=a");
    assert_eq!(
        (&*e.host, e.port, &*e.path),
        ("::1", 4318, "/v1/traces?tenant=a")
    );
    assert_eq!(&*e.authority, "[::1]:4318");
    let e = ok("http://otel/");
    assert_eq!((&*e.host, e.port, &*e.path), ("otel", 80, "/"));
    let bad = [
        (
            "https://127.0.0.1:4318/v1/traces",
            "https is not supported yet",
        ),
        (
            "HTTPS://127.0.0.1:4318/v1/traces",
            "https is not supported yet",
        ),
        ("grpc://127.0.0.1:4317/", "not an http:// URL"),
        ("127.0.0.1:4318/v1/traces", "not an http:// URL"),
        ("http://127.0.0.1:4318", "has no path"),
        ("http://", "has no path"),
        ("http:///v1/traces", "is not a host"),
        ("http://:4318/v1/traces", "is not a host"),
        ("http://user:pw@127.0.0.1:4318/v1/traces", "credentials"),
        ("http://127.0.0.1:0/v1/traces", "1..=65535"),
        ("http://127.0.0.1:65536/v1/traces", "is not a host"),
        ("http://127.0.0.1:/v1/traces", "is not a host"),
        ("http://[::1/v1/traces", "is not a host"),
        ("http://127.0.0.1:4318/v1 traces", "printable ASCII"),
        ("http://127.0.0.1:4318/v1/traces#frag", "printable ASCII"),
        ("http://bad host:4318/v1/traces", "is not a host"),
    ];
    for (u, want) in bad {
        match OtlpEndpoint::parse(u) {
            Ok(e) => panic!("{u} accepted as {e:?}"),
            Err(msg) => assert!(msg.contains(want), "{u}: {msg}"),
        }
    }
}
