//! iisn runs an iisnode site on a developer's machine, without Windows or IIS.
//!
//! The crate is a library with a thin binary (`src/main.rs`). Data flows one way:
//!
//! ```text
//!  web.config files ─┐
//!  IISNODE_* env ────┼─> config::load_site ──> LoadedSite { sources, levels, apps, diagnostics }
//!  iisnode.yml ──────┘                              │
//!                                                   ├─> `iisn config`  (effective settings + origins)
//!                                                   ├─> `iisn check`   (check::run: lints over the same model)
//!                                                   └─> `iisn serve`   (the engine built from the model)
//!
//!  templates/ ──(embedded)──> init::plan ──> `iisn init` (a new site that passes check and serves)
//! ```
//!
//! * [`config`] reads and merges configuration. It is synchronous, does no networking and
//!   never panics on user input: problems become [`diag::Diagnostic`]s next to the data.
//! * [`diag`] is the one diagnostic model (stable codes, spans, help) and its renderers.
//! * [`check`] is the semantic stage of linting, shared by `iisn check` and `iisn serve`.
//! * [`node`] finds the programs a site runs (node on `PATH`), for `check` and `serve` alike.
//! * [`rewrite`] compiles and matches URL Rewrite patterns (ECMAScript, Wildcard, ExactMatch).
//! * [`init`] writes a new site from the templates embedded from `templates/`.
//! * [`cli`] holds the clap definitions and one `run` per command.

pub mod check;
pub mod cli;
pub mod config;
pub mod diag;
pub mod error;
pub mod init;
pub mod logging;
pub mod node;
pub mod rewrite;
pub mod serve;
pub mod ui;

pub use error::Error;
