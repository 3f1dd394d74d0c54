//! The bundled demo: three small sample services (`users`, `orders`,
//! `products`) on loopback behind the gateway, configured by the embedded
//! `config/demo.toml`. The services join through the built-in registry
//! (`register`), as real services would.
//!
//! The services are deliberately plain (a thread per connection, blocking
//! sockets): they exist to be proxied, not to be fast. Must never: be used
//! as a benchmark origin (use `ringway-loadgen serve`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

pub mod register;

/// The demo configuration, embedded at build time.
pub const DEMO_CONFIG: &str = include_str!("../../config/demo.toml");

/// The sample services: each upstream of the demo config, and the port its
/// one instance listens on (it registers there itself).
pub const SERVICES: [(&str, u16); 3] = [("users", 3001), ("orders", 3002), ("products", 3003)];

/// Starts one sample service named `name` on `addr`.
pub fn start_service(name: &str, addr: SocketAddr) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr)?;
    let name = name.to_string();
    std::thread::Builder::new()
        .name(format!("demo-{name}"))
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                let name = name.clone();
                let _ = std::thread::Builder::new().spawn(move || serve(&name, stream));
            }
        })?;
    Ok(())
}

fn serve(name: &str, mut s: TcpStream) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(60)));
    let mut buf = vec![0u8; 65536];
    let mut len = 0;
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut headers);
        let parsed = match req.parse(&buf[..len]) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) if len < buf.len() => match s.read(&mut buf[len..]) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    len += n;
                    continue;
                }
            },
            _ => return,
        };
        let method = req.method.unwrap_or("GET").to_string();
        let path = req.path.unwrap_or("/").to_string();
        let mut body_len = 0usize;
        let mut chunked = false;
        let mut request_id = String::new();
        for h in req.headers.iter() {
            if h.name.eq_ignore_ascii_case("content-length") {
                body_len = std::str::from_utf8(h.value)
                    .ok()
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = true;
            } else if h.name.eq_ignore_ascii_case("x-request-id") {
                request_id = String::from_utf8_lossy(h.value).into_owned();
            }
        }
        if chunked {
            // The demo does not decode chunked uploads; answer and close.
            let _ = respond(&mut s, name, &method, &path, &request_id, true);
            return;
        }
        // Skip the body.
        let mut have = len - parsed;
        while have < body_len {
            match s.read(&mut buf[..]) {
                Ok(0) | Err(_) => return,
                Ok(n) => have += n,
            }
        }
        let extra = have - body_len;
        let start = len - extra.min(len);
        buf.copy_within(start..len, 0);
        len = extra.min(len);
        if respond(&mut s, name, &method, &path, &request_id, false).is_err() {
            return;
        }
    }
}

fn respond(
    s: &mut TcpStream,
    name: &str,
    method: &str,
    path: &str,
    rid: &str,
    close: bool,
) -> std::io::Result<()> {
    let items = match name {
        "users" => r#"[{"id":1,"name":"Ada"},{"id":2,"name":"Linus"}]"#,
        "orders" => r#"[{"id":101,"user":1,"total":42.5},{"id":102,"user":2,"total":7.0}]"#,
        _ => r#"[{"sku":"RW-1","name":"ring"},{"sku":"RW-2","name":"way"}]"#,
    };
    let body = format!(
        "{{\"service\":\"{name}\",\"method\":\"{method}\",\"path\":{path:?},\"request_id\":{rid:?},\"items\":{items}}}\n"
    );
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nserver: demo-{name}\r\n{}\r\n",
        body.len(),
        if close { "connection: close\r\n" } else { "" }
    );
    s.write_all(head.as_bytes())?;
    s.write_all(body.as_bytes())
}
