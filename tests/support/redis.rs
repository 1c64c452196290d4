//! Real Redis for tests: Debian's `redis-server` / `redis-sentinel` (installed with apt-get when
//! missing, as scripts/test.sh's `ensure_apt` does; a test fails loudly if that is impossible),
//! started on free 127.0.0.1 ports in a private directory: a standalone server (optionally with
//! ACL users, TLS or a unix socket), a Sentinel set (1 master, 1 replica, 3 sentinels) and a
//! 3-master Cluster. Every wait is bounded; every process is killed when its handle drops.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long a server gets to answer PING after starting.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// Install redis-server, redis-sentinel and redis-cli when missing (once per test binary).
pub fn ensure_redis() {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    let result = DONE.get_or_init(|| {
        let have = |c: &str| {
            Command::new("sh")
                .args(["-c", &format!("command -v {c}")])
                .output()
                .is_ok_and(|o| o.status.success())
        };
        if have("redis-server") && have("redis-sentinel") && have("redis-cli") {
            return Ok(());
        }
        let root = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false);
        let prefix: &[&str] = if root { &[] } else { &["sudo", "-n"] };
        let run = |args: &[&str]| {
            let mut cmd = Command::new(if root { args[0] } else { prefix[0] });
            if root {
                cmd.args(&args[1..]);
            } else {
                cmd.args(&prefix[1..]).args(args);
            }
            cmd.env("DEBIAN_FRONTEND", "noninteractive")
                .stdin(Stdio::null())
                .output()
                .map_err(|e| format!("{args:?}: {e}"))
                .and_then(|o| {
                    if o.status.success() {
                        Ok(())
                    } else {
                        Err(format!(
                            "{args:?} failed: {}",
                            String::from_utf8_lossy(&o.stderr)
                        ))
                    }
                })
        };
        run(&["apt-get", "update", "-qq"])?;
        run(&[
            "apt-get",
            "install",
            "-y",
            "-qq",
            "--no-install-recommends",
            "redis-server",
            "redis-sentinel",
            "redis-tools",
        ])?;
        if have("redis-server") && have("redis-sentinel") && have("redis-cli") {
            Ok(())
        } else {
            Err("redis-server, redis-sentinel or redis-cli still not on PATH after apt-get".into())
        }
    });
    if let Err(e) = result {
        panic!(
            "the Redis tests need Debian's redis-server and redis-sentinel and could not \
             install them (run as root or with passwordless sudo): {e}"
        );
    }
}

/// A free TCP port on 127.0.0.1 whose cluster bus port (+10000) is free too.
pub fn free_port() -> u16 {
    for _ in 0..200 {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = l.local_addr().expect("local addr").port();
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
    panic!("no free port pair found");
}

fn work_dir(kind: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "redis-tests/{}-{kind}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create redis work dir");
    dir
}

/// The committed test-only TLS material (a throwaway CA and a certificate for 127.0.0.1).
pub fn tls_fixtures() -> (PathBuf, PathBuf, PathBuf) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
    (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}

/// What a standalone server is started with.
#[derive(Clone, Debug, Default)]
pub struct ServerConfig {
    /// `requirepass` (the default user's password).
    pub password: Option<String>,
    /// Extra `user` ACL lines, e.g. `alice on >secret ~* &* +@all`.
    pub acl_users: Vec<String>,
    /// Serve TLS only (on the server's port) with the fixtures' certificate.
    pub tls: bool,
    /// Also listen on a unix socket.
    pub unix_socket: bool,
    /// `replicaof 127.0.0.1 <port>`
    pub replica_of: Option<u16>,
    /// `cluster-enabled yes`
    pub cluster: bool,
    /// Password a replica uses towards its master (`masterauth`).
    pub master_auth: Option<String>,
}

/// One redis-server process.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    pub dir: PathBuf,
    pub config: ServerConfig,
    conf_path: PathBuf,
}

impl RedisServer {
    pub fn start(config: ServerConfig) -> Self {
        ensure_redis();
        let port = free_port();
        let dir = work_dir("server");
        let mut conf = vec![
            "bind 127.0.0.1".to_owned(),
            "protected-mode no".to_owned(),
            format!("dir {}", dir.display()),
            "save \"\"".to_owned(),
            "appendonly no".to_owned(),
            "daemonize no".to_owned(),
            format!("logfile {}", dir.join("redis.log").display()),
        ];
        if config.tls {
            let (ca, cert, key) = tls_fixtures();
            conf.push("port 0".into());
            conf.push(format!("tls-port {port}"));
            conf.push(format!("tls-cert-file {}", cert.display()));
            conf.push(format!("tls-key-file {}", key.display()));
            conf.push(format!("tls-ca-cert-file {}", ca.display()));
            conf.push("tls-auth-clients no".into());
        } else {
            conf.push(format!("port {port}"));
        }
        if let Some(p) = &config.password {
            conf.push(format!("requirepass {p}"));
        }
        for u in &config.acl_users {
            conf.push(format!("user {u}"));
        }
        if config.unix_socket {
            conf.push(format!("unixsocket {}", dir.join("redis.sock").display()));
            conf.push("unixsocketperm 700".into());
        }
        if let Some(m) = config.replica_of {
            conf.push(format!("replicaof 127.0.0.1 {m}"));
        }
        if let Some(a) = &config.master_auth {
            conf.push(format!("masterauth {a}"));
        }
        if config.cluster {
            conf.push("cluster-enabled yes".into());
            conf.push(format!(
                "cluster-config-file {}",
                dir.join("nodes.conf").display()
            ));
            conf.push("cluster-node-timeout 2000".into());
        }
        let conf_path = dir.join("redis.conf");
        std::fs::write(&conf_path, conf.join("\n") + "\n").expect("write redis.conf");
        let mut s = Self {
            child: None,
            port,
            dir,
            config,
            conf_path,
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .arg(&self.conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if self.try_cli(&["PING"]).is_ok_and(|o| o.contains("PONG")) {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "redis-server on port {} did not answer PING within {START_TIMEOUT:?}; log:\n{}",
                    self.port,
                    std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `redis-url`-style address for tests: `redis://127.0.0.1:<port>` (or `rediss://`).
    pub fn url(&self) -> String {
        let scheme = if self.config.tls { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    pub fn socket_path(&self) -> PathBuf {
        self.dir.join("redis.sock")
    }

    /// Run redis-cli against this server as the default user; panics on failure.
    pub fn cli(&self, args: &[&str]) -> String {
        self.try_cli(args)
            .unwrap_or_else(|e| panic!("redis-cli {args:?} on port {}: {e}", self.port))
    }

    pub fn try_cli(&self, args: &[&str]) -> Result<String, String> {
        let mut cmd = Command::new("redis-cli");
        cmd.args(["-h", "127.0.0.1", "-p", &self.port.to_string()]);
        if self.config.tls {
            let (ca, _, _) = tls_fixtures();
            cmd.arg("--tls").arg("--cacert").arg(ca);
        }
        if let Some(p) = &self.config.password {
            cmd.args(["--no-auth-warning", "-a", p]);
        }
        cli_output(cmd.args(args))
    }

    /// Kill the process (SIGKILL) and wait for it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start again on the same port with the same configuration.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn cli_output(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("run redis-cli: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() && !text.starts_with("ERR") && !text.contains("Could not connect") {
        Ok(text)
    } else {
        Err(format!("{text}{}", String::from_utf8_lossy(&out.stderr)))
    }
}

/// Wait (bounded) until `check` holds; panics with `what` otherwise.
pub fn wait_until(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One redis-sentinel process.
pub struct Sentinel {
    child: Option<Child>,
    pub port: u16,
    pub dir: PathBuf,
    password: Option<String>,
}

impl Sentinel {
    fn start(master_port: u16, master_auth: Option<&str>, password: Option<&str>) -> Self {
        let port = free_port();
        let dir = work_dir("sentinel");
        let mut conf = vec![
            format!("port {port}"),
            "bind 127.0.0.1".into(),
            "protected-mode no".into(),
            format!("dir {}", dir.display()),
            format!("logfile {}", dir.join("sentinel.log").display()),
            format!("sentinel monitor mymaster 127.0.0.1 {master_port} 2"),
            "sentinel down-after-milliseconds mymaster 1000".into(),
            "sentinel failover-timeout mymaster 6000".into(),
            "sentinel parallel-syncs mymaster 1".into(),
        ];
        if let Some(a) = master_auth {
            conf.push(format!("sentinel auth-pass mymaster {a}"));
        }
        if let Some(p) = password {
            conf.push(format!("requirepass {p}"));
        }
        let conf_path = dir.join("sentinel.conf");
        std::fs::write(&conf_path, conf.join("\n") + "\n").expect("write sentinel.conf");
        let child = Command::new("redis-sentinel")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-sentinel");
        let s = Self {
            child: Some(child),
            port,
            dir,
            password: password.map(str::to_owned),
        };
        wait_until("a sentinel to answer PING", START_TIMEOUT, || {
            s.try_cli(&["PING"]).is_ok_and(|o| o.contains("PONG"))
        });
        s
    }

    pub fn try_cli(&self, args: &[&str]) -> Result<String, String> {
        let mut cmd = Command::new("redis-cli");
        cmd.args(["-h", "127.0.0.1", "-p", &self.port.to_string()]);
        if let Some(p) = &self.password {
            cmd.args(["--no-auth-warning", "-a", p]);
        }
        cli_output(cmd.args(args))
    }

    /// The port of the master this sentinel currently reports.
    pub fn master_port(&self) -> Option<u16> {
        let out = self
            .try_cli(&["SENTINEL", "get-master-addr-by-name", "mymaster"])
            .ok()?;
        out.lines().nth(1)?.trim().parse().ok()
    }
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A master, one replica and three sentinels (quorum 2) monitoring `mymaster`.
pub struct SentinelSet {
    pub master: RedisServer,
    pub replica: RedisServer,
    pub sentinels: Vec<Sentinel>,
}

impl SentinelSet {
    /// `data_password`: requirepass of master and replica (and the sentinels' auth-pass);
    /// `sentinel_password`: requirepass of the sentinels.
    pub fn start(data_password: Option<&str>, sentinel_password: Option<&str>) -> Self {
        let data = ServerConfig {
            password: data_password.map(str::to_owned),
            master_auth: data_password.map(str::to_owned),
            ..Default::default()
        };
        let master = RedisServer::start(data.clone());
        let replica = RedisServer::start(ServerConfig {
            replica_of: Some(master.port),
            ..data
        });
        wait_until("the replica to sync", START_TIMEOUT, || {
            replica
                .try_cli(&["INFO", "replication"])
                .is_ok_and(|o| o.contains("master_link_status:up"))
        });
        let sentinels: Vec<Sentinel> = (0..3)
            .map(|_| Sentinel::start(master.port, data_password, sentinel_password))
            .collect();
        // Sentinels find the replica and each other through the master (hello messages every
        // 2 s); a failover needs both.
        wait_until(
            "the sentinels to discover each other and the replica",
            Duration::from_secs(30),
            || {
                sentinels.iter().all(|s| {
                    let others = s
                        .try_cli(&["SENTINEL", "sentinels", "mymaster"])
                        .map(|o| o.matches("runid").count())
                        .unwrap_or(0);
                    let replicas = s
                        .try_cli(&["SENTINEL", "replicas", "mymaster"])
                        .map(|o| o.matches("runid").count())
                        .unwrap_or(0);
                    others >= 2 && replicas >= 1
                })
            },
        );
        Self {
            master,
            replica,
            sentinels,
        }
    }

    pub fn sentinel_urls(&self) -> Vec<String> {
        self.sentinels
            .iter()
            .map(|s| format!("redis://127.0.0.1:{}", s.port))
            .collect()
    }
}

/// Three masters with `cluster-enabled yes`, joined with `redis-cli --cluster create`.
pub struct Cluster {
    pub nodes: Vec<RedisServer>,
}

impl Cluster {
    /// Three masters, no replicas.
    pub fn start() -> Self {
        Self::start_with_replicas(0)
    }

    /// Three masters with `replicas` replicas each (a master that fails is replaced by its
    /// replica after `cluster-node-timeout`, 2 s here).
    pub fn start_with_replicas(replicas: usize) -> Self {
        let nodes: Vec<RedisServer> = (0..3 * (1 + replicas))
            .map(|_| {
                RedisServer::start(ServerConfig {
                    cluster: true,
                    ..Default::default()
                })
            })
            .collect();
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let mut cmd = Command::new("redis-cli");
        cmd.arg("--cluster").arg("create").args(&addrs).args([
            "--cluster-replicas",
            &replicas.to_string(),
            "--cluster-yes",
        ]);
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .expect("run redis-cli --cluster create");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        wait_until(
            "cluster_state:ok on every node",
            Duration::from_secs(30),
            || {
                nodes.iter().all(|n| {
                    n.try_cli(&["CLUSTER", "INFO"])
                        .is_ok_and(|o| o.contains("cluster_state:ok"))
                })
            },
        );
        Self { nodes }
    }

    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }
}
