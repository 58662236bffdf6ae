//! The IIS pipeline in `iisn serve`: request filtering, URL Rewrite, static files, default
//! documents, several applications and `--app-path`, with the real binary and real node
//! workers.
//!
//! Each test copies a fixture site from `tests/fixtures/pipeline/<name>/` ([`Site::pipeline`])
//! and talks raw HTTP/1.1 to it ([`Server::raw_get`]), so that request targets go out exactly
//! as written: encoded dots, backslashes, double encoding. The numbers in comments are
//! iisnode's functional tests (`103_urlrewrite`, ...).

use crate::harness::{Server, Site};

mod broken_config;
mod filtering_rules;
mod iis_features;
mod iisnode_tests;
mod kudu;
mod sites;

/// `iisn serve <site> --no-watch <args>`: these tests change no file while iisn runs.
fn serve(site: &Site, args: &[&str]) -> Server {
    args.iter()
        .fold(site.iisn().arg("--no-watch"), |l, a| l.arg(a))
        .start()
}
