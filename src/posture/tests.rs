//! Table tests on configs: runc's spec, a privileged one, a
//! restricted-like one; the kernel comparison on fake views.

use oci_spec::runtime::Spec;
use serde_json::{json, Value};

use super::*;
use crate::linux::confinement::{cap_mask, Status};

fn runc_spec() -> Value {
    crate::commands::spec::default_spec(false, false)
}

fn spec(v: Value) -> Spec {
    serde_json::from_value(v).expect("a valid spec")
}

fn ctx() -> Context {
    Context {
        kernel_caps: crate::linux::capabilities::known(),
        ..Context::default()
    }
}

fn privileged() -> Value {
    let mut c = runc_spec();
    let all = json!(crate::linux::capabilities::known());
    c["process"]["capabilities"] =
        json!({"bounding": all, "effective": all, "permitted": all, "inheritable": all});
    c["process"]["noNewPrivileges"] = json!(false);
    c["linux"]["maskedPaths"] = json!([]);
    c["linux"]["readonlyPaths"] = json!([]);
    c["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .retain(|n| n["type"] != "network" && n["type"] != "pid");
    c["linux"]["resources"]["devices"] = json!([{"allow": true, "access": "rwm"}]);
    c["linux"]["sysctl"] = json!({"kernel.msgmax": "65536", "net.ipv4.tcp_syncookies": "1"});
    c["mounts"].as_array_mut().unwrap().push(
        json!({"destination": "/host", "type": "bind", "source": "/etc", "options": ["rbind"]}),
    );
    c["root"]["readonly"] = json!(false);
    c
}

fn restricted_like() -> Value {
    let mut c = runc_spec();
    let caps = json!(["CAP_NET_BIND_SERVICE"]);
    c["process"]["capabilities"] = json!({"bounding": caps, "effective": caps, "permitted": caps});
    c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    c["linux"]["seccomp"] = serde_json::to_value(crate::linux::seccomp::default_profile_for(&[
        "CAP_NET_BIND_SERVICE".to_string(),
    ]))
    .unwrap();
    // runc's spec has a cgroup namespace only on a cgroup v2 host.
    let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
    if !ns.iter().any(|n| n["type"] == "cgroup") {
        ns.push(json!({"type": "cgroup"}));
    }
    c["linux"]["resources"]["memory"] = json!({"limit": 268435456});
    c["linux"]["resources"]["pids"] = json!({"limit": 100});
    c
}

fn subject() -> Subject {
    Subject {
        target: "b".into(),
        kind: "bundle",
        status: None,
        pid: None,
    }
}

fn report(v: Value, ctx: &Context) -> Report {
    Report::analyze(subject(), &spec(v), ctx)
}

fn rating(r: &Report, name: &str) -> Rating {
    r.concerns
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no concern {name}"))
        .rating
}

fn fields(r: &Report, level: Level) -> Vec<Option<&'static str>> {
    r.level(level)
        .unwrap()
        .failures
        .iter()
        .map(|f| f.kubernetes_field)
        .collect()
}

/// Concern name and its rating.
type Expected = &'static [(&'static str, Rating)];

#[test]
fn concerns_per_config() {
    use Rating::*;
    let table: &[(&str, Value, Expected)] = &[
        (
            "runc spec",
            runc_spec(),
            &[
                ("user", Warn),
                ("user_namespace", Warn),
                ("capabilities", Ok),
                ("privileged", Ok),
                ("no_new_privs", Ok),
                ("seccomp", Risk),
                ("readonly_root", Ok),
                ("masked_paths", Ok),
                ("host_mounts", Ok),
                ("devices", Ok),
                ("sysctls", Ok),
                ("cgroup_limits", Note),
                ("landlock", Note),
            ],
        ),
        (
            "privileged",
            privileged(),
            &[
                ("capabilities", Risk),
                ("privileged", Risk),
                ("no_new_privs", Warn),
                ("masked_paths", Warn),
                ("host_namespaces", Risk),
                ("host_mounts", Risk),
                ("devices", Warn),
                ("sysctls", Warn),
                ("readonly_root", Note),
            ],
        ),
        (
            "restricted-like",
            restricted_like(),
            &[
                ("user", Ok),
                ("capabilities", Ok),
                // brig's default profile lets ptrace, process_vm_* and
                // unshare through (as Docker's does): named, not failed.
                ("seccomp", Note),
                ("host_namespaces", Ok),
                ("cgroup_limits", Ok),
            ],
        ),
    ];
    for (what, config, want) in table {
        let r = report(config.clone(), &ctx());
        for (name, rating_want) in *want {
            assert_eq!(rating(&r, name), *rating_want, "{what}: {name}: {r:#?}");
        }
        assert_eq!(r.concerns.len(), 16, "{what}: every concern, always");
    }
}

#[test]
fn pod_security_levels_name_the_kubernetes_fields() {
    let runc = report(runc_spec(), &ctx());
    assert!(runc.level(Level::Privileged).unwrap().pass);
    assert_eq!(
        fields(&runc, Level::Baseline),
        [Some("securityContext.seccompProfile")],
        "runc's spec runs without a filter"
    );
    let r = fields(&runc, Level::Restricted);
    for want in [
        "securityContext.seccompProfile",
        "securityContext.capabilities.drop",
        "securityContext.runAsNonRoot",
    ] {
        assert!(r.contains(&Some(want)), "restricted: {want}: {r:?}");
    }
    assert!(
        !r.contains(&Some("securityContext.allowPrivilegeEscalation")),
        "runc's spec sets no_new_privs: {r:?}"
    );

    let p = report(privileged(), &ctx());
    let b = fields(&p, Level::Baseline);
    for want in [
        Some("securityContext.privileged"),
        Some("hostNetwork"),
        Some("hostPID"),
        Some("securityContext.procMount"),
        Some("spec.volumes[*].hostPath"),
        Some("securityContext.sysctls"),
        Some("securityContext.seccompProfile"),
        None, // devices: brig's preset is stricter than the standard
    ] {
        assert!(b.contains(&want), "baseline: {want:?}: {b:?}");
    }
    let sysctl = p
        .level(Level::Baseline)
        .unwrap()
        .failures
        .iter()
        .find(|f| f.kubernetes_field == Some("securityContext.sysctls"));
    assert_eq!(
        sysctl.unwrap().config_fields,
        ["linux.sysctl.kernel.msgmax"],
        "only the unsafe one"
    );
    assert!(
        fields(&p, Level::Restricted).contains(&Some("securityContext.allowPrivilegeEscalation"))
    );

    let ok = report(restricted_like(), &ctx());
    for l in &ok.levels {
        assert!(l.pass, "{:?}: {:?}", l.level, l.failures);
    }
}

#[test]
fn one_failure_per_field_with_every_set_named() {
    let mut c = runc_spec();
    let caps = json!(["CAP_SYS_ADMIN", "CAP_KILL"]);
    c["process"]["capabilities"] = json!({"bounding": caps, "effective": caps, "permitted": caps});
    let r = report(c, &ctx());
    let b = &r.level(Level::Baseline).unwrap().failures;
    let add: Vec<_> = b
        .iter()
        .filter(|f| f.kubernetes_field == Some("securityContext.capabilities.add"))
        .collect();
    assert_eq!(add.len(), 1, "{b:?}");
    assert_eq!(
        add[0].config_fields,
        [
            "process.capabilities.bounding",
            "process.capabilities.effective",
            "process.capabilities.permitted"
        ]
    );
    assert!(add[0].detail.contains("CAP_SYS_ADMIN"), "{:?}", add[0]);
    assert_eq!(rating(&r, "capabilities"), Rating::Risk, "SYS_ADMIN");
}

#[test]
fn selinux_type_and_explicit_unconfined_apparmor() {
    let table = [
        ("system_u:system_r:container_t:s0:c1,c2", None, true),
        ("system_u:system_r:spc_t:s0", None, false),
        ("", Some("unconfined"), false),
        ("", Some("brig-default"), true),
    ];
    for (label, apparmor, pass) in table {
        let mut c = restricted_like();
        if !label.is_empty() {
            c["process"]["selinuxLabel"] = json!(label);
        }
        if let Some(a) = apparmor {
            c["process"]["apparmorProfile"] = json!(a);
        }
        let r = report(c, &ctx());
        assert_eq!(
            r.level(Level::Baseline).unwrap().pass,
            pass,
            "{label} {apparmor:?}"
        );
    }
}

fn userns(host: u32) -> Value {
    let mut c = restricted_like();
    c["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    let map = json!([{"containerID": 0, "hostID": host, "size": 65536}]);
    c["linux"]["uidMappings"] = map.clone();
    c["linux"]["gidMappings"] = map;
    c
}

#[test]
fn user_namespace_overlap_and_host_root() {
    let range = |host| {
        vec![IdRange {
            container: 0,
            host,
            size: 65536,
        }]
    };
    let neighbour = |id: &str, host| Neighbour {
        id: id.into(),
        uid_map: range(host),
        gid_map: range(host),
    };
    let table = [
        (100000, vec![], Rating::Ok),
        (100000, vec![neighbour("far", 200000)], Rating::Ok),
        (100000, vec![neighbour("near", 165535)], Rating::Warn),
        (0, vec![], Rating::Risk),
    ];
    for (host, neighbours, want) in table {
        let ctx = Context {
            neighbours,
            ..ctx()
        };
        let r = report(userns(host), &ctx);
        assert_eq!(rating(&r, "user_namespace"), want, "{host}: {r:#?}");
        if want == Rating::Warn {
            let c = r
                .concerns
                .iter()
                .find(|c| c.name == "user_namespace")
                .unwrap();
            assert_eq!(c.facts["overlaps"], json!(["near"]));
        }
    }
    // Root in a user namespace passes restricted's runAsNonRoot.
    let mut c = userns(100000);
    c["process"]["user"] = json!({"uid": 0, "gid": 0});
    assert!(report(c, &ctx()).level(Level::Restricted).unwrap().pass);
}

fn view_of(v: &Value) -> KernelView {
    let s = spec(v.clone());
    let caps = s
        .process()
        .as_ref()
        .unwrap()
        .capabilities()
        .clone()
        .unwrap();
    let m = |set: &Option<oci_spec::runtime::Capabilities>| {
        let n: Vec<String> = set.iter().flatten().map(|c| format!("CAP_{c}")).collect();
        cap_mask(&n)
    };
    KernelView {
        pid: 7,
        status: Status {
            cap_bnd: m(caps.bounding()),
            // What execve leaves a non-root user: the ambient set.
            cap_eff: m(caps.ambient()),
            cap_prm: m(caps.ambient()),
            no_new_privs: true,
            seccomp: 2,
            ..Status::default()
        },
        lsm_label: None,
        uid_map: vec![IdRange {
            container: 0,
            host: 0,
            size: u32::MAX,
        }],
        gid_map: vec![IdRange {
            container: 0,
            host: 0,
            size: u32::MAX,
        }],
        root_readonly: Some(true),
        limits: Default::default(),
    }
}

type Change = fn(&mut KernelView);

#[test]
fn kernel_against_config() {
    let c = restricted_like();
    let k = view_of(&c);
    let with = |k: KernelView| {
        let ctx = Context {
            kernel: Some(k),
            ..ctx()
        };
        report(c.clone(), &ctx).kernel.unwrap()
    };
    let same = with(k.clone());
    assert!(same.agrees, "{same:#?}");

    let table: [(&str, Change, Rating); 6] = [
        ("CapBnd", |k| k.status.cap_bnd |= 1 << 21, Rating::Risk),
        ("CapEff", |k| k.status.cap_eff = 1 << 10, Rating::Risk),
        ("CapBnd", |k| k.status.cap_bnd = 0, Rating::Note),
        ("Seccomp", |k| k.status.seccomp = 0, Rating::Risk),
        (
            "NoNewPrivs",
            |k| k.status.no_new_privs = false,
            Rating::Risk,
        ),
        ("root", |k| k.root_readonly = Some(false), Rating::Risk),
    ];
    for (what, change, want) in table {
        let mut k2 = k.clone();
        change(&mut k2);
        let rep = with(k2);
        assert!(!rep.agrees, "{what}");
        let bad: Vec<_> = rep.checks.iter().filter(|c| !c.agrees).collect();
        assert_eq!(bad.len(), 1, "{what}: {bad:?}");
        assert_eq!((bad[0].what, bad[0].rating), (what, want));
    }
    // Limits: the config's against the cgroup's.
    let mut limited = c.clone();
    let mut v = serde_json::to_value(&limited).unwrap();
    v["linux"]["resources"] =
        serde_json::json!({"memory": {"limit": 67108864}, "pids": {"limit": 0}});
    limited = serde_json::from_value(v).unwrap();
    let rows = |limits: crate::cgroups::Limits| {
        let mut k2 = k.clone();
        k2.limits = limits;
        let ctx = Context {
            kernel: Some(k2),
            ..ctx()
        };
        report(limited.clone(), &ctx).kernel.unwrap().checks
    };
    let same = rows(crate::cgroups::Limits {
        memory: Some(Some(67108864)),
        pids: Some(Some(1)),
    });
    let find = |r: &[super::KernelCheck], w: &str| r.iter().find(|c| c.what == w).cloned().unwrap();
    assert!(
        find(&same, "memory.max").agrees && find(&same, "pids.max").agrees,
        "{same:?}"
    );
    assert_eq!(
        find(&same, "pids.max").config,
        "1",
        "pids.limit 0 is 1, as runc sets it"
    );
    let lifted = rows(crate::cgroups::Limits {
        memory: Some(None),
        pids: Some(Some(1000)),
    });
    assert_eq!(
        (
            find(&lifted, "memory.max").rating,
            find(&lifted, "memory.max").kernel.as_str()
        ),
        (Rating::Risk, "max")
    );
    assert_eq!(find(&lifted, "pids.max").rating, Rating::Risk);
    // No controller: not compared.
    let none = rows(crate::cgroups::Limits::default());
    assert!(none
        .iter()
        .all(|c| c.what != "memory.max" && c.what != "pids.max"));

    let mut k2 = k.clone();
    k2.uid_map = vec![IdRange {
        container: 0,
        host: 100000,
        size: 1,
    }];
    assert!(
        !with(k2).agrees,
        "a user namespace the config does not have"
    );
}

#[test]
fn text_is_aligned_and_coloured_only_when_asked() {
    let r = report(privileged(), &ctx());
    let plain = render::text(&r, false);
    assert!(!plain.contains('\x1b'), "{plain}");
    let rows: Vec<&str> = plain
        .lines()
        .skip_while(|l| !l.starts_with("CONCERN"))
        .take_while(|l| !l.is_empty())
        .collect();
    assert_eq!(rows.len(), 17, "{plain}");
    let col = rows[0].find("RATING").unwrap();
    for row in &rows[1..] {
        let word = row[col..].split(' ').next().unwrap();
        assert!(
            ["ok", "note", "warn", "risk"].contains(&word),
            "misaligned: {row:?}"
        );
    }
    assert!(
        plain.contains("baseline    fail  securityContext.privileged"),
        "{plain}"
    );
    let coloured = render::text(&r, true);
    assert!(coloured.contains("\x1b[1;31mrisk\x1b[0m"), "{coloured}");
}

#[test]
fn json_keeps_the_shape_scripts_read() {
    let r = report(runc_spec(), &ctx());
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["kind"], "bundle");
    assert_eq!(v["levels"][1]["level"], "baseline");
    assert_eq!(v["levels"][1]["pass"], false);
    assert_eq!(
        v["levels"][1]["failures"][0]["kubernetesField"],
        "securityContext.seccompProfile"
    );
    assert_eq!(v["concerns"][2]["name"], "capabilities");
    assert_eq!(
        v["concerns"][2]["facts"]["names"],
        json!(RUNC_SPEC_CAPS),
        "by name"
    );
    assert!(v.get("kernel").is_none() && v.get("policy").is_none());
}
