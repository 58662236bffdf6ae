//! A time budget for URL Rewrite, so one pathological rule cannot stall the server.
//!
//! IIS's rules are regular expressions, and iisn matches them with a backtracking engine
//! (regress, as ECMAScript requires lookahead). A pattern with nested quantifiers such as
//! `^(a+)+$` takes exponential time on an input that almost matches (CRATES.md measured
//! 8.6 s for 28 characters), and a regex cannot be interrupted. So the decision for a request
//! whose folder has rewrite rules runs on a small pool of iisn's own threads, and the request
//! waits at most [`REWRITE_BUDGET`] for it:
//!
//! * within the budget (the normal case, microseconds), the decision is used;
//! * past the budget, the request gets 500.50 (IIS's "URL Rewrite Module Error") and the
//!   thread is abandoned to finish on its own. The rule it was stuck in is marked as having a
//!   runaway match of that input length. While a rule has runaways, a request whose input for
//!   that rule is at least half as long as the shortest runaway's gets 500.50 at once instead
//!   of starting another one (backtracking cost grows with the input, so shorter inputs are
//!   still matched normally), and past [`RUNAWAY_LIMIT`] runaways every request reaching the
//!   rule fails fast. So a bad rule costs a few busy threads at most, ordinary URLs keep
//!   working, and requests that do not reach the rule are not affected at all.
//!
//! Most real rule sets cannot backtrack for long (`^api/(.*)`, the Kudu and SPA templates,
//! `{HTTPS}` conditions): [`can_run_inline`] decides it once per rule set when the rules are
//! compiled, and such rules run on the request's own thread, which saves two thread hops
//! per request. Only rule sets with a pattern that could run away use the threads.
//!
//! The threads are plain detached threads (not tokio's blocking pool), so an abandoned match
//! never delays shutdown: a runtime waits for its blocking tasks when it is dropped, the
//! process does not wait for detached threads. Idle threads beyond `MIN_THREADS` exit
//! after a minute.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use tokio::sync::oneshot;

use super::FolderConfig;
use crate::rewrite::pattern::Pattern;

/// How long a request waits for its rewrite rules.
pub const REWRITE_BUDGET: Duration = Duration::from_secs(1);
/// Runaway matches of one rule after which every request reaching it fails fast.
pub const RUNAWAY_LIMIT: usize = 4;
/// Threads kept even when idle.
const MIN_THREADS: usize = 2;
/// Upper bound on threads (runaways plus requests in flight through rewrite rules).
const MAX_THREADS: usize = 64;
const IDLE_EXIT: Duration = Duration::from_secs(60);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

#[derive(Debug, Default)]
struct State {
    /// The rule being evaluated and the length of its input.
    rule: Option<(usize, usize)>,
    /// The request gave up waiting.
    abandoned: bool,
    /// The rule whose runaway counter this evaluation incremented.
    counted: Option<usize>,
    done: bool,
}

/// Shared between a request and the thread deciding it.
#[derive(Debug, Default)]
pub struct Progress {
    state: Mutex<State>,
}

impl Progress {
    /// Called before rule `index` matches an input of `input_len` bytes; `false` means the
    /// request gave up, stop working.
    pub fn enter_rule(&self, index: usize, input_len: usize) -> bool {
        let mut s = lock(&self.state);
        if s.abandoned {
            return false;
        }
        s.rule = Some((index, input_len));
        true
    }

    /// Called after the last rule.
    pub fn leave_rules(&self) {
        lock(&self.state).rule = None;
    }
}

/// A decision that did not come within the budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overrun {
    /// The rule that was running, if one was.
    pub rule: Option<String>,
}

impl Overrun {
    pub fn describe(&self) -> String {
        match &self.rule {
            Some(r) => format!("rule \"{r}\" did not finish matching in time"),
            None => "the rewrite step did not finish in time".to_string(),
        }
    }
}

/// The largest `{n,m}` repetition treated as bounded (cheap to backtrack over).
const SMALL_REPEAT: u32 = 16;

/// Whether `p` can be matched on the request's thread without a time budget.
///
/// Wildcard and ExactMatch patterns are matched without backtracking. An ECMAScript pattern
/// qualifies when a backtracking engine needs at most quadratic time on it (inputs are
/// limited to 4096 bytes by [`Pattern::find`]): no back-reference, no repeated group (the
/// shapes of `(a+)+` and `(a|aa)*`), and at most one unbounded repetition (`*`, `+`,
/// `{n,}` or `{n,m}` with a large `m`) in the whole pattern, so that `.*a.*b.*c`, polynomial
/// of high degree, still gets the budget. Anything the scan does not understand gets the
/// budget too.
pub fn can_run_inline(p: &Pattern) -> bool {
    use crate::config::web_config::PatternSyntax;
    if p.syntax() != PatternSyntax::EcmaScript {
        return true;
    }
    if p.nested_quantifier().is_some() {
        return false;
    }
    let b = p.as_str().as_bytes();
    let mut unbounded = 0;
    let (mut i, mut in_class) = (0, false);
    while i < b.len() {
        let c = b[i];
        // What the quantifier at `i` (if any) applies to ended at `i - 1`.
        let after_group = i > 0 && b[i - 1] == b')' && !in_class;
        match c {
            b'\\' => {
                match b.get(i + 1) {
                    Some(b'1'..=b'9') | Some(b'k') if !in_class => return false,
                    _ => {}
                }
                i += 2;
                continue;
            }
            b'[' if !in_class => in_class = true,
            b']' if in_class => in_class = false,
            b'*' | b'+' if !in_class => {
                if after_group {
                    return false;
                }
                unbounded += 1;
            }
            b'{' if !in_class => {
                let rest = &p.as_str()[i + 1..];
                if let Some(end) = rest.find('}') {
                    let inner = &rest[..end];
                    let mut parts = inner.splitn(2, ',');
                    let lo = parts.next().map(str::trim);
                    let hi = parts.next().map(str::trim);
                    let digits = |s: &str| !s.is_empty() && s.bytes().all(|d| d.is_ascii_digit());
                    if lo.is_some_and(digits) {
                        let large = match hi {
                            None => false,
                            Some("") => true,
                            Some(h) => {
                                !digits(h) || h.parse::<u32>().map_or(true, |m| m > SMALL_REPEAT)
                            }
                        };
                        if after_group && large {
                            return false;
                        }
                        if large {
                            unbounded += 1;
                        }
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    unbounded <= 1
}

type Job = Box<dyn FnOnce() + Send + 'static>;

struct Pool {
    tx: mpsc::Sender<Job>,
    rx: Arc<Mutex<mpsc::Receiver<Job>>>,
    idle: AtomicUsize,
    threads: AtomicUsize,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let (tx, rx) = mpsc::channel();
        Pool {
            tx,
            rx: Arc::new(Mutex::new(rx)),
            idle: AtomicUsize::new(0),
            threads: AtomicUsize::new(0),
        }
    })
}

fn worker(pool: &'static Pool) {
    loop {
        pool.idle.fetch_add(1, Ordering::AcqRel);
        let job = lock(&pool.rx).recv_timeout(IDLE_EXIT);
        pool.idle.fetch_sub(1, Ordering::AcqRel);
        match job {
            Ok(job) => {
                // A panic would be a bug in iisn; keep the thread for the next request.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let n = pool.threads.load(Ordering::Acquire);
                if n > MIN_THREADS
                    && pool
                        .threads
                        .compare_exchange(n, n - 1, Ordering::AcqRel, Ordering::Acquire)
                        .is_ok()
                {
                    return;
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Queues `job`, starting a thread when none is idle; gives the job back when no thread
/// runs and none can be started.
fn submit(job: Job) -> Result<(), Job> {
    let pool = pool();
    let threads = pool.threads.load(Ordering::Acquire);
    if pool.idle.load(Ordering::Acquire) == 0 && threads < MAX_THREADS {
        pool.threads.fetch_add(1, Ordering::AcqRel);
        let spawned = std::thread::Builder::new()
            .name("iisn-rewrite".into())
            .spawn(move || worker(pool));
        if spawned.is_err() {
            pool.threads.fetch_sub(1, Ordering::AcqRel);
            if threads == 0 {
                return Err(job);
            }
        }
    }
    pool.tx.send(job).map_err(|e| e.0)
}

/// Runs `f` on a rewrite thread and waits at most `budget` for it. `config` is the folder
/// whose rules `f` evaluates (for the runaway counters).
pub async fn run<T, F>(budget: Duration, config: Arc<FolderConfig>, f: F) -> Result<T, Overrun>
where
    T: Send + 'static,
    F: FnOnce(&Progress) -> T + Send + 'static,
{
    if config.rules.inline() {
        return Ok(f(&Progress::default()));
    }
    let progress = Arc::new(Progress::default());
    let (tx, mut rx) = oneshot::channel();
    let (p, cfg) = (progress.clone(), config.clone());
    let job: Job = Box::new(move || {
        let out = f(&p);
        let mut s = lock(&p.state);
        s.done = true;
        if let Some(i) = s.counted.take() {
            cfg.rules.runaway_finished(i);
        }
        drop(s);
        let _ = tx.send(out);
    });
    if let Err(job) = submit(job) {
        job();
    }
    match tokio::time::timeout(budget, &mut rx).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(_)) => Err(Overrun { rule: None }),
        Err(_) => {
            let mut s = lock(&progress.state);
            if s.done {
                drop(s);
                return rx.try_recv().map_err(|_| Overrun { rule: None });
            }
            s.abandoned = true;
            let rule = s.rule;
            if let Some((i, len)) = rule {
                s.counted = Some(i);
                config.rules.runaway_started(i, len);
            }
            drop(s);
            Err(Overrun {
                rule: rule.and_then(|(i, _)| config.rules.rule_name(i).map(str::to_string)),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::can_run_inline;
    use crate::config::web_config::PatternSyntax;
    use crate::rewrite::pattern::compile;

    fn inline(p: &str) -> bool {
        can_run_inline(&compile(PatternSyntax::EcmaScript, p, true).expect("compiles"))
    }

    #[test]
    fn real_patterns_run_inline() {
        for p in [
            "^server.js\\/debug[\\/]?",
            "^api/(.*)",
            "(.*)",
            "^OFF$",
            "^(?!api/).*$",
            "^[a-z]{2,5}/page-(\\d{1,4})$",
            "\\.(js|css|png)$",
        ] {
            assert!(inline(p), "{p} should run inline");
        }
    }

    #[test]
    fn patterns_that_can_run_away_keep_the_budget() {
        for p in [
            "^(a+)+$",
            "(a|aa)*b",
            "(\\w+\\s?)*$",
            ".*a.*b.*c",
            "^(.*)/(.*)$",
            "(x)\\1",
            "(ab){2,}",
            "a{1,1000}b{1,1000}",
        ] {
            assert!(!inline(p), "{p} should keep the budget");
        }
        for syntax in [PatternSyntax::Wildcard, PatternSyntax::ExactMatch] {
            let p = compile(syntax, "*a*b*c*", true).expect("compiles");
            assert!(can_run_inline(&p));
        }
    }
}
