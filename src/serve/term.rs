//! The terminal: the only code in `serve` that writes to stdout.
//!
//! Text mode prefixes each line with the application and worker slot, coloured per worker;
//! stderr lines are tinted; iisn's own events carry an `iisn` prefix. `--log-format json`
//! prints one JSON object per line instead (`time`, `app`, `worker`, `pid`, `stream`,
//! `text`, and `event` for iisn's own lines). A spinner runs while workers start, on a
//! terminal only.

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use console::Style;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use tokio::sync::mpsc;

use super::events::{ServeEvent, Stream, WorkerId};
use crate::ui::Styles;

/// How to print.
#[derive(Clone, Debug)]
pub struct TermOptions {
    pub color: bool,
    pub json: bool,
    pub quiet: bool,
    pub verbose: u8,
    /// Show a spinner while workers start (stdout is a terminal, text mode).
    pub spinner: bool,
    /// Width of the `app#n` prefix column (the longest application name + 3).
    pub label_width: usize,
}

const WORKER_COLORS: [console::Color; 5] = [
    console::Color::Cyan,
    console::Color::Magenta,
    console::Color::Green,
    console::Color::Blue,
    console::Color::Yellow,
];

/// RFC 3339 UTC time with milliseconds, without a date crate.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = if month <= 2 { y + 1 } else { y };
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        d.subsec_millis()
    )
}

struct Printer {
    opts: TermOptions,
    st: Styles,
    spinner: Option<ProgressBar>,
    starting: usize,
    label_width: usize,
}

impl Printer {
    /// Pads `text` to the name column, widening the column for good when a name is longer
    /// (an application created on its first request, slot 10 and above), so that every
    /// later line stays aligned.
    fn pad(&mut self, text: &str) -> String {
        let len = console::measure_text_width(text);
        if len > self.label_width {
            self.label_width = len;
        }
        format!("{text:<w$}", w = self.label_width)
    }

    fn label(&mut self, id: &WorkerId) -> String {
        let text = format!("{}#{}", id.app, id.slot + 1);
        let padded = self.pad(&text);
        let color = WORKER_COLORS[id.slot % WORKER_COLORS.len()];
        Style::new()
            .fg(color)
            .force_styling(self.opts.color)
            .apply_to(padded)
            .to_string()
    }

    fn line(&mut self, text: String) {
        let write = || {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{text}");
            let _ = out.flush();
        };
        match &self.spinner {
            Some(pb) => pb.suspend(write),
            None => write(),
        }
    }

    fn iisn(&mut self, text: &str) {
        let prefix = format!("{:<w$}", "iisn", w = self.label_width);
        let line = format!(
            "{} {} {text}",
            self.st.accent.apply_to(prefix),
            self.st.dim.apply_to("│")
        );
        self.line(line);
    }

    fn json(&mut self, value: serde_json::Value) {
        self.line(value.to_string());
    }

    fn stop_spinner(&mut self) {
        if let Some(pb) = self.spinner.take() {
            pb.finish_and_clear();
        }
    }

    fn handle(&mut self, ev: ServeEvent) {
        let now = rfc3339(SystemTime::now());
        if self.opts.json {
            let v = match ev {
                ServeEvent::Listening { url, site_url } => {
                    let text = match &site_url {
                        Some(site) => format!("listening on {url}, the site at {site}"),
                        None => format!("listening on {url}"),
                    };
                    json!({"time": now, "stream": "iisn", "event": "listening", "url": url, "site_url": site_url, "text": text})
                }
                ServeEvent::Starting { app, count } => {
                    json!({"time": now, "stream": "iisn", "event": "starting", "app": &*app, "workers": count})
                }
                ServeEvent::WorkerSpawned { id } => {
                    json!({"time": now, "stream": "iisn", "event": "spawned", "app": &*id.app, "worker": id.slot + 1, "pid": id.pid})
                }
                ServeEvent::WorkerReady { id, after } => {
                    json!({"time": now, "stream": "iisn", "event": "ready", "app": &*id.app, "worker": id.slot + 1, "pid": id.pid, "ms": after.as_millis() as u64})
                }
                ServeEvent::WorkerExited {
                    id,
                    status,
                    stderr_tail,
                    expected,
                    hint,
                } => {
                    json!({"time": now, "stream": "iisn", "event": "exited", "app": &*id.app, "worker": id.slot + 1, "pid": id.pid, "status": status, "expected": expected, "stderrTail": stderr_tail, "hint": hint})
                }
                ServeEvent::SpawnFailed { app, slot, error } => {
                    json!({"time": now, "stream": "iisn", "event": "spawnFailed", "app": &*app, "worker": slot + 1, "text": error})
                }
                ServeEvent::Log { id, stream, line } => {
                    json!({"time": now, "app": &*id.app, "worker": id.slot + 1, "pid": id.pid, "stream": stream.as_str(), "text": line})
                }
                ServeEvent::Request {
                    method,
                    target,
                    status,
                    substatus,
                    millis,
                    worker,
                } => {
                    if self.opts.verbose == 0 {
                        return;
                    }
                    json!({"time": now, "stream": "iisn", "event": "request", "method": method, "url": target, "status": status, "substatus": substatus, "ms": millis, "app": worker.as_ref().map(|w| w.app.to_string()), "worker": worker.as_ref().map(|w| w.slot + 1), "pid": worker.as_ref().map(|w| w.pid)})
                }
                ServeEvent::RecycleStarted { app, trigger } => {
                    json!({"time": now, "stream": "iisn", "event": "recycle", "app": &*app, "trigger": trigger})
                }
                ServeEvent::RecycleSwitched {
                    app,
                    ready_after,
                    in_flight,
                } => {
                    json!({"time": now, "stream": "iisn", "event": "recycleSwitched", "app": &*app, "readyMs": ready_after.map(|d| d.as_millis() as u64), "inFlight": in_flight})
                }
                ServeEvent::RecycleFinished { app, stopped, cut } => {
                    json!({"time": now, "stream": "iisn", "event": "recycleFinished", "app": &*app, "stopped": stopped, "cut": cut})
                }
                ServeEvent::Note { text } => {
                    json!({"time": now, "stream": "iisn", "event": "note", "text": text})
                }
                ServeEvent::Warning { text } => {
                    json!({"time": now, "stream": "iisn", "event": "warning", "text": text})
                }
                ServeEvent::Trace { json, .. } => json,
            };
            self.json(v);
            return;
        }
        match ev {
            ServeEvent::Listening { url, site_url } => {
                self.stop_spinner();
                let site = match &site_url {
                    Some(site) => format!(", the site at {}", self.st.bold.apply_to(site)),
                    None => String::new(),
                };
                let text = format!(
                    "listening on {}{site}  {}",
                    self.st.bold.apply_to(&url),
                    self.st.dim.apply_to("(Ctrl-C to stop)")
                );
                self.iisn(&text);
            }
            ServeEvent::Starting { app, count } => {
                let digits = count.max(1).to_string().len();
                self.label_width = self
                    .label_width
                    .max(console::measure_text_width(&app) + 1 + digits);
                if self.opts.spinner && !self.opts.quiet {
                    self.starting += count;
                    let pb = self.spinner.get_or_insert_with(|| {
                        let pb = ProgressBar::new_spinner();
                        pb.set_style(
                            ProgressStyle::with_template("{spinner} {msg}")
                                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                        );
                        pb.enable_steady_tick(Duration::from_millis(80));
                        pb
                    });
                    pb.set_message(format!(
                        "starting {} …",
                        crate::ui::plural(self.starting, "worker", "workers")
                    ));
                }
            }
            ServeEvent::WorkerSpawned { id } => {
                if self.opts.verbose > 0 {
                    let text = format!("{} started (pid {})", self.label(&id), id.pid);
                    self.iisn(&text);
                }
            }
            ServeEvent::WorkerReady { id, after } => {
                self.starting = self.starting.saturating_sub(1);
                if self.starting == 0 {
                    self.stop_spinner();
                }
                if !self.opts.quiet {
                    let text = format!(
                        "{} ready in {} ms (pid {})",
                        self.label(&id),
                        after.as_millis(),
                        id.pid
                    );
                    self.iisn(&text);
                }
            }
            ServeEvent::WorkerExited {
                id,
                status,
                stderr_tail,
                expected,
                hint,
            } => {
                if expected {
                    if self.opts.verbose > 0 {
                        let text = format!("{} stopped ({status})", self.label(&id));
                        self.iisn(&text);
                    }
                    return;
                }
                self.starting = self.starting.saturating_sub(1);
                let text = format!(
                    "{} {} {status} (pid {}); its slot restarts on the next request routed to it",
                    self.label(&id),
                    self.st.warning.apply_to("exited:"),
                    id.pid
                );
                self.iisn(&text);
                for l in stderr_tail {
                    let line = format!(
                        "{:w$}   {}",
                        "",
                        self.st.error.apply_to(l),
                        w = self.label_width
                    );
                    self.line(line);
                }
                if let Some(h) = hint {
                    let text = format!("{} {h}", self.st.accent.apply_to("hint:"));
                    self.iisn(&text);
                }
            }
            ServeEvent::SpawnFailed { app, slot, error } => {
                self.starting = self.starting.saturating_sub(1);
                let label = self.pad(&format!("{app}#{}", slot + 1));
                let text = format!(
                    "{label} {} {error}",
                    self.st.error.apply_to("could not start:")
                );
                self.iisn(&text);
            }
            ServeEvent::Log { id, stream, line } => {
                if self.opts.quiet && stream == Stream::Stdout {
                    return;
                }
                let body = match stream {
                    Stream::Stdout => line,
                    Stream::Stderr => self.st.warning.apply_to(line).to_string(),
                };
                let text = format!("{} {} {body}", self.label(&id), self.st.dim.apply_to("│"));
                self.line(text);
            }
            ServeEvent::Request {
                method,
                target,
                status,
                substatus,
                millis,
                worker,
            } => {
                if self.opts.verbose == 0 {
                    return;
                }
                let code = if substatus > 0 {
                    format!("{status}.{substatus}")
                } else {
                    status.to_string()
                };
                let code = match status {
                    500.. => self.st.error.apply_to(code).to_string(),
                    400..=499 => self.st.warning.apply_to(code).to_string(),
                    _ => self.st.good.apply_to(code).to_string(),
                };
                let who = worker
                    .map(|w| format!(" → {}#{}", w.app, w.slot + 1))
                    .unwrap_or_default();
                let text = format!("{method} {target} {code} {millis} ms{who}");
                self.iisn(&text);
            }
            ServeEvent::RecycleStarted { app, trigger } => {
                let text = format!("{} {app}: {trigger}", self.st.accent.apply_to("recycling"));
                self.iisn(&text);
            }
            ServeEvent::RecycleSwitched {
                app,
                ready_after,
                in_flight,
            } => {
                if !self.opts.quiet {
                    let ready = ready_after
                        .map(|d| format!("new workers ready in {} ms", d.as_millis()))
                        .unwrap_or_else(|| "new workers start on the next request".into());
                    let text = format!(
                        "{app}: {ready}; {} finishing on the old ones",
                        crate::ui::plural(in_flight, "request", "requests")
                    );
                    self.iisn(&text);
                }
            }
            ServeEvent::RecycleFinished { app, stopped, cut } => {
                if cut > 0 {
                    let text = format!(
                        "{app}: {} stopped at gracefulShutdownTimeout with requests still running",
                        crate::ui::plural(cut, "old worker", "old workers")
                    );
                    self.iisn(&format!("{} {text}", self.st.warning.apply_to("warning:")));
                } else if self.opts.verbose > 0 {
                    let text = format!(
                        "{app}: {} stopped",
                        crate::ui::plural(stopped, "old worker", "old workers")
                    );
                    self.iisn(&text);
                }
            }
            ServeEvent::Note { text } => {
                if !self.opts.quiet {
                    self.iisn(&text);
                }
            }
            ServeEvent::Warning { text } => {
                let text = format!("{} {text}", self.st.warning.apply_to("warning:"));
                self.iisn(&text);
            }
            ServeEvent::Trace { lines, .. } => lines.iter().for_each(|l| self.iisn(l)),
        }
    }
}

/// Prints events until every sender is gone.
pub async fn run(mut rx: mpsc::Receiver<ServeEvent>, opts: TermOptions) {
    let mut p = Printer {
        st: Styles::new(opts.color),
        label_width: opts.label_width.max(8),
        opts,
        spinner: None,
        starting: 0,
    };
    while let Some(ev) = rx.recv().await {
        p.handle(ev);
    }
    p.stop_spinner();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn printer(width: usize) -> Printer {
        let opts = TermOptions {
            color: false,
            json: false,
            quiet: false,
            verbose: 0,
            spinner: false,
            label_width: width,
        };
        Printer {
            st: Styles::new(false),
            label_width: opts.label_width.max(8),
            opts,
            spinner: None,
            starting: 0,
        }
    }

    #[test]
    fn the_name_column_widens_for_long_names_and_stays_aligned() {
        let mut p = printer(8);
        let short = WorkerId {
            app: "app.js".into(),
            slot: 0,
            pid: 1,
        };
        let long = WorkerId {
            app: "api/v2/very-long-server-name.js".into(),
            slot: 11,
            pid: 2,
        };
        assert_eq!(p.label(&short), "app.js#1");
        let l = p.label(&long);
        assert_eq!(l, "api/v2/very-long-server-name.js#12");
        // Every later label (and iisn's own prefix) uses the wider column.
        assert_eq!(p.label(&short).len(), l.len());
        // Starting an application with 10+ workers reserves room for two digits.
        let mut p = printer(8);
        p.handle(ServeEvent::Starting {
            app: "server-with-a-long-name.js".into(),
            count: 12,
        });
        assert_eq!(p.label_width, "server-with-a-long-name.js#12".len());
    }

    #[test]
    fn rfc3339_formats_utc() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_795_000_000_123);
        assert_eq!(rfc3339(t), "2026-11-18T11:06:40.123Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00.000Z");
    }
}
