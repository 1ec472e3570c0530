//! The plan without root and without a container: every refusal and every
//! decision from config.json and the flags.

use super::*;
use std::path::Path;

use crate::linux::rootfs::tests_support::RUNC_SPEC;

/// A bundle around `RUNC_SPEC` with `edit` applied to its JSON (no file is
/// read: the rootfs path is only carried).
fn bundle(edit: impl FnOnce(&mut serde_json::Value)) -> Bundle {
    let mut v: serde_json::Value = serde_json::from_str(RUNC_SPEC).unwrap();
    v["process"] = serde_json::json!({
        "args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0},
        "env": ["PATH=/bin"], "oomScoreAdj": 5
    });
    edit(&mut v);
    Bundle {
        dir: "/b".into(),
        rootfs: "/b/rootfs".into(),
        spec: serde_json::from_value(v).unwrap(),
    }
}

fn flags() -> CreateFlags {
    CreateFlags {
        id: "c1".into(),
        ..CreateFlags::default()
    }
}

fn refused(b: &Bundle, f: &CreateFlags) -> String {
    match create(b, f) {
        Ok(p) => panic!("planned, want a refusal: {p:?}"),
        Err(e) => e.chain(),
    }
}

#[test]
fn refusals_come_from_the_plan() {
    let cases: Vec<(Bundle, CreateFlags, &str)> = vec![
        (
            bundle(|v| v["process"]["terminal"] = true.into()),
            flags(),
            "process.terminal is true but no --console-socket was given",
        ),
        (
            bundle(|_| {}),
            CreateFlags {
                console_socket: true,
                ..flags()
            },
            "--console-socket was given but process.terminal is false",
        ),
        (
            bundle(|v| {
                v["hostname"] = "h".into();
                v["linux"]["namespaces"] = serde_json::json!([{"type": "mount"}]);
            }),
            flags(),
            "hostname is set but the container has no uts namespace of its own",
        ),
        (
            bundle(|_| {}),
            CreateFlags {
                id: "../x".into(),
                ..flags()
            },
            "../x",
        ),
        (
            bundle(|v| v["linux"]["rootfsPropagation"] = "sideways".into()),
            flags(),
            "invalid rootfsPropagation \"sideways\"",
        ),
        (
            bundle(|v| {
                v["linux"]["seccomp"] = serde_json::json!({"defaultAction": "SCMP_ACT_NOTIFY"})
            }),
            flags(),
            "seccomp defaultAction SCMP_ACT_NOTIFY is not allowed",
        ),
        (
            bundle(|v| {
                v["annotations"] =
                    serde_json::json!({"run.brig.landlock": "{\"readOnly\":[\"rel\"]}"})
            }),
            flags(),
            "rel",
        ),
        (
            bundle(|v| v["process"]["args"] = serde_json::json!([])),
            flags(),
            "process.args must name a program",
        ),
    ];
    for (b, f, want) in cases {
        let got = refused(&b, &f);
        assert!(got.contains(want), "want {want:?} in {got:?}");
    }
}

#[test]
fn what_runc_spec_plans() {
    let p = create(&bundle(|_| {}), &flags()).unwrap();
    assert!(p.ns.is_new(Kind::Mount) && p.ns.is_new(Kind::Pid));
    assert!(!p.ns.is_new(Kind::User));
    assert_eq!(p.fifo_writer, FifoWriter::HostRoot);
    assert_eq!(p.oom_score_adj, Some(5));
    assert_eq!(p.preserve_fds, 0);
    assert!(p.seccomp_listener.is_none() && p.init.seccomp.is_none());
    let RootSetup::Build(r) = &p.init.root else {
        panic!("a new mount namespace builds the rootfs: {:?}", p.init.root)
    };
    assert_eq!(r.path, Path::new("/b/rootfs"));
    assert!(r.readonly && !r.userns && !r.console);
    assert_eq!(r.mounts.len(), 7);
    assert!(r.masked_paths.contains(&"/proc/kcore".to_string()));
    assert_eq!(p.init.mode, InitMode::Create);
    assert!(p.init.session_keyring);
    assert_eq!(p.init.hostname, None);
    // Even without linux.resources the cgroup gets the device allow-list.
    let CgroupPlan::New {
        requested,
        resources,
        ..
    } = &p.cgroup
    else {
        panic!("create plans a new cgroup")
    };
    assert!(requested.is_none());
    assert!(resources.devices().as_ref().is_some_and(|d| !d.is_empty()));
}

#[test]
fn a_joined_user_namespace_owns_the_new_ones() {
    let p = create(
        &bundle(|v| {
            v["linux"]["namespaces"] = serde_json::json!([
                {"type": "user", "path": "/proc/1/ns/user"}, {"type": "pid"}, {"type": "mount"}
            ]);
        }),
        &flags(),
    )
    .unwrap();
    // Made by the child inside the joined user namespace, not at clone.
    assert!(p.ns.clone_flags().is_empty());
    assert_eq!(p.ns.unshare_flags(), nix::sched::CloneFlags::CLONE_NEWNS);
    assert!(p.ns.forks_into_pid());
    assert_eq!(p.fifo_writer, FifoWriter::Anyone);
    assert!(p.uid_map.is_empty());
}

#[test]
fn root_setup_follows_the_mount_namespace() {
    let p = create(
        &bundle(|v| v["linux"]["namespaces"] = serde_json::json!([{"type": "pid"}])),
        &flags(),
    )
    .unwrap();
    assert!(matches!(&p.init.root, RootSetup::Chroot(r) if r == Path::new("/b/rootfs")));
}

#[test]
fn hostname_only_with_a_uts_namespace_and_user_namespace_owner() {
    let p = create(
        &bundle(|v| {
            v["hostname"] = "box".into();
            v["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(serde_json::json!({"type": "user"}));
            v["linux"]["uidMappings"] =
                serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
            v["linux"]["gidMappings"] =
                serde_json::json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
        }),
        &flags(),
    )
    .unwrap();
    assert_eq!(p.init.hostname.as_deref(), Some("box"));
    // init opens exec.fifo as the container's root: a host id.
    assert_eq!(p.fifo_writer, FifoWriter::Owner(Some(100000), Some(200000)));
    assert_eq!(p.uid_map.len(), 1);
    let r = p.rootfs().unwrap();
    assert!(r.userns && r.uid_mappings.len() == 1);
}

#[test]
fn seccomp_is_compiled_in_the_plan_and_the_agent_only_for_notify() {
    let profile = |action: &str| {
        bundle(move |v| {
            v["linux"]["seccomp"] = serde_json::json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "listenerPath": "/run/agent.sock",
                "listenerMetadata": "m",
                "syscalls": [{"names": ["mkdir"], "action": action}]
            })
        })
    };
    let p = create(&profile("SCMP_ACT_ERRNO"), &flags()).unwrap();
    assert!(p.init.seccomp.is_some());
    assert_eq!(p.seccomp_listener, None);
    let p = create(&profile("SCMP_ACT_NOTIFY"), &flags()).unwrap();
    assert!(p.init.seccomp.as_ref().unwrap().uses_notify());
    assert_eq!(
        p.seccomp_listener.as_deref(),
        Some(Path::new("/run/agent.sock"))
    );
    assert_eq!(p.init.seccomp_metadata.as_deref(), Some("m"));
    // The compiled filter crosses the init channel intact.
    let json = serde_json::to_string(&p.init).unwrap();
    let back: InitPlan = serde_json::from_str(&json).unwrap();
    assert_eq!(
        format!("{:?}", back.seccomp),
        format!("{:?}", p.init.seccomp)
    );
}

#[test]
fn hooks_are_split_between_runtime_and_init() {
    let b = bundle(|v| {
        v["hooks"] = serde_json::json!({
            "createRuntime": [{"path": "/h/rt"}],
            "createContainer": [{"path": "/h/cc"}],
            "poststart": [{"path": "/h/ps"}]
        })
    });
    let p = create(&b, &flags()).unwrap();
    assert!(p.init.hooks.ask_parent);
    assert!(p.init.hooks.start_waits_for_exec);
    let init_hooks = p.init.hooks.in_container.as_ref().unwrap();
    assert_eq!(init_hooks.create_container().as_ref().unwrap().len(), 1);
    assert!(init_hooks.create_runtime().is_none() && init_hooks.poststart().is_none());
    assert_eq!(p.init.hooks.cwd, Path::new("/b/rootfs"));
    let p = create(&bundle(|_| {}), &flags()).unwrap();
    assert!(!p.init.hooks.ask_parent && !p.init.hooks.start_waits_for_exec);
}

#[test]
fn listen_fds_come_before_the_preserved_ones() {
    let f = CreateFlags {
        preserve_fds: 2,
        listen_fds: Some(3),
        no_new_keyring: true,
        ..flags()
    };
    let p = create(&bundle(|_| {}), &f).unwrap();
    assert_eq!(p.preserve_fds, 5);
    assert_eq!(p.init.preserve_fds, 5);
    assert_eq!(p.init.listen_fds, Some(3));
    assert!(!p.init.session_keyring);
}

fn state(spec: Spec) -> State {
    State {
        oci_version: "1.2.1".into(),
        id: "c1".into(),
        status: crate::state::Status::Running,
        pid: 42,
        pid_start_time: 0,
        bundle: "/b".into(),
        rootfs: "/b/rootfs".into(),
        created: String::new(),
        owner: String::new(),
        annotations: HashMap::new(),
        cgroup_path: Some("/c1".into()),
        systemd_cgroup: false,
        systemd_user: false,
        own_pid_ns: true,
        terminal: false,
        config: Box::new(spec),
        policy: None,
        userns_range: None,
    }
}

#[test]
fn exec_joins_the_container_and_builds_nothing() {
    let b = bundle(|v| {
        v["hostname"] = "box".into();
        v["linux"]["sysctl"] = serde_json::json!({"net.ipv4.ip_forward": "1"});
    });
    let st = state(b.spec.clone());
    let process = b.spec.process().clone().unwrap();
    let p = exec(&st, process.clone(), &ExecFlags::default()).unwrap();
    assert!(p.ns.clone_flags().is_empty());
    assert_eq!(
        p.ns.joins().map(|(k, _)| k).collect::<Vec<_>>(),
        vec![Kind::Ipc, Kind::Uts, Kind::Net, Kind::Pid, Kind::Mount]
    );
    assert_eq!(p.init.mode, InitMode::Exec);
    assert!(matches!(p.init.root, RootSetup::AsIs));
    assert!(p.init.hostname.is_none() && p.init.sysctl.is_empty());
    assert!(!p.init.session_keyring && !p.init.hooks.ask_parent);
    assert!(p.fifo_writer == FifoWriter::HostRoot && p.runtime_hooks.is_none());
    assert!(matches!(&p.cgroup, CgroupPlan::Existing { path: Some(path), .. } if path == "/c1"));

    let mut tty = process.clone();
    tty.set_terminal(Some(true));
    let e = exec(&st, tty, &ExecFlags::default()).unwrap_err().chain();
    assert!(
        e.contains("cannot allocate a tty without a console socket"),
        "{e}"
    );
    let f = ExecFlags {
        console_socket: true,
        ..ExecFlags::default()
    };
    let e = exec(&st, process, &f).unwrap_err().chain();
    assert!(e.contains("the process has no terminal (use -t)"), "{e}");
}

#[test]
fn exec_into_a_container_without_a_mount_namespace_chroots() {
    let b = bundle(|v| v["linux"]["namespaces"] = serde_json::json!([{"type": "pid"}]));
    let p = exec(
        &state(b.spec.clone()),
        b.spec.process().clone().unwrap(),
        &ExecFlags::default(),
    )
    .unwrap();
    assert!(matches!(&p.init.root, RootSetup::Chroot(r) if r == Path::new("/b/rootfs")));
}

use crate::linux::namespaces::tests::ns;

#[test]
fn join_plan_joins_what_the_container_has() {
    let container = NsPlan::from_spec(&[
        ns(LinuxNamespaceType::User, None),
        ns(LinuxNamespaceType::Pid, None),
        ns(LinuxNamespaceType::Network, Some("/var/run/netns/x")),
        ns(LinuxNamespaceType::Mount, None),
    ])
    .unwrap();
    let plan = join_plan(&container, 42).unwrap();
    let joins: Vec<(Kind, String)> = plan
        .joins()
        .map(|(k, p)| (k, p.display().to_string()))
        .collect();
    assert_eq!(
        joins,
        vec![
            (Kind::User, "/proc/42/ns/user".into()),
            (Kind::Net, "/var/run/netns/x".into()),
            (Kind::Pid, "/proc/42/ns/pid".into()),
            (Kind::Mount, "/proc/42/ns/mnt".into()),
        ]
    );
    // Nothing is created; the host's namespaces are not touched.
    assert!(plan.clone_flags().is_empty());
    assert_eq!(*plan.get(Kind::Uts), Ns::Host);
}

#[test]
fn process_attributes_are_decided_in_the_plan() {
    let with = |v: &mut serde_json::Value| {
        v["linux"]["personality"] = serde_json::json!({"domain": "LINUX32"});
        v["linux"]["memoryPolicy"] = serde_json::json!({"mode": "MPOL_BIND", "nodes": "0-1"});
        v["linux"]["resources"] = serde_json::json!({"cpu": {"cpus": "0"}});
        v["process"]["ioPriority"] = serde_json::json!({"class": "IOPRIO_CLASS_BE", "priority": 4});
        v["process"]["scheduler"] = serde_json::json!({"policy": "SCHED_BATCH", "nice": 19});
    };
    let b = bundle(with);
    let p = create(&b, &flags()).unwrap();
    let a = &p.init.attrs;
    assert_eq!(a.personality, Some(8));
    assert_eq!(a.io_priority, Some(2 << 13 | 4));
    let s = a.scheduler.as_ref().unwrap();
    assert_eq!((s.policy, s.nice, s.cpus_restricted), (3, 19, true));
    let m = a.memory_policy.as_ref().unwrap();
    assert_eq!((m.mode, &m.nodes[..]), (libc::MPOL_BIND, &[0b11][..]));
    // Nothing asked, nothing set.
    let p = create(&bundle(|_| {}), &flags()).unwrap();
    assert_eq!(p.init.attrs, ProcessAttrs::default());

    // exec: the container's personality and memory policy; the process's
    // own scheduler and I/O priority, else config.json's (runc's exec).
    let st = state(b.spec.clone());
    let mut own: Process = serde_json::from_value(serde_json::json!({
        "args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0},
        "ioPriority": {"class": "IOPRIO_CLASS_IDLE"}
    }))
    .unwrap();
    let p = exec(&st, own.clone(), &ExecFlags::default()).unwrap();
    let a = &p.init.attrs;
    assert_eq!((a.personality, a.io_priority), (Some(8), Some(3 << 13)));
    assert_eq!(a.scheduler.as_ref().unwrap().policy, 3, "config.json's");
    assert!(a.memory_policy.is_some());
    own.set_scheduler(Some(
        serde_json::from_value(serde_json::json!({"policy": "SCHED_OTHER", "nice": 30})).unwrap(),
    ));
    let e = exec(&st, own, &ExecFlags::default()).unwrap_err().chain();
    assert!(e.contains("invalid scheduler.nice: 30"), "{e}");

    // Refused before anything exists.
    for (edit, want) in [
        (
            serde_json::json!({"policy": "SCHED_IDLE", "priority": 1}),
            "scheduler.priority can only be specified for SchedFIFO or SchedRR policy",
        ),
        (
            serde_json::json!({"policy": "SCHED_FIFO", "priority": 1, "deadline": 1}),
            "scheduler runtime/deadline/period can only be specified for SchedDeadline policy",
        ),
    ] {
        let b = bundle(|v| v["process"]["scheduler"] = edit);
        assert!(refused(&b, &flags()).contains(want), "{want}");
    }
    let b = bundle(|v| {
        v["linux"]["memoryPolicy"] = serde_json::json!({"mode": "MPOL_LOCAL", "nodes": "0"})
    });
    assert!(refused(&b, &flags()).contains("memory policy mode requires 0 nodes but got 1"));
    let b = bundle(|v| {
        v["process"]["ioPriority"] = serde_json::json!({"class": "IOPRIO_CLASS_RT", "priority": 9})
    });
    assert!(refused(&b, &flags()).contains("invalid ioPriority.Priority: 9"));
}

#[test]
fn cpu_affinity_is_for_exec_and_defaults_to_a_reset() {
    use crate::linux::affinity::{CpuSet, FinalAffinity};
    let b = bundle(|v| {
        v["process"]["execCPUAffinity"] = serde_json::json!({"initial": "0", "final": "1"});
    });
    // The init never takes execCPUAffinity, nor the caller's CPUs.
    let p = create(&b, &flags()).unwrap();
    assert_eq!(
        (&p.initial_affinity, &p.init.cpu_affinity),
        (&None, &FinalAffinity::Reset)
    );
    // exec: config.json's (as created), unless the process has its own.
    let st = state(b.spec.clone());
    let mut own: Process = serde_json::from_value(serde_json::json!({
        "args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}
    }))
    .unwrap();
    let p = exec(&st, own.clone(), &ExecFlags::default()).unwrap();
    assert_eq!(p.initial_affinity, Some(CpuSet(vec![1])));
    assert_eq!(p.init.cpu_affinity, FinalAffinity::Set(CpuSet(vec![2])));
    own.set_exec_cpu_affinity(Some(
        serde_json::from_value(serde_json::json!({"initial": "1"})).unwrap(),
    ));
    let p = exec(&st, own.clone(), &ExecFlags::default()).unwrap();
    assert_eq!(p.initial_affinity, Some(CpuSet(vec![2])));
    assert_eq!(p.init.cpu_affinity, FinalAffinity::Keep);
    let p = exec(
        &state(bundle(|_| {}).spec),
        own.clone(),
        &ExecFlags::default(),
    );
    assert_eq!(p.unwrap().init.cpu_affinity, FinalAffinity::Keep);
    let p = exec(
        &state(bundle(|_| {}).spec),
        bundle(|_| {}).spec.process().clone().unwrap(),
        &ExecFlags::default(),
    )
    .unwrap();
    assert_eq!(
        (&p.initial_affinity, &p.init.cpu_affinity),
        (&None, &FinalAffinity::Reset)
    );
    // A list runc refuses is refused at create, though only exec uses it.
    let b = bundle(|v| v["process"]["execCPUAffinity"] = serde_json::json!({"final": "3-1"}));
    assert_eq!(
        refused(&b, &flags()),
        "bad CPUAffinity.Final: invalid range: 3-1"
    );
}
