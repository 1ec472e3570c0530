//! Verbs, flags, exit codes and state transitions: runc's contract.

use std::fs;

use serde_json::json;

use crate::common::{require_root, unique_id, Bundle, Rt};

#[test]
fn create_start_kill_delete_walks_the_states() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    b.args(&["/probe", "sleep", "60"]).edit(|c| {
        c["annotations"] = json!({"org.brig.test": "yes"});
    });
    let id = unique_id("life");
    let pidfile = b.path().join("init.pid");
    rt.create(&b, &id, &["--pid-file", pidfile.to_str().unwrap()])
        .expect_ok("create");

    let st = rt.state(&id).expect("state after create");
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], id.as_str());
    assert!(st["ociVersion"].is_string(), "{st}");
    assert!(st["created"].is_string(), "{st}");
    assert!(st.get("owner").is_some(), "state has no owner: {st}");
    assert_eq!(st["annotations"]["org.brig.test"], "yes");
    let bundle = fs::canonicalize(b.path()).unwrap();
    assert_eq!(st["bundle"], bundle.to_str().unwrap());
    assert_eq!(st["rootfs"], bundle.join("rootfs").to_str().unwrap());
    let pid = st["pid"].as_i64().expect("pid");
    assert!(pid > 0);
    // The pid file is complete before create returns.
    let written = fs::read_to_string(&pidfile).expect("pid file");
    assert_eq!(written.trim().parse::<i64>().unwrap(), pid);
    // The init waits before execve: it is not the probe yet.
    assert!(
        fs::metadata(format!("/proc/{pid}")).is_ok(),
        "init {pid} is gone"
    );

    rt.run(&["start", &id]).expect_ok("start");
    let st = rt.wait_status(&id, "running");
    assert_eq!(st["pid"].as_i64(), Some(pid));

    // Default signal is SIGTERM; the probe exits on it.
    rt.run(&["kill", &id]).expect_ok("kill");
    rt.wait_status(&id, "stopped");
    // A stopped container stays until delete.
    assert_eq!(rt.state(&id).unwrap()["status"], "stopped");
    assert!(rt.root_entries().contains(&id));

    rt.run(&["delete", &id]).expect_ok("delete");
    assert!(rt.state(&id).is_none(), "state after delete");
    assert!(!rt.root_entries().contains(&id), "state dir left");
}

#[test]
fn start_of_a_running_container_fails() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    b.args(&["/probe", "sleep", "60"]);
    let id = unique_id("start2");
    rt.create(&b, &id, &[]).expect_ok("create");
    rt.run(&["start", &id]).expect_ok("start");
    rt.wait_status(&id, "running");
    assert!(!rt.run(&["start", &id]).ok(), "second start succeeded");
}

#[test]
fn delete_of_running_fails_and_force_removes() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    b.args(&["/probe", "sleep", "60"]);
    let id = unique_id("del");
    rt.run_bundle(&b, &id, &["-d"]).expect_ok("run -d");
    let st = rt.wait_status(&id, "running");
    let pid = st["pid"].as_i64().unwrap();

    assert!(
        !rt.run(&["delete", &id]).ok(),
        "delete of running succeeded"
    );
    assert_eq!(rt.state(&id).unwrap()["status"], "running");

    rt.run(&["delete", "--force", &id])
        .expect_ok("delete --force");
    assert!(rt.state(&id).is_none());
    assert!(!rt.root_entries().contains(&id));
    // The init is gone (or a zombie being reaped by someone else).
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    assert!(
        stat.is_empty() || stat.contains(") Z"),
        "init still alive: {stat}"
    );
}

#[test]
fn delete_force_of_unknown_id_succeeds() {
    let rt = Rt::new();
    rt.run(&["delete", "--force", "no-such-container"])
        .expect_ok("delete --force unknown");
    assert!(!rt.run(&["delete", "no-such-container"]).ok());
    assert!(!rt.run(&["state", "no-such-container"]).ok());
    assert!(!rt.run(&["start", "no-such-container"]).ok());
    assert!(!rt.run(&["kill", "no-such-container", "KILL"]).ok());
}

/// A state.json a host crash left empty (it is not fsync'd): `list` goes on
/// without it and `delete --force` removes it. brig only: runc 1.1's
/// `delete --force` fails on it (EOF) and leaves it.
#[test]
fn empty_state_after_a_crash_is_listed_around_and_force_deleted() {
    if !crate::common::is_brig() {
        return crate::skip::test("empty state.json: runc's delete --force fails on it");
    }
    let rt = Rt::new();
    let dir = rt.root.path().join("crashed");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("state.json"), "").unwrap();
    let out = rt
        .run(&["list", "-q"])
        .expect_ok("list with an empty state.json");
    assert!(!out.stdout.contains("crashed"), "{out:?}");
    assert!(!rt.run(&["delete", "crashed"]).ok());
    rt.run(&["delete", "--force", "crashed"])
        .expect_ok("delete --force of an empty state.json");
    assert!(!dir.exists());
}

/// `run` exits with 128+N when the container is killed by signal N; the
/// signal may be a name with or without SIG, or a number.
#[test]
fn kill_signal_forms_and_run_exit_status() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    b.args(&["/probe", "sleep", "60"]);
    let cases: &[(Option<&str>, i32)] = &[
        (None, 15),
        (Some("KILL"), 9),
        (Some("SIGUSR1"), 10),
        (Some("HUP"), 1),
        (Some("12"), 12),
    ];
    for (sig, n) in cases {
        let id = unique_id("sig");
        let run = rt.spawn_run(&b, &id);
        rt.wait_status(&id, "running");
        let mut args = vec!["kill", id.as_str()];
        args.extend(sig.iter());
        rt.run(&args).expect_ok("kill");
        let out = run.wait();
        assert_eq!(out.code(), Some(128 + n), "run after kill {sig:?}: {out:?}");
        assert!(rt.state(&id).is_none(), "run left {id} behind");
    }
}

/// A created container's init is pid 1 of its pid namespace, where a
/// signal from outside with the default action is dropped; runc's init
/// (Go) dies of SIGTERM, SIGHUP, SIGINT and SIGQUIT, so `kill ID` stops a
/// created container, and brig's init does the same until execve (unless
/// the caller ignored the signal: then it stays ignored, as with runc).
/// After execve the process catches nothing it did not ask for.
#[test]
fn kill_term_stops_a_created_container() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    b.args(&["sleep", "60"]);
    for sig in ["TERM", "HUP", "INT", "QUIT"] {
        let id = unique_id("created-term");
        rt.track(&id);
        // A signal the caller ignores stays ignored (as with runc): a shell
        // running this suite in the background ignores INT and QUIT. The
        // runtime is started with the four at their default action.
        let mut cmd = rt.command(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
        // SAFETY: between fork and exec only signal(2), async-signal-safe,
        // on constants.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                for s in [libc::SIGTERM, libc::SIGHUP, libc::SIGINT, libc::SIGQUIT] {
                    libc::signal(s, libc::SIG_DFL);
                }
                Ok(())
            });
        }
        rt.run_cmd(cmd).expect_ok("create");
        rt.run(&["kill", &id, sig]).expect_ok("kill");
        rt.wait_status(&id, "stopped");
        rt.run(&["delete", &id]).expect_ok("delete");
    }

    b.args(&["grep", "SigCgt", "/proc/self/status"]);
    let id = unique_id("sigcgt");
    let out = rt.run_bundle(&b, &id, &[]).expect_ok("run grep");
    assert_eq!(out.stdout.trim(), "SigCgt:\t0000000000000000", "{out:?}");
}

#[test]
fn kill_all_stops_the_container() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    b.args(&["sh", "-c", "/probe sleep 60 & /probe sleep 60"]);
    let id = unique_id("killall");
    rt.run_bundle(&b, &id, &["--detach"]).expect_ok("run -d");
    rt.wait_status(&id, "running");
    rt.run(&["kill", "--all", &id, "KILL"])
        .expect_ok("kill --all");
    rt.wait_status(&id, "stopped");
    rt.run(&["delete", &id]).expect_ok("delete");
}

#[test]
fn run_exits_with_the_container_status_and_removes_it() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    for code in [0, 3, 77] {
        b.args(&["/probe", "exit", &code.to_string()]);
        let id = unique_id("exit");
        let out = rt.run_bundle(&b, &id, &[]);
        assert_eq!(out.code(), Some(code), "{out:?}");
        assert!(rt.state(&id).is_none(), "run kept {id}");
    }
    // The container's stdout is the runtime's stdout.
    b.args(&["echo", "hello from inside"]);
    let out = rt.run_bundle(&b, &unique_id("echo"), &[]);
    assert_eq!(out.stdout, "hello from inside\n");
}

#[test]
fn run_detached_with_pid_file() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    b.args(&["/probe", "sleep", "60"]);
    let id = unique_id("detach");
    let pidfile = b.path().join("pid");
    rt.run_bundle(&b, &id, &["-d", "--pid-file", pidfile.to_str().unwrap()])
        .expect_ok("run -d");
    let st = rt.wait_status(&id, "running");
    let pid: i64 = fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(st["pid"].as_i64(), Some(pid));
    rt.run(&["kill", &id, "KILL"]).expect_ok("kill");
    rt.wait_status(&id, "stopped");
}

#[test]
fn create_flags_no_pivot_and_no_new_keyring() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    for flag in ["--no-pivot", "--no-new-keyring"] {
        let id = unique_id("flag");
        let out = rt.run_bundle(&b, &id, &[flag]).expect_ok(flag);
        let facts = out.json();
        assert_eq!(facts["pid"], 1, "{flag}");
        assert_eq!(facts["root_readonly"], true, "{flag}");
    }
    b.args(&["/probe", "sleep", "60"]);
    let id = unique_id("flagc");
    rt.create(&b, &id, &["--no-pivot", "--no-new-keyring"])
        .expect_ok("create with flags");
    assert_eq!(rt.state(&id).unwrap()["status"], "created");
}

#[test]
fn list_table_json_and_quiet() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    b.args(&["/probe", "sleep", "60"]);
    let id = unique_id("list");
    rt.create(&b, &id, &[]).expect_ok("create");

    let table = rt.run(&["list"]).expect_ok("list").stdout;
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    );
    let row: Vec<&str> = lines.next().expect("a row").split_whitespace().collect();
    assert_eq!(row[0], id);
    assert_eq!(row[2], "created");

    let json = rt.run(&["list", "--format", "json"]).expect_ok("list json");
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let arr = v.as_array().expect("array");
    assert_eq!(arr.len(), 1);
    assert_eq!(arr[0]["id"], id.as_str());
    assert_eq!(arr[0]["status"], "created");
    assert!(arr[0]["pid"].as_i64().unwrap() > 0);
    assert!(arr[0]["bundle"].is_string());

    let q = rt.run(&["list", "-q"]).expect_ok("list -q");
    assert_eq!(q.stdout, format!("{id}\n"));
}

#[test]
fn list_of_empty_root() {
    let rt = Rt::new();
    let out = rt.run(&["list", "-q"]).expect_ok("list -q");
    assert_eq!(out.stdout, "");
    let out = rt.run(&["list", "--format", "json"]).expect_ok("list json");
    // runc prints `null` for no containers; `[]` is as good.
    assert!(
        ["null", "[]"].contains(&out.stdout.trim()),
        "{:?}",
        out.stdout
    );
}

/// With --no-pivot the host's mounts stay under the chroot: no full
/// procfs among them may let a nested user namespace mount a fresh,
/// unmasked /proc (runc's no_pivot.bats).
#[test]
fn no_pivot_exposes_no_bare_proc() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    b.edit(|c| {
        // brig's spec has a seccomp profile that refuses unshare itself.
        c["linux"].as_object_mut().unwrap().remove("seccomp");
        for set in ["bounding", "permitted"] {
            c["process"]["capabilities"][set]
                .as_array_mut()
                .unwrap()
                .push(json!("CAP_SETFCAP"));
        }
    });
    b.args(&[
        "unshare",
        "-mrpf",
        "sh",
        "-c",
        "mount -t proc none /proc && echo mounted",
    ]);
    let out = rt.run_bundle(&b, &unique_id("nopivot"), &["--no-pivot"]);
    assert!(!out.ok(), "{out:?}");
    assert!(!out.stdout.contains("mounted"), "{out:?}");
    assert!(out.stderr.contains("ermission denied"), "{out:?}");
}

/// Without a mount namespace the container still has root.path as its
/// root (chroot, as runc), for run and exec.
#[test]
fn no_mount_namespace_still_roots_at_root_path() {
    require_root!();
    if !crate::common::is_brig() {
        // runc 1.1 reopens the fifo and closes fds through /proc/self/fd,
        // which a bare root.path lacks.
        return crate::skip::test("runc 1.1 needs /proc inside root.path here");
    }
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    b.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "mount");
        c["mounts"] = json!([]);
        c["linux"].as_object_mut().unwrap().remove("maskedPaths");
        c["linux"].as_object_mut().unwrap().remove("readonlyPaths");
    });
    fs::write(b.rootfs().join("marker"), "inside").unwrap();
    b.args(&["cat", "/marker"]);
    let out = rt.run_bundle(&b, &unique_id("nomnt"), &[]).expect_ok("run");
    assert_eq!(out.stdout, "inside");

    b.args(&["sleep", "30"]);
    let id = unique_id("nomntx");
    rt.run_bundle(&b, &id, &["-d"]).expect_ok("run -d");
    let out = rt.run(&["exec", &id, "cat", "/marker"]).expect_ok("exec");
    assert_eq!(out.stdout, "inside");
}

/// `checkpoint --parent-path` is checked as runc checks it, before criu
/// would run: it must be relative, and an existing directory under
/// `--image-path`. (brig then refuses, having no criu support.)
#[test]
fn checkpoint_rejects_a_bad_parent_path() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    b.args(&["sleep", "600"]);
    let id = unique_id("ckpt");
    rt.create(&b, &id, &[]).expect_ok("create");
    rt.run(&["start", &id]).expect_ok("start");
    rt.wait_status(&id, "running");
    let dir = b.path();
    let image = dir.join("image-dir");
    let abs_parent = dir.join("parent-dir");
    for parent in [abs_parent.to_str().unwrap(), "./parent-dir"] {
        let out = rt.run(&[
            "checkpoint",
            "--parent-path",
            parent,
            "--work-path",
            dir.join("work-dir").to_str().unwrap(),
            "--image-path",
            image.to_str().unwrap(),
            "--manage-cgroups-mode",
            "ignore",
            &id,
        ]);
        assert!(!out.ok(), "{parent}: {out:?}");
        assert!(out.stderr.contains("--parent-path"), "{parent}: {out:?}");
    }
    rt.wait_status(&id, "running");
    rt.run(&["delete", "--force", &id]).expect_ok("delete");
}
