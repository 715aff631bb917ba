//! Certificates in Secret values, for `ksec check --expiring-within`: the
//! PEM `CERTIFICATE` blocks of a value (every one of a chain), each read as
//! X.509 DER just far enough for its subject and its validity.
//!
//! Pure: bytes in, certificates (or why a block is not one) out. It never
//! keeps or returns the certificate's bytes, and never looks at any other
//! PEM block (a private key beside the certificate stays unread). Malformed
//! input is an `Err` naming the block, never a panic; the work is bounded
//! by the value's size (sources have a size limit) and [`MAX_BLOCKS`].

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use der::asn1::{AnyRef, GeneralizedTime, ObjectIdentifier, UtcTime};
use der::{Decode, Reader, SliceReader, Tag, TagNumber, Tagged};
use std::time::Duration;

const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
const END: &str = "-----END CERTIFICATE-----";

/// Certificate blocks read from one value at most; the rest are reported.
pub const MAX_BLOCKS: usize = 100;

/// What a certificate says about itself that the report shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cert {
    /// RFC 4514 form, most specific first: `CN=api.example.com,O=Acme`.
    pub subject: String,
    pub not_after: jiff::Timestamp,
}

/// One `CERTIFICATE` block of a value: its position (1-based, in the
/// value's order) and the certificate, or why it is not one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub position: usize,
    pub cert: Result<Cert, String>,
}

/// Whether a value holds a PEM certificate block at all.
pub fn has_pem_certificate(value: &[u8]) -> bool {
    find(value, BEGIN.as_bytes(), 0).is_some()
}

/// Every `CERTIFICATE` block of a value, in order. A value holding none
/// gives an empty list.
pub fn certificates(value: &[u8]) -> Vec<Block> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(begin) = find(value, BEGIN.as_bytes(), from) {
        let position = out.len() + 1;
        if position > MAX_BLOCKS {
            out.push(Block {
                position,
                cert: Err(format!(
                    "more than {MAX_BLOCKS} certificate blocks; the rest were not read"
                )),
            });
            break;
        }
        let body_at = begin + BEGIN.len();
        let Some(end) = find(value, END.as_bytes(), body_at) else {
            out.push(Block {
                position,
                cert: Err("a BEGIN CERTIFICATE line without its END line".into()),
            });
            break;
        };
        out.push(Block {
            position,
            cert: decode_block(&value[body_at..end]),
        });
        from = end + END.len();
    }
    out
}

/// The certificate blocks of one value of a Secret, or `None` when the
/// value is not one to look at: `tls.crt` of a `kubernetes.io/tls` Secret
/// (which must hold one), and any value holding a PEM certificate block.
pub fn in_secret_value(secret_type: Option<&str>, key: &str, value: &[u8]) -> Option<Vec<Block>> {
    let tls = secret_type == Some("kubernetes.io/tls") && key == "tls.crt";
    if !tls && !has_pem_certificate(value) {
        return None;
    }
    let blocks = certificates(value);
    if blocks.is_empty() {
        return Some(vec![Block {
            position: 1,
            cert: Err(
                "holds no PEM certificate (a kubernetes.io/tls Secret's tls.crt must)".into(),
            ),
        }]);
    }
    Some(blocks)
}

/// When a certificate stands against a window that starts now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// notAfter is now or past.
    Expired,
    /// notAfter falls within the window.
    Expiring,
    /// Valid past the window.
    Fine,
}

/// Where `not_after` falls: past, within `window` of `now`, or later.
pub fn standing(not_after: jiff::Timestamp, now: jiff::Timestamp, window: Duration) -> Standing {
    if not_after <= now {
        return Standing::Expired;
    }
    let gap = not_after.as_second().saturating_sub(now.as_second());
    if u64::try_from(gap).unwrap_or(u64::MAX) <= window.as_secs() {
        Standing::Expiring
    } else {
        Standing::Fine
    }
}

/// Whole days from `now` to `not_after` (negative when past), rounded
/// towards zero: "expires in 9 days" means 9 to 10 days left.
pub fn days_between(now: jiff::Timestamp, not_after: jiff::Timestamp) -> i64 {
    (not_after.as_second() - now.as_second()) / 86_400
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|at| at + from)
}

/// The base64 body of a block (line breaks and spaces allowed; PEM headers
/// like `Proc-Type:` are not used for certificates and are refused).
fn decode_block(body: &[u8]) -> Result<Cert, String> {
    let text: Vec<u8> = body
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    if text.is_empty() {
        return Err("an empty certificate block".into());
    }
    let der = B64
        .decode(&text)
        .map_err(|_| "a certificate block that is not valid base64".to_string())?;
    parse_der(&der)
        .map_err(|e| format!("a certificate block that is not an X.509 certificate ({e})"))
}

/// Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signature }
/// TBSCertificate ::= SEQUENCE { [0] version OPTIONAL, serialNumber,
/// signature, issuer, validity SEQUENCE { notBefore, notAfter }, subject, … }
fn parse_der(der: &[u8]) -> der::Result<Cert> {
    let mut reader = SliceReader::new(der)?;
    let cert = reader.sequence(|cert| {
        let parsed = cert.sequence(|tbs| {
            let version = Tag::ContextSpecific {
                constructed: true,
                number: TagNumber::N0,
            };
            if tbs.peek_tag()? == version {
                AnyRef::decode(tbs)?;
            }
            tbs.peek_tag()?.assert_eq(Tag::Integer)?;
            AnyRef::decode(tbs)?; // serialNumber
            AnyRef::decode(tbs)?.tag().assert_eq(Tag::Sequence)?; // signature
            AnyRef::decode(tbs)?.tag().assert_eq(Tag::Sequence)?; // issuer
            let not_after = tbs.sequence(|validity| {
                time(validity)?;
                time(validity)
            })?;
            let subject = AnyRef::decode(tbs)?;
            subject.tag().assert_eq(Tag::Sequence)?;
            let subject = name(subject.value())?;
            while !tbs.is_finished() {
                AnyRef::decode(tbs)?;
            }
            Ok(Cert { subject, not_after })
        })?;
        AnyRef::decode(cert)?.tag().assert_eq(Tag::Sequence)?; // signatureAlgorithm
        AnyRef::decode(cert)?.tag().assert_eq(Tag::BitString)?; // signature
        Ok(parsed)
    })?;
    reader.finish(cert)
}

/// Time ::= CHOICE { utcTime, generalTime }
fn time<'a>(reader: &mut impl Reader<'a>) -> der::Result<jiff::Timestamp> {
    let since_epoch = match reader.peek_tag()? {
        Tag::UtcTime => UtcTime::decode(reader)?.to_unix_duration(),
        Tag::GeneralizedTime => GeneralizedTime::decode(reader)?.to_unix_duration(),
        other => return Err(other.unexpected_error(Some(Tag::UtcTime))),
    };
    let seconds = i64::try_from(since_epoch.as_secs()).map_err(|_| Tag::UtcTime.value_error())?;
    jiff::Timestamp::from_second(seconds).map_err(|_| Tag::UtcTime.value_error())
}

/// Name ::= SEQUENCE OF SET OF SEQUENCE { type OID, value ANY }, shown as
/// RFC 4514 writes it: the last RDN first, `+` inside a multi-valued one.
fn name(bytes: &[u8]) -> der::Result<String> {
    let mut rdns = Vec::new();
    let mut reader = SliceReader::new(bytes)?;
    while !reader.is_finished() {
        let set = AnyRef::decode(&mut reader)?;
        set.tag().assert_eq(Tag::Set)?;
        let mut inner = SliceReader::new(set.value())?;
        let mut parts = Vec::new();
        while !inner.is_finished() {
            parts.push(inner.sequence(|atv| {
                let oid = ObjectIdentifier::decode(atv)?;
                let value = AnyRef::decode(atv)?;
                Ok(format!("{}={}", attribute(&oid), escape(&text(value))))
            })?);
        }
        rdns.push(parts.join("+"));
    }
    rdns.reverse();
    Ok(rdns.join(","))
}

/// The short names RFC 4514 (and openssl) use; any other as its OID.
fn attribute(oid: &ObjectIdentifier) -> String {
    let known = [
        ("2.5.4.3", "CN"),
        ("2.5.4.5", "serialNumber"),
        ("2.5.4.6", "C"),
        ("2.5.4.7", "L"),
        ("2.5.4.8", "ST"),
        ("2.5.4.9", "STREET"),
        ("2.5.4.10", "O"),
        ("2.5.4.11", "OU"),
        ("0.9.2342.19200300.100.1.1", "UID"),
        ("0.9.2342.19200300.100.1.25", "DC"),
        ("1.2.840.113549.1.9.1", "emailAddress"),
    ];
    let dotted = oid.to_string();
    known
        .iter()
        .find(|(o, _)| *o == dotted)
        .map_or(dotted, |(_, n)| (*n).to_string())
}

/// An attribute value as text: the string types, else `#` and its hex.
fn text(value: AnyRef<'_>) -> String {
    match value.tag() {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String | Tag::TeletexString => {
            String::from_utf8_lossy(value.value()).into_owned()
        }
        Tag::BmpString => {
            let units: Vec<u16> = value
                .value()
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        _ => format!(
            "#{}",
            value
                .value()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        ),
    }
}

/// RFC 4514 escaping, and control and invisible characters written as
/// escapes so that a subject cannot move the terminal's cursor or reorder
/// what it shows.
fn escape(value: &str) -> String {
    let mut out = String::new();
    for (i, c) in value.chars().enumerate() {
        match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=' => {
                out.push('\\');
                out.push(c);
            }
            '#' | ' ' if i == 0 => {
                out.push('\\');
                out.push(c);
            }
            // control and invisible characters (a bidi override) as the
            // project's messages escape them
            c => out.push_str(&crate::error::escape_controls(c.encode_utf8(&mut [0; 4]))),
        }
    }
    if out.ends_with(' ') {
        out.pop();
        out.push_str("\\ ");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed P-256 certificate (`openssl req -x509 -days 1 -subj
    /// "/C=DE/O=Acme, Inc./CN=api.example.com"`), valid from
    /// 2026-12-07T18:05:00Z to 2026-12-08T18:05:00Z: public data only.
    const CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBzDCCAXOgAwIBAgIUCLQJ/e3V2pUw/NkgBWiCbPS43cMwCgYIKoZIzj0EAwIw
PDELMAkGA1UEBhMCREUxEzARBgNVBAoMCkFjbWUsIEluYy4xGDAWBgNVBAMMD2Fw
aS5leGFtcGxlLmNvbTAeFw0yNjEyMDcxODA1MDBaFw0yNjEyMDgxODA1MDBaMDwx
CzAJBgNVBAYTAkRFMRMwEQYDVQQKDApBY21lLCBJbmMuMRgwFgYDVQQDDA9hcGku
ZXhhbXBsZS5jb20wWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAATB+i+v9LTONCCi
GfQZg0asqWVBoT8JmRhGB8zG3ISYBZA/5kTQ1Q6/BouZo+HLRoqBAQy0AN7diRui
qB6aBLGyo1MwUTAdBgNVHQ4EFgQUGYiqa/4YcOfsyNV45SHr4L2uae0wHwYDVR0j
BBgwFoAUGYiqa/4YcOfsyNV45SHr4L2uae0wDwYDVR0TAQH/BAUwAwEB/zAKBggq
hkjOPQQDAgNHADBEAiBAMYYc6Zwbx19wu5X2s7rwAxuJH+0+hPnFwrEqGb6riQIg
O71JD546RRbX04aPY55zsFYk8LoixF62Z2QcDUf9EdU=
-----END CERTIFICATE-----
";

    fn at(text: &str) -> jiff::Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn reads_the_subject_and_not_after() {
        let blocks = certificates(CERT.as_bytes());
        assert_eq!(blocks.len(), 1);
        let cert = blocks[0].cert.as_ref().unwrap();
        assert_eq!(cert.subject, "CN=api.example.com,O=Acme\\, Inc.,C=DE");
        assert_eq!(cert.not_after, at("2026-12-08T18:05:00Z"));
    }

    #[test]
    fn every_block_of_a_chain_and_nothing_else() {
        let value = format!(
            "-----BEGIN PRIVATE KEY-----\nnot read\n-----END PRIVATE KEY-----\n{CERT}{CERT}"
        );
        let blocks = certificates(value.as_bytes());
        assert_eq!(
            blocks.iter().map(|b| b.position).collect::<Vec<_>>(),
            [1, 2]
        );
        assert!(blocks.iter().all(|b| b.cert.is_ok()));
        assert!(certificates(b"no certificate here").is_empty());
    }

    #[test]
    fn malformed_blocks_are_errors_never_panics() {
        let cut = &CERT[..CERT.len() / 2];
        let damaged = CERT.replace("MIIBzDCC", "MIIBzDCD");
        let truncated_der = {
            let body: String = CERT.lines().filter(|l| !l.starts_with("-----")).collect();
            let der = B64.decode(body).unwrap();
            format!("{BEGIN}\n{}\n{END}\n", B64.encode(&der[..der.len() - 10]))
        };
        for bad in [
            cut.to_string(),
            format!("{BEGIN}\n{END}"),
            format!("{BEGIN}\n!!!!\n{END}"),
            format!("{BEGIN}\nAAAA\n{END}"),
            damaged,
            truncated_der,
        ] {
            let blocks = certificates(bad.as_bytes());
            assert_eq!(blocks.len(), 1, "{bad}");
            assert!(blocks[0].cert.is_err(), "{bad}");
        }
        let many = format!("{BEGIN}\n{END}\n").repeat(MAX_BLOCKS + 5);
        assert_eq!(certificates(many.as_bytes()).len(), MAX_BLOCKS + 1);
    }

    #[test]
    fn which_values_are_looked_at() {
        let tls = Some("kubernetes.io/tls");
        assert_eq!(
            in_secret_value(tls, "tls.crt", CERT.as_bytes())
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            in_secret_value(None, "ca.pem", CERT.as_bytes())
                .unwrap()
                .len(),
            1
        );
        assert!(in_secret_value(None, "password", b"hunter2").is_none());
        assert!(in_secret_value(tls, "tls.key", b"a key").is_none());
        let empty = in_secret_value(tls, "tls.crt", b"").unwrap();
        assert!(empty[0].cert.is_err());
    }

    #[test]
    fn standing_against_a_window() {
        let now = at("2027-01-01T00:00:00Z");
        let day = Duration::from_secs(86_400);
        assert_eq!(
            standing(at("2026-12-31T23:59:59Z"), now, day * 30),
            Standing::Expired
        );
        assert_eq!(standing(now, now, day * 30), Standing::Expired);
        assert_eq!(
            standing(at("2027-01-11T00:00:00Z"), now, day * 30),
            Standing::Expiring
        );
        assert_eq!(
            standing(at("2027-01-31T00:00:00Z"), now, day * 30),
            Standing::Expiring
        );
        assert_eq!(
            standing(at("2027-01-31T00:00:01Z"), now, day * 30),
            Standing::Fine
        );
        assert_eq!(days_between(now, at("2027-01-11T12:00:00Z")), 10);
        assert_eq!(days_between(now, at("2026-12-22T00:00:00Z")), -10);
    }

    proptest::proptest! {
        /// A damaged certificate (one byte changed, or cut short) or any
        /// bytes at all give an answer, never a panic.
        #[test]
        fn damaged_certificates_never_panic(
            at in 0usize..470,
            byte in proptest::prelude::any::<u8>(),
            cut in 0usize..470,
            noise in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
        ) {
            let body: String = CERT.lines().filter(|l| !l.starts_with("-----")).collect();
            let der = B64.decode(body).unwrap();
            let mut changed = der.clone();
            let at = at % changed.len();
            changed[at] = byte;
            for bytes in [changed, der[..cut.min(der.len())].to_vec(), noise.clone()] {
                let value = format!("{BEGIN}\n{}\n{END}\n", B64.encode(&bytes));
                let blocks = certificates(value.as_bytes());
                proptest::prop_assert_eq!(blocks.len(), 1);
            }
            let mut raw = BEGIN.as_bytes().to_vec();
            raw.extend(&noise);
            let _ = certificates(&raw);
        }
    }

    #[test]
    fn subjects_are_escaped() {
        assert_eq!(escape("a,b"), "a\\,b");
        assert_eq!(escape("#x "), "\\#x\\ ");
        assert_eq!(escape("a\u{1b}[2J"), "a\\u{1b}[2J");
        assert_eq!(escape("evil\u{202e}moc.elgoog"), "evil\\u{202e}moc.elgoog");
    }
}
