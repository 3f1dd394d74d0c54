//! From command-line flags to a checked `RunSpec`, and the `run` command.
//!
//! Everything that can be refused (bad URL, remote target, unreadable body
//! file, open loop without a rate where one is needed) is refused here, before
//! any thread starts. It must never start load on a half-checked spec.

use std::io::IsTerminal;

use crate::cli::{LoadArgs, RunArgs};
use crate::run::{execute, RunSpec};
use crate::target;

/// A command that could not start, with the message for the user.
#[derive(Debug)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// Checks `load` and `url` and builds the spec.
pub fn build(url: &str, load: &LoadArgs) -> Result<RunSpec, Refused> {
    let target = target::parse(url, load.allow_remote).map_err(|e| Refused(e.to_string()))?;
    if load.connections == 0 || load.threads == 0 {
        return Err(Refused(
            "--connections and --threads must be at least 1".into(),
        ));
    }
    if let Some(r) = load.rate {
        if !(r.is_finite() && r > 0.0) {
            return Err(Refused(format!(
                "--rate {r}: must be a positive number of requests/s"
            )));
        }
    }
    if load.duration.is_zero() {
        return Err(Refused("--duration must be longer than zero".into()));
    }
    let body = match &load.body_file {
        Some(p) => {
            std::fs::read(p).map_err(|e| Refused(format!("--body-file {}: {e}", p.display())))?
        }
        None => Vec::new(),
    };
    let ca = match &load.ca {
        Some(p) => Some(crate::tls::read_ca(p).map_err(Refused)?),
        None => None,
    };
    let tls = crate::tls::TlsOpts {
        insecure: load.insecure,
        ca,
        resume: load.tls_resume,
        version: load.tls_version,
    };
    let mut headers = load.headers.clone();
    if load.conn_per_request {
        if headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("connection"))
        {
            return Err(Refused(
                "--conn-per-request sends its own connection header; drop -H connection:…".into(),
            ));
        }
        headers.push(("connection".into(), "close".into()));
    }
    Ok(RunSpec {
        target,
        method: load.method.to_ascii_uppercase(),
        headers,
        body,
        rate: load.rate,
        connections: load.connections,
        duration: load.duration,
        warmup: load.warmup,
        threads: load.threads,
        cpus: load.cpus.clone(),
        timeout: load.timeout,
        tls,
        conn_per_request: load.conn_per_request,
        server_pid: None,
        progress: true,
    })
}

/// Pinning as reported in `meta`.
pub fn pinning(cpus: &[usize]) -> String {
    if cpus.is_empty() {
        "load threads unpinned".into()
    } else {
        format!("load threads on cpus {cpus:?}")
    }
}

/// The `run` command; returns the process exit code (0 valid, 3 invalid).
pub fn run_command(a: &RunArgs) -> Result<i32, Box<dyn std::error::Error>> {
    let mut spec = build(&a.url, &a.load)?;
    if let Some(pid) = a.server_pid {
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            return Err(Box::new(Refused(format!(
                "--server-pid {pid}: no such process"
            ))));
        }
        spec.server_pid = Some(pid);
    }
    if a.tls && !spec.target.tls {
        return Err(Box::new(Refused(format!(
            "--tls needs an https:// URL, got {}",
            a.url
        ))));
    }
    let result = execute(&spec)?;
    let validity = crate::validity::check(&result, spec.rate, a.load.max_send_delay_us);
    let meta = crate::meta::collect(pinning(&spec.cpus), result.uring);
    let rep = crate::report::run_report(&spec, &a.url, &result, validity, meta);
    print!("{}", crate::report::table(&rep));
    if let Some(p) = &a.json {
        std::fs::write(p, serde_json::to_string_pretty(&rep)? + "\n")?;
    }
    if let Some(p) = &a.hgrm {
        std::fs::write(p, crate::report::hgrm(&result.rec.latency))?;
    }
    let _ = std::io::stdout().is_terminal();
    Ok(if rep.validity.valid { 0 } else { 3 })
}
