//! Fuzz targets for every parser that meets attacker (or operator) input.
//!
//! Each `#[test]` is one target. Under `cargo test` (stable) a target replays its committed
//! inputs in full (`tests/fuzz/__fuzz__/<target>/crashes/` and `corpus/`), then runs random
//! inputs for `AUTHPROXY_FUZZ_SECONDS` (default 2 s) and prints one line:
//! `fuzz <target>: <n> inputs in <t>s`. A panic, a failed property or a wrong accept fails
//! the test. For long coverage-guided runs, the same targets run under libFuzzer:
//!
//! ```text
//! bash scripts/fuzz-long.sh 180 redirect
//! ```
//!
//! (see docs/security.md, "Fuzzing"). Inputs a long run finds go into the target's corpus.

mod support;

#[path = "../fakes/mod.rs"]
mod fakes;

mod bearer;
mod config;
mod cookies;
mod duration;
mod ext_authz;
mod forwarded;
mod jwt;
mod policy;
mod redirect;
mod session;
mod skip;
mod state;
