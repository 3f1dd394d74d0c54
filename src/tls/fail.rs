//! Why a TLS handshake did not complete: the listener's reasons
//! (`HandshakeFail`, the `reason` label of
//! `ringway_tls_handshake_failures_total` and of its log line), read from
//! rustls' error, and the unclassified form both sides' handshakes report
//! first (`Shake`; the upstream side classifies it as `upstream::TlsFail`).
//!
//! Owns: the reasons and their names. Must never: change a reason's index
//! (it is the metric's array slot) without changing `ALL` with it.

/// Why a handshake did not complete: the `reason` label of
/// `ringway_tls_handshake_failures_total` and of the log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandshakeFail {
    /// Not finished within `server.header_timeout_ms`.
    Timeout = 0,
    /// The client closed or reset the connection mid-handshake.
    Closed = 1,
    /// The bytes were not TLS (for example plain HTTP to the TLS port).
    NotTls = 2,
    /// No protocol version in common (for example TLS 1.2 with `min_version = "1.3"`).
    Version = 3,
    /// The client sent an alert (typically: it rejected our certificate).
    AlertReceived = 4,
    /// No certificate for the client's name and no default one.
    NoCertificate = 5,
    /// The client offered ALPN protocols and `http/1.1` was not among them.
    NoAlpn = 6,
    /// Any other protocol error (bad message, cipher mismatch, …).
    Protocol = 7,
    /// `client_auth = "required"` and the client sent no certificate.
    ClientCertMissing = 8,
    /// The client's certificate did not verify against `client_ca`
    /// (another CA, expired, not for client auth) or cannot be read.
    ClientCertInvalid = 9,
}

impl HandshakeFail {
    /// How many reasons there are (the metric's array length).
    pub const COUNT: usize = 10;

    /// Every reason, in index order (the metric's label values).
    pub const ALL: [HandshakeFail; HandshakeFail::COUNT] = [
        HandshakeFail::Timeout,
        HandshakeFail::Closed,
        HandshakeFail::NotTls,
        HandshakeFail::Version,
        HandshakeFail::AlertReceived,
        HandshakeFail::NoCertificate,
        HandshakeFail::NoAlpn,
        HandshakeFail::Protocol,
        HandshakeFail::ClientCertMissing,
        HandshakeFail::ClientCertInvalid,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            HandshakeFail::Timeout => "timeout",
            HandshakeFail::Closed => "closed",
            HandshakeFail::NotTls => "not_tls",
            HandshakeFail::Version => "protocol_version",
            HandshakeFail::AlertReceived => "alert_received",
            HandshakeFail::NoCertificate => "no_certificate",
            HandshakeFail::NoAlpn => "no_alpn",
            HandshakeFail::Protocol => "protocol",
            HandshakeFail::ClientCertMissing => "client_certificate_missing",
            HandshakeFail::ClientCertInvalid => "client_certificate_invalid",
        }
    }

    pub(super) fn classify(e: &rustls::Error) -> HandshakeFail {
        use rustls::{Error, InvalidMessage, PeerIncompatible};
        match e {
            Error::InvalidMessage(InvalidMessage::InvalidContentType)
            | Error::InvalidMessage(InvalidMessage::UnknownProtocolVersion)
            | Error::InvalidMessage(InvalidMessage::MessageTooLarge) => HandshakeFail::NotTls,
            Error::PeerIncompatible(
                PeerIncompatible::SupportedVersionsExtensionRequired
                | PeerIncompatible::Tls12NotOffered
                | PeerIncompatible::Tls12NotOfferedOrEnabled
                | PeerIncompatible::Tls13RequiredForQuic,
            ) => HandshakeFail::Version,
            Error::AlertReceived(_) => HandshakeFail::AlertReceived,
            Error::NoApplicationProtocol => HandshakeFail::NoAlpn,
            // Only a server that asks for client certificates sees these.
            Error::NoCertificatesPresented => HandshakeFail::ClientCertMissing,
            Error::InvalidCertificate(_) => HandshakeFail::ClientCertInvalid,
            // What rustls reports when the resolver returns nothing (no
            // default certificate: not reachable from a valid config).
            Error::General(m) if m.contains("certificate") => HandshakeFail::NoCertificate,
            _ => HandshakeFail::Protocol,
        }
    }
}

/// Why a handshake did not complete, before it is classified: the server
/// side's `HandshakeFail`, the client side's `TlsFail` (`upstream`).
#[derive(Debug)]
pub enum Shake {
    /// The peer closed or reset the connection mid-handshake.
    Closed,
    /// rustls refused: the certificate did not verify, an alert came, no
    /// protocol in common, …
    Tls(rustls::Error),
}
