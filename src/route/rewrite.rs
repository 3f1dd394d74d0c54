//! What a matched route changes on the way through: the path it forwards
//! (`PathRewrite`) and the header lines it drops and adds (`HeaderEdits`).
//!
//! Owns: precomputing those edits as bytes at compile time and applying the
//! path rewrite into caller scratch. Must never: allocate while applying
//! (the caller's `out` only grows to its high-water mark), or decide which
//! headers are legal to edit (that is `config::validate`).

use super::matcher::prefix_matches_case;

/// How a route rewrites the normalised path before forwarding it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathRewrite {
    /// Forward the path unchanged.
    None,
    /// `strip_prefix`: drop this leading segment run (stored without a trailing `/`).
    Strip(Box<[u8]>),
    /// `rewrite_prefix`: replace the route's `path_prefix` (`from`) with `to`.
    Replace {
        /// The route's `path_prefix`.
        from: Box<[u8]>,
        /// The new prefix.
        to: Box<[u8]>,
    },
}

impl PathRewrite {
    /// Writes the rewritten path into `out` (cleared first) and returns true;
    /// returns false (out untouched) when nothing changes. `ignore_case`
    /// is the route's `case_sensitive = false`: the prefix then matches in
    /// any ASCII case, and what follows it is kept as sent.
    pub fn apply(&self, path: &[u8], ignore_case: bool, out: &mut Vec<u8>) -> bool {
        match self {
            PathRewrite::None => false,
            PathRewrite::Strip(prefix) => {
                if prefix.is_empty() || !prefix_matches_case(prefix, path, ignore_case) {
                    return false;
                }
                out.clear();
                match &path[prefix.len()..] {
                    b"" => out.push(b'/'),
                    rest => out.extend_from_slice(rest),
                }
                true
            }
            PathRewrite::Replace { from, to } => {
                if !prefix_matches_case(from, path, ignore_case) {
                    return false;
                }
                // `rest` is empty or starts with '/', whatever `from` ends with.
                let cut = if from.last() == Some(&b'/') {
                    from.len() - 1
                } else {
                    from.len()
                };
                let rest = &path[cut..];
                out.clear();
                if rest.is_empty() {
                    out.extend_from_slice(to);
                } else {
                    let head = to.strip_suffix(b"/").unwrap_or(to);
                    out.extend_from_slice(head);
                    out.extend_from_slice(rest);
                }
                if out.is_empty() {
                    out.push(b'/');
                }
                true
            }
        }
    }
}

/// One direction's header edits (`request_headers` or `response_headers`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeaderEdits {
    /// Lowercase names whose incoming lines are dropped (`remove`).
    pub remove: Box<[Box<[u8]>]>,
    /// `name: value\r\n` for every `set` then every `add` entry.
    pub rendered: Box<[u8]>,
    /// Lowercase `set` names: their incoming lines are dropped too.
    set_names: Box<[Box<[u8]>]>,
}

impl HeaderEdits {
    /// Builds edits from lowercase names and valid values (checked by `config`).
    pub fn new(
        set: &[(Vec<u8>, Vec<u8>)],
        add: &[(Vec<u8>, Vec<u8>)],
        remove: Vec<Vec<u8>>,
    ) -> HeaderEdits {
        let mut rendered = Vec::new();
        for (name, value) in set.iter().chain(add) {
            rendered.extend_from_slice(name);
            rendered.extend_from_slice(b": ");
            rendered.extend_from_slice(value);
            rendered.extend_from_slice(b"\r\n");
        }
        HeaderEdits {
            remove: remove.into_iter().map(Vec::into_boxed_slice).collect(),
            rendered: rendered.into_boxed_slice(),
            set_names: set
                .iter()
                .map(|(n, _)| n.clone().into_boxed_slice())
                .collect(),
        }
    }

    /// Adds a `set` entry (for headers compiled from other route keys,
    /// such as `security_headers`); `name` lowercase, `value` valid.
    pub fn push_set(&mut self, name: &[u8], value: &[u8]) {
        let mut rendered = self.rendered.to_vec();
        rendered.extend_from_slice(name);
        rendered.extend_from_slice(b": ");
        rendered.extend_from_slice(value);
        rendered.extend_from_slice(b"\r\n");
        self.rendered = rendered.into();
        let mut names = self.set_names.to_vec();
        names.push(name.into());
        self.set_names = names.into();
    }

    /// Adds names whose incoming lines are dropped.
    pub fn push_remove(&mut self, names: impl IntoIterator<Item = Vec<u8>>) {
        let mut remove = self.remove.to_vec();
        remove.extend(names.into_iter().map(Vec::into_boxed_slice));
        self.remove = remove.into();
    }

    /// name (any case) is in `remove` or is a `set` name: the proxy skips such incoming lines.
    #[inline]
    pub fn drops(&self, name: &[u8]) -> bool {
        self.remove
            .iter()
            .chain(self.set_names.iter())
            .any(|n| n.len() == name.len() && n.eq_ignore_ascii_case(name))
    }

    /// True when `name` (lowercase) is a `set` name, not an `add` one.
    pub fn is_set(&self, name: &[u8]) -> bool {
        self.set_names.iter().any(|n| **n == *name)
    }

    /// True when these edits neither drop nor add anything.
    pub fn is_empty(&self) -> bool {
        self.remove.is_empty() && self.rendered.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(rw: &PathRewrite, path: &str) -> Option<String> {
        let mut out = b"junk".to_vec();
        if rw.apply(path.as_bytes(), false, &mut out) {
            Some(String::from_utf8(out).unwrap())
        } else {
            assert_eq!(out, b"junk", "out must be untouched");
            None
        }
    }

    fn strip(p: &str) -> PathRewrite {
        PathRewrite::Strip(p.as_bytes().into())
    }

    fn replace(from: &str, to: &str) -> PathRewrite {
        PathRewrite::Replace {
            from: from.as_bytes().into(),
            to: to.as_bytes().into(),
        }
    }

    #[test]
    fn none_changes_nothing() {
        assert_eq!(run(&PathRewrite::None, "/a"), None);
    }

    #[test]
    fn strip_prefix() {
        let s = strip("/api");
        assert_eq!(run(&s, "/api/users/7").as_deref(), Some("/users/7"));
        assert_eq!(run(&s, "/api/").as_deref(), Some("/"));
        assert_eq!(run(&s, "/api").as_deref(), Some("/"));
        assert_eq!(run(&s, "/apix/users"), None);
        assert_eq!(run(&s, "/other"), None);
        assert_eq!(run(&strip(""), "/x"), None);
    }

    #[test]
    fn replace_prefix() {
        let r = replace("/api/users", "/v2/users");
        assert_eq!(run(&r, "/api/users/7").as_deref(), Some("/v2/users/7"));
        assert_eq!(run(&r, "/api/users").as_deref(), Some("/v2/users"));
        assert_eq!(run(&r, "/api/users/").as_deref(), Some("/v2/users/"));
        assert_eq!(run(&r, "/api/usersX"), None);
    }

    #[test]
    fn replace_never_doubles_slashes() {
        let r = replace("/api/users", "/v2/");
        assert_eq!(run(&r, "/api/users/7").as_deref(), Some("/v2/7"));
        assert_eq!(run(&r, "/api/users").as_deref(), Some("/v2/"));
        let r = replace("/api/", "/v2");
        assert_eq!(run(&r, "/api/x").as_deref(), Some("/v2/x"));
        assert_eq!(run(&r, "/api/").as_deref(), Some("/v2/"));
        let r = replace("/api", "/");
        assert_eq!(run(&r, "/api/x").as_deref(), Some("/x"));
        assert_eq!(run(&r, "/api").as_deref(), Some("/"));
        let r = replace("/", "/v1");
        assert_eq!(run(&r, "/x/y").as_deref(), Some("/v1/x/y"));
        assert_eq!(run(&r, "/").as_deref(), Some("/v1/"));
    }

    #[test]
    fn case_insensitive_prefix_keeps_the_rest_as_sent() {
        let mut out = Vec::new();
        assert!(strip("/api").apply(b"/API/Users", true, &mut out));
        assert_eq!(out, b"/Users");
        assert!(!strip("/api").apply(b"/API/Users", false, &mut out));
        assert!(replace("/api", "/v2").apply(b"/Api/x", true, &mut out));
        assert_eq!(out, b"/v2/x");
    }

    #[test]
    fn apply_reuses_scratch() {
        let mut out = Vec::with_capacity(64);
        let cap = out.capacity();
        assert!(strip("/a").apply(b"/a/b", false, &mut out));
        assert!(strip("/a").apply(b"/a/c", false, &mut out));
        assert_eq!(out, b"/c");
        assert_eq!(out.capacity(), cap);
    }

    fn pair(n: &str, v: &str) -> (Vec<u8>, Vec<u8>) {
        (n.as_bytes().to_vec(), v.as_bytes().to_vec())
    }

    #[test]
    fn edits_render_set_then_add_and_drop_set_and_removed() {
        let e = HeaderEdits::new(
            &[pair("x-gateway", "ringway")],
            &[pair("x-extra", "1")],
            vec![b"cookie".to_vec()],
        );
        assert_eq!(&e.rendered[..], b"x-gateway: ringway\r\nx-extra: 1\r\n");
        assert!(e.drops(b"Cookie"));
        assert!(e.drops(b"X-GATEWAY"));
        assert!(!e.drops(b"x-extra"));
        assert!(!e.drops(b"cookies"));
        assert!(!e.is_empty());
    }

    #[test]
    fn empty_edits() {
        let e = HeaderEdits::default();
        assert!(e.is_empty());
        assert!(!e.drops(b"anything"));
        assert!(!HeaderEdits::new(&[], &[], vec![b"server".to_vec()]).is_empty());
    }
}
