//! Forked-child tests: the child loads a filter (irreversible), runs
//! syscalls and reports errnos over a pipe; the parent asserts.
//! The filter is built in the parent; the child only loads and calls.

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult};
use oci_spec::runtime::LinuxSeccomp;

use super::*;

const N: usize = 8;

#[derive(Debug, PartialEq)]
enum Outcome {
    /// Each slot: 0 = success, else the errno (or a value the closure chose).
    Reported([i64; N]),
    Killed(Signal),
}

fn profile(json: serde_json::Value) -> LinuxSeccomp {
    serde_json::from_value(json).expect("test profile parses")
}

/// errno of a raw syscall result, 0 on success.
fn err(ret: libc::c_long) -> i64 {
    if ret == -1 {
        nix::errno::Errno::last_raw() as i64
    } else {
        0
    }
}

/// Fork; the child loads `filter`, runs `f` (given the notify fd, if any)
/// and writes its N results to a pipe. Must not allocate after the load:
/// the test profiles deny mmap and friends.
fn in_child(filter: Filter, f: impl FnOnce(Option<OwnedFd>) -> [i64; N]) -> Outcome {
    let (rd, wr) = nix::unistd::pipe().unwrap();
    // SAFETY: the child only calls prctl, seccomp, the test's raw syscalls,
    // write and _exit (no locks taken, no allocation after the load).
    match unsafe { fork() }.unwrap() {
        ForkResult::Child => {
            drop(rd);
            let no_core = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: plain prctl and setrlimit on this child: the load is
            // legal without CAP_SYS_ADMIN, and SIGSYS deaths leave no core.
            unsafe {
                libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
                libc::setrlimit(libc::RLIMIT_CORE, &no_core);
            }
            let out = match filter.load() {
                Ok(fd) => f(fd),
                Err(_) => [-999; N],
            };
            // SAFETY: out is a plain array; wr is open.
            unsafe {
                libc::write(
                    wr.as_raw_fd(),
                    out.as_ptr().cast(),
                    std::mem::size_of_val(&out),
                );
                libc::_exit(0)
            }
        }
        ForkResult::Parent { child } => {
            drop(wr);
            let mut buf = Vec::new();
            std::fs::File::from(rd).read_to_end(&mut buf).unwrap();
            match waitpid(child, None).unwrap() {
                WaitStatus::Signaled(_, sig, _) => Outcome::Killed(sig),
                WaitStatus::Exited(_, 0) => {
                    assert_eq!(buf.len(), N * 8, "child reported {} bytes", buf.len());
                    let mut out = [0i64; N];
                    for (i, c) in buf.chunks_exact(8).enumerate() {
                        out[i] = i64::from_ne_bytes(c.try_into().unwrap());
                    }
                    Outcome::Reported(out)
                }
                other => panic!("child ended with {other:?}"),
            }
        }
    }
}

/// What every test child needs after the load: report and exit.
const BASE: &[&str] = &["write", "exit", "exit_group", "rt_sigreturn", "close"];

fn allow_base() -> serde_json::Value {
    serde_json::json!({"names": BASE, "action": "SCMP_ACT_ALLOW"})
}

fn reported(o: Outcome) -> [i64; N] {
    match o {
        Outcome::Reported(r) => r,
        other => panic!("expected a report, got {other:?}"),
    }
}

fn pad(v: &[i64]) -> [i64; N] {
    let mut out = [0; N];
    out[..v.len()].copy_from_slice(v);
    out
}

#[test]
fn errno_default_eperm_and_errno_ret() {
    let s = profile(serde_json::json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [allow_base(),
            {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOTBLK},
            {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["getuid"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["getgid"], "action": "SCMP_ACT_LOG"},
            {"names": ["getegid"], "action": "SCMP_ACT_TRACE", "errnoRet": 7}]
    }));
    let r = reported(in_child(build(&s).unwrap(), |_| {
        // SAFETY: argument-less id syscalls.
        unsafe {
            [
                err(libc::syscall(libc::SYS_getppid)),
                err(libc::syscall(libc::SYS_getpid)),
                err(libc::syscall(libc::SYS_getuid)),
                err(libc::syscall(libc::SYS_geteuid)), // not named: default
                err(libc::syscall(libc::SYS_getgid)),  // LOG allows
                err(libc::syscall(libc::SYS_getegid)), // TRACE, no tracer: ENOSYS
                0,
                0,
            ]
        }
    }));
    assert_eq!(
        r,
        pad(&[libc::ENOTBLK as i64, 0, 1, 1, 0, libc::ENOSYS as i64])
    );
}

#[test]
fn default_errno_ret_and_enosys_above_max() {
    let s = profile(serde_json::json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": libc::EACCES,
        "syscalls": [allow_base(), {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}]
    }));
    let f = build(&s).unwrap();
    assert!(!f.uses_notify());
    let r = reported(in_child(f, |_| {
        // SAFETY: getppid takes no arguments; 450+ and 1000 are numbers the
        // stub answers before the kernel sees them.
        unsafe {
            [
                err(libc::syscall(libc::SYS_getppid)), // below the max: default
                err(libc::syscall(libc::SYS_getpid)),
                err(libc::syscall(455)),
                err(libc::syscall(1000)),
                0,
                0,
                0,
                0,
            ]
        }
    }));
    let enosys = libc::ENOSYS as i64;
    assert_eq!(r, pad(&[libc::EACCES as i64, 0, enosys, enosys]));
}

#[test]
fn kill_actions_kill_by_sigsys() {
    for action in [
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_TRAP",
    ] {
        let s = profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getppid"], "action": action}]
        }));
        let o = in_child(build(&s).unwrap(), |_| {
            // SAFETY: argument-less syscall.
            unsafe { libc::syscall(libc::SYS_getppid) };
            [0; N]
        });
        assert_eq!(o, Outcome::Killed(Signal::SIGSYS), "{action}");
    }
}

#[test]
fn operators_masked_eq_and_multi_arg() {
    // getsid/getpgid of pids above pid_max fail with ESRCH in the kernel, so
    // any other errno came from the filter.
    let big = 0x7fff_0000u64;
    let s = profile(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["getpgid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 11,
             "args": [{"index": 0, "value": 0xff, "valueTwo": 0x12, "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["lseek"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EDOM,
             "args": [{"index": 0, "value": 999, "op": "SCMP_CMP_EQ"},
                      {"index": 2, "value": 1, "op": "SCMP_CMP_EQ"}]},
            {"names": ["getsid"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ERANGE,
             "args": [{"index": 0, "value": big + 1, "op": "SCMP_CMP_EQ"},
                      {"index": 0, "value": big + 2, "op": "SCMP_CMP_EQ"}]}
        ]
    }));
    let r = reported(in_child(build(&s).unwrap(), |_| {
        // SAFETY: queries on non-existent pids and fds.
        unsafe {
            [
                err(libc::syscall(libc::SYS_getpgid, big + 0x1012)),
                err(libc::syscall(libc::SYS_getpgid, big + 0x1013)),
                err(libc::syscall(libc::SYS_lseek, 999, 0, 1)),
                err(libc::syscall(libc::SYS_lseek, 999, 0, 0)),
                err(libc::syscall(libc::SYS_lseek, 998, 0, 1)),
                err(libc::syscall(libc::SYS_getsid, big + 1)),
                err(libc::syscall(libc::SYS_getsid, big + 2)),
                err(libc::syscall(libc::SYS_getsid, big + 3)),
            ]
        }
    }));
    let (esrch, ebadf) = (libc::ESRCH as i64, libc::EBADF as i64);
    let (edom, erange) = (libc::EDOM as i64, libc::ERANGE as i64);
    assert_eq!(r, [11, esrch, edom, ebadf, ebadf, erange, erange, esrch]);
}

#[test]
fn every_comparison_operator() {
    // (op, value, [pids tried]) -> which pids the rule catches.
    let big = 0x7fff_0000u64;
    let cases: &[(&str, u64, [bool; 3])] = &[
        ("SCMP_CMP_NE", big + 2, [true, false, true]),
        ("SCMP_CMP_LT", big + 2, [true, false, false]),
        ("SCMP_CMP_LE", big + 2, [true, true, false]),
        ("SCMP_CMP_EQ", big + 2, [false, true, false]),
        ("SCMP_CMP_GE", big + 2, [false, true, true]),
        ("SCMP_CMP_GT", big + 2, [false, false, true]),
    ];
    for (op, value, caught) in cases {
        let s = profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getsid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 11,
                          "args": [{"index": 0, "value": value, "op": op}]}]
        }));
        let r = reported(in_child(build(&s).unwrap(), |_| {
            // SAFETY: getsid of pids above pid_max.
            unsafe {
                pad(&[
                    err(libc::syscall(libc::SYS_getsid, big + 1)),
                    err(libc::syscall(libc::SYS_getsid, big + 2)),
                    err(libc::syscall(libc::SYS_getsid, big + 3)),
                ])
            }
        }));
        let want: Vec<i64> = caught
            .iter()
            .map(|&c| if c { 11 } else { libc::ESRCH as i64 })
            .collect();
        assert_eq!(&r[..3], &want[..], "{op}");
    }
}

#[test]
fn notify_fd_reaches_agent_and_answers() {
    use libseccomp::{ScmpNotifReq, ScmpNotifResp, ScmpNotifRespFlags};
    let s = profile(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": "/run/agent.sock",
        "listenerMetadata": "meta",
        "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]
    }));
    let f = build(&s).unwrap();
    assert!(f.uses_notify());
    let (agent, runtime) = UnixStream::pair().unwrap();
    let state = serde_json::json!({"ociVersion": "1.2.0", "id": "c1", "status": "creating"});
    let child = std::thread::scope(|scope| {
        let h = scope.spawn(|| {
            // The agent: take the fd and the JSON, answer getppid with 4242.
            let mut buf = vec![0u8; 4096];
            let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
            let mut iov = [std::io::IoSliceMut::new(&mut buf)];
            let msg = nix::sys::socket::recvmsg::<()>(
                agent.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                nix::sys::socket::MsgFlags::empty(),
            )
            .unwrap();
            let mut fd = None;
            for c in msg.cmsgs().unwrap() {
                if let nix::sys::socket::ControlMessageOwned::ScmRights(v) = c {
                    fd = v.first().copied();
                }
            }
            let n = msg.bytes;
            let fd = fd.expect("SCM_RIGHTS carried the fd");
            let json: serde_json::Value = serde_json::from_slice(&buf[..n]).unwrap();
            let req = ScmpNotifReq::receive(fd).unwrap();
            ScmpNotifResp::new_val(req.id, 4242, ScmpNotifRespFlags::empty())
                .respond(fd)
                .unwrap();
            (json, req.data.syscall)
        });
        let o = in_child(f, |fd| {
            let fd = fd.expect("notify fd");
            // SAFETY: getpid takes no arguments.
            let pid = unsafe { libc::getpid() };
            let body = listener_payload(&state, pid, Some("meta")).unwrap();
            if send_to_listener(&runtime, &body, fd).is_err() {
                return [-1; N];
            }
            // SAFETY: notified getppid; the agent answers.
            pad(&[unsafe { libc::syscall(libc::SYS_getppid) }])
        });
        (o, h.join().unwrap())
    });
    let (o, (json, nr)) = child;
    assert_eq!(reported(o)[0], 4242);
    assert_eq!(nr, libseccomp::ScmpSyscall::from_name("getppid").unwrap());
    assert_eq!(json["fds"], serde_json::json!(["seccompFd"]));
    assert_eq!(json["metadata"], "meta");
    assert_eq!(json["state"]["id"], "c1");
    assert_eq!(json["ociVersion"], "1.2.0");
    assert!(json["pid"].as_i64().unwrap() > 0);
}

#[test]
fn default_profile_blocks_privileged_and_allows_ordinary() {
    let f = build(&default_profile()).unwrap();
    let r = reported(in_child(f, |_| {
        // SAFETY: the calls either fail in the filter or act on the child only.
        unsafe {
            let fd = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY);
            let mut b = [0u8; 1];
            [
                err(libc::syscall(libc::SYS_unshare, libc::CLONE_NEWUSER)),
                err(libc::syscall(
                    libc::SYS_mount,
                    c"none".as_ptr(),
                    c"/mnt".as_ptr(),
                    c"tmpfs".as_ptr(),
                    0,
                    0,
                )),
                err(libc::syscall(libc::SYS_keyctl, 0, 0, 0, 0, 0)),
                err(libc::syscall(libc::SYS_getpid)),
                if fd >= 0 { 0 } else { -1 },
                err(libc::read(fd, b.as_mut_ptr().cast(), 1) as libc::c_long),
                err(libc::syscall(libc::SYS_unshare, libc::CLONE_FS)),
                err(libc::syscall(libc::SYS_clone3, 0, 0)),
            ]
        }
    }));
    let eperm = libc::EPERM as i64;
    assert_eq!(r, [eperm, eperm, eperm, 0, 0, 0, 0, libc::ENOSYS as i64]);
}

#[test]
fn real_programs_run_under_the_default_profile() {
    // glibc programs (threads via clone3 -> ENOSYS -> clone fallback, statx,
    // getrandom, ...) must work under the default profile.
    let sh = c"/bin/sh";
    if !std::path::Path::new("/bin/sh").exists() {
        return crate::skip::test("/bin/sh missing");
    }
    let script = c"ls / >/dev/null && cat /proc/self/status | grep -q '^Seccomp:.*2' && sort </dev/null && date >/dev/null";
    let argv = [
        sh.as_ptr(),
        c"-c".as_ptr(),
        script.as_ptr(),
        std::ptr::null(),
    ];
    let f = build(&default_profile()).unwrap();
    // SAFETY: the child only loads the filter and execs (prepared argv).
    match unsafe { fork() }.unwrap() {
        ForkResult::Child => {
            // SAFETY: prctl then execv with NUL-terminated argv; _exit on failure.
            unsafe {
                libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
                if f.load().is_ok() {
                    libc::execv(sh.as_ptr(), argv.as_ptr());
                }
                libc::_exit(127)
            }
        }
        ForkResult::Parent { child } => {
            assert_eq!(waitpid(child, None).unwrap(), WaitStatus::Exited(child, 0));
        }
    }
}
