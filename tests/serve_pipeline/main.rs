//! Integration tests for the IIS pipeline in `iisn serve`: request filtering, URL Rewrite,
//! static files, default documents, several applications and `--app-path`, with the real
//! binary and real node workers.
//!
//! Each test copies a fixture site from `tests/fixtures/pipeline/<name>/` into a temporary
//! folder and talks raw HTTP/1.1 to `iisn serve <site> --port 0 --log-format json`
//! ([`harness`]). The numbers in comments are iisnode's functional tests (`103_urlrewrite`,
//! ...). Without `node` on PATH every test prints a skip note and passes.

mod harness;

mod iisnode_tests;
mod kudu;
mod sites;
