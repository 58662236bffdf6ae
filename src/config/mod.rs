//! Configuration: web.config hierarchy + `IISNODE_*` environment + iisnode.yml.
pub mod iisnode_yml;
pub mod schema;
pub mod source;
