//! `check BUNDLE|ID` (brig's own): the posture report of src/posture/, as
//! text or JSON; for a running container with the kernel's view of its
//! process. Exit 1 when `--require LEVEL` fails, else 0.

use std::io::{IsTerminal, Write};
use std::path::Path;

use crate::cli::{CheckArgs, CheckLevel, GlobalOpts, ListFormat};
use crate::error::{Error, Result};
use crate::linux::confinement::{self, IdRange};
use crate::policy;
use crate::posture::{render, Context, Level, Neighbour, PolicyVerdict, Report, Subject};
use crate::state::{State, Status};

const PROC: &str = "/proc";

pub fn run(global: &GlobalOpts, a: &CheckArgs) -> Result<i32> {
    let selected = super::selected_policy(global)?;
    let mut ctx = Context {
        kernel_caps: crate::linux::capabilities::known(),
        apparmor_enabled: crate::linux::apparmor::enabled(),
        selinux_enabled: confinement::selinux_enabled(),
        ..Context::default()
    };
    let bundle = Path::new(&a.target);
    let mut kernel_note = None;
    let (subject, spec, recorded, own_id) = if bundle.join("config.json").is_file() {
        let spec = crate::bundle::Bundle::load(bundle)?.spec;
        let subject = Subject {
            target: a.target.clone(),
            kind: "bundle",
            status: None,
            pid: None,
        };
        (subject, spec, None, None)
    } else {
        let st = State::load(&global.root, &a.target)?;
        let status = st.current_status(&global.root);
        let live = matches!(status, Status::Running | Status::Paused) && st.init_alive();
        if live {
            let mut view = confinement::read(Path::new(PROC), st.pid)
                .map_err(|e| e.context(format!("read the kernel's view of pid {}", st.pid)))?;
            if let Some(path) = &st.cgroup_path {
                // A cgroup that cannot be opened is reported as not read.
                if let Ok(cg) = crate::cgroups::Manager::open(path, st.cgroup_driver()) {
                    view.limits = cg.limits();
                }
            }
            ctx.kernel = Some(view);
        } else {
            kernel_note = Some(match status {
                Status::Created | Status::Creating => {
                    "not read: the process is confined at start".to_string()
                }
                _ => format!("not read: the container is {}", status.as_str()),
            });
        }
        let subject = Subject {
            target: a.target.clone(),
            kind: "container",
            status: Some(status.as_str().to_string()),
            pid: live.then_some(st.pid),
        };
        (subject, *st.config, st.policy, Some(st.id))
    };
    ctx.neighbours = neighbours(&global.root, own_id.as_deref());

    let mut report = Report::analyze(subject, &spec, &ctx);
    report.kernel_note = kernel_note;
    report.policy = match (selected, recorded) {
        (Some(p), _) => {
            let (findings, _) = policy::evaluate_spec(&p, &spec, &policy::Host::current());
            Some(PolicyVerdict::new(&p, "--policy", findings))
        }
        (None, Some(r)) => Some(PolicyVerdict::new(&r.policy, "create", r.findings)),
        (None, None) => None,
    };

    let text = match a.format {
        ListFormat::Json => {
            serde_json::to_string_pretty(&report)
                .map_err(|e| Error::json("encode the report", e))?
                + "\n"
        }
        ListFormat::Table => render::text(&report, colour()),
    };
    // A reader that stops early (`| head`) is not an error.
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    let failed = a.require.is_some_and(|want| {
        let level = match want {
            CheckLevel::Privileged => Level::Privileged,
            CheckLevel::Baseline => Level::Baseline,
            CheckLevel::Restricted => Level::Restricted,
        };
        report.level(level).is_some_and(|l| !l.pass)
    });
    Ok(if failed { 1 } else { 0 })
}

/// Colour on a terminal, unless `NO_COLOR` is set (to anything but "").
/// Ref: https://no-color.org
fn colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The other running containers under `root` that have a user namespace
/// of their own, with the kernel's maps of their init. One that cannot be
/// read (gone meanwhile, a state being written) is left out.
fn neighbours(root: &Path, own: Option<&str>) -> Vec<Neighbour> {
    let Ok(ids) = crate::state::list_ids(root) else {
        return Vec::new();
    };
    ids.into_iter()
        .filter(|id| Some(id.as_str()) != own)
        .filter_map(|id| {
            let st = State::load(root, &id).ok()?;
            let running = matches!(
                st.current_status(root),
                Status::Running | Status::Paused | Status::Created
            );
            if !running || !st.init_alive() {
                return None;
            }
            let (uid_map, gid_map) = confinement::read_id_maps(Path::new(PROC), st.pid).ok()?;
            if IdRange::is_identity(&uid_map) {
                return None;
            }
            Some(Neighbour {
                id,
                uid_map,
                gid_map,
            })
        })
        .collect()
}
