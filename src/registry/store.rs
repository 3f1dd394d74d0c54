//! The registry's data: services, each a set of instances by id, with the
//! limits on how many there may be, and expiry against a clock the caller
//! passes in (milliseconds on a monotonic clock), so tests choose the time.
//!
//! Owns: what an instance is, when one is full, when one expires, and the
//! target set a service publishes (sorted by address, one entry per
//! address). Must never: read a clock, touch a file, log or call a sink
//! (the `Registry` around it does, under its lock).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde_json::{Map, Value};

use crate::discovery::Target;

/// One registered instance.
#[derive(Clone, Debug, PartialEq)]
pub struct Instance {
    /// Where the gateway connects.
    pub addr: SocketAddr,
    /// Relative share of requests, `1..=MAX_WEIGHT`.
    pub weight: u32,
    /// How long a registration or heartbeat keeps it, in seconds.
    pub ttl_s: u32,
    /// Whatever the instance told about itself (a bounded JSON object).
    pub metadata: Map<String, Value>,
    /// When it expires, in ms on the registry's monotonic clock.
    pub expires_at: u64,
}

impl Instance {
    /// Its TTL in milliseconds.
    pub fn ttl_ms(&self) -> u64 {
        u64::from(self.ttl_s) * 1000
    }

    /// Milliseconds left at `now` (0 once expired).
    pub fn remaining_ms(&self, now: u64) -> u64 {
        self.expires_at.saturating_sub(now)
    }
}

/// Which limit a registration ran into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Full {
    /// The service has `max_instances_per_service` instances; the first of
    /// them expires in this many ms (without a heartbeat).
    Service(u64),
    /// The registry has `max_instances`; the first expires in this many ms.
    All(u64),
}

/// What a registration did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Registered {
    /// A new instance.
    Created,
    /// An existing one, now with these values; `targets_changed` when its
    /// address or weight differ from before (the service's set changed).
    Updated { targets_changed: bool },
}

/// Every service's instances, within the limits.
#[derive(Debug)]
pub struct Store {
    services: BTreeMap<Box<str>, BTreeMap<Box<str>, Instance>>,
    total: usize,
    max_per_service: usize,
    max_total: usize,
    generation: u64,
}

impl Store {
    /// An empty store with these limits.
    pub fn new(max_per_service: usize, max_total: usize) -> Store {
        Store {
            services: BTreeMap::new(),
            total: 0,
            max_per_service,
            max_total,
            generation: 0,
        }
    }

    /// Bumped by every change a snapshot would show (heartbeats included).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Instances of all services.
    pub fn len(&self) -> usize {
        self.total
    }

    /// True when nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Instances of `service`.
    pub fn service_len(&self, service: &str) -> usize {
        self.services.get(service).map_or(0, BTreeMap::len)
    }

    /// Services with at least one instance, by name.
    pub fn services(&self) -> impl Iterator<Item = (&str, &BTreeMap<Box<str>, Instance>)> {
        self.services.iter().map(|(k, v)| (&**k, v))
    }

    /// The instances of `service`, by id (`None`: it has none).
    pub fn service(&self, service: &str) -> Option<&BTreeMap<Box<str>, Instance>> {
        self.services.get(service)
    }

    /// One instance.
    pub fn get(&self, service: &str, id: &str) -> Option<&Instance> {
        self.services.get(service)?.get(id)
    }

    /// Registers `inst` as `service`/`id`, or updates that instance to it
    /// (an update never runs into a limit).
    pub fn register(
        &mut self,
        service: &str,
        id: &str,
        inst: Instance,
        now: u64,
    ) -> Result<Registered, Full> {
        if let Some(old) = self.services.get_mut(service).and_then(|s| s.get_mut(id)) {
            let targets_changed = old.addr != inst.addr || old.weight != inst.weight;
            *old = inst;
            self.generation += 1;
            return Ok(Registered::Updated { targets_changed });
        }
        let in_service = self.service_len(service);
        if in_service >= self.max_per_service {
            let first = self
                .services
                .get(service)
                .and_then(|s| first_expiry(s.values()));
            return Err(Full::Service(first.unwrap_or(0).saturating_sub(now)));
        }
        if self.total >= self.max_total {
            let first = first_expiry(self.services.values().flat_map(BTreeMap::values));
            return Err(Full::All(first.unwrap_or(0).saturating_sub(now)));
        }
        self.services
            .entry(service.into())
            .or_default()
            .insert(id.into(), inst);
        self.total += 1;
        self.generation += 1;
        Ok(Registered::Created)
    }

    /// Renews `service`/`id` for its TTL from `now`.
    pub fn heartbeat(&mut self, service: &str, id: &str, now: u64) -> Option<&Instance> {
        let inst = self.services.get_mut(service)?.get_mut(id)?;
        inst.expires_at = now.saturating_add(inst.ttl_ms());
        self.generation += 1;
        Some(inst)
    }

    /// Removes `service`/`id`.
    pub fn deregister(&mut self, service: &str, id: &str) -> Option<Instance> {
        let instances = self.services.get_mut(service)?;
        let gone = instances.remove(id)?;
        if instances.is_empty() {
            self.services.remove(service);
        }
        self.total -= 1;
        self.generation += 1;
        Some(gone)
    }

    /// Removes every instance whose expiry is at or before `now`; returns
    /// them as (service, id, instance), by service then id.
    pub fn expire(&mut self, now: u64) -> Vec<(Box<str>, Box<str>, Instance)> {
        let mut gone = Vec::new();
        for (service, instances) in &mut self.services {
            if instances.values().all(|i| i.expires_at > now) {
                continue;
            }
            let ids: Vec<Box<str>> = instances
                .iter()
                .filter(|(_, i)| i.expires_at <= now)
                .map(|(id, _)| id.clone())
                .collect();
            for id in ids {
                if let Some(inst) = instances.remove(&id) {
                    gone.push((service.clone(), id, inst));
                }
            }
        }
        if !gone.is_empty() {
            self.services.retain(|_, i| !i.is_empty());
            self.total -= gone.len();
            self.generation += 1;
        }
        gone
    }

    /// The target set of `service`: sorted by address, one target per
    /// address (two ids on one address, as when an instance restarted under
    /// a new id before its old entry expired, give one target with the
    /// larger weight).
    pub fn targets(&self, service: &str) -> Vec<Target> {
        let mut out: Vec<Target> = self
            .services
            .get(service)
            .map(|s| {
                s.values()
                    .map(|i| Target {
                        addr: i.addr,
                        weight: i.weight,
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.sort_by(|a, b| a.addr.cmp(&b.addr).then(b.weight.cmp(&a.weight)));
        out.dedup_by_key(|t| t.addr);
        out
    }
}

fn first_expiry<'a>(it: impl Iterator<Item = &'a Instance>) -> Option<u64> {
    it.map(|i| i.expires_at).min()
}
