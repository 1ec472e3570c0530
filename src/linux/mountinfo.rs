//! /proc/PID/mountinfo, parsed once for every caller. Fields that hold
//! paths have their octal escapes (`\040` for a space) decoded.
//! Ref: proc_pid_mountinfo(5).

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
}
