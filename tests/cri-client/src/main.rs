//! A kubelet-like CRI client for `make test-clients`: runs one pod through
//! containerd's CRI plugin with a given runtime handler (a Kubernetes
//! RuntimeClass) and checks the container comes out confined as its
//! securityContext asks.
//!
//! Usage: cri-client SOCKET IMAGE HANDLER LOG_DIR RUNTIME RUNTIME_ROOT
//! Prints `ok ...`/`FAIL ...`/`SKIP ...` lines; exits 1 on any failure.
//! CLIENTS_SKIP_EXEC=1 skips the ExecSync steps (they need `exec`).
//! CRI_POLICY_HANDLER=NAME also runs one pod that asks for nothing (no
//! seccomp, the default capabilities, privilege escalation allowed) under
//! HANDLER and under NAME, a handler whose BinaryName is `brig-restricted`:
//! the same pod spec must come out confined only under NAME.
//! CRI_SANDBOX_HANDLER=NAME runs an ordinary pod (the image's root) under
//! NAME, a handler whose BinaryName is `brig-sandbox`: it must run in a
//! user namespace from the node's pool, its image's files still root's.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use hyper_util::rt::TokioIo;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::*;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

type Client = RuntimeServiceClient<Channel>;
type Res<T> = Result<T, String>;

struct Checks {
    failed: usize,
}

impl Checks {
    fn check(&mut self, name: &str, ok: bool, detail: &str) {
        if ok {
            println!("ok   cri: {name}");
        } else {
            self.failed += 1;
            println!("FAIL cri: {name}");
            for l in detail.lines() {
                println!("    | {l}");
            }
        }
    }
}

fn has_line(out: &str, pred: impl Fn(&str) -> bool) -> bool {
    out.lines().any(|l| pred(l.trim()))
}

fn status_field<'a>(out: &'a str, key: &str) -> Option<&'a str> {
    out.lines().find_map(|l| l.strip_prefix(key).map(str::trim))
}

/// The text of a CRI container log ("<time> <stream> <P|F> <text>" lines).
fn read_cri_log(path: &str) -> String {
    let raw = std::fs::read_to_string(path).unwrap_or_default();
    raw.lines()
        .filter_map(|l| l.splitn(4, ' ').nth(3))
        .collect::<Vec<_>>()
        .join("\n")
}

fn sandbox_config(log_dir: &str) -> PodSandboxConfig {
    // A kubelet with the systemd cgroup driver names the pod's slice.
    let cgroup_parent = std::env::var("CRI_CGROUP_PARENT").unwrap_or_default();
    let mut sysctls = HashMap::new();
    // A "safe" sysctl in Kubernetes' sense: namespaced to the pod's netns.
    sysctls.insert("net.ipv4.ip_unprivileged_port_start".into(), "1000".into());
    PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: "brig-pod".into(),
            uid: "brig-pod-uid".into(),
            namespace: "default".into(),
            attempt: 0,
        }),
        hostname: "brig-pod".into(),
        log_directory: log_dir.into(),
        linux: Some(LinuxPodSandboxConfig {
            cgroup_parent,
            sysctls,
            security_context: Some(LinuxSandboxSecurityContext {
                namespace_options: Some(NamespaceOption {
                    network: NamespaceMode::Pod as i32,
                    pid: NamespaceMode::Container as i32,
                    ipc: NamespaceMode::Pod as i32,
                    ..Default::default()
                }),
                seccomp: Some(SecurityProfile {
                    profile_type: security_profile::ProfileType::RuntimeDefault as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// What a kubelet sends for `procMount: Default` (it always sends both
/// lists; containerd masks nothing it is not given).
/// Ref: kubernetes pkg/securitycontext/util.go defaultMaskedPaths.
fn kubelet_masked_paths() -> (Vec<String>, Vec<String>) {
    let masked = [
        "/proc/asound",
        "/proc/acpi",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/proc/sched_debug",
        "/proc/scsi",
        "/sys/firmware",
        "/sys/devices/virtual/powercap",
    ];
    let readonly = [
        "/proc/bus",
        "/proc/fs",
        "/proc/irq",
        "/proc/sys",
        "/proc/sysrq-trigger",
    ];
    (
        masked.iter().map(|s| s.to_string()).collect(),
        readonly.iter().map(|s| s.to_string()).collect(),
    )
}

/// What a kubelet sends for runAsUser: 1000, readOnlyRootFilesystem: true,
/// capabilities.drop: [ALL], allowPrivilegeEscalation: false,
/// seccompProfile.type: RuntimeDefault.
fn container_config(image: &str) -> ContainerConfig {
    let script = "id; grep -E '^(Cap|Seccomp|NoNewPrivs)' /proc/self/status; \
                  echo sysctl=$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start); \
                  touch /x; echo probed; exec sleep 1000";
    ContainerConfig {
        metadata: Some(ContainerMetadata {
            name: "confined".into(),
            attempt: 0,
        }),
        image: Some(ImageSpec {
            image: image.into(),
            ..Default::default()
        }),
        command: vec!["sh".into(), "-c".into(), script.into()],
        log_path: "confined.log".into(),
        linux: Some(LinuxContainerConfig {
            security_context: Some(LinuxContainerSecurityContext {
                capabilities: Some(Capability {
                    drop_capabilities: vec!["ALL".into()],
                    ..Default::default()
                }),
                run_as_user: Some(Int64Value { value: 1000 }),
                masked_paths: kubelet_masked_paths().0,
                readonly_paths: kubelet_masked_paths().1,
                readonly_rootfs: true,
                no_new_privs: true,
                seccomp: Some(SecurityProfile {
                    profile_type: security_profile::ProfileType::RuntimeDefault as i32,
                    ..Default::default()
                }),
                namespace_options: Some(NamespaceOption {
                    network: NamespaceMode::Pod as i32,
                    pid: NamespaceMode::Container as i32,
                    ipc: NamespaceMode::Pod as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The confinement the container must show, from the output of `script`.
fn check_confined(c: &mut Checks, what: &str, out: &str) {
    c.check(
        &format!("{what}: runAsUser 1000"),
        has_line(out, |l| l.starts_with("uid=1000")),
        out,
    );
    for set in ["CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:"] {
        let v = status_field(out, set);
        c.check(
            &format!("{what}: drop ALL empties {set}"),
            v == Some("0000000000000000"),
            out,
        );
    }
    c.check(
        &format!("{what}: seccomp RuntimeDefault filter on"),
        status_field(out, "Seccomp:") == Some("2"),
        out,
    );
    c.check(
        &format!("{what}: no_new_privs"),
        status_field(out, "NoNewPrivs:") == Some("1"),
        out,
    );
    c.check(
        &format!("{what}: readOnlyRootFilesystem"),
        out.contains("Read-only file system"),
        out,
    );
}

async fn scenario(
    cl: &mut Client,
    c: &mut Checks,
    args: &[String],
    ids: &mut (String, String),
) -> Res<()> {
    let (image, handler, log_dir, runtime, rt_root) =
        (&args[2], &args[3], &args[4], &args[5], &args[6]);
    let e = |what: &'static str| move |s: tonic::Status| format!("{what}: {}", s.message());

    let v = cl
        .version(VersionRequest::default())
        .await
        .map_err(e("Version"))?
        .into_inner();
    println!(
        "     cri: talking to {} {} (CRI {})",
        v.runtime_name, v.runtime_version, v.runtime_api_version
    );

    let sb_cfg = sandbox_config(log_dir);
    let sb = cl
        .run_pod_sandbox(RunPodSandboxRequest {
            config: Some(sb_cfg.clone()),
            runtime_handler: handler.clone(),
        })
        .await
        .map_err(e("RunPodSandbox"))?
        .into_inner()
        .pod_sandbox_id;
    ids.0 = sb.clone();
    c.check(
        &format!("RunPodSandbox with runtime_handler {handler:?}"),
        !sb.is_empty(),
        "",
    );

    let ct = cl
        .create_container(CreateContainerRequest {
            pod_sandbox_id: sb.clone(),
            config: Some(container_config(image)),
            sandbox_config: Some(sb_cfg),
        })
        .await
        .map_err(e("CreateContainer"))?
        .into_inner()
        .container_id;
    ids.1 = ct.clone();
    cl.start_container(StartContainerRequest {
        container_id: ct.clone(),
    })
    .await
    .map_err(e("StartContainer"))?;
    c.check("CreateContainer + StartContainer", true, "");

    // The container's own output, through the CRI log the shim writes.
    let log_path = format!("{log_dir}/confined.log");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut out = read_cri_log(&log_path);
    while !out.contains("probed") && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        out = read_cri_log(&log_path);
    }
    check_confined(c, "container", &out);
    c.check(
        "sysctl net.ipv4.ip_unprivileged_port_start=1000",
        out.contains("sysctl=1000"),
        &out,
    );

    // The handler's runtime made the pod: its state under the shim's root.
    for id in [&sb, &ct] {
        let st = std::process::Command::new(runtime)
            .args(["--root", &format!("{rt_root}/k8s.io"), "state", id])
            .output()
            .map_err(|err| format!("run {runtime}: {err}"))?;
        let st = String::from_utf8_lossy(&st.stdout).into_owned();
        c.check(
            &format!("{runtime} holds the state of {}", &id[..12]),
            st.contains("\"running\""),
            &st,
        );
    }

    // The caller's own look at the running pod (CRI_CHECK_CMD, a shell
    // command; cri-systemd.sh asks systemd for the pod's scopes).
    if let Ok(cmd) = std::env::var("CRI_CHECK_CMD") {
        let out = std::process::Command::new("sh")
            .args(["-c", &cmd])
            .output()
            .map_err(|err| format!("run CRI_CHECK_CMD: {err}"))?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        let name = text.lines().next().unwrap_or("CRI_CHECK_CMD").to_string();
        c.check(&name, out.status.success(), &text);
    }

    if std::env::var("CLIENTS_SKIP_EXEC").as_deref() == Ok("1") {
        println!("SKIP cri: ExecSync (needs exec; CLIENTS_SKIP_EXEC=1)");
    } else {
        let script = "id; grep -E '^(Cap|Seccomp|NoNewPrivs)' /proc/self/status; touch /y";
        let r = cl
            .exec_sync(ExecSyncRequest {
                container_id: ct.clone(),
                cmd: vec!["sh".into(), "-c".into(), script.into()],
                timeout: 30,
            })
            .await
            .map_err(e("ExecSync"))?
            .into_inner();
        let out = format!(
            "{}{}",
            String::from_utf8_lossy(&r.stdout),
            String::from_utf8_lossy(&r.stderr)
        );
        c.check(
            "ExecSync: touch / fails, exit code 1",
            r.exit_code == 1,
            &out,
        );
        check_confined(c, "ExecSync", &out);
    }

    cl.stop_container(StopContainerRequest {
        container_id: ct.clone(),
        timeout: 2,
    })
    .await
    .map_err(e("StopContainer"))?;
    let st = cl
        .container_status(ContainerStatusRequest {
            container_id: ct.clone(),
            verbose: false,
        })
        .await
        .map_err(e("ContainerStatus"))?
        .into_inner();
    let state = st.status.map(|s| s.state).unwrap_or(-1);
    c.check(
        "StopContainer: EXITED",
        state == ContainerState::ContainerExited as i32,
        &format!("state {state}"),
    );
    Ok(())
}

/// A pod whose spec asks for no confinement beyond a non-root user, as a
/// careless deployment writes it: its container's /proc/self/status
/// lines, under `handler`. The pod is removed again.
async fn unconfined_pod(cl: &mut Client, image: &str, handler: &str, log_dir: &str) -> Res<String> {
    let script =
        "grep -E '^(Cap|Seccomp|NoNewPrivs)' /proc/self/status; echo probed; exec sleep 1000";
    probe_pod(cl, image, handler, log_dir, Some(1000), script).await
}

/// A pod that runs `script` as `user` (None: the image's, root) under
/// `handler`, asking for nothing else; what it printed up to "probed".
/// The pod is removed again.
async fn probe_pod(
    cl: &mut Client,
    image: &str,
    handler: &str,
    log_dir: &str,
    user: Option<i64>,
    script: &str,
) -> Res<String> {
    let e = |what: &'static str| move |s: tonic::Status| format!("{what}: {}", s.message());
    let mut sb_cfg = sandbox_config(log_dir);
    if let Some(m) = sb_cfg.metadata.as_mut() {
        m.name = format!("plain-{handler}");
        m.uid = format!("plain-{handler}-uid");
    }
    if let Some(sc) = sb_cfg
        .linux
        .as_mut()
        .and_then(|l| l.security_context.as_mut())
    {
        sc.run_as_user = user.map(|value| Int64Value { value });
        sc.seccomp = None;
    }
    let sb = cl
        .run_pod_sandbox(RunPodSandboxRequest {
            config: Some(sb_cfg.clone()),
            runtime_handler: handler.into(),
        })
        .await
        .map_err(e("RunPodSandbox"))?
        .into_inner()
        .pod_sandbox_id;
    let log = format!("plain-{handler}.log");
    let config = ContainerConfig {
        metadata: Some(ContainerMetadata {
            name: "plain".into(),
            attempt: 0,
        }),
        image: Some(ImageSpec {
            image: image.into(),
            ..Default::default()
        }),
        command: vec!["sh".into(), "-c".into(), script.into()],
        log_path: log.clone(),
        linux: Some(LinuxContainerConfig {
            security_context: Some(LinuxContainerSecurityContext {
                run_as_user: user.map(|value| Int64Value { value }),
                masked_paths: kubelet_masked_paths().0,
                readonly_paths: kubelet_masked_paths().1,
                namespace_options: Some(NamespaceOption {
                    network: NamespaceMode::Pod as i32,
                    pid: NamespaceMode::Container as i32,
                    ipc: NamespaceMode::Pod as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let result = async {
        let ct = cl
            .create_container(CreateContainerRequest {
                pod_sandbox_id: sb.clone(),
                config: Some(config),
                sandbox_config: Some(sb_cfg),
            })
            .await
            .map_err(e("CreateContainer"))?
            .into_inner()
            .container_id;
        cl.start_container(StartContainerRequest {
            container_id: ct.clone(),
        })
        .await
        .map_err(e("StartContainer"))?;
        let path = format!("{log_dir}/{log}");
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut out = read_cri_log(&path);
        while !out.contains("probed") && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
            out = read_cri_log(&path);
        }
        // While the pod runs: which of its containers hold its range in
        // brig's node pool of user-namespace ranges (none without one).
        out.push_str(&format!("\npool-holders: {}", pool_holders(&sb).join(",")));
        out.push_str(&format!("\npod: {sb}"));
        Ok::<_, String>((ct, out))
    }
    .await;
    let ct = result
        .as_ref()
        .map(|(ct, _)| ct.clone())
        .unwrap_or_default();
    teardown(cl, &(sb, ct)).await?;
    result.map(|(_, out)| out)
}

/// The ids holding the pod's lease in brig's node pool, sorted.
fn pool_holders(sandbox: &str) -> Vec<String> {
    // CRI_POOL_FILE: where the node's /run is another mount namespace's.
    let file = std::env::var("CRI_POOL_FILE")
        .unwrap_or_else(|_| "/run/brig/userns-pool/leases.json".to_string());
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let mut ids: Vec<String> = v["leases"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|l| l["key"] == format!("pod:{sandbox}").as_str())
        .flat_map(|l| l["holders"].as_array().cloned().unwrap_or_default())
        .filter_map(|h| h["id"].as_str().map(str::to_string))
        .collect();
    ids.sort();
    ids
}

/// The same careless pod under the plain handler and under the one with
/// a node policy: only the second comes out confined.
async fn policy_scenario(c: &mut Checks, cl: &mut Client, args: &[String], policed: &str) {
    let (image, handler, log_dir) = (&args[2], &args[3], &args[4]);
    let plain = match unconfined_pod(cl, image, handler, log_dir).await {
        Ok(out) => out,
        Err(err) => return c.check(&format!("pod under {handler}"), false, &err),
    };
    let strict = match unconfined_pod(cl, image, policed, log_dir).await {
        Ok(out) => out,
        Err(err) => return c.check(&format!("pod under {policed}"), false, &err),
    };
    c.check(
        &format!("same pod spec under {handler}: unconfined as asked (Seccomp 0, NoNewPrivs 0, default caps)"),
        status_field(&plain, "Seccomp:") == Some("0")
            && status_field(&plain, "NoNewPrivs:") == Some("0")
            && status_field(&plain, "CapBnd:").is_some_and(|v| v != "0000000000000400"),
        &plain,
    );
    c.check(
        &format!("same pod spec under {policed}: policy restricted (Seccomp 2, NoNewPrivs 1, CapBnd NET_BIND_SERVICE)"),
        status_field(&strict, "Seccomp:") == Some("2")
            && status_field(&strict, "NoNewPrivs:") == Some("1")
            && status_field(&strict, "CapBnd:") == Some("0000000000000400"),
        &strict,
    );
}

/// An ordinary pod (the image's root user, no securityContext) under a
/// handler whose policy is `sandbox`: from inside, a user namespace mapped
/// to the node's pool, the image's files still root's, and the rest of the
/// sandbox's confinement.
async fn sandbox_scenario(c: &mut Checks, cl: &mut Client, args: &[String], handler: &str) {
    let (image, log_dir) = (&args[2], &args[4]);
    let script = "echo uid_map: $(cat /proc/self/uid_map); echo owner: $(stat -c %u:%g /bin/sh); \
        echo id: $(id -u); grep -E '^(Cap|Seccomp|NoNewPrivs)' /proc/self/status; echo probed; exec sleep 1000";
    let out = match probe_pod(cl, image, handler, log_dir, None, script).await {
        Ok(out) => out,
        Err(err) => return c.check(&format!("ordinary pod under {handler}"), false, &err),
    };
    let map: Vec<u64> = status_field(&out, "uid_map:")
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    c.check(
        &format!("ordinary pod under {handler}: root in a user namespace mapped to 65536 host ids from the pool (>= 3221225472)"),
        map.len() == 3 && map[0] == 0 && map[1] >= 3 << 30 && map[2] == 65536
            && status_field(&out, "id:") == Some("0"),
        &out,
    );
    let holders = status_field(&out, "pool-holders:").unwrap_or_default();
    c.check(
        &format!("ordinary pod under {handler}: its sandbox and container hold one range of the node's pool"),
        holders.split(',').filter(|h| !h.is_empty()).count() == 2,
        &out,
    );
    let pod = status_field(&out, "pod:").unwrap_or_default();
    let left = pool_holders(pod);
    c.check(
        &format!("ordinary pod under {handler}: its range is free again once the pod is removed"),
        !pod.is_empty() && left.is_empty(),
        &format!("pod {pod}: still held by {left:?}"),
    );
    c.check(
        &format!("ordinary pod under {handler}: the image's files keep their owner (idmapped rootfs: /bin/sh is 0:0)"),
        status_field(&out, "owner:") == Some("0:0"),
        &out,
    );
    c.check(
        &format!("ordinary pod under {handler}: Seccomp 2, NoNewPrivs 1, CapBnd NET_BIND_SERVICE"),
        status_field(&out, "Seccomp:") == Some("2")
            && status_field(&out, "NoNewPrivs:") == Some("1")
            && status_field(&out, "CapBnd:") == Some("0000000000000400"),
        &out,
    );
}

async fn teardown(cl: &mut Client, ids: &(String, String)) -> Res<()> {
    if !ids.1.is_empty() {
        let _ = cl
            .stop_container(StopContainerRequest {
                container_id: ids.1.clone(),
                timeout: 0,
            })
            .await;
        cl.remove_container(RemoveContainerRequest {
            container_id: ids.1.clone(),
        })
        .await
        .map_err(|s| format!("RemoveContainer: {}", s.message()))?;
    }
    if !ids.0.is_empty() {
        cl.stop_pod_sandbox(StopPodSandboxRequest {
            pod_sandbox_id: ids.0.clone(),
        })
        .await
        .map_err(|s| format!("StopPodSandbox: {}", s.message()))?;
        cl.remove_pod_sandbox(RemovePodSandboxRequest {
            pod_sandbox_id: ids.0.clone(),
        })
        .await
        .map_err(|s| format!("RemovePodSandbox: {}", s.message()))?;
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 7 {
        eprintln!("usage: cri-client SOCKET IMAGE HANDLER LOG_DIR RUNTIME RUNTIME_ROOT");
        std::process::exit(2);
    }
    let sock = args[1].clone();
    let channel = Endpoint::try_from("http://[::]:0")
        .expect("static uri")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let sock = sock.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(sock).await?)) }
        }))
        .await;
    let mut cl = match channel {
        Ok(ch) => RuntimeServiceClient::new(ch),
        Err(err) => {
            println!("FAIL cri: connect {}: {err}", args[1]);
            std::process::exit(1);
        }
    };
    let mut c = Checks { failed: 0 };
    let mut ids = (String::new(), String::new());
    if let Err(err) = scenario(&mut cl, &mut c, &args, &mut ids).await {
        c.check("pod lifecycle", false, &err);
    }
    match teardown(&mut cl, &ids).await {
        Ok(()) => c.check(
            "RemoveContainer + StopPodSandbox + RemovePodSandbox",
            true,
            "",
        ),
        Err(err) => c.check("teardown", false, &err),
    }
    if let Some(policed) = std::env::var("CRI_POLICY_HANDLER")
        .ok()
        .filter(|h| !h.is_empty())
    {
        policy_scenario(&mut c, &mut cl, &args, &policed).await;
    }
    if let Some(h) = std::env::var("CRI_SANDBOX_HANDLER")
        .ok()
        .filter(|h| !h.is_empty())
    {
        sandbox_scenario(&mut c, &mut cl, &args, &h).await;
    }
    std::process::exit(if c.failed == 0 { 0 } else { 1 });
}
