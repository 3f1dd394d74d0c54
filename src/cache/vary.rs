//! The secondary cache key a response's `Vary` adds (RFC 9111 §4.1): the
//! named request fields' values, so one URL keeps a variant per
//! combination, and a changed `Vary` list is detected.
//!
//! Values are normalised only as §4.1 allows every field: several lines
//! joined with ", " and surrounding whitespace dropped. An absent field and
//! an empty one differ.
//!
//! Owns: the field list and the variant key. Must never: choose what a
//! variant is stored under beyond this (`store`).

/// A response's `Vary`, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Vary {
    /// The field names, lowercased, sorted and without duplicates, so that
    /// `Vary: A, B` and `Vary: b, a` make the same variants.
    pub fields: Vec<Box<str>>,
    /// `*`: never reusable.
    pub star: bool,
}

impl Vary {
    /// Parses every `Vary` field line.
    pub fn parse<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Vary {
        let mut v = Vary::default();
        for line in values {
            for f in line.split(|&b| b == b',') {
                let f = String::from_utf8_lossy(f).trim().to_ascii_lowercase();
                match f.as_str() {
                    "" => {}
                    "*" => v.star = true,
                    _ => v.fields.push(f.into()),
                }
            }
        }
        v.fields.sort();
        v.fields.dedup();
        v
    }

    /// The variant key of a request: for each field, its normalised value
    /// or a marker for absence. `lookup` returns every line of a field.
    pub fn key<'a, F, I>(&self, mut lookup: F) -> Vec<u8>
    where
        F: FnMut(&str) -> I,
        I: IntoIterator<Item = &'a [u8]>,
    {
        let mut out = Vec::new();
        for f in &self.fields {
            out.extend_from_slice(f.as_bytes());
            let mut lines = lookup(f).into_iter().peekable();
            if lines.peek().is_none() {
                // Absent: a byte no field value may hold (RFC 9110 §5.5).
                out.push(0);
            } else {
                out.push(b':');
                let mut first = true;
                for l in lines {
                    if !first {
                        out.extend_from_slice(b", ");
                    }
                    first = false;
                    out.extend_from_slice(l.trim_ascii());
                }
            }
            out.push(b'\n');
        }
        out
    }
}
