//! Tests of the `[server]` header keys: `trusted_proxies`,
//! `underscores_in_headers`, `singleton_headers`, and the one-value set
//! compiled from keys, credential sources and route matchers.

use super::*;
use crate::http::rules::Underscores;

fn load(src: &str) -> Result<Compiled, ConfigErrors> {
    load_str(src, "t.toml")
}

fn server(extra: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:8080\"\n{extra}\n[[upstreams]]\nname = \"u\"\ntargets = [\"127.0.0.1:3001\"]\n"
    )
}

fn names(c: &Compiled) -> Vec<String> {
    let mut v: Vec<String> = c
        .server
        .header_rules
        .one_value
        .iter()
        .map(|o| String::from_utf8_lossy(&o.name).into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn defaults_are_drop_and_nothing_trusted() {
    let c = load(&server("")).unwrap();
    assert_eq!(c.server.header_rules.underscores, Underscores::Drop);
    assert!(c.server.header_rules.one_value.is_empty());
    assert!(c.server.trusted_proxies.nets.is_empty());
}

#[test]
fn values_and_errors_name_their_key() {
    let c = load(&server(
        "trusted_proxies = [\"10.0.0.0/8\", \"127.0.0.1\", \"::1/128\"]\nunderscores_in_headers = \"reject\"\nsingleton_headers = [\"X-Tenant\", \"x-tenant\"]",
    ))
    .unwrap();
    assert_eq!(c.server.trusted_proxies.nets.len(), 3);
    assert!(c
        .server
        .trusted_proxies
        .contains("127.0.0.1".parse().unwrap()));
    assert_eq!(c.server.header_rules.underscores, Underscores::Reject);
    assert_eq!(names(&c), ["x-tenant"]);
    assert_eq!(
        load(&server("underscores_in_headers = \"allow\""))
            .unwrap()
            .server
            .header_rules
            .underscores,
        Underscores::Allow
    );

    let bad = server(
        "trusted_proxies = [\"10.0.0.1/8\", \"nope\"]\nunderscores_in_headers = \"off\"\nsingleton_headers = [\"x y\"]",
    );
    let errs = load(&bad).unwrap_err().0;
    let keys: Vec<(&str, Option<usize>)> = errs.iter().map(|e| (e.key.as_str(), e.line)).collect();
    assert_eq!(
        keys,
        [
            ("server.trusted_proxies[0]", Some(3)),
            ("server.trusted_proxies[1]", Some(3)),
            ("server.underscores_in_headers", Some(4)),
            ("server.singleton_headers[0]", Some(5)),
        ],
        "{errs:#?}"
    );
    assert!(errs[0].message.contains("network address"), "{errs:#?}");
    assert!(errs[2]
        .message
        .contains("\"drop\", \"reject\" or \"allow\""));
}

#[test]
fn the_one_value_set_collects_every_header_a_decision_reads() {
    let secret = std::env::temp_dir().join(format!("ringway-hdr-{}.key", std::process::id()));
    std::fs::write(&secret, "k".repeat(64)).unwrap();
    let src = format!(
        "{}
[rate_limits.t]
key = [\"ip\", \"header:X-Tenant\"]
limit = 5
period = \"1m\"

[auth.keys]
kind = \"api_key\"
keys = [ {{ id = \"a\", sha256 = \"{}\" }} ]

[auth.custom]
kind = \"api_key\"
header = \"X-Partner-Key\"
keys = [ {{ id = \"b\", sha256 = \"{}\" }} ]

[auth.tok]
kind = \"jwt\"
algorithms = [\"HS256\"]
secret = \"file:{}\"
from_header = \"X-Token\"

[[routes]]
name = \"r\"
path_prefix = \"/\"
upstream = \"u\"
headers = {{ \"X-Version\" = \"2\", Authorization = true }}
rate_limit = \"t\"
",
        server("singleton_headers = [\"x-custom\"]"),
        "a".repeat(64),
        "b".repeat(64),
        secret.display(),
    );
    let c = load(&src);
    let _ = std::fs::remove_file(&secret);
    let c = c.unwrap();
    assert_eq!(
        names(&c),
        [
            "authorization",
            "x-api-key",
            "x-custom",
            "x-partner-key",
            "x-tenant",
            "x-token",
            "x-version"
        ]
    );
    let commas: Vec<bool> = c
        .server
        .header_rules
        .one_value
        .iter()
        .map(|o| o.commas_ok)
        .collect();
    assert_eq!(commas.iter().filter(|&&b| b).count(), 1);
}
