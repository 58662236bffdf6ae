//! Response headers as IIS writes them (IISN6028; iis-webconfig.md, customHeaders).
//!
//! IIS writes `Server: Microsoft-IIS/10.0` itself, outside the `customHeaders` collection:
//! a `<remove name="Server"/>` there is accepted and changes nothing (observed on IIS 10),
//! yet it is a common "hardening" line. Said where it is written, unless the same folder
//! does remove the header another way (`removeServerHeader`, or an outbound rule on
//! `RESPONSE_Server`).

use crate::config::web_config::CollectionOp;
use crate::diag::{Diagnostic, codes};

use super::Ctx;

pub fn run(ctx: &mut Ctx<'_>) {
    for block in ctx.sections() {
        let Some(headers) = &block.sections.custom_headers else {
            continue;
        };
        let Some(name) = headers.ops.iter().find_map(|op| match op {
            CollectionOp::Remove(name) if name.value.trim().eq_ignore_ascii_case("Server") => {
                Some(name)
            }
            _ => None,
        }) else {
            continue;
        };
        let eff = ctx.effective(&block.dir_rel);
        let rule_removes = eff.outbound_rules.iter().any(|r| {
            r.item.enabled
                && r.item
                    .match_
                    .as_ref()
                    .and_then(|m| m.server_variable.as_ref())
                    .is_some_and(|v| v.value.trim().eq_ignore_ascii_case("RESPONSE_Server"))
        });
        if eff.remove_server_header || rule_removes {
            continue;
        }
        ctx.push(
            Diagnostic::new(
                &codes::SERVER_HEADER_REMOVE,
                "`<remove name=\"Server\"/>` in customHeaders does not remove IIS's `Server: Microsoft-IIS/10.0`: IIS writes that header itself, so every response still sends it",
            )
            .at(name.span)
            .help("Set `<security><requestFiltering removeServerHeader=\"true\"/></security>` (IIS 10, version 1709 and later), or blank it with an outbound rule on RESPONSE_Server."),
        );
    }
}
