//! The registry's HTTP surface: which path and method is which operation
//! (`route`), and the JSON of the answers.
//!
//! ```text
//! GET    /registry/services                               every service
//! GET    /registry/services/{service}                     one service
//! GET    /registry/services/{service}/instances/{id}      one instance
//! PUT    /registry/services/{service}/instances/{id}      register or update
//! DELETE /registry/services/{service}/instances/{id}      deregister
//! PUT    /registry/services/{service}/instances/{id}/heartbeat   renew
//! ```
//!
//! Each path has one spelling: `route` reads the target as sent and
//! refuses (`input::path`) what a normalising listener would rewrite.
//!
//! Owns: the paths and the answer shapes. Must never: check the token (the
//! listener's gate does, before `route` is trusted), route a normalised
//! path, or choose a status other than through `crate::error`.

use serde_json::{json, Value};

use super::store::Instance;
use super::{input, Rejection};
use crate::error::ErrorCode;
use crate::http::Method;

/// One registry operation, with its (already checked) names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// `GET /registry/services`.
    List,
    /// `GET /registry/services/{service}`.
    Service(String),
    /// `GET …/instances/{id}`.
    Get(String, String),
    /// `PUT …/instances/{id}`.
    Register(String, String),
    /// `DELETE …/instances/{id}`.
    Deregister(String, String),
    /// `PUT …/instances/{id}/heartbeat`.
    Heartbeat(String, String),
}

/// What a request was, for `ringway_registry_operations_total{op}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Register or update.
    Register,
    /// Heartbeat.
    Heartbeat,
    /// Deregister.
    Deregister,
    /// Any `GET`.
    List,
    /// A path or method the registry does not have.
    Other,
}

impl Op {
    /// Every op, in counter order.
    pub const ALL: [Op; 5] = [
        Op::Register,
        Op::Heartbeat,
        Op::Deregister,
        Op::List,
        Op::Other,
    ];

    /// The `op` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Register => "register",
            Op::Heartbeat => "heartbeat",
            Op::Deregister => "deregister",
            Op::List => "list",
            Op::Other => "other",
        }
    }
}

impl Route {
    /// The operation, for the counters.
    pub fn op(&self) -> Op {
        match self {
            Route::List | Route::Service(_) | Route::Get(..) => Op::List,
            Route::Register(..) => Op::Register,
            Route::Deregister(..) => Op::Deregister,
            Route::Heartbeat(..) => Op::Heartbeat,
        }
    }
}

/// True for the (normalised) paths the registry answers (`/registry` and
/// below); `route` then judges how the path was spelled.
pub fn is_registry_path(path: &str) -> bool {
    path == "/registry" || path.starts_with("/registry/")
}

const INSTANCE_ALLOW: &str = "GET, PUT, DELETE";

/// The operation of `method` on `target`, the request's path and query as
/// the client sent them (not normalised: `input::path` refuses every other
/// spelling of a registry path rather than guess which one was meant).
pub fn route(method: Method, target: &str) -> Result<Route, Rejection> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if !path.starts_with('/') {
        return Err(no_endpoint());
    }
    input::path(path).map_err(Rejection::bad)?;
    if target.contains('?') {
        let query: String = query.chars().take(80).collect();
        return Err(Rejection::bad(format!(
            "query: {query:?}: the registry API takes no query parameters"
        )));
    }
    let rest = path.strip_prefix("/registry/services").unwrap_or("\0");
    let segs: Vec<&str> = match rest {
        "" => Vec::new(),
        r if r.starts_with('/') => r[1..].split('/').collect(),
        _ => return Err(no_endpoint()),
    };
    let allowed = |allow: &'static str, ok: bool| match ok {
        true => Ok(()),
        false => Err(Rejection::method(allow)),
    };
    let named = |service: &str, id: Option<&str>| {
        input::name("service", service).map_err(Rejection::bad)?;
        if let Some(id) = id {
            input::name("id", id).map_err(Rejection::bad)?;
        }
        Ok::<_, Rejection>(())
    };
    match segs[..] {
        [] => {
            allowed("GET", method == Method::Get)?;
            Ok(Route::List)
        }
        [s] => {
            allowed("GET", method == Method::Get)?;
            named(s, None)?;
            Ok(Route::Service(s.into()))
        }
        [s, "instances", id] => {
            let r = match method {
                Method::Get => Route::Get,
                Method::Put => Route::Register,
                Method::Delete => Route::Deregister,
                _ => return Err(Rejection::method(INSTANCE_ALLOW)),
            };
            named(s, Some(id))?;
            Ok(r(s.into(), id.into()))
        }
        [s, "instances", id, "heartbeat"] => {
            allowed("PUT", method == Method::Put)?;
            named(s, Some(id))?;
            Ok(Route::Heartbeat(s.into(), id.into()))
        }
        _ => Err(no_endpoint()),
    }
}

fn no_endpoint() -> Rejection {
    Rejection::detail(
        ErrorCode::RegistryNotFound,
        "no such registry endpoint (the paths are /registry/services[/{service}[/instances/{id}[/heartbeat]]])",
    )
}

/// One instance as the API shows it; `now` is the registry's monotonic ms.
pub fn instance(service: &str, id: &str, i: &Instance, now: u64) -> Value {
    json!({
        "service": service,
        "id": id,
        "addr": i.addr.to_string(),
        "weight": i.weight,
        "ttl_s": i.ttl_s,
        "expires_in_ms": i.remaining_ms(now),
        "metadata": i.metadata,
    })
}

/// One service and its instances.
pub fn service<'a>(
    name: &str,
    instances: impl Iterator<Item = (&'a str, &'a Instance)>,
    now: u64,
) -> Value {
    let list: Vec<Value> = instances
        .map(|(id, i)| instance(name, id, i, now))
        .collect();
    json!({ "name": name, "instances": list })
}
