//! The `ringway` command: run, check or demo the gateway.
//!
//! Exit codes: 0 clean exit (including after a graceful shutdown), 1 the
//! gateway could not start (e.g. the address is in use), 2 invalid
//! configuration or command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use ringway::observe::log::{self, Val};
use ringway::{config, reload};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Keeps the heap in 4 KiB pages: transparent huge pages off for this
/// process. mimalloc (built with `no_thp`, see Cargo.toml) no longer advises
/// its arenas huge, but with THP "always" khugepaged would still collapse any
/// 2 MiB of heap with one live page into a resident huge page, so memory
/// freed by a burst (and an idle connection's few hundred bytes) came back
/// as 2 MiB blocks, several MiB at a time, seconds after the fact. Called
/// before the shards start, so no shard heap has a huge page yet.
fn small_heap_pages() {
    // SAFETY: prctl(PR_SET_THP_DISABLE) only sets a process flag; it has no
    // preconditions and its failure (an old kernel) leaves THP as it was.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// A thread-per-core io_uring API gateway.
#[derive(Parser)]
#[command(name = "ringway", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway with a configuration file.
    Run {
        /// Path to the TOML configuration.
        #[arg(long, short, default_value = "config/ringway.toml")]
        config: PathBuf,
    },
    /// Validate a configuration file and print what is wrong (exit 2 if invalid).
    Check {
        /// Path to the TOML configuration.
        #[arg(long, short, default_value = "config/ringway.toml")]
        config: PathBuf,
    },
    /// Start the bundled demo: the gateway plus three sample services on loopback.
    Demo,
}

fn main() -> ExitCode {
    small_heap_pages();
    let cli = Cli::parse();
    match cli.command {
        Command::Check { config } => match config::load_file(&config) {
            Ok(c) => {
                println!(
                    "{}: ok ({} routes, {} upstreams)",
                    config.display(),
                    c.router.len(),
                    c.upstreams.len()
                );
                println!(
                    "reload (SIGHUP, POST /reload, [server] watch) applies every key but {}, which take effect only at a restart",
                    reload::RESTART_KEYS
                );
                ExitCode::SUCCESS
            }
            Err(errors) => {
                eprint!("{errors}");
                ExitCode::from(2)
            }
        },
        Command::Run { config } => match timed(|| config::load_file(&config)) {
            (Ok(c), took) => serve(c, took, reload::Source::File(config)),
            (Err(errors), _) => {
                eprint!("{errors}");
                ExitCode::from(2)
            }
        },
        Command::Demo => demo(),
    }
}

/// `f()` and how long it took.
fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let t = Instant::now();
    let v = f();
    (v, t.elapsed())
}

/// Runs the gateway with `c`, which took `load_time` to load.
/// 32 hex digits, different each run (the demo's registry token).
fn fresh_token() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::new();
    for _ in 0..2 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::UNIX_EPOCH
                .elapsed()
                .map_or(0, |d| d.as_nanos()),
        );
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

fn serve(c: config::Compiled, load_time: Duration, source: reload::Source) -> ExitCode {
    match ringway::server::run(Arc::new(c), load_time, source) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error("cannot start", &[("error", Val::Str(&e.to_string()))]);
            ExitCode::from(1)
        }
    }
}

fn demo() -> ExitCode {
    use ringway::demo::{register, SERVICES};
    // The demo's registry token: the user's, or a fresh one for this run
    // (still single-threaded here, so setting the variable is sound).
    let token = std::env::var(register::TOKEN_VAR).unwrap_or_else(|_| {
        let t = fresh_token();
        std::env::set_var(register::TOKEN_VAR, &t);
        t
    });
    let origin = "config/demo.toml (embedded)";
    let (c, load_time) = match timed(|| config::load_str(ringway::demo::DEMO_CONFIG, origin)) {
        (Ok(c), took) => (c, took),
        (Err(errors), _) => {
            eprint!("{errors}");
            return ExitCode::from(2);
        }
    };
    let mut services = Vec::new();
    for (name, port) in SERVICES {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        if let Err(e) = ringway::demo::start_service(name, addr) {
            eprintln!("demo: cannot start sample service {name} on {addr}: {e}");
            return ExitCode::from(1);
        }
        services.push((name.to_string(), addr));
    }
    let Some(admin) = c.server.admin_listen else {
        eprintln!("demo: the demo config needs admin_listen (the registry is served there)");
        return ExitCode::from(2);
    };
    let Some(gw) = c.server.listen else {
        eprintln!("demo: the demo config needs server.listen (its sample requests are plain HTTP)");
        return ExitCode::from(2);
    };
    let shown = token.clone();
    let banner = move || {
        println!(
            "ringway demo: gateway on http://{gw}, sample services users/orders/products registered on loopback"
        );
        println!("try:");
        println!("  curl -i http://{gw}/api/users");
        println!("  curl -i http://{gw}/api/orders/101");
        println!("  curl -i -X POST -d '{{\"sku\":\"RW-3\"}}' http://{gw}/api/products");
        println!("  curl -i http://{gw}/nope            # 404 in the gateway's JSON error shape");
        println!("  curl -s http://{admin}/metrics     # Prometheus counters");
        println!("  curl -s http://{admin}/routes      # the route table as JSON (docs/observability.md)");
        // The demo's own token (set RINGWAY_DEMO_REGISTRY_TOKEN to choose it).
        println!(
            "  curl -s -H 'Authorization: Bearer {shown}' http://{admin}/registry/services   # who registered"
        );
        println!("stop with Ctrl-C");
    };
    if let Err(e) = register::keep_registered(admin, token, services, banner) {
        eprintln!("demo: cannot start the registration thread: {e}");
        return ExitCode::from(1);
    }
    let source = reload::Source::Embedded {
        text: ringway::demo::DEMO_CONFIG,
        origin,
    };
    serve(c, load_time, source)
}
