//! The report for a terminal: aligned columns, colour only when asked
//! (the command asks on a tty without `NO_COLOR`). Pure.

use std::fmt::Write;

use super::{Rating, Report};
use crate::policy::Outcome;

/// ANSI colours, or none.
struct Paint(bool);

impl Paint {
    /// `text` padded to `width`, then coloured (so escapes do not count
    /// toward the width).
    fn pad(&self, text: &str, width: usize, code: &str) -> String {
        let padded = format!("{text:width$}");
        if self.0 && !code.is_empty() {
            let end = text.len();
            format!("\x1b[{code}m{}\x1b[0m{}", &padded[..end], &padded[end..])
        } else {
            padded
        }
    }

    fn bold(&self, text: &str) -> String {
        self.pad(text, 0, "1")
    }
}

fn rating_code(r: Rating) -> &'static str {
    match r {
        Rating::Ok => "32",
        Rating::Note => "36",
        Rating::Warn => "33",
        Rating::Risk => "1;31",
    }
}

fn verdict_code(pass: bool) -> &'static str {
    if pass {
        "32"
    } else {
        "1;31"
    }
}

/// `a.b.x, a.b.y` as `a.b.{x,y}`; fields without one prefix as they are.
fn fields(list: &[String]) -> String {
    let split: Vec<(&str, &str)> = list.iter().filter_map(|f| f.rsplit_once('.')).collect();
    match split.first() {
        Some((prefix, _))
            if list.len() > 1
                && split.len() == list.len()
                && split.iter().all(|(p, _)| p == prefix) =>
        {
            let tails: Vec<&str> = split.iter().map(|(_, t)| *t).collect();
            format!("{prefix}.{{{}}}", tails.join(","))
        }
        _ => list.join(", "),
    }
}

/// The whole report as text.
pub fn text(r: &Report, colour: bool) -> String {
    let p = Paint(colour);
    let mut o = String::new();
    let s = &r.subject;
    let mut head = format!("{} {}", s.kind, s.target);
    if let Some(st) = &s.status {
        head += &format!(", {st}");
    }
    if let Some(pid) = s.pid {
        head += &format!(", pid {pid}");
    }
    let _ = writeln!(o, "{}", p.bold(&head));
    let _ = writeln!(o);

    let w = r
        .concerns
        .iter()
        .map(|c| c.name.len())
        .max()
        .unwrap_or(0)
        .max(7);
    let _ = writeln!(
        o,
        "{}  {}  {}",
        p.bold(&format!("{:w$}", "CONCERN")),
        p.bold("RATING"),
        p.bold("FINDING")
    );
    for c in &r.concerns {
        let _ = writeln!(
            o,
            "{:w$}  {}  {}",
            c.name.replace('_', " "),
            p.pad(c.rating.as_str(), 6, rating_code(c.rating)),
            c.summary
        );
    }

    if let Some(k) = &r.kernel {
        let _ = writeln!(o);
        let (verdict, code) = if k.agrees {
            ("agrees with the config", verdict_code(true))
        } else if k.looser {
            ("LOOSER than the config", verdict_code(false))
        } else {
            (
                "stricter than the config where they differ",
                rating_code(Rating::Note),
            )
        };
        let _ = writeln!(
            o,
            "{} {}",
            p.bold(&format!("KERNEL (pid {}):", k.pid)),
            p.pad(verdict, 0, code)
        );
        let w = k.checks.iter().map(|c| c.what.len()).max().unwrap_or(0);
        for c in &k.checks {
            let (word, value) = if c.agrees && c.what == "lsm" {
                // The kernel's label carries the mode: "brig-default (enforce)".
                ("same", c.kernel.clone())
            } else if c.agrees {
                ("same", c.config.clone())
            } else {
                (
                    "DIFFERS",
                    format!("kernel {}; config {}", c.kernel, c.config),
                )
            };
            let _ = writeln!(
                o,
                "  {:w$}  {}  {value}",
                c.what,
                p.pad(word, 7, rating_code(c.rating))
            );
        }
    }

    if let Some(note) = &r.kernel_note {
        let _ = writeln!(o);
        let _ = writeln!(o, "{} {note}", p.bold("KERNEL:"));
    }

    let _ = writeln!(o);
    let _ = writeln!(o, "{}", p.bold("POD SECURITY STANDARDS"));
    for l in &r.levels {
        let word = if l.pass { "pass" } else { "fail" };
        let _ = write!(
            o,
            "  {:10}  {}",
            l.level.as_str(),
            p.pad(word, 4, verdict_code(l.pass))
        );
        let fw = l
            .failures
            .iter()
            .map(|f| f.kubernetes_field.map_or(1, str::len))
            .max()
            .unwrap_or(0);
        for (i, f) in l.failures.iter().enumerate() {
            let lead = if i == 0 {
                "  ".to_string()
            } else {
                format!("{:20}", "")
            };
            let field = f.kubernetes_field.unwrap_or("-");
            let _ = writeln!(
                o,
                "{lead}{field:fw$}  {}: {}",
                fields(&f.config_fields),
                f.detail
            );
        }
        if l.failures.is_empty() {
            let _ = writeln!(o);
        }
    }
    if r.levels
        .iter()
        .any(|l| l.failures.iter().any(|f| f.kubernetes_field.is_none()))
    {
        let _ = writeln!(
            o,
            "  (-: brig's preset of that name is stricter than the standard here)"
        );
    }

    if let Some(v) = &r.policy {
        let _ = writeln!(o);
        let when = if v.source == "create" {
            "created under it"
        } else {
            "--policy"
        };
        let mode = match v.mode {
            crate::policy::Mode::Enforce => "enforce",
            crate::policy::Mode::Audit => "audit",
        };
        let verdict = match (v.refused, v.findings.is_empty()) {
            (true, _) => "refuses",
            (false, true) => "admits it as it is",
            (false, false) => "admits it, with the changes below",
        };
        let _ = writeln!(
            o,
            "{} ({mode}, {when}): {}",
            p.bold(&format!("NODE POLICY {}", v.name)),
            p.pad(verdict, 0, verdict_code(!v.refused))
        );
        let rw = v.findings.iter().map(|f| f.rule.len()).max().unwrap_or(0);
        for f in &v.findings {
            let outcome = match f.outcome {
                Outcome::Refused => "refuse",
                Outcome::Clamped => "clamp",
                Outcome::Audited => "audit",
            };
            let _ = writeln!(
                o,
                "  {outcome:6}  {:rw$}  {}: {}",
                f.rule, f.field, f.detail
            );
        }
    }
    o
}
