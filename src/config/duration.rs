//! Go `time.ParseDuration` syntax (what oauth2-proxy's durations use): a sequence of
//! decimal numbers, each with an optional fraction and a required unit, e.g. `168h`,
//! `1h30m`, `1.5h`, `500ms`, `15m`; `0` alone is zero. Negative durations are refused
//! because no option accepts one.

use std::time::Duration;

const NANOS_PER: [(&str, u128); 9] = [
    ("ns", 1),
    ("us", 1_000),
    ("\u{b5}s", 1_000),  // micro sign
    ("\u{3bc}s", 1_000), // Greek mu
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
    ("d", 0), // placeholder so `1d` gets a helpful error below; never matched as a unit
];

/// Go's limit: durations are int64 nanoseconds.
const MAX_NANOS: u128 = i64::MAX as u128;

/// Parse a Go duration. The error says what is wrong and shows valid examples.
pub fn parse_go_duration(input: &str) -> Result<Duration, String> {
    let s = input.trim();
    if s.is_empty() {
        return Err(
            "empty duration; use Go syntax such as \"168h\", \"1h30m\", \"15m\" or \"0\"".into(),
        );
    }
    let s = match s.strip_prefix('+') {
        Some(rest) => rest,
        None if s.starts_with('-') => {
            return Err(format!(
                "duration {input:?} is negative; it must be zero or more"
            ));
        }
        None => s,
    };
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut total: u128 = 0;
    while i < bytes.len() {
        // Integer part.
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let int_part = &s[start..i];
        // Fraction.
        let mut frac_part = "";
        if i < bytes.len() && bytes[i] == b'.' {
            i += 1;
            let fstart = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            frac_part = &s[fstart..i];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(format!(
                "invalid duration {input:?}: expected a number at {:?}; use Go syntax such as \"168h\", \"1h30m\" or \"500ms\"",
                &s[start..]
            ));
        }
        // Unit: everything up to the next digit or '.'.
        let ustart = i;
        while i < bytes.len() && !bytes[i].is_ascii_digit() && bytes[i] != b'.' {
            i += 1;
        }
        let unit = &s[ustart..i];
        if unit.is_empty() {
            return Err(format!(
                "missing unit in duration {input:?}; add one of h, m, s, ms, us, ns (e.g. \"{}s\")",
                s
            ));
        }
        let per = match NANOS_PER.iter().find(|(u, _)| *u == unit) {
            Some((_, 0)) | None => {
                return Err(format!(
                    "unknown unit {unit:?} in duration {input:?}; valid units are h, m, s, ms, us (or \u{b5}s), ns{}",
                    if unit == "d" { " (for days write e.g. \"168h\")" } else { "" }
                ));
            }
            Some((_, per)) => *per,
        };
        let overflow = || format!("duration {input:?} is too large");
        let whole: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse::<u128>().map_err(|_| overflow())?
        };
        let mut nanos = whole.checked_mul(per).ok_or_else(overflow)?;
        // Fractions beyond nanosecond precision are truncated, as Go does.
        let mut scale = per;
        for d in frac_part.bytes() {
            scale /= 10;
            if scale == 0 {
                break;
            }
            // Checked: `whole * per` may already sit just below u128::MAX
            // ("340282366920938463463374607431768211.999us"); wrapping would accept it.
            nanos = nanos
                .checked_add(u128::from(d - b'0') * scale)
                .ok_or_else(overflow)?;
        }
        total = total.checked_add(nanos).ok_or_else(overflow)?;
        if total > MAX_NANOS {
            return Err(overflow());
        }
    }
    let nanos = u64::try_from(total).map_err(|_| format!("duration {input:?} is too large"))?;
    Ok(Duration::from_nanos(nanos))
}

/// Format like Go's `Duration.String()` (`168h0m0s`, `1m30s`, `1.5s`, `500ms`, `0s`),
/// so messages read like oauth2-proxy's.
pub fn format_go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    if nanos < 1_000_000_000 {
        let (unit, per) = if nanos < 1_000 {
            ("ns", 1)
        } else if nanos < 1_000_000 {
            ("\u{b5}s", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{}{unit}", frac(nanos, per));
    }
    let h = nanos / 3_600_000_000_000;
    let rem = nanos % 3_600_000_000_000;
    let m = rem / 60_000_000_000;
    let s_nanos = rem % 60_000_000_000;
    let secs = format!("{}s", frac(s_nanos, 1_000_000_000));
    if h > 0 {
        format!("{h}h{m}m{secs}")
    } else if m > 0 {
        format!("{m}m{secs}")
    } else {
        secs
    }
}

fn frac(value: u128, per: u128) -> String {
    let whole = value / per;
    let rest = value % per;
    if rest == 0 {
        return whole.to_string();
    }
    let width = per.ilog10() as usize;
    let digits = format!("{rest:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_go_form_oauth2_proxy_users_write() {
        let cases: &[(&str, u64)] = &[
            ("0", 0),
            ("0s", 0),
            ("168h", 168 * 3600 * 1_000_000_000),
            ("1h30m", 5400 * 1_000_000_000),
            ("1.5h", 5400 * 1_000_000_000),
            ("15m", 900 * 1_000_000_000),
            ("30s", 30 * 1_000_000_000),
            ("500ms", 500_000_000),
            ("1h0m0s", 3600 * 1_000_000_000),
            (
                "2h45m30.5s",
                (2 * 3600 + 45 * 60 + 30) * 1_000_000_000 + 500_000_000,
            ),
            (".5s", 500_000_000),
            ("1.s", 1_000_000_000),
            ("+5m", 300 * 1_000_000_000),
            ("10us", 10_000),
            ("10\u{b5}s", 10_000),
            ("10\u{3bc}s", 10_000),
            ("7ns", 7),
            ("1.0000000009s", 1_000_000_000),
        ];
        for (input, nanos) in cases {
            assert_eq!(
                parse_go_duration(input),
                Ok(Duration::from_nanos(*nanos)),
                "{input}"
            );
        }
    }

    #[test]
    fn rejects_malformed_durations_with_a_helpful_message() {
        let cases: &[(&str, &str)] = &[
            ("", "empty duration"),
            ("1", "missing unit"),
            ("3600", "missing unit"),
            ("1d", "for days write"),
            ("1x", "unknown unit \"x\""),
            ("-1h", "negative"),
            ("h", "expected a number"),
            (".h", "expected a number"),
            ("1h-5m", "unknown unit \"h-\""),
            ("1 h", "unknown unit \" h\""),
            ("9999999999999h", "too large"),
            // Integer part times the unit just below u128::MAX, plus the fraction: used to
            // overflow (a panic in debug builds, a wrapped tiny duration in release).
            ("340282366920938463463374607431768211.999us", "too large"),
            ("340282366920938463463374607431768211455.9ns", "too large"),
        ];
        for (input, want) in cases {
            let err = parse_go_duration(input).expect_err(input);
            assert!(err.contains(want), "{input}: {err}");
        }
    }

    #[test]
    fn formats_like_go() {
        let cases: &[(u64, &str)] = &[
            (0, "0s"),
            (168 * 3600 * 1_000_000_000, "168h0m0s"),
            (90 * 1_000_000_000, "1m30s"),
            (1_500_000_000, "1.5s"),
            (500_000_000, "500ms"),
            (1_500, "1.5\u{b5}s"),
            (3600 * 1_000_000_000, "1h0m0s"),
        ];
        for (nanos, want) in cases {
            assert_eq!(format_go_duration(Duration::from_nanos(*nanos)), *want);
        }
    }
}
