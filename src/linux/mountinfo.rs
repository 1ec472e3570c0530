//! /proc/PID/mountinfo, parsed once for every caller. Fields that hold
//! paths have their octal escapes (`\040` for a space) decoded.
//! Ref: proc_pid_mountinfo(5).

use std::path::Path;

/// One line of mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    pub id: u32,
    pub parent: u32,
    /// The root of the mount within its filesystem ("/" for a full mount).
    pub root: String,
    pub mount_point: String,
    pub options: String,
    pub fs_type: String,
    pub source: String,
    pub super_options: String,
}

/// Every well-formed line of `text`; a malformed one is skipped (the
/// kernel writes none).
pub fn parse(text: &str) -> Vec<MountInfo> {
    text.lines().filter_map(parse_line).collect()
}

/// The calling process's own mount table.
pub fn read_self() -> std::io::Result<Vec<MountInfo>> {
    std::fs::read_to_string("/proc/self/mountinfo").map(|t| parse(&t))
}

/// Where cgroup hierarchies are mounted: on every distribution, and by
/// runc, systemd and brig's own tests.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The cgroup mounts at /sys/fs/cgroup and its directories, as mountinfo
/// text (what [`parse`] and the cgroup code read). Reading the whole of
/// /proc/self/mountinfo costs about 2.5 µs per mount of the host's (the
/// kernel prints every one): 2.5 ms a read on a node with a thousand, and a
/// `run` needs three. This asks statx(2) and statmount(2) about those few
/// places instead, so the cost follows the number of hierarchies, not
/// the host's mount table (issue 15). Falls back to the whole table where
/// statmount(2) or its options are missing (before Linux 6.11) or no
/// cgroup filesystem is mounted there. Ref: statmount(2).
///
/// One answer serves every caller within [`CGROUP_MOUNTS_FRESH`] (create
/// and exec ask two or three times in a few ms; a `run` that waited for its
/// container asks again at delete).
pub fn cgroup_mounts() -> std::io::Result<String> {
    use std::sync::Mutex;
    use std::time::Instant;
    static LAST: Mutex<Option<(Instant, String)>> = Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((at, text)) = last.as_ref() {
        if at.elapsed() < CGROUP_MOUNTS_FRESH {
            return Ok(text.clone());
        }
    }
    let text = match cgroup_mounts_by_statmount() {
        Some(text) if !text.is_empty() => text,
        _ => std::fs::read_to_string("/proc/self/mountinfo")?,
    };
    *last = Some((Instant::now(), text.clone()));
    Ok(text)
}

/// How long an answer of [`cgroup_mounts`] is reused.
const CGROUP_MOUNTS_FRESH: std::time::Duration = std::time::Duration::from_secs(1);

fn cgroup_mounts_by_statmount() -> Option<String> {
    let mut out = String::new();
    let top = statmount_line(Path::new(CGROUP_ROOT))?;
    match top {
        // Pure v2 (or a v1 hierarchy) right there.
        Some(line) => out.push_str(&line),
        None => {
            let mut dirs: Vec<_> = std::fs::read_dir(CGROUP_ROOT)
                .ok()?
                .filter_map(|e| e.ok())
                // Links (cpu -> cpu,cpuacct) name a hierarchy seen anyway.
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path())
                .collect();
            dirs.sort();
            for dir in dirs {
                if let Some(line) = statmount_line(&dir)? {
                    out.push_str(&line);
                }
            }
        }
    }
    Some(out)
}

/// The mountinfo line of the cgroup filesystem mounted at `path`:
/// Some(None) when `path` is not the root of a cgroup mount, None when
/// statmount(2) cannot answer (the caller reads mountinfo instead).
fn statmount_line(path: &Path) -> Option<Option<String>> {
    use std::os::unix::ffi::OsStrExt;
    const STATX_MNT_ID_UNIQUE: u32 = 0x4000;
    const CGROUP_SUPER_MAGIC: u64 = 0x27e0eb;
    const CGROUP2_SUPER_MAGIC: u64 = 0x6367_7270;
    const STATMOUNT_SB_BASIC: u64 = 0x1;
    const STATMOUNT_MNT_BASIC: u64 = 0x2;
    const STATMOUNT_MNT_ROOT: u64 = 0x8;
    const STATMOUNT_MNT_POINT: u64 = 0x10;
    const STATMOUNT_FS_TYPE: u64 = 0x20;
    const STATMOUNT_MNT_OPTS: u64 = 0x80;
    const SYS_STATMOUNT: libc::c_long = 457;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statx is plain data; all zeroes is a valid value.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: c is a valid C string and stx a writable statx that outlives the call.
    let r = unsafe {
        libc::statx(
            libc::AT_FDCWD,
            c.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
            STATX_MNT_ID_UNIQUE,
            &mut stx,
        )
    };
    if r != 0 || stx.stx_mask & STATX_MNT_ID_UNIQUE == 0 {
        return None;
    }
    if stx.stx_attributes & libc::STATX_ATTR_MOUNT_ROOT as u64 == 0 {
        return Some(None);
    }
    // struct mnt_id_req, MNT_ID_REQ_SIZE_VER0: size, spare, mnt_id, param.
    let req: [u64; 3] = [
        24,
        stx.stx_mnt_id,
        STATMOUNT_SB_BASIC
            | STATMOUNT_MNT_BASIC
            | STATMOUNT_MNT_ROOT
            | STATMOUNT_MNT_POINT
            | STATMOUNT_FS_TYPE
            | STATMOUNT_MNT_OPTS,
    ];
    let mut buf = vec![0u64; 1024];
    // SAFETY: req is a valid mnt_id_req of the size it gives; buf is a
    // writable buffer of the length passed.
    let r = unsafe {
        libc::syscall(
            SYS_STATMOUNT,
            req.as_ptr(),
            buf.as_mut_ptr(),
            buf.len() * 8,
            0,
        )
    };
    if r != 0 {
        return None;
    }
    let b: &[u8] = bytemuck_bytes(&buf);
    let u32_at = |o: usize| u32::from_ne_bytes(b[o..o + 4].try_into().expect("4 bytes"));
    let u64_at = |o: usize| u64::from_ne_bytes(b[o..o + 8].try_into().expect("8 bytes"));
    // struct statmount: strings are offsets into str[], at byte 512.
    let str_at = |o: usize| {
        let s = &b[512 + u32_at(o) as usize..];
        String::from_utf8_lossy(&s[..s.iter().position(|&c| c == 0).unwrap_or(s.len())])
            .into_owned()
    };
    let got = u64_at(8);
    let wanted = STATMOUNT_SB_BASIC | STATMOUNT_MNT_ROOT | STATMOUNT_MNT_POINT | STATMOUNT_FS_TYPE;
    if got & wanted != wanted {
        return None;
    }
    let magic = u64_at(24);
    if magic != CGROUP_SUPER_MAGIC && magic != CGROUP2_SUPER_MAGIC {
        return Some(None);
    }
    // The kernel leaves the options out where there are none (a cgroup2
    // without nsdelegate); a v1 hierarchy always has its controllers
    // there, so without them this kernel cannot say (before 6.11).
    if got & STATMOUNT_MNT_OPTS == 0 && magic == CGROUP_SUPER_MAGIC {
        return None;
    }
    let (major, minor) = (u32_at(16), u32_at(20));
    let (id, parent) = (u32_at(56), u32_at(60));
    let opts = if got & STATMOUNT_MNT_OPTS != 0 {
        str_at(4)
    } else {
        String::new()
    };
    const MOUNT_ATTR_RDONLY: u64 = 0x1;
    let ro = |yes: bool| if yes { "ro" } else { "rw" };
    let mnt_ro = ro(u64_at(64) & MOUNT_ATTR_RDONLY != 0);
    let sb_ro = ro(u32_at(32) & libc::MS_RDONLY as u32 != 0);
    let super_opts = if opts.is_empty() {
        sb_ro.to_string()
    } else {
        format!("{sb_ro},{opts}")
    };
    Some(Some(format!(
        "{id} {parent} {major}:{minor} {} {} {mnt_ro} - {} {} {super_opts}\n",
        escape(&str_at(104)),
        escape(&str_at(108)),
        str_at(36),
        str_at(36),
    )))
}

fn bytemuck_bytes(v: &[u64]) -> &[u8] {
    // SAFETY: u64 has no padding and u8 no alignment; the slice covers
    // exactly the same memory.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), std::mem::size_of_val(v)) }
}

/// mountinfo's escapes: space, tab, newline and backslash as `\NNN`.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            ' ' | '\t' | '\n' | '\\' => out.push_str(&format!("\\{:03o}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

fn parse_line(line: &str) -> Option<MountInfo> {
    let (pre, post) = line.split_once(" - ")?;
    let pre: Vec<&str> = pre.split(' ').collect();
    let mut post = post.split(' ');
    if pre.len() < 6 {
        return None;
    }
    Some(MountInfo {
        id: pre[0].parse().ok()?,
        parent: pre[1].parse().ok()?,
        root: unescape(pre[3]),
        mount_point: unescape(pre[4]),
        options: pre[5].to_string(),
        fs_type: post.next()?.to_string(),
        source: unescape(post.next()?),
        super_options: post.next().unwrap_or("").to_string(),
    })
}

/// `\NNN` (three octal digits) to the byte it names.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_unescapes() {
        let text = "36 35 98:0 /mnt1 /mnt/with\\040space rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n\
                    22 27 0:21 / /proc rw,nosuid - proc proc rw\n\
                    garbage\n\
                    40 1 0:5 / /x rw - tmpfs tmp\\134fs rw";
        let m = parse(text);
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].mount_point, "/mnt/with space");
        assert_eq!(m[0].root, "/mnt1");
        assert_eq!(m[0].fs_type, "ext3");
        assert_eq!(m[0].super_options, "rw,errors=continue");
        assert_eq!((m[1].id, m[1].parent), (22, 27));
        assert_eq!(m[1].fs_type, "proc");
        assert_eq!(m[2].source, "tmp\\fs");
    }

    #[test]
    fn escape_is_what_parse_undoes() {
        let line = format!("1 2 0:3 {} / rw - tmpfs x rw", escape("/a b\\c"));
        assert_eq!(parse(&line)[0].root, "/a b\\c");
    }

    /// The few lines statmount(2) gives are the cgroup lines of the whole
    /// table, where the kernel has statmount (6.11 and later).
    #[test]
    fn cgroup_mounts_match_the_full_table() {
        let Some(text) = cgroup_mounts_by_statmount() else {
            return crate::skip::test("no statmount(2) with STATMOUNT_MNT_OPTS (Linux < 6.11)");
        };
        let key = |m: &MountInfo| {
            (
                m.root.clone(),
                m.mount_point.clone(),
                m.fs_type.clone(),
                m.super_options.clone(),
            )
        };
        let mut want: Vec<_> = read_self()
            .unwrap()
            .iter()
            .filter(|m| m.fs_type.starts_with("cgroup"))
            .filter(|m| {
                let p = Path::new(&m.mount_point);
                p == Path::new(CGROUP_ROOT) || p.parent() == Some(Path::new(CGROUP_ROOT))
            })
            .map(key)
            .collect();
        let mut got: Vec<_> = parse(&text).iter().map(key).collect();
        want.sort();
        got.sort();
        assert_eq!(got, want);
    }
}
