//! The process's credentials: supplementary groups, gid, uid, umask.
//! Ref: credentials(7).

use nix::sys::stat::{umask, Mode};
use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};

use crate::error::{Result, SysResultExt};

/// Supplementary groups, then gid, then uid (all three of each): in this
/// order, because dropping uid 0 first would forbid the others. Where the
/// user namespace denies setgroups (`may_setgroups` false) the groups are
/// left as they are, as runc does rootless: the caller checked that none
/// were asked for.
pub fn set_user(uid: u32, gid: u32, additional_gids: &[u32], may_setgroups: bool) -> Result<()> {
    if may_setgroups {
        let gids: Vec<Gid> = additional_gids.iter().map(|g| Gid::from_raw(*g)).collect();
        setgroups(&gids).or_sys(|| format!("setgroups {additional_gids:?}"))?;
    }
    let gid = Gid::from_raw(gid);
    setresgid(gid, gid, gid).or_sys(|| format!("setresgid {gid}"))?;
    let uid = Uid::from_raw(uid);
    setresuid(uid, uid, uid).or_sys(|| format!("setresuid {uid}"))
}

/// Become the mapped root of the user namespace we are in (setresgid, then
/// setresuid, to 0) before an execve, or the exec would recompute our
/// capabilities as the unmapped overflow uid and drop them all; `which`
/// names the namespace for the error. Ref: user_namespaces(7),
/// capabilities(7) "Capabilities and execution of programs by root".
pub fn become_root(which: &str) -> Result<()> {
    setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0))
        .or_sys(|| format!("setresgid 0 in {which} (is gid 0 mapped?)"))?;
    setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0))
        .or_sys(|| format!("setresuid 0 in {which} (is uid 0 mapped?)"))
}

pub fn set_umask(mask: u32) {
    umask(Mode::from_bits_truncate(mask));
}
