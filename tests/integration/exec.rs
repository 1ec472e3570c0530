//! `exec`: a further process in a running container gets the container's
//! namespaces and the init's confinement; runc's flags, exit codes and
//! status rules.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixListener;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{is_brig, json_lines, require_root, unique_id, Bundle, Rt, DEADLINE};

/// A started container whose init sleeps; returns (id, init pid).
fn running(rt: &Rt, b: &Bundle, tag: &str) -> (String, i64) {
    let id = unique_id(tag);
    rt.create(b, &id, &[]).expect_ok("create");
    rt.run(&["start", &id]).expect_ok("start");
    let st = rt.wait_status(&id, "running");
    (id, st["pid"].as_i64().expect("pid"))
}

fn sleeping_bundle(rt: &Rt) -> Bundle {
    let mut b = Bundle::new(rt);
    b.args(&["/probe", "sleep", "600"]);
    b
}

/// `exec FLAGS ID ARGS`, given as `[FLAGS.., "--", ARGS..]`.
fn exec(rt: &Rt, id: &str, extra: &[&str]) -> crate::common::Out {
    let mut ordered = vec!["exec"];
    let split = extra
        .iter()
        .position(|a| *a == "--")
        .expect("exec helper: put -- between flags and args");
    ordered.extend_from_slice(&extra[..split]);
    ordered.push(id);
    ordered.extend_from_slice(&extra[split + 1..]);
    rt.run(&ordered)
}

/// /proc/PID/status fields the probe also reports.
fn host_status(pid: i64) -> Value {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let mut out = serde_json::Map::new();
    for line in text.lines() {
        if let Some((k, v)) = line.split_once(':') {
            if [
                "CapInh",
                "CapPrm",
                "CapEff",
                "CapBnd",
                "CapAmb",
                "NoNewPrivs",
                "Seccomp",
            ]
            .contains(&k)
            {
                out.insert(k.into(), json!(v.trim()));
            }
        }
    }
    Value::Object(out)
}

fn cap_bit(status: &Value, set: &str, bit: u32) -> bool {
    let hex = status[set].as_str().unwrap();
    u64::from_str_radix(hex, 16).unwrap() & (1 << bit) != 0
}

const CAP_SYS_TIME: u32 = 25;

#[test]
fn exec_runs_commands_with_flags() {
    require_root!();
    let rt = Rt::new();
    let b = sleeping_bundle(&rt);
    let (id, _) = running(&rt, &b, "exec");

    let out = exec(&rt, &id, &["--", "echo", "hello", "-n"]).expect_ok("exec echo");
    assert_eq!(out.stdout, "hello -n\n");

    let facts = exec(&rt, &id, &["--", "/probe"])
        .expect_ok("exec probe")
        .json();
    assert_eq!(
        (facts["uid"].as_i64(), facts["gid"].as_i64()),
        (Some(0), Some(0))
    );
    assert_eq!(facts["cwd"], "/");
    let env: Vec<String> = serde_json::from_value(facts["env"].clone()).unwrap();
    assert!(env.iter().any(|e| e.starts_with("PATH=")), "{env:?}");

    let facts = exec(
        &rt,
        &id,
        &[
            "-u",
            "1000:1000",
            "-e",
            "FOO=bar",
            "--cwd",
            "/tmp",
            "--",
            "/probe",
        ],
    )
    .expect_ok("exec with flags")
    .json();
    assert_eq!(facts["uid"], 1000);
    assert_eq!(facts["gid"], 1000);
    assert_eq!(facts["euid"], 1000);
    assert_eq!(facts["cwd"], "/tmp");
    let env: Vec<String> = serde_json::from_value(facts["env"].clone()).unwrap();
    assert!(env.contains(&"FOO=bar".to_string()), "{env:?}");
    // A non-root user keeps no capabilities.
    assert_eq!(facts["status"]["CapEff"], "0000000000000000");

    if is_brig() {
        // -e replaces a key the spec already has (brig: one entry).
        let facts = exec(&rt, &id, &["-e", "TERM=dumb", "--", "/probe"])
            .expect_ok("exec -e TERM")
            .json();
        let env: Vec<String> = serde_json::from_value(facts["env"].clone()).unwrap();
        let terms: Vec<&String> = env.iter().filter(|e| e.starts_with("TERM=")).collect();
        assert_eq!(terms, ["TERM=dumb"], "{env:?}");
    }
}

#[test]
fn exec_exit_status_is_the_process_status() {
    require_root!();
    let rt = Rt::new();
    let b = sleeping_bundle(&rt);
    let (id, _) = running(&rt, &b, "exec-status");
    assert_eq!(
        exec(&rt, &id, &["--", "/probe", "exit", "7"]).code(),
        Some(7)
    );
    assert_eq!(exec(&rt, &id, &["--", "true"]).code(), Some(0));
    // Killed by SIGTERM (15): 128 + 15.
    assert_eq!(
        exec(&rt, &id, &["--", "/probe", "kill-self", "15"]).code(),
        Some(143)
    );
}

#[test]
fn exec_failures_exit_255_with_one_line() {
    require_root!();
    let rt = Rt::new();
    let b = sleeping_bundle(&rt);
    let (id, _) = running(&rt, &b, "exec-fail");
    for (what, extra) in [
        ("bad cwd", &["--cwd", "/nonexistent", "--", "true"][..]),
        ("missing binary", &["--", "/no/such/binary"][..]),
        ("missing in PATH", &["--", "no-such-command"][..]),
    ] {
        let out = exec(&rt, &id, extra);
        assert_eq!(out.code(), Some(255), "{what}: {out:?}");
        let err = out.stderr.trim();
        assert!(!err.is_empty(), "{what}: no error");
        if is_brig() {
            assert_eq!(err.lines().count(), 1, "{what}: {err:?}");
            assert!(err.starts_with("brig: exec "), "{what}: {err:?}");
        }
    }
    // The container is unharmed.
    rt.wait_status(&id, "running");
}

#[test]
fn exec_joins_the_init_namespaces_and_confinement() {
    require_root!();
    let rt = Rt::new();
    let mut b = sleeping_bundle(&rt);
    b.edit(|c| {
        c["process"]["noNewPrivileges"] = json!(true);
        // sethostname (170) fails with EPERM (1) under the filter.
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["sethostname"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
        });
    });
    let (id, pid) = running(&rt, &b, "exec-ns");
    let facts = exec(&rt, &id, &["--", "/probe"])
        .expect_ok("exec probe")
        .json();
    for ns in ["cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"] {
        let init = fs::metadata(format!("/proc/{pid}/ns/{ns}")).unwrap().ino();
        assert_eq!(facts["ns"][ns], init, "namespace {ns}: {}", facts["ns"]);
    }
    let init = host_status(pid);
    for k in [
        "CapInh",
        "CapPrm",
        "CapEff",
        "CapBnd",
        "CapAmb",
        "NoNewPrivs",
        "Seccomp",
    ] {
        assert_eq!(
            facts["status"][k], init[k],
            "{k}: exec {} init {init}",
            facts["status"]
        );
    }
    assert_eq!(init["Seccomp"], "2");
    assert_eq!(init["NoNewPrivs"], "1");
    let sys = exec(&rt, &id, &["--", "/probe", "syscall", "170"])
        .expect_ok("exec syscall")
        .json();
    assert_eq!(sys["errno"], 1, "{sys}");

    // --cap adds to bounding, effective and permitted.
    assert!(!cap_bit(&init, "CapBnd", CAP_SYS_TIME));
    let facts = exec(&rt, &id, &["--cap", "CAP_SYS_TIME", "--", "/probe"])
        .expect_ok("exec --cap")
        .json();
    for set in ["CapBnd", "CapEff", "CapPrm"] {
        assert!(
            cap_bit(&facts["status"], set, CAP_SYS_TIME),
            "{set}: {}",
            facts["status"]
        );
    }
    assert!(!cap_bit(&facts["status"], "CapInh", CAP_SYS_TIME));
}

#[test]
fn exec_into_stopped_or_paused_container_fails() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    b.args(&["true"]);
    let id = unique_id("exec-stopped");
    rt.create(&b, &id, &[]).expect_ok("create");
    rt.run(&["start", &id]).expect_ok("start");
    rt.wait_status(&id, "stopped");
    let out = exec(&rt, &id, &["--", "true"]);
    assert!(!out.ok(), "exec into a stopped container: {out:?}");
    assert!(out.stderr.contains("stopped"), "{out:?}");

    let b = sleeping_bundle(&rt);
    let (id, _) = running(&rt, &b, "exec-paused");
    rt.run(&["pause", &id]).expect_ok("pause");
    let out = exec(&rt, &id, &["--", "true"]);
    assert!(!out.ok(), "exec into a paused container: {out:?}");
    assert!(out.stderr.contains("--ignore-paused"), "{out:?}");
    rt.run(&["resume", &id]).expect_ok("resume");
    exec(&rt, &id, &["--", "true"]).expect_ok("exec after resume");
}

#[test]
fn exec_into_created_container_works() {
    require_root!();
    let rt = Rt::new();
    let b = sleeping_bundle(&rt);
    let id = unique_id("exec-created");
    rt.create(&b, &id, &[]).expect_ok("create");
    let out = exec(&rt, &id, &["--", "echo", "early"]).expect_ok("exec into created");
    assert_eq!(out.stdout, "early\n");
    assert_eq!(rt.state(&id).unwrap()["status"], "created");
}

fn gone_or_zombie(pid: i64) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(s) => s[s.rfind(')').unwrap() + 2..].starts_with('Z'),
    }
}

#[test]
fn exec_detached_writes_pid_file_and_dies_with_the_container() {
    require_root!();
    let rt = Rt::new();
    let b = sleeping_bundle(&rt);
    let (id, init) = running(&rt, &b, "exec-detach");
    let pidfile = b.path().join("exec.pid");
    exec(
        &rt,
        &id,
        &[
            "-d",
            "--pid-file",
            pidfile.to_str().unwrap(),
            "--",
            "/probe",
            "sleep",
            "600",
        ],
    )
    .expect_ok("exec -d");
    let pid: i64 = fs::read_to_string(&pidfile)
        .expect("pid file")
        .trim()
        .parse()
        .unwrap();
    assert_ne!(pid, init);
    let pidns = |p: i64| fs::metadata(format!("/proc/{p}/ns/pid")).unwrap().ino();
    assert_eq!(pidns(pid), pidns(init));
    // The container is still running; its init is what state reports.
    assert_eq!(rt.wait_status(&id, "running")["pid"], init);

    rt.run(&["delete", "--force", &id])
        .expect_ok("delete --force");
    let start = Instant::now();
    while !gone_or_zombie(pid) {
        assert!(
            start.elapsed() < DEADLINE,
            "exec'd process {pid} survived delete"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn exec_process_file() {
    require_root!();
    let rt = Rt::new();
    let b = sleeping_bundle(&rt);
    let (id, _) = running(&rt, &b, "exec-pfile");
    let pfile = b.path().join("process.json");
    fs::write(
        &pfile,
        json!({
            "args": ["/probe"],
            "cwd": "/tmp",
            "env": ["PATH=/bin", "X=1"],
            "user": {"uid": 7, "gid": 8, "additionalGids": [9]},
        })
        .to_string(),
    )
    .unwrap();
    let facts = rt
        .run(&["exec", "--process", pfile.to_str().unwrap(), &id])
        .expect_ok("exec --process")
        .json();
    assert_eq!(
        (facts["uid"].as_i64(), facts["gid"].as_i64()),
        (Some(7), Some(8))
    );
    assert_eq!(facts["groups"], json!([9]));
    assert_eq!(facts["cwd"], "/tmp");
    let env: Vec<String> = serde_json::from_value(facts["env"].clone()).unwrap();
    assert!(env.contains(&"X=1".to_string()), "{env:?}");
    // No capabilities named: none with brig. runc 1.1 gives the process the
    // container's capability config instead (brig fails safe; containerd
    // and podman always name them).
    if is_brig() {
        assert_eq!(facts["status"]["CapBnd"], "0000000000000000");
    } else {
        assert_ne!(facts["status"]["CapBnd"], "0000000000000000");
    }
}

#[test]
fn exec_in_a_user_namespace_container() {
    require_root!();
    let rt = Rt::new();
    let mut b = sleeping_bundle(&rt);
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        let map = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
        c["linux"]["uidMappings"] = map.clone();
        c["linux"]["gidMappings"] = map;
    });
    let (id, pid) = running(&rt, &b, "exec-userns");
    let facts = exec(&rt, &id, &["--", "/probe"])
        .expect_ok("exec in userns")
        .json();
    let init_user = fs::metadata(format!("/proc/{pid}/ns/user")).unwrap().ino();
    assert_eq!(facts["ns"]["user"], init_user);
    assert_ne!(
        init_user,
        fs::metadata("/proc/self/ns/user").unwrap().ino(),
        "the container has no user namespace of its own"
    );
    assert_eq!(facts["uid"], 0);
    let map = facts["uid_map"].as_str().unwrap();
    assert_eq!(
        map.split_whitespace().collect::<Vec<_>>(),
        ["0", "200000", "65536"]
    );
    // Host view: the exec'd process runs as the mapped uid.
    let out = exec(&rt, &id, &["-u", "1000", "--", "/probe"]).expect_ok("exec -u in userns");
    assert_eq!(out.json()["uid"], 1000);
}

#[test]
fn exec_tty_sends_the_master_over_the_console_socket() {
    require_root!();
    let rt = Rt::new();
    let b = sleeping_bundle(&rt);
    let (id, _) = running(&rt, &b, "exec-tty");
    let sock = b.path().join("exec-console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(crate::console::receive_master(listener));
    });
    exec(
        &rt,
        &id,
        &[
            "-d",
            "-t",
            "--console-socket",
            sock.to_str().unwrap(),
            "--",
            "/probe",
        ],
    )
    .expect_ok("exec -t --console-socket");
    let (_, master) = rx.recv_timeout(DEADLINE).expect("pty master never arrived");
    let reader = fs::File::from(master);
    let output = crate::console::read_pty_to_end(reader, "probe");
    let facts = json_lines(&output)
        .into_iter()
        .find(|v| v.get("tty").is_some())
        .unwrap_or_else(|| panic!("no probe output in {output:?}"));
    for fd in ["0", "1", "2"] {
        assert_eq!(facts["tty"][fd]["isatty"], true, "fd {fd}: {facts}");
    }
}

/// exec takes the container's namespaces from the config it was created
/// with and, as runc does, the base process from the bundle's config.json
/// as it is now; brig (not runc) still execs once config.json is gone.
#[test]
fn exec_uses_the_config_saved_at_create() {
    require_root!();
    let rt = Rt::new();
    let mut b = sleeping_bundle(&rt);
    b.edit(|c| c["process"]["env"] = json!(["PATH=/bin", "FROM=create"]));
    let (id, _) = running(&rt, &b, "execcfg");

    b.edit(|c| {
        c["process"]["env"] = json!(["PATH=/bin", "FROM=edited"]);
        c["linux"]["namespaces"] = json!([]);
    });
    let facts = exec(&rt, &id, &["--", "/probe"])
        .expect_ok("exec after config.json was edited")
        .json();
    let env: Vec<String> = serde_json::from_value(facts["env"].clone()).unwrap();
    assert!(env.contains(&"FROM=edited".to_string()), "{env:?}");
    assert_eq!(facts["pid"].as_i64().map(|p| p > 1), Some(true), "{facts}");
    assert_eq!(
        facts["ppid"], 0,
        "not in the container's pid namespace: {facts}"
    );

    if !is_brig() {
        crate::skip::part("exec without config.json: brig only");
        return;
    }
    fs::remove_file(b.path().join("config.json")).unwrap();
    let out = exec(&rt, &id, &["--", "echo", "still here"]).expect_ok("exec without config.json");
    assert_eq!(out.stdout, "still here\n");
}
