//! `--tls` against a real TLS server (`openssl s_server -www`): with
//! `--insecure` the handshake and responses succeed; without it an
//! unverifiable certificate is a connect error, never silently accepted.
//! With `--ca` the bench CA is trusted and no other; `--conn-per-request`
//! makes a full handshake per request, `--tls-resume` resumed ones (counted
//! from each connection's handshake kind), and a resume run against a
//! server that cannot resume is INVALID.

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

/// Runs `openssl ARGS` and asserts it succeeded.
fn openssl(args: &[&str]) {
    let ok = Command::new("openssl")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl is needed for the TLS test (Debian package openssl)");
    assert!(ok.success(), "openssl {args:?}");
}

/// A self-signed RSA certificate for CN=localhost: (cert, key).
fn self_signed() -> (String, String) {
    let (cert, key) = (temp_path("cert.pem"), temp_path("key.pem"));
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=localhost",
        "-keyout",
        key,
        "-out",
        cert,
    ]);
    (cert.into(), key.into())
}

/// A CA named NAME and an ECDSA P-256 leaf it signs for localhost:
/// (ca, leaf cert, leaf key).
fn ca_and_leaf(name: &str) -> (String, String, String) {
    let p = |f: &str| {
        temp_path(&format!("{name}-{f}"))
            .to_str()
            .unwrap()
            .to_string()
    };
    let (ca, ca_key, csr, cert, key, ext) = (
        p("ca.pem"),
        p("ca.key"),
        p("leaf.csr"),
        p("leaf.pem"),
        p("leaf.key"),
        p("leaf.ext"),
    );
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let subj = format!("/CN={name}");
    let mut args = vec!["req", "-x509", "-days", "1", "-subj", &subj];
    args.extend(ec);
    args.extend([
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
        "-keyout",
        &ca_key,
        "-out",
        &ca,
    ]);
    openssl(&args);
    let mut args = vec![
        "req",
        "-subj",
        "/CN=localhost",
        "-keyout",
        &key,
        "-out",
        &csr,
    ];
    args.extend(ec);
    openssl(&args);
    std::fs::write(
        &ext,
        "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-days",
        "1",
        "-in",
        &csr,
        "-CA",
        &ca,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-extfile",
        &ext,
        "-out",
        &cert,
    ]);
    (ca, cert, key)
}

/// `openssl s_server -www` with CERT and KEY and EXTRA flags; its port.
fn start_tls_server(cert: &str, key: &str, extra: &[&str]) -> (Server, u16) {
    let port = free_port();
    let child = Command::new("openssl")
        .args(["s_server", "-quiet", "-www", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["-cert", cert, "-key", key])
        .args(extra)
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
    let (cert, key) = self_signed();
    let (_server, port) = start_tls_server(&cert, &key, &[]);
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

/// `--conn-per-request` over TLS at 20/s, trusting `ca`, with `extra` flags.
/// Each send waits for its connection's handshake, which counts as send
/// delay: its bound is lifted, the other checks stay.
fn per_request(url: &str, ca: &str, extra: &[&str]) -> (common::Outcome, serde_json::Value) {
    let mut args = vec![
        "--ca",
        ca,
        "--conn-per-request",
        "-c",
        "1",
        "-d",
        "500ms",
        "--warmup",
        "300ms",
        "--rate",
        "20",
        "--max-send-delay-us",
        "1000000",
    ];
    args.extend_from_slice(extra);
    run_json(url, &args)
}

#[test]
fn conn_per_request_makes_a_full_handshake_per_request_against_the_ca_given() {
    let (ca, cert, key) = ca_and_leaf("bench-ca");
    let (server, port) = start_tls_server(&cert, &key, &[]);
    let url = format!("https://localhost:{port}/");
    let pid = server.0.id().to_string();
    let (out, j) = per_request(&url, &ca, &["--server-pid", &pid]);
    let (r, t) = (&j["result"], &j["result"]["tls"]);
    let n = r["responses"].as_u64().unwrap();
    assert!(n >= 8, "{}{}", out.stdout, out.stderr);
    assert_eq!(out.code, 0, "{}", out.stdout);
    // One handshake per response, every one full: the client keeps no session.
    assert_eq!(
        (t["full"].as_u64(), t["resumed"].as_u64()),
        (Some(n), Some(0))
    );
    assert!(t["negotiated"].as_str().unwrap().starts_with("TLSv1_3 "));
    assert_eq!(j["validity"]["tls_handshakes_ok"].as_bool(), Some(true));
    // s_server's own CPU over the window, per handshake.
    let cpu = &r["server_cpu"];
    assert!(cpu["cpu_s"].as_f64().unwrap() > 0.0, "{cpu}");
    assert!(cpu["us_per_handshake"].as_f64().unwrap() > 0.0, "{cpu}");
    // Another CA does not vouch for this server: every handshake fails.
    let (other, _, _) = ca_and_leaf("other-ca");
    let (out, j) = per_request(&url, &other, &[]);
    assert_eq!(j["result"]["responses"].as_u64(), Some(0), "{}", out.stdout);
    assert!(j["result"]["errors"]["connect"].as_u64().unwrap() >= 8);
    assert_eq!(out.code, 3);
}

#[test]
fn tls_resume_resumes_every_handshake_after_the_first_and_is_invalid_where_it_cannot() {
    let (ca, cert, key) = ca_and_leaf("resume-ca");
    for version in ["1.3", "1.2"] {
        let (_server, port) = start_tls_server(&cert, &key, &[]);
        let url = format!("https://localhost:{port}/");
        let (out, j) = per_request(&url, &ca, &["--tls-resume", "--tls-version", version]);
        let t = &j["result"]["tls"];
        let n = j["result"]["responses"].as_u64().unwrap();
        assert!(n >= 8, "{}{}", out.stdout, out.stderr);
        // The first, full handshake was in the warm-up.
        assert_eq!(
            (t["full"].as_u64(), t["resumed"].as_u64()),
            (Some(0), Some(n)),
            "TLS {version}: {}",
            out.stdout
        );
        let tag = format!("TLSv1_{} ", &version[2..]);
        assert!(t["negotiated"].as_str().unwrap().starts_with(&tag), "{t}");
        assert_eq!(out.code, 0, "{}", out.stdout);
    }
    // No tickets and no session cache: nothing to resume, so the run is
    // INVALID, never quoted as resumed handshakes.
    let (_server, port) = start_tls_server(&cert, &key, &["-no_ticket", "-no_cache"]);
    let url = format!("https://localhost:{port}/");
    let (out, j) = per_request(&url, &ca, &["--tls-resume"]);
    assert_eq!(
        j["result"]["tls"]["resumed"].as_u64(),
        Some(0),
        "{}",
        out.stdout
    );
    assert_eq!(j["validity"]["tls_handshakes_ok"].as_bool(), Some(false));
    assert!(
        out.stdout.contains("resumption did not happen"),
        "{}",
        out.stdout
    );
    assert_eq!(out.code, 3);
}
