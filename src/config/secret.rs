//! Secrets in the configuration: `env:VAR` and `file:PATH` references, read
//! once at load, and the `Secret` that keeps a value beside its reference.
//!
//! Owns: the reference syntax and how a value is read (a file's trailing
//! whitespace is dropped). Must never: accept a secret written inline, or
//! let a value reach an error message, `Debug` output or the admin API
//! (they show the reference).

use std::fmt;

/// A secret value and the reference it was read from.
pub struct Secret {
    reference: Box<str>,
    value: Box<[u8]>,
}

impl Secret {
    /// Reads the value `spec` (`env:VAR` or `file:PATH`) refers to.
    pub fn load(spec: &str) -> Result<Secret, String> {
        Ok(Secret {
            reference: spec.into(),
            value: read(spec)?.into(),
        })
    }

    /// The reference as written (`env:VAR`), never the value.
    pub fn reference(&self) -> &str {
        &self.reference
    }

    /// The value.
    pub fn value(&self) -> &[u8] {
        &self.value
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({:?})", self.reference)
    }
}

/// The value `spec` refers to: an environment variable, or a file without
/// its trailing whitespace (the newline an editor or `echo` leaves).
pub fn read(spec: &str) -> Result<Vec<u8>, String> {
    if let Some(var) = spec.strip_prefix("env:") {
        return std::env::var(var)
            .map(String::into_bytes)
            .map_err(|_| format!("environment variable {var:?} is not set"));
    }
    if let Some(path) = spec.strip_prefix("file:") {
        let mut b =
            std::fs::read(path).map_err(|e| format!("cannot read secret file {path:?}: {e}"))?;
        while b.last().is_some_and(|c| c.is_ascii_whitespace()) {
            b.pop();
        }
        return Ok(b);
    }
    Err("write the secret as \"env:VAR\" or \"file:PATH\", never inline".into())
}

/// A secret loaded from a `file:` reference to a temporary file holding
/// `text` (the file is removed again).
#[cfg(test)]
pub fn from_temp_file(name: &str, text: &str) -> Secret {
    let p = std::env::temp_dir().join(format!("ringway-{name}-{}", std::process::id()));
    let written = std::fs::write(&p, text);
    let s = Secret::load(&format!("file:{}", p.display()));
    let _ = std::fs::remove_file(&p);
    written
        .map_err(|e| e.to_string())
        .and(s)
        .expect("secret file")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_only_and_debug_hides_the_value() {
        let s = from_temp_file("secret-test", "s3cr3t-value\n\n");
        assert_eq!(s.value(), b"s3cr3t-value");
        assert!(s.reference().starts_with("file:/"));
        assert!(!format!("{s:?}").contains("s3cr3t"));
        assert!(read("s3cr3t-value").is_err_and(|e| !e.contains("s3cr3t")));
        assert!(read("env:RINGWAY_TEST_SURELY_UNSET_VAR").is_err());
    }
}
