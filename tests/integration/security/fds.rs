//! The caller's descriptors (CVE-2024-21626 class): a directory of the
//! host held open by whoever runs the runtime must neither stay open in a
//! created container's init nor serve as a path for the container's
//! program or cwd.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

use crate::common::{is_brig, require_root, unique_id, Bundle, Rt};

/// The fd number the caller leaves open (without close-on-exec).
const LEAKED: i32 = 9;

/// `cmd` with `dir` open at fd LEAKED, inheritable, as a careless client
/// (or a test framework's own pipes) would leave it.
fn with_leaked_fd(cmd: &mut Command, dir: &OwnedFd) {
    let fd = dir.as_raw_fd();
    // SAFETY: dup2 is async-signal-safe; it only places the test's
    // descriptor at LEAKED (without close-on-exec) in the child before exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(fd, LEAKED) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

fn open_dir(path: &std::path::Path) -> OwnedFd {
    std::fs::File::open(path).unwrap().into()
}

/// runc's "detect fd leak" check: right after create, init holds none of
/// the caller's descriptors.
#[test]
fn created_init_holds_no_caller_descriptor() {
    require_root!();
    if !is_brig() {
        // runc 1.1 keeps them open in init until execve (close-on-exec
        // only); runc's later "detect fd leak" test passes for pipes only.
        return crate::skip::test("runc 1.1 keeps the caller's descriptors in a created init");
    }
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    b.args(&["sleep", "30"]);
    let host_dir = tempfile::tempdir().unwrap();
    let dir = open_dir(host_dir.path());
    let id = unique_id("fdleak");
    rt.track(&id);
    let mut cmd = rt.command(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    with_leaked_fd(&mut cmd, &dir);
    rt.run_cmd(cmd).expect_ok("create");
    let pid = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
    let mut targets = Vec::new();
    for e in std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap() {
        let e = e.unwrap();
        let target = std::fs::read_link(e.path()).unwrap_or_default();
        targets.push(format!(
            "{} -> {}",
            e.file_name().to_string_lossy(),
            target.display()
        ));
    }
    let leaked: Vec<_> = targets
        .iter()
        .filter(|t| t.contains(&*host_dir.path().to_string_lossy()))
        .collect();
    assert!(leaked.is_empty(), "caller's directory in init: {targets:?}");
    assert!(
        !targets.iter().any(|t| t.starts_with(&format!("{LEAKED} "))),
        "fd {LEAKED} open in init: {targets:?}"
    );
}

/// `process.args[0]` as `/proc/self/fd/N/...` through the caller's host
/// directory must not run the host's binary.
#[test]
fn caller_descriptor_is_no_path_to_a_host_binary() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    let host_dir = tempfile::tempdir().unwrap();
    // A host binary the container's rootfs does not have.
    std::fs::copy("/bin/busybox", host_dir.path().join("host-only")).unwrap();
    let dir = open_dir(host_dir.path());
    b.args(&[
        &format!("/proc/self/fd/{LEAKED}/host-only"),
        "echo",
        "escaped",
    ]);
    let id = unique_id("fdpath");
    rt.track(&id);
    let mut cmd = rt.command(&["run", "--bundle", b.path().to_str().unwrap(), &id]);
    with_leaked_fd(&mut cmd, &dir);
    let out = rt.run_cmd(cmd);
    assert!(
        !out.stdout.contains("escaped"),
        "ran the host's binary: {out:?}"
    );
    assert!(!out.ok(), "expected a failure: {out:?}");

    // The same through the cwd.
    b.args(&["pwd"]);
    b.edit(|c| c["process"]["cwd"] = serde_json::json!(format!("/proc/self/fd/{LEAKED}")));
    let id = unique_id("fdcwd");
    rt.track(&id);
    let mut cmd = rt.command(&["run", "--bundle", b.path().to_str().unwrap(), &id]);
    with_leaked_fd(&mut cmd, &dir);
    let out = rt.run_cmd(cmd);
    assert!(!out.ok(), "cwd through the caller's fd: {out:?}");
}
