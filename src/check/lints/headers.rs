//! Response headers as IIS writes them (IISN6028, IISN6029; iis-webconfig.md,
//! customHeaders).
//!
//! IIS does not validate a custom header's name: `<add name="X Bad" value="x"/>` is sent
//! as the line `X Bad: x` (observed on IIS 10), which a client that checks header names
//! (node's HTTP parser, for one) refuses with the whole response. iisn cannot write such a
//! line and leaves the entry out, so the site would work here and break there: said where
//! the entry is written.
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
    unsendable_names(ctx);
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

/// IISN6029: a custom header whose name is not an HTTP token (a space, a colon, ...).
fn unsendable_names(ctx: &mut Ctx<'_>) {
    let mut found = Vec::new();
    for block in ctx.sections() {
        let Some(headers) = &block.sections.custom_headers else {
            continue;
        };
        for op in &headers.ops {
            let CollectionOp::Add(h) = op else {
                continue;
            };
            let name = h.name.value.trim();
            if h.value.value.trim().is_empty()
                || http::HeaderName::from_bytes(name.as_bytes()).is_ok()
            {
                continue;
            }
            found.push(
                Diagnostic::new(
                    &codes::CUSTOM_HEADER_NAME_INVALID,
                    format!(
                        "custom header name `{name}` is not a valid HTTP header name: IIS sends the line `{name}: ...` as written and clients that check header names refuse the response, while iisn leaves the header out"
                    ),
                )
                .at(h.name.span)
                .help("Use letters, digits and `-` only in the name (X-Custom-Header)."),
            );
        }
    }
    for d in found {
        ctx.push(d);
    }
}
