// The signing and key-exchange cost of ring 0.17.14 alone, as rustls uses
// it in a TLS 1.3 handshake, to set beside `openssl speed` (bench/RESULTS.md,
// "TLS against nginx"). Not built by the workspace: a throwaway crate
//   [dependencies] ring = "=0.17.14"   ([profile.release] lto = "fat", codegen-units = 1)
// run as `taskset -c 0 ring-sign DIR SECONDS`, DIR holding rsa.key and
// ecdsa.key (PKCS#8 PEM, as bench/tls-compare.sh makes them).
use ring::{agreement, rand, rsa, signature};
use std::time::Instant;
fn main() {
    let dir = std::env::args().nth(1).unwrap();
    let secs: f64 = std::env::args().nth(2).map(|s| s.parse().unwrap()).unwrap_or(2.0);
    let rng = rand::SystemRandom::new();
    let der = |f: &str| {
        let pem = std::fs::read_to_string(format!("{dir}/{f}")).unwrap();
        let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        b64_decode(&b64)
    };
    let msg = [7u8; 130];
    let rsa = rsa::KeyPair::from_pkcs8(&der("rsa.key")).unwrap();
    let mut sig = vec![0; rsa.public().modulus_len()];
    let (n, t) = run(secs, || rsa.sign(&signature::RSA_PSS_SHA256, &rng, &msg, &mut sig).unwrap());
    println!("ring rsa2048 pss sign: {:.1} us ({n} in {t:.2}s)", t * 1e6 / n as f64);
    let ec = signature::EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &der("ecdsa.key"), &rng).unwrap();
    let (n, t) = run(secs, || { ec.sign(&rng, &msg).unwrap(); });
    println!("ring ecdsa p256 sign: {:.1} us ({n} in {t:.2}s)", t * 1e6 / n as f64);
    let peer = agreement::EphemeralPrivateKey::generate(&agreement::X25519, &rng).unwrap().compute_public_key().unwrap();
    let (n, t) = run(secs, || {
        let k = agreement::EphemeralPrivateKey::generate(&agreement::X25519, &rng).unwrap();
        let _ = k.compute_public_key().unwrap();
        agreement::agree_ephemeral(k, &agreement::UnparsedPublicKey::new(&agreement::X25519, peer.as_ref()), |s| s[0]).unwrap();
    });
    println!("ring x25519 keygen+pub+agree: {:.1} us ({n} in {t:.2}s)", t * 1e6 / n as f64);
}
fn run(secs: f64, mut f: impl FnMut()) -> (u64, f64) {
    let s = Instant::now(); let mut n = 0;
    while s.elapsed().as_secs_f64() < secs { for _ in 0..10 { f(); } n += 10; }
    (n, s.elapsed().as_secs_f64())
}
fn b64_decode(s: &str) -> Vec<u8> {
    let mut out = Vec::new(); let mut buf = 0u32; let mut bits = 0;
    for c in s.bytes() {
        let v = match c { b'A'..=b'Z' => c - b'A', b'a'..=b'z' => c - b'a' + 26, b'0'..=b'9' => c - b'0' + 52, b'+' => 62, b'/' => 63, _ => continue } as u32;
        buf = buf << 6 | v; bits += 6;
        if bits >= 8 { bits -= 8; out.push((buf >> bits) as u8); }
    }
    out
}
