//! iisnode-style log files for worker output.
//!
//! Under IIS, iisnode's `interceptor.js` replaced `process.stdout.write` inside node and wrote
//! `<COMPUTERNAME>-<pid>-<stdout|stderr>-<epoch ms>.txt` files next to the app, with size
//! rollover, pruning and an `index.html` listing (iisnode-engine.md §6). iisn reads each
//! worker's stdout and stderr through pipes instead (DECISIONS.md §13) and hands the bytes to
//! this module, which keeps the same files, names and rules, so a developer finds the logs
//! where IIS would put them and the developer error page can show the stderr tail
//! (DECISIONS.md §14).
//!
//! This module only touches the log directory, synchronously, with `std::fs`. It must not
//! print, spawn tasks, or know about workers beyond a pid: the engine decides when to write
//! and what to do with an error.

mod files;

pub(crate) use files::civil_utc;
pub use files::{
    LogFile, LogSettings, STDERR_TAIL_BYTES, StreamKind, prepare, stderr_tail, write_index,
};
