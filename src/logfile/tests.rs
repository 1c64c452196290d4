use super::*;

use std::io::Read as _;
use std::time::UNIX_EPOCH;

fn at(secs: u64, millis: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(secs * 1000 + millis)
}

fn rotation() -> Rotation {
    Rotation {
        max_size_mb: 1,
        max_age_days: 0,
        max_backups: 0,
        local_time: false,
        compress: false,
    }
}

/// A fresh directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "authproxy-logfile-{label}-{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn names_split_like_go_filepath_ext() {
    for (name, prefix, ext) in [
        ("app.log", "app-", ".log"),
        ("app", "app-", ""),
        ("a.b.log", "a.b-", ".log"),
        (".hidden", "-", ".hidden"),
        ("oauth2-proxy.txt", "oauth2-proxy-", ".txt"),
    ] {
        assert_eq!(
            prefix_and_ext(name),
            (prefix.to_owned(), ext.to_owned()),
            "{name}"
        );
    }
}

#[test]
fn backup_names_are_lumberjacks() {
    // lumberjack's documentation example: 6:30pm on Nov 4 2016, UTC.
    let t = at(1_478_284_200, 0);
    assert_eq!(
        backup_name(Path::new("/var/log/foo/server.log"), t, false),
        PathBuf::from("/var/log/foo/server-2016-11-04T18-30-00.000.log")
    );
    assert_eq!(
        backup_name(Path::new("/tmp/noext"), at(1_478_284_200, 7), false),
        PathBuf::from("/tmp/noext-2016-11-04T18-30-00.007")
    );
}

#[test]
fn backup_times_parse_back_as_utc_and_reject_anything_else() {
    let t = at(1_478_284_200, 123);
    let name = backup_name(Path::new("app.log"), t, false);
    let name = name.to_string_lossy();
    assert_eq!(time_from_name(&name, "app-", ".log"), Some(t));
    assert_eq!(
        time_from_name(&format!("{name}.gz"), "app-", ".log.gz"),
        Some(t)
    );
    for bad in [
        "app.log",
        "app-2016-11-04T18-30-00.log",
        "app-2016-13-04T18-30-00.000.log",
        "app-2016-02-30T18-30-00.000.log",
        "app-2016-11-04T25-30-00.000.log",
        "app-2016-11-04 18-30-00.000.log",
        "app-2016-11-04T18:30:00.000.log",
        "app-+016-11-04T18-30-00.000.log",
        "other-2016-11-04T18-30-00.000.log",
        "app-2016-11-04T18-30-00.000.txt",
    ] {
        assert_eq!(time_from_name(bad, "app-", ".log"), None, "{bad}");
    }
}

fn files(list: &[(&str, u64)]) -> Vec<(String, SystemTime)> {
    list.iter()
        .map(|(n, days_ago)| (n.to_string(), at(1_000_000_000 - days_ago * 86_400, 0)))
        .collect()
}

#[test]
fn the_mill_keeps_the_newest_backups_counting_a_file_and_its_gzip_once() {
    let now = at(1_000_000_000, 0);
    let r = Rotation {
        max_backups: 2,
        ..rotation()
    };
    let (remove, compress) = mill_plan(
        files(&[("d", 4), ("a", 1), ("b.gz", 2), ("b", 2), ("c", 3)]),
        &r,
        now,
    );
    assert_eq!(remove, vec!["c", "d"]);
    assert!(compress.is_empty());
}

#[test]
fn the_mill_removes_backups_older_than_max_age_and_compresses_the_rest() {
    let now = at(1_000_000_000, 0);
    let r = Rotation {
        max_age_days: 7,
        compress: true,
        ..rotation()
    };
    let (remove, compress) = mill_plan(
        files(&[("new", 1), ("old", 8), ("done.gz", 2), ("edge", 7)]),
        &r,
        now,
    );
    assert_eq!(remove, vec!["old"]);
    assert_eq!(compress, vec!["new", "edge"]);
    // Nothing to do at all: not even the directory is looked at.
    assert_eq!(
        mill_plan(files(&[("x", 100)]), &rotation(), now),
        (vec![], vec![])
    );
}

#[test]
fn rotation_size_defaults_to_100_megabytes() {
    assert_eq!(
        Rotation {
            max_size_mb: 0,
            ..rotation()
        }
        .max_bytes(),
        100 * 1024 * 1024
    );
    assert_eq!(rotation().max_bytes(), 1024 * 1024);
}

fn wait_for(dir: &TempDir, ok: impl Fn(&[String]) -> bool) -> Vec<String> {
    for _ in 0..200 {
        let names = dir.names();
        if ok(&names) {
            return names;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    dir.names()
}

#[test]
fn writes_rotate_before_a_line_would_pass_the_limit_and_the_mill_compresses_and_prunes() {
    let dir = TempDir::new("rotate");
    let path = dir.0.join("proxy.log");
    let r = Rotation {
        max_backups: 2,
        compress: true,
        ..rotation()
    };
    let mut f = RotatingFile::new(path.clone(), r);
    f.max = 100;
    let line = |i: usize| format!("line {i:03} {}\n", "x".repeat(30));
    assert_eq!(line(0).len(), 40);
    for i in 0..12 {
        f.write_all(line(i).as_bytes()).unwrap();
        f.flush().unwrap();
        // Distinct millisecond timestamps in the backup names.
        std::thread::sleep(Duration::from_millis(3));
    }
    // Two lines per file: 6 files were written, the last one is current.
    let mut current = String::new();
    File::open(&path)
        .unwrap()
        .read_to_string(&mut current)
        .unwrap();
    assert_eq!(current, format!("{}{}", line(10), line(11)));
    let names = wait_for(&dir, |n| {
        n.len() == 3 && n.iter().filter(|x| x.ends_with(".log.gz")).count() == 2
    });
    assert_eq!(names.len(), 3, "current + 2 backups: {names:?}");
    let backups: Vec<&String> = names.iter().filter(|n| *n != "proxy.log").collect();
    let mut newest = String::new();
    flate2::read::GzDecoder::new(File::open(dir.0.join(backups[1])).unwrap())
        .read_to_string(&mut newest)
        .unwrap();
    assert_eq!(newest, format!("{}{}", line(8), line(9)));
    for b in backups {
        assert!(
            time_from_name(b, "proxy-", ".log.gz").is_some(),
            "{b} is a lumberjack backup name"
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}

#[test]
fn an_existing_file_is_appended_to_or_rotated_first_and_oversized_lines_fail() {
    let dir = TempDir::new("existing");
    let path = dir.0.join("a.log");
    std::fs::write(&path, "old\n").unwrap();
    let mut f = RotatingFile::new(path.clone(), rotation());
    f.max = 10;
    f.write_all(b"new\n").unwrap();
    f.flush().unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "old\nnew\n");
    assert!(f.write_all(b"this line is too long\n").is_err());
    drop(f);
    // 8 bytes there + 2 would reach the limit of 10: the first write rotates.
    let mut f = RotatingFile::new(path.clone(), rotation());
    f.max = 10;
    f.write_all(b"z\n").unwrap();
    f.flush().unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "z\n");
    let names = dir.names();
    assert_eq!(names.len(), 2, "{names:?}");
    let backup = names.iter().find(|n| *n != "a.log").unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.0.join(backup)).unwrap(),
        "old\nnew\n"
    );
}
