//! The keys a reload cannot apply to a running process: the listening
//! sockets, the shard threads and where they run, and the threads started
//! once for the access log, the span exporter and the registry.
//!
//! Owns: that list (docs/reload.md repeats it) and putting the running
//! values back into a newly loaded config, so that what is published (and
//! `GET /config` shows) is what runs. Must never: refuse a reload because
//! of them; the rest of the file applies, and the report says plainly
//! which keys wait for a restart.

use std::net::SocketAddr;

use crate::config::{Compiled, RegistrySpec};

/// One key whose new value waits for a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// The key, as written in the file (`server.listen`, `[access_log]`).
    pub key: Box<str>,
    /// What runs and what the file says.
    pub detail: String,
}

/// The keys `ringway check` mentions: each takes effect only at start.
pub const RESTART_KEYS: &str = "server.listen, server.workers, server.cpus, server.io, \
server.ring_setup, server.admin_listen, server.tls_listen, [access_log], [tracing] and [registry]";

/// Puts `old`'s value back into `new` for every key that needs a restart
/// and differs; returns those keys.
pub fn keep_running(new: &mut Compiled, old: &Compiled) -> Vec<Pending> {
    let mut out = Vec::new();
    let opt = |a: &Option<SocketAddr>| a.map_or("none".into(), |a| a.to_string());
    let dbg = |v: &dyn std::fmt::Debug| format!("{v:?}");
    let (n, o) = (&mut new.server, &old.server);
    hold(&mut out, "server.listen", &mut n.listen, &o.listen, opt);
    hold(
        &mut out,
        "server.tls_listen",
        &mut n.tls_listen,
        &o.tls_listen,
        opt,
    );
    // [tls] itself reloads: certificates are read again and new handshakes
    // use them (one in progress finishes on the one it started with). But a
    // running TLS listener needs certificates: a file that dropped both
    // tls_listen and [tls] keeps the running ones until the restart.
    if new.server.tls_listen.is_some() && new.tls.is_none() {
        table(&mut out, "[tls]", "the running certificates", "none");
        new.tls = old.tls.clone();
    }
    let n = &mut new.server;
    hold(
        &mut out,
        "server.workers",
        &mut n.workers,
        &o.workers,
        |w| w.to_string(),
    );
    hold(&mut out, "server.cpus", &mut n.cpus, &o.cpus, |c| dbg(c));
    hold(&mut out, "server.io", &mut n.io, &o.io, |m| dbg(m));
    hold(
        &mut out,
        "server.ring_setup",
        &mut n.ring_setup,
        &o.ring_setup,
        |m| dbg(m),
    );
    hold(
        &mut out,
        "server.admin_listen",
        &mut n.admin_listen,
        &o.admin_listen,
        opt,
    );
    if new.access_log != old.access_log {
        table(
            &mut out,
            "[access_log]",
            "the running access log",
            "another",
        );
        new.access_log = old.access_log.clone();
    }
    if new.tracing != old.tracing {
        table(
            &mut out,
            "[tracing]",
            "the running exporter and sampling",
            "others",
        );
        new.tracing = old.tracing.clone();
    }
    if !same_registry(new.registry.as_ref(), old.registry.as_ref()) {
        table(&mut out, "[registry]", "the running registry", "another");
        new.registry = old.registry.clone();
    }
    out
}

/// Keeps `old` in `new` when they differ, and says so, each value shown by `show`.
fn hold<T: PartialEq + Clone>(
    out: &mut Vec<Pending>,
    key: &str,
    new: &mut T,
    old: &T,
    show: impl Fn(&T) -> String,
) {
    if *new != *old {
        out.push(pending(key, &show(old), &show(new)));
        *new = old.clone();
    }
}

/// A whole table that waits for a restart (the caller puts it back).
fn table(out: &mut Vec<Pending>, key: &str, running: &str, file: &str) {
    out.push(pending(key, running, file));
}

fn pending(key: &str, running: &str, file: &str) -> Pending {
    Pending {
        key: key.into(),
        detail: format!("{key}: the file says {file}, {running} keeps running until a restart"),
    }
}

fn same_registry(a: Option<&RegistrySpec>, b: Option<&RegistrySpec>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            a.token.value() == b.token.value()
                && a.state_file == b.state_file
                && a.listen == b.listen
                && a.allow_cidrs == b.allow_cidrs
                && a.max_instances_per_service == b.max_instances_per_service
                && a.max_instances == b.max_instances
                && (a.min_ttl_s, a.max_ttl_s, a.default_ttl_s)
                    == (b.min_ttl_s, b.max_ttl_s, b.default_ttl_s)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(extra: &str) -> Compiled {
        let text = format!(
            "[server]\nlisten = \"127.0.0.1:8080\"\n{extra}\n\
             [[upstreams]]\nname = \"u\"\ntargets = [\"127.0.0.1:1\"]\n\
             [[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\n"
        );
        match crate::config::load_str(&text, "t.toml") {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn listen_and_workers_keep_running_values_and_are_named() {
        let old = cfg("workers = 2");
        let mut new = cfg("workers = 4\nidle_timeout_ms = 1234");
        new.server.listen = "127.0.0.1:9090".parse().ok();
        let p = keep_running(&mut new, &old);
        let keys: Vec<&str> = p.iter().map(|p| &*p.key).collect();
        assert_eq!(keys, ["server.listen", "server.workers"]);
        assert!(p[0].detail.contains("127.0.0.1:9090"), "{}", p[0].detail);
        assert_eq!(new.server.listen, old.server.listen);
        assert_eq!(new.server.workers, 2);
        // Everything else is the file's.
        assert_eq!(new.server.idle_timeout.as_millis(), 1234);
    }

    #[test]
    fn an_unchanged_file_needs_no_restart() {
        let old = cfg("workers = 2");
        let mut new = cfg("workers = 2");
        assert!(keep_running(&mut new, &old).is_empty());
    }
}
