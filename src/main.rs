//! The `iisn` binary: parse the command line, run, turn the result into an exit code.

use clap::Parser;

// `iisn serve` allocates on every request (hyper's buffers and header maps on both sides),
// and glibc's allocator spent about 12% of the proxy's CPU time under load (bench/README.md,
// "Profiling"); mimalloc's per-thread free lists suit the one-runtime-per-core front.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = iisn::cli::Cli::parse();
    let styles = iisn::ui::Styles::new(cli.global.color.enabled(iisn::ui::Stream::Stderr));
    match iisn::cli::run(cli) {
        Ok(()) => std::process::exit(iisn::error::exit::OK),
        Err(e) if e.is_broken_pipe() => std::process::exit(iisn::error::exit::OK),
        Err(e) => {
            eprint!("{}", e.render(&styles));
            std::process::exit(e.exit_code());
        }
    }
}
