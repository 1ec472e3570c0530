//! Mount options as config.json spells them: parsed into mount(2) flags,
//! propagation changes, recursive `mount_setattr` attributes and data.
//! The syscalls live in `mountapi` (new mount API) and `inroot` (paths
//! resolved inside the rootfs).

use nix::mount::MsFlags;

use crate::error::{Error, Result};

/// `MS_NOSYMFOLLOW` (Linux 5.10), missing from nix's MsFlags.
pub const MS_NOSYMFOLLOW: MsFlags = MsFlags::from_bits_retain(libc::MS_NOSYMFOLLOW);

// Ref: uapi/linux/mount.h; libc has these but not on every target we build.
pub const MOUNT_ATTR_RDONLY: u64 = 0x01;
pub const MOUNT_ATTR_NOSUID: u64 = 0x02;
pub const MOUNT_ATTR_NODEV: u64 = 0x04;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x08;
pub const MOUNT_ATTR_ATIME_MASK: u64 = 0x70;
pub const MOUNT_ATTR_RELATIME: u64 = 0x00;
pub const MOUNT_ATTR_NOATIME: u64 = 0x10;
pub const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
pub const MOUNT_ATTR_NODIRATIME: u64 = 0x80;
pub const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x0020_0000;

/// One entry of `mounts[].options`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// Flags to set (mount(2) flags, per mount or per superblock).
    pub flags: MsFlags,
    /// Flags explicitly turned off (`rw`, `suid`, `atime`...): matters when
    /// a bind mount inherits them from its source.
    pub cleared: MsFlags,
    /// Propagation changes, in the order given (`rprivate`, `shared`, ...).
    pub propagation: Vec<MsFlags>,
    /// `mount_setattr(AT_RECURSIVE)` attributes from the `r*` options.
    pub rec_set: u64,
    pub rec_clr: u64,
    /// Everything else: filesystem data, joined with ',' by [`Self::data`].
    pub data: Vec<String>,
    /// `idmap` (Some(false)) or `ridmap` (Some(true)).
    pub idmap: Option<bool>,
    /// `tmpcopyup`: a tmpfs starts with a copy of the directory it covers.
    pub tmpcopyup: bool,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            flags: MsFlags::empty(),
            cleared: MsFlags::empty(),
            propagation: Vec::new(),
            rec_set: 0,
            rec_clr: 0,
            data: Vec::new(),
            idmap: None,
            tmpcopyup: false,
        }
    }
}

impl MountOptions {
    pub fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }

    pub fn is_recursive_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND | MsFlags::MS_REC)
    }

    pub fn data(&self) -> String {
        self.data.join(",")
    }

    /// A bind mount's per-mount attributes, as mount_setattr's (set,
    /// clear), by runc 1.2+'s rule, given the source mount's attributes
    /// `src` (see [`attrs_of_source`]):
    /// - no flag at all given (`bind`, `rbind`, propagation only): the
    ///   source's flags stay, as with `mount --bind`;
    /// - any flag given, set or cleared: exactly the given flags, the others
    ///   cleared (an implied rw, exec, suid, dev, symfollow), unlike
    ///   mount(8) (util-linux#2433); the atime mode and nodiratime stay the
    ///   source's unless an atime flag is set (`noatime`, `relatime`,
    ///   `strictatime`, `nodiratime`), and then follow the kernel's remount
    ///   rule (relatime unless noatime; strictatime over both);
    /// - `locked` (a user namespace, where the source's ro, nosuid, nodev,
    ///   noexec and atime flags cannot change): a locked flag only implied
    ///   clear stays; one explicitly cleared, or an atime mode asked other
    ///   than the source's, is an error naming it.
    pub fn bind_attrs(&self, src: u64, locked: bool) -> std::result::Result<(u64, u64), String> {
        let pairs = [
            (MsFlags::MS_RDONLY, MOUNT_ATTR_RDONLY, "ro"),
            (MsFlags::MS_NOSUID, MOUNT_ATTR_NOSUID, "nosuid"),
            (MsFlags::MS_NODEV, MOUNT_ATTR_NODEV, "nodev"),
            (MsFlags::MS_NOEXEC, MOUNT_ATTR_NOEXEC, "noexec"),
            (MS_NOSYMFOLLOW, MOUNT_ATTR_NOSYMFOLLOW, "nosymfollow"),
        ];
        let atime_flags = MsFlags::MS_NOATIME
            | MsFlags::MS_RELATIME
            | MsFlags::MS_STRICTATIME
            | MsFlags::MS_NODIRATIME;
        let structural = MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT;
        // Any flag but bind/rbind counts (`sync` too), as in runc.
        if (self.flags - structural).is_empty() && self.cleared.is_empty() {
            return Ok((0, 0));
        }
        let (mut set, mut clr) = (0, 0);
        for (ms, attr, _) in pairs {
            if self.flags.contains(ms) {
                set |= attr;
            } else {
                clr |= attr;
            }
        }
        let atime_mask = MOUNT_ATTR_ATIME_MASK | MOUNT_ATTR_NODIRATIME;
        let atime_given = self.flags.intersects(atime_flags);
        if atime_given {
            let mode = if self.flags.contains(MsFlags::MS_STRICTATIME) {
                MOUNT_ATTR_STRICTATIME
            } else if self.flags.contains(MsFlags::MS_NOATIME) {
                MOUNT_ATTR_NOATIME
            } else {
                MOUNT_ATTR_RELATIME
            };
            let dir = if self.flags.contains(MsFlags::MS_NODIRATIME) {
                MOUNT_ATTR_NODIRATIME
            } else {
                0
            };
            set |= mode | dir;
            clr |= atime_mask;
        }
        if locked {
            let lockable =
                MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
            let explicit: Vec<&str> = pairs
                .iter()
                .filter(|(ms, attr, _)| self.cleared.contains(*ms) && src & attr & lockable != 0)
                .map(|(.., name)| *name)
                .collect();
            if !explicit.is_empty() {
                return Err(format!(
                    "cannot clear locked flags {} in a user namespace",
                    explicit.join(",")
                ));
            }
            if atime_given && (set & atime_mask) != (src & atime_mask) {
                return Err("cannot change locked atime flags in a user namespace".into());
            }
            set |= src & lockable;
            clr &= !(src & lockable);
            if !atime_given {
                clr &= !atime_mask;
            }
        }
        Ok((set, clr))
    }
}

/// A mount's per-mount attributes from statvfs(3)'s `f_flag`.
pub fn attrs_of_source(f: nix::sys::statvfs::FsFlags) -> u64 {
    use nix::sys::statvfs::FsFlags as F;
    let mut a = 0;
    for (flag, attr) in [
        (F::ST_RDONLY, MOUNT_ATTR_RDONLY),
        (F::ST_NOSUID, MOUNT_ATTR_NOSUID),
        (F::ST_NODEV, MOUNT_ATTR_NODEV),
        (F::ST_NOEXEC, MOUNT_ATTR_NOEXEC),
        (F::ST_NODIRATIME, MOUNT_ATTR_NODIRATIME),
    ] {
        if f.contains(flag) {
            a |= attr;
        }
    }
    // ST_NOSYMFOLLOW is 0x2000 (Linux 5.10); nix has no name for it.
    if f.bits() & 0x2000 != 0 {
        a |= MOUNT_ATTR_NOSYMFOLLOW;
    }
    a | if f.contains(F::ST_NOATIME) {
        MOUNT_ATTR_NOATIME
    } else if f.contains(F::ST_RELATIME) {
        MOUNT_ATTR_RELATIME
    } else {
        MOUNT_ATTR_STRICTATIME
    }
}

/// Every option name `lookup` knows, for `brig features` (a unit test
/// keeps the two in step).
pub const KNOWN_OPTIONS: &[&str] = &[
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "idmap",
    "iversion",
    "lazytime",
    "loud",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "noiversion",
    "nolazytime",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "private",
    "ratime",
    "rbind",
    "rdev",
    "rdiratime",
    "relatime",
    "remount",
    "rexec",
    "ridmap",
    "rnoatime",
    "rnodev",
    "rnodiratime",
    "rnoexec",
    "rnorelatime",
    "rnostrictatime",
    "rnosuid",
    "rnosymfollow",
    "ro",
    "rprivate",
    "rrelatime",
    "rro",
    "rrw",
    "rshared",
    "rslave",
    "rstrictatime",
    "rsuid",
    "rsymfollow",
    "runbindable",
    "rw",
    "shared",
    "silent",
    "slave",
    "strictatime",
    "suid",
    "symfollow",
    "sync",
    "tmpcopyup",
    "unbindable",
];

#[cfg(test)]
#[test]
fn known_options_are_all_understood() {
    for name in KNOWN_OPTIONS {
        assert!(lookup(name).is_some(), "{name}");
    }
}

enum Opt {
    Set(MsFlags),
    Clear(MsFlags),
    Propagation(MsFlags),
    /// (set, clear) for mount_setattr(AT_RECURSIVE).
    Recursive(u64, u64),
    Idmap(bool),
    Nothing,
}

fn lookup(name: &str) -> Option<Opt> {
    use MsFlags as M;
    use Opt::*;
    const ATIME: u64 = MOUNT_ATTR_ATIME_MASK;
    Some(match name {
        "defaults" | "tmpcopyup" => Nothing,
        "ro" => Set(M::MS_RDONLY),
        "rw" => Clear(M::MS_RDONLY),
        "nosuid" => Set(M::MS_NOSUID),
        "suid" => Clear(M::MS_NOSUID),
        "nodev" => Set(M::MS_NODEV),
        "dev" => Clear(M::MS_NODEV),
        "noexec" => Set(M::MS_NOEXEC),
        "exec" => Clear(M::MS_NOEXEC),
        "sync" => Set(M::MS_SYNCHRONOUS),
        "async" => Clear(M::MS_SYNCHRONOUS),
        "dirsync" => Set(M::MS_DIRSYNC),
        "remount" => Set(M::MS_REMOUNT),
        "mand" => Set(M::MS_MANDLOCK),
        "nomand" => Clear(M::MS_MANDLOCK),
        "noatime" => Set(M::MS_NOATIME),
        "atime" => Clear(M::MS_NOATIME),
        "nodiratime" => Set(M::MS_NODIRATIME),
        "diratime" => Clear(M::MS_NODIRATIME),
        "relatime" => Set(M::MS_RELATIME),
        "norelatime" => Clear(M::MS_RELATIME),
        "strictatime" => Set(M::MS_STRICTATIME),
        "nostrictatime" => Clear(M::MS_STRICTATIME),
        "lazytime" => Set(M::MS_LAZYTIME),
        "nolazytime" => Clear(M::MS_LAZYTIME),
        "bind" => Set(M::MS_BIND),
        "rbind" => Set(M::MS_BIND | M::MS_REC),
        "silent" => Set(M::MS_SILENT),
        "loud" => Clear(M::MS_SILENT),
        "iversion" => Set(M::MS_I_VERSION),
        "noiversion" => Clear(M::MS_I_VERSION),
        "nosymfollow" => Set(MS_NOSYMFOLLOW),
        "symfollow" => Clear(MS_NOSYMFOLLOW),
        "private" => Propagation(M::MS_PRIVATE),
        "rprivate" => Propagation(M::MS_PRIVATE | M::MS_REC),
        "shared" => Propagation(M::MS_SHARED),
        "rshared" => Propagation(M::MS_SHARED | M::MS_REC),
        "slave" => Propagation(M::MS_SLAVE),
        "rslave" => Propagation(M::MS_SLAVE | M::MS_REC),
        "unbindable" => Propagation(M::MS_UNBINDABLE),
        "runbindable" => Propagation(M::MS_UNBINDABLE | M::MS_REC),
        "rro" => Recursive(MOUNT_ATTR_RDONLY, 0),
        "rrw" => Recursive(0, MOUNT_ATTR_RDONLY),
        "rnosuid" => Recursive(MOUNT_ATTR_NOSUID, 0),
        "rsuid" => Recursive(0, MOUNT_ATTR_NOSUID),
        "rnodev" => Recursive(MOUNT_ATTR_NODEV, 0),
        "rdev" => Recursive(0, MOUNT_ATTR_NODEV),
        "rnoexec" => Recursive(MOUNT_ATTR_NOEXEC, 0),
        "rexec" => Recursive(0, MOUNT_ATTR_NOEXEC),
        "rnodiratime" => Recursive(MOUNT_ATTR_NODIRATIME, 0),
        "rdiratime" => Recursive(0, MOUNT_ATTR_NODIRATIME),
        "rnoatime" => Recursive(MOUNT_ATTR_NOATIME, ATIME),
        "rstrictatime" => Recursive(MOUNT_ATTR_STRICTATIME, ATIME),
        // The access-time mode is one value (mount_setattr(2) changes it
        // only whole): clearing any mode leaves the default, relatime, as
        // runc reads these (runc#5095); setting relatime is the same.
        "ratime" | "rrelatime" | "rnorelatime" | "rnostrictatime" => {
            Recursive(MOUNT_ATTR_RELATIME, ATIME)
        }
        "rnosymfollow" => Recursive(MOUNT_ATTR_NOSYMFOLLOW, 0),
        "rsymfollow" => Recursive(0, MOUNT_ATTR_NOSYMFOLLOW),
        "idmap" => Idmap(false),
        "ridmap" => Idmap(true),
        _ => return None,
    })
}

/// Parse `mounts[].options`. Unknown names are filesystem data (`mode=755`,
/// `newinstance`); callers reject data where the mount type takes none.
/// Ref: config.md "mounts", runc libcontainer/specconv mountFlags.
pub fn parse_options(options: &[String]) -> Result<MountOptions> {
    let mut out = MountOptions::default();
    for o in options {
        if o.is_empty() || o.contains(',') {
            return Err(Error::invalid(format!("invalid mount option {o:?}")));
        }
        match lookup(o) {
            Some(Opt::Set(f)) => {
                out.flags.insert(f);
                out.cleared.remove(f);
            }
            Some(Opt::Clear(f)) => {
                out.flags.remove(f);
                out.cleared.insert(f);
            }
            Some(Opt::Propagation(p)) => out.propagation.push(p),
            Some(Opt::Recursive(set, clr)) => {
                out.rec_set = (out.rec_set & !clr & !set) | set;
                out.rec_clr = (out.rec_clr & !set) | clr;
            }
            Some(Opt::Idmap(rec)) => out.idmap = Some(rec),
            Some(Opt::Nothing) => out.tmpcopyup |= o == "tmpcopyup",
            None => out.data.push(o.clone()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
