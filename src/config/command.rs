//! Reading the command line: [`load`] turns arguments, environment and files into a
//! [`Command`].

use std::collections::HashMap;
use std::ffi::OsString;

use super::{alpha, build, convert, options, sources, Config, ConfigError, ConfigErrors};

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    /// Serve with this configuration.
    Run(Box<Config>),
    /// `--check`: the configuration is valid; print a summary and exit 0.
    Check(Box<Config>),
    /// `--config-test` (oauth2-proxy v7.15's spelling of `--check`): the configuration is
    /// valid; print `configuration is valid` and exit 0.
    ConfigTest(Box<Config>),
    /// `--convert-config-to-alpha`: the alpha YAML equivalent of the legacy configuration
    /// (print `yaml` on stdout, `warnings` on stderr, exit 0).
    ConvertToAlpha { yaml: String, warnings: Vec<String> },
    /// `--help`: print this text and exit 0.
    Help(String),
    /// `--version`: print this text and exit 0.
    Version(String),
}

/// The process environment, for [`load`]. The only place `config/` reads it.
pub fn process_env() -> HashMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// Load the configuration from `args` (without argv\[0\]) and `env`, with oauth2-proxy's
/// precedence: flags > `OAUTH2_PROXY_*` env > `--config FILE` > defaults. Reads the files
/// the configuration names (config file, secrets, emails file). Returns every error found.
pub fn load(args: &[OsString], env: &HashMap<String, String>) -> Result<Command, ConfigErrors> {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let (flags, request) = sources::read_flags(args, &mut errors, &mut warnings);
    if request.help {
        return Ok(Command::Help(options::help_text()));
    }
    if request.version {
        return Ok(Command::Version(format!(
            "authproxy {} (oauth2-proxy v7 compatible configuration)",
            env!("CARGO_PKG_VERSION")
        )));
    }
    if request.convert_to_alpha {
        // oauth2-proxy's refusals, word for word.
        let other = if request.alpha_config.is_some() {
            Some("alpha-config")
        } else if request.config_test {
            Some("config-test")
        } else if request.check {
            Some("check")
        } else {
            None
        };
        if let Some(other) = other {
            return Err(ConfigErrors(vec![ConfigError::new(
                "convert-config-to-alpha",
                format!("cannot use {other} and convert-config-to-alpha together"),
            )]));
        }
    }
    let env_layer = sources::read_env(env, &mut warnings);
    let config_file = request.config;
    let file_layer = match &config_file {
        Some(path) => sources::read_file(path, &mut errors, &mut warnings),
        None => sources::Layer::new(),
    };
    // The `[authproxy_policy]` table of the TOML file (authproxy extension).
    let toml_policy = config_file
        .as_ref()
        .and_then(|path| sources::policy_table(path, &mut errors));
    let mut layers = vec![file_layer, env_layer, flags];
    if request.convert_to_alpha {
        let mut ctx = build::Ctx::new(layers, errors);
        ctx.warnings.splice(0..0, warnings);
        return convert::convert(ctx)
            .map(|(yaml, warnings)| Command::ConvertToAlpha { yaml, warnings });
    }
    let alpha = request.alpha_config.as_ref().map(|path| {
        let alpha = alpha::read_alpha(path, env, &mut errors);
        let mut legacy = sources::Layer::new();
        for l in &layers {
            legacy.extend(l.clone());
        }
        for key in alpha::conflicts(&alpha, &legacy, &mut errors, &mut warnings) {
            for l in &mut layers {
                l.remove(key);
            }
        }
        warnings.extend(alpha.warnings.iter().cloned());
        alpha
    });
    let mut ctx = build::Ctx::new(layers, errors);
    // Reader warnings first (in the order the sources were read), then the typing ones.
    ctx.warnings.splice(0..0, warnings);
    ctx.env = std::sync::Arc::new(env.clone());
    let policy = match (toml_policy, alpha.as_ref().and_then(|a| a.policy.clone())) {
        (Some(t), Some(a)) => {
            ctx.errors.push(ConfigError::new(
                "authproxy_policy",
                format!(
                    "a policy is written twice: in {} and in {}; keep one",
                    t.origin, a.origin
                ),
            ));
            None
        }
        (t, a) => t.or(a),
    };
    let config = build::build(ctx, config_file, alpha, policy)?;
    Ok(if request.config_test {
        Command::ConfigTest(Box::new(config))
    } else if request.check {
        Command::Check(Box::new(config))
    } else {
        Command::Run(Box::new(config))
    })
}
