//! `exec --cgroup`: run an exec'd process in an existing sub-cgroup of the
//! container's cgroup. As runc: `--cgroup PATH` (given once) is below the
//! container's cgroup in every hierarchy; `--cgroup ctrl[,ctrl]:PATH` (any
//! number of times) in the v1 hierarchies of those controllers only, the
//! others staying at the container's cgroup. A path that climbs out of the
//! container's cgroup is an error. Ref: runc exec.go getSubCgroupPaths,
//! libcontainer container_linux.go newSetnsProcess.

use crate::error::{Error, Result};

use super::{paths, Manager};

/// One `--cgroup` target: the controllers it applies to (empty: all
/// hierarchies) and the path below the container's cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubCgroup {
    pub controllers: Vec<String>,
    pub path: String,
}

/// Parse the `--cgroup` arguments.
pub fn parse(args: &[String]) -> Result<Vec<SubCgroup>> {
    let mut out = Vec::new();
    for arg in args {
        let parts: Vec<&str> = arg.split(':').collect();
        let sub = match parts.as_slice() {
            [path] => {
                if args.len() != 1 {
                    return Err(Error::invalid(format!(
                        "invalid --cgroup argument {arg:?}: missing <controller>: prefix"
                    )));
                }
                SubCgroup {
                    controllers: Vec::new(),
                    path: path.to_string(),
                }
            }
            [ctrls, path] => SubCgroup {
                controllers: ctrls
                    .split(',')
                    .filter(|c| !c.is_empty())
                    .map(str::to_string)
                    .collect(),
                path: path.to_string(),
            },
            _ => return Err(Error::invalid(format!("invalid --cgroup argument {arg:?}"))),
        };
        if sub.path.contains('\0') || sub.path.contains('\n') {
            return Err(Error::invalid(format!("invalid --cgroup argument {arg:?}")));
        }
        out.push(sub);
    }
    Ok(out)
}

/// `base` + `sub`, cleaned, and required to stay at or below `base`
/// (a sibling sharing a name prefix is not below it).
pub fn below(base: &str, sub: &str) -> Result<String> {
    let joined = paths::clean(&format!("{}/{sub}", base.trim_end_matches('/')));
    let prefix = format!("{}/", base.trim_end_matches('/'));
    if joined == paths::clean(base) || joined.starts_with(&prefix) {
        Ok(joined)
    } else {
        Err(Error::invalid(format!(
            "bad sub cgroup path {sub:?}: not below the container's cgroup {base}"
        )))
    }
}

impl Manager {
    /// The same container cgroup with the `--cgroup` sub-paths applied: a
    /// manager for placing one exec'd process (`add`, `clone_into_fd`).
    /// Nothing is created: the sub-cgroups must exist.
    pub fn sub(&self, subs: &[SubCgroup]) -> Result<Manager> {
        let mut hierarchies = self.hierarchies.clone();
        for sub in subs {
            let targets: Vec<usize> = if sub.controllers.is_empty() {
                (0..hierarchies.len()).collect()
            } else {
                let mut t = Vec::new();
                for c in &sub.controllers {
                    let i = hierarchies
                        .iter()
                        .position(|h| !h.unified && h.controllers.iter().any(|x| x == c))
                        .ok_or_else(|| {
                            Error::invalid(format!("--cgroup: unknown controller {c:?}"))
                        })?;
                    t.push(i);
                }
                t
            };
            for i in targets {
                let h = &mut hierarchies[i];
                let cgroup = below(&h.cgroup, &sub.path)?;
                let rel = cgroup[h.cgroup.trim_end_matches('/').len()..].trim_start_matches('/');
                h.dir = h.dir.join(rel);
                h.cgroup = cgroup;
            }
        }
        Ok(Manager {
            path: self.path.clone(),
            layout: self.layout,
            hierarchies,
            // The unit exists (no slice: nothing to start or stop); its
            // systemd can still place a process brig may not move itself.
            systemd: self
                .systemd
                .clone()
                .map(|u| super::systemd::Unit { slice: None, ..u }),
            driver: self.driver,
            bus: std::sync::OnceLock::new(),
            scope_started: std::sync::atomic::AtomicBool::new(false),
            unified_fd: std::sync::OnceLock::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parse_forms() {
        assert_eq!(
            parse(&args(&["sub"])).unwrap(),
            vec![SubCgroup {
                controllers: vec![],
                path: "sub".into()
            }]
        );
        assert_eq!(
            parse(&args(&["cpu,memory:a", "pids:b"])).unwrap(),
            vec![
                SubCgroup {
                    controllers: vec!["cpu".into(), "memory".into()],
                    path: "a".into()
                },
                SubCgroup {
                    controllers: vec!["pids".into()],
                    path: "b".into()
                },
            ]
        );
        for bad in [&["a", "b"][..], &["a:b:c"], &["x", "cpu:y"]] {
            assert!(parse(&args(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn below_refuses_escapes() {
        for (base, sub, want) in [
            ("/c1", "x", Some("/c1/x")),
            ("/c1", "x/../y", Some("/c1/y")),
            ("/c1", "", Some("/c1")),
            ("/c1", "/x", Some("/c1/x")),
            ("/a/c1", "../c1-sibling", None),
            ("/a/c1", "../../etc", None),
        ] {
            assert_eq!(below(base, sub).ok().as_deref(), want, "{base} {sub}");
        }
    }

    #[test]
    fn sub_moves_only_named_hierarchies() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().display();
        let mountinfo = format!(
            "30 1 0:26 / {root}/cpu rw - cgroup cgroup rw,cpu,cpuacct\n\
             31 1 0:27 / {root}/pids rw - cgroup cgroup rw,pids\n"
        );
        let m = Manager::open_with(&mountinfo, "/c1", super::super::Driver::Fs).unwrap();
        let s = m
            .sub(&parse(&args(&["pids:inner"])).unwrap())
            .expect("pids sub");
        let dirs: Vec<String> = s
            .hierarchies
            .iter()
            .map(|h| h.dir.display().to_string())
            .collect();
        assert_eq!(
            dirs,
            vec![format!("{root}/cpu/c1"), format!("{root}/pids/c1/inner")]
        );
        assert!(m.sub(&parse(&args(&["memory:x"])).unwrap()).is_err());
        let all = m.sub(&parse(&args(&["x"])).unwrap()).unwrap();
        assert!(all.hierarchies.iter().all(|h| h.cgroup == "/c1/x"));
    }
}
