//! `[access_log]`: the compiled settings (`AccessLogSpec`) and their
//! checks: `output` spelled `"stdout"` or `"file:PATH"` with an existing
//! directory, `format` one of two names, `sample` within 0.0..=1.0.
//!
//! Owns: those checks and defaults. Must never: open, create or write the
//! log file (`observe::access_log` does, at start-up), so `ringway check`
//! leaves the file system as it found it.

use std::path::PathBuf;

use super::compile::one_of;
use super::load::Doc;
use super::model::AccessLogFile;

/// `[access_log]` with defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessLogSpec {
    /// Where the lines go.
    pub output: LogOutput,
    /// How each line is spelled.
    pub format: LogFormat,
    /// Share of non-5xx requests logged, 0.0..=1.0 (5xx are always logged).
    pub sample: f64,
}

/// `access_log.output`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogOutput {
    /// The process's standard output.
    Stdout,
    /// A file, appended to, created if missing, reopened on SIGUSR1.
    File(PathBuf),
}

/// `access_log.format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// The nginx/Apache "combined" format.
    Combined,
}

/// Compiles `[access_log]`; `None` when the table is absent (no access log).
pub fn compile(doc: &mut Doc<'_>, t: Option<&AccessLogFile>) -> Option<AccessLogSpec> {
    let t = t?;
    let output = match &t.output {
        None => LogOutput::Stdout,
        Some(o) => output(o).unwrap_or_else(|e| {
            doc.err("access_log.output", e);
            LogOutput::Stdout
        }),
    };
    let formats = [("json", LogFormat::Json), ("combined", LogFormat::Combined)];
    let format = one_of(doc, "access_log.format", &t.format, &formats);
    let sample = match t.sample {
        None => 1.0,
        Some(s) if (0.0..=1.0).contains(&s) => s,
        Some(s) => {
            doc.err(
                "access_log.sample",
                format!("{s} is out of range: must be between 0.0 and 1.0"),
            );
            1.0
        }
    };
    Some(AccessLogSpec {
        output,
        format,
        sample,
    })
}

/// `"stdout"` or `"file:PATH"` whose directory exists (relative paths are
/// taken from the working directory, as the file will be).
fn output(s: &str) -> Result<LogOutput, String> {
    if s == "stdout" {
        return Ok(LogOutput::Stdout);
    }
    let Some(p) = s.strip_prefix("file:") else {
        return Err(format!(
            "unknown output {s:?}: use \"stdout\" or \"file:PATH\""
        ));
    };
    if p.is_empty() {
        return Err("\"file:\" needs a path, as in \"file:/var/log/ringway/access.log\"".into());
    }
    super::validate::new_file_path(p).map(LogOutput::File)
}
