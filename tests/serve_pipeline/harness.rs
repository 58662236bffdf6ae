//! A small harness: a fixture site from `tests/fixtures/pipeline/<name>/` copied into a
//! temporary folder, the built `iisn serve <site> --port 0 --log-format json` running on it,
//! and raw HTTP/1.1 over a TCP socket (so that request targets go out exactly as written:
//! encoded dots, backslashes, double encoding).
//!
//! Without `node` on PATH, [`Site::new`] prints a skip note and returns `None`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub const TIMEOUT: Duration = Duration::from_secs(15);

pub fn node_available() -> bool {
    static NODE: OnceLock<bool> = OnceLock::new();
    let ok = *NODE.get_or_init(|| {
        Command::new("node")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if !ok {
        eprintln!("skipped: `node` is not on PATH (install Node.js to run the pipeline tests)");
    }
    ok
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read fixture") {
        let e = e.expect("entry");
        let target = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copy");
        }
    }
}

/// A copy of a fixture site.
pub struct Site {
    _tmp: tempfile::TempDir,
    pub root: PathBuf,
    tmpdir: PathBuf,
}

impl Site {
    pub fn new(fixture: &str) -> Option<Site> {
        if !node_available() {
            return None;
        }
        let tmp = tempfile::tempdir().expect("tempdir");
        let base = std::fs::canonicalize(tmp.path()).expect("canonical");
        let root = base.join("site");
        copy_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/pipeline")
                .join(fixture),
            &root,
        );
        let tmpdir = base.join("tmp");
        std::fs::create_dir_all(&tmpdir).expect("tmpdir");
        Some(Site {
            _tmp: tmp,
            root,
            tmpdir,
        })
    }

    pub fn write(&self, rel: &str, bytes: &[u8]) {
        let p = self.root.join(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        std::fs::write(p, bytes).expect("write");
    }

    /// The folder above the site (outside it), for traversal targets.
    pub fn outside(&self) -> PathBuf {
        self.root.parent().expect("parent").to_path_buf()
    }

    pub fn serve(&self, args: &[&str]) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_iisn"));
        cmd.arg("serve")
            .arg(&self.root)
            .args(["--port", "0", "--log-format", "json", "--no-watch"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, _) in std::env::vars_os() {
            let n = k.to_string_lossy().to_ascii_uppercase();
            if n.starts_with("IISNODE_") || n.starts_with("IISN_") || n == "NODE_ENV" {
                cmd.env_remove(&k);
            }
        }
        cmd.env_remove("XDG_RUNTIME_DIR")
            .env("TMPDIR", &self.tmpdir)
            .env("NO_COLOR", "1");
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = cmd.spawn().expect("spawn iisn");
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let log = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.contains("\"listening\"") {
                    let _ = tx.send(line.clone());
                }
                if let Ok(mut l) = log.lock() {
                    l.push(line);
                }
            }
        });
        let stderr = child.stderr.take().expect("stderr");
        let log = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Ok(mut l) = log.lock() {
                    l.push(format!("stderr: {line}"));
                }
            }
        });
        let line = match rx.recv_timeout(TIMEOUT) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "iisn did not listen in time:\n{}",
                    lines.lock().map(|l| l.join("\n")).unwrap_or_default()
                );
            }
        };
        let v: serde_json::Value = serde_json::from_str(&line).expect("json ready line");
        let url = v["url"].as_str().expect("url").to_string();
        let addr: SocketAddr = url
            .strip_prefix("http://")
            .and_then(|a| a.parse().ok())
            .expect("http://ip:port");
        Server { child, addr, lines }
    }
}

/// A running `iisn serve`.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    lines: Arc<Mutex<Vec<String>>>,
}

/// A response read off the wire.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Bytes received in all (0 when the connection was dropped without a response).
    pub raw_len: usize,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = find(b, b"\r\n") {
        let size = std::str::from_utf8(&b[..i])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok())
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = i + 2;
        let end = (start + size).min(b.len());
        out.extend_from_slice(&b[start..end]);
        b = b.get(end + 2..).unwrap_or(&[]);
    }
    out
}

impl Server {
    /// Sends `head` (request line and headers, without the final blank line; `Host` and
    /// `Connection: close` are added) and `body`, and reads the response to the end.
    pub fn send(&self, head: &str, body: &[u8]) -> Resp {
        let mut s = TcpStream::connect(self.addr).expect("connect");
        s.set_read_timeout(Some(TIMEOUT)).expect("timeout");
        let req = format!("{head}\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).expect("write head");
        if !body.is_empty() {
            // The server may answer (413) and close before reading the body.
            let _ = s.write_all(body);
        }
        let mut raw = Vec::new();
        let started = Instant::now();
        let mut buf = [0u8; 16384];
        loop {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(e) => panic!(
                    "reading the response to {head:?}: {e} after {:?}",
                    started.elapsed()
                ),
            }
        }
        let raw_len = raw.len();
        let Some(end) = find(&raw, b"\r\n\r\n") else {
            return Resp {
                status: 0,
                headers: Vec::new(),
                body: raw,
                raw_len,
            };
        };
        let head_text = String::from_utf8_lossy(&raw[..end]).into_owned();
        let mut lines = head_text.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        let mut body = raw[end + 4..].to_vec();
        if headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"))
        {
            body = dechunk(&body);
        }
        Resp {
            status,
            headers,
            body,
            raw_len,
        }
    }

    pub fn get(&self, target: &str) -> Resp {
        self.send(&format!("GET {target} HTTP/1.1"), b"")
    }

    pub fn get_with(&self, target: &str, headers: &[&str]) -> Resp {
        let mut head = format!("GET {target} HTTP/1.1");
        for h in headers {
            head.push_str("\r\n");
            head.push_str(h);
        }
        self.send(&head, b"")
    }

    /// What iisn printed so far (for failure messages).
    pub fn transcript(&self) -> String {
        self.lines.lock().map(|l| l.join("\n")).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- iisn output ---\n{}", self.transcript());
        }
        #[cfg(unix)]
        {
            let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
