//! Configuration: web.config hierarchy + `IISNODE_*` environment + iisnode.yml.
pub mod apphost;
pub mod env;
pub mod iisnode_yml;
pub mod merge;
pub mod model;
pub mod schema;
pub mod settings;
pub mod site;
pub mod source;
pub mod web_config;
pub mod xml;

pub use site::{Application, ConfigErrorKind, LoadOptions, LoadSiteError, LoadedSite, load_site};
