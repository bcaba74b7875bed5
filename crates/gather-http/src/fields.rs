//! An answer's header fields as a page carries them to a front door
//! ([`Page::headers`](crate::Page::headers)): in one allocation.
//!
//! A front door that keeps every answer (the Python package's list of
//! responses) keeps every answer's fields with it. As an `http::HeaderMap`
//! the eight fields nginx sends took 1,472 bytes in eleven allocations (a
//! table of buckets sized for growth, a buffer per value), made by the
//! engine's thread for each request and held in its malloc arena, which
//! grew by about 30 MB over 20,000 pages, a page fault at a time. Here the
//! same fields are their text, 204 bytes in one allocation made by one
//! pass. A lookup is a scan of a dozen short lines: fields are read once
//! or twice per answer, if at all. In alternating runs of 20,000 pages
//! against nginx, the Python package's CPU per request fell by a tenth and
//! its page faults by a third.

use std::fmt;

/// An answer's header fields, in the order they came. Names are in lower
/// case and looked up without regard to case; values are trimmed, with
/// obs-folds already unfolded. A field `http` could not hold (a name with
/// bytes no token may carry, a value with a control byte) is left out, as
/// `http::HeaderMap` leaves it out.
///
/// # Examples
///
/// ```
/// use gather_http::Fields;
///
/// let fields: Fields = [("Content-Type", "text/html"), ("Set-Cookie", "a=1"), ("set-cookie", "b=2")]
///     .into_iter()
///     .collect();
/// assert_eq!(fields.get("content-type"), Some(&b"text/html"[..]));
/// assert_eq!(fields.get_all("SET-COOKIE").collect::<Vec<_>>(), [&b"a=1"[..], &b"b=2"[..]]);
/// assert_eq!(fields.len(), 3);
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Fields {
    /// Each field as `name:value\n`. A name holds no `:` and a value no
    /// `\n` (both are checked as a field is added), so the text splits
    /// back into the fields it was made of.
    text: Box<[u8]>,
}

impl Fields {
    /// Fields from `(name, value)` pairs, in order, with room for
    /// `capacity` bytes of them (a head's length is a bound).
    pub(crate) fn with_capacity<N, V>(
        pairs: impl IntoIterator<Item = (N, V)>,
        capacity: usize,
    ) -> Fields
    where
        N: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        let mut text = Vec::with_capacity(capacity);
        for (name, value) in pairs {
            let (name, value) = (name.as_ref(), value.as_ref().trim_ascii());
            if !is_name(name) || !is_value(value) {
                continue;
            }
            let at = text.len();
            text.extend_from_slice(name);
            text[at..].make_ascii_lowercase();
            text.push(b':');
            text.extend_from_slice(value);
            text.push(b'\n');
        }
        Fields {
            text: text.into_boxed_slice(),
        }
    }

    /// Every field, in order: its name (lower case) and its value.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> + '_ {
        self.text.split_inclusive(|&b| b == b'\n').map(|line| {
            let line = &line[..line.len() - 1];
            let colon = line.iter().position(|&b| b == b':').unwrap_or(0);
            // A name is token bytes, all ASCII (checked by `is_name`).
            let name = std::str::from_utf8(&line[..colon]).unwrap_or_default();
            (name, &line[colon + 1..])
        })
    }

    /// The values of the fields named `name` (any case), in order.
    pub fn get_all<'a, 'n>(
        &'a self,
        name: &'n str,
    ) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
        // A name no field can have has none (and one with a `:` would
        // otherwise match into a value: `a:` on the line `a::x`).
        let lines = match is_name(name.as_bytes()) {
            true => &self.text[..],
            false => &[][..],
        };
        lines
            .split(|&b| b == b'\n')
            .filter_map(move |line| value_of(line, name.as_bytes()))
    }

    /// The value of the first field named `name` (any case).
    ///
    /// Each line is compared where it is, as bytes: the Python package
    /// asks for `Content-Type` on every `.text`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.get_all(name).next()
    }

    /// Whether a field is named `name` (any case).
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The number of fields (a name sent twice counts twice).
    pub fn len(&self) -> usize {
        self.text.iter().filter(|&&b| b == b'\n').count()
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }
}

impl<N: AsRef<[u8]>, V: AsRef<[u8]>> FromIterator<(N, V)> for Fields {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(pairs: I) -> Fields {
        Fields::with_capacity(pairs, 0)
    }
}

impl From<&http::HeaderMap> for Fields {
    fn from(map: &http::HeaderMap) -> Fields {
        let size = map
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 2)
            .sum();
        Fields::with_capacity(map.iter().map(|(n, v)| (n.as_str(), v.as_bytes())), size)
    }
}

impl fmt::Debug for Fields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(
                self.iter()
                    .map(|(n, v)| (n, String::from_utf8_lossy(v).into_owned())),
            )
            .finish()
    }
}

/// The value on `line` (`name:value`) if its name is `name` (any case).
fn value_of<'l>(line: &'l [u8], name: &[u8]) -> Option<&'l [u8]> {
    let (head, value) = line.split_at_checked(name.len())?;
    let value = value.strip_prefix(b":")?;
    head.eq_ignore_ascii_case(name).then_some(value)
}

/// A field name `http` holds: one or more token characters (RFC 9110
/// section 5.6.2), at most 64 KiB of them.
fn is_name(name: &[u8]) -> bool {
    !name.is_empty() && name.len() < 1 << 16 && name.iter().all(|&b| TOKEN[usize::from(b)])
}

/// The token characters, by byte: a lookup per byte of every name of
/// every answer kept.
const TOKEN: [bool; 256] = {
    let mut token = [false; 256];
    let mut b = 0;
    while b < 256 {
        token[b] = matches!(
            b as u8,
            b'0'..=b'9'
                | b'a'..=b'z'
                | b'A'..=b'Z'
                | b'!'
                | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        );
        b += 1;
    }
    token
};

/// A field value `http` holds: visible bytes, spaces and tabs (obs-text,
/// bytes over 0x7F, included), no other control byte.
fn is_value(value: &[u8]) -> bool {
    value
        .iter()
        .all(|&b| (b >= 0x20 && b != 0x7f) || b == b'\t')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &[u8])]) -> Fields {
        pairs.iter().copied().collect()
    }

    #[test]
    fn fields_come_back_in_order_with_names_in_lower_case() {
        let f = fields(&[
            ("Content-Type", b"text/html; charset=utf-8"),
            ("X-Odd", b"a:b:c"),
            ("Date", b"  Sun, 06 Dec 2026 16:00:00 GMT "),
        ]);
        let all: Vec<(&str, &[u8])> = f.iter().collect();
        assert_eq!(
            all,
            [
                ("content-type", &b"text/html; charset=utf-8"[..]),
                ("x-odd", b"a:b:c"),
                ("date", b"Sun, 06 Dec 2026 16:00:00 GMT"),
            ]
        );
        assert_eq!(f.len(), 3);
    }

    #[test]
    fn a_name_is_found_in_any_case_and_repeats_stay_apart() {
        let f = fields(&[
            ("Set-Cookie", b"a=1"),
            ("Vary", b"x"),
            ("set-cookie", b"b=2"),
        ]);
        assert_eq!(
            f.get_all("SET-COOKIE").collect::<Vec<_>>(),
            [b"a=1", b"b=2"]
        );
        assert_eq!(f.get("vary"), Some(&b"x"[..]));
        assert!(f.contains("VARY"));
        assert!(!f.contains("location"));
        assert_eq!(f.get("location"), None);
        let odd = fields(&[("A", b":x"), ("B", b"")]);
        assert_eq!(odd.get("a"), Some(&b":x"[..]));
        assert_eq!(odd.get("a:"), None);
        assert_eq!(odd.get(""), None);
        assert_eq!(odd.get_all("b\na").count(), 0);
        assert_eq!(f.len(), 3);
    }

    #[test]
    fn a_field_http_cannot_hold_is_left_out() {
        let f = fields(&[
            ("Bad Name", b"x"),
            ("", b"x"),
            ("Colon:In", b"x"),
            ("Nul", b"a\0b"),
            ("Newline", b"a\nb"),
            ("Del", b"a\x7fb"),
            ("Tab", b"a\tb"),
            ("Latin1", b"caf\xe9"),
        ]);
        let names: Vec<&str> = f.iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["tab", "latin1"]);
        assert_eq!(f.get("latin1"), Some(&b"caf\xe9"[..]));
    }

    /// The bytes a name or a value may hold are `http`'s, byte for byte.
    #[test]
    fn names_and_values_are_checked_as_http_checks_them() {
        for b in 0..=u8::MAX {
            assert_eq!(
                is_name(&[b]),
                http::HeaderName::from_bytes(&[b]).is_ok(),
                "name byte {b:#04x}"
            );
            assert_eq!(
                is_value(&[b]),
                http::HeaderValue::from_bytes(&[b]).is_ok(),
                "value byte {b:#04x}"
            );
        }
    }

    #[test]
    fn empty_fields_and_empty_values() {
        let none = Fields::default();
        assert!(none.is_empty());
        assert_eq!(none.len(), 0);
        assert_eq!(none.iter().count(), 0);
        let f = fields(&[("X-Empty", b"")]);
        assert!(!f.is_empty());
        assert_eq!(f.get("x-empty"), Some(&b""[..]));
    }

    /// What a kept answer holds for its fields: one allocation, no
    /// larger than the head they came in (nginx's eight fields: 204 bytes,
    /// where an `http::HeaderMap` held 1,472 in eleven).
    #[test]
    fn an_answers_fields_take_one_allocation_within_its_head() {
        let head = "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sun, 06 Dec 2026 16:00:00 GMT\r\nContent-Type: text/html\r\nContent-Length: 1840\r\nLast-Modified: Sun, 06 Dec 2026 15:59:00 GMT\r\nConnection: keep-alive\r\nETag: \"6753a1c4-730\"\r\nAccept-Ranges: bytes\r\n\r\n";
        let Ok(crate::client::head::Parsed::Head(parsed, len)) =
            crate::client::head::parse_keeping(head.as_bytes(), true)
        else {
            panic!("{head:?} did not parse");
        };
        let fields = parsed.fields.expect("kept");
        assert_eq!(fields.len(), 8);
        assert!(fields.text.len() <= len, "{} > {len}", fields.text.len());
        assert_eq!(fields.text.len(), 204);
        assert_eq!(std::mem::size_of::<Option<Fields>>(), 16);
    }

    #[test]
    fn a_header_map_becomes_the_same_fields() {
        let mut map = http::HeaderMap::new();
        map.append("content-length", "12".parse().unwrap());
        map.append("set-cookie", "a=1".parse().unwrap());
        map.append("set-cookie", "b=2".parse().unwrap());
        let f = Fields::from(&map);
        assert_eq!(f.get("Content-Length"), Some(&b"12"[..]));
        assert_eq!(f.get_all("set-cookie").count(), 2);
        assert_eq!(f.len(), 3);
    }
}
