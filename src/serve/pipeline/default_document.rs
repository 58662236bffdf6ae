//! IIS's DefaultDocumentModule: a folder URL (ending in `/`) is served by the first file of
//! the effective `<defaultDocument><files>` list that exists in the folder.
//!
//! The list is IIS's stock one (`Default.htm`, `Default.asp`, `index.htm`, `index.html`,
//! `iisstart.htm`, `default.aspx`) with each web.config level's entries in front
//! (`mergeAppend="false"`), iis-webconfig.md §3.1. The module then re-maps the request to
//! that file, so handler mapping runs again: `index.js` listed as a default document and
//! mapped to iisnode runs the node app (iisnode test 102); `index.html` is a static file.
//! Names compare case-insensitively, as on Windows: an exact match is tried first, then the
//! folder is scanned. A folder URL without its trailing slash is redirected first (301),
//! and with no default document the folder is listed (`directoryBrowse`) or refused (403.14);
//! both are decided by the caller.
//!
//! Entries that are not plain file names (`a/b.htm`, `..`) are skipped: IIS documents the
//! value as a file name.

use std::path::Path;

use crate::config::model::EffectiveConfig;

fn plain_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0'])
}

/// The name (as found on disk) of the default document of `dir`, if any.
pub fn find(dir: &Path, eff: &EffectiveConfig) -> Option<String> {
    let mut listing: Option<Vec<String>> = None;
    for entry in &eff.default_documents {
        let want = entry.item.value.value.trim();
        if !plain_name(want) {
            continue;
        }
        if dir.join(want).is_file() {
            return Some(want.to_string());
        }
        let names = listing.get_or_insert_with(|| {
            std::fs::read_dir(dir)
                .map(|rd| {
                    rd.flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default()
        });
        if let Some(found) = names
            .iter()
            .find(|n| n.eq_ignore_ascii_case(want) && dir.join(n).is_file())
        {
            return Some(found.clone());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::merge::iis_defaults;

    #[test]
    fn stock_list_order_and_case() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let eff = iis_defaults();
        assert_eq!(find(tmp.path(), &eff), None);
        std::fs::write(tmp.path().join("INDEX.HTML"), "x").expect("write");
        assert_eq!(find(tmp.path(), &eff).as_deref(), Some("INDEX.HTML"));
        std::fs::write(tmp.path().join("Default.htm"), "x").expect("write");
        assert_eq!(find(tmp.path(), &eff).as_deref(), Some("Default.htm"));
        std::fs::create_dir(tmp.path().join("index.htm")).expect("mkdir");
        assert_eq!(
            find(tmp.path(), &eff).as_deref(),
            Some("Default.htm"),
            "folders are not documents"
        );
    }
}
