//! The registry's counters, and its families in the Prometheus text of
//! `/metrics`.
//!
//! Cardinality is bounded whatever clients do: service names are chosen by
//! clients, so `ringway_registry_instances{service}` has a series only for
//! the services bound to an upstream in the configuration; the rest are
//! counted in `ringway_registry_all_instances` only. `op` and `result`
//! take fixed sets of values.
//!
//! Must never: take a label value from a request.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::api::Op;
use super::Registry;
use crate::observe::prom;

/// How a registry request ended, for `ringway_registry_operations_total{result}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// 200.
    Ok,
    /// 201: a new instance.
    Created,
    /// 400, 405, 413.
    BadRequest,
    /// 401.
    Unauthorized,
    /// 404.
    NotFound,
    /// 429: a limit.
    Full,
    /// 500: applied, not saved.
    NotSaved,
}

impl Outcome {
    /// Every outcome, in counter order.
    pub const ALL: [Outcome; 7] = [
        Outcome::Ok,
        Outcome::Created,
        Outcome::BadRequest,
        Outcome::Unauthorized,
        Outcome::NotFound,
        Outcome::Full,
        Outcome::NotSaved,
    ];

    /// The `result` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Created => "created",
            Outcome::BadRequest => "bad_request",
            Outcome::Unauthorized => "unauthorized",
            Outcome::NotFound => "not_found",
            Outcome::Full => "full",
            Outcome::NotSaved => "not_saved",
        }
    }

    /// The outcome of an answer with `status`.
    pub fn of_status(status: u16) -> Outcome {
        match status {
            201 => Outcome::Created,
            200..=299 => Outcome::Ok,
            401 => Outcome::Unauthorized,
            404 => Outcome::NotFound,
            429 => Outcome::Full,
            500..=599 => Outcome::NotSaved,
            _ => Outcome::BadRequest,
        }
    }
}

/// Which state-file step failed, for `ringway_registry_state_file_errors_total{op}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateOp {
    /// Reading it at start (unreadable or corrupt: the registry starts empty).
    Load,
    /// Writing a snapshot.
    Write,
}

/// The registry's counters.
#[derive(Debug, Default)]
pub struct Stats {
    ops: [[AtomicU64; Outcome::ALL.len()]; Op::ALL.len()],
    expired: AtomicU64,
    state_errors: [AtomicU64; 2],
}

impl Stats {
    /// Counts one request.
    pub fn count(&self, op: Op, outcome: Outcome) {
        self.ops[op as usize][outcome as usize].fetch_add(1, Relaxed);
    }

    /// Counts `n` instances removed because their TTL ran out.
    pub fn expired(&self, n: usize) {
        self.expired.fetch_add(n as u64, Relaxed);
    }

    /// Counts a state-file failure.
    pub fn state_error(&self, op: StateOp) {
        self.state_errors[op as usize].fetch_add(1, Relaxed);
    }

    /// Requests counted for `op` with `outcome`.
    pub fn get(&self, op: Op, outcome: Outcome) -> u64 {
        self.ops[op as usize][outcome as usize].load(Relaxed)
    }

    /// Instances expired so far.
    pub fn expired_total(&self) -> u64 {
        self.expired.load(Relaxed)
    }

    /// State-file failures of `op` so far.
    pub fn state_errors(&self, op: StateOp) -> u64 {
        self.state_errors[op as usize].load(Relaxed)
    }

    /// Appends the counter families.
    pub fn render(&self, out: &mut String) {
        let name = "ringway_registry_operations_total";
        prom::header(
            out,
            name,
            "counter",
            "Registry API requests by operation and result.",
        );
        for op in Op::ALL {
            for r in Outcome::ALL {
                let series = [
                    name,
                    "{op=\"",
                    op.as_str(),
                    "\",result=\"",
                    r.as_str(),
                    "\"}",
                ];
                prom::line(out, &series, self.get(op, r));
            }
        }
        let name = "ringway_registry_expired_total";
        prom::header(
            out,
            name,
            "counter",
            "Registry instances removed because their TTL ran out without a heartbeat.",
        );
        prom::line(out, &[name], self.expired_total());
        let name = "ringway_registry_state_file_errors_total";
        prom::header(
            out,
            name,
            "counter",
            "Failures to read (at start: the registry then starts empty) or write the registry's state_file.",
        );
        for (op, label) in [(StateOp::Load, "load"), (StateOp::Write, "write")] {
            prom::line(out, &[name, "{op=\"", label, "\"}"], self.state_errors(op));
        }
    }
}

impl Registry {
    /// Appends the registry's families to a `/metrics` answer.
    pub fn render_metrics(&self, out: &mut String) {
        self.stats.render(out);
        let store = self.lock();
        let name = "ringway_registry_all_instances";
        prom::header(
            out,
            name,
            "gauge",
            "Registry instances, all services together.",
        );
        prom::line(out, &[name], store.len() as u64);
        let name = "ringway_registry_services";
        prom::header(
            out,
            name,
            "gauge",
            "Registry services with at least one instance.",
        );
        prom::line(out, &[name], store.services().count() as u64);
        let b = self.bound();
        let mut bound: Vec<&str> = b.bindings.iter().map(|(s, _)| &**s).collect();
        bound.sort_unstable();
        bound.dedup();
        if bound.is_empty() {
            return;
        }
        let name = "ringway_registry_instances";
        prom::header(
            out,
            name,
            "gauge",
            "Registry instances of each service an upstream is bound to.",
        );
        for s in bound {
            let escaped = prom::escape(s);
            let series = [name, "{service=\"", &escaped, "\"}"];
            prom::line(out, &series, store.service_len(s) as u64);
        }
    }
}
