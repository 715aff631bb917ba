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
}

impl Kind {
    pub fn tag(self) -> &'static str {
        match self {
            Kind::Str => "str",
            Kind::Int => "int",
            Kind::Float => "float",
            Kind::Bool => "bool",
        }
    }

    pub fn from_tag(tag: &str) -> Option<Kind> {
        Some(match tag {
            "str" | "bytes" => Kind::Str,
            "int" | "int64" => Kind::Int,
            "float" => Kind::Float,
            "bool" => Kind::Bool,
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

/// One entry of a map: a key with its value, or a whole-line comment (only
/// the dotenv store keeps comments; sops encrypts them too).
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
            Value::Null => 0,
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
