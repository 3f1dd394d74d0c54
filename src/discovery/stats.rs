//! The discovery sources' counters, rendered on the admin `/metrics`:
//! failures and errors per upstream, and the size of the set each source
//! last published.
//!
//! Owns: one row per upstream (indexed like `Compiled::upstreams`, so the
//! label values come from the config and are bounded). Must never: take a
//! label from a DNS answer or a file, or block a source.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use crate::config::upstream::Discovery;
use crate::config::Compiled;
use crate::observe::prom::{escape, header, line};

/// The counters, shared by the sources and the admin thread.
#[derive(Clone)]
pub struct DiscoveryStats {
    rows: Arc<[Row]>,
}

/// Which counters a row renders: only those of its upstream's source.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dns,
    File,
    Other,
}

struct Row {
    /// The upstream's name, escaped once as a label value.
    label: Box<str>,
    kind: Kind,
    /// DNS failures or file errors, by `kind`.
    failures: AtomicU64,
    /// Targets in the set last published.
    targets: AtomicU64,
}

impl DiscoveryStats {
    /// One zeroed row per upstream of `cfg`.
    pub fn new(cfg: &Compiled) -> DiscoveryStats {
        let rows = cfg.upstreams.iter().map(|u| Row {
            label: escape(&u.name).into(),
            kind: match u.discovery {
                Discovery::Dns(_) => Kind::Dns,
                Discovery::File { .. } => Kind::File,
                _ => Kind::Other,
            },
            failures: AtomicU64::new(0),
            targets: AtomicU64::new(0),
        });
        DiscoveryStats {
            rows: rows.collect(),
        }
    }

    /// Counts a failed resolution or a bad file of upstream `i`.
    pub fn failed(&self, i: usize) {
        if let Some(r) = self.rows.get(i) {
            r.failures.fetch_add(1, Relaxed);
        }
    }

    /// Records the size of the set just published for upstream `i`.
    pub fn published(&self, i: usize, targets: usize) {
        if let Some(r) = self.rows.get(i) {
            r.targets.store(targets as u64, Relaxed);
        }
    }

    /// Failed resolutions (dns) or bad files (file) of upstream `i` so far.
    pub fn failures(&self, i: usize) -> u64 {
        self.rows.get(i).map_or(0, |r| r.failures.load(Relaxed))
    }

    /// Prometheus lines for the sources that are configured.
    pub fn render(&self, out: &mut String) {
        let families = [
            (
                Kind::Dns,
                "ringway_discovery_dns_failures_total",
                "DNS resolutions that failed or came back empty; the last good set was kept.",
            ),
            (
                Kind::File,
                "ringway_discovery_file_errors_total",
                "Targets-file changes that could not be read or were invalid; the last good set was kept.",
            ),
        ];
        for (kind, name, help) in families {
            self.family(out, (name, "counter", help), |k| k == kind, |r| &r.failures);
        }
        let help = "Targets in the set a DNS or file source last published.";
        let gauge = ("ringway_discovery_targets", "gauge", help);
        self.family(out, gauge, |k| k != Kind::Other, |r| &r.targets);
    }

    /// One family `(name, type, help)` over the rows whose kind is `which`;
    /// nothing, not even the header, when there is none.
    fn family(
        &self,
        out: &mut String,
        (name, kind, help): (&str, &str, &str),
        which: impl Fn(Kind) -> bool,
        v: impl Fn(&Row) -> &AtomicU64,
    ) {
        let mut first = true;
        for r in self.rows.iter().filter(|r| which(r.kind)) {
            if std::mem::take(&mut first) {
                header(out, name, kind, help);
            }
            line(
                out,
                &[name, "{upstream=\"", &r.label, "\"}"],
                v(r).load(Relaxed),
            );
        }
    }
}
