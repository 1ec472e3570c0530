//! The process environment, as runc prepares it: each key once with its
//! last value, HOME from the container's /etc/passwd when it is missing or
//! empty, `exec --process` taking its env (and a missing `user`) from the
//! file alone, and a startContainer hook without env of its own getting
//! the process's environment. Mirrors runc's tests/integration/env.bats
//! and hooks.bats.

use std::fs;

use serde_json::json;

use crate::common::{is_brig, require_root, unique_id, Bundle, Rt};

/// `env` in a fresh container with process.env `env` (and `user`, when
/// given); returns its lines.
fn env_of(rt: &Rt, env: &[&str], user: Option<(u32, u32)>) -> Vec<String> {
    let mut b = Bundle::new(rt);
    b.edit(|c| {
        c["process"]["args"] = json!(["env"]);
        c["process"]["env"] = json!(env);
        if let Some((uid, gid)) = user {
            c["process"]["user"] = json!({"uid": uid, "gid": gid});
        }
    });
    let out = rt
        .run_bundle(&b, &unique_id("env"), &[])
        .expect_ok("run env");
    out.stdout.lines().map(str::to_string).collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn duplicate_keys_keep_the_last_value_and_empty_home_is_filled() {
    require_root!();
    let rt = Rt::new();
    let got = env_of(
        &rt,
        &["A=1", "B=2", "A=3", "HOME=/x", "HOME=", "PATH=/bin"],
        None,
    );
    assert_eq!(
        sorted(got.clone()),
        ["A=3", "B=2", "HOME=/root", "PATH=/bin"],
        "{got:?}"
    );
    // Where a key stands: runc (since 1.2) keeps the place of its last
    // occurrence and appends HOME; runc 1.1 kept the first place.
    if is_brig() {
        assert_eq!(got, ["B=2", "A=3", "PATH=/bin", "HOME=/root"]);
    }

    // A non-empty HOME is the process's own.
    let got = env_of(&rt, &["PATH=/bin", "HOME=/override"], None);
    assert_eq!(sorted(got), ["HOME=/override", "PATH=/bin"]);
    // An empty value of another key is kept; its earlier value is not.
    let got = env_of(&rt, &["ONE=two", "ONE=", "PATH=/bin"], None);
    assert_eq!(sorted(got), ["HOME=/root", "ONE=", "PATH=/bin"]);
    // A user /etc/passwd does not name gets HOME=/.
    let got = env_of(&rt, &["PATH=/bin", "HOME="], Some((1000, 1000)));
    assert_eq!(sorted(got), ["HOME=/", "PATH=/bin"]);
}

#[test]
fn exec_process_file_without_user_runs_as_root_with_its_own_env() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    b.args(&["/probe", "sleep", "600"]);
    let id = unique_id("env-exec");
    rt.create(&b, &id, &[]).expect_ok("create");
    rt.run(&["start", &id]).expect_ok("start");
    rt.wait_status(&id, "running");
    for (process, want_env) in [
        (
            json!({"args": ["/probe"], "cwd": "/", "env": ["FOO=bar", "FOO=baz"]}),
            vec!["FOO=baz", "HOME=/root"],
        ),
        (json!({"args": ["/probe"], "cwd": "/"}), vec!["HOME=/root"]),
    ] {
        let pfile = b.path().join("process.json");
        fs::write(&pfile, process.to_string()).unwrap();
        let facts = rt
            .run(&["exec", "-p", pfile.to_str().unwrap(), &id])
            .expect_ok("exec -p without user")
            .json();
        assert_eq!(
            (facts["uid"].as_i64(), facts["gid"].as_i64()),
            (Some(0), Some(0))
        );
        let env: Vec<String> = serde_json::from_value(facts["env"].clone()).unwrap();
        // Only what process.json gives (config.json's PATH and TERM stay
        // out), and HOME.
        assert_eq!(sorted(env), want_env, "{process}");
    }
}

#[test]
fn start_container_hook_without_env_gets_the_process_env() {
    require_root!();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    // The hook runs in the container: it writes its environment into the
    // rootfs, where the host reads it.
    let record = json!({"path": "/bin/busybox",
                        "args": ["sh", "-c", "/bin/busybox env > /tmp/hook.env"]});
    let own = json!({"path": "/bin/busybox",
                     "args": ["sh", "-c", "/bin/busybox env > /tmp/own.env"],
                     "env": ["ONLY=this"]});
    b.edit(|c| {
        c["root"]["readonly"] = json!(false);
        c["process"]["args"] = json!(["/bin/true"]);
        c["process"]["env"] = json!(["ONE=two", "FOO=bar", "ONE=three", "PATH=/bin"]);
        c["hooks"] = json!({"startContainer": [record, own]});
    });
    rt.run_bundle(&b, &unique_id("hookenv"), &[])
        .expect_ok("run with startContainer hooks");
    let lines = |f: &str| -> Vec<String> {
        let text = fs::read_to_string(b.rootfs().join("tmp").join(f)).unwrap();
        text.lines()
            .map(str::to_string)
            // sh adds its own.
            .filter(|l| !l.starts_with("PWD=") && !l.starts_with("SHLVL="))
            .collect()
    };
    assert_eq!(
        sorted(lines("hook.env")),
        ["FOO=bar", "HOME=/root", "ONE=three", "PATH=/bin"]
    );
    // A hook with env of its own gets exactly that (and the PATH busybox
    // sh sets when there is none).
    let own: Vec<String> = lines("own.env")
        .into_iter()
        .filter(|l| !l.starts_with("PATH="))
        .collect();
    assert_eq!(own, ["ONLY=this"]);
}

/// An image whose /etc/passwd is a fifo does not hang create: HOME falls
/// back to "/" (a regular file is the only passwd brig reads).
#[test]
fn passwd_fifo_does_not_block_init() {
    require_root!();
    if !is_brig() {
        return crate::skip::test("brig's guard");
    }
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    let passwd = b.rootfs().join("etc/passwd");
    std::fs::remove_file(&passwd).unwrap();
    nix::unistd::mkfifo(&passwd, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    b.edit(|c| c["process"]["env"] = serde_json::json!(["PATH=/bin"]));
    b.args(&["sh", "-c", "echo $HOME"]);
    let out = rt.spawn_run(&b, &unique_id("fifopw")).wait();
    assert!(out.ok(), "{out:?}");
    assert_eq!(out.stdout.trim(), "/");
}
