//! Go `time.ParseDuration` syntax (src/config/duration.rs).
//!
//! Properties: parsing never panics; whatever parses formats (Go's `Duration.String()`) and
//! parses back to the same value; any duration up to Go's int64-nanosecond limit formats and
//! parses back to itself; a value beyond that limit is refused, never wrapped.

use std::time::Duration;

use authproxy::config::duration::{format_go_duration, parse_go_duration};

use crate::support::{bytes, expand, typed};

const DICT: &[&str] = &[
    "h",
    "m",
    "s",
    "ms",
    "us",
    "\u{b5}s",
    "\u{3bc}s",
    "ns",
    "d",
    ".",
    "+",
    "-",
    "0",
    "9223372036854775807",
    "9223372036",
    "340282366920938463463374607431768211",
    "999999999",
    "00000000000000000000",
    " ",
];

#[test]
fn duration_text() {
    bytes("duration", 64, |input| {
        let text = expand(input, DICT);
        if let Ok(d) = parse_go_duration(&text) {
            assert!(
                d.as_nanos() <= i64::MAX as u128,
                "{text:?} parsed beyond Go's limit: {d:?}"
            );
            let formatted = format_go_duration(d);
            assert_eq!(
                parse_go_duration(&formatted),
                Ok(d),
                "{text:?} → {d:?} → {formatted:?} does not parse back"
            );
        }
    });
}

#[test]
fn duration_round_trip() {
    typed::<u64>("duration_round_trip", 16, |nanos| {
        let d = Duration::from_nanos(*nanos);
        let formatted = format_go_duration(d);
        let parsed = parse_go_duration(&formatted);
        if *nanos <= i64::MAX as u64 {
            assert_eq!(parsed, Ok(d), "{d:?} → {formatted:?}");
        } else {
            assert!(
                parsed.is_err(),
                "{formatted:?} is beyond Go's limit yet parsed"
            );
        }
    });
}
