//! Link-time layout of the release binary: the functions authproxy runs (startup, the request
//! paths, idle) are placed together at the start of `.text`, in the order of
//! `link/symbol-order.txt` (written by `scripts/symbol-order.sh`).
//!
//! Why: the kernel maps a binary's code in 64 KiB windows around each page it runs. Laid out
//! as the compiler emits it, the 1.8 MiB of code authproxy runs is spread over about 170
//! windows of the 17 MiB `.text`, and an idle authproxy carried 11 MiB of its own code pages in
//! its resident set. Packed together, they take about 2 MiB (docs/limits.md, "Idle memory").
//!
//! Only for release builds on x86_64 Linux with rustc's own linker (rust-lld, the default
//! there since Rust 1.90): lld reads the file with `--symbol-ordering-file`; names it does not
//! find (another toolchain, changed dependencies) are skipped without a warning, so a stale file
//! costs memory, never a build. `scripts/measure-footprint.sh` says how much of it matches.
//! `AUTHPROXY_SYMBOL_ORDER=0` turns it off (for another linker).

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=link/symbol-order.txt");
    println!("cargo:rerun-if-env-changed=AUTHPROXY_SYMBOL_ORDER");
    let env = |k: &str| std::env::var(k).unwrap_or_default();
    let wanted = env("PROFILE") == "release"
        && env("TARGET") == "x86_64-unknown-linux-gnu"
        && env("AUTHPROXY_SYMBOL_ORDER") != "0"
        // Another linker configured for the target (RUSTC_LINKER) or through flags.
        && env("RUSTC_LINKER").is_empty()
        && !env("CARGO_ENCODED_RUSTFLAGS").contains("linker")
        && !env("CARGO_ENCODED_RUSTFLAGS").contains("fuse-ld");
    let file = Path::new(&env("CARGO_MANIFEST_DIR")).join("link/symbol-order.txt");
    if wanted && file.is_file() {
        println!(
            "cargo:rustc-link-arg-bin=authproxy=-Wl,--symbol-ordering-file={}",
            file.display()
        );
        println!("cargo:rustc-link-arg-bin=authproxy=-Wl,--no-warn-symbol-ordering");
    }
}
