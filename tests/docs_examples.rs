//! Error output of the binary as users meet it: README examples re-created and compared, and
//! the exit codes and messages of usage mistakes (run here, output captured, so a passing test
//! run prints no error lines). README examples are re-created from the README's own text.

use std::path::Path;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The fenced block that starts right after the first line containing `marker`.
fn block_after<'a>(text: &'a str, marker: &str) -> &'a str {
    let at = text
        .find(marker)
        .unwrap_or_else(|| panic!("README has no {marker:?}"));
    let rest = &text[at..];
    let open = rest.find("```").expect("a fenced block follows");
    let body = &rest[open..];
    let body = &body[body.find('\n').expect("fence line") + 1..];
    &body[..body.find("```").expect("closing fence")]
}

#[test]
fn the_readme_config_error_example_is_what_the_binary_prints() {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    // The README's configuration example, with the mistake the error example shows.
    let toml = {
        let at = readme.find("# /etc/authproxy/authproxy.cfg").unwrap();
        let rest = &readme[at..];
        &rest[..rest.find("```").unwrap()]
    };
    assert!(toml.contains("cookie_samesite = \"lax\""));
    let broken = toml.replace("cookie_samesite = \"lax\"", "cookie_samesite = \"loose\"");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("docs-examples");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("authproxy.cfg");
    std::fs::write(&file, broken).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_authproxy"))
        .arg("--config")
        .arg(&file)
        .arg("--check")
        .env("OAUTH2_PROXY_CLIENT_ID", "app")
        .env("OAUTH2_PROXY_CLIENT_SECRET", "secret")
        .env(
            "OAUTH2_PROXY_COOKIE_SECRET",
            "q2n4Lw6h0Ue7kGf1yS3ZpV9tXcB8rJmA5dHoQiKzW0E=",
        )
        .output()
        .unwrap();
    assert!(!out.status.success());
    let printed = String::from_utf8_lossy(&out.stderr)
        .replace(file.to_str().unwrap(), "/etc/authproxy/authproxy.cfg");
    let expected = block_after(&readme, "Every mistake is reported at once");
    assert_eq!(
        printed.trim_end(),
        expected.trim_end(),
        "README's error example differs from what `authproxy --check` prints"
    );
}

#[test]
fn the_readme_and_the_binary_recommend_the_same_secret_command() {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_authproxy"))
        .args(["--cookie-secret", "short", "--check"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let cmd = err
        .split("generate one with: ")
        .nth(1)
        .map(|r| r.lines().next().unwrap_or("").trim())
        .unwrap_or_else(|| panic!("the cookie secret error recommends no command: {err}"));
    assert!(
        readme.contains(&format!("`{cmd}`")),
        "README does not recommend {cmd:?}"
    );
}

#[test]
fn inject_reports_usage_errors_with_exit_code_2_and_unreadable_inputs_with_1() {
    let out = Command::new(env!("CARGO_BIN_EXE_authproxy"))
        .args(["inject", "--proxy-port", "notaport"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("'notaport'") && err.contains("--proxy-port"),
        "{err}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_authproxy"))
        .args(["inject", "/nonexistent/authproxy-inject-input.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot read /nonexistent/authproxy-inject-input.yaml"),
        "{err}"
    );
}
