//! The driver shared by every target: time budget, input counting, the report line, and a
//! dictionary expander that turns raw bytes into strings rich in the tokens parsers care about.

use std::fmt::Debug;
use std::io::Write as _;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use std::path::{Path, PathBuf};

use bolero::generator::bolero_generator::driver::{ByteSliceDriver, Options};
use bolero::TypeGenerator;

/// Random-input time per target (`AUTHPROXY_FUZZ_SECONDS`, default 2 s). The committed corpus
/// is replayed in full first, outside this budget (see [`replay`]).
pub fn budget() -> Duration {
    std::env::var("AUTHPROXY_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map_or(Duration::from_secs(2), Duration::from_secs_f64)
}

/// One line per target, written past the test harness's output capture so it shows in
/// every `cargo test` run.
fn report(name: &str, inputs: u64, elapsed: Duration) {
    let secs = elapsed.as_secs_f64();
    let _ = writeln!(
        std::io::stderr(),
        "fuzz {name}: {inputs} inputs in {secs:.1}s ({:.0}/s)",
        inputs as f64 / secs.max(1e-9)
    );
}

/// Run `f` on raw byte inputs of at most `max_len` bytes.
pub fn bytes(name: &'static str, max_len: usize, mut f: impl FnMut(&[u8])) {
    let start = Instant::now();
    let replayed = replay(name, |data| f(data));
    let counter = AtomicU64::new(replayed);
    let count = &counter;
    // A failing input panics: bolero catches it, reports the input and fails the test.
    let mut f = AssertUnwindSafe(f);
    // Named apart from the corpus directory: the corpus ran above, in full.
    bolero::check!(name = format!("{name} (random)"))
        .with_test_time(budget())
        .with_iterations(usize::MAX)
        .with_max_len(max_len)
        .for_each(move |input: &[u8]| {
            count.fetch_add(1, Ordering::Relaxed);
            call(&mut f, input)
        });
    let inputs = counter.load(Ordering::Relaxed);
    report(name, inputs, start.elapsed());
    assert!(inputs > 0, "fuzz {name}: no input ran");
}

/// Run `f` on generated values of `T` (at most `max_len` bytes of driver input each).
pub fn typed<T>(name: &'static str, max_len: usize, mut f: impl FnMut(&T))
where
    T: TypeGenerator + Debug + 'static,
{
    let start = Instant::now();
    let options = Options::default().with_max_len(max_len);
    let replayed = replay(name, |data| {
        let mut driver = ByteSliceDriver::new(data, &options);
        if let Some(value) = T::generate(&mut driver) {
            f(&value);
        }
    });
    let counter = AtomicU64::new(replayed);
    let count = &counter;
    let mut f = AssertUnwindSafe(f);
    // Named apart from the corpus directory: the corpus ran above, in full.
    bolero::check!(name = format!("{name} (random)"))
        .with_test_time(budget())
        .with_iterations(usize::MAX)
        .with_max_len(max_len)
        .with_type::<T>()
        .for_each(move |value: &T| {
            count.fetch_add(1, Ordering::Relaxed);
            call(&mut f, value)
        });
    let inputs = counter.load(Ordering::Relaxed);
    report(name, inputs, start.elapsed());
    assert!(inputs > 0, "fuzz {name}: no input ran");
}

/// Runs every committed input of `name` (`__fuzz__/<name>/crashes/` and `corpus/`) through `f`,
/// untimed, before the time-boxed random run: the regression cases always run in full, however
/// long the corpus grows. Returns how many ran. A failing input panics with its file name.
fn replay(name: &str, mut f: impl FnMut(&[u8])) -> u64 {
    let base = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz/__fuzz__")
        .join(name);
    let mut files: Vec<PathBuf> = ["crashes", "corpus"]
        .iter()
        .filter_map(|d| std::fs::read_dir(base.join(d)).ok())
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && !p
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with('.'))
        })
        .collect();
    files.sort();
    for path in &files {
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if let Err(e) = std::panic::catch_unwind(AssertUnwindSafe(|| f(&data))) {
            eprintln!("fuzz {name}: committed input {} fails", path.display());
            std::panic::resume_unwind(e);
        }
    }
    files.len() as u64
}

/// Calls the wrapped closure; taking the wrapper whole keeps the closure that calls this
/// capturing the `AssertUnwindSafe`, not its field.
fn call<A>(f: &mut AssertUnwindSafe<impl FnMut(A)>, a: A) {
    (f.0)(a)
}

/// Bytes to a string: `0xC0..=0xFF` pick a token from `dict`, `0x80..0xC0` a troublesome
/// non-ASCII character (fullwidth solidus, ideographic full stop, ...), anything else is the
/// ASCII character itself. Random inputs thus hit tokens a quarter of the time, and a corpus
/// file of plain ASCII reads as itself.
pub fn expand(input: &[u8], dict: &[&str]) -> String {
    const ODD: [char; 8] = [
        '\u{FF0F}', // fullwidth solidus
        '\u{3002}', // ideographic full stop
        '\u{2044}', // fraction slash
        '\u{FE68}', // small reverse solidus
        '\u{00E9}', // é
        '\u{200B}', // zero-width space
        '\u{0130}', // İ (lower-cases to two characters)
        '\u{212A}', // Kelvin sign (lower-cases to k)
    ];
    let mut out = String::with_capacity(input.len() * 2);
    for &b in input {
        match b {
            0xC0..=0xFF if !dict.is_empty() => {
                out.push_str(dict[usize::from(b - 0xC0) % dict.len()])
            }
            0x80..=0xFF => out.push(ODD[usize::from(b) % ODD.len()]),
            _ => out.push(char::from(b)),
        }
    }
    out
}

/// A small deterministic choice from a byte.
pub fn pick<T>(items: &[T], b: u8) -> &T {
    &items[usize::from(b) % items.len()]
}
