//! Durability: the reaper's tick (expiry, then a write when the store
//! changed), the write of the state file under its own lock, and the load
//! at start, where every entry is held to today's rules.
//!
//! Owns: when the state file is written and what a bad one costs (logged,
//! counted, set aside). Must never: let a bad state file stop the gateway,
//! let two writes overlap, or let an older snapshot replace a newer one.

use std::sync::MutexGuard;

use super::metrics::StateOp;
use super::store::{Instance, Store};
use super::{input, snapshot, Now, Registry, Rejection};
use crate::error::ErrorCode;
use crate::observe::log::{self, Val};

/// What the state-file writer remembers.
#[derive(Debug, Default)]
pub(super) struct Written {
    /// The store generation the file holds.
    generation: u64,
    /// The last write failed (logged once until one succeeds).
    failing: bool,
}

impl Registry {
    /// Expires what ran out by `now` and writes the state file if it
    /// changed since the last write (the reaper calls this every `TICK`).
    pub fn tick_at(&self, now: Now) {
        let dirty = {
            let mut store = self.lock();
            self.expire(&mut store, now);
            store.generation()
        } > self.written().generation;
        if dirty {
            let _ = self.persist(now);
        }
    }

    /// Writes the state file now if it is behind (at shutdown).
    pub fn flush(&self) {
        let _ = self.persist(self.now());
    }

    fn written(&self) -> MutexGuard<'_, Written> {
        self.written.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes the state file unless it already holds the store's current
    /// generation (then a concurrent writer wrote this change too).
    pub(super) fn persist(&self, now: Now) -> Result<(), Rejection> {
        let Some(path) = &self.spec.state_file else {
            return Ok(());
        };
        let mut w = self.written();
        let (text, generation) = {
            let store = self.lock();
            if store.generation() <= w.generation {
                return Ok(());
            }
            (snapshot::render(&store, now), store.generation())
        };
        match snapshot::write(path, &text) {
            Ok(()) => {
                w.generation = generation;
                if std::mem::take(&mut w.failing) {
                    log::info(
                        "registry state file written again",
                        &[("path", Val::Str(&path.display().to_string()))],
                    );
                }
                Ok(())
            }
            Err(e) => {
                self.stats.state_error(StateOp::Write);
                let why = format!("{}: {e}", path.display());
                if !std::mem::replace(&mut w.failing, true) {
                    log::error(
                        "registry state file write failed (logged once until a write succeeds)",
                        &[("error", Val::Str(&why))],
                    );
                }
                Err(Rejection::detail(ErrorCode::RegistryNotSaved, why))
            }
        }
    }

    /// Loads the state file at start; whatever is wrong with it is logged
    /// and counted, never fatal.
    pub(super) fn load(&self, now: Now) {
        let Some(path) = &self.spec.state_file else {
            return;
        };
        let shown = path.display().to_string();
        let text = match snapshot::read(path) {
            Ok(Some(t)) => t,
            Ok(None) => {
                log::info(
                    "registry state file absent, starting empty",
                    &[("path", Val::Str(&shown))],
                );
                return;
            }
            Err(e) => {
                self.stats.state_error(StateOp::Load);
                log::error(
                    "registry state file unreadable, starting empty",
                    &[
                        ("path", Val::Str(&shown)),
                        ("error", Val::Str(&e.to_string())),
                    ],
                );
                return;
            }
        };
        let entries = match snapshot::parse(&text) {
            Ok(e) => e,
            Err(why) => {
                self.stats.state_error(StateOp::Load);
                let aside = snapshot::set_aside(path)
                    .map_or_else(|e| format!("not moved: {e}"), |p| p.display().to_string());
                log::error(
                    "registry state file corrupt, starting empty",
                    &[
                        ("path", Val::Str(&shown)),
                        ("error", Val::Str(&why)),
                        ("moved_to", Val::Str(&aside)),
                    ],
                );
                return;
            }
        };
        let (mut kept, mut expired, mut refused) = (0u64, 0u64, 0u64);
        let mut first_refusal = String::new();
        let mut store = self.lock();
        for e in entries {
            match self.restore(&mut store, e, now) {
                Ok(true) => kept += 1,
                Ok(false) => expired += 1,
                Err(why) => {
                    refused += 1;
                    if first_refusal.is_empty() {
                        first_refusal = why;
                    }
                }
            }
        }
        self.stats.expired(expired as usize);
        log::info(
            "registry state loaded",
            &[
                ("path", Val::Str(&shown)),
                ("instances", Val::Num(kept)),
                ("expired", Val::Num(expired)),
                ("refused", Val::Num(refused)),
                ("first_refusal", Val::Str(&first_refusal)),
            ],
        );
    }

    /// Puts one state-file entry back with what is left of its TTL:
    /// `Ok(false)` when it expired meanwhile, `Err` when today's rules
    /// (names, `allow_cidrs`, TTL bounds, limits) refuse it.
    fn restore(&self, store: &mut Store, e: snapshot::Entry, now: Now) -> Result<bool, String> {
        let at = |why: String| format!("{}/{}: {why}", e.service, e.id);
        input::name("service", &e.service).map_err(at)?;
        input::name("id", &e.id).map_err(at)?;
        let addr = input::addr(&e.addr, &self.spec.allow_cidrs).map_err(at)?;
        if !(1..=input::MAX_WEIGHT).contains(&e.weight) {
            return Err(at(format!("weight: {} is out of range", e.weight)));
        }
        if !(self.spec.min_ttl_s..=self.spec.max_ttl_s).contains(&e.ttl_s) {
            return Err(at(format!("ttl_s: {} is out of range", e.ttl_s)));
        }
        let metadata =
            input::metadata(&serde_json::Value::Object(e.metadata.clone())).map_err(at)?;
        let ttl_ms = u64::from(e.ttl_s) * 1000;
        // A clock set back since the write cannot stretch a TTL.
        let left = e.expires_unix_ms.saturating_sub(now.unix_ms).min(ttl_ms);
        if left == 0 {
            return Ok(false);
        }
        let inst = Instance {
            addr,
            weight: e.weight,
            ttl_s: e.ttl_s,
            metadata,
            expires_at: now.mono_ms.saturating_add(left),
        };
        store
            .register(&e.service, &e.id, inst, now.mono_ms)
            .map_err(|_| at("over registry.max_instances_per_service or max_instances".into()))?;
        Ok(true)
    }
}
