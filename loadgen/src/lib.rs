//! ringway-loadgen: the bundled load generator, reference upstream, and the
//! comparison harness against nginx, HAProxy and Envoy.
//!
//! It must never send load anywhere but loopback unless told `--allow-remote`.

pub mod added;
pub mod cli;
pub mod compare;
pub mod conn;
pub mod meta;
pub mod pacer;
pub mod report;
pub mod response;
pub mod ring;
pub mod run;
pub mod sched;
pub mod serve;
pub mod spec;
pub mod stats;
pub mod target;
pub mod tls;
pub mod validity;
