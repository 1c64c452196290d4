//! Fuzz targets for every parser that meets attacker (or operator) input.
//!
//! Each `#[test]` is one target. Under `cargo test` (stable) a target replays its committed
//! corpus (`tests/fuzz/__fuzz__/<target>/corpus/` and `crashes/`), then runs random inputs for
//! `AUTHPROXY_FUZZ_SECONDS` (default 2 s) and prints one line:
//! `fuzz <target>: <n> inputs in <t>s`. A panic, a failed property or a wrong accept fails
//! the test. For long coverage-guided runs, the same targets run under libFuzzer:
//!
//! ```text
//! RUSTC_BOOTSTRAP=1 cargo bolero test --test fuzz --sanitizer NONE -T 180s redirect
//! ```
//!
//! (see docs/security.md, "Fuzzing"). Inputs a long run finds go into the target's corpus.

mod support;

mod config;
mod cookies;
mod duration;
mod ext_authz;
mod forwarded;
mod jwt;
mod redirect;
mod session;
mod skip;
mod state;
