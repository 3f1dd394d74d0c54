//! ringway-loadgen: the bundled load generator and reference upstream.
//!
//! This crate is a skeleton in the core data plane issue; the benchmark-harness
//! issue fills it. It must never send load anywhere but loopback by default.

fn main() {
    let arg = std::env::args().nth(1);
    match arg.as_deref() {
        Some("--version") => println!("ringway-loadgen {}", env!("CARGO_PKG_VERSION")),
        _ => {
            eprintln!("ringway-loadgen: not implemented yet (see the benchmark-harness issue)");
            std::process::exit(2);
        }
    }
}
