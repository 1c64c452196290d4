//! `logging_filename`: a log file rotated exactly as oauth2-proxy rotates its own, which is
//! lumberjack v2's scheme (gopkg.in/natefinch/lumberjack.v2, read from its source):
//!
//! * the file is opened on the first write: appended to while it stays under the size limit,
//!   rotated first when that write would reach it;
//! * a write that would take the file past `logging_max_size` megabytes (0 means 100) renames
//!   it to `NAME-2006-01-02T15-04-05.000.EXT` (the rotation time, UTC unless
//!   `logging_local_time`; before the extension, or at the end without one) and starts a new
//!   file with the old one's permissions (0600 for the first);
//! * after each rotation (and once at the first write) a background "mill" removes rotated
//!   files beyond the `logging_max_backups` newest (a file and its `.gz` count once) and those
//!   whose name's time is older than `logging_max_age` days (that time is read as UTC, as
//!   lumberjack does), then gzips the remaining uncompressed ones to `NAME-<time>.EXT.gz` when
//!   `logging_compress`;
//! * a single write larger than the limit fails (the line is dropped).
//!
//! Why not a crate: the size-based rotating writers on crates.io (`file-rotate`,
//! `rolling-file`) name backups `NAME.EXT.<n|time>` and cannot combine an age and a count limit;
//! log shippers and cleanup jobs written for oauth2-proxy match lumberjack's names, so the
//! scheme is implemented here. Lines are written by the log worker thread only (never by a
//! request): a write that rotates or a slow disk delays logging, not requests.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::time::{Duration, SystemTime};

/// lumberjack's `backupTimeFormat`, `2006-01-02T15-04-05.000`, in chrono's notation.
const BACKUP_TIME_FORMAT: &str = "%Y-%m-%dT%H-%M-%S%.3f";
/// Length of a formatted backup time.
const BACKUP_TIME_LEN: usize = "2006-01-02T15-04-05.000".len();
const COMPRESS_SUFFIX: &str = ".gz";
const MEGABYTE: u64 = 1024 * 1024;
/// lumberjack's default size limit, in megabytes.
const DEFAULT_MAX_SIZE_MB: u64 = 100;
/// Lines collected before they are written to the file (the log worker also flushes after
/// every batch it takes from its queue).
const BUFFER_BYTES: usize = 64 * 1024;

/// How the file rotates (oauth2-proxy's `logging_*` options).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rotation {
    /// `logging_max_size` in megabytes; 0 means 100.
    pub max_size_mb: u64,
    /// `logging_max_age` in days; 0: no age limit.
    pub max_age_days: u64,
    /// `logging_max_backups`; 0: every rotated file is kept (within the age limit).
    pub max_backups: usize,
    /// `logging_local_time`: backup names in local time (else UTC).
    pub local_time: bool,
    /// `logging_compress`: gzip rotated files.
    pub compress: bool,
}

impl Rotation {
    /// The size limit in bytes.
    pub fn max_bytes(&self) -> u64 {
        let mb = if self.max_size_mb == 0 {
            DEFAULT_MAX_SIZE_MB
        } else {
            self.max_size_mb
        };
        mb.saturating_mul(MEGABYTE)
    }
}

/// `(prefix, ext)` of a log file name as lumberjack splits it: `app.log` → `("app-", ".log")`;
/// `ext` is Go's `filepath.Ext` (from the last dot of the name, empty without one).
pub fn prefix_and_ext(file_name: &str) -> (String, String) {
    let ext = match file_name.rfind('.') {
        Some(i) => &file_name[i..],
        None => "",
    };
    let stem = &file_name[..file_name.len() - ext.len()];
    (format!("{stem}-"), ext.to_owned())
}

/// The formatted rotation time of a backup name, UTC or local.
pub fn backup_time(at: SystemTime, local: bool) -> String {
    let utc = chrono::DateTime::<chrono::Utc>::from(at);
    if local {
        utc.with_timezone(&chrono::Local)
            .format(BACKUP_TIME_FORMAT)
            .to_string()
    } else {
        utc.format(BACKUP_TIME_FORMAT).to_string()
    }
}

/// The name the current file is renamed to when it rotates at `at`.
pub fn backup_name(path: &Path, at: SystemTime, local: bool) -> PathBuf {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (prefix, ext) = prefix_and_ext(&file_name);
    path.with_file_name(format!("{prefix}{}{ext}", backup_time(at, local)))
}

/// The time in a backup's name (`prefix` + time + `ext`), read as UTC as lumberjack does (Go's
/// `time.Parse`, which also rejects impossible dates). `None`: not a backup of this file.
pub fn time_from_name(name: &str, prefix: &str, ext: &str) -> Option<SystemTime> {
    let ts = name.strip_prefix(prefix)?.strip_suffix(ext)?;
    if ts.len() != BACKUP_TIME_LEN {
        return None;
    }
    let b = ts.as_bytes();
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        let s = ts.get(r)?;
        if !s.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    if b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b'-' || b[16] != b'-' {
        return None;
    }
    if b[19] != b'.' {
        return None;
    }
    let year = i32::try_from(digits(0..4)?).ok()?;
    let date = chrono::NaiveDate::from_ymd_opt(year, digits(5..7)?, digits(8..10)?)?;
    let time = chrono::NaiveTime::from_hms_milli_opt(
        digits(11..13)?,
        digits(14..16)?,
        digits(17..19)?,
        digits(20..23)?,
    )?;
    Some(SystemTime::from(date.and_time(time).and_utc()))
}

/// What one mill run does with the rotated files found (`(name, time from the name)`):
/// `(remove, compress)`, lumberjack's `millRunOnce`.
pub fn mill_plan(
    mut files: Vec<(String, SystemTime)>,
    rotation: &Rotation,
    now: SystemTime,
) -> (Vec<String>, Vec<String>) {
    let mut remove = Vec::new();
    if rotation.max_backups == 0 && rotation.max_age_days == 0 && !rotation.compress {
        return (remove, Vec::new());
    }
    // Newest first.
    files.sort_by_key(|b| std::cmp::Reverse(b.1));
    if rotation.max_backups > 0 && rotation.max_backups < files.len() {
        let mut preserved = std::collections::HashSet::new();
        let mut remaining = Vec::new();
        for f in files {
            // A file and its compressed copy count once.
            let base = f.0.strip_suffix(COMPRESS_SUFFIX).unwrap_or(&f.0).to_owned();
            preserved.insert(base);
            if preserved.len() > rotation.max_backups {
                remove.push(f.0);
            } else {
                remaining.push(f);
            }
        }
        files = remaining;
    }
    if rotation.max_age_days > 0 {
        let age = Duration::from_secs(rotation.max_age_days.saturating_mul(24 * 3600));
        let cutoff = now.checked_sub(age).unwrap_or(SystemTime::UNIX_EPOCH);
        let (old, keep): (Vec<_>, Vec<_>) = files.into_iter().partition(|f| f.1 < cutoff);
        remove.extend(old.into_iter().map(|f| f.0));
        files = keep;
    }
    let compress = if rotation.compress {
        files
            .into_iter()
            .filter(|f| !f.0.ends_with(COMPRESS_SUFFIX))
            .map(|f| f.0)
            .collect()
    } else {
        Vec::new()
    };
    (remove, compress)
}

/// The rotated files of `path` in its directory, with the times in their names.
fn old_log_files(path: &Path) -> io::Result<Vec<(String, SystemTime)>> {
    let dir = parent_dir(path);
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (prefix, ext) = prefix_and_ext(&file_name);
    let gz_ext = format!("{ext}{COMPRESS_SUFFIX}");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let t = time_from_name(&name, &prefix, &ext)
            .or_else(|| time_from_name(&name, &prefix, &gz_ext));
        if let Some(t) = t {
            out.push((name, t));
        }
    }
    Ok(out)
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// One mill run: remove, then compress (errors are ignored, as lumberjack does: there is no
/// log left to report them to).
fn mill_run_once(path: &Path, rotation: &Rotation) {
    let Ok(files) = old_log_files(path) else {
        return;
    };
    let (remove, compress) = mill_plan(files, rotation, SystemTime::now());
    let dir = parent_dir(path);
    for name in remove {
        let _ = std::fs::remove_file(dir.join(name));
    }
    for name in compress {
        let src = dir.join(&name);
        let dst = dir.join(format!("{name}{COMPRESS_SUFFIX}"));
        if compress_file(&src, &dst).is_err() {
            let _ = std::fs::remove_file(&dst);
        }
    }
}

/// gzip `src` to `dst` (with `src`'s permissions), then remove `src`.
fn compress_file(src: &Path, dst: &Path) -> io::Result<()> {
    let mut input = File::open(src)?;
    let meta = input.metadata()?;
    let mut open = OpenOptions::new();
    open.write(true).create(true).truncate(true);
    set_mode(&mut open, &meta);
    let out = open.open(dst)?;
    let mut gz = flate2::write::GzEncoder::new(out, flate2::Compression::default());
    io::copy(&mut input, &mut gz)?;
    gz.finish()?.sync_all()?;
    drop(input);
    std::fs::remove_file(src)
}

#[cfg(unix)]
fn set_mode(open: &mut OpenOptions, like: &std::fs::Metadata) {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    open.mode(like.permissions().mode() & 0o7777);
}

#[cfg(not(unix))]
fn set_mode(_open: &mut OpenOptions, _like: &std::fs::Metadata) {}

#[cfg(unix)]
fn new_file_mode(open: &mut OpenOptions) {
    use std::os::unix::fs::OpenOptionsExt as _;
    open.mode(0o600);
}

#[cfg(not(unix))]
fn new_file_mode(_open: &mut OpenOptions) {}

/// The rotating log file: an [`io::Write`] for the log worker thread.
pub struct RotatingFile {
    path: PathBuf,
    rotation: Rotation,
    /// The size limit in bytes.
    max: u64,
    file: Option<File>,
    /// Bytes in the file plus `buf`.
    size: u64,
    buf: Vec<u8>,
    /// Wakes the mill thread (started on first use); a full slot means a run is pending.
    mill: Option<SyncSender<()>>,
}

impl RotatingFile {
    /// Nothing is opened until the first write.
    pub fn new(path: PathBuf, rotation: Rotation) -> Self {
        Self {
            path,
            max: rotation.max_bytes(),
            rotation,
            file: None,
            size: 0,
            buf: Vec::with_capacity(BUFFER_BYTES),
            mill: None,
        }
    }

    fn mill(&mut self) {
        if self.mill.is_none() {
            let (tx, rx) = sync_channel::<()>(1);
            let (path, rotation) = (self.path.clone(), self.rotation.clone());
            let started = std::thread::Builder::new()
                .name("authproxy-log-mill".into())
                .spawn(move || {
                    while rx.recv().is_ok() {
                        mill_run_once(&path, &rotation);
                    }
                });
            if started.is_err() {
                return;
            }
            self.mill = Some(tx);
        }
        if let Some(tx) = &self.mill {
            match tx.try_send(()) {
                Ok(()) | Err(TrySendError::Full(())) => {}
                Err(TrySendError::Disconnected(())) => self.mill = None,
            }
        }
    }

    /// Writes the buffered lines to the current file.
    fn write_buffer(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let result = match &mut self.file {
            Some(f) => f.write_all(&self.buf),
            None => Ok(()),
        };
        // Never keep (and grow) what could not be written: those lines are lost.
        self.buf.clear();
        result
    }

    fn open_existing_or_new(&mut self, write_len: u64) -> io::Result<()> {
        self.mill();
        let meta = match std::fs::metadata(&self.path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return self.open_new(),
            Err(e) => return Err(e),
        };
        if meta.len().saturating_add(write_len) >= self.max {
            return self.rotate();
        }
        match OpenOptions::new().append(true).open(&self.path) {
            Ok(f) => {
                self.file = Some(f);
                self.size = meta.len();
                Ok(())
            }
            // As lumberjack: a file that cannot be reopened is moved aside for a new one.
            Err(_) => self.open_new(),
        }
    }

    fn open_new(&mut self) -> io::Result<()> {
        std::fs::create_dir_all(parent_dir(&self.path))?;
        let mut open = OpenOptions::new();
        open.write(true).create(true).truncate(true);
        match std::fs::metadata(&self.path) {
            Ok(meta) => {
                set_mode(&mut open, &meta);
                let backup = backup_name(&self.path, SystemTime::now(), self.rotation.local_time);
                std::fs::rename(&self.path, backup)?;
            }
            Err(_) => new_file_mode(&mut open),
        }
        self.file = Some(open.open(&self.path)?);
        self.size = 0;
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        let flushed = self.write_buffer();
        self.file = None;
        self.open_new()?;
        self.mill();
        flushed
    }
}

impl Write for RotatingFile {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        let len = line.len() as u64;
        let max = self.max;
        if len > max {
            return Err(io::Error::other(format!(
                "write length {len} exceeds maximum file size {max}"
            )));
        }
        if self.file.is_none() {
            self.open_existing_or_new(len)?;
        }
        if self.size.saturating_add(len) > max {
            self.rotate()?;
        }
        self.buf.extend_from_slice(line);
        self.size = self.size.saturating_add(len);
        if self.buf.len() >= BUFFER_BYTES {
            self.write_buffer()?;
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.write_buffer()?;
        match &mut self.file {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for RotatingFile {
    fn drop(&mut self) {
        let _ = self.write_buffer();
    }
}

#[cfg(test)]
mod tests;
