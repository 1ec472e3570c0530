//! `--pidfd-socket PATH` on `create`, `run` and `exec` (runc 1.2+; runc's
//! pidfd-socket.bats): the caller's listener receives, before the command
//! returns, one message with a pidfd of the container's init (payload
//! `standard`) or of the exec'd process (`setns`), as runc's
//! tests/cmd/pidfd-kill reads it. Debian's runc 1.1.5 has no such flag, so
//! under it these tests skip.

use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;

use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};

use crate::common::{assert_clean_failure, is_brig, require_root, unique_id, Bundle, Rt};

const NO_FLAG: &str = "runc 1.1 has no --pidfd-socket";

/// A listener at a fresh path. The runtime's connection waits in its
/// backlog and its message in the connection, so both are read after the
/// runtime has returned, without blocking: anything missing by then was
/// not sent in time.
struct Receiver {
    _dir: tempfile::TempDir,
    path: PathBuf,
    listener: UnixListener,
}

impl Receiver {
    fn new() -> Receiver {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pidfd.sock");
        let listener = UnixListener::bind(&path).unwrap();
        listener.set_nonblocking(true).unwrap();
        Receiver {
            _dir: dir,
            path,
            listener,
        }
    }

    fn arg(&self) -> &str {
        self.path.to_str().unwrap()
    }

    /// (payload, the one descriptor), as runc's pidfd-kill reads them.
    fn received(self) -> (String, OwnedFd) {
        let (conn, _) = self
            .listener
            .accept()
            .expect("the runtime connected before it returned");
        let mut buf = [0u8; 4096];
        let mut iov = [IoSliceMut::new(&mut buf)];
        let mut cmsg = nix::cmsg_space!([RawFd; 2]);
        let msg = recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_CMSG_CLOEXEC | MsgFlags::MSG_DONTWAIT,
        )
        .expect("a message sent before the runtime returned");
        let mut fds = Vec::new();
        for c in msg.cmsgs().unwrap() {
            if let ControlMessageOwned::ScmRights(f) = c {
                fds.extend(f);
            }
        }
        let n = msg.bytes;
        assert_eq!(fds.len(), 1, "one descriptor in one message");
        let payload = String::from_utf8_lossy(&buf[..n]).into_owned();
        // SAFETY: the kernel installed this descriptor for us just now.
        (payload, unsafe { OwnedFd::from_raw_fd(fds[0]) })
    }
}

/// The pid a pidfd refers to, as the kernel shows it (fdinfo `Pid:`).
fn pid_of_pidfd(fd: &OwnedFd) -> i64 {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .unwrap_or_else(|| panic!("not a pidfd: {info}"))
        .trim()
        .parse()
        .unwrap()
}

/// pidfd_send_signal(2), as pidfd-kill does.
fn pidfd_kill(fd: &OwnedFd, sig: i32) {
    // SAFETY: a valid pidfd, a signal number, no siginfo, no flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    assert_eq!(
        r,
        0,
        "pidfd_send_signal: {}",
        std::io::Error::last_os_error()
    );
}

fn sleeping(rt: &Rt) -> Bundle {
    let mut b = Bundle::new(rt);
    b.args(&["sleep", "1000"]);
    b
}

fn init_pid(rt: &Rt, id: &str) -> i64 {
    rt.state(id).expect("state")["pid"].as_i64().unwrap()
}

#[test]
fn create_and_run_send_the_init_pidfd() {
    require_root!();
    if !is_brig() {
        return crate::skip::test(NO_FLAG);
    }
    let rt = Rt::new();
    let b = sleeping(&rt);

    // create: the init waits for start; SIGTERM through the pidfd stops
    // it, as pidfd-socket.bats does.
    let r = Receiver::new();
    let id = unique_id("pidfd-create");
    rt.create(&b, &id, &["--pidfd-socket", r.arg()])
        .expect_ok("create --pidfd-socket");
    let (payload, fd) = r.received();
    assert_eq!(payload, "standard");
    assert_eq!(pid_of_pidfd(&fd), init_pid(&rt, &id));
    pidfd_kill(&fd, libc::SIGTERM);
    rt.wait_status(&id, "stopped");

    let r = Receiver::new();
    let id = unique_id("pidfd-run");
    rt.run_bundle(&b, &id, &["-d", "--pidfd-socket", r.arg()])
        .expect_ok("run -d --pidfd-socket");
    let (payload, fd) = r.received();
    assert_eq!(payload, "standard");
    assert_eq!(pid_of_pidfd(&fd), init_pid(&rt, &id));
    pidfd_kill(&fd, libc::SIGKILL);
    rt.wait_status(&id, "stopped");
}

#[test]
fn exec_sends_the_process_pidfd() {
    require_root!();
    if !is_brig() {
        return crate::skip::test(NO_FLAG);
    }
    let rt = Rt::new();
    let b = sleeping(&rt);
    let id = unique_id("pidfd-exec");
    rt.run_bundle(&b, &id, &["-d"]).expect_ok("run -d");

    let r = Receiver::new();
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("exec.pid");
    let pf = pid_file.to_str().unwrap();
    rt.run(&[
        "exec",
        "-d",
        "--pid-file",
        pf,
        "--pidfd-socket",
        r.arg(),
        &id,
        "sleep",
        "1000",
    ])
    .expect_ok("exec --pidfd-socket");
    let (payload, fd) = r.received();
    assert_eq!(payload, "setns");
    let pid: i64 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(pid_of_pidfd(&fd), pid);
    assert_ne!(pid, init_pid(&rt, &id));
    pidfd_kill(&fd, libc::SIGKILL);
    // Dead: gone, or a zombie of the container's init (sleep reaps none).
    let gone = std::time::Instant::now() + crate::common::DEADLINE;
    while std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z ")) {
        assert!(std::time::Instant::now() < gone, "exec'd {pid} still alive");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(rt.state(&id).unwrap()["status"], "running");
}

/// A socket that cannot be connected fails the command before anything
/// exists, in one line naming the path.
#[test]
fn unconnectable_socket_fails_first() {
    require_root!();
    if !is_brig() {
        return crate::skip::test(NO_FLAG);
    }
    let rt = Rt::new();
    let b = sleeping(&rt);
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.sock");
    let arg = missing.to_str().unwrap();

    let id = unique_id("pidfd-bad");
    let out = rt.create(&b, &id, &["--pidfd-socket", arg]);
    assert_clean_failure(&rt, &out, &id, "create with a missing pidfd socket");
    assert!(out.stderr.contains("pidfd socket"), "{out:?}");
    assert!(out.stderr.contains(arg), "{out:?}");

    let id = unique_id("pidfd-bad-exec");
    rt.run_bundle(&b, &id, &["-d"]).expect_ok("run -d");
    let out = rt.run(&["exec", "--pidfd-socket", arg, &id, "true"]);
    assert!(!out.ok(), "{out:?}");
    assert!(out.stderr.contains("pidfd socket"), "{out:?}");
    let ps = rt.run(&["ps", "--format", "json", &id]).expect_ok("ps");
    assert_eq!(ps.json().as_array().unwrap().len(), 1, "only the init");
}
