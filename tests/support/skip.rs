//! Skips that say so. cargo's harness has no run-time "ignored": a test
//! that returns early counts as passed, and what it printed is captured and
//! hidden. So every skip is recorded here, and when the test binary exits
//! it prints how many tests skipped themselves and why, under cargo's own
//! `test result:` line:
//!
//! ```text
//! SKIPPED 75 of the tests counted as passed above (running as uid 65534):
//!    75  needs root (namespaces, mounts, capabilities): cli::..., ... and 65 more
//! ```
//!
//! `test` is for a test that checked nothing; `part` for one that left out
//! some of its checks (a comparison with runc, a controller the host lacks)
//! and ran the rest. Each also prints a `SKIP` line at once, which cargo
//! shows with `--nocapture` or when the test fails.
//!
//! One file for both suites: the library's unit tests include it as
//! `crate::skip` and tests/integration as `crate::skip` (a `#[path]` module),
//! so the two summaries read the same.

use std::io::Write;
use std::panic::Location;
use std::sync::{Mutex, Once};

/// The reason every root-only test gives, so they group into one line.
pub const NEEDS_ROOT: &str = "needs root (namespaces, mounts, capabilities)";

/// Returns from the calling test, recorded as skipped, unless it runs as
/// root.
macro_rules! require_root {
    () => {
        if !nix::unistd::geteuid().is_root() {
            return $crate::skip::test($crate::skip::NEEDS_ROOT);
        }
    };
}
pub(crate) use require_root;

/// How many test names a summary line lists before "and N more".
const NAMES_SHOWN: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Skip {
    test: String,
    reason: String,
    whole: bool,
}

static SKIPS: Mutex<Vec<Skip>> = Mutex::new(Vec::new());
static AT_EXIT: Once = Once::new();
/// The process that registered the summary: a forked child that calls
/// exit(3) runs the same handler and must stay quiet.
static OWNER: Mutex<Option<u32>> = Mutex::new(None);

/// The calling test checked nothing: record why. The caller returns right
/// after (`return skip::test("...")`).
#[track_caller]
pub fn test(reason: impl Into<String>) {
    record(reason.into(), true, Location::caller());
}

/// The calling test leaves out some checks (named in `reason`) and runs
/// the rest.
#[track_caller]
#[allow(dead_code)] // no unit test leaves out a part (yet)
pub fn part(reason: impl Into<String>) {
    record(reason.into(), false, Location::caller());
}

fn record(reason: String, whole: bool, at: &Location<'_>) {
    // libtest runs each test on a thread named after it; a helper thread
    // of the test's own has no name, so the call site stands in.
    let test = match std::thread::current().name() {
        Some(n) if n != "main" => n.to_string(),
        _ => format!("{}:{}", at.file(), at.line()),
    };
    let what = if whole { "SKIP" } else { "SKIP part of" };
    eprintln!("{what} {test}: {reason}");
    lock(&SKIPS).push(Skip {
        test,
        reason,
        whole,
    });
    AT_EXIT.call_once(|| {
        *lock(&OWNER) = Some(std::process::id());
        // SAFETY: atexit only stores a function pointer; `print_summary`
        // is an `extern "C" fn()` that does not unwind (it catches
        // panics) and touches only statics that live as long as the
        // process.
        unsafe { libc::atexit(print_summary) };
    });
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A test that panicked while holding it leaves the data intact.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs at exit(3): after libtest's summary, whether the run passed
/// (main returns) or failed (libtest calls `process::exit(101)`).
extern "C" fn print_summary() {
    let _ = std::panic::catch_unwind(|| {
        if *lock(&OWNER) != Some(std::process::id()) {
            return;
        }
        let text = summary(&lock(&SKIPS), nix::unistd::geteuid().as_raw());
        let _ = std::io::stderr().write_all(text.as_bytes());
    });
}

/// Pure: the summary of `skips` (in the order they happened), for a run
/// as `uid`. Empty when nothing was skipped.
fn summary(skips: &[Skip], uid: u32) -> String {
    let mut out = String::new();
    let whole: Vec<&Skip> = dedup(skips.iter().filter(|s| s.whole));
    // A test skipped whole is not also listed as skipped in part.
    let part: Vec<&Skip> = dedup(
        skips
            .iter()
            .filter(|s| !s.whole && !whole.iter().any(|w| w.test == s.test)),
    );
    let who = if uid == 0 {
        "running as root".to_string()
    } else {
        format!("running as uid {uid}")
    };
    if !whole.is_empty() {
        let n = count_tests(&whole);
        out += &format!(
            "\nSKIPPED {n} of the tests counted as passed above ({who}):\n{}",
            by_reason(&whole)
        );
    }
    if !part.is_empty() {
        let n = count_tests(&part);
        let tests = if n == 1 { "test" } else { "tests" };
        out += &format!(
            "\nSKIPPED PART of {n} {tests} counted as passed above ({who}):\n{}",
            by_reason(&part)
        );
    }
    out
}

/// The first record of each (test, reason) pair.
fn dedup<'a>(skips: impl Iterator<Item = &'a Skip>) -> Vec<&'a Skip> {
    let mut seen: Vec<&Skip> = Vec::new();
    for s in skips {
        if !seen
            .iter()
            .any(|t| t.test == s.test && t.reason == s.reason)
        {
            seen.push(s);
        }
    }
    seen
}

fn count_tests(skips: &[&Skip]) -> usize {
    let mut names: Vec<&str> = skips.iter().map(|s| s.test.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    names.len()
}

/// One line per reason, the most common first: the count, the reason, and
/// the tests (sorted, the first few).
fn by_reason(skips: &[&Skip]) -> String {
    let mut reasons: Vec<(&str, Vec<&str>)> = Vec::new();
    for s in skips {
        match reasons.iter_mut().find(|(r, _)| *r == s.reason) {
            Some((_, tests)) => tests.push(&s.test),
            None => reasons.push((&s.reason, vec![&s.test])),
        }
    }
    reasons.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
    let mut out = String::new();
    for (reason, mut tests) in reasons {
        tests.sort_unstable();
        let mut names = tests[..tests.len().min(NAMES_SHOWN)].join(", ");
        if tests.len() > NAMES_SHOWN {
            names += &format!(" and {} more", tests.len() - NAMES_SHOWN);
        }
        out += &format!("  {:>4}  {reason}: {names}\n", tests.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(test: &str, reason: &str, whole: bool) -> Skip {
        Skip {
            test: test.into(),
            reason: reason.into(),
            whole,
        }
    }

    #[test]
    fn summary_counts_tests_by_reason() {
        let mut skips: Vec<Skip> = (0..12)
            .map(|i| s(&format!("t{i:02}"), NEEDS_ROOT, true))
            .collect();
        skips.push(s("cg::freezer", "no v1 freezer", true));
        skips.push(s("cg::limits", "no runc", false));
        skips.push(s("cg::limits", "no runc", false)); // twice: one test
        skips.push(s("cg::update", "no runc", false));
        skips.push(s("t00", "no runc", false)); // already skipped whole
        let want = "
SKIPPED 13 of the tests counted as passed above (running as uid 1000):
    12  needs root (namespaces, mounts, capabilities): t00, t01, t02, t03, t04, t05, t06, t07, t08, t09 and 2 more
     1  no v1 freezer: cg::freezer

SKIPPED PART of 2 tests counted as passed above (running as uid 1000):
     2  no runc: cg::limits, cg::update
";
        assert_eq!(summary(&skips, 1000), want);
    }

    #[test]
    fn summary_says_root_and_is_empty_without_skips() {
        assert_eq!(summary(&[], 0), "");
        let one = summary(&[s("a", "no runc", false)], 0);
        assert!(
            one.starts_with(
                "\nSKIPPED PART of 1 test counted as passed above (running as root):\n"
            ),
            "{one}"
        );
    }
}
