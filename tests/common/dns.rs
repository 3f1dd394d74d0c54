//! A real DNS server on loopback for the discovery tests: `dns_server.py`
//! (on the `dnslib` package) on an ephemeral UDP port, answering from a
//! zone file the test replaces at run time.
//!
//! Must never: skip a test silently. Without python3 or dnslib, `start`
//! panics saying what to install.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::Value;

static SEQ: AtomicU32 = AtomicU32::new(0);

/// The running server; dropping it stops the process and removes the zone.
pub struct DnsServer {
    child: Child,
    /// Where it answers (UDP).
    pub addr: SocketAddr,
    zone: PathBuf,
}

impl DnsServer {
    /// Starts the server answering from `zone` (the JSON of `dns_server.py`).
    pub fn start(zone: &Value) -> DnsServer {
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let path =
            std::env::temp_dir().join(format!("ringway-dns-{}-{n}.json", std::process::id()));
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/common/dns_server.py");
        super::python::require("dnslib", "DNS", "dnslib");
        let mut server = DnsServer {
            child: Command::new("python3")
                .arg(script)
                .arg(&path)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("spawn python3 dns_server.py"),
            addr: ([127, 0, 0, 1], 0).into(),
            zone: path,
        };
        server.set(zone);
        let port = super::python::port(&mut server.child, "dns_server.py");
        server.addr.set_port(port);
        server
    }

    /// Replaces the answers (atomically: the server never reads half a file).
    pub fn set(&self, zone: &Value) {
        let tmp = self.zone.with_extension("tmp");
        std::fs::write(&tmp, zone.to_string()).expect("write zone");
        std::fs::rename(&tmp, &self.zone).expect("rename zone");
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.zone);
    }
}
