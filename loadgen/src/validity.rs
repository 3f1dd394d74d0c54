//! The checks every result carries before anyone quotes its numbers.
//!
//! A run is valid only if the load generator kept its schedule (achieved rate
//! within 1 % of the target, send-delay p99 under a bound), was not itself the
//! bottleneck (CPU under 80 %), and saw no errors. It must never hide a failed
//! check: each one is named in the result.

use serde::{Deserialize, Serialize};

use crate::run::RunResult;

/// Largest acceptable loadgen CPU use, as a fraction of its threads' time.
pub const MAX_CPU: f64 = 0.80;
/// Largest acceptable gap between achieved and target rate.
pub const RATE_TOLERANCE: f64 = 0.01;
/// Smallest share of resumed handshakes in a `--tls-resume` run: the
/// first handshake of each connection slot may be a full one.
pub const MIN_RESUMED: f64 = 0.99;

/// The validity flags of one result.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Validity {
    /// `true` when every check passed.
    pub valid: bool,
    /// Target rate (open loop), requests/s.
    pub target_rate: Option<f64>,
    /// Requests sent per second of the measured window.
    pub achieved_rate: f64,
    /// Achieved within 1 % of target; `None` in the closed loop.
    pub rate_ok: Option<bool>,
    /// p99 of send delay, µs.
    pub send_delay_p99_us: f64,
    /// The bound it is checked against, µs.
    pub send_delay_bound_us: f64,
    /// Send-delay p99 under the bound (always true in the closed loop).
    pub send_delay_ok: bool,
    /// Loadgen CPU over the measured window, fraction of its threads' time.
    pub loadgen_cpu: f64,
    /// CPU under 80 %.
    pub cpu_ok: bool,
    /// Errors of every kind.
    pub errors: u64,
    /// Zero errors.
    pub errors_ok: bool,
    /// TLS handshakes were of the kind asked for: at least 99 % resumed
    /// with `--tls-resume`, none resumed without; absent when the measured
    /// window had no handshake.
    #[serde(default)]
    pub tls_handshakes_ok: Option<bool>,
    /// One line per failed check.
    pub failures: Vec<String>,
}

/// Checks `r` against a run at `target_rate` with a send-delay bound of `bound_us`.
pub fn check(r: &RunResult, target_rate: Option<f64>, bound_us: f64) -> Validity {
    let secs = r.measured.as_secs_f64().max(1e-9);
    let achieved_rate = r.rec.sent as f64 / secs;
    let rate_ok = target_rate.map(|t| (achieved_rate - t).abs() <= t * RATE_TOLERANCE);
    let send_delay_p99_us = if target_rate.is_some() {
        r.rec.send_delay.value_at_quantile(0.99) as f64 / 1000.0
    } else {
        0.0
    };
    let send_delay_ok = send_delay_p99_us <= bound_us;
    let cpu_ok = r.cpu < MAX_CPU;
    let errors = r.rec.errors.total();
    let mut failures = Vec::new();
    if let (Some(false), Some(t)) = (rate_ok, target_rate) {
        failures.push(format!(
            "achieved rate {achieved_rate:.0}/s is not within 1% of the target {t:.0}/s"
        ));
    }
    if !send_delay_ok {
        failures.push(format!(
            "send delay p99 {send_delay_p99_us:.1} us exceeds {bound_us:.0} us: the load generator fell behind its schedule"
        ));
    }
    if !cpu_ok {
        failures.push(format!(
            "load generator CPU {:.0}% is at or above {:.0}%: it may be the bottleneck",
            r.cpu * 100.0,
            MAX_CPU * 100.0
        ));
    }
    if errors > 0 {
        failures.push(format!("{errors} errors"));
    }
    let (full, resumed) = (r.rec.tls_full, r.rec.tls_resumed);
    let tls_handshakes_ok = (full + resumed > 0).then(|| {
        let share = resumed as f64 / (full + resumed) as f64;
        if r.tls_resume && share < MIN_RESUMED {
            failures.push(format!(
                "only {resumed} of {} TLS handshakes resumed ({:.1}%, needs {:.0}%): resumption did not happen",
                full + resumed,
                share * 100.0,
                MIN_RESUMED * 100.0
            ));
            return false;
        }
        if !r.tls_resume && resumed > 0 {
            failures.push(format!(
                "{resumed} TLS handshakes resumed without --tls-resume"
            ));
            return false;
        }
        true
    });
    Validity {
        valid: failures.is_empty(),
        target_rate,
        achieved_rate,
        rate_ok,
        send_delay_p99_us,
        send_delay_bound_us: bound_us,
        send_delay_ok,
        loadgen_cpu: r.cpu,
        cpu_ok,
        errors,
        errors_ok: errors == 0,
        tls_handshakes_ok,
        failures,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{Recorder, Sample};
    use std::time::Duration;

    fn result(sent: u64, cpu: f64, delay_us: u64) -> RunResult {
        let mut rec = Recorder {
            sent,
            ..Default::default()
        };
        let d = Duration::from_micros(delay_us);
        rec.record(
            Sample {
                latency: d,
                service: d,
                ttfb: d,
                send_delay: d,
            },
            200,
        );
        RunResult {
            rec,
            measured: Duration::from_secs(10),
            cpu,
            uring: true,
            server_cpu_ns: None,
            target_tls: false,
            tls_resume: false,
        }
    }

    #[test]
    fn a_clean_run_is_valid() {
        let v = check(&result(10_000, 0.3, 20), Some(1000.0), 200.0);
        assert!(v.valid, "{:?}", v.failures);
        assert_eq!(v.rate_ok, Some(true));
    }

    #[test]
    fn each_check_fails_on_its_own() {
        let v = check(&result(9_800, 0.3, 20), Some(1000.0), 200.0);
        assert_eq!((v.valid, v.rate_ok), (false, Some(false)));
        let v = check(&result(10_000, 0.9, 20), Some(1000.0), 200.0);
        assert!(!v.valid && !v.cpu_ok && v.failures.len() == 1);
        let v = check(&result(10_000, 0.3, 900), Some(1000.0), 200.0);
        assert!(!v.valid && !v.send_delay_ok);
        let mut r = result(10_000, 0.3, 20);
        r.rec.errors.timeout = 1;
        let v = check(&r, Some(1000.0), 200.0);
        assert!(!v.valid && !v.errors_ok && v.errors == 1);
        // The closed loop has no target rate and no schedule to fall behind.
        let v = check(&result(10_000, 0.3, 900), None, 200.0);
        assert!(v.valid && v.rate_ok.is_none());
    }

    #[test]
    fn handshakes_must_be_of_the_kind_asked_for() {
        let mut r = result(10_000, 0.3, 20);
        assert_eq!(check(&r, None, 200.0).tls_handshakes_ok, None);
        r.target_tls = true;
        r.tls_resume = true;
        (r.rec.tls_full, r.rec.tls_resumed) = (16, 1984);
        let v = check(&r, None, 200.0);
        assert!(v.valid && v.tls_handshakes_ok == Some(true), "{v:?}");
        (r.rec.tls_full, r.rec.tls_resumed) = (100, 1900);
        let v = check(&r, None, 200.0);
        assert!(!v.valid && v.tls_handshakes_ok == Some(false));
        assert!(v.failures[0].contains("resumption did not happen"));
        r.tls_resume = false;
        (r.rec.tls_full, r.rec.tls_resumed) = (2000, 0);
        assert!(check(&r, None, 200.0).valid);
        r.rec.tls_resumed = 1;
        assert!(!check(&r, None, 200.0).valid);
    }
}
