//! Configuration: web.config hierarchy + `IISNODE_*` environment + iisnode.yml.
pub mod env;
pub mod iisnode_yml;
pub mod web_config;
pub mod xml;
pub mod schema;
pub mod source;
