//! Configuration generations and hot reload (control plane).
//!
//! A `Generation` is everything the shards run on that a reload may
//! replace: the compiled config, the upstreams' shared state and the metric
//! rows. The `Reloader` publishes one at start and one per successful
//! reload (SIGHUP, `POST /reload`, `[server] watch`), through the one
//! `publish::Published` every shard reads with an atomic load between
//! requests. A reload happens in three steps, all off the shards:
//! 1. load: read, parse, validate and compile the file, carrying over the
//!    state of everything whose definition is unchanged (`config::carry`,
//!    `upstream::Shared::carry`, `Families::new`); an invalid file changes
//!    nothing and is reported with `FILE:LINE: KEY`;
//! 2. keep what needs a restart (`restart`): the running listeners,
//!    workers and threads stay, and the report names each key that waits;
//! 3. point the control-plane threads at it (`followers`: discovery and
//!    the registry fill its new upstreams first), then publish it.
//!
//! Owns: the generation numbering, the one-reload-at-a-time lock, the
//! reload metrics. Must never: run on a shard, publish a config that did
//! not compile, or close a client connection.

mod certs;
mod followers;
pub mod publish;
mod restart;
mod watch;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::config::{Compiled, ConfigErrors};
use crate::observe::families::Families;
use crate::observe::log::{self, Val};
use crate::observe::Metrics;
use crate::upstream::Shared;
use publish::Published;

pub use followers::Followers;

/// One configuration generation, as every shard and control-plane thread sees it.
pub struct Generation {
    /// 1 for the configuration read at start; each reload adds 1.
    pub number: u64,
    /// The compiled configuration.
    pub cfg: Arc<Compiled>,
    /// The upstreams' cross-shard state (per upstream, carried by definition).
    pub upstreams: Arc<Shared>,
    /// The per-route and per-upstream metric rows (carried by name).
    pub families: Arc<Families>,
}

impl Generation {
    /// Generation 1: `cfg`, with fresh state for `shards` shards.
    pub fn first(cfg: Arc<Compiled>, shards: usize) -> Generation {
        Generation {
            number: 1,
            upstreams: Arc::new(Shared::new(&cfg, shards)),
            families: Arc::new(Families::new(&cfg, shards, None)),
            cfg,
        }
    }

    /// The generation after this one, running `cfg`.
    pub fn next(&self, cfg: Arc<Compiled>, shards: usize) -> Generation {
        Generation {
            number: self.number + 1,
            upstreams: Arc::new(Shared::carry(&cfg, shards, Some(&self.upstreams))),
            families: Arc::new(Families::new(&cfg, shards, Some(&self.families))),
            cfg,
        }
    }
}

/// Where the configuration is read from on a reload.
#[derive(Clone, Debug)]
pub enum Source {
    /// A file (`ringway run --config FILE`).
    File(PathBuf),
    /// Text built into the binary (`ringway demo`), named `origin` in errors.
    Embedded {
        /// The configuration text.
        text: &'static str,
        /// Its name in error messages.
        origin: &'static str,
    },
}

/// What asked for a reload (for the log line).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// SIGHUP.
    Signal,
    /// `POST /reload` on the admin listener.
    Admin,
    /// `[server] watch`: the file changed.
    Watch,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Trigger::Signal => "SIGHUP",
            Trigger::Admin => "admin",
            Trigger::Watch => "watch",
        }
    }
}

/// A reload that published a new generation.
#[derive(Debug)]
pub struct Reloaded {
    /// The generation published.
    pub generation: u64,
    /// Keys whose new value waits for a restart (the running value is kept),
    /// each with a sentence saying so.
    pub restart_required: Vec<restart::Pending>,
    /// How long loading and compiling took.
    pub took: Duration,
}

pub use restart::{Pending, RESTART_KEYS};

/// The control plane's handle on the configuration: the current
/// generation, and reloading it.
pub struct Reloader {
    source: Source,
    published: Arc<Published<Generation>>,
    shards: usize,
    metrics: Metrics,
    /// One reload at a time; holds the control-plane threads that follow
    /// the generation.
    followers: Mutex<Followers>,
}

impl Reloader {
    /// Publishes generation 1 (`cfg`, which took `load_time` to load) and
    /// starts the control-plane threads it needs (health checks,
    /// discovery, the registry, the roster tick, the auth file watcher).
    pub fn start(
        source: Source,
        cfg: Arc<Compiled>,
        shards: usize,
        metrics: Metrics,
        load_time: Duration,
    ) -> Result<Arc<Reloader>, String> {
        let first = Generation::first(cfg, shards);
        metrics.config().loaded(1, load_time, SystemTime::now());
        let published = Arc::new(Published::new(first));
        let followers = Followers::start(&published)?;
        let r = Arc::new(Reloader {
            source,
            published,
            shards,
            metrics,
            followers: Mutex::new(followers),
        });
        watch::spawn(&r).map_err(|e| format!("config watch thread: {e}"))?;
        // tls_listen is restart-only: without it at start, no certificate
        // is ever served, and there is nothing to watch.
        if r.current().cfg.server.tls_listen.is_some() {
            certs::spawn(&r).map_err(|e| format!("certificate watch thread: {e}"))?;
        }
        Ok(r)
    }

    /// Where the shards read the current generation.
    pub fn published(&self) -> Arc<Published<Generation>> {
        self.published.clone()
    }

    /// The current generation.
    pub fn current(&self) -> Arc<Generation> {
        self.published.current()
    }

    /// Every shard's and the control plane's counters.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The number of shards.
    pub fn shards(&self) -> usize {
        self.shards
    }

    /// The control-plane threads that follow the generation (the registry
    /// and the discovery counters are read through them).
    pub fn followers(&self) -> std::sync::MutexGuard<'_, Followers> {
        self.followers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The file reloads read, if the configuration came from one.
    pub fn file(&self) -> Option<&std::path::Path> {
        match &self.source {
            Source::File(p) => Some(p),
            Source::Embedded { .. } => None,
        }
    }

    /// Loads the configuration again and, if it is valid, publishes it as
    /// the next generation. An invalid file changes nothing: its errors
    /// are logged, counted and returned.
    pub fn reload(&self, trigger: Trigger) -> Result<Reloaded, ConfigErrors> {
        let mut followers = self.followers();
        let began = Instant::now();
        let current = self.published.current();
        let loaded = match &self.source {
            Source::File(path) => crate::config::load_file_keeping(path, &current.cfg),
            Source::Embedded { text, origin } => {
                crate::config::load_str_keeping(text, origin, Some(&current.cfg))
            }
        };
        let mut cfg = match loaded {
            Ok(c) => c,
            Err(errors) => {
                self.metrics.config().failed();
                log::warn(
                    "config reload failed, nothing changed",
                    &[
                        ("trigger", Val::Str(trigger.as_str())),
                        ("generation", Val::Num(current.number)),
                        ("errors", Val::Str(errors.to_string().trim_end())),
                    ],
                );
                return Err(errors);
            }
        };
        let restart_required = restart::keep_running(&mut cfg, &current.cfg);
        let next = current.next(Arc::new(cfg), self.shards);
        let number = next.number;
        // Before publishing: an upstream new in this generation gets its
        // discovered or registered targets before a shard can route to it.
        if let Err(e) = followers.follow(&next, &self.published) {
            log::error(
                "control-plane thread could not follow the reload",
                &[("error", Val::Str(&e))],
            );
        }
        let took = began.elapsed();
        self.published.publish(next);
        self.metrics
            .config()
            .loaded(number, took, SystemTime::now());
        let pending: Vec<&str> = restart_required.iter().map(|p| &*p.key).collect();
        log::info(
            "config reloaded",
            &[
                ("trigger", Val::Str(trigger.as_str())),
                ("generation", Val::Num(number)),
                ("took_us", Val::Num(took.as_micros() as u64)),
                ("restart_required", Val::Str(&pending.join(","))),
            ],
        );
        for p in &restart_required {
            log::warn(
                "config key needs a restart, running value kept",
                &[("key", Val::Str(&p.key)), ("detail", Val::Str(&p.detail))],
            );
        }
        Ok(Reloaded {
            generation: number,
            restart_required,
            took,
        })
    }
}
