//! Configuration and the worker's environment: appSettings, NODE_ENV, cwd, the variables iisn
//! sets, iisnode.yml and `IISNODE_*` overrides of the worker count, config errors.

use std::collections::BTreeSet;
use std::os::unix::fs::FileTypeExt;

use serde_json::Value;

use crate::harness::{Server, Site};

fn env_of(server: &Server) -> Value {
    let r = server.get("/hello.js");
    assert_eq!(r.status, 200, "{}", r.text());
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.text()))
}

/// C14 / 108_appsettings and C15 / 111_node_env.
#[test]
fn app_settings_and_node_env() {
    let Some(site) = Site::new("env") else { return };
    let server = site.serve();
    let env = env_of(&server);
    assert_eq!(env["concat"], "value1value2", "{env}");
    assert_eq!(
        env["setting3"], "",
        "an empty value is an empty variable: {env}"
    );
    assert_eq!(
        env["emptyKeyVars"],
        serde_json::json!([]),
        "an empty key is skipped: {env}"
    );
    assert_eq!(env["nodeEnv"], "production", "{env}");
}

/// C13 / 107_filesystem: the working directory is the script's folder; argv[1] is the script.
#[test]
fn cwd_is_the_script_folder() {
    let Some(site) = Site::new("env") else { return };
    let server = site.serve();
    let env = env_of(&server);
    assert_eq!(env["file"], "Contents of a file");
    assert_eq!(env["cwd"], site.root().display().to_string());
    assert_eq!(
        env["argv"][1],
        site.path("hello.js").display().to_string(),
        "{env}"
    );
}

/// C16: PORT is a Unix socket in iisn's private folder; IISNODE_VERSION is set; iisn's own
/// environment is inherited; no control pipe unless recycleSignalEnabled.
#[test]
fn standard_worker_environment() {
    let Some(site) = Site::new("env") else { return };
    let server = site.iisn().env("IISN_TEST_MARKER", "inherited").start();
    let env = env_of(&server);
    let port = std::path::PathBuf::from(env["port"].as_str().expect("PORT set"));
    assert!(port.is_absolute(), "{port:?}");
    assert!(
        port.starts_with(server.tmpdir()),
        "{port:?} in iisn's TMPDIR"
    );
    let meta = std::fs::metadata(&port).expect("the socket exists while the worker runs");
    assert!(meta.file_type().is_socket(), "{port:?}");
    let dir_mode = std::fs::metadata(port.parent().expect("dir"))
        .expect("dir")
        .permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&dir_mode) & 0o777,
        0o700
    );
    assert!(
        env["iisnodeVersion"]
            .as_str()
            .is_some_and(|v| !v.is_empty()),
        "{env}"
    );
    assert_eq!(env["controlPipe"], Value::Null, "{env}");
    assert_eq!(env["marker"], "inherited", "{env}");
}

fn counts(server: &Server, n: usize) -> (Vec<String>, BTreeSet<u32>) {
    let mut bodies = Vec::new();
    let mut pids = BTreeSet::new();
    for _ in 0..n {
        let r = server.get("/hello.js");
        assert_eq!(r.status, 200, "{}", r.text());
        bodies.push(r.text().trim_start_matches("Hello, world ").to_string());
        pids.insert(r.pid());
    }
    (bodies, pids)
}

/// C17 / 124_node_config_override: iisnode.yml (4 processes) beats web.config (2).
#[test]
fn iisnode_yml_overrides_web_config() {
    let Some(site) = Site::new("config_override") else {
        return;
    };
    let server = site.serve();
    let (bodies, pids) = counts(&server, 8);
    assert_eq!(bodies, ["1", "1", "1", "1", "2", "2", "2", "2"]);
    assert_eq!(pids.len(), 4, "{pids:?}");
}

/// C20: `IISNODE_nodeProcessCountPerApplication` in iisn's environment beats web.config.
#[test]
fn environment_overrides_the_worker_count() {
    let Some(site) = Site::new("counter") else {
        return;
    };
    site.web_config("hello.js", r#"nodeProcessCountPerApplication="1""#);
    let server = site
        .iisn()
        .env("IISNODE_nodeProcessCountPerApplication", "3")
        .start();
    let (bodies, pids) = counts(&server, 6);
    assert_eq!(bodies, ["1", "1", "1", "2", "2", "2"]);
    assert_eq!(pids.len(), 3, "{pids:?}");
}

/// ... and iisnode.yml beats the environment (DECISIONS.md §1).
#[test]
fn iisnode_yml_beats_the_environment() {
    let Some(site) = Site::new("config_override") else {
        return;
    };
    let server = site
        .iisn()
        .env("IISNODE_nodeProcessCountPerApplication", "3")
        .start();
    let (bodies, pids) = counts(&server, 8);
    assert_eq!(bodies, ["1", "1", "1", "1", "2", "2", "2", "2"]);
    assert_eq!(pids.len(), 4, "{pids:?}");
}

/// C19 / 116_configerror: an unknown `<iisnode>` attribute gives loopback callers iisnode's
/// configuration error page (HTTP 200), and iisn keeps running.
#[test]
fn config_error_page() {
    let Some(site) = Site::new("hello") else {
        return;
    };
    site.web_config("hello.js", r#"idontexist="12""#);
    let server = site.serve();
    let r = server.get("/hello.js");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.text().contains("unable to read the configuration file"),
        "{}",
        r.text()
    );
    assert!(
        server.event_pids("spawned").is_empty(),
        "no worker for a broken configuration"
    );
    assert!(
        server.stderr().contains("idontexist"),
        "the diagnostic is printed: {}",
        server.stderr()
    );
}

/// C18 / 126: a bad iisnode.yml (a non-boolean for a boolean) gives the configuration error
/// page naming iisnode.yml.
#[test]
fn bad_iisnode_yml_gives_the_config_error_page() {
    let Some(site) = Site::new("hello") else {
        return;
    };
    site.write("iisnode.yml", "loggingEnabled: maybe\n");
    let server = site.serve();
    let r = server.get("/hello.js");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.text()
            .contains("unable to read the configuration file iisnode.yml"),
        "{}",
        r.text()
    );
}
