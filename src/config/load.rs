//! Parsing: TOML text to the serde model, plus the error types and the
//! key-path → line index every error message uses.
//!
//! Owns: syntax errors, type errors and unknown keys, each reported with the
//! key path (`routes[1].upstream`) and its 1-based line. Each key is
//! deserialized on its own so that all bad keys are reported, not the first.
//! Must never: judge values (ranges, references, syntax of hosts and paths);
//! that is `compile` and `validate`.

use std::fmt;
use std::ops::Range;

use serde::Deserialize;
use toml::de::{DeTable, DeValue, ValueDeserializer};
use toml::Spanned;

use super::model::{
    AccessLogFile, AuthFile, RateLimitFile, RegistryFile, RevocationFile, RouteFile, ServerFile,
    TracingFile,
};
use super::upstream_model::UpstreamFile;

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// File name (or other origin) shown in the message.
    pub origin: String,
    /// 1-based line of the offending key, when known.
    pub line: Option<usize>,
    /// Key path such as `routes[1].upstream` or `server.listen`; empty for file-level errors.
    pub key: String,
    /// What is wrong, and where possible how to fix it.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found in one configuration, in line order.
#[derive(Debug)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.0 {
            writeln!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// The parsed file: one entry per table, in file order.
#[derive(Debug, Default)]
pub struct FileModel {
    /// `[server]`, if present.
    pub server: Option<ServerFile>,
    /// `[[upstreams]]`, in file order.
    pub upstreams: Vec<UpstreamFile>,
    /// `[[routes]]`, in file order.
    pub routes: Vec<RouteFile>,
    /// `[rate_limits.NAME]`, in name order.
    pub rate_limits: Vec<(String, RateLimitFile)>,
    /// `[caches.NAME]` tables, in name order.
    pub caches: Vec<(String, super::model::CacheFile)>,
    /// `[auth.NAME]` tables, in name order.
    pub auth: Vec<(String, AuthFile)>,
    /// `[revocation]`, if present.
    pub revocation: Option<RevocationFile>,
    /// `[tracing]`, if present.
    pub tracing: Option<TracingFile>,
    /// `[access_log]`, if present.
    pub access_log: Option<AccessLogFile>,
    /// `[registry]`, if present.
    pub registry: Option<RegistryFile>,
    /// `[tls]`, if present.
    pub tls: Option<super::model::TlsFile>,
}

struct Entry {
    path: String,
    /// The key (or, for array elements, the element) span.
    key: Range<usize>,
    value: Range<usize>,
}

/// The source, its key-path index and the errors collected so far.
pub struct Doc<'s> {
    src: &'s str,
    origin: &'s str,
    entries: Vec<Entry>,
    errors: Vec<ConfigError>,
}

impl<'s> Doc<'s> {
    /// Records an error at `path`, on the line of that key or its nearest present parent.
    pub fn err(&mut self, path: &str, message: impl Into<String>) {
        let line = self.line_of_path(path);
        self.push(path, line, message.into());
    }

    /// True when the key at `path` is written in the file (even if its value was bad).
    pub fn present(&self, path: &str) -> bool {
        self.entries.iter().any(|e| e.path == path)
    }

    /// True when no error has been recorded.
    pub fn ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// The collected errors, sorted by line (errors without a line first).
    pub fn into_errors(mut self) -> ConfigErrors {
        self.errors.sort_by_key(|e| e.line);
        ConfigErrors(self.errors)
    }

    fn push(&mut self, key: &str, line: Option<usize>, message: String) {
        self.errors.push(ConfigError {
            origin: self.origin.to_owned(),
            line,
            key: key.to_owned(),
            message,
        });
    }

    fn line_of_path(&self, path: &str) -> Option<usize> {
        let mut p = path;
        loop {
            if let Some(e) = self.entries.iter().find(|e| e.path == p) {
                return Some(self.line_at(e.key.start));
            }
            p = parent(p)?;
        }
    }

    fn line_at(&self, offset: usize) -> usize {
        let end = offset.min(self.src.len());
        self.src.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    /// Reports a serde error for the key `path`, naming the deepest indexed key it points into.
    fn serde_err(&mut self, path: &str, e: toml::de::Error) {
        let mut key = path.to_owned();
        let mut line = self.line_of_path(path);
        if let Some(span) = e.span() {
            line = Some(self.line_at(span.start));
            let inner = self
                .entries
                .iter()
                .filter(|en| en.path.starts_with(path))
                .filter(|en| {
                    en.key == span || (en.value.start <= span.start && span.end <= en.value.end)
                })
                .max_by_key(|en| en.path.len());
            if let Some(en) = inner {
                key.clone_from(&en.path);
            }
        }
        self.push(&key, line, e.message().to_owned());
    }

    fn index(&mut self, path: &str, v: &Spanned<DeValue<'_>>) {
        match v.get_ref() {
            DeValue::Table(t) => {
                for (k, child) in t.iter() {
                    let p = join(path, k.get_ref());
                    self.entries.push(Entry {
                        path: p.clone(),
                        key: k.span(),
                        value: child.span(),
                    });
                    self.index(&p, child);
                }
            }
            DeValue::Array(a) => {
                for (i, child) in a.iter().enumerate() {
                    let p = format!("{path}[{i}]");
                    self.entries.push(Entry {
                        path: p.clone(),
                        key: child.span(),
                        value: child.span(),
                    });
                    self.index(&p, child);
                }
            }
            _ => {}
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// `a.b[2]` → `a.b`, `a.b` → `a`, `a` → none.
fn parent(path: &str) -> Option<&str> {
    let cut = path.rfind(['.', '['])?;
    Some(&path[..cut])
}

/// Parses `src`; the model is `None` when the TOML syntax itself is invalid.
pub fn parse<'s>(src: &'s str, origin: &'s str) -> (Doc<'s>, Option<FileModel>) {
    let mut doc = Doc {
        src,
        origin,
        entries: Vec::new(),
        errors: Vec::new(),
    };
    let (root, syntax) = DeTable::parse_recoverable(src);
    // Only the first syntax error is reported: the parser recovers past
    // it by guessing, and what it reports after that guess (a second error
    // on the same line, "duplicate key" for every later table) is noise.
    if let Some(e) = syntax.into_iter().next() {
        let line = e.span().map(|s| doc.line_at(s.start));
        doc.push("", line, e.message().trim_end().to_owned());
        return (doc, None);
    }
    let span = root.span();
    let root = Spanned::new(span, DeValue::Table(root.into_inner()));
    doc.index("", &root);
    let mut model = FileModel::default();
    let DeValue::Table(top) = root.get_ref() else {
        return (doc, Some(model));
    };
    for (k, v) in top.iter() {
        match k.get_ref().as_ref() {
            "server" => model.server = de_single(&mut doc, "server", v),
            "upstreams" => model.upstreams = de_array(&mut doc, "upstreams", v),
            "routes" => model.routes = de_array(&mut doc, "routes", v),
            "rate_limits" => model.rate_limits = de_named(&mut doc, "rate_limits", v),
            "auth" => model.auth = de_named(&mut doc, "auth", v),
            "caches" => model.caches = de_named(&mut doc, "caches", v),
            "revocation" => model.revocation = de_single(&mut doc, "revocation", v),
            "tracing" => model.tracing = de_single(&mut doc, "tracing", v),
            "access_log" => model.access_log = de_single(&mut doc, "access_log", v),
            "registry" => model.registry = de_single(&mut doc, "registry", v),
            "tls" => model.tls = de_single(&mut doc, "tls", v),
            other => doc.err(
                other,
                format!("unknown key `{other}`, expected one of `server`, `upstreams`, `routes`, `rate_limits`, `auth`, `caches`, `revocation`, `tracing`, `access_log`, `registry`, `tls`"),
            ),
        }
    }
    (doc, Some(model))
}

/// A table written once (`[server]`); any other value is reported.
fn de_single<T>(doc: &mut Doc<'_>, path: &str, v: &Spanned<DeValue<'_>>) -> Option<T>
where
    T: for<'de> Deserialize<'de> + Default,
{
    match v.get_ref() {
        DeValue::Table(t) => Some(de_table(doc, path, t, v.span())),
        _ => {
            doc.err(path, format!("expected a table: write it as [{path}]"));
            None
        }
    }
}

/// Each element of an array of tables; non-tables are reported and skipped
/// (their slot is kept so indexes still match the file).
fn de_array<T>(doc: &mut Doc<'_>, path: &str, v: &Spanned<DeValue<'_>>) -> Vec<T>
where
    T: for<'de> Deserialize<'de> + Default,
{
    let DeValue::Array(items) = v.get_ref() else {
        doc.err(
            path,
            format!("expected an array of tables: write each entry as [[{path}]]"),
        );
        return Vec::new();
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let p = format!("{path}[{i}]");
        match item.get_ref() {
            DeValue::Table(t) => out.push(de_table(doc, &p, t, item.span())),
            _ => {
                doc.err(&p, "expected a table");
                out.push(T::default());
            }
        }
    }
    out
}

/// A table of named tables (`[auth.NAME]`), each deserialized on its own.
fn de_named<T>(doc: &mut Doc<'_>, path: &str, v: &Spanned<DeValue<'_>>) -> Vec<(String, T)>
where
    T: for<'de> Deserialize<'de> + Default,
{
    let DeValue::Table(t) = v.get_ref() else {
        doc.err(
            path,
            format!("expected a table of tables: write each entry as [{path}.NAME]"),
        );
        return Vec::new();
    };
    let mut out = Vec::with_capacity(t.len());
    for (k, item) in t.iter() {
        let p = join(path, k.get_ref());
        match item.get_ref() {
            DeValue::Table(inner) => out.push((
                k.get_ref().to_string(),
                de_table(doc, &p, inner, item.span()),
            )),
            _ => doc.err(&p, format!("expected a table: write it as [{p}]")),
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Deserializes one table key by key so every bad key is reported; bad keys
/// are left out (`None`) of the result.
fn de_table<T>(doc: &mut Doc<'_>, path: &str, table: &DeTable<'_>, span: Range<usize>) -> T
where
    T: for<'de> Deserialize<'de> + Default,
{
    let mut good = DeTable::new();
    for (k, v) in table.iter() {
        let mut one = DeTable::new();
        one.insert(k.clone(), v.clone());
        let de = ValueDeserializer::from(Spanned::new(span.clone(), DeValue::Table(one)));
        match T::deserialize(de) {
            Ok(_) => {
                good.insert(k.clone(), v.clone());
            }
            Err(e) => doc.serde_err(&join(path, k.get_ref()), e),
        }
    }
    let de = ValueDeserializer::from(Spanned::new(span, DeValue::Table(good)));
    T::deserialize(de).unwrap_or_else(|e| {
        // Unreachable while every model field is optional; kept as an error, not a panic.
        doc.serde_err(path, e);
        T::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_formats() {
        let mut e = ConfigError {
            origin: "gw.toml".into(),
            line: Some(7),
            key: "routes[1].upstream".into(),
            message: "unknown upstream".into(),
        };
        assert_eq!(
            e.to_string(),
            "gw.toml:7: routes[1].upstream: unknown upstream"
        );
        e.line = None;
        assert_eq!(
            e.to_string(),
            "gw.toml: routes[1].upstream: unknown upstream"
        );
        e.key.clear();
        assert_eq!(e.to_string(), "gw.toml: unknown upstream");
        let all = ConfigErrors(vec![e.clone(), e]);
        assert_eq!(
            all.to_string(),
            "gw.toml: unknown upstream\ngw.toml: unknown upstream\n"
        );
    }

    #[test]
    fn parent_paths() {
        assert_eq!(parent("routes[1].headers.x"), Some("routes[1].headers"));
        assert_eq!(parent("routes[1]"), Some("routes"));
        assert_eq!(parent("routes"), None);
    }

    #[test]
    fn syntax_errors_have_lines_and_no_model() {
        let (doc, model) = parse("[server]\nlisten = \n", "t.toml");
        assert!(model.is_none());
        let errs = doc.into_errors().0;
        assert!(!errs.is_empty());
        assert_eq!(errs[0].line, Some(2), "{errs:?}");
        assert_eq!(errs[0].key, "");
    }

    #[test]
    fn one_syntax_error_is_reported_once() {
        // The parser's recovery used to add a second error on the same
        // line, and a "duplicate key" for every table after an unclosed `[`.
        for src in [
            "[server]\n = \nworkers = 1\n",
            "[server]\n \"\nworkers = 1\n",
            "[server]\n[\n[[routes]]\nname = \"b\"\n[[routes]]\nname = \"c\"\n",
        ] {
            let (doc, model) = parse(src, "t.toml");
            assert!(model.is_none());
            let errs = doc.into_errors().0;
            assert_eq!(errs.len(), 1, "{src:?}: {errs:?}");
            assert_eq!(errs[0].line, Some(2), "{src:?}: {errs:?}");
        }
    }

    #[test]
    fn every_bad_key_is_reported() {
        let src = "[server]\nlisten = 1\nworkers = \"x\"\nbogus = true\nio = \"epoll\"\n";
        let (doc, model) = parse(src, "t.toml");
        let server = model.and_then(|m| m.server).expect("server table");
        assert_eq!(server.io.as_deref(), Some("epoll"));
        assert!(server.listen.is_none() && server.workers.is_none());
        let errs = doc.into_errors().0;
        let got: Vec<(Option<usize>, &str)> =
            errs.iter().map(|e| (e.line, e.key.as_str())).collect();
        assert_eq!(
            got,
            [
                (Some(2), "server.listen"),
                (Some(3), "server.workers"),
                (Some(4), "server.bogus")
            ]
        );
        assert!(
            errs[2].message.contains("unknown field `bogus`"),
            "{}",
            errs[2].message
        );
    }

    #[test]
    fn nested_errors_name_the_inner_key() {
        let src = "[[routes]]\nname = \"a\"\n\n[[routes]]\nname = \"b\"\nrequest_headers = { set = { x-a = 1 } }\n";
        let (doc, _) = parse(src, "t.toml");
        let errs = doc.into_errors().0;
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].key, "routes[1].request_headers.set.x-a");
        assert_eq!(errs[0].line, Some(6));
    }

    #[test]
    fn wrong_shapes_at_top_level() {
        let src = "server = 1\nroutes = [1]\nupstreams = { a = 1 }\nextra = 2\n";
        let (doc, _) = parse(src, "t.toml");
        let errs = doc.into_errors().0;
        let keys: Vec<&str> = errs.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["server", "routes[0]", "upstreams", "extra"]);
        assert_eq!(errs[1].line, Some(2));
    }
}
