//! One pass of each CalDAV request kind through the router at start, so the first client after
//! a start is served at the speed of later ones.

use axum::http::{header, StatusCode};

use super::path::item_name;
use crate::Gateway;

/// Events named in [`warm_up`]'s large multiget: more than a client's usual batch, enough that
/// the answer is rendered on two threads as large ones are.
pub const WARM_UP_ITEMS: usize = 250;

/// Runs one request of each CalDAV report kind (and a PROPFIND) through the router, so the
/// code paths, lazily built tables and allocator pools that the first report after a start
/// would set up are ready before a client comes: a CalDAV client's first sync then costs what
/// later ones do. The store is only read; the statuses are returned (all 207 when it worked).
///
/// - The large multiget names up to [`WARM_UP_ITEMS`] events, as a client's first multiget
///   does: without it a first large report pays the page faults of the allocator growing its
///   heap (and moving its mmap threshold) for the first large answer.
/// - A multiget of 100 events runs on the worker thread that serves it (see
///   `runs_inline`), and a thread's first one costs more (its allocator arena grows, its
///   parsed keys are empty). So the requests run once per runtime worker, side by side, each
///   worker being likely to take one pass.
///
/// The figures behind both are in docs/performance.md (CalDAV, cold against warm).
pub async fn warm_up(gw: &Gateway) -> Vec<StatusCode> {
    let requests = std::sync::Arc::new(warm_up_requests(gw));
    let workers = tokio::runtime::Handle::current().metrics().num_workers();
    let passes: Vec<_> = (0..workers.max(1))
        .map(|_| tokio::spawn(warm_up_pass(gw.clone(), requests.clone())))
        .collect();
    let mut statuses = Vec::new();
    for pass in passes {
        match pass.await {
            Ok(s) => statuses.extend(s),
            Err(e) => tracing::warn!("warm-up pass: {e}"),
        }
    }
    statuses
}

/// (method, Depth, body) of each warm-up request, all to the aggregate calendar.
fn warm_up_requests(gw: &Gateway) -> Vec<(&'static str, &'static str, String)> {
    let newest = gw.store.changes_since(0, WARM_UP_ITEMS).unwrap_or_default();
    let hrefs: Vec<String> = newest
        .iter()
        .map(|e| {
            format!(
                "<D:href>/dav/calendars/all/{}</D:href>",
                item_name(&e.payload.origin, &e.payload.uid)
            )
        })
        .collect();
    let prop = "<D:prop><D:getetag/><C:calendar-data/></D:prop>";
    let ns = r#"xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav""#;
    let multiget = |hrefs: &[String]| {
        format!(
            "<C:calendar-multiget {ns}>{prop}{}</C:calendar-multiget>",
            hrefs.concat()
        )
    };
    // The current month, which calendar apps that sync a time range ask first.
    let now = chrono::DateTime::from_timestamp_millis((gw.clock)()).unwrap_or_default();
    let month = now.format("%Y%m01T000000Z").to_string();
    let next = (chrono::Datelike::with_day(&now.date_naive(), 1).unwrap_or_default()
        + chrono::Months::new(1))
    .format("%Y%m%dT000000Z")
    .to_string();
    vec![
        (
            "PROPFIND",
            "0",
            format!(r#"<D:propfind {ns}><D:allprop/></D:propfind>"#),
        ),
        // The ETag listing every client's first sync starts with; its answer is the largest,
        // so the allocator's heap is grown for large answers here rather than on a client's time.
        (
            "PROPFIND",
            "1",
            format!(r#"<D:propfind {ns}><D:prop><D:getetag/></D:prop></D:propfind>"#),
        ),
        ("REPORT", "1", multiget(&hrefs)),
        ("REPORT", "1", multiget(&hrefs[..hrefs.len().min(100)])),
        // The initial sync-collection, which clients that speak RFC 6578 start with instead of
        // the listing above: its first answer after a start is otherwise slow too.
        (
            "REPORT",
            "1",
            format!(
                r#"<D:sync-collection {ns}><D:sync-token></D:sync-token><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>"#
            ),
        ),
        (
            "REPORT",
            "1",
            format!(
                r#"<C:calendar-query {ns}>{prop}<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="{month}" end="{next}"/></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"#
            ),
        ),
    ]
}

async fn warm_up_pass(
    gw: Gateway,
    requests: std::sync::Arc<Vec<(&'static str, &'static str, String)>>,
) -> Vec<StatusCode> {
    use tower::ServiceExt;
    let mut statuses = Vec::new();
    for (method, depth, body) in requests.iter() {
        let Ok(method) = axum::http::Method::from_bytes(method.as_bytes()) else {
            continue;
        };
        let Ok(req) = axum::http::Request::builder()
            .method(method)
            .uri("/dav/calendars/all/")
            .header("Depth", *depth)
            .header(header::CONTENT_TYPE, "application/xml; charset=utf-8")
            .body(axum::body::Body::from(body.clone()))
        else {
            continue;
        };
        let Ok(resp) = crate::router(gw.clone()).oneshot(req).await;
        statuses.push(resp.status());
        let _ = axum::body::to_bytes(resp.into_body(), usize::MAX).await;
    }
    statuses
}
