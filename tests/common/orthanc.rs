//! A real Orthanc (Debian's `orthanc` and `orthanc-dicomweb`, installed by scripts/test.sh
//! with its own service kept from starting) for the DICOMweb tests, run by the test with a
//! configuration of its own: HTTP on a port of its choice, the DICOM server off, storage in a
//! temporary folder. Orthanc 1.10 cannot bind one address, so it runs in a network namespace
//! of its own, whose only interface is loopback (root only): nothing outside the machine, or
//! on it, can reach it. Commands that talk to it run in that namespace (`nsenter`). Stopped
//! (killed) when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const PLUGIN: &str = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so";

pub struct Orthanc {
    child: Option<Child>,
    pid: u32,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Orthanc {
    /// Orthanc started and answering, or `None` (said) when not root: a network namespace
    /// needs root.
    pub fn start() -> Option<Self> {
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            println!("skipped: Orthanc runs in a network namespace of its own, which needs root");
            return None;
        }
        super::require_tool("Orthanc", "orthanc orthanc-dicomweb");
        assert!(
            Path::new(PLUGIN).exists(),
            "Orthanc's DICOMweb plugin is missing: `apt-get install orthanc-dicomweb` (scripts/test.sh --deps-only)"
        );
        let dir = tempfile::tempdir().unwrap();
        let port = 28042;
        let db = dir.path().join("db");
        std::fs::create_dir_all(&db).unwrap();
        let config = dir.path().join("orthanc.json");
        let json = serde_json::json!({
            "Name": "deidfs-test",
            "StorageDirectory": db,
            "IndexDirectory": db,
            "HttpPort": port,
            "DicomServerEnabled": false,
            "RemoteAccessAllowed": false,
            "AuthenticationEnabled": false,
            "Plugins": [PLUGIN],
            "DicomWeb": { "Enable": true, "Root": "/dicom-web/" },
        });
        std::fs::write(&config, json.to_string()).unwrap();
        let log = std::fs::File::create(dir.path().join("orthanc.log")).unwrap();
        let child = Command::new("unshare")
            .args(["--net", "--", "sh", "-c"])
            .arg(format!(
                "ip link set lo up && exec Orthanc '{}'",
                config.display()
            ))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start Orthanc");
        let pid = child.id();
        let server = Self {
            child: Some(child),
            pid,
            port,
            dir,
        };
        let start = Instant::now();
        while !server.answers() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "Orthanc did not come up: {}",
                std::fs::read_to_string(server.dir.path().join("orthanc.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(server)
    }

    /// `program` run in Orthanc's network namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net=/proc/{}/ns/net", self.pid))
            .arg(program);
        cmd
    }

    /// The DICOMweb root, as deidfs takes it.
    pub fn source(&self) -> String {
        format!("dicomweb+http://127.0.0.1:{}/dicom-web", self.port)
    }

    fn rest(&self, args: &[&str]) -> Option<serde_json::Value> {
        let out = self
            .command("curl")
            .args(["-s", "-m", "30"])
            .args(args)
            .stderr(Stdio::null())
            .output()
            .ok()?;
        serde_json::from_slice(&out.stdout).ok()
    }

    fn answers(&self) -> bool {
        self.rest(&[&format!("http://127.0.0.1:{}/system", self.port)])
            .is_some_and(|s| s.get("ApiVersion").is_some())
    }

    /// Stores `file` with Orthanc's REST API: where it is in the DICOMweb tree
    /// (`STUDY/SERIES/SOP.dcm`), or `None` if Orthanc does not take it.
    pub fn store(&self, file: &Path) -> Option<PathBuf> {
        let data = format!("@{}", file.display());
        let url = format!("http://127.0.0.1:{}/instances", self.port);
        let stored = self.rest(&["-X", "POST", "--data-binary", &data, &url])?;
        if stored["Status"] != "Success" {
            return None;
        }
        let id = stored["ID"].as_str()?;
        let tags = self.rest(&[&format!(
            "http://127.0.0.1:{}/instances/{id}/simplified-tags",
            self.port
        )])?;
        let uid = |k: &str| tags[k].as_str().map(str::to_string);
        Some(
            PathBuf::from(uid("StudyInstanceUID")?)
                .join(uid("SeriesInstanceUID")?)
                .join(format!("{}.dcm", uid("SOPInstanceUID")?)),
        )
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill of the process we started (sh exec'd Orthanc: the same pid).
            unsafe { libc::kill(c.id() as i32, libc::SIGKILL) };
            let _ = c.wait();
        }
    }
}

impl Drop for Orthanc {
    fn drop(&mut self) {
        self.stop();
    }
}
