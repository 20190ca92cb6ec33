//! Faults made real for the hardening tests and the harness: hosts in network
//! namespaces that can be cut apart, floods of idle and slow connections, a small
//! filesystem that fills up. Namespaces and mounts need root (CI runs as root).

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use customs_node::files::{raise_open_files_limit, OPEN_FILES_RESERVE};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Runs a system command and requires success, naming it on failure.
pub fn sh(program: &str, args: &[&str]) {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (install iproute2/util-linux?): {e}"));
    assert!(
        output.status.success(),
        "{program} {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Hosts in network namespaces on one bridge, each with its own address. The test
/// process reaches every host through the bridge; [`Lab::cut`] makes two groups of
/// hosts unable to reach each other (packets dropped, connections left hanging, as a
/// broken link does), [`Lab::heal`] undoes it.
#[derive(Debug)]
pub struct Lab {
    tag: String,
    subnet: String,
    hosts: usize,
    cuts: Vec<(usize, usize)>,
}

impl Lab {
    pub fn new(hosts: usize) -> Lab {
        assert!(hosts < 250);
        // Unique per process and lab: a deleted namespace goes away asynchronously.
        static LABS: AtomicUsize = AtomicUsize::new(0);
        let pid = std::process::id() as usize;
        let lab = LABS.fetch_add(1, Ordering::Relaxed);
        let tag = format!("{:x}x{:x}", pid & 0xffff, lab & 0xff);
        let subnet = format!("10.{}.{}", 200 + lab % 50, pid % 250);
        let lab = Lab {
            tag,
            subnet,
            hosts,
            cuts: Vec::new(),
        };
        let bridge = lab.bridge();
        sh("ip", &["link", "add", "name", &bridge, "type", "bridge"]);
        sh(
            "ip",
            &[
                "addr",
                "add",
                &format!("{}.254/24", lab.subnet),
                "dev",
                &bridge,
            ],
        );
        sh("ip", &["link", "set", &bridge, "up"]);
        for i in 0..hosts {
            let ns = lab.namespace(i);
            let veth = lab.veth(i);
            sh("ip", &["netns", "add", &ns]);
            sh(
                "ip",
                &[
                    "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
                ],
            );
            sh("ip", &["link", "set", &veth, "master", &bridge, "up"]);
            sh(
                "ip",
                &[
                    "-n",
                    &ns,
                    "addr",
                    "add",
                    &format!("{}/24", lab.ip(i)),
                    "dev",
                    "eth0",
                ],
            );
            sh("ip", &["-n", &ns, "link", "set", "eth0", "up"]);
            sh("ip", &["-n", &ns, "link", "set", "lo", "up"]);
        }
        lab
    }

    fn bridge(&self) -> String {
        format!("cb{}", self.tag)
    }

    fn veth(&self, host: usize) -> String {
        format!("cv{}-{host}", self.tag)
    }

    fn namespace(&self, host: usize) -> String {
        format!("customs-{}-{host}", self.tag)
    }

    /// The address of `host`.
    pub fn ip(&self, host: usize) -> String {
        format!("{}.{}", self.subnet, host + 1)
    }

    /// A command that runs `program` inside `host`'s namespace.
    pub fn command(&self, host: usize, program: &Path) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.namespace(host)])
            .arg(program);
        command
    }

    fn blackhole(&self, verb: &str, from: usize, to: usize) {
        sh(
            "ip",
            &[
                "-n",
                &self.namespace(from),
                "route",
                verb,
                "blackhole",
                &format!("{}/32", self.ip(to)),
            ],
        );
    }

    /// Nothing passes between a host of `left` and a host of `right`, either way.
    pub fn cut(&mut self, left: &[usize], right: &[usize]) {
        for &a in left {
            for &b in right {
                self.blackhole("add", a, b);
                self.blackhole("add", b, a);
                self.cuts.push((a, b));
            }
        }
    }

    /// Undoes every cut.
    pub fn heal(&mut self) {
        for (a, b) in std::mem::take(&mut self.cuts) {
            self.blackhole("del", a, b);
            self.blackhole("del", b, a);
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for i in 0..self.hosts {
            let _ = Command::new("ip")
                .args(["link", "del", &self.veth(i)])
                .stderr(Stdio::null())
                .status();
            let _ = Command::new("ip")
                .args(["netns", "del", &self.namespace(i)])
                .stderr(Stdio::null())
                .status();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge()])
            .status();
    }
}

/// Connections held open against `target` from `sources` (loopback addresses such as
/// 127.0.0.2 work without setup), `per_source` from each. A connection the server
/// closes is opened again, so the pressure stays until the flood is dropped. With
/// `slow_bytes`, each connection sends that request text one byte every 500 ms
/// (slowloris) instead of nothing.
#[derive(Debug)]
pub struct Flood {
    stop: Arc<AtomicBool>,
    open: Arc<AtomicUsize>,
    reopened: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Flood {
    pub fn start(
        target: SocketAddr,
        sources: &[IpAddr],
        per_source: usize,
        slow_bytes: Option<&'static [u8]>,
    ) -> Flood {
        // The flood's own sockets, and a margin for the test's other files.
        let wanted = (sources.len() * per_source) as u64 + 2 * OPEN_FILES_RESERVE;
        raise_open_files_limit(wanted);
        let stop = Arc::new(AtomicBool::new(false));
        let open = Arc::new(AtomicUsize::new(0));
        let reopened = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for source in sources {
            for _ in 0..per_source {
                let (stop, open, reopened, source) =
                    (stop.clone(), open.clone(), reopened.clone(), *source);
                tasks.push(tokio::spawn(async move {
                    let mut first = true;
                    while !stop.load(Ordering::Relaxed) {
                        if !first {
                            reopened.fetch_add(1, Ordering::Relaxed);
                        }
                        first = false;
                        let Ok(mut stream) = connect_from(source, target).await else {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        };
                        open.fetch_add(1, Ordering::Relaxed);
                        hold(&mut stream, slow_bytes, &stop).await;
                        open.fetch_sub(1, Ordering::Relaxed);
                    }
                }));
            }
        }
        Flood {
            stop,
            open,
            reopened,
            tasks,
        }
    }

    /// Connections the flood keeps (or tries to keep) open.
    pub fn connections(&self) -> usize {
        self.tasks.len()
    }

    /// Connections open right now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Connections the server closed (and the flood opened again).
    pub fn reopened(&self) -> usize {
        self.reopened.load(Ordering::Relaxed)
    }

    pub async fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.abort();
            let _ = task.await;
        }
    }
}

/// A TCP connection to `target` from the local address `source`.
pub async fn connect_from(source: IpAddr, target: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = match source {
        IpAddr::V4(_) => TcpSocket::new_v4()?,
        IpAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.bind(SocketAddr::new(source, 0))?;
    socket.connect(target).await
}

/// Keeps a connection open (sending `slow_bytes` a byte at a time) until the server
/// closes it or the flood stops.
async fn hold(stream: &mut TcpStream, slow_bytes: Option<&[u8]>, stop: &AtomicBool) {
    let mut buf = [0u8; 1024];
    let mut next = 0;
    while !stop.load(Ordering::Relaxed) {
        let read = tokio::time::timeout(Duration::from_millis(500), stream.read(&mut buf)).await;
        match read {
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(_)) => {}
            Err(_) => {
                if let Some(bytes) = slow_bytes {
                    let byte = bytes[next % bytes.len()];
                    next += 1;
                    if stream.write_all(&[byte]).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

/// `count` loopback addresses other than 127.0.0.1 (each a different "host").
pub fn loopback_sources(count: usize) -> Vec<IpAddr> {
    (0..count)
        .map(|i| IpAddr::from([127, 1 + (i / 250) as u8, 0, (i % 250) as u8 + 2]))
        .collect()
}

/// A tmpfs of `size_mib` mounted at `path` (made if missing), unmounted on drop.
#[derive(Debug)]
pub struct SmallFilesystem {
    path: PathBuf,
}

impl SmallFilesystem {
    pub fn mount(path: &Path, size_mib: u32) -> SmallFilesystem {
        std::fs::create_dir_all(path).expect("mount point");
        sh(
            "mount",
            &[
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size_mib}m"),
                "tmpfs",
                path.to_str().expect("utf-8"),
            ],
        );
        SmallFilesystem {
            path: path.to_path_buf(),
        }
    }

    /// Fills what is left with one file (removed by [`SmallFilesystem::free`]).
    pub fn fill(&self) {
        use std::io::Write as _;
        let mut file = std::fs::File::create(self.filler()).expect("filler");
        let chunk = vec![0u8; 64 * 1024];
        while file.write_all(&chunk).is_ok() {}
        let small = [0u8; 512];
        while file.write_all(&small).is_ok() {}
        let _ = file.sync_all();
    }

    pub fn free(&self) {
        std::fs::remove_file(self.filler()).expect("filler removed");
    }

    fn filler(&self) -> PathBuf {
        self.path.join("filler")
    }
}

impl Drop for SmallFilesystem {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A child process killed on drop (a failing test leaves no node running).
#[derive(Debug)]
pub struct Running(pub Option<Child>);

impl Running {
    pub fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("running")
    }

    /// SIGTERM; the exit status and how long the exit took (failing after `within`).
    pub fn terminate(&mut self, within: Duration) -> (std::process::ExitStatus, Duration) {
        let result = crate::process::terminate_within(self.child(), within);
        // Exited and reaped.
        self.0 = None;
        result
    }

    /// SIGKILL, and reaped.
    pub fn kill(&mut self) {
        let child = self.child();
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        self.0 = None;
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
