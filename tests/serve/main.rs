//! Integration tests for `iisn serve`: the real binary, real node workers, real sockets.
//!
//! One test binary with modules (the ripgrep and nextest layout). Each test copies a fixture
//! site from `tests/fixtures/sites/<name>/` (the [`pipeline`] tests: `tests/fixtures/pipeline/`)
//! into a temporary folder, starts
//! `iisn serve <site> --port 0 --log-format json` on it and talks HTTP to it (see
//! [`harness`]). Without `node` on PATH every test prints a skip note and passes.
//!
//! The numbers in test comments refer to iisnode's functional tests (`100_helloworld`, ...)
//! and to the conformance cases `C01`... of `shared/spec/iisnode-tests.md`.

mod harness;

mod balancing;
mod basics;
mod config_env;
mod debugger;
mod downstream;
mod failures;
mod http_errors;
mod http_fidelity;
mod logs;
mod memory;
mod pipeline;
mod realsites;
mod recycle;
mod route_vs_serve;
mod shutdown;
mod upstream;
mod websocket;
