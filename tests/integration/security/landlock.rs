//! The `run.brig.landlock` annotation (brig only; runc ignores it): a write
//! outside the allowed paths fails with EACCES inside the container.

use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;

use serde_json::json;

use crate::common::{
    assert_clean_failure, is_brig, json_lines, require_root, unique_id, Bundle, Rt,
};

const SCRIPT: &str = "/probe mkdir /tmp/allowed; /probe mkdir /mnt/denied; \
                      /probe open /etc/passwd r; /probe write /etc/passwd x";

fn errnos(rt: &Rt, b: &mut Bundle) -> Vec<i64> {
    b.args(&["sh", "-c", SCRIPT]);
    let out = rt.run_bundle(b, &unique_id("ll"), &[]).expect_ok("run");
    json_lines(&out.stdout)
        .iter()
        .map(|l| l["errno"].as_i64().unwrap())
        .collect()
}

#[test]
fn landlock_annotation_denies_writes_outside_the_allowed_paths() {
    require_root!();
    if !is_brig() {
        return crate::skip::test("Landlock annotation: brig only");
    }
    let rt = Rt::new();
    let features = rt.run(&["features"]).expect_ok("features").json();
    assert!(
        features["annotations"]["run.brig.landlock"].is_string(),
        "{features}"
    );
    let mut b = Bundle::new(&rt);
    b.edit(|c| c["root"]["readonly"] = json!(false));
    // Without the annotation every step succeeds: the denials below are
    // Landlock's.
    assert_eq!(errnos(&rt, &mut b), [0, 0, 0, 0]);
    std::fs::remove_dir(b.rootfs().join("tmp/allowed")).unwrap();
    std::fs::remove_dir(b.rootfs().join("mnt/denied")).unwrap();

    let policy = json!({"required": true, "readOnly": ["/"], "readWrite": ["/tmp"],
                        "execute": ["/bin", "/probe"]});
    b.edit(|c| c["annotations"] = json!({"run.brig.landlock": policy.to_string()}));
    let eacces = i64::from(libc::EACCES);
    assert_eq!(errnos(&rt, &mut b), [0, eacces, 0, eacces]);
    assert!(!b.rootfs().join("mnt/denied").exists());
}

/// A seccomp filter (raw BPF) that makes the three Landlock syscalls fail
/// with ENOSYS: what a kernel without Landlock answers.
fn no_landlock_filter() -> Vec<libc::sock_filter> {
    use libseccomp::{ScmpAction, ScmpFilterContext, ScmpSyscall};
    let mut f = ScmpFilterContext::new(ScmpAction::Allow).unwrap();
    for name in [
        "landlock_create_ruleset",
        "landlock_add_rule",
        "landlock_restrict_self",
    ] {
        f.add_rule(
            ScmpAction::Errno(libc::ENOSYS),
            ScmpSyscall::from_name(name).unwrap(),
        )
        .unwrap();
    }
    let file = tempfile::tempfile().unwrap();
    f.export_bpf(&file).unwrap();
    let bytes = std::fs::read(format!("/proc/self/fd/{}", file.as_raw_fd())).unwrap();
    bytes
        .chunks_exact(8)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect()
}

/// `required: true` on a kernel without Landlock: create fails with one
/// line and leaves nothing; without `required` the container runs
/// unconfined, with a warning. The kernel here has Landlock, so brig runs
/// under a seccomp filter that answers ENOSYS for it.
#[test]
fn landlock_required_on_a_kernel_without_it() {
    require_root!();
    if !is_brig() {
        return crate::skip::test("Landlock annotation: brig only");
    }
    let rt = Rt::new();
    let filter = no_landlock_filter();
    let without_landlock = |args: &[&str]| {
        let mut cmd = rt.command(args);
        // The program outlives the child's exec: `filter` is borrowed
        // for the whole call.
        let (ptr, len) = (filter.as_ptr() as usize, filter.len() as u16);
        // SAFETY: only seccomp(2) runs between fork and exec, on a program
        // built before the fork; root needs no no_new_privs for it.
        unsafe {
            cmd.pre_exec(move || {
                let prog = libc::sock_fprog {
                    len,
                    filter: ptr as *mut libc::sock_filter,
                };
                let rc = libc::syscall(
                    libc::SYS_seccomp,
                    libc::SECCOMP_SET_MODE_FILTER,
                    0,
                    &prog as *const libc::sock_fprog,
                );
                if rc == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
        rt.run_cmd(cmd)
    };
    let mut b = Bundle::new(&rt);
    b.edit(|c| c["root"]["readonly"] = json!(false));
    b.args(&["sh", "-c", "/probe mkdir /mnt/unconfined"]);
    let policy = |required: bool| {
        json!({"required": required, "readOnly": ["/"], "execute": ["/bin", "/probe"]}).to_string()
    };

    b.edit(|c| c["annotations"] = json!({"run.brig.landlock": policy(true)}));
    let id = unique_id("llreq");
    let b_path = b.path().to_str().unwrap().to_string();
    let out = without_landlock(&["run", "--bundle", &b_path, &id]);
    assert_clean_failure(&rt, &out, &id, "Landlock required without Landlock");
    assert!(out.stderr.contains("requires Landlock"), "{out:?}");
    assert!(!b.rootfs().join("mnt/unconfined").exists());

    b.edit(|c| c["annotations"] = json!({"run.brig.landlock": policy(false)}));
    let id = unique_id("llbest");
    let out = without_landlock(&["run", "--bundle", &b_path, &id]);
    assert!(out.ok(), "best effort without Landlock: {out:?}");
    assert!(out.stderr.contains("not available"), "{out:?}");
    assert_eq!(json_lines(&out.stdout)[0]["errno"], 0, "{out:?}");
    assert!(b.rootfs().join("mnt/unconfined").exists());

    // With --log (containerd, podman), init's warning, given after the
    // parent has gone, is a JSON line of that log.
    std::fs::remove_dir(b.rootfs().join("mnt/unconfined")).unwrap();
    let log = tempfile::NamedTempFile::new().unwrap();
    let log_path = log.path().to_str().unwrap().to_string();
    let id = unique_id("lllog");
    let out = without_landlock(&[
        "--log",
        &log_path,
        "--log-format",
        "json",
        "run",
        "--bundle",
        &b_path,
        &id,
    ]);
    assert!(out.ok(), "{out:?}");
    let lines = json_lines(&std::fs::read_to_string(log.path()).unwrap());
    assert!(
        lines
            .iter()
            .any(|l| l["level"] == "warning" && l["msg"].as_str().unwrap().contains("Landlock")),
        "{lines:?}"
    );
}

/// A node policy's default ruleset goes to a container that brings none
/// (the same denials as the annotation); one that brings its own keeps it.
#[test]
fn node_policy_gives_its_default_ruleset() {
    require_root!();
    if !is_brig() {
        return crate::skip::test("node policy: brig only");
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ll.toml");
    std::fs::write(
        &file,
        "version = 1\n[landlock.default]\nrequired = true\nreadOnly = [\"/\"]\nreadWrite = [\"/tmp\"]\nexecute = [\"/bin\", \"/probe\"]\n",
    )
    .unwrap();
    let policy = file.to_str().unwrap();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    b.edit(|c| c["root"]["readonly"] = json!(false));
    b.args(&["sh", "-c", SCRIPT]);
    let run = |b: &Bundle| {
        let bundle = b.path().to_str().unwrap();
        let id = unique_id("llpol");
        rt.track(&id);
        let out = rt
            .run(&["--policy", policy, "run", "--bundle", bundle, &id])
            .expect_ok("run under the policy");
        let errnos: Vec<i64> = json_lines(&out.stdout)
            .iter()
            .map(|l| l["errno"].as_i64().unwrap())
            .collect();
        std::fs::remove_dir(b.rootfs().join("tmp/allowed")).ok();
        std::fs::remove_dir(b.rootfs().join("mnt/denied")).ok();
        errnos
    };
    let eacces = i64::from(libc::EACCES);
    assert_eq!(run(&b), [0, eacces, 0, eacces]);
    // Its own ruleset (everything writable beneath /) is kept.
    let own = json!({"readWrite": ["/"], "execute": ["/"]});
    b.edit(|c| c["annotations"] = json!({"run.brig.landlock": own.to_string()}));
    assert_eq!(run(&b), [0, 0, 0, 0]);
}

/// `executeImageOnly` with `readWrite: ["/"]`: everything may be read and
/// written, but programs run only from the image's own top-level entries:
/// not from a tmpfs (an emptyDir; /dev/shm is noexec anyway) or a volume.
#[test]
fn execute_only_from_the_image() {
    require_root!();
    if !is_brig() {
        return crate::skip::test("Landlock annotation: brig only");
    }
    let rt = Rt::new();
    let vol = tempfile::tempdir().unwrap();
    std::fs::copy("/bin/busybox", vol.path().join("true")).unwrap();
    let volume = vol.path().to_str().unwrap().to_string();
    let mut b = Bundle::new(&rt);
    // Each step prints its exit status on a line of its own.
    let script = "/bin/true; echo image=$?; cp /bin/busybox /scratch/true && echo copied; \
                  /scratch/true; echo tmpfs=$?; /vol/true; echo volume=$?; \
                  /probe >/dev/null; echo probe=$?; echo x > /vol/written && echo wrote; \
                  /probe exec-memfd /bin/busybox; echo memfd=$?";
    b.args(&["sh", "-c", script]);
    b.edit(|c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.push(json!({"destination": "/vol", "type": "bind", "source": volume, "options": ["rbind", "rw"]}));
        mounts.push(json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"]}));
    });
    let before = rt
        .run_bundle(&b, &unique_id("llx"), &[])
        .expect_ok("run")
        .stdout;
    for want in [
        "image=0", "copied", "tmpfs=0", "volume=0", "probe=0", "wrote",
    ] {
        assert!(
            before.lines().any(|l| l == want),
            "without Landlock: {want} in {before}"
        );
    }
    let policy = json!({"required": true, "readWrite": ["/"], "executeImageOnly": true});
    b.edit(|c| c["annotations"] = json!({"run.brig.landlock": policy.to_string()}));
    let after = rt
        .run_bundle(&b, &unique_id("llx"), &[])
        .expect_ok("run")
        .stdout;
    // 126: the shell found the file and could not execute it (EACCES).
    for want in [
        "image=0",
        "copied",
        "tmpfs=126",
        "volume=126",
        "probe=0",
        "wrote",
    ] {
        assert!(
            after.lines().any(|l| l == want),
            "with Landlock: {want} in {after}"
        );
    }
}
