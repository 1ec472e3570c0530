//! The process's terminal and stdio as runc gives them (runc's
//! tests/integration/tty.bats): the pty slave belongs to the process's
//! user (group: devpts' gid=5), for `run` and `exec -t`; a foreground
//! `run` with a terminal writes `\n`, not `\r\n` (ONLCR off); `exec -t -p`
//! applies process.json's consoleSize; stdio pipes belong to the user.

use std::fs;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::{is_brig, json_lines, require_root, unique_id, Bundle, Rt, DEADLINE};

/// Prints the owner of the process's terminal as `UID:GID`.
const TTY_OWNER: &str = "stat -c %u:%g $(readlink /proc/self/fd/0)";

/// A bundle running `sh -c script` with a terminal, as `user`.
fn terminal_bundle(rt: &Rt, script: &str, user: (u32, u32)) -> Bundle {
    let mut b = Bundle::new(rt);
    b.edit(|c| {
        c["process"]["terminal"] = json!(true);
        c["process"]["args"] = json!(["sh", "-c", script]);
        c["process"]["user"] = json!({"uid": user.0, "gid": user.1});
    });
    b
}

/// A foreground `run` with a terminal and no console socket: the runtime
/// holds the pty and copies it to its stdout.
#[test]
fn run_tty_owner_and_no_carriage_returns() {
    require_root!();
    let rt = Rt::new();
    for (user, want) in [((0, 0), "0:5\n"), ((1000, 100), "1000:5\n")] {
        let b = terminal_bundle(&rt, TTY_OWNER, user);
        let id = unique_id("tty-run");
        rt.track(&id);
        // runc wants a terminal of its own (it sizes the container's from
        // it): stdin is one; stdout stays a file to read.
        let host = nix::pty::openpty(None, None).expect("openpty");
        let mut cmd = rt.command(&["run", "--bundle", b.path().to_str().unwrap(), &id]);
        cmd.stdin(fs::File::from(host.slave));
        let out = rt.run_cmd(cmd).expect_ok("run with a terminal");
        // Exactly: the owner, and a bare newline (brig clears ONLCR in
        // init, before the process runs; runc clears it from a goroutine
        // that the process's first write may overtake).
        if is_brig() {
            assert_eq!(out.stdout, want, "user {user:?}: {out:?}");
        } else {
            assert_eq!(out.stdout.replace('\r', ""), want, "user {user:?}: {out:?}");
        }
    }
}

/// The container's terminal takes the size of the runtime's own terminal
/// (over process.consoleSize), and follows it when it changes (SIGWINCH),
/// as runc's does.
#[test]
fn run_tty_follows_the_host_terminal_size() {
    require_root!();
    let rt = Rt::new();
    let mut b = terminal_bundle(&rt, "read x; /probe; read y; /probe", (0, 0));
    b.edit(|c| c["process"]["consoleSize"] = json!({"height": 10, "width": 20}));
    let id = unique_id("tty-size");
    rt.track(&id);
    let size = |rows, cols| nix::pty::Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let host = nix::pty::openpty(Some(&size(33, 120)), None).expect("openpty");
    let mut cmd = rt.command(&["run", "--bundle", b.path().to_str().unwrap(), &id]);
    cmd.stdin(fs::File::from(host.slave));
    let running = rt.spawn(cmd);
    let mut master = fs::File::from(host.master);
    // The shell waits for a line: by the time it gets one through the
    // runtime, the runtime has sized the terminal.
    master.write_all(b"go\n").unwrap();
    let start = Instant::now();
    while json_lines(&fs::read_to_string(&running.out).unwrap_or_default()).is_empty() {
        assert!(start.elapsed() < DEADLINE, "no first probe output");
        std::thread::sleep(Duration::from_millis(20));
    }
    let resized = size(40, 100);
    // SAFETY: TIOCSWINSZ reads the winsize, which outlives the call.
    let rc = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &resized) };
    assert_eq!(rc, 0, "resize the host terminal");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(running.child.id() as i32),
        nix::sys::signal::Signal::SIGWINCH,
    )
    .unwrap();
    master.write_all(b"go\n").unwrap();
    let out = running.wait();
    assert!(out.ok(), "{out:?}");
    let sizes: Vec<_> = json_lines(&out.stdout)
        .into_iter()
        .map(|f| f["tty"]["0"]["size"].clone())
        .collect();
    // brig sizes the pty before it copies any input, and resizes in its
    // SIGWINCH handler, which runs before it can read the next line. runc
    // does both from goroutines that its input copying may overtake, so
    // with runc the shell may still see the size before.
    if is_brig() {
        assert_eq!(sizes, [json!([33, 120]), json!([40, 100])], "{out:?}");
    } else {
        assert_eq!(sizes.len(), 2, "{out:?}");
        for (size, either) in sizes
            .iter()
            .zip([[[10, 20], [33, 120]], [[33, 120], [40, 100]]])
        {
            assert!(either.iter().any(|s| size == &json!(s)), "{size} {out:?}");
        }
    }
}

/// Receives the master of one detached `exec FLAGS ID ARGS` (a terminal
/// from -t or process.json) over a console socket and returns everything
/// the process wrote.
fn exec_tty_output(rt: &Rt, b: &Bundle, id: &str, flags: &[&str], args: &[&str]) -> String {
    let sock = b.path().join(format!("{}.sock", unique_id("console")));
    let listener = UnixListener::bind(&sock).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(crate::console::receive_master(listener));
    });
    let mut ordered = vec!["exec", "-d", "--console-socket", sock.to_str().unwrap()];
    ordered.extend_from_slice(flags);
    ordered.push(id);
    ordered.extend_from_slice(args);
    rt.run(&ordered).expect_ok("exec -d --console-socket");
    let (_, master) = rx.recv_timeout(DEADLINE).expect("pty master never arrived");
    let reader = fs::File::from(master);
    crate::console::read_pty_to_end(reader, "exec'd process")
}

fn running(rt: &Rt, b: &Bundle) -> String {
    let id = unique_id("tty-exec");
    rt.create(b, &id, &[]).expect_ok("create");
    rt.run(&["start", &id]).expect_ok("start");
    rt.wait_status(&id, "running");
    id
}

#[test]
fn exec_tty_owner_is_the_exec_user() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    b.args(&["/probe", "sleep", "600"]);
    let id = running(&rt, &b);
    for (user, want) in [("0:0", "0:5"), ("1000:100", "1000:5")] {
        let out = exec_tty_output(&rt, &b, &id, &["-t", "-u", user], &["sh", "-c", TTY_OWNER]);
        assert_eq!(out.trim(), want, "exec -u {user}: {out:?}");
    }
}

/// `exec -t` in the foreground: the runtime holds the pty, ONLCR is off.
#[test]
fn exec_tty_in_the_foreground_writes_bare_newlines() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    b.args(&["/probe", "sleep", "600"]);
    let id = running(&rt, &b);
    let host = nix::pty::openpty(None, None).expect("openpty");
    let mut cmd = rt.command(&["exec", "-t", &id, "sh", "-c", "echo one; echo two"]);
    cmd.stdin(fs::File::from(host.slave));
    let out = rt.run_cmd(cmd).expect_ok("exec -t");
    // brig clears ONLCR in the exec'd process's init, before it can
    // write; runc clears it from a goroutine once it holds the pty, which
    // the process may overtake.
    if is_brig() {
        assert_eq!(out.stdout, "one\ntwo\n", "{out:?}");
    } else {
        assert_eq!(out.stdout.replace('\r', ""), "one\ntwo\n", "{out:?}");
    }
}

/// runc's tty.bats "runc exec [tty consolesize]": process.json (with no
/// user) names the size; the exec'd process sees it.
#[test]
fn exec_process_file_console_size() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    b.args(&["/probe", "sleep", "600"]);
    let id = running(&rt, &b);
    let pfile = b.path().join("tty-process.json");
    fs::write(
        &pfile,
        json!({"terminal": true, "consoleSize": {"height": 10, "width": 110},
               "args": ["/probe"], "cwd": "/"})
        .to_string(),
    )
    .unwrap();
    let out = exec_tty_output(&rt, &b, &id, &["-p", pfile.to_str().unwrap()], &[]);
    let facts = json_lines(&out)
        .into_iter()
        .find(|v| v.get("tty").is_some())
        .unwrap_or_else(|| panic!("no probe output in {out:?}"));
    assert_eq!(facts["tty"]["0"]["size"], json!([10, 110]), "{facts}");
    assert_eq!(
        (facts["uid"].as_i64(), facts["gid"].as_i64()),
        (Some(0), Some(0))
    );
}

/// Stdio pipes belong to the process's user, so it can reopen
/// /dev/stdout (runc does this for every stdio but /dev/null).
#[test]
fn stdio_pipes_belong_to_the_process_user() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    b.edit(|c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 100});
        c["process"]["args"] = json!([
            "sh",
            "-c",
            "stat -L -c %u /proc/self/fd/1; echo reopened > /dev/stdout"
        ]);
    });
    let id = unique_id("tty-pipe");
    rt.track(&id);
    let mut cmd = rt.command(&["run", "--bundle", b.path().to_str().unwrap(), &id]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let out = cmd.output().expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stdout, "1000\nreopened\n", "{out:?}");
}
