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

/// Events for the reports' filters and expansions to work on: a weekly series in a zone
/// with a moved instance, and a one-off with parameters and categories.
const EVENTS: &str = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:weekly@fuzz\r\n\
    DTSTART;TZID=Europe/Berlin:20270105T190000\r\nDURATION:PT2H\r\nRRULE:FREQ=WEEKLY\r\n\
    SUMMARY:Weekly \\, fuzz\r\nCATEGORIES:a,b\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:weekly@fuzz\r\n\
    RECURRENCE-ID;TZID=Europe/Berlin:20270112T190000\r\nDTSTART;TZID=Europe/Berlin:20270112T200000\r\n\
    DURATION:PT2H\r\nSUMMARY:Moved\r\nSTATUS:TENTATIVE\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\n\
    UID:once@fuzz\r\nDTSTART:20270110T100000Z\r\nDTEND:20270110T110000Z\r\nSUMMARY:Once\r\n\
    LOCATION;LANGUAGE=de:Berlin\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

fn store() -> Store {
    let store = Store::memory();
    let Ok(secret) = discal_protocol::NodeSecret::from_seed(&[7; 32]) else {
        return store;
    };
    let limits = discal_protocol::Limits::default();
    if let Ok(import) = discal_protocol::ics::parse_calendar(EVENTS, &secret.public(), &limits) {
        for e in import.events {
            if let Ok(ev) = discal_protocol::sign(&secret, e.uid, 0, 0, e.content, &limits) {
                let _ = store.apply(&ev, discal_store::Transit::local(), 0);
            }
        }
    }
    store
}

fn gateway() -> &'static Gateway {
    static GW: OnceLock<Gateway> = OnceLock::new();
    GW.get_or_init(|| {
        Gateway::new(
            Arc::new(store()),
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
