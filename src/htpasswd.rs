//! `htpasswd_file`: users for HTTP basic auth and the sign-in form.
//!
//! Accepted entries are `user:$2y$…` / `$2a$` / `$2b$` (bcrypt, checked with the bcrypt crate's
//! own verification) and `user:{SHA}base64(sha1(password))` (compared in constant time).
//! Other schemes (MD5 `$apr1$`, crypt, plain text) are refused as oauth2-proxy does: each such
//! line is skipped with a warning naming the file and line, so one stale entry does not lock
//! every user out. A file with no usable entry is an error.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use sha1::{Digest as _, Sha1};
use subtle::ConstantTimeEq as _;

/// How one user's password is stored.
#[derive(Clone, PartialEq, Eq)]
enum Hash {
    /// The full bcrypt hash string.
    Bcrypt(String),
    /// SHA-1 digest of the password.
    Sha1([u8; 20]),
}

impl std::fmt::Debug for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Hash::Bcrypt(_) => "Bcrypt([redacted])",
            Hash::Sha1(_) => "Sha1([redacted])",
        })
    }
}

/// A parsed htpasswd file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Htpasswd {
    users: HashMap<String, Hash>,
}

/// The result of parsing: the users, plus one warning per skipped line.
#[derive(Debug)]
pub struct Parsed {
    pub htpasswd: Htpasswd,
    /// `file:line: why` for each line that was skipped.
    pub warnings: Vec<String>,
}

/// A SHA-1 digest that no password matches (used to spend the same time on unknown users).
const NO_SHA1: [u8; 20] = [0; 20];

impl Htpasswd {
    /// Parse htpasswd text; `source` names the file in messages.
    pub fn parse(text: &str, source: &Path) -> Result<Parsed, String> {
        let mut users = HashMap::new();
        let mut warnings = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim_end_matches('\r');
            let at = format!("{}:{}", source.display(), n + 1);
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let Some((user, hash)) = line.split_once(':') else {
                warnings.push(format!("{at}: not user:hash; line skipped"));
                continue;
            };
            if user.is_empty() || user.chars().any(|c| c.is_control()) {
                warnings.push(format!("{at}: empty or invalid user name; line skipped"));
                continue;
            }
            let parsed = if ["$2y$", "$2a$", "$2b$"].iter().any(|p| hash.starts_with(p)) {
                // Reject a malformed bcrypt string now, not at the first login (parsing the
                // parts costs nothing; hashing here would cost ~0.1 s per user).
                match hash.parse::<bcrypt::HashParts>() {
                    Ok(_) => Ok(Hash::Bcrypt(hash.to_owned())),
                    Err(e) => Err(format!("malformed bcrypt hash ({e})")),
                }
            } else if let Some(b64) = hash.strip_prefix("{SHA}") {
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .ok()
                    .and_then(|d| <[u8; 20]>::try_from(d.as_slice()).ok())
                    .map(Hash::Sha1)
                    .ok_or_else(|| "{SHA} entry is not base64 of a 20-byte SHA-1 digest".into())
            } else {
                Err("unsupported password scheme (only bcrypt $2y$/$2a$/$2b$ and {SHA} are accepted; re-create it with htpasswd -B)".into())
            };
            match parsed {
                Ok(h) => {
                    if users.insert(user.to_owned(), h).is_some() {
                        warnings.push(format!(
                            "{at}: user {user:?} appears again; the last entry wins"
                        ));
                    }
                }
                Err(why) => warnings.push(format!("{at}: user {user:?}: {why}; line skipped")),
            }
        }
        if users.is_empty() {
            let mut msg = format!("{}: no usable user entry", source.display());
            if !warnings.is_empty() {
                msg.push_str(" (");
                msg.push_str(&warnings.join("; "));
                msg.push(')');
            }
            return Err(msg);
        }
        Ok(Parsed {
            htpasswd: Htpasswd { users },
            warnings,
        })
    }

    /// Read and parse a file.
    pub fn load(path: &Path) -> Result<Parsed, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::parse(&text, path)
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// True when there is no user.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Whether `password` is `user`'s. bcrypt is slow on purpose (tens of milliseconds): call
    /// this off the async runtime (`spawn_blocking`).
    pub fn verify(&self, user: &str, password: &str) -> bool {
        match self.users.get(user) {
            Some(Hash::Bcrypt(h)) => bcrypt::verify(password, h).unwrap_or(false),
            Some(Hash::Sha1(expected)) => sha1_eq(password, expected),
            None => {
                // Unknown user: still hash, so timing says little about which names exist.
                let _ = sha1_eq(password, &NO_SHA1);
                false
            }
        }
    }
}

fn sha1_eq(password: &str, expected: &[u8; 20]) -> bool {
    let digest = Sha1::digest(password.as_bytes());
    bool::from(digest.as_slice().ct_eq(expected))
}

/// The file's identity for change detection: modification time and length.
pub fn fingerprint(path: &PathBuf) -> Option<(std::time::SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(pw: &str) -> String {
        format!(
            "{{SHA}}{}",
            base64::engine::general_purpose::STANDARD.encode(Sha1::digest(pw.as_bytes()))
        )
    }

    #[test]
    fn bcrypt_and_sha1_entries_verify_and_others_are_skipped_with_the_line() {
        let b = bcrypt::hash("bpass", 4).unwrap();
        let b2a = b.replacen("$2b$", "$2a$", 1);
        let b2y = b.replacen("$2b$", "$2y$", 1);
        let text = format!(
            "# comment\n\nalice:{b}\nbob:{sha}\ncarol:$apr1$xyz$abc\ndave:plaintext\nerin:{b2a}\nfrank:{b2y}\nnocolon\ngina:{{SHA}}bm90LTIwLWJ5dGVz\n",
            sha = sha("spass")
        );
        let p = Htpasswd::parse(&text, Path::new("/etc/users")).unwrap();
        assert_eq!(p.htpasswd.len(), 4);
        let cases = [
            ("alice", "bpass", true),
            ("alice", "bpasS", false),
            ("alice", "", false),
            ("bob", "spass", true),
            ("bob", "spass ", false),
            ("erin", "bpass", true),
            ("frank", "bpass", true),
            ("carol", "anything", false),
            ("dave", "plaintext", false),
            ("nobody", "bpass", false),
            ("Alice", "bpass", false),
        ];
        for (user, pw, ok) in cases {
            assert_eq!(p.htpasswd.verify(user, pw), ok, "{user}:{pw}");
        }
        let w = p.warnings.join("\n");
        assert!(w.contains("/etc/users:5: user \"carol\""), "{w}");
        assert!(w.contains("/etc/users:6: user \"dave\""), "{w}");
        assert!(w.contains("/etc/users:9: not user:hash"), "{w}");
        assert!(w.contains("/etc/users:10: user \"gina\""), "{w}");
        assert_eq!(p.warnings.len(), 4);
    }

    #[test]
    fn a_file_without_usable_entries_is_an_error_naming_it() {
        for text in ["", "# only a comment\n", "x:$apr1$a$b\n"] {
            let err = Htpasswd::parse(text, Path::new("/etc/users")).unwrap_err();
            assert!(err.starts_with("/etc/users: no usable user entry"), "{err}");
        }
        let err = Htpasswd::load(Path::new("/nonexistent/users")).unwrap_err();
        assert!(err.contains("cannot read /nonexistent/users"), "{err}");
    }

    #[test]
    fn a_malformed_bcrypt_hash_is_skipped() {
        let text = format!("bad:$2y$10$short\nok:{}\n", sha("p"));
        let p = Htpasswd::parse(&text, Path::new("f")).unwrap();
        assert_eq!(p.htpasswd.len(), 1);
        assert!(p.warnings[0].starts_with("f:1: user \"bad\": malformed bcrypt"));
    }

    #[test]
    fn debug_output_never_shows_hashes() {
        let p = Htpasswd::parse(&format!("u:{}\n", sha("p")), Path::new("f")).unwrap();
        assert!(!format!("{:?}", p.htpasswd).contains("SHA}"));
    }
}
