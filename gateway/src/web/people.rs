//! The people pages' handlers: log in and out, enter an event (with a preview of its next
//! dates), my events (edit, cancel), anonymous submissions and their approval queue, and the
//! admin page (accounts, audit log). Every handler asks [`auth::caller`] who is asking and
//! [`crate::write::write_as`] to write, so pages and the write API share one rule.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use discal_protocol::{EventKey, Limits, NodeKey};
use discal_store::{AuditEntry, Query, Role};
use maud::html;

use super::auth::{self, Caller};
use super::form::{preview, EventForm, FieldErrors};
use super::people_html::{self as ui, t, Hidden, Lang};
use crate::accounts::{self, digest, secret};
use crate::api::token_matches;
use crate::write::{may_change, write_as};
use crate::{AppError, ClientAddr, Draft, Gateway, WriteError, WriteOp};

/// Largest form body read.
const MAX_FORM_BYTES: usize = 64 * 1024;
/// The double-submit cookie of forms shown before any session (login, anonymous entry).
pub(super) const FORM_COOKIE: &str = "discal_form";

pub(super) fn lang_of(h: &HeaderMap) -> Lang {
    let al = h
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if al.trim_start().to_ascii_lowercase().starts_with("de") {
        Lang::De
    } else {
        Lang::En
    }
}

pub(super) fn fields(body: &Bytes) -> Result<EventForm, AppError> {
    if body.len() > MAX_FORM_BYTES {
        return Err(AppError::TooLarge(format!(
            "a form of {} bytes; forms take at most {MAX_FORM_BYTES}",
            body.len()
        )));
    }
    Ok(EventForm::parse(body))
}

/// A form posted by someone logged in: who, and its fields, once its CSRF token checks out.
pub(super) fn signed_in_form(
    gw: &Gateway,
    h: &HeaderMap,
    body: &Bytes,
) -> Result<(Caller, EventForm), AppError> {
    let caller = auth::required(gw, h)?;
    let f = fields(body)?;
    auth::check_csrf(&caller, Some(f.get("csrf")))?;
    Ok((caller, f))
}

/// A queue's verb: true for `yes` (approve, confirm, accept), false for `no` (reject).
pub(super) fn verb_is(verb: &str, (yes, no): (&str, &str)) -> Result<bool, AppError> {
    match verb {
        v if v == yes => Ok(true),
        v if v == no => Ok(false),
        _ => Err(AppError::NotFound(format!(
            "no {verb:?} here: {yes} or {no}"
        ))),
    }
}

pub(super) fn see_other(location: &str, cookies: &[String]) -> Response {
    let mut r = (StatusCode::SEE_OTHER, "").into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    r
}

pub(super) fn with_cookie(mut r: Response, cookie: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

/// The double-submit token of a form shown before login: the cookie's, or a new one.
fn form_token(h: &HeaderMap) -> (String, bool) {
    match auth::cookie(h, FORM_COOKIE).filter(|c| c.len() == 64) {
        Some(c) => (c, false),
        None => (secret(), true),
    }
}

fn form_cookie_matches(h: &HeaderMap, given: &str) -> bool {
    auth::cookie(h, FORM_COOKIE)
        .is_some_and(|c| !given.is_empty() && token_matches(c.as_bytes(), given.as_bytes()))
}

fn me(gw: &Gateway) -> Result<NodeKey, AppError> {
    gw.node.key().ok_or_else(|| {
        AppError::Write(WriteError::Unavailable(
            "this gateway does not publish events".into(),
        ))
    })
}

/// `GET /login`.
pub async fn login_page(State(gw): State<Gateway>, h: HeaderMap) -> Response {
    let lang = lang_of(&h);
    let (token, new) = form_token(&h);
    let r = ui::page(
        StatusCode::OK,
        lang,
        t(lang, "Log in", "Anmelden"),
        None,
        ui::login(lang, &token, "", None),
    );
    if new {
        with_cookie(r, &auth::set_cookie(&gw, FORM_COOKIE, &token, 3600))
    } else {
        r
    }
}

/// `POST /login`: name and password; counted per account and per address.
pub async fn login(
    State(gw): State<Gateway>,
    h: HeaderMap,
    addr: Option<Extension<ClientAddr>>,
    body: Bytes,
) -> Result<Response, AppError> {
    let lang = lang_of(&h);
    let f = fields(&body)?;
    let (name, password, csrf) = (
        f.get("name").to_string(),
        f.get("password").to_string(),
        f.get("csrf"),
    );
    let title = t(lang, "Log in", "Anmelden");
    if !form_cookie_matches(&h, csrf) {
        let msg = t(
            lang,
            "The form expired; log in again.",
            "Das Formular ist abgelaufen; bitte erneut anmelden.",
        );
        let (token, _) = form_token(&h);
        let r = ui::page(
            StatusCode::FORBIDDEN,
            lang,
            title,
            None,
            ui::login(lang, &token, &name, Some(msg)),
        );
        return Ok(with_cookie(
            r,
            &auth::set_cookie(&gw, FORM_COOKIE, &token, 3600),
        ));
    }
    let mut keys = vec![format!("account:{}", name.to_lowercase())];
    if let Some(Extension(ClientAddr(ip))) = addr {
        keys.push(format!("address:{ip}"));
    }
    let now = (gw.clock)();
    if let Err(wait) = gw.people.login_allowed(&keys, now) {
        let msg = format!(
            "{} {wait} s.",
            t(
                lang,
                "Too many failed logins; try again in",
                "Zu viele Fehlversuche; erneut versuchen in"
            )
        );
        let body = html! { p.error role="alert" { (msg) } };
        return Ok(ui::page(
            StatusCode::TOO_MANY_REQUESTS,
            lang,
            title,
            None,
            body,
        ));
    }
    let store = gw.store.clone();
    let check_name = name.clone();
    // argon2 takes tens of milliseconds on purpose: off the async workers.
    let account =
        tokio::task::spawn_blocking(move || accounts::check_login(&store, &check_name, &password))
            .await?
            .map_err(AppError::internal)?;
    let Some(account) = account else {
        gw.people.login_failed(&keys, now);
        let msg = t(
            lang,
            "Wrong name or password.",
            "Name oder Passwort falsch.",
        );
        let r = ui::page(
            StatusCode::UNAUTHORIZED,
            lang,
            title,
            None,
            ui::login(lang, csrf, &name, Some(msg)),
        );
        return Ok(r);
    };
    let id = auth::start_session(&gw, &account.name)?;
    let cookie = auth::set_cookie(&gw, auth::cookie_name(&gw), &id, auth::SESSION_MS / 1000);
    Ok(see_other(
        "/my",
        &[cookie, auth::set_cookie(&gw, FORM_COOKIE, "", 0)],
    ))
}

/// `POST /logout`: ends the session (server-side too).
pub async fn logout(
    State(gw): State<Gateway>,
    h: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let (caller, _) = signed_in_form(&gw, &h, &body)?;
    if let Some(s) = caller.session {
        gw.store.remove_session(&s).map_err(AppError::internal)?;
    }
    Ok(see_other(
        "/login",
        &[auth::set_cookie(&gw, auth::cookie_name(&gw), "", 0)],
    ))
}

fn stamp(gw: &Gateway, at: i64) -> String {
    hex::encode(digest(&format!("{}:{at}", gw.admin_token)))
}

/// The hidden fields and cookie of the event form for this caller.
pub(super) fn hidden_for(
    gw: &Gateway,
    h: &HeaderMap,
    caller: Option<&Caller>,
) -> (String, Option<(i64, String)>, Option<String>) {
    match caller.and_then(|c| c.csrf.clone()) {
        Some(csrf) => (csrf, None, None),
        None => {
            let (token, new) = form_token(h);
            let at = (gw.clock)();
            let cookie = new.then(|| auth::set_cookie(gw, FORM_COOKIE, &token, 86_400));
            (token, Some((at, stamp(gw, at))), cookie)
        }
    }
}

pub(super) fn form_page(
    gw: &Gateway,
    h: &HeaderMap,
    caller: Option<&Caller>,
    (status, action, f, e, pv): (StatusCode, &str, &EventForm, &FieldErrors, &[String]),
) -> Response {
    let lang = lang_of(h);
    let (csrf, stamp, cookie) = hidden_for(gw, h, caller);
    let hidden = Hidden { csrf: &csrf, stamp };
    let title = if action == "/events/new" {
        t(lang, "Enter an event", "Termin eintragen")
    } else if action.starts_with("/propose/") {
        t(lang, "Propose a change", "Änderung vorschlagen")
    } else {
        t(lang, "Change the event", "Termin ändern")
    };
    // Above a proposal's form: what became of this person's earlier proposals on the event.
    let earlier = match (caller, action.strip_prefix("/propose/")) {
        (Some(c), Some(_)) => super::proposals::earlier(gw, c, lang, action),
        _ => maud::html! {},
    };
    let r = ui::page(
        status,
        lang,
        title,
        caller,
        maud::html! { (earlier) (ui::event_form(lang, action, f, e, &hidden, pv)) },
    );
    match cookie {
        Some(c) => with_cookie(r, &c),
        None => r,
    }
}

/// `GET /events/new`.
pub async fn new_event_page(State(gw): State<Gateway>, h: HeaderMap) -> Result<Response, AppError> {
    let caller = auth::caller(&gw, &h)?;
    let settings = gw.people.settings();
    if caller.is_none() && !settings.allow_anonymous {
        return Ok(see_other("/login", &[]));
    }
    let f = EventForm::blank(&settings.default_tz);
    Ok(form_page(
        &gw,
        &h,
        caller.as_ref(),
        (StatusCode::OK, "/events/new", &f, &FieldErrors::new(), &[]),
    ))
}

/// Why an anonymous submission is not taken, if it is not.
pub(super) fn anonymous_refusal(
    gw: &Gateway,
    h: &HeaderMap,
    f: &EventForm,
) -> Option<&'static str> {
    if !gw.people.settings().allow_anonymous {
        return Some("this node takes events from its members only: log in first");
    }
    if !form_cookie_matches(h, f.get("csrf")) {
        return Some("the form expired: reload it and send it again");
    }
    let at: i64 = f.get("t").parse().unwrap_or(0);
    let age = (gw.clock)() - at;
    let signed = token_matches(f.get("sig").as_bytes(), stamp(gw, at).as_bytes());
    let min = gw.people.settings().min_fill_ms;
    if !f.get("website").is_empty() || !signed || !(min..86_400_000).contains(&age) {
        return Some("the form was not filled in as a person would: reload it and try again");
    }
    None
}

/// The event a draft makes, for the preview (signed by nobody, stored nowhere).
fn preview_of(gw: &Gateway, draft: &Draft, tz: &str) -> Result<Vec<String>, String> {
    let ics = draft.to_ics("preview@discal").map_err(|e| e.to_string())?;
    // The key only names generated UIDs, and the preview's UID is given.
    let key = match gw.node.key() {
        Some(k) => k,
        None => discal_protocol::NodeSecret::from_seed(&[7; 32])
            .map_err(|e| e.to_string())?
            .public(),
    };
    let imp = discal_protocol::ics::parse_calendar(&ics, &key, &Limits::default())
        .map_err(|e| e.to_string())?;
    if let Some(e) = imp.errors.first() {
        return Err(e.to_string());
    }
    let tz = tz.parse().unwrap_or(chrono_tz::UTC);
    Ok(imp
        .events
        .first()
        .map(|e| preview(&e.content, tz, (gw.clock)(), 8))
        .unwrap_or_default())
}

/// `POST /events/new`: preview, save (logged in), or queue (anonymous).
pub async fn new_event(
    State(gw): State<Gateway>,
    h: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let f = fields(&body)?;
    let caller = auth::caller(&gw, &h)?;
    match &caller {
        Some(c) => auth::check_csrf(c, Some(f.get("csrf")))?,
        None => {
            if let Some(why) = anonymous_refusal(&gw, &h, &f) {
                let mut e = FieldErrors::new();
                e.insert("_", why.into());
                return Ok(form_page(
                    &gw,
                    &h,
                    None,
                    (StatusCode::BAD_REQUEST, "/events/new", &f, &e, &[]),
                ));
            }
        }
    }
    save_or_preview(&gw, &h, caller.as_ref(), "/events/new", &f, |draft| {
        let (gw, h, caller) = (gw.clone(), h.clone(), caller.clone());
        Box::pin(async move {
            match &caller {
                Some(c) => write_as(&gw, c, WriteOp::Create(draft))
                    .await
                    .map(|_| see_other("/my", &[])),
                None => queue(&gw, &h, &draft),
            }
        })
    })
    .await
}

pub(super) type Saved<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Response, AppError>> + Send + 'a>>;

/// Checks the form; previews it, or saves it with `save`. Field errors and the node's refusal
/// come back on the form, with everything typed.
pub(super) async fn save_or_preview<'a>(
    gw: &Gateway,
    h: &HeaderMap,
    caller: Option<&Caller>,
    action: &str,
    f: &EventForm,
    save: impl FnOnce(Draft) -> Saved<'a>,
) -> Result<Response, AppError> {
    let mut errors = FieldErrors::new();
    let draft = match f.draft() {
        Ok(d) => d,
        Err(e) => {
            return Ok(form_page(
                gw,
                h,
                caller,
                (StatusCode::UNPROCESSABLE_ENTITY, action, f, &e, &[]),
            ))
        }
    };
    let pv = match preview_of(gw, &draft, f.get("tz")) {
        Ok(p) => p,
        Err(why) => {
            errors.insert("_", format!("The event cannot be read: {why}"));
            return Ok(form_page(
                gw,
                h,
                caller,
                (StatusCode::UNPROCESSABLE_ENTITY, action, f, &errors, &[]),
            ));
        }
    };
    if f.get("action") != "save" {
        return Ok(form_page(
            gw,
            h,
            caller,
            (StatusCode::OK, action, f, &errors, &pv),
        ));
    }
    match save(draft).await {
        Err(AppError::Write(WriteError::BadRequest(why))) => {
            errors.insert("_", format!("The node did not take the event: {why}"));
            Ok(form_page(
                gw,
                h,
                caller,
                (StatusCode::UNPROCESSABLE_ENTITY, action, f, &errors, &pv),
            ))
        }
        other => other,
    }
}

fn queue(gw: &Gateway, h: &HeaderMap, draft: &Draft) -> Result<Response, AppError> {
    let lang = lang_of(h);
    let json = serde_json::to_string(draft).map_err(AppError::internal)?;
    let now = (gw.clock)();
    let id = gw
        .store
        .queue_submission(&json, now)
        .map_err(AppError::internal)?;
    audit(gw, "(anonymous)", "submit", &format!("submission {id}"))?;
    let body = html! { p { (t(lang, "Thank you. Your event waits for approval by the calendar's team.", "Danke. Ihr Termin wartet auf die Freigabe durch das Team des Kalenders.")) } };
    Ok(ui::page(
        StatusCode::ACCEPTED,
        lang,
        t(lang, "Sent", "Gesendet"),
        None,
        body,
    ))
}

pub(super) fn audit(
    gw: &Gateway,
    actor: &str,
    action: &str,
    subject: &str,
) -> Result<(), AppError> {
    gw.store
        .audit(&AuditEntry {
            at_ms: (gw.clock)(),
            actor: actor.into(),
            action: action.into(),
            subject: subject.into(),
        })
        .map_err(AppError::internal)
}

pub(super) fn session_caller(gw: &Gateway, h: &HeaderMap) -> Result<Option<Caller>, AppError> {
    Ok(auth::caller(gw, h)?.filter(|c| c.session.is_some()))
}

/// `GET /my`: the caller's events (an admin's: all of this node's).
pub async fn my_events(State(gw): State<Gateway>, h: HeaderMap) -> Result<Response, AppError> {
    let Some(caller) = session_caller(&gw, &h)? else {
        return Ok(see_other("/login", &[]));
    };
    let lang = lang_of(&h);
    let me = me(&gw)?;
    let events = if caller.is_admin() {
        let q = Query {
            origin: Some(me),
            include_cancelled: true,
            limit: 2000,
            ..Query::default()
        };
        gw.store
            .query(&q)
            .map_err(AppError::internal)?
            .hits
            .into_iter()
            .map(|e| e.event)
            .collect::<Vec<_>>()
    } else {
        let mut v = Vec::new();
        for uid in gw
            .store
            .owned_by(&caller.name)
            .map_err(AppError::internal)?
        {
            if let Some(e) = gw
                .store
                .get(&EventKey { origin: me, uid })
                .map_err(AppError::internal)?
            {
                v.push(e);
            }
        }
        v
    };
    let rows: Vec<(String, String, String, bool)> = events
        .iter()
        .map(|e| {
            let m = &e.content().master;
            let (d, tm) = (m.start.local(), m.start.tzid().unwrap_or(""));
            let start = format!(
                "{:04}-{:02}-{:02} {:02}:{:02} {tm}",
                d.date.year, d.date.month, d.date.day, d.hour, d.minute
            );
            (
                e.payload.uid.clone(),
                crate::display::line(
                    m.summary.as_deref().unwrap_or_default(),
                    crate::display::TITLE_MAX,
                )
                .into_owned(),
                start,
                e.content().is_cancelled(),
            )
        })
        .collect();
    let csrf = caller.csrf.clone().unwrap_or_default();
    Ok(ui::page(
        StatusCode::OK,
        lang,
        t(lang, "My events", "Meine Termine"),
        Some(&caller),
        ui::event_list(lang, &rows, &csrf),
    ))
}

fn own_event(
    gw: &Gateway,
    caller: &Caller,
    uid: &str,
) -> Result<discal_store::StoredEvent, AppError> {
    may_change(gw, caller, uid)?;
    gw.store
        .get(&EventKey {
            origin: me(gw)?,
            uid: uid.to_string(),
        })
        .map_err(AppError::internal)?
        .ok_or_else(|| AppError::NotFound(format!("no event {uid} of this node")))
}

/// `GET /my/{uid}/edit`.
pub async fn edit_page(
    State(gw): State<Gateway>,
    Path(uid): Path<String>,
    h: HeaderMap,
) -> Result<Response, AppError> {
    let Some(caller) = session_caller(&gw, &h)? else {
        return Ok(see_other("/login", &[]));
    };
    let e = own_event(&gw, &caller, &uid)?;
    let f = EventForm::of_event(&e);
    let action = format!("/my/{}/edit", crate::read::path_segment(&uid));
    Ok(form_page(
        &gw,
        &h,
        Some(&caller),
        (StatusCode::OK, &action, &f, &FieldErrors::new(), &[]),
    ))
}

/// `POST /my/{uid}/edit`: preview or save a change (a new revision).
pub async fn edit(
    State(gw): State<Gateway>,
    Path(uid): Path<String>,
    h: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let (caller, f) = signed_in_form(&gw, &h, &body)?;
    own_event(&gw, &caller, &uid)?;
    let action = format!("/my/{}/edit", crate::read::path_segment(&uid));
    let (gw2, c2) = (gw.clone(), caller.clone());
    save_or_preview(&gw, &h, Some(&caller), &action, &f, move |patch| {
        Box::pin(async move {
            write_as(&gw2, &c2, WriteOp::Update { uid, patch })
                .await
                .map(|_| see_other("/my", &[]))
        })
    })
    .await
}

/// `POST /my/{uid}/cancel`: a cancellation, never a deletion.
pub async fn cancel(
    State(gw): State<Gateway>,
    Path(uid): Path<String>,
    h: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let (caller, _) = signed_in_form(&gw, &h, &body)?;
    write_as(&gw, &caller, WriteOp::Cancel { uid }).await?;
    Ok(see_other("/my", &[]))
}

/// Whether `c` may decide on what waits for approval (submissions, proposals).
pub(super) fn may_approve(gw: &Gateway, c: &Caller) -> Result<(), AppError> {
    if c.is_admin() || gw.people.settings().users_confirm_changes {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "on this node only admins approve submissions".into(),
        ))
    }
}

/// `GET /queue`: anonymous submissions and sister sites waiting.
pub async fn queue_page(State(gw): State<Gateway>, h: HeaderMap) -> Result<Response, AppError> {
    let Some(caller) = session_caller(&gw, &h)? else {
        return Ok(see_other("/login", &[]));
    };
    let approves = may_approve(&gw, &caller).is_ok();
    if !approves && !super::sites::may_confirm(&gw, &caller) {
        may_approve(&gw, &caller)?;
    }
    let lang = lang_of(&h);
    let csrf = caller.csrf.clone().unwrap_or_default();
    let subs = if approves {
        gw.store.submissions().map_err(AppError::internal)?
    } else {
        Vec::new()
    };
    let sites = super::sites::queue_section(&gw, &caller, lang)?;
    let proposals = if approves {
        super::proposals::queue_section(&gw, &caller, lang)?
    } else {
        maud::html! {}
    };
    let body = html! {
        @if approves && subs.is_empty() { p { (t(lang, "No event waits.", "Kein Termin wartet.")) } }
        @for s in &subs {
            @let d: Draft = serde_json::from_str(&s.draft_json).unwrap_or_default();
            section.submission {
                h2 { (d.title.clone().unwrap_or_default()) }
                p { (d.start.clone().unwrap_or_default()) " " (d.tz.clone().unwrap_or_default()) " · " (d.location.clone().unwrap_or_default()) }
                p { (d.description.clone().unwrap_or_default()) }
                @for (verb, en, de) in [("approve", "Approve", "Freigeben"), ("reject", "Reject", "Ablehnen")] {
                    form.inline method="post" action={"/queue/" (s.id) "/" (verb)} {
                        input type="hidden" name="csrf" value=(csrf);
                        button type="submit" { (t(lang, en, de)) }
                    }
                }
            }
        }
        (proposals)
        (sites)
    };
    Ok(ui::page(
        StatusCode::OK,
        lang,
        t(lang, "Waiting for approval", "Freigabe"),
        Some(&caller),
        body,
    ))
}

/// `POST /queue/{id}/approve|reject`.
pub async fn decide(
    State(gw): State<Gateway>,
    Path((id, verb)): Path<(u64, String)>,
    h: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let (caller, _) = signed_in_form(&gw, &h, &body)?;
    may_approve(&gw, &caller)?;
    let approve = verb_is(&verb, ("approve", "reject"))?;
    let s = gw
        .store
        .take_submission(id)
        .map_err(AppError::internal)?
        .ok_or_else(|| AppError::NotFound(format!("no submission {id}")))?;
    if approve {
        let draft: Draft = serde_json::from_str(&s.draft_json).map_err(AppError::internal)?;
        if let Err(e) = write_as(&gw, &caller, WriteOp::Create(draft)).await {
            // Not lost: back in the queue.
            gw.store
                .queue_submission(&s.draft_json, s.submitted_ms)
                .map_err(AppError::internal)?;
            return Err(e);
        }
    }
    audit(&gw, &caller.name, &verb, &format!("submission {id}"))?;
    Ok(see_other("/queue", &[]))
}

fn admin(gw: &Gateway, h: &HeaderMap) -> Result<Option<Caller>, AppError> {
    match session_caller(gw, h)? {
        Some(c) if c.is_admin() => Ok(Some(c)),
        Some(_) => Err(AppError::Forbidden("the admin pages are for admins".into())),
        None => Ok(None),
    }
}

/// An admin's form post: the admin and the form, its CSRF token checked.
fn admin_form(gw: &Gateway, h: &HeaderMap, body: &Bytes) -> Result<(Caller, EventForm), AppError> {
    let caller =
        admin(gw, h)?.ok_or_else(|| AppError::Unauthorized("log in first (/login)".into()))?;
    let f = fields(body)?;
    auth::check_csrf(&caller, Some(f.get("csrf")))?;
    Ok((caller, f))
}

/// `GET /admin`: accounts and the audit log.
pub async fn admin_page(State(gw): State<Gateway>, h: HeaderMap) -> Result<Response, AppError> {
    let Some(caller) = admin(&gw, &h)? else {
        return Ok(see_other("/login", &[]));
    };
    let lang = lang_of(&h);
    let csrf = caller.csrf.clone().unwrap_or_default();
    let accounts = gw.store.accounts().map_err(AppError::internal)?;
    let log = gw.store.audit_log(100).map_err(AppError::internal)?;
    let status = gw.node.status().await;
    let cfg = gw.node.config();
    let body = html! {
        (ui::admin_peers(lang, &status, &csrf))
        (ui::admin_sources(lang, &gw.node.sources().await, &csrf))
        (ui::admin_push(lang, &gw.node.pushes().await, &csrf))
        (ui::admin_dedupe(lang, &gw.store.dedupe_choices().map_err(AppError::internal)?, &gw.public_url, &csrf))
        (ui::admin_settings(lang, &cfg, &csrf))
        h2 { (t(lang, "Accounts", "Konten")) }
        table { @for a in &accounts { tr {
            td.name { (a.name) } td { (a.role.as_str()) }
            td { @if a.disabled { (t(lang, "disabled", "gesperrt")) } @else {
                form.inline method="post" action={"/admin/users/" (a.name) "/disable"} {
                    input type="hidden" name="csrf" value=(csrf);
                    button type="submit" { (t(lang, "Disable", "Sperren")) }
                }
            } }
        } } }
        form method="post" action="/admin/users" {
            input type="hidden" name="csrf" value=(csrf);
            label { (t(lang, "Name", "Name")) " " input name="name" required; }
            select name="role" { option value="user" { "user" } option value="admin" { "admin" } }
            button type="submit" { (t(lang, "Add (shows a one-time password)", "Anlegen (zeigt ein Einmal-Passwort)")) }
        }
        h2 { (t(lang, "Audit log", "Protokoll")) }
        table { @for e in &log { tr.audit {
            td { (chrono::DateTime::from_timestamp_millis(e.at_ms).map(|d| d.format("%Y-%m-%d %H:%M").to_string()).unwrap_or_default()) }
            td { (e.actor) } td { (e.action) } td { (e.subject) }
        } } }
    };
    Ok(ui::page(StatusCode::OK, lang, "Admin", Some(&caller), body))
}

/// `POST /admin/users`: adds an account; its one-time password is shown once.
pub async fn admin_add_user(
    State(gw): State<Gateway>,
    h: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let (caller, f) = admin_form(&gw, &h, &body)?;
    let role = if f.get("role") == "admin" {
        Role::Admin
    } else {
        Role::User
    };
    let (store, name, actor, now) = (
        gw.store.clone(),
        f.get("name").to_string(),
        caller.name.clone(),
        (gw.clock)(),
    );
    let n2 = name.clone();
    let pw = tokio::task::spawn_blocking(move || {
        accounts::add_user(&store, &actor, &n2, role, None, now)
    })
    .await?
    .map_err(|e| AppError::BadRequest(e.to_string()))?;
    let lang = lang_of(&h);
    let body = html! {
        p { (t(lang, "Account added:", "Konto angelegt:")) " " strong { (name) } }
        p { (t(lang, "One-time password (shown once; the person changes it with `discal user passwd` or asks an admin):", "Einmal-Passwort (nur jetzt sichtbar):")) " " code.password { (pw.unwrap_or_default()) } }
        p { a href="/admin" { "Admin" } }
    };
    Ok(ui::page(
        StatusCode::CREATED,
        lang,
        "Admin",
        Some(&caller),
        body,
    ))
}

/// `POST /admin/users/{name}/disable`.
pub async fn admin_disable(
    State(gw): State<Gateway>,
    Path(name): Path<String>,
    h: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let (caller, _) = admin_form(&gw, &h, &body)?;
    accounts::set_disabled(&gw.store, &caller.name, &name, true, (gw.clock)())
        .map_err(|e| AppError::BadRequest(e.to_string()))?;
    Ok(see_other("/admin", &[]))
}

fn list_field(f: &EventForm, name: &str) -> Vec<String> {
    f.get(name)
        .split(',')
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

/// The change a `/admin/config/{what}` form asks for.
fn config_change(what: &str, f: &EventForm) -> Result<crate::ConfigChange, String> {
    use crate::ConfigChange as C;
    let num = |name: &str| -> Result<Option<f64>, String> {
        match f.get(name) {
            "" => Ok(None),
            v => v
                .parse()
                .map(Some)
                .map_err(|_| format!("{name}: {v:?} is not a number")),
        }
    };
    Ok(match what {
        "peer" => C::AddPeer {
            key: f.get("key").to_string(),
            address: Some(f.get("address").to_string()),
            name: Some(f.get("name").to_string()),
        },
        "source" => C::AddSource {
            name: Some(f.get("name").trim().to_string()).filter(|n| !n.is_empty()),
            url: f.get("url").trim().to_string(),
            kind: f.get("kind").to_string(),
            every: match f.get("every").trim() {
                "" => "1h".to_string(),
                e => e.to_string(),
            },
            tags: list_field(f, "tags"),
            tz: Some(f.get("tz").trim().to_string()).filter(|z| !z.is_empty()),
        },
        "push" => C::AddPushTarget {
            name: f.get("name").trim().to_string(),
            url: f.get("url").trim().to_string(),
            filter: f.get("filter").trim().trim_start_matches('?').to_string(),
            secret: Some(f.get("secret").trim().to_string()).filter(|s| !s.is_empty()),
        },
        "filters" => C::Filters {
            max_hop: match f.get("max_hop") {
                "" => None,
                v => Some(
                    v.parse()
                        .map_err(|_| format!("max_hop: {v:?} is not 0 to 255"))?,
                ),
            },
            near: match (num("lat")?, num("lon")?, num("radius_km")?) {
                (Some(lat), Some(lon), Some(r)) => Some(([lat, lon], r)),
                (None, None, None) => None,
                _ => return Err("near: give latitude, longitude and radius, or none".into()),
            },
            require_tags: list_field(f, "require_tags"),
            drop_tags: list_field(f, "drop_tags"),
        },
        "settings" => {
            let set = |k: &str| Some(f.get(k).trim().to_string()).filter(|v| !v.is_empty());
            C::Settings(crate::NodeSettings {
                name: f.get("name").to_string(),
                public_url: set("public_url"),
                description: set("description"),
                language: f.get("language").to_string(),
                default_tz: f.get("default_tz").to_string(),
                allow_anonymous: f.ticked("allow_anonymous"),
                users_confirm_changes: f.ticked("users_confirm_changes"),
                users_register_sites: f.ticked("users_register_sites"),
                users_confirm_sites: f.ticked("users_confirm_sites"),
                map_tiles: set("map_tiles"),
                map_attribution: set("map_attribution"),
            })
        }
        other => {
            return Err(format!(
                "no {other:?} here: peer, source, filters or settings"
            ))
        }
    })
}

/// `POST /admin/config/{peer|filters|settings}` and `POST /admin/peers/{key}/remove`: written
/// to the config file (comments kept) and applied by the running node.
pub async fn admin_config(
    State(gw): State<Gateway>,
    Path(what): Path<String>,
    h: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let (caller, f) = admin_form(&gw, &h, &body)?;
    let change = config_change(&what, &f).map_err(AppError::BadRequest)?;
    apply_config(&gw, &caller, change, &what).await
}

/// `POST /admin/peers/{key}/remove`.
pub async fn admin_remove_peer(
    State(gw): State<Gateway>,
    Path(key): Path<String>,
    h: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let (caller, _) = admin_form(&gw, &h, &body)?;
    apply_config(
        &gw,
        &caller,
        crate::ConfigChange::RemovePeer { key: key.clone() },
        &format!("remove peer {key}"),
    )
    .await
}

/// `POST /admin/sources/{name}/{remove|run}`: unsubscribes, or polls it now.
pub async fn admin_source(
    State(gw): State<Gateway>,
    Path((name, verb)): Path<(String, String)>,
    h: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let (caller, _) = admin_form(&gw, &h, &body)?;
    if verb_is(&verb, ("run", "remove"))? {
        gw.node.poll_source(name.clone()).await?;
        audit(&gw, &caller.name, "poll source", &name)?;
        return Ok(see_other("/admin", &[]));
    }
    apply_config(
        &gw,
        &caller,
        crate::ConfigChange::RemoveSource { name: name.clone() },
        &format!("remove source {name}"),
    )
    .await
}

/// `POST /admin/dedupe`: the admin page's form for a dedupe correction (two event pages).
pub async fn admin_dedupe(
    State(gw): State<Gateway>,
    h: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let (caller, f) = admin_form(&gw, &h, &body)?;
    let listing_of = |u: &str| crate::read::event_of_page(u).map_err(AppError::BadRequest);
    let (a, b) = (listing_of(f.get("a"))?, listing_of(f.get("b"))?);
    crate::users_api::correct_dedupe(
        &gw,
        &caller.name,
        (&a.0, &a.1),
        (&b.0, &b.1),
        f.get("action"),
    )?;
    Ok(see_other("/admin", &[]))
}

/// `POST /admin/push/{id}/{verb}`: approve, refuse or remove a hub subscription; resume a
/// dead destination; `drop` a push target from the config.
pub async fn admin_push(
    State(gw): State<Gateway>,
    Path((id, verb)): Path<(String, String)>,
    h: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let (caller, _) = admin_form(&gw, &h, &body)?;
    if verb == "drop" {
        return apply_config(
            &gw,
            &caller,
            crate::ConfigChange::RemovePushTarget { name: id.clone() },
            &format!("remove push target {id}"),
        )
        .await;
    }
    gw.node
        .push(crate::PushRequest::Decide {
            id,
            verb,
            by: caller.name.clone(),
        })
        .await?;
    Ok(see_other("/admin", &[]))
}

async fn apply_config(
    gw: &Gateway,
    caller: &Caller,
    change: crate::ConfigChange,
    what: &str,
) -> Result<Response, AppError> {
    gw.node.configure(change).await?;
    audit(gw, &caller.name, "config", what)?;
    Ok(see_other("/admin", &[]))
}
