//! The pieces of the Prometheus text format the renderers share: family
//! headers, sample lines, label-value escaping, and numbers written without
//! `core::fmt` (a scrape of 1000 routes is ~29 000 lines, and the
//! formatting machinery was most of its cost).
//!
//! Owns: the byte layout of those pieces. Must never: decide which series
//! exist or what they count (that is `metrics`, `families`, `process`).

/// `# HELP` and `# TYPE` of family `name`.
pub fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    for s in [
        "# HELP ",
        name,
        " ",
        help,
        "\n# TYPE ",
        name,
        " ",
        kind,
        "\n",
    ] {
        out.push_str(s);
    }
}

/// One sample: the series (`parts` joined, braces and labels included),
/// a space, `v` and a line feed.
#[inline]
pub fn line(out: &mut String, parts: &[&str], v: u64) {
    for p in parts {
        out.push_str(p);
    }
    out.push(' ');
    push_u64(out, v);
    out.push('\n');
}

/// Appends `v` in decimal.
pub fn push_u64(out: &mut String, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for &b in &buf[i..] {
        out.push(char::from(b));
    }
}

/// Appends `ns` nanoseconds as seconds in decimal, exactly (no float
/// rounding): `1.5`, `0.000123`, `42`.
pub fn push_secs(out: &mut String, ns: u64) {
    const NS: u64 = 1_000_000_000;
    push_u64(out, ns / NS);
    let mut frac = ns % NS;
    if frac == 0 {
        return;
    }
    let mut digits = 9;
    while frac % 10 == 0 {
        frac /= 10;
        digits -= 1;
    }
    out.push('.');
    let mut tmp = String::with_capacity(9);
    push_u64(&mut tmp, frac);
    for _ in tmp.len()..digits {
        out.push('0');
    }
    out.push_str(&tmp);
}

/// A label value escaped for the text format: `\`, `"` and the line feed
/// are the three characters it escapes.
pub fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for ch in v.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(ns: u64) -> String {
        let mut s = String::new();
        push_secs(&mut s, ns);
        s
    }

    #[test]
    fn integers_and_exact_seconds() {
        let mut s = String::new();
        for v in [0, 7, 10, 1234567890, u64::MAX] {
            s.clear();
            push_u64(&mut s, v);
            assert_eq!(s, v.to_string());
        }
        assert_eq!(secs(0), "0");
        assert_eq!(secs(1_500_000_000), "1.5");
        assert_eq!(secs(123_000), "0.000123");
        assert_eq!(secs(1), "0.000000001");
        assert_eq!(secs(42_000_000_000), "42");
        assert_eq!(secs(1_700_000_000_250_000_000), "1700000000.25");
        assert_eq!(secs(u64::MAX), "18446744073.709551615");
    }

    #[test]
    fn lines_and_headers() {
        let mut s = String::new();
        header(&mut s, "x_total", "counter", "Things.");
        line(&mut s, &["x_total{a=\"", "b", "\"}"], 3);
        line(&mut s, &["y"], 0);
        assert_eq!(
            s,
            "# HELP x_total Things.\n# TYPE x_total counter\nx_total{a=\"b\"} 3\ny 0\n"
        );
    }

    #[test]
    fn escapes_backslash_quote_and_newline() {
        assert_eq!(escape(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escape("x\ny"), "x\\ny");
        assert_eq!(escape("plain-name_1.v2"), "plain-name_1.v2");
    }
}
