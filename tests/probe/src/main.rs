//! probe: runs inside a test container and prints, as one JSON object on
//! stdout, the facts of its own process that a runtime is responsible for.
//! Std and libc only; built static so it runs in any rootfs.
//!
//! Usage:
//!   probe                  all facts (see `facts()`)
//!   probe stat PATH        {"path","errno","kind","mode","major","minor","uid","gid","size"}
//!   probe open PATH [r|w]  {"path","mode","errno"} (0 on success)
//!   probe write PATH VALUE {"path","errno"}
//!   probe sysctl NAME      {"name","value","errno"} (reads /proc/sys/NAME with . -> /)
//!   probe exit N           exits with status N, prints nothing
//!   probe sleep N          sleeps N seconds; SIGTERM/HUP/INT/USR1/USR2 exit 128+sig
//!                          (a pid-1 process with default dispositions ignores them)
//!   probe kill-self SIG    sends itself signal SIG (number)
//!   probe syscall NR [ARG..] {"nr","ret","errno"} of syscall(NR, ARG.., 0..) (up to 6
//!                          integer args, decimal or 0x-hex; missing ones are 0)
//!   probe mkdir PATH       {"path","errno"} of mkdir(PATH, 0755)

use std::ffi::CStr;
use std::fmt::Write as _;
use std::fs;
use std::io::{self, Write as _};
use std::os::unix::fs::{FileTypeExt, MetadataExt};

/// JSON, built as text: every value below is already-serialised JSON.
type J = String;

fn s(v: impl AsRef<str>) -> J {
    let mut out = String::from('"');
    for c in v.as_ref().chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn int(n: impl Into<i64>) -> J {
    n.into().to_string()
}

fn arr(items: impl IntoIterator<Item = J>) -> J {
    format!("[{}]", items.into_iter().collect::<Vec<_>>().join(","))
}

fn obj<K: AsRef<str>>(fields: impl IntoIterator<Item = (K, J)>) -> J {
    let f: Vec<String> = fields
        .into_iter()
        .map(|(k, v)| format!("{}:{}", s(k), v))
        .collect();
    format!("{{{}}}", f.join(","))
}

const NULL: &str = "null";

fn errno_of(e: &io::Error) -> i64 {
    i64::from(e.raw_os_error().unwrap_or(-1))
}

fn last_errno() -> i64 {
    errno_of(&io::Error::last_os_error())
}

fn read_trim(path: &str) -> J {
    match fs::read_to_string(path) {
        Ok(v) => s(v.trim_end_matches('\n')),
        Err(_) => NULL.into(),
    }
}

fn cstr_field(field: &[libc::c_char]) -> String {
    // SAFETY: uname fills each field with a NUL-terminated string.
    unsafe { CStr::from_ptr(field.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

#[rustfmt::skip]
const RLIMITS: &[(&str, libc::__rlimit_resource_t)] = &[
    ("RLIMIT_AS", libc::RLIMIT_AS), ("RLIMIT_CORE", libc::RLIMIT_CORE), ("RLIMIT_CPU", libc::RLIMIT_CPU),
    ("RLIMIT_DATA", libc::RLIMIT_DATA), ("RLIMIT_FSIZE", libc::RLIMIT_FSIZE), ("RLIMIT_LOCKS", libc::RLIMIT_LOCKS),
    ("RLIMIT_MEMLOCK", libc::RLIMIT_MEMLOCK), ("RLIMIT_MSGQUEUE", libc::RLIMIT_MSGQUEUE),
    ("RLIMIT_NICE", libc::RLIMIT_NICE), ("RLIMIT_NOFILE", libc::RLIMIT_NOFILE), ("RLIMIT_NPROC", libc::RLIMIT_NPROC),
    ("RLIMIT_RSS", libc::RLIMIT_RSS), ("RLIMIT_RTPRIO", libc::RLIMIT_RTPRIO), ("RLIMIT_RTTIME", libc::RLIMIT_RTTIME),
    ("RLIMIT_SIGPENDING", libc::RLIMIT_SIGPENDING), ("RLIMIT_STACK", libc::RLIMIT_STACK),
];

fn getrlimit(res: libc::__rlimit_resource_t) -> Option<(libc::rlim_t, libc::rlim_t)> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: r is a valid rlimit the kernel fills.
    (unsafe { libc::getrlimit(res, &mut r) } == 0).then_some((r.rlim_cur, r.rlim_max))
}

/// All rlimits as [soft, hard]; RLIM_INFINITY is -1.
fn rlimits() -> J {
    let v = |x: libc::rlim_t| {
        if x == libc::RLIM_INFINITY {
            -1
        } else {
            x as i64
        }
    };
    obj(RLIMITS.iter().map(|(name, res)| {
        let lim = getrlimit(*res).map(|(c, m)| arr([int(v(c)), int(v(m))]));
        (name, lim.unwrap_or_else(|| NULL.into()))
    }))
}

/// Open descriptors, found with fcntl so that listing them opens none.
fn open_fds() -> J {
    let max = getrlimit(libc::RLIMIT_NOFILE).map_or(1024, |(c, _)| c.min(65536)) as libc::c_int;
    // SAFETY: F_GETFD only queries the descriptor table.
    arr((0..max)
        .filter(|fd| unsafe { libc::fcntl(*fd, libc::F_GETFD) } != -1)
        .map(int))
}

fn groups() -> J {
    let mut buf = vec![0 as libc::gid_t; 65536];
    // SAFETY: buf has room for the number of entries passed.
    let n = unsafe { libc::getgroups(buf.len() as libc::c_int, buf.as_mut_ptr()) };
    if n < 0 {
        return NULL.into();
    }
    arr(buf[..n as usize].iter().map(|g| int(*g)))
}

/// mountinfo: "id parent maj:min root mountpoint opts [tags] - fstype source superopts"
fn mounts() -> J {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut out = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let Some(dash) = f.iter().position(|x| *x == "-") else {
            continue;
        };
        if f.len() < dash + 4 || dash < 6 {
            continue;
        }
        out.push(obj([
            ("mountpoint", s(f[4])),
            ("root", s(f[3])),
            ("options", s(f[5])),
            ("fstype", s(f[dash + 1])),
            ("source", s(f[dash + 2])),
            ("super_options", s(f[dash + 3])),
        ]));
    }
    arr(out)
}

fn status_lines() -> J {
    let text = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let keep = [
        "CapInh",
        "CapPrm",
        "CapEff",
        "CapBnd",
        "CapAmb",
        "NoNewPrivs",
        "Seccomp",
        "Cpus_allowed_list",
    ];
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some((k, v)) = line.split_once(':') {
            if keep.contains(&k) {
                out.push((k.to_string(), s(v.trim())));
            }
        }
    }
    obj(out)
}

fn namespaces() -> J {
    let mut out = Vec::new();
    for ns in ["cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"] {
        let v = fs::metadata(format!("/proc/self/ns/{ns}"))
            .map(|m| int(m.ino() as i64))
            .unwrap_or(NULL.into());
        out.push((ns.to_string(), v));
    }
    obj(out)
}

fn tty() -> J {
    let mut out = Vec::new();
    for fd in 0..3 {
        // SAFETY: isatty only queries the descriptor.
        let is = unsafe { libc::isatty(fd) } == 1;
        // SAFETY: an all-zero winsize is valid.
        let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
        // SAFETY: TIOCGWINSZ writes one winsize into ws.
        let size = if is && unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) } == 0 {
            arr([int(ws.ws_row), int(ws.ws_col)])
        } else {
            NULL.into()
        };
        out.push((
            fd.to_string(),
            obj([("isatty", is.to_string()), ("size", size)]),
        ));
    }
    obj(out)
}

fn root_readonly() -> J {
    match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open("/.probe-test")
    {
        Ok(_) => {
            let _ = fs::remove_file("/.probe-test");
            false.to_string()
        }
        Err(e) => (e.raw_os_error() == Some(libc::EROFS)).to_string(),
    }
}

/// The process attributes execve keeps: personality, I/O priority,
/// scheduler (sched_getattr) and memory policy, each as the kernel gives
/// its numbers (null where the call failed).
fn process_attrs() -> J {
    // SAFETY: 0xffffffff only queries the persona; no memory is touched.
    let persona = unsafe { libc::personality(0xffff_ffff) };
    // SAFETY: ioprio_get(IOPRIO_WHO_PROCESS, 0) takes integers only.
    let ioprio = unsafe { libc::syscall(libc::SYS_ioprio_get, 1, 0) };
    // struct sched_attr, SCHED_ATTR_SIZE_VER1 (56 bytes) as u64 words.
    let mut attr = [0u64; 7];
    // SAFETY: attr is 56 writable bytes, the size passed.
    let rc = unsafe { libc::syscall(libc::SYS_sched_getattr, 0, attr.as_mut_ptr(), 56, 0) };
    let sched = if rc == 0 {
        let policy = attr[0] >> 32;
        let nice = (attr[2] & 0xffff_ffff) as u32 as i32;
        let priority = attr[2] >> 32;
        obj([
            ("policy", int(policy as i64)),
            ("flags", int(attr[1] as i64)),
            ("nice", int(nice)),
            ("priority", int(priority as i64)),
            ("runtime", int(attr[3] as i64)),
            ("deadline", int(attr[4] as i64)),
            ("period", int(attr[5] as i64)),
        ])
    } else {
        NULL.into()
    };
    let mut mode: libc::c_int = 0;
    let mut mask = [0 as libc::c_ulong; 16];
    // SAFETY: mode and mask (1024 bits) are writable; maxnode = 1024 + 1.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_get_mempolicy,
            &mut mode as *mut libc::c_int,
            mask.as_mut_ptr(),
            1025 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    let mempolicy = if rc == 0 {
        obj([("mode", int(mode)), ("nodes", int(mask[0] as i64))])
    } else {
        NULL.into()
    };
    let num = |v: i64| if v < 0 { NULL.into() } else { int(v) };
    obj([
        ("personality", num(persona as i64)),
        ("ioprio", num(ioprio as i64)),
        ("sched", sched),
        ("mempolicy", mempolicy),
    ])
}

fn facts() -> J {
    // SAFETY: these getters cannot fail and touch no memory.
    let (uid, gid, euid, egid, ppid) = unsafe {
        (
            libc::getuid(),
            libc::getgid(),
            libc::geteuid(),
            libc::getegid(),
            libc::getppid(),
        )
    };
    // SAFETY: umask has no failure mode; set it back right away.
    let umask = unsafe {
        let m = libc::umask(0o022);
        libc::umask(m);
        m
    };
    // SAFETY: an all-zero utsname is valid; uname fills it.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: uts is a valid utsname.
    unsafe { libc::uname(&mut uts) };
    let oom = fs::read_to_string("/proc/self/oom_score_adj")
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok())
        .map_or(NULL.into(), int);
    obj([
        ("pid", int(std::process::id())),
        ("ppid", int(ppid)),
        ("uid", int(uid)),
        ("gid", int(gid)),
        ("euid", int(euid)),
        ("egid", int(egid)),
        ("groups", groups()),
        ("umask", int(umask)),
        (
            "cwd",
            std::env::current_dir()
                .map(|p| s(p.to_string_lossy()))
                .unwrap_or(NULL.into()),
        ),
        ("hostname", s(cstr_field(&uts.nodename))),
        ("domainname", s(cstr_field(&uts.domainname))),
        ("machine", s(cstr_field(&uts.machine))),
        ("attrs", process_attrs()),
        ("status", status_lines()),
        ("rlimits", rlimits()),
        ("fds", open_fds()),
        (
            "env",
            arr(std::env::vars_os()
                .map(|(k, v)| s(format!("{}={}", k.to_string_lossy(), v.to_string_lossy())))),
        ),
        (
            "argv",
            arr(std::env::args_os().map(|a| s(a.to_string_lossy()))),
        ),
        ("uid_map", read_trim("/proc/self/uid_map")),
        ("gid_map", read_trim("/proc/self/gid_map")),
        ("mounts", mounts()),
        ("root_readonly", root_readonly()),
        ("oom_score_adj", oom),
        ("tty", tty()),
        ("ns", namespaces()),
    ])
}

fn stat(path: &str) -> J {
    match fs::symlink_metadata(path) {
        Err(e) => obj([("path", s(path)), ("errno", int(errno_of(&e)))]),
        Ok(m) => {
            let ft = m.file_type();
            let kinds = [
                (ft.is_char_device(), "char"),
                (ft.is_block_device(), "block"),
                (ft.is_dir(), "dir"),
                (ft.is_symlink(), "symlink"),
                (ft.is_fifo(), "fifo"),
                (ft.is_socket(), "socket"),
            ];
            let kind = kinds.iter().find(|k| k.0).map_or("file", |k| k.1);
            let rdev = m.rdev();
            obj([
                ("path", s(path)),
                ("errno", int(0)),
                ("kind", s(kind)),
                ("mode", int(m.mode() & 0o7777)),
                ("major", int(libc::major(rdev))),
                ("minor", int(libc::minor(rdev))),
                ("uid", int(m.uid())),
                ("gid", int(m.gid())),
                ("size", int(m.size() as i64)),
            ])
        }
    }
}

extern "C" fn exit_on_signal(sig: libc::c_int) {
    // SAFETY: _exit is async-signal-safe.
    unsafe { libc::_exit(128 + sig) }
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize) -> T {
    args.get(i)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| usage())
}

/// A decimal or 0x-hex integer (negative decimal allowed).
fn parse_int(v: &str) -> Option<libc::c_long> {
    match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok().map(|u| u as libc::c_long),
        None => v.parse().ok(),
    }
}

fn exec_memfd(path: &str) -> i64 {
    let Ok(data) = fs::read(path) else {
        return last_errno();
    };
    // SAFETY: a NUL-terminated name; returns a new fd or -1.
    let fd = unsafe { libc::memfd_create(c"probe".as_ptr(), 0) };
    if fd < 0 {
        return last_errno();
    }
    // SAFETY: data lives for the call; fd is ours.
    if unsafe { libc::write(fd, data.as_ptr() as *const libc::c_void, data.len()) } < 0 {
        return last_errno();
    }
    let argv = [c"true".as_ptr(), std::ptr::null()];
    let envp: [*const libc::c_char; 1] = [std::ptr::null()];
    // SAFETY: NULL-terminated argv/envp of valid C strings; returns only on failure.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd,
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    last_errno()
}

fn usage() -> ! {
    eprintln!("usage: probe [exec-memfd P|stat P|open P [r|w]|write P V|sysctl N|exit N|sleep N|kill-self SIG|syscall NR [ARG..]|thread-syscall NR [ARG..]|mkdir P]");
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let out = match args.get(1).map(String::as_str) {
        None => facts(),
        Some("stat") => stat(&arg::<String>(&args, 2)),
        Some("open") => {
            let path: String = arg(&args, 2);
            let mode = args.get(3).map_or("r", String::as_str);
            let r = fs::OpenOptions::new()
                .read(mode == "r")
                .write(mode == "w")
                .open(&path);
            let errno = r.err().map_or(0, |e| errno_of(&e));
            obj([("path", s(path)), ("mode", s(mode)), ("errno", int(errno))])
        }
        Some("write") => {
            let path: String = arg(&args, 2);
            let value: String = arg(&args, 3);
            let errno = fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .and_then(|mut f| f.write_all(value.as_bytes()))
                .err()
                .map_or(0, |e| errno_of(&e));
            obj([("path", s(path)), ("errno", int(errno))])
        }
        Some("sysctl") => {
            let name: String = arg(&args, 2);
            let path = format!("/proc/sys/{}", name.replace('.', "/"));
            let (value, errno) = match fs::read_to_string(&path) {
                Ok(v) => (s(v.trim_end()), 0),
                Err(e) => (NULL.into(), errno_of(&e)),
            };
            obj([("name", s(name)), ("value", value), ("errno", int(errno))])
        }
        Some("exit") => std::process::exit(arg(&args, 2)),
        Some("sleep") => {
            let secs: u64 = arg(&args, 2);
            let sigs = [libc::SIGTERM, libc::SIGHUP, libc::SIGINT];
            for sig in sigs.into_iter().chain([libc::SIGUSR1, libc::SIGUSR2]) {
                // SAFETY: the handler only calls _exit, which is async-signal-safe.
                unsafe { libc::signal(sig, exit_on_signal as *const () as libc::sighandler_t) };
            }
            std::thread::sleep(std::time::Duration::from_secs(secs));
            return;
        }
        Some("kill-self") => {
            let sig: i32 = arg(&args, 2);
            // SAFETY: kill on our own pid with a caller-chosen signal.
            unsafe { libc::kill(libc::getpid(), sig) };
            obj([("errno", int(last_errno()))])
        }
        Some("syscall") => {
            let nr: libc::c_long = arg(&args, 2);
            let mut a = [0 as libc::c_long; 6];
            for (i, v) in args.iter().skip(3).enumerate() {
                if i >= a.len() {
                    usage();
                }
                a[i] = parse_int(v).unwrap_or_else(|| usage());
            }
            // SAFETY: a raw syscall with integer arguments; the caller picks
            // one whose form with these values touches no memory of ours.
            let ret = unsafe { libc::syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]) };
            let errno = if ret == -1 { last_errno() } else { 0 };
            obj([("nr", int(nr)), ("ret", int(ret)), ("errno", int(errno))])
        }
        Some("thread-syscall") => {
            // The same raw syscall, made by a second thread ("probe-thread"):
            // seccomp filters and their supervisors see every thread.
            let nr: libc::c_long = arg(&args, 2);
            let mut a = [0 as libc::c_long; 6];
            for (i, v) in args.iter().skip(3).enumerate() {
                if i >= a.len() {
                    usage();
                }
                a[i] = parse_int(v).unwrap_or_else(|| usage());
            }
            let t = std::thread::Builder::new()
                .name("probe-thread".into())
                .spawn(move || {
                    // SAFETY: as for "syscall".
                    let ret = unsafe { libc::syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]) };
                    let errno = if ret == -1 { last_errno() } else { 0 };
                    (ret, errno)
                })
                .expect("spawn a thread");
            let (ret, errno) = t.join().expect("thread");
            obj([("nr", int(nr)), ("ret", int(ret)), ("errno", int(errno))])
        }
        Some("mkdir") => {
            let path: String = arg(&args, 2);
            let errno = fs::create_dir(&path).err().map_or(0, |e| errno_of(&e));
            obj([("path", s(path)), ("errno", int(errno))])
        }
        Some("exec-memfd") => {
            // A program run from memory (fileless): PATH copied into a
            // memfd, then execveat(AT_EMPTY_PATH) with argv ["true"];
            // prints only when the exec fails.
            let path: String = arg(&args, 2);
            let errno = exec_memfd(&path);
            obj([("path", s(path)), ("errno", int(errno))])
        }
        Some(_) => usage(),
    };
    let _ = io::stdout().write_all(format!("{out}\n").as_bytes());
}
