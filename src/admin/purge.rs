//! `POST /cache/purge` on the admin listener: removes stored responses from
//! the response caches, by exact URL, by URL prefix, or by tag.
//!
//! The body has one instruction per line: `url:URL` (that URL, every
//! variant and every route key part under it), `prefix:URL` (every URL
//! starting with it), `tag:TAG` (every URL one of whose stored responses
//! carried `TAG` in `Cache-Tag` or `Surrogate-Key`). `cache:NAME` limits
//! the lines after it to that cache (else they apply to every cache). A
//! URL is written as the cache keys it: `http://host/path?query`, the host
//! lowercase, the path as the gateway normalised it. The store is shared by
//! every shard, so a purge reaches all of them at once.
//!
//! Who may: as every mutating admin endpoint, a request with the admin
//! token when one is set (the gate in `admin::mod`). Must never: apply a
//! body with a bad line in part (it is checked whole first).

use std::sync::Arc;

use super::Refusal;
use crate::cache::named::{Counters, Named};
use crate::error::ErrorCode;

/// One instruction.
enum Purge<'a> {
    Url(&'a str),
    Prefix(&'a str),
    Tag(&'a str),
}

/// Applies the body; returns `{"purged":N}` (resources removed).
pub fn handle(caches: &[Arc<Named>], body: &[u8]) -> Result<String, Refusal> {
    let bad = |d: String| Refusal::detail(ErrorCode::InvalidPurge, d);
    let text = std::str::from_utf8(body).map_err(|_| bad("the body is not UTF-8".into()))?;
    let mut plan: Vec<(Option<&Arc<Named>>, Purge)> = Vec::new();
    let mut only = None;
    for (i, line) in text.lines().map(str::trim).enumerate() {
        let Some((kind, v)) = line.split_once(':') else {
            if line.is_empty() {
                continue;
            }
            return Err(bad(format!(
                "line {}: expected url:, prefix:, tag: or cache:",
                i + 1
            )));
        };
        let v = v.trim();
        if v.is_empty() {
            return Err(bad(format!("line {}: empty {kind}", i + 1)));
        }
        let p = match kind {
            "cache" => {
                let c = caches.iter().find(|c| &*c.name == v);
                only = Some(c.ok_or_else(|| bad(format!("line {}: unknown cache {v:?}", i + 1)))?);
                continue;
            }
            "url" => Purge::Url(v),
            "prefix" => Purge::Prefix(v),
            "tag" => Purge::Tag(v),
            _ => return Err(bad(format!("line {}: unknown instruction {kind:?}", i + 1))),
        };
        plan.push((only, p));
    }
    let mut purged = 0;
    for (only, p) in &plan {
        for c in caches
            .iter()
            .filter(|c| only.map_or(true, |o| Arc::ptr_eq(o, c)))
        {
            let n = match p {
                Purge::Url(u) => {
                    let mut parts = u.as_bytes().to_vec();
                    parts.push(0);
                    usize::from(c.store.invalidate(u.as_bytes())) + c.store.purge_prefix(&parts)
                }
                Purge::Prefix(u) => c.store.purge_prefix(u.as_bytes()),
                Purge::Tag(t) => c.store.purge_tag(t),
            };
            for _ in 0..n {
                Counters::inc(&c.counters.invalidations);
            }
            purged += n;
        }
    }
    Ok(format!("{{\"purged\":{purged}}}\n"))
}
