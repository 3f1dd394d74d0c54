//! Compiling a `kind = "mtls"` policy (`[auth.NAME]` with `allow_subjects`
//! and `allow_sans`) into `auth::MtlsPolicy`; `auth` routes the table here
//! by its kind and reports keys of other kinds.
//!
//! Owns: the allow-list rules (non-empty when given, no control bytes,
//! `*.` entries valid one-label wildcards). Must never: read
//! `[tls]` (whether `client_ca` is set is `compile`'s cross-key check).

use super::load::Doc;
use super::model::AuthFile;
use crate::auth::MtlsPolicy;

/// `kind = "mtls"`: the allow lists, each non-empty when given; a `*.`
/// entry must be a valid wildcard DNS name. Whether `tls.client_ca` is
/// configured is checked where both are known (`compile`).
pub fn policy(doc: &mut Doc<'_>, p: &str, name: &str, t: &AuthFile) -> Option<MtlsPolicy> {
    let mut ok = true;
    let mut list = |doc: &mut Doc<'_>, k: &str, v: &Option<Vec<String>>, what: &str| {
        let key = format!("{p}.{k}");
        let v = v.as_deref().unwrap_or(&[]);
        let mut out = Vec::with_capacity(v.len());
        for (i, e) in v.iter().enumerate() {
            if e.trim().is_empty() || e.bytes().any(|b| b.is_ascii_control()) {
                doc.err(&format!("{key}[{i}]"), format!("{e:?} is not {what}"));
                ok = false;
            } else if e.starts_with("*.") && crate::tls::normalise_name(e).is_err() {
                doc.err(
                    &format!("{key}[{i}]"),
                    format!("{e:?}: a wildcard is `*.` and a DNS name of two labels or more"),
                );
                ok = false;
            }
            out.push(e.as_str().into());
        }
        out.into_boxed_slice()
    };
    for (k, v) in [
        ("allow_subjects", &t.allow_subjects),
        ("allow_sans", &t.allow_sans),
    ] {
        if v.as_ref().is_some_and(Vec::is_empty) {
            doc.err(
                &format!("{p}.{k}"),
                "empty list: no certificate could ever match; omit it to allow any certificate from tls.client_ca",
            );
            return None;
        }
    }
    let allow_subjects = list(doc, "allow_subjects", &t.allow_subjects, "a subject");
    let allow_sans = list(doc, "allow_sans", &t.allow_sans, "a SAN value");
    ok.then(|| MtlsPolicy {
        name: name.into(),
        allow_subjects,
        allow_sans,
    })
}
