//! `policy list|show|leases|explain`: the node policies, for the operator.

use std::path::Path;

use crate::cli::{GlobalOpts, ListFormat, PolicyArgs, PolicyCommand};
use crate::error::{Error, Result};
use crate::policy::{self, Finding, Outcome, Policy};
use crate::state::State;

pub fn run(global: &GlobalOpts, a: &PolicyArgs) -> Result<i32> {
    match &a.command {
        PolicyCommand::List => list(),
        PolicyCommand::Show { policy } => show(policy),
        PolicyCommand::Leases { format } => leases(*format),
        PolicyCommand::Explain { format, target } => explain(global, *format, target),
    }
}

fn leases(format: ListFormat) -> Result<i32> {
    let pool = policy::pool::Pool::node();
    let leases = if Path::new(policy::pool::POOL_DIR).exists() {
        pool.leases(&policy::pool::holder_alive)?
    } else {
        Vec::new()
    };
    match format {
        ListFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&leases).expect("leases serialize")
        ),
        ListFormat::Table => {
            let rows: Vec<(String, &str, String)> = leases
                .iter()
                .map(|l| {
                    let holders: Vec<String> = l
                        .holders
                        .iter()
                        .map(|h| format!("{} ({})", h.id, h.root.display()))
                        .collect();
                    (l.range.span(), l.key.as_str(), holders.join(", "))
                })
                .collect();
            let r = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(9);
            let k = rows.iter().map(|r| r.1.len()).max().unwrap_or(0).max(3);
            println!("{:r$}  {:k$}  HOLDERS", "HOST IDS", "KEY");
            for (range, key, holders) in rows {
                println!("{range:r$}  {key:k$}  {holders}");
            }
        }
    }
    Ok(0)
}

fn list() -> Result<i32> {
    let mut rows: Vec<(String, String, String)> = Vec::new();
    if let Ok(dir) = std::fs::read_dir(policy::POLICY_DIR) {
        let mut names: Vec<String> = dir
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.strip_suffix(".toml").map(str::to_string)
            })
            .collect();
        names.sort();
        for n in names {
            let origin = format!("{}/{n}.toml", policy::POLICY_DIR);
            let description = match Policy::select(&n) {
                Ok(p) => p.description,
                Err(e) => format!("(unreadable: {})", e.chain()),
            };
            rows.push((n, origin, description));
        }
    }
    for (name, text) in policy::PRESETS {
        if rows.iter().any(|(n, ..)| n == name) {
            continue;
        }
        let p = Policy::parse(text, name, name)?;
        rows.push((name.to_string(), "preset".into(), p.description));
    }
    let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(4).max(4);
    let o = rows.iter().map(|r| r.1.len()).max().unwrap_or(6).max(6);
    println!("{:w$}  {:o$}  DESCRIPTION", "NAME", "ORIGIN");
    for (name, origin, description) in rows {
        println!("{name:w$}  {origin:o$}  {description}");
    }
    Ok(0)
}

fn show(which: &str) -> Result<i32> {
    let p = Policy::select(which)?;
    let text = toml::to_string(&p)
        .map_err(|e| Error::invalid(format!("policy {which}: render as TOML: {e}")))?;
    print!("{text}");
    Ok(0)
}

/// A bundle (a directory with config.json) under `--policy`, or a
/// container: under `--policy` when given, else the policy it was
/// created with (what it found then).
fn explain(global: &GlobalOpts, format: ListFormat, target: &str) -> Result<i32> {
    let selected = super::selected_policy(global)?;
    let bundle = Path::new(target);
    let (policy, findings) = if bundle.join("config.json").is_file() {
        let policy = selected.ok_or_else(|| {
            Error::invalid("explain a bundle under which policy? give --policy NAME|FILE")
        })?;
        let spec = crate::bundle::Bundle::load(bundle)?.spec;
        let (findings, _) = policy::evaluate_spec(&policy, &spec, &policy::Host::current());
        (policy, findings)
    } else {
        let st = State::load(&global.root, target)?;
        match (selected, st.policy) {
            (Some(p), _) => {
                let (findings, _) = policy::evaluate_spec(&p, &st.config, &policy::Host::current());
                (p, findings)
            }
            (None, Some(record)) => (record.policy, record.findings),
            (None, None) => {
                return Err(Error::invalid(format!(
                    "container {target} was created without a node policy; give --policy NAME|FILE"
                )))
            }
        }
    };
    let refused = findings.iter().any(|f| f.outcome == Outcome::Refused);
    match format {
        ListFormat::Json => println!(
            "{}",
            serde_json::json!({
                "policy": policy.name,
                "mode": policy.mode,
                "refused": refused,
                "findings": findings,
            })
        ),
        ListFormat::Table => print_table(&policy, &findings, refused),
    }
    Ok(if refused { 1 } else { 0 })
}

fn print_table(policy: &Policy, findings: &[Finding], refused: bool) {
    let verdict = match (refused, findings.is_empty()) {
        (true, _) => "refused",
        (false, true) => "allowed as it is",
        (false, false) => "allowed, with the changes below",
    };
    let mode = match policy.mode {
        policy::Mode::Enforce => "enforce",
        policy::Mode::Audit => "audit: nothing is refused or changed, each line is logged",
    };
    println!("policy {} ({mode}): {verdict}", policy.name);
    let r = findings.iter().map(|f| f.rule.len()).max().unwrap_or(0);
    let fl = findings.iter().map(|f| f.field.len()).max().unwrap_or(0);
    for f in findings {
        let outcome = match f.outcome {
            Outcome::Refused => "refuse",
            Outcome::Clamped => "clamp",
            Outcome::Audited => "audit",
        };
        println!(
            "  {outcome:6}  {:r$}  {:fl$}  {}",
            f.rule, f.field, f.detail
        );
    }
}
