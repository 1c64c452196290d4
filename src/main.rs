//! `authproxy`: parse configuration (reporting every error at once), build the app, serve,
//! drain on SIGTERM.
#![forbid(unsafe_code)]

use std::process::ExitCode;

/// jemalloc instead of glibc's malloc: every request allocates and frees small buffers on its
/// serving thread. Measured with `bench/run.sh` (proxied case, same machine, same run
/// settings): about +15% req/s, with the same memory per idle connection and about 2 MiB more
/// idle RSS (docs/benchmarks.md). mimalloc was as fast but used a third more memory per
/// connection.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if args.first().is_some_and(|a| a == "inject") {
        // Pure text transformation: no async runtime needed.
        return authproxy::inject::run_cli(&args[1..]);
    }
    if args.first().is_some_and(|a| a == "policy") {
        // `policy explain`: reads the configuration and evaluates, no server.
        return authproxy::policy::cli::run_cli(&args[1..]);
    }
    // Systemd's sockets (`http_address = "fd:3"`) are read from the environment, which the
    // reader also clears, before any thread starts.
    authproxy::server::take_inherited_sockets();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("authproxy: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.first().is_some_and(|a| a == "demo") {
        return runtime.block_on(authproxy::demo::run_cli(&args[1..]));
    }
    let env = authproxy::config::process_env();
    match authproxy::config::load(&args, &env) {
        Ok(authproxy::config::Command::Help(text))
        | Ok(authproxy::config::Command::Version(text)) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Ok(authproxy::config::Command::ConvertToAlpha { yaml, warnings }) => {
            for w in warnings {
                eprintln!("authproxy: warning: {w}");
            }
            print!("{yaml}");
            ExitCode::SUCCESS
        }
        Ok(authproxy::config::Command::Check(cfg)) => {
            check(&runtime, *cfg, &env, "configuration OK")
        }
        Ok(authproxy::config::Command::ConfigTest(cfg)) => {
            check(&runtime, *cfg, &env, "configuration is valid")
        }
        Ok(authproxy::config::Command::Run(cfg)) => runtime.block_on(authproxy::run(*cfg)),
        Err(errors) => {
            eprintln!("authproxy: invalid configuration:\n{errors}");
            ExitCode::from(2)
        }
    }
}

/// `--check` / `--config-test`: the warnings on stderr, the `OTEL_*` settings, then everything
/// the start would build (provider clients, header plan, upstream router, pages) without
/// listening or contacting the provider; `ok` on stdout when that works.
fn check(
    runtime: &tokio::runtime::Runtime,
    cfg: authproxy::config::Config,
    env: &std::collections::HashMap<String, String>,
    ok: &str,
) -> ExitCode {
    for w in cfg.warnings() {
        eprintln!("authproxy: warning: {w}");
    }
    if let Err(e) = authproxy::otel::check_env(&cfg.tracing, env) {
        eprintln!("authproxy: invalid OpenTelemetry settings:\n{e}");
        return ExitCode::from(2);
    }
    match runtime.block_on(authproxy::app::App::build(cfg, false)) {
        Ok(_) => {
            println!("{ok}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("authproxy: {e}");
            ExitCode::from(2)
        }
    }
}
