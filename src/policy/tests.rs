//! Each rule's refuse, clamp and audit paths, on configs alone.

use oci_spec::runtime::{LinuxSeccompAction, Spec};

use super::rules::Host;
use super::REQUIRED_MASKED;
use super::*;
use crate::linux::rootfs::tests_support::RUNC_SPEC;

/// runc's spec with a process: uid 1000, runc's default capabilities.
fn spec(edit: impl FnOnce(&mut serde_json::Value)) -> Spec {
    let mut v: serde_json::Value = serde_json::from_str(RUNC_SPEC).unwrap();
    let caps = serde_json::json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    v["process"] = serde_json::json!({
        "args": ["sh"], "cwd": "/", "user": {"uid": 1000, "gid": 1000},
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "noNewPrivileges": true
    });
    edit(&mut v);
    serde_json::from_value(v).unwrap()
}

fn host() -> Host {
    Host {
        apparmor_enabled: true,
        kernel_caps: vec!["CAP_CHOWN".into(), "CAP_SYS_ADMIN".into()],
        userns_grant: None,
    }
}

fn policy(toml: &str) -> Policy {
    Policy::parse(&format!("version = 1\n{toml}"), "test", "test").unwrap()
}

/// Apply and return (the error line, or the findings with the spec after).
fn run(p: &Policy, s: &Spec) -> std::result::Result<(Vec<Finding>, Spec), String> {
    let mut s = s.clone();
    match apply_to_spec(p, &mut s, &host()) {
        Ok(f) => Ok((f, s)),
        Err(e) => Err(e.chain()),
    }
}

#[test]
fn presets_parse_and_selection_prefers_the_operators_file() {
    for (name, text) in PRESETS {
        let p = Policy::parse(text, name, name).unwrap();
        assert_eq!(p.name, *name);
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("restricted.toml"),
        "version = 1\ndescription = \"ours\"\n",
    )
    .unwrap();
    let p = Policy::select_in(dir.path(), "restricted").unwrap();
    assert_eq!(
        (p.name.as_str(), p.description.as_str()),
        ("restricted", "ours")
    );
    let p = Policy::select_in(dir.path(), "sandbox").unwrap();
    assert_eq!(p.name, "sandbox");
    let file = dir.path().join("mine.toml");
    std::fs::write(&file, "version = 1\nname = \"named\"\nmode = \"audit\"\n").unwrap();
    let p = Policy::select_in(dir.path(), file.to_str().unwrap()).unwrap();
    assert_eq!((p.name.as_str(), p.mode), ("named", Mode::Audit));
    for (which, want) in [
        ("nope", "no preset of that name"),
        ("../x", "read policy"),
        (".hidden", "is not valid"),
    ] {
        let e = Policy::select_in(dir.path(), which).unwrap_err().chain();
        assert!(e.contains(want), "{which}: {e}");
    }
}

#[test]
fn bad_policy_files_are_refused_in_one_line() {
    for (text, want) in [
        ("version = 2", "format version 2"),
        ("version = 1\nfoo = 1", "unknown field `foo`"),
        ("version = 1\nmode = \"lax\"", "unknown variant `lax`"),
        (
            "version = 1\n[capabilities]\naction = \"clamp\"\nallowed = [\"CAP_NOPE\"]",
            "capability \"CAP_NOPE\" is not known",
        ),
        (
            "version = 1\n[process]\nrun_as_non_root = \"clamp\"",
            "run_as_non_root can only refuse",
        ),
        (
            "version = 1\n[namespaces]\naction = \"refuse\"\nallow_host = [\"user\"]",
            "\"user\" is not one of",
        ),
    ] {
        let e = Policy::parse(text, "p", "p.toml").unwrap_err().chain();
        assert!(e.starts_with("policy p.toml: ") && e.contains(want), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }
}

#[test]
fn program_name_selects_a_policy() {
    assert_eq!(
        from_program_name("/usr/local/bin/brig-sandbox").as_deref(),
        Some("sandbox")
    );
    assert_eq!(from_program_name("brig"), None);
    assert_eq!(from_program_name("/usr/bin/runc"), None);
    assert_eq!(from_program_name("brig-"), None);
}

#[test]
fn capability_ceiling_refuses_or_clamps_every_set() {
    let s = spec(|_| {});
    let refuse =
        policy("[capabilities]\naction = \"refuse\"\nallowed = [\"CAP_NET_BIND_SERVICE\"]");
    let e = run(&refuse, &s).unwrap_err();
    assert_eq!(
        e,
        "refused by node policy \"test\" (rule \"capabilities\"): process.capabilities.bounding: CAP_AUDIT_WRITE, CAP_KILL above the policy's ceiling"
    );
    let clamp = policy("[capabilities]\naction = \"clamp\"\nallowed = [\"CAP_NET_BIND_SERVICE\"]");
    let (f, out) = run(&clamp, &s).unwrap();
    assert_eq!(f.len(), 3, "{f:?}");
    assert!(f.iter().all(|f| f.outcome == Outcome::Clamped));
    let caps = out
        .process()
        .as_ref()
        .unwrap()
        .capabilities()
        .clone()
        .unwrap();
    for set in [caps.bounding(), caps.effective(), caps.permitted()] {
        let names: Vec<String> = set.iter().flatten().map(|c| c.to_string()).collect();
        assert_eq!(names, vec!["NET_BIND_SERVICE"]);
    }
    // Every capability the kernel knows is `privileged`: refused even by
    // a clamping rule.
    let all = spec(|v| {
        v["process"]["capabilities"]["bounding"] = serde_json::json!(["CAP_CHOWN", "CAP_SYS_ADMIN"])
    });
    let e = run(&clamp, &all).unwrap_err();
    assert!(e.contains("every capability (privileged)"), "{e}");
}

#[test]
fn process_rules() {
    let p = policy(
        "[process]\nno_new_privileges = \"clamp\"\nrun_as_non_root = \"refuse\"\nreadonly_rootfs = \"clamp\"",
    );
    let s = spec(|v| {
        v["process"]["noNewPrivileges"] = false.into();
        v["root"]["readonly"] = false.into();
    });
    let (f, out) = run(&p, &s).unwrap();
    let rules: Vec<&str> = f.iter().map(|f| f.rule.as_str()).collect();
    assert_eq!(
        rules,
        ["process.no_new_privileges", "process.readonly_rootfs"]
    );
    assert_eq!(
        out.process().as_ref().unwrap().no_new_privileges(),
        Some(true)
    );
    assert_eq!(out.root().as_ref().unwrap().readonly(), Some(true));
    let root = spec(|v| v["process"]["user"]["uid"] = 0.into());
    let e = run(&p, &root).unwrap_err();
    assert!(
        e.ends_with("process.user.uid: uid 0 outside a user namespace"),
        "{e}"
    );
    // uid 0 in a user namespace of its own is not the host's root.
    let userns = spec(|v| {
        v["process"]["user"]["uid"] = 0.into();
        v["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"type": "user"}));
    });
    assert!(run(&p, &userns).is_ok());
}

#[test]
fn seccomp_default_refuse_and_denied_syscalls() {
    let s = spec(|_| {});
    let (f, out) = run(&policy("[seccomp]\nunconfined = \"default\""), &s).unwrap();
    assert_eq!(f[0].field, "linux.seccomp");
    assert!(out.linux().as_ref().unwrap().seccomp().is_some());
    let e = run(&policy("[seccomp]\nunconfined = \"refuse\""), &s).unwrap_err();
    assert!(e.contains("linux.seccomp: none (unconfined)"), "{e}");
    assert!(run(&policy("[seccomp]\nunconfined = \"allow\""), &s)
        .unwrap()
        .0
        .is_empty());

    // A profile that allows bpf outright and keyctl by default.
    let allowing = spec(|v| {
        v["linux"]["seccomp"] = serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["bpf", "getpid"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["ptrace"], "action": "SCMP_ACT_ERRNO"}
            ]
        })
    });
    let deny = "deny_syscalls = [\"bpf\", \"keyctl\", \"ptrace\"]";
    let e = run(
        &policy(&format!("[seccomp]\naction = \"refuse\"\n{deny}")),
        &allowing,
    )
    .unwrap_err();
    assert!(
        e.contains("allows bpf, keyctl, which the policy denies"),
        "{e}"
    );
    let (_, out) = run(
        &policy(&format!("[seccomp]\naction = \"clamp\"\n{deny}")),
        &allowing,
    )
    .unwrap();
    let s = out.linux().as_ref().unwrap().seccomp().clone().unwrap();
    let rules = s.syscalls().clone().unwrap();
    assert_eq!(rules[0].names(), &vec!["getpid".to_string()]);
    let last = rules.last().unwrap();
    assert_eq!(last.action(), LinuxSeccompAction::ScmpActErrno);
    assert_eq!(last.names(), &vec!["bpf".to_string(), "keyctl".to_string()]);
    // What the clamp wrote still compiles.
    crate::linux::seccomp::build(&s).unwrap();
}

#[test]
fn apparmor_default_and_unconfined() {
    let p = policy("[apparmor]\ndefault_profile = \"brig-default\"");
    let (_, out) = run(&p, &spec(|_| {})).unwrap();
    assert_eq!(
        out.process()
            .as_ref()
            .unwrap()
            .apparmor_profile()
            .as_deref(),
        Some("brig-default")
    );
    let e = run(
        &p,
        &spec(|v| v["process"]["apparmorProfile"] = "unconfined".into()),
    )
    .unwrap_err();
    assert!(
        e.contains("process.apparmorProfile: unconfined is not allowed"),
        "{e}"
    );
    // Without AppArmor in the kernel there is nothing to give.
    let mut s = spec(|_| {});
    let mut h = host();
    h.apparmor_enabled = false;
    assert!(apply_to_spec(&p, &mut s, &h).unwrap().is_empty());
}

#[test]
fn host_namespaces() {
    // runc's spec: network, pid, ipc, uts, mount of its own; cgroup the host's.
    let s = spec(|_| {});
    let e = run(&policy("[namespaces]\naction = \"refuse\""), &s).unwrap_err();
    assert!(
        e.ends_with("linux.namespaces: the host's cgroup namespace"),
        "{e}"
    );
    let allow = policy("[namespaces]\naction = \"refuse\"\nallow_host = [\"cgroup\"]");
    assert!(run(&allow, &s).unwrap().0.is_empty());
    let host_net = spec(|v| {
        v["linux"]["namespaces"] = serde_json::json!([
            {"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"},
            {"type": "network", "path": "/proc/self/ns/net"}
        ])
    });
    let e = run(&allow, &host_net).unwrap_err();
    assert!(e.ends_with("the host's network namespace"), "{e}");
    let clamp = policy("[namespaces]\naction = \"clamp\"\nallow_host = [\"cgroup\"]");
    let (_, out) = run(&clamp, &host_net).unwrap();
    let ns = out.linux().as_ref().unwrap().namespaces().clone().unwrap();
    let net = ns
        .iter()
        .find(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::Network);
    assert!(net.unwrap().path().is_none());
}

#[test]
fn sysctls_only_the_safe_set() {
    let s = spec(|v| {
        v["linux"]["sysctl"] = serde_json::json!({
            "net.ipv4.ping_group_range": "0 0",
            "kernel.msgmax": "8192",
            "net.core.somaxconn": "1024"
        })
    });
    let e = run(&policy("[sysctls]\naction = \"refuse\""), &s).unwrap_err();
    assert!(e.contains("linux.sysctl.kernel.msgmax"), "{e}");
    let p = policy("[sysctls]\naction = \"clamp\"\nallow = [\"net.core.somaxconn\"]");
    let (f, out) = run(&p, &s).unwrap();
    assert_eq!(f.len(), 1);
    let mut keys: Vec<String> = out
        .linux()
        .as_ref()
        .unwrap()
        .sysctl()
        .clone()
        .unwrap()
        .into_keys()
        .collect();
    keys.sort();
    assert_eq!(keys, ["net.core.somaxconn", "net.ipv4.ping_group_range"]);
}

#[test]
fn mounts_of_sensitive_host_paths_and_masked_paths() {
    let bind = |src: &str| serde_json::json!({"destination": "/mnt", "type": "bind", "source": src, "options": ["rbind"]});
    let p = policy("[mounts]\naction = \"refuse\"\ndeny_sensitive_host_paths = true");
    for (src, denied) in [
        ("/etc", true),
        ("/etc/ssl", true),
        ("/", true),
        ("/var", true),            // holds /var/run/docker.sock
        ("/run/containerd", true), // holds containerd.sock
        ("/var/lib/kubelet/pki", true),
        ("/var/lib/kubelet/pods/u/volumes/x", false),
        (
            "/run/containerd/io.containerd.grpc.v1.cri/sandboxes/s/shm",
            false,
        ),
        ("/tmp/data", false),
    ] {
        let s = spec(|v| v["mounts"].as_array_mut().unwrap().push(bind(src)));
        match run(&p, &s) {
            Err(e) => assert!(
                denied && e.contains("mounts[7] (/mnt): bind source"),
                "{src}: {e}"
            ),
            Ok(_) => assert!(!denied, "{src} was allowed"),
        }
    }
    // A proc or tmpfs mount has no host source.
    assert!(run(&p, &spec(|_| {})).unwrap().0.is_empty());
    let clamp = policy("[mounts]\naction = \"clamp\"\ndeny_host_paths = [\"/srv/secret\"]");
    let s = spec(|v| v["mounts"].as_array_mut().unwrap().push(bind("/srv")));
    let (_, out) = run(&clamp, &s).unwrap();
    assert_eq!(out.mounts().as_ref().unwrap().len(), 7);

    let masked = policy("[mounts]\naction = \"refuse\"\nrequire_masked_paths = \"clamp\"");
    let unmasked = spec(|v| {
        v["linux"]["maskedPaths"] = serde_json::json!([]);
        v["linux"]["readonlyPaths"] = serde_json::json!([]);
    });
    let (f, out) = run(&masked, &unmasked).unwrap();
    assert_eq!(f.len(), 2);
    let l = out.linux().clone().unwrap();
    assert_eq!(
        l.masked_paths().as_ref().unwrap().len(),
        REQUIRED_MASKED.len()
    );
    let refuse = policy("[mounts]\naction = \"refuse\"\nrequire_masked_paths = \"refuse\"");
    let e = run(&refuse, &unmasked).unwrap_err();
    assert!(e.contains("linux.maskedPaths: /proc/acpi"), "{e}");
}

#[test]
fn devices_only_the_default_set() {
    let p = policy("[devices]\naction = \"refuse\"");
    let fuse = spec(|v| {
        v["linux"]["devices"] = serde_json::json!([
            {"path": "/dev/null", "type": "c", "major": 1, "minor": 3},
            {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}
        ])
    });
    let e = run(&p, &fuse).unwrap_err();
    assert!(
        e.contains("linux.devices: /dev/fuse is not a default device"),
        "{e}"
    );
    let all = spec(|v| {
        v["linux"]["resources"] = serde_json::json!({"devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"},
            {"allow": true, "access": "rwm"}
        ]})
    });
    let e = run(&p, &all).unwrap_err();
    assert!(
        e.contains("linux.resources.devices[2]: allows devices beyond"),
        "{e}"
    );
    let (f, out) = run(&policy("[devices]\naction = \"clamp\""), &all).unwrap();
    assert_eq!(f.len(), 1);
    let rules = out.linux().as_ref().unwrap().resources().clone().unwrap();
    assert_eq!(rules.devices().as_ref().unwrap().len(), 2);
}

#[test]
fn audit_changes_nothing_and_refuses_nothing() {
    let text = PRESETS.iter().find(|(n, _)| *n == "sandbox").unwrap().1;
    let mut p = Policy::parse(text, "sandbox", "sandbox").unwrap();
    p.mode = Mode::Audit;
    let s = spec(|v| {
        v["process"]["user"]["uid"] = 0.into();
        v["linux"]["sysctl"] = serde_json::json!({"kernel.msgmax": "8192"});
    });
    let (f, out) = run(&p, &s).unwrap();
    assert!(f.len() >= 4, "{f:?}");
    assert!(f.iter().all(|f| f.outcome == Outcome::Audited));
    assert_eq!(
        serde_json::to_value(&out).unwrap(),
        serde_json::to_value(&s).unwrap()
    );
}

#[test]
fn exec_cannot_exceed_the_ceiling() {
    let p = policy(
        "[capabilities]\naction = \"clamp\"\nallowed = [\"CAP_KILL\"]\n[process]\nno_new_privileges = \"refuse\"",
    );
    let config = spec(|_| {});
    let mut process = config.process().clone().unwrap();
    let f = apply_to_process(&p, &config, &mut process, &host()).unwrap();
    assert_eq!(f.len(), 3);
    let names: Vec<String> = process
        .capabilities()
        .as_ref()
        .unwrap()
        .bounding()
        .iter()
        .flatten()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(names, ["KILL"]);
    process.set_no_new_privileges(Some(false));
    let e = apply_to_process(&p, &config, &mut process, &host())
        .unwrap_err()
        .chain();
    assert!(e.contains("process.noNewPrivileges: must be true"), "{e}");
}

#[test]
fn landlock_default_for_a_container_without_its_own() {
    let p = policy("[landlock.default]\nreadOnly = [\"/\"]\nreadWrite = [\"/tmp\"]");
    let (f, out) = run(&p, &spec(|_| {})).unwrap();
    assert_eq!(f[0].field, "annotations.run.brig.landlock");
    let a = out.annotations().clone().unwrap();
    let ll = crate::linux::landlock::parse(Some(&a)).unwrap().unwrap();
    assert_eq!(ll.read_write, vec![std::path::PathBuf::from("/tmp")]);
    // Its own stays.
    let own = spec(|v| v["annotations"] = serde_json::json!({"run.brig.landlock": "{}"}));
    let (f, out) = run(&p, &own).unwrap();
    assert!(f.is_empty());
    assert_eq!(
        out.annotations().clone().unwrap()["run.brig.landlock"],
        "{}"
    );
    // A relative path is refused when the policy is read.
    let e = Policy::parse(
        "version = 1\n[landlock.default]\nreadOnly = [\"rel\"]",
        "p",
        "p.toml",
    )
    .unwrap_err()
    .chain();
    assert!(e.contains("landlock.default"), "{e}");
}

fn with_grant(join: Option<&str>) -> Host {
    Host {
        userns_grant: Some(pool::Grant {
            range: pool::Range {
                start: 3_221_225_472,
                size: 65_536,
            },
            join: join.map(Into::into),
        }),
        ..host()
    }
}

fn user_ns(s: &Spec) -> Option<oci_spec::runtime::LinuxNamespace> {
    rules_ns(s)
        .into_iter()
        .find(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::User)
}

fn rules_ns(s: &Spec) -> Vec<oci_spec::runtime::LinuxNamespace> {
    s.linux()
        .as_ref()
        .unwrap()
        .namespaces()
        .clone()
        .unwrap_or_default()
}

#[test]
fn user_namespace_clamp_maps_the_grant_and_idmaps_the_binds() {
    let p = policy("[user_namespace]\naction = \"clamp\"\n[process]\nrun_as_non_root = \"refuse\"");
    let s = spec(|v| {
        v["process"]["user"] = serde_json::json!({"uid": 0, "gid": 0});
        v["mounts"].as_array_mut().unwrap().extend([
            serde_json::json!({"destination": "/data", "type": "bind", "source": "/srv/data", "options": ["rbind"]}),
            serde_json::json!({"destination": "/dev/fuse", "type": "bind", "source": "/dev/fuse", "options": ["bind"]}),
        ]);
    });
    let mut h = with_grant(None);
    let mut work = s.clone();
    let found = apply_to_spec(&p, &mut work, &h).unwrap();
    assert!(granted_userns(&found), "{found:?}");
    assert!(
        found[0].detail.contains("host ids 3221225472-3221291007"),
        "{}",
        found[0].detail
    );
    // uid 0 is now inside a user namespace: run_as_non_root holds.
    assert!(!found.iter().any(|f| f.rule == "process.run_as_non_root"));
    let user = user_ns(&work).expect("a user namespace");
    assert!(user.path().is_none());
    let maps = work
        .linux()
        .as_ref()
        .unwrap()
        .uid_mappings()
        .clone()
        .unwrap();
    assert_eq!(
        (maps[0].container_id(), maps[0].host_id(), maps[0].size()),
        (0, 3_221_225_472, 65_536)
    );
    let opts = |dest: &str| {
        work.mounts()
            .as_ref()
            .unwrap()
            .iter()
            .find(|m| m.destination().to_str() == Some(dest))
            .unwrap()
            .options()
            .clone()
            .unwrap()
    };
    assert!(opts("/data").contains(&"idmap".to_string()));
    assert!(
        !opts("/dev/fuse").contains(&"idmap".to_string()),
        "the kernel's files stay as they are"
    );
    // The pod's user namespace: joined, no maps of its own.
    h = with_grant(Some("/proc/77/ns/user"));
    let mut work = s.clone();
    apply_to_spec(&p, &mut work, &h).unwrap();
    assert_eq!(
        user_ns(&work).unwrap().path().as_deref(),
        Some(std::path::Path::new("/proc/77/ns/user"))
    );
    assert!(work.linux().as_ref().unwrap().uid_mappings().is_none());
    // Without a grant (policy explain) it is a finding and the config
    // stays, but the rules after it know a user namespace is coming.
    let (found, after) = evaluate_spec(&p, &s, &host());
    assert!(found.iter().any(|f| f.rule == "user_namespace"));
    assert!(
        !found.iter().any(|f| f.rule == "process.run_as_non_root"),
        "{found:?}"
    );
    assert!(user_ns(&after).is_none());
}

#[test]
fn user_namespace_refuse_and_own_maps() {
    let p = policy("[user_namespace]\naction = \"refuse\"");
    let e = run(&p, &spec(|_| {})).unwrap_err();
    assert!(
        e.contains("(rule \"user_namespace\"): linux.namespaces: none"),
        "{e}"
    );
    let own = |host_id: u64| {
        spec(move |v| {
            v["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(serde_json::json!({"type": "user"}));
            let m = serde_json::json!([{"containerID": 0, "hostID": host_id, "size": 65536}]);
            v["linux"]["uidMappings"] = m.clone();
            v["linux"]["gidMappings"] = m;
        })
    };
    let clamp = policy("[user_namespace]\naction = \"clamp\"");
    let (found, _) = run(&clamp, &own(100_000)).unwrap();
    assert!(found.is_empty(), "{found:?}");
    let e = run(&clamp, &own(0)).unwrap_err();
    assert!(e.contains("linux.uidMappings: maps host id 0"), "{e}");
    let e = run(&clamp, &own(3_221_225_472 + 65_536)).unwrap_err();
    assert!(e.contains("overlap the node's user-namespace pool"), "{e}");
    // The host's own user namespace joined by path is none of the
    // container's.
    let joined = spec(|v| {
        v["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"type": "user", "path": "/proc/self/ns/user"}));
    });
    assert!(run(&clamp, &joined).is_ok());
    let e = run(&p, &joined).unwrap_err();
    assert!(e.contains("linux.namespaces: none"), "{e}");
}

#[test]
fn user_namespace_pool_must_fit() {
    for toml in [
        "[user_namespace]\naction = \"clamp\"\nfirst = 0",
        "[user_namespace]\naction = \"clamp\"\ncount = 0",
        "[user_namespace]\naction = \"clamp\"\nfirst = 4294000000\ncount = 100",
    ] {
        let e = Policy::parse(&format!("version = 1\n{toml}"), "t", "t").unwrap_err();
        assert!(e.chain().contains("do not fit"), "{}", e.chain());
    }
}

#[test]
fn which_policies_enforce_seccomp() {
    let parse = |t: &str| Policy::parse(t, "p", "test").unwrap();
    let table = [
        ("version = 1", false),
        ("version = 1\n[seccomp]\nunconfined = \"allow\"", false),
        ("version = 1\n[seccomp]\nunconfined = \"default\"", true),
        ("version = 1\n[seccomp]\nunconfined = \"refuse\"", true),
        (
            "version = 1\n[seccomp]\nunconfined = \"allow\"\ndeny_syscalls = [\"bpf\"]",
            true,
        ),
        (
            "version = 1\nmode = \"audit\"\n[seccomp]\nunconfined = \"refuse\"",
            false,
        ),
    ];
    for (text, want) in table {
        assert_eq!(enforces_seccomp(&parse(text)), want, "{text}");
    }
    for (preset, want) in [("privileged", false), ("baseline", true), ("sandbox", true)] {
        let p = Policy::select_in(std::path::Path::new("/nonexistent"), preset).unwrap();
        assert_eq!(enforces_seccomp(&p), want, "{preset}");
    }
}
