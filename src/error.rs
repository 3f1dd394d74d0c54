//! The one place where errors of every layer become an HTTP status, a stable
//! `code` string and the JSON error body.
//!
//! Each layer has its own error enum (`http::HttpError`, `http::PathError`,
//! `http::ChunkError`, `upstream::UpstreamError`, the router's `RouteMatch`);
//! they convert into an `ErrorCode` here and nowhere else. Must never: decide
//! a status code in any other module.

use std::fmt::Write as _;

use crate::auth::AuthError;
use crate::http::{ChunkError, HttpError, PathError};
use crate::upstream::UpstreamError;

macro_rules! codes {
    ($($variant:ident => $status:literal, $code:literal, $msg:literal;)*) => {
        /// Every error the gateway answers itself.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum ErrorCode { $(#[doc = $msg] $variant,)* }

        impl ErrorCode {
            /// All codes, in counter-index order.
            pub const ALL: [ErrorCode; [$($code),*].len()] = [$(ErrorCode::$variant),*];
            /// Number of codes.
            pub const COUNT: usize = Self::ALL.len();

            /// The HTTP status this error is answered with.
            pub fn status(self) -> u16 { match self { $(ErrorCode::$variant => $status,)* } }
            /// The stable machine-readable code in the JSON body and metrics.
            pub fn as_str(self) -> &'static str { match self { $(ErrorCode::$variant => $code,)* } }
            /// The human-readable message in the JSON body.
            pub fn message(self) -> &'static str { match self { $(ErrorCode::$variant => $msg,)* } }
        }
    };
}

codes! {
    RouteNotFound => 404, "route_not_found", "no route matches this request";
    MethodNotAllowed => 405, "method_not_allowed", "the route does not allow this method";
    HeaderTooLarge => 431, "header_too_large", "the request head is larger than allowed";
    TooManyHeaders => 431, "too_many_headers", "the request has too many header fields";
    HttpVersionNotSupported => 505, "http_version_not_supported", "only HTTP/1.0 and HTTP/1.1 are supported";
    MalformedRequest => 400, "malformed_request", "the request head is not valid HTTP/1.1";
    ConflictingFraming => 400, "conflicting_framing", "both Content-Length and Transfer-Encoding are present";
    InvalidContentLength => 400, "invalid_content_length", "Content-Length is invalid or repeated";
    InvalidTransferEncoding => 400, "invalid_transfer_encoding", "only a single chunked transfer coding is accepted";
    InvalidHost => 400, "invalid_host", "the Host header is missing, repeated or invalid";
    AmbiguousHeader => 400, "ambiguous_header", "a header that must have one value was sent more than once or as a comma-separated list";
    InvalidHeaderName => 400, "invalid_header_name", "header names containing '_' are refused";
    MethodOverrideRefused => 400, "method_override_refused", "method override headers (X-HTTP-Method-Override and similar) are refused";
    InvalidPath => 400, "invalid_path", "the request target cannot be normalised";
    AmbiguousPath => 400, "ambiguous_path", "the path has a spelling upstreams read differently (encoded slash, backslash, ';' parameter, trailing dot or space)";
    InvalidMethod => 400, "invalid_method", "methods are case-sensitive: send the standard method in upper case";
    InvalidChunk => 400, "invalid_chunk", "the chunked request body is malformed";
    ExpectationFailed => 417, "expectation_failed", "only Expect: 100-continue is supported";
    UpgradeWithBody => 400, "upgrade_with_body", "an upgrade request must not carry a body";
    OriginNotAllowed => 403, "origin_not_allowed", "the route's cors origins do not include this upgrade request's Origin";
    BodyTooLarge => 413, "body_too_large", "the request body is larger than allowed";
    RequestTimeout => 408, "request_timeout", "the request was not received in time";
    RateLimited => 429, "rate_limited", "the rate limit for this client was exceeded";
    RateLimitKeysFull => 429, "rate_limit_keys_full", "the rate limiter tracks as many clients as it may; retry later";
    RateLimitNewKeys => 429, "rate_limit_new_keys", "this client has started as many new rate-limit keys as it may in this period";
    ConcurrencyLimited => 503, "concurrency_limited", "the route has as many requests in flight as it allows";
    TooManyConnections => 503, "too_many_connections", "the gateway is at its connection limit";
    UpstreamOverloaded => 503, "upstream_overloaded", "the upstream service has as many connections or requests in flight as the gateway allows";
    NoHealthyUpstream => 503, "no_healthy_upstream", "no target of the upstream service is healthy";
    UpstreamUnavailable => 502, "upstream_unavailable", "the upstream service could not be reached";
    UpstreamConnectTimeout => 504, "upstream_connect_timeout", "connecting to the upstream service timed out";
    UpstreamTimeout => 504, "upstream_timeout", "the upstream service did not respond in time";
    NotCached => 504, "not_cached", "the request said only-if-cached and no stored response can answer it";
    UpstreamReset => 502, "upstream_reset", "the upstream service closed the connection before responding";
    BadUpstreamResponse => 502, "bad_upstream_response", "the upstream service sent an invalid response";
    UpstreamHeadTooLarge => 502, "upstream_head_too_large", "the upstream service's response head is larger than the gateway accepts";
    UpstreamTls => 502, "upstream_tls", "the TLS handshake with the upstream service failed (its certificate did not verify, or it refused the gateway's)";
    MissingCredentials => 401, "missing_credentials", "the route requires credentials and none were sent";
    InvalidToken => 401, "invalid_token", "the token is not a well-formed JWT";
    TokenTooLarge => 401, "token_too_large", "the token is larger than allowed";
    AlgNotAllowed => 401, "alg_not_allowed", "the token's algorithm is not accepted";
    UnknownKey => 401, "unknown_key", "no known key matches the token's key id";
    KeyMismatch => 401, "key_mismatch", "the token's algorithm does not fit the key's type";
    BadSignature => 401, "bad_signature", "the token's signature is invalid";
    TokenExpired => 401, "token_expired", "the token has expired";
    TokenNotYetValid => 401, "token_not_yet_valid", "the token is not valid yet";
    WrongIssuer => 401, "wrong_issuer", "the token's issuer is not accepted";
    WrongAudience => 401, "wrong_audience", "the token is not meant for this audience";
    TokenRevoked => 401, "token_revoked", "the token has been revoked";
    InvalidApiKey => 401, "invalid_api_key", "the API key is not valid";
    InsufficientScope => 403, "insufficient_scope", "the credentials lack a required scope";
    MissingRole => 403, "missing_role", "the credentials lack a required role";
    ClaimMismatch => 403, "claim_mismatch", "a required claim is missing or has another value";
    ClientCertNotAllowed => 403, "client_certificate_not_allowed", "the client certificate's subject and names are not among the route's allowed ones";
    MisdirectedRequest => 421, "misdirected_request", "the Host header does not match the TLS server name (SNI) this connection was made for";
    MissingHeader => 400, "missing_header", "a header this route requires is missing";
    UnsupportedMediaType => 415, "unsupported_media_type", "this route does not accept the request's content type";
    InvalidJson => 400, "invalid_json", "the request body is not well-formed JSON";
    LengthRequired => 411, "length_required", "this route needs a Content-Length request body";
    AdminNotFound => 404, "admin_not_found", "the admin listener has no such endpoint";
    AdminMethodNotAllowed => 405, "admin_method_not_allowed", "this admin endpoint does not allow this method";
    AdminBusy => 503, "admin_busy", "the admin listener is at its connection limit";
    AdminUnauthorized => 401, "admin_unauthorized", "the admin API needs Authorization: Bearer with the admin token";
    NotReady => 503, "not_ready", "the gateway is not ready for traffic";
    ConfigInvalid => 400, "config_invalid", "the configuration file did not load; nothing changed";
    InvalidRevocation => 400, "invalid_revocation", "the revocation change is invalid; nothing was applied";
    InvalidPurge => 400, "invalid_purge", "the cache purge is invalid; nothing was purged";
    RevocationNotSaved => 500, "revocation_not_saved", "the revocation change was applied but not saved to the file";
    RegistryUnauthorized => 401, "registry_unauthorized", "the registry API needs Authorization: Bearer with the registry token";
    RegistryBadRequest => 400, "registry_bad_request", "the registry request is invalid";
    RegistryNotFound => 404, "registry_not_found", "no such registry instance or endpoint";
    RegistryMethodNotAllowed => 405, "registry_method_not_allowed", "this registry endpoint does not allow this method";
    RegistryFull => 429, "registry_full", "the registry holds as many instances as it may; retry when one expires or is deregistered";
    RegistryNotSaved => 500, "registry_not_saved", "the registry change was applied but not saved to the state file";
}

impl From<HttpError> for ErrorCode {
    fn from(e: HttpError) -> ErrorCode {
        match e {
            HttpError::HeadTooLarge => ErrorCode::HeaderTooLarge,
            HttpError::TooManyHeaders => ErrorCode::TooManyHeaders,
            HttpError::UnsupportedVersion => ErrorCode::HttpVersionNotSupported,
            HttpError::BareCrLf | HttpError::ObsFold | HttpError::Malformed => {
                ErrorCode::MalformedRequest
            }
            HttpError::LengthAndChunked => ErrorCode::ConflictingFraming,
            HttpError::BadContentLength => ErrorCode::InvalidContentLength,
            HttpError::BadTransferEncoding => ErrorCode::InvalidTransferEncoding,
            HttpError::BadHost => ErrorCode::InvalidHost,
            HttpError::AmbiguousHeader => ErrorCode::AmbiguousHeader,
            HttpError::UnderscoreInName => ErrorCode::InvalidHeaderName,
            HttpError::MethodOverride => ErrorCode::MethodOverrideRefused,
            HttpError::UnsupportedExpectation => ErrorCode::ExpectationFailed,
            HttpError::BadTarget => ErrorCode::InvalidPath,
            HttpError::MiscasedMethod => ErrorCode::InvalidMethod,
            HttpError::BadChunk => ErrorCode::InvalidChunk,
        }
    }
}

impl From<PathError> for ErrorCode {
    fn from(e: PathError) -> ErrorCode {
        if e.is_ambiguous() {
            ErrorCode::AmbiguousPath
        } else {
            ErrorCode::InvalidPath
        }
    }
}

impl From<ChunkError> for ErrorCode {
    fn from(_: ChunkError) -> ErrorCode {
        ErrorCode::InvalidChunk
    }
}

impl From<UpstreamError> for ErrorCode {
    fn from(e: UpstreamError) -> ErrorCode {
        match e {
            UpstreamError::Unavailable => ErrorCode::UpstreamUnavailable,
            UpstreamError::ConnectTimeout => ErrorCode::UpstreamConnectTimeout,
            UpstreamError::ResponseTimeout => ErrorCode::UpstreamTimeout,
            UpstreamError::Reset => ErrorCode::UpstreamReset,
            UpstreamError::BadResponse => ErrorCode::BadUpstreamResponse,
            UpstreamError::HeadTooLarge => ErrorCode::UpstreamHeadTooLarge,
            UpstreamError::Overloaded => ErrorCode::UpstreamOverloaded,
            UpstreamError::Tls(_) => ErrorCode::UpstreamTls,
        }
    }
}

/// A response head the parser refused: the size bounds get their own code
/// (a 431 would blame the client's request), everything else is invalid.
impl From<HttpError> for UpstreamError {
    fn from(e: HttpError) -> UpstreamError {
        match e {
            HttpError::HeadTooLarge | HttpError::TooManyHeaders => UpstreamError::HeadTooLarge,
            _ => UpstreamError::BadResponse,
        }
    }
}

impl From<AuthError> for ErrorCode {
    fn from(e: AuthError) -> ErrorCode {
        match e {
            AuthError::Missing => ErrorCode::MissingCredentials,
            AuthError::TooLarge => ErrorCode::TokenTooLarge,
            AuthError::Malformed => ErrorCode::InvalidToken,
            AuthError::AlgNotAllowed => ErrorCode::AlgNotAllowed,
            AuthError::UnknownKey => ErrorCode::UnknownKey,
            AuthError::KeyMismatch => ErrorCode::KeyMismatch,
            AuthError::BadSignature => ErrorCode::BadSignature,
            AuthError::Expired => ErrorCode::TokenExpired,
            AuthError::NotYetValid => ErrorCode::TokenNotYetValid,
            AuthError::WrongIssuer => ErrorCode::WrongIssuer,
            AuthError::WrongAudience => ErrorCode::WrongAudience,
            AuthError::Revoked => ErrorCode::TokenRevoked,
            AuthError::BadApiKey => ErrorCode::InvalidApiKey,
            AuthError::CertNotAllowed => ErrorCode::ClientCertNotAllowed,
        }
    }
}

/// The reason phrase sent with `status` on responses the gateway makes.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        408 => "Request Timeout",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    }
}

/// Appends the JSON error body for `code` to `out`.
pub fn write_json_body(out: &mut String, code: ErrorCode, request_id: &str) {
    write_json_body_detail(out, code, request_id, "");
}

/// `write_json_body` with `detail` (when not empty) appended to the
/// message after `": "`, e.g. which line of an admin request body is wrong.
pub fn write_json_body_detail(out: &mut String, code: ErrorCode, request_id: &str, detail: &str) {
    let _ = write!(
        out,
        "{{\"error\":{{\"status\":{},\"code\":\"{}\",\"message\":\"{}",
        code.status(),
        code.as_str(),
        code.message()
    );
    if !detail.is_empty() {
        // Escaped on its own, then spliced in without its quotes.
        let mut quoted = String::with_capacity(detail.len() + 2);
        crate::observe::log::push_json_str(&mut quoted, detail);
        out.push_str(": ");
        out.push_str(&quoted[1..quoted.len() - 1]);
    }
    out.push_str("\",\"request_id\":");
    crate::observe::log::push_json_str(out, request_id);
    out.push_str("}}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_json_is_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.as_str()));
            assert!(c.status() >= 400);
            assert_ne!(reason_phrase(c.status()), "Error");
        }
        let mut s = String::new();
        write_json_body(&mut s, ErrorCode::UpstreamUnavailable, "abc");
        assert_eq!(
            s,
            "{\"error\":{\"status\":502,\"code\":\"upstream_unavailable\",\"message\":\"the upstream service could not be reached\",\"request_id\":\"abc\"}}"
        );
        let mut s = String::new();
        write_json_body_detail(&mut s, ErrorCode::InvalidRevocation, "r", "line 2: \"x\"");
        let v: serde_json::Value = serde_json::from_str(&s).expect("json");
        assert_eq!(
            v["error"]["message"],
            "the revocation change is invalid; nothing was applied: line 2: \"x\""
        );
    }
}
