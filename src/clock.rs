//! The clock of the reports that depend on the date (`check --rotation`,
//! `check --expiring-within`, `access --exposed`), and the durations
//! ksec.yaml and the command line write (`90d`).
//!
//! `KSEC_NOW` (RFC 3339, e.g. `2027-03-01T00:00:00Z`) fixes "now" for a
//! reproducible report, and for the tests, which inject dates instead of
//! sleeping. Rendering never reads the clock.

use std::time::Duration;

/// The variable that fixes the clock.
pub const NOW_VAR: &str = "KSEC_NOW";

/// Now: `KSEC_NOW` when it is set, else the system clock. A `KSEC_NOW`
/// that is not an RFC 3339 instant is an error, not a silent "now".
pub fn now() -> Result<jiff::Timestamp, String> {
    match std::env::var(NOW_VAR) {
        Ok(text) => text.trim().parse::<jiff::Timestamp>().map_err(|e| {
            format!(
                "{NOW_VAR}={text:?} is not an RFC 3339 instant (like 2027-03-01T00:00:00Z): {e}"
            )
        }),
        Err(std::env::VarError::NotPresent) => Ok(jiff::Timestamp::now()),
        Err(std::env::VarError::NotUnicode(_)) => Err(format!("{NOW_VAR} is not UTF-8")),
    }
}

/// A duration as ksec.yaml and the command line write it: a whole number
/// and a unit, `h` (hours), `d` (days) or `w` (weeks): `90d`, `12w`, `36h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let unit_at = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{text:?} has no unit: write it like 90d, 12w or 36h"))?;
    let (number, unit) = text.split_at(unit_at);
    let hours: u64 = match unit {
        "h" => 1,
        "d" => 24,
        "w" => 24 * 7,
        _ => {
            return Err(format!(
                "{text:?}: the unit must be h, d or w (like 90d, 12w, 36h)"
            ));
        }
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} does not start with a whole number (like 90d)"))?;
    if n == 0 {
        return Err(format!(
            "{text:?} is zero: give a length of time (like 90d)"
        ));
    }
    n.checked_mul(hours * 3600)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{text:?} is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_a_whole_number_and_a_unit() {
        assert_eq!(parse_duration("90d"), Ok(Duration::from_secs(90 * 86_400)));
        assert_eq!(parse_duration("2w"), Ok(Duration::from_secs(14 * 86_400)));
        assert_eq!(parse_duration(" 36h "), Ok(Duration::from_secs(36 * 3600)));
        for bad in [
            "",
            "90",
            "d",
            "90x",
            "1.5d",
            "-3d",
            "0d",
            "99999999999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }
}
