//! Compiling the route keys `validate`, `cors` and `security_headers` into
//! per-route policies and response edits.
//!
//! Owns: the rules for those keys (header names and values, media type
//! syntax, body bounds). Must never: know about authentication (that is
//! `config::auth`).

use super::compile::check;
use super::load::Doc;
use super::model::{self, ValidateFile};
use super::validate;
use crate::policy::validate::ValidateRule;

/// `type/subtype`, each an RFC 9110 token.
fn media_type(s: &str) -> Result<Box<[u8]>, String> {
    match s.split_once('/') {
        Some((t, st)) if validate::is_token(t) && validate::is_token(st) => {
            Ok(s.to_ascii_lowercase().into_bytes().into())
        }
        _ => Err(format!(
            "{s:?} is not a media type such as \"application/json\" (parameters are not compared)"
        )),
    }
}

/// A route's `validate` table.
pub fn validate_rule(doc: &mut Doc<'_>, key: &str, v: &ValidateFile) -> Option<ValidateRule> {
    let mut ok = true;
    let mut list = |doc: &mut Doc<'_>,
                    k: &str,
                    items: &Option<Vec<String>>,
                    f: fn(&str) -> Result<Box<[u8]>, String>| {
        let mut out = Vec::new();
        if items.as_ref().is_some_and(Vec::is_empty) {
            doc.err(&format!("{key}.{k}"), "empty list: omit the key instead");
            ok = false;
        }
        for (i, s) in items.iter().flatten().enumerate() {
            match check(doc, &format!("{key}.{k}[{i}]"), f(s)) {
                Some(b) => out.push(b),
                None => ok = false,
            }
        }
        out.into_boxed_slice()
    };
    let content_types = list(doc, "content_types", &v.content_types, media_type);
    let required_headers = list(doc, "required_headers", &v.required_headers, |s| {
        validate::header_name(s).map(Vec::into_boxed_slice)
    });
    let json = v.json.unwrap_or(false);
    let default = json.then_some(model::VALIDATE_JSON_MAX_BODY);
    let max_body_bytes = match v.max_body_bytes.or(default) {
        None => None,
        Some(n) => {
            let r = validate::bounded(n, 0, model::VALIDATE_MAX_BODY);
            let n = check(doc, &format!("{key}.max_body_bytes"), r);
            ok &= n.is_some();
            n
        }
    };
    ok.then_some(ValidateRule {
        content_types,
        required_headers,
        json,
        max_body_bytes,
    })
}
