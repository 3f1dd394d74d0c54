//! `--tls` against a real TLS server (`openssl s_server -www`, self-signed):
//! with `--insecure` the handshake and responses succeed; without it the
//! unverifiable certificate is a connect error, never silently accepted.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{run_json, temp_path};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_tls_server() -> (Server, u16) {
    let (cert, key) = (temp_path("cert.pem"), temp_path("key.pem"));
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl is needed for the TLS test (Debian package openssl)");
    assert!(ok.success());
    let port = free_port();
    let child = Command::new("openssl")
        .args(["s_server", "-quiet", "-www", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn openssl s_server");
    let server = Server(child);
    assert!(
        common::eventually(Duration::from_secs(10), || std::net::TcpStream::connect((
            "127.0.0.1",
            port
        ))
        .is_ok()),
        "s_server did not listen"
    );
    (server, port)
}

#[test]
fn tls_with_insecure_completes_and_without_it_refuses_the_certificate() {
    let (_server, port) = start_tls_server();
    let url = format!("https://localhost:{port}/");
    // s_server -www answers HTTP/1.0 and closes: every request is a new TLS session.
    let (out, j) = run_json(
        &url,
        &[
            "--tls",
            "--insecure",
            "-c",
            "1",
            "-d",
            "300ms",
            "--warmup",
            "0s",
            "--rate",
            "20",
        ],
    );
    let r = &j["result"];
    assert!(
        r["responses"].as_u64().unwrap() >= 3,
        "{}{}",
        out.stdout,
        out.stderr
    );
    assert_eq!(r["errors"]["connect"].as_u64(), Some(0));
    assert!(r["connects"].as_u64().unwrap() >= r["responses"].as_u64().unwrap());
    let (_, j) = run_json(
        &url,
        &[
            "--tls", "-c", "1", "-d", "300ms", "--warmup", "0s", "--rate", "20",
        ],
    );
    let r = &j["result"];
    assert_eq!(r["responses"].as_u64(), Some(0));
    assert!(r["errors"]["connect"].as_u64().unwrap() >= 3);
}
