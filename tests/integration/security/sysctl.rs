//! `linux.sysctl`: namespaced sysctls are set inside and read back there,
//! the host keeps its values, and sysctls that would reach the host are
//! refused.

use serde_json::{json, Value};

use crate::common::{assert_clean_failure, json_lines, require_root, unique_id, Bundle, Rt};

fn host_value(name: &str) -> String {
    let p = format!("/proc/sys/{}", name.replace('.', "/"));
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {p}: {e}"))
}

fn words(v: &str) -> Vec<String> {
    v.split_whitespace().map(str::to_string).collect()
}

/// Kubernetes' safe list (SECURITY.md), an ipc one and an mqueue one; the port
/// range has a space, which must be written verbatim, not split.
#[test]
fn namespaced_sysctls_are_set_inside_only() {
    require_root!();
    let wanted = [
        ("net.ipv4.ip_local_port_range", "40123 50321"),
        ("net.ipv4.tcp_keepalive_time", "617"),
        ("net.ipv4.ip_unprivileged_port_start", "77"),
        ("net.ipv4.tcp_syncookies", "0"),
        ("net.ipv4.ping_group_range", "0 7"),
        ("net.ipv4.ip_local_reserved_ports", "40200-40210"),
        ("net.ipv4.tcp_fin_timeout", "31"),
        ("net.ipv4.tcp_keepalive_intvl", "37"),
        ("net.ipv4.tcp_keepalive_probes", "5"),
        ("net.ipv4.tcp_rmem", "4096 131072 6291456"),
        ("net.ipv4.tcp_wmem", "4096 16384 4194304"),
        ("kernel.shm_rmid_forced", "1"),
        ("kernel.msgmax", "9191"),
        ("fs.mqueue.msg_max", "23"),
    ];
    let before: Vec<String> = wanted.iter().map(|(n, _)| host_value(n)).collect();
    let rt = Rt::new();
    let mut b = Bundle::new(&rt);
    let map: serde_json::Map<String, Value> = wanted
        .iter()
        .map(|(n, v)| (n.to_string(), json!(v)))
        .collect();
    b.edit(|c| c["linux"]["sysctl"] = Value::Object(map));
    let script: Vec<String> = wanted
        .iter()
        .map(|(n, _)| format!("/probe sysctl {n}"))
        .collect();
    b.args(&["sh", "-c", &script.join("; ")]);
    let out = rt
        .run_bundle(&b, &unique_id("sysctl"), &[])
        .expect_ok("run");
    let lines = json_lines(&out.stdout);
    assert_eq!(lines.len(), wanted.len(), "{out:?}");
    for ((name, value), line) in wanted.iter().zip(&lines) {
        assert_eq!(line["name"], *name);
        assert_eq!(
            words(line["value"].as_str().unwrap_or_default()),
            words(value),
            "{line}"
        );
    }
    let after: Vec<String> = wanted.iter().map(|(n, _)| host_value(n)).collect();
    assert_eq!(before, after, "a container sysctl changed the host");
}

#[test]
fn sysctls_that_reach_the_host_are_refused() {
    require_root!();
    let rt = Rt::new();
    let panic_before = host_value("kernel.panic");
    let keepalive_before = host_value("net.ipv4.tcp_keepalive_time");
    type Edit = fn(&mut Value);
    let cases: [(&str, Edit); 3] = [
        ("kernel.panic (not namespaced)", |c| {
            c["linux"]["sysctl"] = json!({"kernel.panic": "17"})
        }),
        ("net.* with the host network namespace", |c| {
            c["linux"]["sysctl"] = json!({"net.ipv4.tcp_keepalive_time": "618"});
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .retain(|n| n["type"] != "network");
        }),
        ("net.* with the host network namespace given by path", |c| {
            c["linux"]["sysctl"] = json!({"net.ipv4.tcp_keepalive_time": "618"});
            for n in c["linux"]["namespaces"].as_array_mut().unwrap() {
                if n["type"] == "network" {
                    n["path"] = json!("/proc/self/ns/net");
                }
            }
        }),
    ];
    for (what, edit) in cases {
        let mut b = Bundle::new(&rt);
        b.edit(edit);
        let id = unique_id("sysbad");
        let out = rt.create(&b, &id, &[]);
        // Should a runtime get this wrong, put the host back first.
        for (name, before) in [
            ("net.ipv4.tcp_keepalive_time", &keepalive_before),
            ("kernel.panic", &panic_before),
        ] {
            let now = host_value(name);
            if now != *before {
                let p = format!("/proc/sys/{}", name.replace('.', "/"));
                std::fs::write(p, before).unwrap();
                panic!("{what}: the host's {name} became {now}");
            }
        }
        assert_clean_failure(&rt, &out, &id, what);
    }
}
