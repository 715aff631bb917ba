//! `ksec set --generate`: a fresh secret value drawn from the operating
//! system's random source, uniform over a set of characters.
//!
//! Each character is drawn by rejection sampling (a 32-bit draw outside the
//! largest multiple of the set's size is drawn again), so no character is
//! likelier than another. The value lives in a `Zeroizing` string and is
//! never shown: errors name the charset and the length, never a value.

use rand::RngCore;
use zeroize::Zeroizing;

/// The length when `--length` is not given.
pub const DEFAULT_LENGTH: usize = 32;
/// The longest value `--generate` writes (a Kubernetes object holds 1 MiB).
pub const MAX_LENGTH: usize = 4096;
/// The named charsets, with what each holds (for errors and help).
pub const NAMED: &[(&str, &str)] = &[
    ("alnum", "A-Z a-z 0-9 (the default)"),
    ("hex", "0-9 a-f"),
    ("base64url", "A-Z a-z 0-9 - _"),
    ("ascii", "printable ASCII without space (! to ~)"),
];
/// The most distinct characters a literal charset may hold.
const MAX_CHARSET: usize = 1024;

/// The characters of a charset: one of [`NAMED`], or else the characters
/// given, each once (at least two, no control characters).
pub fn charset(spec: Option<&str>) -> Result<Vec<char>, String> {
    let range = |from: char, to: char| (from..=to).collect::<Vec<char>>();
    let alnum = || [range('A', 'Z'), range('a', 'z'), range('0', '9')].concat();
    let chars = match spec.unwrap_or("alnum") {
        "alnum" => alnum(),
        "hex" => [range('0', '9'), range('a', 'f')].concat(),
        "base64url" => [alnum(), vec!['-', '_']].concat(),
        "ascii" => range('!', '~'),
        literal => {
            let mut chars: Vec<char> = Vec::new();
            for c in literal.chars() {
                if c.is_control() {
                    return Err(format!(
                        "--charset holds a control character ({}); give printable characters",
                        c.escape_default()
                    ));
                }
                if !chars.contains(&c) {
                    chars.push(c);
                }
                if chars.len() > MAX_CHARSET {
                    return Err(format!(
                        "--charset holds more than {MAX_CHARSET} distinct characters"
                    ));
                }
            }
            chars
        }
    };
    if chars.len() < 2 {
        return Err(format!(
            "--charset {:?} has {} distinct character{}; a random value needs at least 2",
            spec.unwrap_or_default(),
            chars.len(),
            if chars.len() == 1 { "" } else { "s" }
        ));
    }
    Ok(chars)
}

/// Check a `--length`.
pub fn length(n: Option<usize>) -> Result<usize, String> {
    match n.unwrap_or(DEFAULT_LENGTH) {
        0 => Err("--length 0 would store an empty value".into()),
        n if n > MAX_LENGTH => Err(format!(
            "--length {n} is longer than {MAX_LENGTH}, the longest value --generate writes"
        )),
        n => Ok(n),
    }
}

/// `length` characters drawn uniformly from `chars` with the OS random source.
pub fn value(chars: &[char], length: usize) -> Zeroizing<String> {
    value_from(&mut rand::rngs::OsRng, chars, length)
}

fn value_from(rng: &mut impl RngCore, chars: &[char], length: usize) -> Zeroizing<String> {
    let n = u64::try_from(chars.len()).expect("a charset has at most MAX_CHARSET characters");
    // the largest multiple of n not above 2^32: draws at or past it are redrawn
    let zone = (1u64 << 32) / n * n;
    let mut out = Zeroizing::new(String::with_capacity(length * 4));
    let mut drawn = 0;
    while drawn < length {
        let draw = u64::from(rng.next_u32());
        if draw < zone {
            let at = usize::try_from(draw % n).expect("an index below the charset's size");
            out.push(chars[at]);
            drawn += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charsets() {
        assert_eq!(charset(None).unwrap().len(), 62);
        assert_eq!(charset(Some("hex")).unwrap().len(), 16);
        assert_eq!(charset(Some("base64url")).unwrap().len(), 64);
        assert_eq!(charset(Some("ascii")).unwrap().len(), 94);
        assert_eq!(charset(Some("abcab")).unwrap(), ['a', 'b', 'c']);
        assert_eq!(charset(Some("äö")).unwrap(), ['ä', 'ö']);
        for bad in ["", "a", "aaaa", "ab\n"] {
            assert!(charset(Some(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn lengths() {
        assert_eq!(length(None), Ok(DEFAULT_LENGTH));
        assert_eq!(length(Some(1)), Ok(1));
        assert_eq!(length(Some(MAX_LENGTH)), Ok(MAX_LENGTH));
        assert!(length(Some(0)).is_err());
        assert!(length(Some(MAX_LENGTH + 1)).is_err());
    }

    /// A source that gives the draws listed, then repeats the last.
    struct Draws(Vec<u32>);
    impl RngCore for Draws {
        fn next_u32(&mut self) -> u32 {
            if self.0.len() > 1 {
                self.0.remove(0)
            } else {
                self.0[0]
            }
        }
        fn next_u64(&mut self) -> u64 {
            u64::from(self.next_u32())
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            dest.fill(0);
        }
        fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
            self.fill_bytes(dest);
            Ok(())
        }
    }

    #[test]
    fn draws_past_the_last_whole_multiple_are_redrawn() {
        // 3 characters: 2^32 = 3 * 1431655765 + 1, so only u32::MAX is
        // outside the zone; with modulo alone it would give 'a' once more
        // often than the others
        let chars = ['a', 'b', 'c'];
        let mut rng = Draws(vec![u32::MAX, u32::MAX, 4, 2]);
        assert_eq!(value_from(&mut rng, &chars, 2).as_str(), "bc");
    }

    #[test]
    fn uniform_enough_and_fresh() {
        let chars = charset(Some("hex")).unwrap();
        let v = value(&chars, 16_000);
        assert_eq!(v.chars().count(), 16_000);
        for c in &chars {
            let n = v.chars().filter(|x| x == c).count();
            // expected 1000 each; 6 standard deviations is about 190
            assert!((800..1200).contains(&n), "{c}: {n}");
        }
        assert_ne!(value(&chars, 32), value(&chars, 32));
        assert_eq!(value(&['ä', 'ö'], 5).chars().count(), 5);
    }
}
