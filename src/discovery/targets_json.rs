//! The targets file's format: a JSON array of `{"addr": "ip:port",
//! "weight": N}`, read whole and judged whole.
//!
//! Owns: the bounds (1 MiB, 10 000 entries, weight 1..=1000), the checks
//! (IP literals only, no port 0, each address once, no unknown key) and the
//! messages that name the entry at fault. Must never: resolve a name, or
//! return part of a file: one bad entry refuses the whole file.

use std::io::Read;
use std::path::Path;

use serde::Deserialize;

use super::Target;

/// Largest file read: a bigger one is refused before it is parsed.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// Most entries in one file.
pub const MAX_TARGETS: usize = 10_000;
/// Largest weight, as for `targets` in the config file.
pub const MAX_WEIGHT: u64 = 1000;

/// One entry as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    addr: String,
    weight: Option<u64>,
}

/// Reads and parses `path`; errors start with the file's name.
pub fn read(path: &Path) -> Result<Vec<Target>, String> {
    let file = path.display();
    let f = std::fs::File::open(path).map_err(|e| format!("cannot read {file}: {e}"))?;
    // `take` bounds the read even if the file grows after its size was seen.
    let mut bytes = Vec::new();
    f.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {file}: {e}"))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!(
            "{file}: larger than {MAX_FILE_BYTES} bytes, the most a targets file may hold"
        ));
    }
    parse(&bytes).map_err(|e| format!("{file}: {e}"))
}

/// Parses a whole file: sorted by address, each address once.
pub fn parse(bytes: &[u8]) -> Result<Vec<Target>, String> {
    let entries: Vec<Entry> = serde_json::from_slice(bytes).map_err(|e| {
        format!("{e} (expected [{{\"addr\": \"10.0.0.5:8080\", \"weight\": 1}}, ...])")
    })?;
    if entries.len() > MAX_TARGETS {
        return Err(format!(
            "{} entries, more than the {MAX_TARGETS} a targets file may hold",
            entries.len()
        ));
    }
    let mut out: Vec<(Target, usize)> = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        let addr = e.addr.parse::<std::net::SocketAddr>().map_err(|_| {
            format!(
                "[{i}].addr: {:?} is not an IP address and port, like \"10.0.0.5:8080\" or \"[fd00::5]:8080\" (names are not resolved here: use discovery = \"dns\")",
                e.addr
            )
        })?;
        if addr.port() == 0 {
            return Err(format!(
                "[{i}].addr: {addr} has port 0, which cannot be connected to"
            ));
        }
        let weight = match e.weight.unwrap_or(1) {
            w @ 1..=MAX_WEIGHT => w as u32,
            w => {
                return Err(format!(
                    "[{i}].weight: {w} is out of range: must be between 1 and {MAX_WEIGHT}"
                ))
            }
        };
        out.push((Target { addr, weight }, i));
    }
    out.sort_by_key(|(t, i)| (t.addr, *i));
    if let Some(w) = out.windows(2).find(|w| w[0].0.addr == w[1].0.addr) {
        let ((t, first), (_, again)) = (w[0], w[1]);
        return Err(format!(
            "[{again}].addr: {} is already [{first}]: list each address once, and give it a weight for a larger share",
            t.addr
        ));
    }
    Ok(out.into_iter().map(|(t, _)| t).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(addr: &str, weight: u32) -> Target {
        Target {
            addr: addr.parse().unwrap(),
            weight,
        }
    }

    fn err(text: &str) -> String {
        parse(text.as_bytes()).unwrap_err()
    }

    #[test]
    fn valid_files() {
        let text = r#"[{"addr": "10.0.0.6:80", "weight": 3}, {"addr": "10.0.0.5:8080"},
                       {"addr": "[fd00::1]:80", "weight": 1000}]"#;
        assert_eq!(
            parse(text.as_bytes()),
            Ok(vec![
                t("10.0.0.5:8080", 1),
                t("10.0.0.6:80", 3),
                t("[fd00::1]:80", 1000)
            ])
        );
        assert_eq!(parse(b"[]"), Ok(vec![]));
        assert_eq!(parse(b" [ ] \n"), Ok(vec![]));
    }

    #[test]
    fn each_bad_entry_is_named() {
        let cases = [
            (
                r#"[{"addr": "a.internal:80"}]"#,
                "[0].addr: \"a.internal:80\" is not an IP",
            ),
            (r#"[{"addr": "10.0.0.5"}]"#, "[0].addr"),
            (r#"[{"addr": "10.0.0.5:0"}]"#, "port 0"),
            (
                r#"[{"addr": "10.0.0.5:1"}, {"addr": "10.0.0.5:2", "weight": 0}]"#,
                "[1].weight: 0 is out of range",
            ),
            (
                r#"[{"addr": "10.0.0.5:1", "weight": 1001}]"#,
                "[0].weight: 1001",
            ),
            (
                r#"[{"addr": "10.0.0.5:1"}, {"addr": "10.0.0.6:1"}, {"addr": "10.0.0.5:1"}]"#,
                "[2].addr: 10.0.0.5:1 is already [0]",
            ),
        ];
        for (text, want) in cases {
            let e = err(text);
            assert!(e.contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn bad_shapes_are_refused() {
        for text in [
            "",
            "{}",
            r#"{"addr": "10.0.0.5:1"}"#,
            r#"["10.0.0.5:1"]"#,
            r#"[{"addr": "10.0.0.5:1", "wieght": 2}]"#,
            r#"[{"weight": 2}]"#,
            r#"[{"addr": "10.0.0.5:1", "weight": -1}]"#,
            r#"[{"addr": "10.0.0.5:1", "weight": 1.5}]"#,
            r#"[{"addr": "10.0.0.5:1"}"#,
            "[] trailing",
            "\u{feff}[]",
        ] {
            let e = err(text);
            assert!(e.contains("expected ["), "{text:?}: {e}");
        }
    }

    #[test]
    fn bounds() {
        let entry = |i: usize| {
            format!(
                "{{\"addr\":\"10.{}.{}.{}:80\"}}",
                i >> 16,
                (i >> 8) & 255,
                i & 255
            )
        };
        let list = |n: usize| format!("[{}]", (0..n).map(entry).collect::<Vec<_>>().join(","));
        assert_eq!(
            parse(list(MAX_TARGETS).as_bytes()).map(|v| v.len()),
            Ok(MAX_TARGETS)
        );
        assert!(err(&list(MAX_TARGETS + 1)).contains("10001 entries"));
        let dir = std::env::temp_dir().join(format!("ringway-targets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let big = dir.join("big.json");
        let pad = " ".repeat(MAX_FILE_BYTES as usize);
        std::fs::write(&big, format!("[{pad}]")).unwrap();
        let e = read(&big).unwrap_err();
        assert!(e.contains("big.json") && e.contains("larger than"), "{e}");
        let e = read(&dir.join("missing.json")).unwrap_err();
        assert!(
            e.contains("cannot read") && e.contains("missing.json"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
