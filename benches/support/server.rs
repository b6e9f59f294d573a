//! Shared by the benchmarks: the real `s3kms` binary, started as a child process.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A running `s3kms serve`, killed when dropped.
pub struct RunningServer {
    /// The process (for its pid: CPU time and RSS come from `/proc/<pid>`).
    pub child: Child,
    /// `127.0.0.1:<port>` from its ready line.
    pub authority: String,
}

impl RunningServer {
    /// Writes `config` to `<dir>/config.toml`, starts `s3kms serve` on it and waits for the
    /// `s3kms listening on http://…` line.
    pub fn start(dir: &Path, config: &str) -> RunningServer {
        std::fs::create_dir_all(dir).expect("server dir");
        let path = dir.join("config.toml");
        std::fs::write(&path, config).expect("config");
        let mut child = Command::new(env!("CARGO_BIN_EXE_s3kms"))
            .args(["serve", "--config"])
            .arg(&path)
            .env("S3KMS_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .expect("start s3kms");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("ready line");
        let authority = line.trim().rsplit("http://").next().expect("address").to_owned();
        RunningServer { child, authority }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
