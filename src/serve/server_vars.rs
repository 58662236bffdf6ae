//! The IIS server variables iisn can supply, for `promoteServerVars` (and URL Rewrite).
//!
//! IIS exposes per-request "server variables". iisnode sends the ones named in
//! `promoteServerVars` to node as `X-iisnode-<NAME>` headers. iisn models the variables a
//! local server can know; the rest do not exist (IIS skips variables it cannot resolve, and
//! so does iisn). The authentication variables are empty, as under IIS anonymous access,
//! unless `iisn serve --auth-user DOMAIN\name` emulates Windows authentication.
//!
//! | variable | value |
//! |---|---|
//! | `REQUEST_METHOD` | `GET`, `POST`, ... |
//! | `QUERY_STRING` | the query without `?` (may be empty) |
//! | `URL`, `PATH_INFO`, `SCRIPT_NAME` | the decoded path; the path info after the script; the script's URL |
//! | `REQUEST_URI`, `HTTP_URL`, `UNENCODED_URL` | the raw request target, query included |
//! | `REMOTE_ADDR`, `REMOTE_HOST`, `REMOTE_PORT` | the client's numeric address and port |
//! | `LOCAL_ADDR`, `SERVER_PORT`, `SERVER_NAME` | the address and port the client connected to (on a wildcard `--host`, the connection's own); the Host name |
//! | `SERVER_PROTOCOL`, `SERVER_SOFTWARE`, `GATEWAY_INTERFACE` | `HTTP/1.1`, `Microsoft-IIS/10.0`, `CGI/1.1` |
//! | `HTTPS`, `SERVER_PORT_SECURE` | `off`, `0` (iisn serves plain HTTP) |
//! | `CERT_*`, `HTTPS_KEYSIZE`, `HTTPS_SECRETKEYSIZE`, `HTTPS_SERVER_ISSUER`, `HTTPS_SERVER_SUBJECT` | empty, as IIS has them over plain HTTP |
//! | `CONTENT_TYPE`, `CONTENT_LENGTH` | from the request headers |
//! | `HTTP_<NAME>` | any request header, `-` written as `_` |
//! | `APPL_PHYSICAL_PATH`, `APPL_MD_PATH`, `INSTANCE_ID`, `INSTANCE_META_PATH` | the site folder; `/LM/W3SVC/1/ROOT`; `1`; `/LM/W3SVC/1` |
//! | `SCRIPT_FILENAME`, `SCRIPT_TRANSLATED`, `PATH_TRANSLATED`, `REQUEST_FILENAME` | the script's file path |
//! | `AUTH_USER`, `LOGON_USER`, `REMOTE_USER` | empty, or `--auth-user` |
//! | `AUTH_TYPE` | empty, or `--auth-type` (default `Negotiate`) with `--auth-user` |
//!
//! These are the values IIS 10 gives (a reading of every `Request.ServerVariables` entry on a
//! stock server over HTTP): the variables that describe no certificate are empty strings, not
//! missing, so a promoted one reaches node as an empty `X-iisnode-<NAME>` header, and
//! `SERVER_PORT` is the port the client connected to, not the one in its `Host` header.
//! `SERVER_SOFTWARE` names IIS, not iisn: an application that branches on it (or a rewrite
//! rule that tests it) must take under iisn the path it takes in production, as the
//! `X-Powered-By: ASP.NET` iisn sends and the `APPL_MD_PATH` above do; iisn names itself in
//! its terminal, logs and error pages instead.

use std::net::SocketAddr;
use std::path::Path;

use http::HeaderMap;

/// Windows authentication emulation (`--auth-user`, `--auth-type`).
#[derive(Clone, Debug)]
pub struct AuthEmulation {
    pub user: String,
    pub auth_type: String,
}

/// What a request looks like to IIS.
pub struct RequestInfo<'a> {
    pub method: &'a str,
    /// The raw request target (`/a%20b?x=1`).
    pub target: &'a str,
    /// The decoded path (`/a b`).
    pub path: &'a str,
    pub headers: &'a HeaderMap,
    pub remote: SocketAddr,
    pub local: SocketAddr,
    /// The script's URL (`/app/hello.js`), when a handler mapped one.
    pub script_url: Option<&'a str>,
    pub path_info: Option<&'a str>,
    pub script_file: Option<&'a Path>,
    pub site_root: &'a Path,
    pub auth: Option<&'a AuthEmulation>,
    /// The query string after URL Rewrite, when a rule rewrote the URL: `QUERY_STRING` is
    /// then the new one (`target` stays the client's).
    pub query: Option<&'a str>,
}

impl RequestInfo<'_> {
    fn query(&self) -> &str {
        match self.query {
            Some(q) => q,
            None => self.target.split_once('?').map_or("", |(_, q)| q),
        }
    }

    fn header(&self, name: &str) -> Option<String> {
        let values: Vec<&str> = self
            .headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        (!values.is_empty()).then(|| values.join(", "))
    }

    /// The value of server variable `name` (case-insensitive), or `None` when IIS would not
    /// have it.
    pub fn get(&self, name: &str) -> Option<String> {
        let upper = name.to_ascii_uppercase();
        let auth_user = || self.auth.map(|a| a.user.clone()).unwrap_or_default();
        Some(match upper.as_str() {
            "REQUEST_METHOD" => self.method.to_string(),
            "QUERY_STRING" => self.query().to_string(),
            "URL" => self.path.to_string(),
            "PATH_INFO" => match (self.script_url, self.path_info) {
                (Some(s), Some(pi)) => format!("{s}{pi}"),
                _ => self.path.to_string(),
            },
            "SCRIPT_NAME" => self.script_url.unwrap_or(self.path).to_string(),
            "REQUEST_URI" | "HTTP_URL" | "UNENCODED_URL" => self.target.to_string(),
            "CACHE_URL" => cache_url(self.header("host").as_deref(), self.local, self.target),
            "REMOTE_ADDR" | "REMOTE_HOST" => self.remote.ip().to_string(),
            "REMOTE_PORT" => self.remote.port().to_string(),
            "LOCAL_ADDR" => self.local.ip().to_string(),
            "SERVER_PORT" => self.local.port().to_string(),
            "SERVER_NAME" => self
                .header("host")
                .map(|h| host_name(&h).to_string())
                .unwrap_or_else(|| self.local.ip().to_string()),
            "SERVER_PROTOCOL" => "HTTP/1.1".to_string(),
            "SERVER_SOFTWARE" => "Microsoft-IIS/10.0".to_string(),
            "GATEWAY_INTERFACE" => "CGI/1.1".to_string(),
            "HTTPS" => "off".to_string(),
            "SERVER_PORT_SECURE" => "0".to_string(),
            "CONTENT_TYPE" => self.header("content-type").unwrap_or_default(),
            "CONTENT_LENGTH" => self.header("content-length").unwrap_or_else(|| "0".into()),
            "APPL_PHYSICAL_PATH" => format!("{}/", self.site_root.display()),
            "APPL_MD_PATH" => "/LM/W3SVC/1/ROOT".to_string(),
            "INSTANCE_ID" => "1".to_string(),
            "INSTANCE_META_PATH" => "/LM/W3SVC/1".to_string(),
            // No client or server certificate over plain HTTP: IIS has these, empty.
            "CERT_COOKIE"
            | "CERT_FLAGS"
            | "CERT_ISSUER"
            | "CERT_KEYSIZE"
            | "CERT_SECRETKEYSIZE"
            | "CERT_SERIALNUMBER"
            | "CERT_SERVER_ISSUER"
            | "CERT_SERVER_SUBJECT"
            | "CERT_SUBJECT"
            | "HTTPS_KEYSIZE"
            | "HTTPS_SECRETKEYSIZE"
            | "HTTPS_SERVER_ISSUER"
            | "HTTPS_SERVER_SUBJECT" => String::new(),
            "SCRIPT_FILENAME" | "SCRIPT_TRANSLATED" | "PATH_TRANSLATED" | "REQUEST_FILENAME" => {
                self.script_file?.display().to_string()
            }
            "AUTH_USER" | "LOGON_USER" | "REMOTE_USER" => auth_user(),
            "AUTH_TYPE" => self.auth.map(|a| a.auth_type.clone()).unwrap_or_default(),
            "AUTH_PASSWORD" => String::new(),
            other => {
                let header = other.strip_prefix("HTTP_")?.replace('_', "-");
                return self.header(&header);
            }
        })
    }
}

/// `CACHE_URL`: the whole URL as HTTP.sys cooks it, scheme, host and port included
/// (`http://example.com:8080/a?b=1`); rules test it for the scheme (`^(https?)://`).
pub fn cache_url(host: Option<&str>, local: SocketAddr, target: &str) -> String {
    let name = host.map_or_else(|| local.ip().to_string(), |h| host_name(h).to_string());
    format!("http://{name}:{}{target}", local.port())
}

/// `example.com:8080` → `example.com`; `[::1]:80` → `[::1]`.
fn host_name(host: &str) -> &str {
    if host.starts_with('[') {
        return host
            .split_once(']')
            .map_or(host, |(h, _)| &host[..h.len() + 1]);
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

/// The names iisn can supply (for `iisn check` and the docs).
pub const KNOWN: &[&str] = &[
    "REQUEST_METHOD",
    "QUERY_STRING",
    "URL",
    "PATH_INFO",
    "SCRIPT_NAME",
    "REQUEST_URI",
    "HTTP_URL",
    "UNENCODED_URL",
    "CACHE_URL",
    "REMOTE_ADDR",
    "REMOTE_HOST",
    "REMOTE_PORT",
    "LOCAL_ADDR",
    "SERVER_PORT",
    "SERVER_NAME",
    "SERVER_PROTOCOL",
    "SERVER_SOFTWARE",
    "GATEWAY_INTERFACE",
    "HTTPS",
    "SERVER_PORT_SECURE",
    "CONTENT_TYPE",
    "CONTENT_LENGTH",
    "APPL_PHYSICAL_PATH",
    "APPL_MD_PATH",
    "INSTANCE_ID",
    "INSTANCE_META_PATH",
    "CERT_COOKIE",
    "CERT_FLAGS",
    "CERT_ISSUER",
    "CERT_KEYSIZE",
    "CERT_SECRETKEYSIZE",
    "CERT_SERIALNUMBER",
    "CERT_SERVER_ISSUER",
    "CERT_SERVER_SUBJECT",
    "CERT_SUBJECT",
    "HTTPS_KEYSIZE",
    "HTTPS_SECRETKEYSIZE",
    "HTTPS_SERVER_ISSUER",
    "HTTPS_SERVER_SUBJECT",
    "SCRIPT_FILENAME",
    "SCRIPT_TRANSLATED",
    "PATH_TRANSLATED",
    "REQUEST_FILENAME",
    "AUTH_USER",
    "LOGON_USER",
    "REMOTE_USER",
    "AUTH_TYPE",
    "AUTH_PASSWORD",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables() {
        let mut h = HeaderMap::new();
        h.insert("host", "localhost:8080".parse().expect("hv"));
        h.append("x-a", "1".parse().expect("hv"));
        h.append("x-a", "2".parse().expect("hv"));
        let auth = AuthEmulation {
            user: r"CORP\alice".into(),
            auth_type: "Negotiate".into(),
        };
        let info = RequestInfo {
            method: "GET",
            target: "/app/hello.js/x%20y?a=1",
            path: "/app/hello.js/x y",
            headers: &h,
            remote: "127.0.0.1:5555".parse().expect("addr"),
            local: "127.0.0.1:8080".parse().expect("addr"),
            script_url: Some("/app/hello.js"),
            path_info: Some("/x y"),
            script_file: Some(Path::new("/site/app/hello.js")),
            site_root: Path::new("/site"),
            auth: None,
            query: None,
        };
        assert_eq!(info.get("request_method").as_deref(), Some("GET"));
        assert_eq!(info.get("QUERY_STRING").as_deref(), Some("a=1"));
        assert_eq!(info.get("SERVER_NAME").as_deref(), Some("localhost"));
        assert_eq!(info.get("HTTP_X_A").as_deref(), Some("1, 2"));
        assert_eq!(info.get("HTTP_X_MISSING"), None);
        assert_eq!(info.get("AUTH_USER").as_deref(), Some(""));
        assert_eq!(info.get("NOT_A_VAR"), None);
        // As IIS 10 gives them: IIS names itself; no certificate is an empty value.
        assert_eq!(
            info.get("SERVER_SOFTWARE").as_deref(),
            Some("Microsoft-IIS/10.0")
        );
        assert_eq!(info.get("CERT_SUBJECT").as_deref(), Some(""));
        assert_eq!(info.get("https_keysize").as_deref(), Some(""));
        assert_eq!(
            info.get("INSTANCE_META_PATH").as_deref(),
            Some("/LM/W3SVC/1")
        );
        assert_eq!(info.get("CERT_NOT_A_VAR"), None);
        let with_auth = RequestInfo {
            auth: Some(&auth),
            ..info
        };
        assert_eq!(with_auth.get("LOGON_USER").as_deref(), Some(r"CORP\alice"));
        assert_eq!(with_auth.get("AUTH_TYPE").as_deref(), Some("Negotiate"));
        assert_eq!(host_name("[::1]:80"), "[::1]");
    }
}
