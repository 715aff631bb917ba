//! The document tree shared by every SOPS store: ordered maps, sequences and
//! typed scalar leaves.
//!
//! A leaf holds the exact bytes sops encrypts and feeds to the MAC (its
//! "canonical text"), so the tree never has to re-derive them. Leaf text lives
//! in `SecretString`: `Debug` of any tree prints no value.

use secrecy::{ExposeSecret, SecretString};
use std::fmt;

/// The scalar type tag sops writes into `type:` of an encrypted value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Str,
    Int,
    Float,
    Bool,
    /// A YAML timestamp (sops 3.10+): RFC 3339 text as Go's `time.Time`
    /// marshals it.
    Time,
}

impl Kind {
    pub fn tag(self) -> &'static str {
        match self {
            Kind::Str => "str",
            Kind::Int => "int",
            Kind::Float => "float",
            Kind::Bool => "bool",
            Kind::Time => "time",
        }
    }

    pub fn from_tag(tag: &str) -> Option<Kind> {
        Some(match tag {
            "str" | "bytes" => Kind::Str,
            "int" | "int64" => Kind::Int,
            "float" => Kind::Float,
            "bool" => Kind::Bool,
            "time" => Kind::Time,
            _ => return None,
        })
    }
}

/// A scalar value: its type and canonical text (`True`/`False` for booleans,
/// shortest decimal for numbers), exactly as sops hashes and encrypts it.
#[derive(Clone)]
pub struct Leaf {
    pub kind: Kind,
    pub text: SecretString,
}

impl Leaf {
    pub fn str(s: impl Into<String>) -> Leaf {
        Leaf {
            kind: Kind::Str,
            text: SecretString::from(s.into()),
        }
    }

    pub fn expose(&self) -> &str {
        self.text.expose_secret()
    }

    /// Same type and same plaintext.
    pub fn same_as(&self, other: &Leaf) -> bool {
        self.kind == other.kind && self.expose() == other.expose()
    }
}

impl fmt::Debug for Leaf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Leaf({}, [redacted])", self.kind.tag())
    }
}

/// One entry of a map: a key with its value, or a whole-line comment (the
/// text after `#`; sops encrypts it too, outside the MAC).
#[derive(Clone, Debug)]
pub enum Item {
    Pair(String, Value),
    Comment(SecretString),
}

#[derive(Clone, Debug)]
pub enum Value {
    Null,
    Leaf(Leaf),
    Map(Vec<Item>),
    Seq(Vec<Value>),
    /// A whole-line comment among a list's items (YAML): not an item, and
    /// never a value of a map.
    Comment(SecretString),
}

impl Value {
    pub fn as_map(&self) -> Option<&Vec<Item>> {
        match self {
            Value::Map(items) => Some(items),
            _ => None,
        }
    }

    /// The leaf's plaintext when this value is a string-like scalar.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Leaf(leaf) => Some(leaf.expose()),
            _ => None,
        }
    }

    /// Number of non-null leaves below this value.
    pub fn leaf_count(&self) -> usize {
        match self {
            Value::Null | Value::Comment(_) => 0,
            Value::Leaf(_) => 1,
            Value::Map(items) => items
                .iter()
                .map(|item| match item {
                    Item::Pair(_, value) => value.leaf_count(),
                    Item::Comment(_) => 0,
                })
                .sum(),
            Value::Seq(values) => values.iter().map(Value::leaf_count).sum(),
        }
    }
}

/// A path of map keys from the top as `ksec set` and `sops set` take it:
/// `KEY` for a top-level key, else `["db"]["password"]`.
pub fn set_path(path: &[String]) -> String {
    match path {
        [one] => one.clone(),
        _ => path.iter().map(|p| format!("[\"{p}\"]")).collect(),
    }
}

/// Find a key in a map's items.
pub fn get<'a>(items: &'a [Item], key: &str) -> Option<&'a Value> {
    items.iter().find_map(|item| match item {
        Item::Pair(k, v) if k == key => Some(v),
        _ => None,
    })
}

pub fn get_mut<'a>(items: &'a mut [Item], key: &str) -> Option<&'a mut Value> {
    items.iter_mut().find_map(|item| match item {
        Item::Pair(k, v) if k == key => Some(v),
        _ => None,
    })
}

/// Canonical text of a float, as sops writes it (`strconv.FormatFloat(f, 'f', -1, 64)`):
/// shortest round-trip digits, never an exponent.
pub fn float_text(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{f}")
    }
}

pub fn bool_text(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

/// The canonical text of a decrypted plaintext of type `kind`, as sops
/// re-derives it after parsing (`strconv.Atoi`, `ParseFloat`, `ParseBool`,
/// `time.UnmarshalText`); `None` when the text does not parse as that type,
/// which sops refuses.
pub fn canonical(kind: Kind, text: &str) -> Option<String> {
    match kind {
        Kind::Str => Some(text.to_string()),
        Kind::Int => text.parse::<i64>().ok().map(|i| i.to_string()),
        Kind::Float => {
            let lower = text.to_ascii_lowercase();
            let body = lower.strip_prefix(['+', '-']).unwrap_or(&lower);
            let literal = matches!(body, "inf" | "infinity" | "nan");
            // Rust accepts forms Go does not (and the reverse for hex); a
            // finite-looking text that overflows is a range error in Go.
            if !literal && !body.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
                return None;
            }
            let f = text.parse::<f64>().ok()?;
            (literal || f.is_finite()).then(|| float_text(f))
        }
        Kind::Bool => match text {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => Some("True".into()),
            "0" | "f" | "F" | "FALSE" | "false" | "False" => Some("False".into()),
            _ => None,
        },
        Kind::Time => rfc3339_canonical(text),
    }
}

/// A float as go-yaml prints it (`strconv.FormatFloat(f, 'g', -1, 64)`):
/// shortest round-trip digits, in exponent form when the decimal exponent
/// is below -4 or at least 6, with a signed two-digit exponent
/// (`1.234568e+09`); `2` for 2.0.
pub fn go_float_g(f: f64) -> String {
    if !f.is_finite() {
        return float_text(f);
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    // Rust's `{:e}` gives the shortest round-trip digits: `d.ddde-x`.
    let e = format!("{:e}", f.abs());
    let (mantissa, exp) = e.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("an integer exponent");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let sign = if f < 0.0 { "-" } else { "" };
    if !(-4..6).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{dot}{rest}e{esign}{:02}", exp.abs());
    }
    let nd = digits.len() as i32;
    let point = exp + 1; // digits before the decimal point
    if point <= 0 {
        format!("{sign}0.{}{digits}", "0".repeat((-point) as usize))
    } else if point >= nd {
        format!("{sign}{digits}{}", "0".repeat((point - nd) as usize))
    } else {
        let (a, b) = digits.split_at(point as usize);
        format!("{sign}{a}.{b}")
    }
}

/// Days in `month` of `year` (proleptic Gregorian).
fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        _ => 28,
    }
}

/// Digits only, `min..=max` of them.
fn number(s: &str, min: usize, max: usize) -> Option<u32> {
    (s.len() >= min && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// The parts of a timestamp, validated.
struct Stamp<'a> {
    date: (u32, u32, u32),
    time: (u32, u32, u32),
    /// digits after the decimal point, as written
    frac: &'a str,
    /// offset in minutes east of UTC
    offset: i32,
}

impl Stamp<'_> {
    /// As Go's `time.Time.MarshalText` writes it (RFC 3339 with
    /// nanoseconds, trailing zeros dropped, `Z` for a zero offset).
    fn text(&self) -> String {
        let (y, mo, d) = self.date;
        let (h, mi, s) = self.time;
        let mut out = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}");
        let frac = self.frac.trim_end_matches('0');
        if !frac.is_empty() {
            out.push('.');
            out.push_str(frac);
        }
        if self.offset == 0 {
            out.push('Z');
        } else {
            let sign = if self.offset < 0 { '-' } else { '+' };
            let m = self.offset.abs();
            out.push_str(&format!("{sign}{:02}:{:02}", m / 60, m % 60));
        }
        out
    }
}

/// `YYYY-M-D` with 1- or 2-digit month and day (`min` digits at least).
fn date_part(s: &str, min: usize) -> Option<(u32, u32, u32)> {
    let mut parts = s.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let (y, m, d) = (number(y, 4, 4)?, number(m, min, 2)?, number(d, min, 2)?);
    ((1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m)).then_some((y, m, d))
}

/// `H:M:S[.frac]` with `min`..2-digit fields; returns the rest of `s`.
fn time_part(s: &str, min: usize) -> Option<((u32, u32, u32), &str, &str)> {
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == ':' || c == '.'))
        .unwrap_or(s.len());
    let (clock, rest) = s.split_at(end);
    let (hms, frac) = match clock.split_once('.') {
        Some((a, f)) if (1..=9).contains(&f.len()) && f.bytes().all(|b| b.is_ascii_digit()) => {
            (a, f)
        }
        Some(_) => return None,
        None => (clock, ""),
    };
    let mut parts = hms.split(':');
    let (h, m, sec) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let (h, m, sec) = (number(h, min, 2)?, number(m, min, 2)?, number(sec, min, 2)?);
    (h < 24 && m < 60 && sec < 60).then_some(((h, m, sec), frac, rest))
}

/// `Z` or `±HH:MM`, the whole of `s`.
fn zone_part(s: &str) -> Option<i32> {
    if s == "Z" {
        return Some(0);
    }
    let sign = match s.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (h, m) = s[1..].split_once(':')?;
    let (h, m) = (number(h, 2, 2)?, number(m, 2, 2)?);
    (h < 24 && m < 60).then_some(sign * (h * 60 + m) as i32)
}

/// A plaintext of `type:time`: strict RFC 3339 (what Go's
/// `time.UnmarshalText` accepts), in its canonical form.
pub fn rfc3339_canonical(text: &str) -> Option<String> {
    let (date, rest) = text.split_at_checked(10)?;
    let date = date_part(date, 2)?;
    let rest = rest.strip_prefix(['T', 't'])?;
    let (time, frac, zone) = time_part(rest, 2)?;
    let offset = zone_part(zone)?;
    Some(
        Stamp {
            date,
            time,
            frac,
            offset,
        }
        .text(),
    )
}

/// A plain YAML scalar that go-yaml v3 (what sops uses) resolves to a
/// timestamp, in the canonical form sops encrypts it as: `2006-1-2`,
/// `2006-1-2T15:4:5[.frac](Z|±07:00)` (or with `t`), or
/// `2006-1-2 15:4:5[.frac]` (UTC).
pub fn yaml_timestamp(text: &str) -> Option<String> {
    if text.len() < 8 || text.as_bytes().get(4) != Some(&b'-') {
        return None;
    }
    let cut = text.find(['T', 't', ' ']).unwrap_or(text.len());
    let date = date_part(&text[..cut], 1)?;
    let stamp = |time, frac, offset| Stamp {
        date,
        time,
        frac,
        offset,
    };
    if cut == text.len() {
        return Some(stamp((0, 0, 0), "", 0).text());
    }
    let sep = text.as_bytes()[cut];
    let (time, frac, rest) = time_part(&text[cut + 1..], 1)?;
    if sep == b' ' {
        return rest.is_empty().then(|| stamp(time, frac, 0).text());
    }
    let offset = zone_part(rest)?;
    Some(stamp(time, frac, offset).text())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_go_yaml_prints_them() {
        for (f, text) in [
            (2.0, "2"),
            (1_234_568_000.0, "1.234568e+09"),
            (1000.0, "1000"),
            (123_456.0, "123456"),
            (1_234_567.0, "1.234567e+06"),
            (1e20, "1e+20"),
            (1.5e-7, "1.5e-07"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-0.25, "-0.25"),
            (2.75, "2.75"),
            (1.2345678901234568e29, "1.2345678901234568e+29"),
            (-5e300, "-5e+300"),
        ] {
            assert_eq!(go_float_g(f), text, "{f}");
        }
    }

    #[test]
    fn type_tags_must_parse() {
        assert_eq!(canonical(Kind::Int, "2").as_deref(), Some("2"));
        assert_eq!(canonical(Kind::Int, "abc"), None);
        assert_eq!(canonical(Kind::Int, "1.5"), None);
        assert_eq!(canonical(Kind::Bool, "2"), None);
        assert_eq!(canonical(Kind::Bool, "True").as_deref(), Some("True"));
        assert_eq!(canonical(Kind::Float, "abc"), None);
        assert_eq!(canonical(Kind::Float, "1e400"), None);
        assert_eq!(canonical(Kind::Float, "2").as_deref(), Some("2"));
        assert_eq!(canonical(Kind::Time, "2024-01-02"), None);
        assert_eq!(
            canonical(Kind::Time, "2024-01-02T03:04:05.500+00:00").as_deref(),
            Some("2024-01-02T03:04:05.5Z")
        );
    }

    #[test]
    fn yaml_timestamps_resolve_like_go_yaml() {
        for (text, want) in [
            ("2024-01-02", Some("2024-01-02T00:00:00Z")),
            ("2024-1-2", Some("2024-01-02T00:00:00Z")),
            ("2024-01-02t03:04:05Z", Some("2024-01-02T03:04:05Z")),
            ("2024-01-02 03:04:05.250", Some("2024-01-02T03:04:05.25Z")),
            (
                "2024-01-02T03:04:05.123456789+02:00",
                Some("2024-01-02T03:04:05.123456789+02:00"),
            ),
            ("2024-01-02T03:04:05-00:00", Some("2024-01-02T03:04:05Z")),
            ("2024-01-02T03:04:05", None),
            ("2024-13-45", None),
            ("2024-02-30", None),
            ("2024-01-02 03:04:05 +02:00", None),
            ("12024-01-02", None),
            ("2024-01-02T24:00:00Z", None),
        ] {
            assert_eq!(yaml_timestamp(text).as_deref(), want, "{text}");
        }
    }
}
