//! Entry point for fuzzing CalDAV request bodies (`fuzz/fuzz_targets/dav_body.rs`; its seed
//! corpus runs in the normal suite): a body is parsed and, if it parses, run as a PROPFIND and
//! as a REPORT on the root and on the aggregate calendar of a small gateway. Must never panic,
//! and the bounds hold for whatever it asks.

use std::sync::{Arc, OnceLock};

use axum::http::HeaderMap;
use discal_store::Store;

use super::path::{Coll, Res};
use super::{propfind, report, xml};
use crate::api::{BoxFuture, NodeApi, WriteError, WriteOp, Written};
use crate::Gateway;

/// A node that writes nothing.
struct ReadOnly;

impl NodeApi for ReadOnly {
    fn write(&self, _: WriteOp) -> BoxFuture<'_, Result<Vec<Written>, WriteError>> {
        Box::pin(async { Err(WriteError::Forbidden("fuzzing".into())) })
    }
    fn status(&self) -> BoxFuture<'_, serde_json::Value> {
        Box::pin(async { serde_json::Value::Null })
    }
    fn metrics(&self) -> String {
        String::new()
    }
}

fn gateway() -> &'static Gateway {
    static GW: OnceLock<Gateway> = OnceLock::new();
    GW.get_or_init(|| {
        Gateway::new(
            Arc::new(Store::memory()),
            Arc::new(ReadOnly),
            "token",
            "fuzz",
            "http://fuzz",
        )
    })
}

/// Parses `data` as a CalDAV request body and runs it.
pub fn dav_body(data: &[u8]) {
    let Ok(root) = xml::parse(data) else {
        return;
    };
    let gw = gateway();
    for res in [Res::Root, Res::Home, Res::Coll(Coll::All)] {
        let _ = report::report(gw, &res, &root, None);
        let mut headers = HeaderMap::new();
        headers.insert("depth", axum::http::HeaderValue::from_static("1"));
        let _ = propfind::propfind(gw, &res, &headers, data, None);
    }
}
