//! The node's pool of host id ranges for user namespaces: a policy's
//! `[user_namespace]` rule gives every pod that brings none a user
//! namespace mapped to a range of host ids no other pod on the node has.
//!
//! One pool per node, whatever the state root (containerd, Docker and
//! podman each use their own): `/run/brig/userns-pool`, on tmpfs, so it
//! empties with the containers at boot. `leases.json` holds the leases,
//! rewritten atomically under an exclusive lock on `lock`.
//!
//! A lease is a range of host ids, the key of the pod it belongs to, and
//! its holders (the containers using it). A holder is alive while its
//! container's state.json records this range, or while the `create` that
//! took it runs (its pid, with its start time, against reuse). Dead
//! holders are dropped at every change, so a `create` killed at any point
//! leaks nothing: before it wrote state.json its process is gone; after,
//! `delete --force` removes the state and releases the range.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use oci_spec::runtime::Spec;

use super::{Action, Mode, Policy, UserNamespaceRule};
use crate::error::{Error, Result};
use crate::linux::pid;
use crate::state::{self, State};

/// Where the node's pool lives.
pub const POOL_DIR: &str = "/run/brig/userns-pool";
const LEASES: &str = "leases.json";
const LOCK: &str = "lock";

/// Host ids `start .. start + size`, the same for uids and gids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Range {
    pub start: u32,
    pub size: u32,
}

impl Range {
    fn end(self) -> u64 {
        u64::from(self.start) + u64::from(self.size)
    }

    /// "FIRST-LAST", as the policy's findings and `policy leases` show it.
    pub fn span(self) -> String {
        format!("{}-{}", self.start, self.end().saturating_sub(1))
    }

    pub fn overlaps(self, other: Range) -> bool {
        u64::from(self.start) < other.end() && u64::from(other.start) < self.end()
    }
}

/// One container using a lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// Its state root and id: `ROOT/ID/state.json`.
    pub root: PathBuf,
    pub id: String,
    /// The `create` that took the lease, and its start time.
    pub pid: i32,
    pub start_time: u64,
}

impl Holder {
    /// The container `id` in `root`, created by this process.
    pub fn this_process(root: &Path, id: &str) -> Holder {
        let me = nix::unistd::getpid();
        Holder {
            root: root.to_path_buf(),
            id: id.to_string(),
            pid: me.as_raw(),
            start_time: pid::stat(me).map_or(0, |s| s.start_time),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub range: Range,
    /// `pod:SANDBOX-ID` for the containers of one pod, else
    /// `container:ROOT/ID`.
    pub key: String,
    pub holders: Vec<Holder>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Leases {
    leases: Vec<Lease>,
}

/// What a container gets: its range, and the user namespace of its pod
/// to join when another container of the pod runs with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub range: Range,
    pub join: Option<PathBuf>,
}

/// Is a holder still using its lease's range?
pub type Liveness<'a> = &'a dyn Fn(&Holder, Range) -> bool;

/// The pool in a directory (the node's: [`POOL_DIR`]).
pub struct Pool {
    dir: PathBuf,
}

impl Pool {
    pub fn node() -> Pool {
        Pool::at(Path::new(POOL_DIR))
    }

    pub fn at(dir: &Path) -> Pool {
        Pool {
            dir: dir.to_path_buf(),
        }
    }

    /// A range for `holder`, of the pod (or container) `key`: the pod's
    /// own when it has one, else the lowest free one of `rule`'s region.
    /// Returns it with the lease's other holders.
    pub fn acquire(
        &self,
        rule: &UserNamespaceRule,
        key: &str,
        holder: Holder,
        live: Liveness<'_>,
    ) -> Result<(Range, Vec<Holder>)> {
        self.change(live, |leases| {
            if let Some(l) = leases.iter_mut().find(|l| l.key == key) {
                let others = l.holders.clone();
                l.holders.push(holder);
                return Ok((l.range, others));
            }
            let taken: Vec<Range> = leases.iter().map(|l| l.range).collect();
            let range = (0..rule.count)
                .map(|i| Range {
                    start: rule.first + i * rule.size,
                    size: rule.size,
                })
                .find(|r| !taken.iter().any(|t| t.overlaps(*r)))
                .ok_or_else(|| {
                    Error::invalid(format!(
                        "the user-namespace pool is full: all {} ranges of {} ids from host id {} are leased",
                        rule.count, rule.size, rule.first
                    ))
                })?;
            leases.push(Lease {
                range,
                key: key.to_string(),
                holders: vec![holder],
            });
            Ok((range, Vec::new()))
        })
    }

    /// Container `id` of `root` no longer holds a range; a range without
    /// holders is free again.
    pub fn release(&self, root: &Path, id: &str, live: Liveness<'_>) -> Result<()> {
        self.change(live, |leases| {
            for l in leases.iter_mut() {
                l.holders.retain(|h| h.root != root || h.id != id);
            }
            Ok(())
        })
    }

    /// Only this holder record goes (a `create` that failed: another
    /// container of the same id keeps its own).
    pub fn release_holder(&self, holder: &Holder, live: Liveness<'_>) -> Result<()> {
        self.change(live, |leases| {
            for l in leases.iter_mut() {
                l.holders.retain(|h| h != holder);
            }
            Ok(())
        })
    }

    /// The live leases.
    pub fn leases(&self, live: Liveness<'_>) -> Result<Vec<Lease>> {
        self.change(live, |leases| Ok(leases.clone()))
    }

    /// Under the lock: read, drop dead holders and empty leases, let `f`
    /// change the list, write it back.
    fn change<T>(
        &self,
        live: Liveness<'_>,
        f: impl FnOnce(&mut Vec<Lease>) -> Result<T>,
    ) -> Result<T> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|e| Error::io(format!("create {}", self.dir.display()), e))?;
        let _lock = crate::linux::lock::lock_exclusive(&self.dir.join(LOCK))?;
        let path = self.dir.join(LEASES);
        let mut all: Leases = match std::fs::read(&path) {
            Ok(data) => serde_json::from_slice(&data)
                .map_err(|e| Error::json(format!("parse {}", path.display()), e))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Leases::default(),
            Err(e) => return Err(Error::io(format!("read {}", path.display()), e)),
        };
        for l in &mut all.leases {
            let range = l.range;
            l.holders.retain(|h| live(h, range));
        }
        all.leases.retain(|l| !l.holders.is_empty());
        let out = f(&mut all.leases)?;
        all.leases.retain(|l| !l.holders.is_empty());
        let data = serde_json::to_vec_pretty(&all).expect("leases serialize");
        state::write_atomic(&path, &data, 0o600)?;
        Ok(out)
    }
}

/// The real liveness: the holder's state.json records this range, or the
/// `create` that took it still runs.
pub fn holder_alive(h: &Holder, range: Range) -> bool {
    if let Ok(st) = State::load(&h.root, &h.id) {
        if st.userns_range == Some(range) {
            return true;
        }
    }
    h.pid > 0
        && pid::stat(nix::unistd::Pid::from_raw(h.pid))
            .is_some_and(|s| s.start_time == h.start_time && !matches!(s.state, 'Z' | 'X'))
}

/// The pod a container belongs to, from the annotations the CRI plugins
/// set (containerd: `io.kubernetes.cri.sandbox-id`; CRI-O:
/// `io.kubernetes.cri-o.SandboxID`); a container outside a pod is its own.
pub fn key_of(
    annotations: Option<&std::collections::HashMap<String, String>>,
    root: &Path,
    id: &str,
) -> String {
    match sandbox_id(annotations) {
        Some(s) => format!("pod:{s}"),
        None => format!("container:{}/{id}", root.display()),
    }
}

/// The pod's sandbox id from the CRI plugins' annotations.
fn sandbox_id(annotations: Option<&std::collections::HashMap<String, String>>) -> Option<&str> {
    annotations
        .and_then(|a| {
            a.get("io.kubernetes.cri.sandbox-id")
                .or_else(|| a.get("io.kubernetes.cri-o.SandboxID"))
        })
        .map(String::as_str)
        .filter(|s| !s.is_empty())
}
/// The user namespace of a running container of the same lease, to join:
/// the pod's sandbox (its id is the sandbox id) first, else any.
pub fn pod_userns(lease_holders: &[Holder], sandbox: Option<&str>, me: &str) -> Option<PathBuf> {
    let mut candidates: Vec<&Holder> = lease_holders.iter().filter(|h| h.id != me).collect();
    candidates.sort_by_key(|h| Some(h.id.as_str()) != sandbox);
    candidates.into_iter().find_map(|h| {
        let st = State::load(&h.root, &h.id).ok()?;
        (st.pid > 0 && st.init_alive()).then(|| PathBuf::from(format!("/proc/{}/ns/user", st.pid)))
    })
}

/// A range leased for a container being created: its holder record goes
/// again on drop, unless the container was created ([`Taken::keep`]).
pub struct Taken {
    pool: Pool,
    holder: Holder,
    kept: bool,
    pub grant: Grant,
}

impl Taken {
    /// A range for container `id` of `root` when `policy` gives it a user
    /// namespace (enforce mode, a `user_namespace` rule that clamps, a
    /// config without one of its own); none otherwise.
    pub fn take(
        root: &Path,
        id: &str,
        policy: Option<&Policy>,
        spec: &Spec,
    ) -> Result<Option<Taken>> {
        let Some(p) = policy.filter(|p| p.mode == Mode::Enforce) else {
            return Ok(None);
        };
        let Some(rule) = p
            .user_namespace
            .as_ref()
            .filter(|r| r.action == Action::Clamp)
        else {
            return Ok(None);
        };
        if super::in_user_namespace(spec) {
            return Ok(None);
        }
        // No range for an id that is bad or taken (the create fails on it
        // later; a lease now would name another container's holder).
        crate::state::validate_id(id)?;
        if crate::state::container_dir(root, id).exists() {
            return Err(Error::already_exists(id));
        }
        let annotations = spec.annotations().as_ref();
        let key = key_of(annotations, root, id);
        let pool = Pool::node();
        let holder = Holder::this_process(root, id);
        let (range, others) = pool
            .acquire(rule, &key, holder.clone(), &holder_alive)
            .map_err(|e| e.context("lease a user namespace range"))?;
        let sandbox = sandbox_id(annotations);
        let join = pod_userns(&others, sandbox, id);
        Ok(Some(Taken {
            pool,
            holder,
            kept: false,
            grant: Grant { range, join },
        }))
    }

    /// The container exists (its state.json records the range): the lease
    /// is its until delete.
    pub fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for Taken {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        if let Err(e) = self.pool.release_holder(&self.holder, &holder_alive) {
            tracing::warn!("cleanup: {}", e.chain());
        }
    }
}

/// `delete`: container `id` of `root` gives its range back (nothing to
/// do on a node where no range was ever leased).
pub fn release(root: &Path, id: &str) -> Result<()> {
    let pool = Pool::node();
    if !pool.dir.join(LEASES).exists() {
        return Ok(());
    }
    pool.release(root, id, &holder_alive)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    fn rule(count: u32) -> UserNamespaceRule {
        UserNamespaceRule {
            action: Action::Clamp,
            first: 1_000_000,
            count,
            size: 1000,
        }
    }

    fn holder(id: &str, pid: i32) -> Holder {
        Holder {
            root: PathBuf::from("/run/test"),
            id: id.into(),
            pid,
            start_time: 1,
        }
    }

    #[test]
    fn ranges_are_disjoint_and_reused_after_release() {
        let dir = tempfile::tempdir().unwrap();
        let pool = Pool::at(dir.path());
        let all = |_: &Holder, _: Range| true;
        let (a, _) = pool
            .acquire(&rule(3), "container:a", holder("a", 1), &all)
            .unwrap();
        let (b, _) = pool
            .acquire(&rule(3), "container:b", holder("b", 1), &all)
            .unwrap();
        let (c, _) = pool
            .acquire(&rule(3), "container:c", holder("c", 1), &all)
            .unwrap();
        assert_eq!(
            (a.start, b.start, c.start),
            (1_000_000, 1_001_000, 1_002_000)
        );
        assert!(!a.overlaps(b) && !b.overlaps(c) && !a.overlaps(c));
        let e = pool
            .acquire(&rule(3), "container:d", holder("d", 1), &all)
            .unwrap_err();
        assert!(e.chain().contains("pool is full"), "{}", e.chain());
        pool.release(Path::new("/run/test"), "b", &all).unwrap();
        let (d, _) = pool
            .acquire(&rule(3), "container:d", holder("d", 1), &all)
            .unwrap();
        assert_eq!(d, b, "the lowest free range again");
    }

    #[test]
    fn a_pod_shares_one_range_until_its_last_container_goes() {
        let dir = tempfile::tempdir().unwrap();
        let pool = Pool::at(dir.path());
        let all = |_: &Holder, _: Range| true;
        let (s, none) = pool
            .acquire(&rule(4), "pod:p", holder("sandbox", 1), &all)
            .unwrap();
        assert!(none.is_empty());
        let (c, others) = pool
            .acquire(&rule(4), "pod:p", holder("app", 1), &all)
            .unwrap();
        assert_eq!(s, c);
        assert_eq!(others, vec![holder("sandbox", 1)]);
        let (q, _) = pool
            .acquire(&rule(4), "pod:q", holder("q", 1), &all)
            .unwrap();
        assert!(!q.overlaps(s));
        pool.release(Path::new("/run/test"), "sandbox", &all)
            .unwrap();
        assert_eq!(
            pool.leases(&all).unwrap().len(),
            2,
            "app still holds pod p's"
        );
        pool.release(Path::new("/run/test"), "app", &all).unwrap();
        let left = pool.leases(&all).unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].key, "pod:q");
    }

    /// A holder that is gone (its create killed, its record deleted) is
    /// dropped at the next change: the range is leased again.
    #[test]
    fn dead_holders_free_their_range() {
        let dir = tempfile::tempdir().unwrap();
        let pool = Pool::at(dir.path());
        let dead = RefCell::new(Vec::<String>::new());
        let live = |h: &Holder, _: Range| !dead.borrow().contains(&h.id);
        let (a, _) = pool
            .acquire(&rule(2), "container:a", holder("a", 1), &live)
            .unwrap();
        dead.borrow_mut().push("a".into());
        let (b, _) = pool
            .acquire(&rule(2), "container:b", holder("b", 1), &live)
            .unwrap();
        assert_eq!(a, b);
        assert_eq!(pool.leases(&live).unwrap().len(), 1);
    }

    /// A failed create takes back only its own record: a container of the
    /// same id (and root) that holds the range keeps it.
    #[test]
    fn release_holder_is_exact() {
        let dir = tempfile::tempdir().unwrap();
        let pool = Pool::at(dir.path());
        let all = |_: &Holder, _: Range| true;
        let (r, _) = pool
            .acquire(&rule(2), "container:x", holder("x", 1), &all)
            .unwrap();
        let (again, _) = pool
            .acquire(&rule(2), "container:x", holder("x", 2), &all)
            .unwrap();
        assert_eq!(r, again);
        pool.release_holder(&holder("x", 2), &all).unwrap();
        let left = pool.leases(&all).unwrap();
        assert_eq!(left[0].holders, vec![holder("x", 1)]);
    }

    #[test]
    fn the_real_liveness() {
        let dir = tempfile::tempdir().unwrap();
        let range = Range { start: 5, size: 5 };
        let me = Holder::this_process(dir.path(), "nothing-recorded");
        assert!(holder_alive(&me, range), "the create that took it runs");
        let gone = Holder {
            pid: me.pid,
            start_time: me.start_time + 1,
            ..me.clone()
        };
        assert!(
            !holder_alive(&gone, range),
            "pid reused: not the same process"
        );
    }

    #[test]
    fn pod_keys_from_the_cri_annotations() {
        use std::collections::HashMap;
        let root = Path::new("/run/x");
        let a = HashMap::from([("io.kubernetes.cri.sandbox-id".to_string(), "s1".to_string())]);
        assert_eq!(key_of(Some(&a), root, "c"), "pod:s1");
        let b = HashMap::from([(
            "io.kubernetes.cri-o.SandboxID".to_string(),
            "s2".to_string(),
        )]);
        assert_eq!(key_of(Some(&b), root, "c"), "pod:s2");
        assert_eq!(key_of(None, root, "c"), "container:/run/x/c");
    }

    #[test]
    fn overlap() {
        let r = |start, size| Range { start, size };
        assert!(r(0, 10).overlaps(r(9, 1)));
        assert!(!r(0, 10).overlaps(r(10, 1)));
        assert!(!r(u32::MAX - 1, 1).overlaps(r(0, 1)));
    }
}
