//! The Python test servers (`dns_server.py`, `ws_server.py`): checking that
//! the package each runs on is installed, and reading the ephemeral port
//! each prints once it listens.
//!
//! Must never: let a missing package skip a test; it panics saying what to
//! install.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command};

/// Panics unless python3 can `import module`; `tests` names the tests that
/// need it and `pip` what to install.
pub fn require(module: &str, tests: &str, pip: &str) {
    match Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
    {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "the {tests} tests need the Python package {pip}: `pip install {pip}` ({})",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => panic!("the {tests} tests need python3 with {pip} ({e})"),
    }
}

/// The port `script` (running as `child`) prints on its first line.
pub fn port(child: &mut Child, script: &str) -> u16 {
    let out = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(out)
        .read_line(&mut line)
        .expect("read the port");
    line.trim()
        .parse()
        .unwrap_or_else(|_| panic!("{script} said {line:?}, not a port"))
}
