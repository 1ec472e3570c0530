//! SCMP_ACT_NOTIFY with `listenerPath`: a seccomp agent (a thread here)
//! receives the notify fd by SCM_RIGHTS with the container process state
//! JSON, as runc sends it (runtime-spec config-linux.md "Seccomp"), and
//! answers the notified syscalls with SECCOMP_IOCTL_NOTIF_SEND.

use std::io::{IoSliceMut, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use serde_json::{json, Value};

use crate::common::{json_lines, require_root, unique_id, Bundle, Rt, DEADLINE};

/// What the agent saw: the state payload and the syscall numbers it answered.
#[derive(Debug)]
struct Report {
    payload: Value,
    answered: Vec<i32>,
}

struct Agent {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Option<Report>>,
}

impl Agent {
    /// Listens on `path`; answers the n-th notification with `answers[n]`
    /// (Ok(val): the syscall returns val; Err(errno): it fails with errno),
    /// and any further ones with ENOSYS.
    fn start(path: &Path, answers: Vec<Result<i64, i32>>) -> Agent {
        let listener = UnixListener::bind(path).unwrap();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || serve(listener, &flag, &answers));
        Agent { stop, thread }
    }

    fn finish(self) -> Option<Report> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("agent thread panicked")
    }
}

fn serve(
    listener: UnixListener,
    stop: &AtomicBool,
    answers: &[Result<i64, i32>],
) -> Option<Report> {
    let start = Instant::now();
    let mut conn = loop {
        match listener.accept() {
            Ok((c, _)) => break c,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if stop.load(Ordering::Relaxed) || start.elapsed() > DEADLINE {
                    return None;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("agent accept: {e}"),
        }
    };
    conn.set_nonblocking(false).unwrap();
    conn.set_read_timeout(Some(DEADLINE)).unwrap();

    // One message: the JSON payload with the notify fd attached.
    let mut buf = vec![0u8; 1 << 16];
    let mut space = nix::cmsg_space!([RawFd; 4]);
    let (n, fds) = {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(space.as_mut_slice()),
            MsgFlags::empty(),
        )
        .expect("agent recvmsg");
        let mut fds = Vec::new();
        for c in msg.cmsgs().expect("cmsgs") {
            if let ControlMessageOwned::ScmRights(r) = c {
                fds.extend(r);
            }
        }
        (msg.bytes, fds)
    };
    let mut data = buf[..n].to_vec();
    // A stream may split the payload; read until it parses.
    while serde_json::from_slice::<Value>(&data).is_err() {
        let mut more = [0u8; 4096];
        let m = conn.read(&mut more).expect("agent read payload");
        assert!(
            m > 0,
            "payload ended early: {}",
            String::from_utf8_lossy(&data)
        );
        data.extend_from_slice(&more[..m]);
    }
    let payload: Value = serde_json::from_slice(&data).unwrap();
    assert_eq!(fds.len(), 1, "one fd expected: {payload}");
    // SAFETY: SCM_RIGHTS gave us this new descriptor; we are its only owner.
    let notify = unsafe { OwnedFd::from_raw_fd(fds[0]) };

    let mut answered = Vec::new();
    loop {
        let mut pfd = libc::pollfd {
            fd: notify.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let rc = unsafe { libc::poll(&mut pfd, 1, 50) };
        if rc == 0 {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            continue;
        }
        if pfd.revents & libc::POLLIN == 0 {
            // POLLHUP: no process uses the filter any more.
            break;
        }
        // SAFETY: an all-zero seccomp_notif is valid, and RECV wants it zeroed.
        let mut req: libc::seccomp_notif = unsafe { std::mem::zeroed() };
        // SAFETY: RECV fills one seccomp_notif.
        if unsafe {
            libc::ioctl(
                notify.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_RECV,
                &mut req as *mut libc::seccomp_notif,
            )
        } != 0
        {
            continue; // the target died meanwhile (ENOENT)
        }
        let answer = answers
            .get(answered.len())
            .copied()
            .unwrap_or(Err(libc::ENOSYS));
        let (val, error) = match answer {
            Ok(v) => (v, 0),
            Err(e) => (0, -e),
        };
        let resp = libc::seccomp_notif_resp {
            id: req.id,
            val,
            error,
            flags: 0,
        };
        // SAFETY: SEND reads one seccomp_notif_resp.
        unsafe {
            libc::ioctl(
                notify.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_SEND,
                &resp as *const libc::seccomp_notif_resp,
            )
        };
        answered.push(req.data.nr);
    }
    Some(Report { payload, answered })
}

#[test]
fn notify_agent_answers_mkdir() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    let sock = b.path().join("agent.sock");
    let agent = Agent::start(&sock, vec![Err(libc::ENOMSG), Ok(0)]);
    b.edit(|c| {
        c["root"]["readonly"] = json!(false);
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": sock,
            "listenerMetadata": "brig-test",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}],
        });
    });
    // The first mkdir fails with the agent's errno; the second "succeeds"
    // although the agent created nothing.
    b.args(&[
        "sh",
        "-c",
        "/probe mkdir /tmp/a; /probe mkdir /tmp/b; /probe stat /tmp/b",
    ]);
    let id = unique_id("notify");
    let out = rt.run_bundle(&b, &id, &[]);
    let report = agent.finish();
    assert!(out.ok(), "{out:?}");
    let report = report.expect("the runtime never connected to the agent");
    let lines = json_lines(&out.stdout);
    let errnos: Vec<_> = lines.iter().map(|l| l["errno"].as_i64().unwrap()).collect();
    assert_eq!(
        errnos,
        [libc::ENOMSG, 0, libc::ENOENT].map(i64::from),
        "{lines:?}"
    );
    let mkdirs = [libc::SYS_mkdir as i32, libc::SYS_mkdirat as i32];
    assert_eq!(report.answered.len(), 2, "{report:?}");
    assert!(
        report.answered.iter().all(|nr| mkdirs.contains(nr)),
        "{report:?}"
    );
    let p = &report.payload;
    assert_eq!(p["fds"], json!(["seccompFd"]), "{p}");
    assert!(p["pid"].as_i64().is_some_and(|pid| pid > 0), "{p}");
    assert_eq!(p["metadata"], "brig-test", "{p}");
    assert_eq!(p["state"]["id"], id.as_str(), "{p}");
    assert!(p["ociVersion"].is_string(), "{p}");
}

/// A bundle running `/bin/true` under `seccomp`, with `agent.sock` (never
/// bound) as its listenerPath unless the profile names another.
fn bundle_with_seccomp(rt: &Rt, mut seccomp: Value) -> Bundle {
    let mut b = Bundle::new(rt);
    if seccomp.get("listenerPath").is_none() {
        seccomp["listenerPath"] = json!(b.path().join("agent.sock"));
    }
    b.edit(|c| c["linux"]["seccomp"] = seccomp);
    b.args(&["true"]);
    b
}

/// Without any SCMP_ACT_NOTIFY rule the listenerPath is ignored, as runc
/// ignores it: nothing connects to it, so no agent is needed.
#[test]
fn listener_path_without_notify_rule_is_ignored() {
    require_root!();
    let rt = Rt::new();
    let b = bundle_with_seccomp(
        &rt,
        json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerMetadata": "bar"}),
    );
    let out = rt.run_bundle(&b, &unique_id("nolistener"), &[]);
    assert!(out.ok(), "{out:?}");
}

/// Notify rules with no agent listening fail in runc's words, before any
/// container process exists.
#[test]
fn notify_without_agent_fails_in_runc_words() {
    require_root!();
    let rt = Rt::new();
    let b = bundle_with_seccomp(
        &rt,
        json!({"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}),
    );
    let id = unique_id("noagent");
    let out = rt.run_bundle(&b, &id, &[]);
    assert!(!out.ok(), "{out:?}");
    assert!(
        out.stderr.contains("failed to connect with seccomp agent"),
        "{out:?}"
    );
}

/// Notifying write(2) is refused (the runtime itself writes after the
/// filter is loaded), in runc's words.
#[test]
fn notify_on_write_is_refused_in_runc_words() {
    require_root!();
    let rt = Rt::new();
    let b = bundle_with_seccomp(
        &rt,
        json!({"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["write"], "action": "SCMP_ACT_NOTIFY"}]}),
    );
    let out = rt.run_bundle(&b, &unique_id("notifywrite"), &[]);
    assert!(!out.ok(), "{out:?}");
    assert!(
        out.stderr
            .contains("SCMP_ACT_NOTIFY cannot be used for the write syscall"),
        "{out:?}"
    );
}
