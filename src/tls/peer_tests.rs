use super::*;

/// A self-signed certificate with `dn` (type, value; in certificate
/// order) and `sans`.
fn cert(dn: &[(rcgen::DnType, &str)], sans: Vec<rcgen::SanType>) -> CertificateDer<'static> {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params.distinguished_name = rcgen::DistinguishedName::new();
    for (t, v) in dn {
        params.distinguished_name.push(t.clone(), *v);
    }
    params.subject_alt_names = sans;
    let key = rcgen::KeyPair::generate().expect("key");
    params.self_signed(&key).expect("cert").der().clone()
}

fn ia5(s: &str) -> rcgen::Ia5String {
    rcgen::Ia5String::try_from(s).expect("ia5")
}

fn service() -> CertificateDer<'static> {
    use rcgen::{DnType, SanType};
    cert(
        &[
            (DnType::CountryName, "DE"),
            (DnType::OrganizationName, "Acme, Inc."),
            (DnType::CommonName, "svc-a"),
        ],
        vec![
            SanType::DnsName(ia5("Svc-A.Internal.Test")),
            SanType::URI(ia5("spiffe://acme/ns/a/sa/svc,a")),
            SanType::Rfc822Name(ia5("ops@acme.test")),
        ],
    )
}

fn text(p: &Peer) -> String {
    String::from_utf8(p.headers().to_vec()).expect("ascii")
}

#[test]
fn subject_is_rfc4514_and_sans_keep_their_order() {
    let der = service();
    let p = Peer::new(Some("api.test"), Some(ClientAuth::Required), Some(&der)).expect("parse");
    let c = p.client_cert().expect("cert");
    assert_eq!(&*c.subject, "CN=svc-a,O=Acme\\, Inc.,C=DE");
    let sans: Vec<_> = c.sans.iter().map(|(k, v)| (*k, &**v)).collect();
    assert_eq!(
        sans,
        [
            (SanKind::Dns, "svc-a.internal.test"),
            (SanKind::Uri, "spiffe://acme/ns/a/sa/svc,a"),
            (SanKind::Email, "ops@acme.test"),
        ]
    );
    assert_eq!(
        text(&p),
        "x-client-cert-verified: SUCCESS\r\n\
         x-client-cert-subject: CN=svc-a,O=Acme\\, Inc.,C=DE\r\n\
         x-client-cert-san: svc-a.internal.test,spiffe://acme/ns/a/sa/svc%2Ca,ops@acme.test\r\n"
    );
}

#[test]
fn header_values_never_carry_control_or_non_ascii_bytes() {
    use rcgen::DnType;
    let der = cert(&[(DnType::CommonName, " évil\r\nx-injected: 1")], vec![]);
    let p = Peer::new(None, Some(ClientAuth::Optional), Some(&der)).expect("parse");
    let h = text(&p);
    assert_eq!(
        h,
        "x-client-cert-verified: SUCCESS\r\n\
         x-client-cert-subject: CN=\\ \\C3\\A9vil\\0D\\0Ax-injected: 1\r\n"
    );
}

#[test]
fn without_a_certificate_only_the_verdict_and_only_when_asked_for() {
    let optional = Peer::new(Some("a.test"), Some(ClientAuth::Optional), None).expect("peer");
    assert_eq!(text(&optional), "x-client-cert-verified: NONE\r\n");
    assert!(optional.client_cert().is_none());
    let off = Peer::new(Some("a.test"), None, None).expect("peer");
    assert_eq!(text(&off), "");
}

#[test]
fn a_certificate_that_cannot_be_read_is_an_error() {
    let junk = CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x01]);
    assert!(Peer::new(None, Some(ClientAuth::Required), Some(&junk)).is_err());
}

#[test]
fn host_must_be_the_sni_when_client_certificates_are_on() {
    let on = Peer::new(Some("API.test."), Some(ClientAuth::Optional), None).expect("peer");
    for ok in ["api.test", "API.TEST:8443", "api.test.", "api.test.:443"] {
        assert!(on.host_allowed(Some(ok.as_bytes())), "{ok}");
    }
    for bad in [
        "other.test",
        "x.api.test",
        "api.test.evil",
        "127.0.0.1",
        "[::1]:8443",
    ] {
        assert!(!on.host_allowed(Some(bad.as_bytes())), "{bad}");
    }
    assert!(
        on.host_allowed(None),
        "no Host (HTTP/1.0): nothing to compare"
    );
    let off = Peer::new(Some("api.test"), None, None).expect("peer");
    assert!(off.host_allowed(Some(b"other.test")), "mTLS off: no rule");
}

#[test]
fn without_sni_only_an_ip_literal_host_passes() {
    let p = Peer::new(None, Some(ClientAuth::Required), None).expect("peer");
    for ok in ["127.0.0.1", "127.0.0.1:8443", "[::1]", "[::1]:8443"] {
        assert!(p.host_allowed(Some(ok.as_bytes())), "{ok}");
    }
    for bad in ["api.test", "api.test:8443", "localhost"] {
        assert!(!p.host_allowed(Some(bad.as_bytes())), "{bad}");
    }
}

#[test]
fn allow_lists_match_subjects_exactly_and_dns_sans_by_one_label_wildcard() {
    let der = service();
    let p = Peer::new(None, None, Some(&der)).expect("parse");
    let c = p.client_cert().expect("cert");
    let b = |v: &[&str]| v.iter().map(|s| Box::<str>::from(*s)).collect::<Vec<_>>();
    assert!(c.allowed(&[], &[]), "no lists: any verified certificate");
    assert!(c.allowed(&b(&["CN=svc-a,O=Acme\\, Inc.,C=DE"]), &[]));
    assert!(
        !c.allowed(&b(&["CN=svc-a"]), &[]),
        "a subject matches whole"
    );
    assert!(
        c.allowed(&[], &b(&["SVC-A.internal.test"])),
        "DNS: any case"
    );
    assert!(c.allowed(&[], &b(&["*.internal.test"])));
    assert!(!c.allowed(&[], &b(&["*.test"])), "one label only");
    assert!(c.allowed(&[], &b(&["spiffe://acme/ns/a/sa/svc,a"])));
    assert!(
        !c.allowed(&[], &b(&["SPIFFE://acme/ns/a/sa/svc,a"])),
        "URI: exact"
    );
    assert!(
        !c.allowed(&[], &b(&["*.acme/ns/a/sa/svc,a"])),
        "no wildcard on URIs"
    );
    assert!(c.allowed(&[], &b(&["ops@acme.test"])));
    assert!(!c.allowed(&b(&["CN=other"]), &b(&["other.test"])));
}
