//! Log lines as runc writes them: text, or JSON objects
//! `{"level":"error","msg":"...","time":"2026-11-23T14:33:25.123456789Z"}`
//! with lower-case levels, to `--log` or stderr. containerd and podman read
//! the last `"level":"error"` line of the log file and show its `msg`.
//!
//! A tiny `tracing::Subscriber` rather than tracing-subscriber: brig needs one
//! line format, no spans, and nothing on the start path it does not use.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata};

/// `--log-format`: runc's two formats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

pub struct Logger {
    out: Mutex<Sink>,
    format: LogFormat,
    max: Level,
}

enum Sink {
    Stderr,
    File(File),
}

impl Logger {
    /// Open the log destination. A `--log` file that cannot be opened falls
    /// back to stderr (the error is reported there) so the failure is never lost.
    pub fn new(path: Option<&Path>, format: LogFormat, debug: bool) -> Logger {
        let out = match path {
            Some(p) => match OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(p)
            {
                Ok(f) => Sink::File(f),
                Err(e) => {
                    eprintln!("brig: open log file {}: {e}", p.display());
                    Sink::Stderr
                }
            },
            None => Sink::Stderr,
        };
        Logger {
            out: Mutex::new(out),
            format,
            max: if debug { Level::DEBUG } else { Level::INFO },
        }
    }

    /// A logger on an inherited, already open log file (init's), or on
    /// stderr without one.
    pub fn from_fd(fd: Option<std::os::fd::OwnedFd>, format: LogFormat, debug: bool) -> Logger {
        Logger {
            out: Mutex::new(fd.map_or(Sink::Stderr, |fd| Sink::File(File::from(fd)))),
            format,
            max: if debug { Level::DEBUG } else { Level::INFO },
        }
    }

    /// Is the log going to a file (so the error must also be printed on stderr)?
    pub fn is_file(&self) -> bool {
        matches!(
            *self.out.lock().unwrap_or_else(|e| e.into_inner()),
            Sink::File(_)
        )
    }

    pub fn write_line(&self, level: Level, msg: &str) {
        let line = format_line(self.format, level, msg, SystemTime::now());
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = match &mut *out {
            Sink::Stderr => std::io::stderr().write_all(line.as_bytes()),
            Sink::File(f) => f.write_all(line.as_bytes()),
        };
    }
}

/// One log line, newline-terminated.
pub fn format_line(format: LogFormat, level: Level, msg: &str, now: SystemTime) -> String {
    let level = level_name(level);
    let time = rfc3339(now);
    match format {
        LogFormat::Json => {
            let obj = serde_json::json!({ "level": level, "msg": msg, "time": time });
            format!("{obj}\n")
        }
        LogFormat::Text => format!("time=\"{time}\" level={level} msg={msg:?}\n"),
    }
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::ERROR => "error",
        Level::WARN => "warning",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

/// RFC 3339 UTC with nanoseconds, from the civil-from-days algorithm
/// (Ref: Howard Hinnant, "chrono-Compatible Low-Level Date Algorithms").
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_nanos()
    )
}

struct Message(String);

impl Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
}

impl tracing::Subscriber for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= self.max
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut msg = Message(String::new());
        event.record(&mut msg);
        self.write_line(*event.metadata().level(), &msg.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rfc3339_dates() {
        let cases = [
            (0, "1970-01-01T00:00:00.000000000Z"),
            (951_782_400, "2000-02-29T00:00:00.000000000Z"),
            (1_795_451_605, "2026-11-23T16:33:25.000000000Z"),
        ];
        for (secs, want) in cases {
            assert_eq!(rfc3339(UNIX_EPOCH + Duration::from_secs(secs)), want);
        }
    }

    #[test]
    fn json_line_has_the_three_fields() {
        let line = format_line(
            LogFormat::Json,
            Level::ERROR,
            "create c1: \"x\"",
            UNIX_EPOCH,
        );
        let v: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "create c1: \"x\"");
        assert_eq!(v["time"], "1970-01-01T00:00:00.000000000Z");
        assert!(line.ends_with('\n'));
    }
}
