//! The push routes (docs/operators.md, "Push"): the node's published key, its WebSub hub,
//! the endpoint sister sites push to, and the admin's view and decisions. The node does the
//! work; these routes only carry requests to it and its answers back.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::api::{PushReply, PushRequest, Pushed};
use crate::{AppError, Gateway};

fn reply(r: PushReply) -> Response {
    match r {
        PushReply::Accepted(t) => crate::text(StatusCode::ACCEPTED, t),
        // A WebSub challenge is echoed byte for byte.
        PushReply::Text(t) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            t,
        )
            .into_response(),
        PushReply::Json(v) => axum::Json(v).into_response(),
    }
}

/// `GET /.well-known/discal-push`: how this node signs its pushes, and its key.
pub async fn well_known(State(gw): State<Gateway>) -> Result<Response, AppError> {
    let key = gw
        .node
        .key()
        .ok_or_else(|| AppError::NotFound("this gateway has no node key".into()))?;
    Ok(axum::Json(serde_json::json!({
        "keyid": key.to_string(),
        "alg": "ed25519",
        "public_key": base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            key.as_bytes()
        ),
        "public_key_pem": discal_protocol::httpsig::public_key_pem(&key),
        "label": discal_protocol::httpsig::LABEL,
        "components": discal_protocol::httpsig::COMPONENTS,
        "params": ["created", "nonce", "keyid", "alg"],
        "max_skew_seconds": discal_protocol::httpsig::MAX_SKEW_SECS,
        "hub": format!("{}/websub", gw.public_url),
        "push_to_me": format!("{}/push/in/{{name}}", gw.public_url),
    }))
    .into_response())
}

/// `POST /websub`: a WebSub subscriber (a sister site, any WebSub client) asks to follow a
/// feed of this node; 202 and the intent check follows, or 400 with the reason.
pub async fn hub(
    State(gw): State<Gateway>,
    h: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let ct = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.starts_with("application/x-www-form-urlencoded") {
        return Err(AppError::UnsupportedMediaType(
            "a hub request is a form: application/x-www-form-urlencoded".into(),
        ));
    }
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    Ok(reply(gw.node.push(PushRequest::Hub(form)).await?))
}

/// `GET /push/in/{name}`: a hub checks that this node asked to subscribe.
pub async fn confirm(
    State(gw): State<Gateway>,
    Path(name): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    Ok(reply(
        gw.node.push(PushRequest::Confirm { name, query }).await?,
    ))
}

/// `POST /push/in/{name}`: a sister site pushes an event.
pub async fn receive(
    State(gw): State<Gateway>,
    Path(name): Path<String>,
    uri: axum::http::Uri,
    h: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let pushed = Pushed {
        name,
        target_uri: format!("{}{path}", gw.public_url),
        content_type: get("content-type").unwrap_or_default(),
        content_digest: get("content-digest"),
        signature_input: get("signature-input"),
        signature: get("signature"),
        body: body.to_vec(),
    };
    Ok(reply(
        gw.node.push(PushRequest::Receive(Box::new(pushed))).await?,
    ))
}

/// `GET /api/push`: destinations, subscriptions and inbound sites (admin token).
pub async fn list(State(gw): State<Gateway>, h: HeaderMap) -> Result<Response, AppError> {
    crate::users_api::admin(&gw, &h)?;
    Ok(axum::Json(gw.node.pushes().await).into_response())
}

/// `POST /api/push/{id}/{verb}`: approve, refuse or remove a subscription; resume a dead
/// destination (admin token).
pub async fn decide(
    State(gw): State<Gateway>,
    h: HeaderMap,
    Path((id, verb)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let by = crate::users_api::admin(&gw, &h)?;
    Ok(reply(
        gw.node.push(PushRequest::Decide { id, verb, by }).await?,
    ))
}
