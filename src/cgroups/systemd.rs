//! The systemd cgroup driver (`--systemd-cgroup`, `cgroupsPath` of the form
//! `slice:prefix:name`).
//!
//! systemd owns the cgroup tree on a systemd host, so the container's
//! cgroup is a transient scope unit that systemd itself makes, through its
//! D-Bus API on the system bus (`org.freedesktop.systemd1.Manager`):
//! `StartTransientUnit` with the container's init in `PIDs`, `Delegate=yes`
//! (so brig may write the scope's files and make sub-cgroups) and the
//! resource properties systemd has for `linux.resources`; `SetUnitProperties`
//! on `update`; `StopUnit` on `delete`. systemd's view of the limits then
//! agrees with the files, and a `daemon-reload` does not undo them. brig
//! still writes every field itself into the delegated scope afterwards, as
//! runc does, because systemd has no property for most of them.
//!
//! Rootless, the systemd is the user's own (`systemd --user`, the
//! `user@UID.service` the system delegates a cgroup2 subtree to), on the
//! user's bus: its scopes are below its own cgroup and `user.slice` is the
//! default slice, as runc's rootless driver does.
//!
//! Ref: systemd.resource-control(5), org.freedesktop.systemd1(5), runc
//! libcontainer/cgroups/systemd/{common,v1,v2,user}.go.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, LinuxResources};
use zbus::Variant as Value;

use super::resources::{blkio_to_io_weight, shares_to_weight};
use crate::error::{Error, Result};

const DEST: &str = "org.freedesktop.systemd1";
const PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";

/// One D-Bus property of a unit.
pub type Property = (&'static str, Value<'static>);

/// The scope (or slice) a container's cgroup is.
#[derive(Debug, Clone)]
pub struct Unit {
    /// `prefix-name.scope`.
    pub name: String,
    /// The slice it goes in (`system.slice` by default); `None` for a unit
    /// that already exists (read back from state.json).
    pub slice: Option<String>,
    pub description: String,
}

/// Does `--systemd-cgroup` mean the user's systemd? `--rootless` says so
/// (`true`/`false`); unset or `auto`, runc's rule: an ordinary user's is
/// its own; real root's is the system's; root of a user namespace (what
/// rootless podman runs brig as) uses the user's where it has a user bus
/// (runc asks that bus's owner; a bus in a user namespace is the user's).
pub fn user_instance(rootless: Option<&str>) -> Result<bool> {
    match rootless {
        Some("true") => return Ok(true),
        Some("false") => return Ok(false),
        None | Some("auto") => {}
        Some(other) => {
            return Err(Error::invalid(format!(
                "--rootless {other:?}: expected true, false or auto"
            )))
        }
    }
    if !nix::unistd::geteuid().is_root() {
        return Ok(true);
    }
    if !crate::rootless::in_user_ns() {
        return Ok(false);
    }
    Ok(zbus::Address::session().is_ok_and(|a| match a.transport() {
        zbus::address::Transport::Unix(u) => match u.path() {
            zbus::address::transport::UnixSocket::File(p) => std::path::Path::new(p).exists(),
            _ => true,
        },
        _ => true,
    }))
}

/// A connection to systemd on the system bus, or the user's.
pub struct Bus {
    conn: zbus::Connection,
}

fn bus_error(what: &str, e: zbus::Error) -> Error {
    let msg = match &e {
        zbus::Error::MethodError(name, Some(detail), _) => format!("{detail} ({name})"),
        _ => e.to_string(),
    };
    Error::invalid(format!("systemd cgroup driver: {what}: {msg}"))
}

impl Bus {
    /// The system bus at `DBUS_SYSTEM_BUS_ADDRESS`, else
    /// `/run/dbus/system_bus_socket`, as every D-Bus client finds it; with
    /// `user`, the user's bus at `DBUS_SESSION_BUS_ADDRESS`, else
    /// `$XDG_RUNTIME_DIR/bus`. In a user namespace brig authenticates as
    /// the host uid it is (the bus checks the socket's credentials, which
    /// the kernel gives it in the bus's own namespace).
    pub fn connect(user: bool) -> Result<Bus> {
        let (builder, which) = if user {
            let b = zbus::connection::Builder::session().user_id(crate::rootless::outer_uid());
            (b, "the user's bus")
        } else {
            (zbus::connection::Builder::system(), "the system bus")
        };
        zbus::block_on(builder.build())
            .map(|conn| Bus { conn })
            .map_err(|e| bus_error(&format!("connect to {which}"), e))
    }

    /// The systemd instance's own cgroup (`ControlGroup`): `/` for the
    /// system's; `/user.slice/user-UID.slice/user@UID.service` for a user's.
    pub fn manager_cgroup(&self) -> Result<String> {
        let reply = zbus::block_on(self.conn.call_method(
            Some(DEST),
            PATH,
            Some("org.freedesktop.DBus.Properties"),
            "Get",
            &(MANAGER, "ControlGroup"),
        ))
        .map_err(|e| bus_error("read the manager's ControlGroup", e))?;
        let v: zbus::OwnedVariant = reply
            .body()
            .deserialize()
            .map_err(|e| bus_error("read the manager's ControlGroup", e))?;
        let cg =
            String::try_from(v).map_err(|e| bus_error("read the manager's ControlGroup", e))?;
        if cg.is_empty() {
            return Ok("/".into());
        }
        Ok(cg)
    }

    fn call<B>(&self, method: &str, body: &B) -> std::result::Result<zbus::Message, zbus::Error>
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
    {
        zbus::block_on(
            self.conn
                .call_method(Some(DEST), PATH, Some(MANAGER), method, body),
        )
    }

    /// Start the transient scope `unit` holding `pid` and wait until
    /// systemd has moved `pid` into it.
    pub fn start_scope(&self, unit: &Unit, pid: i32, resources: Vec<Property>) -> Result<()> {
        let mut props: Vec<Property> = vec![
            ("Description", Value::from(unit.description.clone())),
            ("PIDs", Value::from(vec![pid as u32])),
            // Brig manages what is below the scope, and no ordering
            // dependencies on shutdown.target & co. for a container.
            ("Delegate", Value::from(true)),
            ("DefaultDependencies", Value::from(false)),
        ];
        if let Some(slice) = &unit.slice {
            props.push(("Slice", Value::from(slice.clone())));
        }
        props.extend(resources);
        let aux: Vec<(&str, Vec<Property>)> = Vec::new();
        self.call(
            "StartTransientUnit",
            &(unit.name.as_str(), "replace", props, aux),
        )
        .map_err(|e| bus_error(&format!("start {}", unit.name), e))?;
        wait_placed(&unit.name, pid)
    }

    /// Move `pid` into the existing `unit` (its cgroup, or `sub` below it),
    /// which systemd may do where the caller may not.
    pub fn attach(&self, unit: &str, sub: &str, pid: i32) -> Result<()> {
        self.call("AttachProcessesToUnit", &(unit, sub, vec![pid as u32]))
            .map(drop)
            .map_err(|e| bus_error(&format!("attach pid {pid} to {unit}"), e))
    }

    /// `update`: the unit's properties follow the new limits (runtime
    /// only: nothing is written to /etc).
    pub fn set_properties(&self, unit: &str, props: Vec<Property>) -> Result<()> {
        if props.is_empty() {
            return Ok(());
        }
        self.call("SetUnitProperties", &(unit, true, props))
            .map(drop)
            .map_err(|e| bus_error(&format!("set properties of {unit}"), e))
    }

    /// Stop the unit (a scope whose processes are all gone has already
    /// stopped by itself) and forget a failed state.
    pub fn stop(&self, unit: &str) -> Result<()> {
        match self.call("StopUnit", &(unit, "replace")) {
            Ok(_) => {}
            Err(zbus::Error::MethodError(name, _, _))
                if name.as_str() == "org.freedesktop.systemd1.NoSuchUnit" => {}
            Err(e) => return Err(bus_error(&format!("stop {unit}"), e)),
        }
        let _ = self.call("ResetFailedUnit", &(unit,));
        Ok(())
    }
}

/// systemd moves the pid when the start job runs, which may be after the
/// call returns: wait for /proc/PID/cgroup to name the unit.
fn wait_placed(unit: &str, pid: i32) -> Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let path = format!("/proc/{pid}/cgroup");
    loop {
        let text =
            std::fs::read_to_string(&path).map_err(|e| Error::io(format!("read {path}"), e))?;
        if text.lines().any(|l| l.rsplit('/').next() == Some(unit)) {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            return Err(Error::invalid(format!(
                "systemd cgroup driver: pid {pid} was not moved into {unit} within 10s"
            )));
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// "infinity" for systemd's u64 limits.
const INFINITY: u64 = u64::MAX;

fn limit(v: i64) -> u64 {
    if v < 0 {
        INFINITY
    } else {
        v as u64
    }
}

/// The properties systemd has for `r`, as runc sets them: on a unified
/// host the v2 names (MemoryMax, CPUWeight, IOWeight, AllowedCPUs ...),
/// else the v1 ones (MemoryLimit, CPUShares, BlockIOWeight). Accounting is
/// always on, so systemd makes the scope's cgroup in every controller.
pub fn properties(r: Option<&LinuxResources>, v2: bool) -> Vec<Property> {
    let mut p: Vec<Property> = vec![
        ("MemoryAccounting", Value::from(true)),
        ("CPUAccounting", Value::from(true)),
        ("TasksAccounting", Value::from(true)),
        (
            if v2 {
                "IOAccounting"
            } else {
                "BlockIOAccounting"
            },
            Value::from(true),
        ),
    ];
    let Some(r) = r else {
        return p;
    };
    if let Some(m) = r.memory() {
        if let Some(l) = m.limit().filter(|l| *l != 0) {
            p.push((
                if v2 { "MemoryMax" } else { "MemoryLimit" },
                Value::from(limit(l)),
            ));
        }
        if v2 {
            if let Some(l) = m.reservation().filter(|l| *l != 0) {
                p.push(("MemoryLow", Value::from(limit(l))));
            }
            // OCI swap is memory+swap; MemorySwapMax is the swap alone.
            match (m.swap().filter(|s| *s != 0), m.limit()) {
                (Some(s), _) if s < 0 => p.push(("MemorySwapMax", Value::from(INFINITY))),
                (Some(s), Some(l)) if l > 0 && s >= l => {
                    p.push(("MemorySwapMax", Value::from((s - l) as u64)))
                }
                _ => {}
            }
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(s) = c.shares().filter(|s| *s != 0) {
            p.push(if v2 {
                ("CPUWeight", Value::from(shares_to_weight(s)))
            } else {
                ("CPUShares", Value::from(s))
            });
        }
        let period = c.period().filter(|p| *p != 0);
        if let Some(period) = period {
            p.push(("CPUQuotaPeriodUSec", Value::from(period)));
        }
        if let Some(q) = c.quota().filter(|q| *q != 0) {
            let per_sec = if q > 0 {
                // systemd keeps the quota as a percentage: round up to
                // whole percents, as runc does, so the limit is not lowered.
                let us = q as u64 * 1_000_000 / period.unwrap_or(100_000);
                us.div_ceil(10_000) * 10_000
            } else {
                INFINITY
            };
            p.push(("CPUQuotaPerSecUSec", Value::from(per_sec)));
        }
        if v2 {
            for (name, list) in [("AllowedCPUs", c.cpus()), ("AllowedMemoryNodes", c.mems())] {
                if let Some(mask) = list.as_deref().filter(|l| !l.is_empty()).and_then(bitmask) {
                    p.push((name, Value::from(mask)));
                }
            }
        }
    }
    if let Some(pids) = r.pids() {
        let max = super::resources::pids_max(pids.limit()).unwrap_or(INFINITY);
        p.push(("TasksMax", Value::from(max)));
    }
    if let Some(w) = r
        .block_io()
        .as_ref()
        .and_then(|b| b.weight())
        .filter(|w| *w != 0)
    {
        p.push(if v2 {
            ("IOWeight", Value::from(blkio_to_io_weight(w)))
        } else {
            ("BlockIOWeight", Value::from(u64::from(w)))
        });
    }
    if let Some(rules) = r.devices() {
        let proc_devices = std::fs::read_to_string("/proc/devices").unwrap_or_default();
        p.extend(device_properties(rules, &proc_devices));
    }
    p
}

/// DevicePolicy and DeviceAllow for the container's device rules, so that
/// systemd's own view of the devices agrees with brig's: otherwise a
/// `systemctl daemon-reload` re-applies "allow all" to a v1 devices cgroup
/// (the hole runc closed the same way). The rules are an allow-list after
/// a leading deny-all (cgroups::devices); systemd takes only allow-lists:
/// a config that allows everything gets `DevicePolicy=auto`.
/// Ref: systemd.resource-control(5) DeviceAllow=, runc systemd/devices.go.
pub fn device_properties(rules: &[LinuxDeviceCgroup], proc_devices: &str) -> Vec<Property> {
    let mut allow_all = false;
    let mut list: Vec<(String, String)> = Vec::new();
    for rule in rules {
        let access = super::devices::access(rule);
        let everything = matches!(rule.typ(), None | Some(LinuxDeviceType::A))
            && rule.major().is_none_or(|m| m < 0)
            && rule.minor().is_none_or(|m| m < 0);
        if everything && access == "rwm" {
            allow_all = rule.allow();
            list.clear();
            continue;
        }
        if allow_all {
            if !rule.allow() {
                tracing::warn!(
                    "systemd cgroup driver: deny rule {} after allow-all cannot be told to systemd; brig's own rules enforce it",
                    super::devices::device_rule(rule)
                );
            }
            continue;
        }
        let entries = device_specifiers(rule, proc_devices);
        if rule.allow() {
            if entries.is_empty() {
                tracing::warn!(
                    "systemd cgroup driver: rule {} names no device group systemd can match",
                    super::devices::device_rule(rule)
                );
            }
            list.extend(entries.into_iter().map(|e| (e, access.clone())));
        } else {
            list.retain(|(e, _)| !entries.contains(e));
        }
    }
    if allow_all {
        return vec![("DevicePolicy", Value::from("auto"))];
    }
    vec![
        ("DevicePolicy", Value::from("strict")),
        ("DeviceAllow", Value::from(list)),
    ]
}

/// The DeviceAllow= names of one rule: `/dev/char/M:N` for one device,
/// `char-<group>` (from /proc/devices) for a whole major, `char-*` for
/// every major; `block-` alike; type "a" gives both.
fn device_specifiers(rule: &LinuxDeviceCgroup, proc_devices: &str) -> Vec<String> {
    const CHAR: (&str, &str, &str) = ("char", "/dev/char", "Character devices:");
    const BLOCK: (&str, &str, &str) = ("block", "/dev/block", "Block devices:");
    let kinds: &[(&str, &str, &str)] = match rule.typ() {
        Some(LinuxDeviceType::C) | Some(LinuxDeviceType::U) => &[CHAR],
        Some(LinuxDeviceType::B) => &[BLOCK],
        _ => &[CHAR, BLOCK],
    };
    let major = rule.major().filter(|m| *m >= 0);
    let minor = rule.minor().filter(|m| *m >= 0);
    let mut out = Vec::new();
    for (class, dir, section) in kinds {
        match (major, minor) {
            (Some(ma), Some(mi)) => out.push(format!("{dir}/{ma}:{mi}")),
            (Some(ma), None) => {
                if let Some(name) = group_name(proc_devices, section, ma) {
                    out.push(format!("{class}-{name}"));
                }
            }
            (None, _) => out.push(format!("{class}-*")),
        }
    }
    out
}

/// The first name /proc/devices lists for `major` in `section`.
fn group_name<'a>(proc_devices: &'a str, section: &str, major: i64) -> Option<&'a str> {
    let mut inside = false;
    for line in proc_devices.lines() {
        if line.ends_with(':') {
            inside = line == section;
            continue;
        }
        let mut f = line.split_whitespace();
        if inside && f.next().and_then(|m| m.parse::<i64>().ok()) == Some(major) {
            return f.next();
        }
    }
    None
}

/// "0-2,5" -> the byte mask systemd's AllowedCPUs takes (bit N of byte
/// N/8 is cpu N). `None` for a malformed list (validated earlier).
fn bitmask(list: &str) -> Option<Vec<u8>> {
    let mut mask = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.parse::<usize>().ok()?, b.parse::<usize>().ok()?),
            None => {
                let n = part.parse::<usize>().ok()?;
                (n, n)
            }
        };
        if a > b || b >= 8192 {
            return None;
        }
        for cpu in a..=b {
            if mask.len() <= cpu / 8 {
                mask.resize(cpu / 8 + 1, 0);
            }
            mask[cpu / 8] |= 1 << (cpu % 8);
        }
    }
    Some(mask)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn props(r: serde_json::Value, v2: bool) -> Vec<(String, String)> {
        let r: LinuxResources = serde_json::from_value(r).unwrap();
        properties(Some(&r), v2)
            .into_iter()
            .filter(|(k, _)| !k.ends_with("Accounting"))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn v2_properties_as_runc_sets_them() {
        let r = json!({
            "memory": {"limit": 67108864, "reservation": 33554432, "swap": 134217728},
            "cpu": {"shares": 512, "quota": 25000, "period": 100000, "cpus": "0-2,9", "mems": "0"},
            "pids": {"limit": 77},
            "blockIO": {"weight": 500}
        });
        assert_eq!(
            props(r, true),
            pairs(&[
                ("MemoryMax", "uint64 67108864"),
                ("MemoryLow", "uint64 33554432"),
                ("MemorySwapMax", "uint64 67108864"),
                ("CPUWeight", "uint64 20"),
                ("CPUQuotaPeriodUSec", "uint64 100000"),
                ("CPUQuotaPerSecUSec", "uint64 250000"),
                ("AllowedCPUs", "[byte 0x07, 0x02]"),
                ("AllowedMemoryNodes", "[byte 0x01]"),
                ("TasksMax", "uint64 77"),
                ("IOWeight", "uint64 4950"),
            ])
        );
    }

    #[test]
    fn v1_properties_and_unlimited_values() {
        let r = json!({
            "memory": {"limit": -1},
            "cpu": {"shares": 1024, "quota": 33333},
            "pids": {"limit": -1},
            "blockIO": {"weight": 300}
        });
        let max = u64::MAX.to_string();
        assert_eq!(
            props(r, false),
            pairs(&[
                ("MemoryLimit", &format!("uint64 {max}")),
                ("CPUShares", "uint64 1024"),
                // 333330 us/s rounded up to whole percents.
                ("CPUQuotaPerSecUSec", "uint64 340000"),
                ("TasksMax", &format!("uint64 {max}")),
                ("BlockIOWeight", "uint64 300"),
            ])
        );
        // runc 1.2+: systemd refuses TasksMax=0, so a limit of 0 is 1.
        let zero = props(json!({"pids": {"limit": 0}}), false);
        assert_eq!(zero, pairs(&[("TasksMax", "uint64 1")]));
        let acct: Vec<&str> = properties(None, false).iter().map(|(k, _)| *k).collect();
        assert_eq!(
            acct,
            [
                "MemoryAccounting",
                "CPUAccounting",
                "TasksAccounting",
                "BlockIOAccounting"
            ]
        );
    }

    const PROC_DEVICES: &str = "Character devices:\n  1 mem\n  5 /dev/tty\n  5 /dev/console\n136 pts\n\nBlock devices:\n  8 sd\n254 virtblk\n";

    fn devs(rules: serde_json::Value) -> Vec<String> {
        let rules: Vec<LinuxDeviceCgroup> = serde_json::from_value(rules).unwrap();
        device_properties(&rules, PROC_DEVICES)
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect()
    }

    #[test]
    fn device_rules_become_a_strict_allow_list() {
        let got = devs(json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "access": "m"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
            {"allow": true, "type": "c", "major": 136, "access": "rwm"},
            {"allow": true, "type": "b", "major": 8, "minor": 0, "access": "r"},
            {"allow": true, "type": "b", "major": 7, "access": "r"},
            {"allow": false, "type": "b", "major": 8, "minor": 0, "access": "rwm"}
        ]));
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0], r#"DevicePolicy="strict""#);
        for want in [
            r#""char-*", "m""#,
            r#""/dev/char/1:3", "rwm""#,
            r#""char-pts", "rwm""#,
        ] {
            assert!(got[1].contains(want), "{want} not in {}", got[1]);
        }
        assert!(
            !got[1].contains("/dev/block/8:0"),
            "denied again: {}",
            got[1]
        );
        assert!(
            !got[1].contains("block-"),
            "major 7 has no group: {}",
            got[1]
        );
    }

    #[test]
    fn allow_all_is_policy_auto() {
        let got = devs(json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 3},
            {"allow": true, "access": "rwm"},
            {"allow": false, "type": "b", "major": 8, "minor": 0}
        ]));
        assert_eq!(got, [r#"DevicePolicy="auto""#]);
        assert_eq!(
            group_name(PROC_DEVICES, "Character devices:", 5),
            Some("/dev/tty")
        );
        assert_eq!(group_name(PROC_DEVICES, "Block devices:", 1), None);
    }

    #[test]
    fn cpu_lists_become_byte_masks() {
        assert_eq!(bitmask("0"), Some(vec![1]));
        assert_eq!(bitmask("0-7"), Some(vec![0xff]));
        assert_eq!(bitmask("1,8-9"), Some(vec![0x02, 0x03]));
        assert_eq!(bitmask("3-1"), None);
        assert_eq!(bitmask("x"), None);
    }
}
