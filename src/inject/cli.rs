//! `authproxy inject [OPTIONS] [FILE...]`: I/O around [`super::inject_sources`].

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use super::{inject_sources, InjectOptions};

/// Add the authproxy sidecar to Kubernetes workloads (Deployment, StatefulSet, DaemonSet, Lists)
/// and retarget their Services to it. Reads FILEs (or stdin; `-` is stdin) and writes the result
/// to stdout; warnings go to stderr. Comments and YAML anchors are not preserved.
#[derive(Debug, Parser)]
#[command(name = "authproxy inject", version, about, long_about = None)]
struct Args {
    /// Sidecar image.
    #[arg(long, default_value = super::DEFAULT_IMAGE)]
    image: String,
    /// ConfigMap holding authproxy.cfg, mounted at /etc/authproxy.
    #[arg(long = "config-map", default_value = "authproxy-config")]
    config_map: String,
    /// Secret with the keys client-id, client-secret and cookie-secret.
    #[arg(long, default_value = "authproxy-secret")]
    secret: String,
    /// Port the sidecar listens on; Services are retargeted to it.
    #[arg(long = "proxy-port", default_value_t = 4180)]
    proxy_port: u16,
    /// The app's port (default: the authproxy.io/app-port annotation, else the app container's only containerPort).
    #[arg(long = "app-port")]
    app_port: Option<u16>,
    /// Upstream URL (default: http://127.0.0.1:<app port>).
    #[arg(long)]
    upstream: Option<String>,
    /// Sidecar container name; an existing container of this name is replaced.
    #[arg(long = "container-name", default_value = "authproxy")]
    container_name: String,
    /// Set this environment variable to 127.0.0.1 in the app container (repeatable), for apps
    /// that take their listen address from the environment.
    #[arg(long = "app-bind-env", value_name = "NAME")]
    app_bind_env: Vec<String>,
    /// Port of the sidecar's Prometheus metrics listener (container port `metrics`, scrape
    /// annotations); 0: no metrics listener.
    #[arg(long = "metrics-port", value_name = "PORT", default_value_t = super::DEFAULT_METRICS_PORT)]
    metrics_port: u16,
    /// Input files; none or `-` reads stdin.
    #[arg(value_name = "FILE")]
    files: Vec<PathBuf>,
}

/// The options and input files (`-` when none) of an `authproxy inject` command line.
fn parse_args(args: &[OsString]) -> Result<(InjectOptions, Vec<PathBuf>), clap::Error> {
    let argv = std::iter::once(OsString::from("authproxy inject")).chain(args.iter().cloned());
    let parsed = Args::try_parse_from(argv)?;
    let opts = InjectOptions {
        image: parsed.image,
        config_map: parsed.config_map,
        secret: parsed.secret,
        proxy_port: parsed.proxy_port,
        app_port: parsed.app_port,
        upstream: parsed.upstream,
        container_name: parsed.container_name,
        app_bind_env: parsed.app_bind_env,
        // 0 is how the command line says "none"; the library takes an Option.
        metrics_port: (parsed.metrics_port != 0).then_some(parsed.metrics_port),
    };
    let files = if parsed.files.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        parsed.files
    };
    Ok((opts, files))
}

/// Run `authproxy inject` with the arguments that follow `inject`. Exit codes: 0 done (warnings
/// may have been printed), 1 input or options refused (nothing written to stdout), 2 usage.
pub fn run_cli(args: &[OsString]) -> ExitCode {
    let (opts, files) = match parse_args(args) {
        Ok(parsed) => parsed,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let mut inputs = Vec::with_capacity(files.len());
    let mut stdin_used = false;
    for file in &files {
        let mut text = String::new();
        let (name, read) = if file.as_os_str() == "-" {
            if stdin_used {
                eprintln!("authproxy inject: `-` (stdin) given more than once");
                return ExitCode::from(2);
            }
            stdin_used = true;
            // One source: no file name in messages when stdin is the only input.
            let name = if files.len() == 1 {
                String::new()
            } else {
                "<stdin>".to_owned()
            };
            (name, std::io::stdin().read_to_string(&mut text))
        } else {
            (
                file.display().to_string(),
                std::fs::File::open(file).and_then(|mut f| f.read_to_string(&mut text)),
            )
        };
        if let Err(e) = read {
            let shown = if name.is_empty() { "<stdin>" } else { &name };
            eprintln!("authproxy inject: cannot read {shown}: {e}");
            return ExitCode::FAILURE;
        }
        inputs.push((name, text));
    }
    let sources: Vec<(&str, &str)> = inputs
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    match inject_sources(&sources, &opts) {
        Ok(out) => {
            for w in &out.warnings {
                eprintln!("authproxy inject: warning: {w}");
            }
            let mut stdout = std::io::stdout().lock();
            if let Err(e) = stdout
                .write_all(out.yaml.as_bytes())
                .and_then(|()| stdout.flush())
            {
                eprintln!("authproxy inject: cannot write the output: {e}");
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("authproxy inject: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts_of(args: &[&str]) -> InjectOptions {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        parse_args(&args).unwrap().0
    }

    #[test]
    fn metrics_port_defaults_to_9090_and_zero_means_none() {
        assert_eq!(opts_of(&[]).metrics_port, Some(9090));
        assert_eq!(opts_of(&[]), InjectOptions::default());
        assert_eq!(
            opts_of(&["--metrics-port", "9100"]).metrics_port,
            Some(9100)
        );
        assert_eq!(opts_of(&["--metrics-port=0"]).metrics_port, None);
    }

    #[test]
    fn refuses_a_metrics_port_that_is_not_a_port() {
        for bad in ["65536", "-1", "x"] {
            let args = [OsString::from("--metrics-port"), OsString::from(bad)];
            assert!(parse_args(&args).is_err(), "{bad}");
        }
    }
}
