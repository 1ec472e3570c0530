//! `terminal: true` with `--console-socket`: the pty master arrives over
//! the socket (SCM_RIGHTS, as runc sends it), and it drives a shell.

use std::fs::File;
use std::io::{IoSliceMut, Read, Write};
use std::os::fd::AsRawFd;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::sync::mpsc;

use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use serde_json::json;

use crate::common::{json_lines, require_root, unique_id, Bundle, Rt, DEADLINE};

/// Accepts one connection and receives (payload, fd).
pub(crate) fn receive_master(listener: UnixListener) -> (String, OwnedFd) {
    let (conn, _) = listener.accept().expect("accept console socket");
    let mut buf = [0u8; 4096];
    let mut cmsg = nix::cmsg_space!([RawFd; 1]);
    let mut iov = [IoSliceMut::new(&mut buf)];
    let msg = recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::empty(),
    )
    .expect("recvmsg");
    let mut fd = None;
    for c in msg.cmsgs().expect("cmsgs") {
        if let ControlMessageOwned::ScmRights(fds) = c {
            fd = fds.first().copied();
        }
    }
    let n = msg.bytes;
    let fd = fd.expect("no fd in the console message");
    let payload = String::from_utf8_lossy(&buf[..n]).into_owned();
    // SAFETY: the fd was just received and is owned by nobody else.
    (payload, unsafe { OwnedFd::from_raw_fd(fd) })
}

#[test]
fn console_socket_receives_the_pty_master() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    b.edit(|c| {
        c["process"]["terminal"] = json!(true);
        c["process"]["consoleSize"] = json!({"height": 30, "width": 100});
        c["process"]["args"] = json!(["sh"]);
    });
    let sock = b.path().join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(receive_master(listener));
    });

    let id = unique_id("tty");
    rt.create(&b, &id, &["--console-socket", sock.to_str().unwrap()])
        .expect_ok("create with console socket");
    let (payload, master) = rx.recv_timeout(DEADLINE).expect("pty master never arrived");
    // runc sends the name of the master it opened.
    assert!(payload.starts_with("/dev/"), "payload {payload:?}");

    rt.run(&["start", &id]).expect_ok("start");
    let mut master = File::from(master);
    master
        .write_all(b"echo $((6*7))marker; /probe; exit 3\n")
        .unwrap();
    let reader = master.try_clone().unwrap();
    let output = read_pty_to_end(reader, "shell");
    assert!(
        output.contains("42marker"),
        "no command output in {output:?}"
    );
    let facts = json_lines(&output)
        .into_iter()
        .find(|v| v.get("tty").is_some())
        .unwrap_or_else(|| panic!("no probe output in {output:?}"));
    for fd in ["0", "1", "2"] {
        assert_eq!(facts["tty"][fd]["isatty"], true, "fd {fd}: {facts}");
    }
    assert_eq!(facts["tty"]["0"]["size"], json!([30, 100]));
    rt.wait_status(&id, "stopped");
    rt.run(&["delete", &id]).expect_ok("delete");
}

/// Everything the pty's processes write, read on a thread until the last
/// slave descriptor closes (EIO); panics with `what` past DEADLINE.
pub fn read_pty_to_end(mut reader: File, what: &str) -> String {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
        }
        let _ = tx.send(String::from_utf8_lossy(&all).into_owned());
    });
    rx.recv_timeout(DEADLINE)
        .unwrap_or_else(|_| panic!("{what} never finished"))
}

/// No mount namespace (the host's mounts, chrooted into root.path): the
/// pty comes from the host's /dev, which is the container's; brig mounts
/// nothing into the host's mount namespace for it (runc mounts the
/// config's /dev under root.path there: runc's host-mntns.bats).
#[test]
fn a_terminal_without_a_mount_namespace() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    b.edit(|c| {
        c["process"]["terminal"] = json!(true);
        c["process"]["args"] = json!(["/probe"]);
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "mount");
        c["linux"]["maskedPaths"] = json!([]);
        c["linux"]["readonlyPaths"] = json!([]);
    });
    let sock = b.path().join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(receive_master(listener));
    });
    let id = unique_id("ttyhostmnt");
    let out = rt.create(&b, &id, &["--console-socket", sock.to_str().unwrap()]);
    if !crate::common::is_brig() && !out.ok() {
        // runc 1.1 mounts the config's /dev into root.path in the host's
        // mount namespace; this bundle's rootfs is a plain directory.
        return crate::skip::test(format!("runc: {}", out.stderr.trim()));
    }
    out.expect_ok("create without a mount namespace, with a terminal");
    let (_, master) = rx.recv_timeout(DEADLINE).expect("pty master never arrived");
    rt.run(&["start", &id]).expect_ok("start");
    let output = read_pty_to_end(File::from(master), "probe");
    let facts = json_lines(&output)
        .into_iter()
        .find(|v| v.get("tty").is_some())
        .unwrap_or_else(|| panic!("no probe output in {output:?}"));
    for fd in ["0", "1", "2"] {
        assert_eq!(facts["tty"][fd]["isatty"], true, "{facts}");
    }
    rt.run(&["delete", "--force", &id]).expect_ok("delete");
    if !crate::common::is_brig() {
        // runc mounts the config's /dev, /proc, ... under root.path in the
        // host's mount namespace and leaves them there (runc's own test
        // unmounts them).
        let _ = std::process::Command::new("umount")
            .arg("-R")
            .arg(b.rootfs())
            .status();
        return crate::skip::part("runc leaves its mounts under root.path on the host");
    }
    // Nothing was mounted under root.path on the host.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let root = b.rootfs();
    assert!(
        !mounts.lines().any(|l| l
            .split(' ')
            .nth(4)
            .is_some_and(|m| m.starts_with(root.to_str().unwrap()))),
        "a mount under {} was left on the host",
        root.display()
    );
}
