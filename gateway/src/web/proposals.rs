//! Proposals in the browser and on the wire (docs/protocol.md §12). At the reader's node:
//! "Propose a change" opens the event's form (`/propose/{origin}/{uid}`, logged in here), and
//! `/my/proposals` shows what became of each. At the origin: the X-REVISE-URL
//! (`/events/{origin}/{uid}/revise`) takes signed proposals by POST and answers with a signed
//! receipt, and for a person arriving from a feed reader it is a page saying how to propose;
//! held proposals wait in `/queue`, base, current and proposed side by side.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use discal_protocol::proposal::{
    lines_named, master_lines, stored_proposal, Change, Outcome, RsvpAnswer, Signed,
};
use discal_protocol::{EventKey, NodeKey};
use discal_store::StoredEvent;
use maud::{html, Markup};

use super::auth::{self, Caller};
use super::form::{EventForm, FieldErrors};
use super::people::{
    fields, form_page, lang_of, may_approve, save_or_preview, see_other, session_caller,
    signed_in_form, verb_is,
};
use super::people_html::{self as ui, t, Lang};
use crate::read::{parse_origin, path_segment};
use crate::{AppError, Draft, Gateway, ProposalReply, ProposalRequest, WriteError};

/// The media types of a signed proposal and of its receipt.
pub const PROPOSAL_TYPE: &str = "application/x-discal-proposal";
/// See [`PROPOSAL_TYPE`].
pub const RECEIPT_TYPE: &str = "application/x-discal-receipt";

/// Largest proposal body read (a payload's cap and its framing).
const MAX_BODY: usize = discal_protocol::proposal::MAX_PROPOSAL_BYTES + 80;

fn hex(id: &[u8]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<[u8; 16]> {
    let mut out = [0u8; 16];
    if s.len() != 32 {
        return None;
    }
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn event(gw: &Gateway, origin: NodeKey, uid: &str) -> Result<StoredEvent, AppError> {
    gw.store
        .get(&EventKey {
            origin,
            uid: uid.to_string(),
        })?
        .ok_or_else(|| AppError::NotFound(format!("no event {uid:?} from {origin} here")))
}

/// `POST /events/{origin}/{uid}/revise`: a signed proposal in, the signed receipt out.
pub async fn receive(gw: &Gateway, h: &HeaderMap, body: &Bytes) -> Result<Response, AppError> {
    let kind = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !kind.starts_with(PROPOSAL_TYPE) {
        return Err(AppError::UnsupportedMediaType(format!(
            "a proposal is sent as {PROPOSAL_TYPE} (docs/protocol.md §12); people propose \
             changes on the page at this address"
        )));
    }
    if body.len() > MAX_BODY {
        return Err(AppError::TooLarge(format!(
            "a proposal of {} bytes; at most {MAX_BODY}",
            body.len()
        )));
    }
    match gw
        .node
        .proposal(ProposalRequest::Receive(body.to_vec()))
        .await?
    {
        ProposalReply::Receipt(r) => {
            Ok(([(header::CONTENT_TYPE, RECEIPT_TYPE)], r).into_response())
        }
        other => Err(AppError::internal(format!("unexpected answer {other:?}"))),
    }
}

/// `GET /events/{origin}/{uid}/revise`: for a person who followed X-REVISE-URL.
pub fn revise_page(
    gw: &Gateway,
    h: &HeaderMap,
    origin: NodeKey,
    uid: &str,
) -> Result<Response, AppError> {
    let lang = lang_of(h);
    let ev = event(gw, origin, uid)?;
    let caller = session_caller(gw, h)?;
    let title = ev.content().master.summary.clone().unwrap_or_default();
    let own = gw.node.key() == Some(origin);
    let here = if own {
        format!("/my/{}/edit", path_segment(uid))
    } else {
        format!("/propose/{origin}/{}", path_segment(uid))
    };
    let body = html! {
        p { (t(lang, "Changes to an event are made by the node that published it. To propose one:",
               "Änderungen an einem Termin macht der Knoten, der ihn veröffentlicht hat. So schlagen Sie eine vor:")) }
        ul {
            li { a href=(here) { (t(lang, "propose it here", "hier vorschlagen")) } " "
                 @if caller.is_none() { (t(lang, "(after logging in on this node)", "(nach der Anmeldung auf diesem Knoten)")) } }
            li { (t(lang, "or open the event on your own DisCal node and use “Propose a change” there.",
                    "oder den Termin auf Ihrem eigenen DisCal-Knoten öffnen und dort „Änderung vorschlagen“ wählen.")) }
        }
        p { a href=(crate::display::event_path(&ev)) { (title) } }
    };
    Ok(ui::page(
        StatusCode::OK,
        lang,
        t(lang, "Propose a change", "Änderung vorschlagen"),
        caller.as_ref(),
        body,
    ))
}

/// `GET /propose/{origin}/{uid}`: the event's form, to propose a change to it.
pub async fn propose_page(
    State(gw): State<Gateway>,
    Path((origin, uid)): Path<(String, String)>,
    h: HeaderMap,
) -> Result<Response, AppError> {
    let Some(caller) = session_caller(&gw, &h)? else {
        return Ok(see_other("/login", &[]));
    };
    let origin = parse_origin(&origin)?;
    if gw.node.key() == Some(origin) {
        return Ok(see_other(&format!("/my/{}/edit", path_segment(&uid)), &[]));
    }
    let ev = event(&gw, origin, &uid)?;
    let f = EventForm::of_event(&ev);
    let action = format!("/propose/{origin}/{}", path_segment(&uid));
    Ok(form_page(
        &gw,
        &h,
        Some(&caller),
        (StatusCode::OK, &action, &f, &FieldErrors::new(), &[]),
    ))
}

/// `POST /propose/{origin}/{uid}`: preview, or sign the proposal into the outbox.
/// `action=cancel` proposes to cancel the event.
pub async fn propose(
    State(gw): State<Gateway>,
    Path((origin, uid)): Path<(String, String)>,
    h: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let (caller, f) = signed_in_form(&gw, &h, &body)?;
    let origin = parse_origin(&origin)?;
    event(&gw, origin, &uid)?;
    let make = |patch: Draft, cancel| ProposalRequest::Make {
        origin,
        uid: uid.clone(),
        patch: Box::new(patch),
        cancel,
        account: caller.name.clone(),
    };
    if f.get("action") == "cancel" {
        gw.node.proposal(make(Default::default(), true)).await?;
        return Ok(see_other("/my/proposals", &[]));
    }
    let action = format!("/propose/{origin}/{}", path_segment(&uid));
    let gw2 = gw.clone();
    save_or_preview(&gw, &h, Some(&caller), &action, &f, move |patch| {
        Box::pin(async move {
            gw2.node
                .proposal(make(patch, false))
                .await
                .map(|_| see_other("/my/proposals", &[]))
                .map_err(AppError::from)
        })
    })
    .await
}

fn answer_words(lang: Lang, a: RsvpAnswer) -> &'static str {
    match a {
        RsvpAnswer::Going => t(lang, "going", "dabei"),
        RsvpAnswer::Maybe => t(lang, "maybe", "vielleicht"),
        RsvpAnswer::NotGoing => t(lang, "not going", "nicht dabei"),
        RsvpAnswer::Withdrawn => t(lang, "answer taken back", "Antwort zurückgenommen"),
    }
}

/// The answers, as buttons.
fn answer_buttons(lang: Lang) -> Markup {
    html! {
        @for (v, a) in [("going", RsvpAnswer::Going), ("maybe", RsvpAnswer::Maybe), ("not-going", RsvpAnswer::NotGoing), ("withdrawn", RsvpAnswer::Withdrawn)] {
            button type="submit" name="answer" value=(v) { (answer_words(lang, a)) } " "
        }
    }
}

/// `GET /rsvp/{origin}/{uid}`: say whether you are coming (logged in here, or with a name when
/// the node takes anonymous submissions).
pub async fn rsvp_page(
    State(gw): State<Gateway>,
    Path((origin, uid)): Path<(String, String)>,
    h: HeaderMap,
) -> Result<Response, AppError> {
    let caller = session_caller(&gw, &h)?;
    if caller.is_none() && !gw.people.settings().allow_anonymous {
        return Ok(see_other("/login", &[]));
    }
    let lang = lang_of(&h);
    let origin = parse_origin(&origin)?;
    let ev = event(&gw, origin, &uid)?;
    let (csrf, stamp, cookie) = super::people::hidden_for(&gw, &h, caller.as_ref());
    let action = format!("/rsvp/{origin}/{}", path_segment(&uid));
    let body = html! {
        p { a href=(crate::display::event_path(&ev)) { (crate::display::line(ev.content().master.summary.as_deref().unwrap_or_default(), crate::display::TITLE_MAX)) } }
        p { (t(lang, "Your name goes to the node that published the event, for its organisers; the calendars show only how many are coming.",
               "Ihr Name geht an den Knoten, der den Termin veröffentlicht hat, für die Veranstalter; die Kalender zeigen nur, wie viele kommen.")) }
        form method="post" action=(action) {
            input type="hidden" name="csrf" value=(csrf);
            @if let Some((at, sig)) = &stamp {
                input type="hidden" name="t" value=(at);
                input type="hidden" name="sig" value=(sig);
                label.trap aria-hidden="true" { "Website " input name="website" tabindex="-1" autocomplete="off"; }
                label.field { (t(lang, "Your name", "Ihr Name")) " " input name="name" required maxlength="100"; }
            }
            (answer_buttons(lang))
        }
    };
    let r = ui::page(
        StatusCode::OK,
        lang,
        t(lang, "Are you coming?", "Sind Sie dabei?"),
        caller.as_ref(),
        body,
    );
    Ok(match cookie {
        Some(c) => super::people::with_cookie(r, &c),
        None => r,
    })
}

/// Who answers: a logged-in account, or an anonymous visitor by name (told apart by their
/// browser's form cookie, so they can change or take back their answer).
fn answerer(gw: &Gateway, h: &HeaderMap, f: &EventForm) -> Result<(String, String), AppError> {
    if let Some(c) = auth::caller(gw, h)? {
        auth::check_csrf(&c, Some(f.get("csrf")))?;
        return Ok((c.name.clone(), c.name));
    }
    if let Some(why) = super::people::anonymous_refusal(gw, h, f) {
        return Err(AppError::Forbidden(why.into()));
    }
    let name = f.get("name");
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(AppError::BadRequest(
            "give your name (one line, at most 100 characters)".into(),
        ));
    }
    let browser = auth::cookie(h, super::people::FORM_COOKIE).unwrap_or_default();
    let id = hex(&crate::accounts::digest(&browser)[..8]);
    Ok((format!("anonymous:{id}"), format!("{name} (anonymous)")))
}

/// `POST /rsvp/{origin}/{uid}`: the answer, counted here or sent to the origin.
pub async fn rsvp(
    State(gw): State<Gateway>,
    Path((origin, uid)): Path<(String, String)>,
    h: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let f = fields(&body)?;
    let (account, name) = answerer(&gw, &h, &f)?;
    let origin = parse_origin(&origin)?;
    let ev = event(&gw, origin, &uid)?;
    let answer = match f.get("answer") {
        "going" => RsvpAnswer::Going,
        "maybe" => RsvpAnswer::Maybe,
        "not-going" => RsvpAnswer::NotGoing,
        "withdrawn" => RsvpAnswer::Withdrawn,
        other => {
            return Err(AppError::BadRequest(format!(
                "answer {other:?}: going, maybe, not-going or withdrawn"
            )))
        }
    };
    let anonymous = account.starts_with("anonymous:");
    let reply = gw
        .node
        .proposal(ProposalRequest::Rsvp {
            origin,
            uid,
            answer,
            account,
            name,
        })
        .await?;
    Ok(match reply {
        ProposalReply::Made(_) if !anonymous => see_other("/my/proposals", &[]),
        _ => see_other(&crate::display::event_path(&ev), &[]),
    })
}

fn outcome_words(lang: Lang, receipt: &[u8]) -> String {
    let r = Signed::decode(receipt)
        .ok()
        .and_then(|s| s.verify_receipt().ok());
    match r.map(|r| r.outcome) {
        None => t(lang, "not answered yet", "noch keine Antwort").into(),
        Some(Outcome::Accepted { revision }) => format!(
            "{} {revision}",
            t(lang, "accepted as revision", "angenommen als Revision")
        ),
        Some(Outcome::Rejected { reason }) => {
            format!("{}: {reason}", t(lang, "rejected", "abgelehnt"))
        }
        Some(Outcome::Pending { conflict: false }) => {
            t(lang, "waiting for a person at the origin", "wartet auf eine Person beim Ursprung").into()
        }
        Some(Outcome::Pending { conflict: true }) => t(
            lang,
            "held as a conflict (the event changed meanwhile): waiting for a person at the origin",
            "als Konflikt zurückgehalten (der Termin hat sich inzwischen geändert): wartet auf eine Person beim Ursprung",
        )
        .into(),
    }
}

/// The caller's earlier proposals on the event a `/propose/{origin}/{uid}` form is for, with
/// what became of each (shown above that form, the way to an event's proposals from its page).
pub fn earlier(gw: &Gateway, caller: &Caller, lang: Lang, action: &str) -> Markup {
    let Some(sent) = gw.store.sent_proposals().ok() else {
        return html! {};
    };
    let mine: Vec<(String, String)> = sent
        .iter()
        .filter(|p| p.account == caller.name)
        .filter_map(|p| {
            let pl = stored_proposal(&p.signed).ok()?;
            let here = format!("/propose/{}/{}", pl.origin, path_segment(&pl.uid));
            (here == action).then(|| {
                let what = match &pl.change {
                    Change::Cancel => t(lang, "cancel it", "absagen").to_string(),
                    Change::Rsvp { answer, .. } => answer_words(lang, *answer).to_string(),
                    Change::Fields(f) => f
                        .iter()
                        .map(|c| c.name.clone())
                        .collect::<Vec<_>>()
                        .join(", "),
                };
                (what, outcome_words(lang, &p.receipt))
            })
        })
        .collect();
    html! {
        @if !mine.is_empty() {
            section.earlier {
                h2 { (t(lang, "Your proposals on this event", "Ihre Vorschläge zu diesem Termin")) }
                ul { @for (what, outcome) in &mine { li { (what) " — " strong { (outcome) } } } }
            }
        }
    }
}

/// `GET /my/proposals`: the caller's proposals and what became of them (an admin's: all).
pub async fn my_proposals(State(gw): State<Gateway>, h: HeaderMap) -> Result<Response, AppError> {
    let Some(caller) = session_caller(&gw, &h)? else {
        return Ok(see_other("/login", &[]));
    };
    let lang = lang_of(&h);
    let mine: Vec<_> = gw
        .store
        .sent_proposals()
        .map_err(AppError::internal)?
        .into_iter()
        .filter(|p| caller.is_admin() || p.account == caller.name)
        .rev()
        .collect();
    let body = html! {
        @if mine.is_empty() { p { (t(lang, "No proposals yet.", "Noch keine Vorschläge.")) } }
        ul.proposals {
            @for p in &mine {
                @let payload = stored_proposal(&p.signed).ok();
                li {
                    @if let Some(pl) = &payload {
                        a href=(format!("/events/{}/{}", pl.origin, path_segment(&pl.uid))) { (pl.uid) }
                        " — "
                        @match &pl.change {
                            Change::Cancel => { (t(lang, "cancel it", "absagen")) }
                            Change::Rsvp { answer, .. } => { (t(lang, "your answer: ", "Ihre Antwort: ")) (answer_words(lang, *answer)) }
                            Change::Fields(f) => { @for (i, c) in f.iter().enumerate() { @if i > 0 { ", " } (c.name) } }
                        }
                    }
                    " — " strong.outcome { (outcome_words(lang, &p.receipt)) }
                    @if !p.last_error.is_empty() && p.receipt.is_empty() {
                        " " span.error { (t(lang, "not delivered yet: ", "noch nicht zugestellt: ")) (p.last_error) }
                    }
                }
            }
        }
    };
    Ok(ui::page(
        StatusCode::OK,
        lang,
        t(lang, "My proposals", "Meine Vorschläge"),
        Some(&caller),
        body,
    ))
}

/// The `/queue` page's part for proposals held at this origin: each property's lines at the
/// proposer's base, now, and as proposed, side by side.
pub fn queue_section(gw: &Gateway, caller: &Caller, lang: Lang) -> Result<Markup, AppError> {
    let held = gw.store.pending_proposals().map_err(AppError::internal)?;
    let csrf = caller.csrf.clone().unwrap_or_default();
    let Some(me) = gw.node.key() else {
        return Ok(html! {});
    };
    Ok(html! {
        h2 { (t(lang, "Proposed changes", "Vorgeschlagene Änderungen")) }
        @if held.is_empty() { p { (t(lang, "No proposal waits.", "Kein Vorschlag wartet.")) } }
        @for r in &held {
            @let Some(p) = stored_proposal(&r.signed).ok() else { continue; };
            @let now = event(gw, me, &p.uid).ok();
            @let current = now.as_ref().map(|e| master_lines(&discal_protocol::ics::write_calendar([crate::ics_event(e)], &[]))).unwrap_or_default();
            @let rev = now.as_ref().map_or(0, |e| e.payload.revision);
            section.proposal {
                h3 {
                    (now.as_ref().and_then(|e| e.content().master.summary.clone()).unwrap_or_else(|| p.uid.clone()))
                }
                p { (t(lang, "Proposed by ", "Vorgeschlagen von ")) (p.author) " (" (t(lang, "node ", "Knoten ")) span title=(p.proposer.to_string()) { (p.proposer.fmt_short()) } ")" }
                p {
                    (t(lang, "Made on revision ", "Gemacht auf Revision ")) (p.base_revision)
                    (t(lang, "; the event is at revision ", "; der Termin ist bei Revision ")) (rev)
                    @if p.base_revision != rev { " — " strong { (t(lang, "conflict", "Konflikt")) } }
                }
                @match &p.change {
                    Change::Cancel => { p { (t(lang, "Proposes to cancel the event.", "Schlägt vor, den Termin abzusagen.")) } }
                    Change::Rsvp { .. } => {}
                    Change::Fields(fields) => {
                        table.sides {
                            thead { tr { th { (t(lang, "Property", "Eigenschaft")) } th { (t(lang, "When proposed", "Beim Vorschlag")) } th { (t(lang, "Now", "Jetzt")) } th { (t(lang, "Proposed", "Vorgeschlagen")) } } }
                            tbody {
                                @for f in fields {
                                    tr {
                                        th scope="row" { (f.name) }
                                        td { @for l in &f.base { code { (l) } br; } }
                                        td { @for l in lines_named(&current, &f.name) { code { (l) } br; } }
                                        td { @for l in &f.proposed { code { (l) } br; } }
                                    }
                                }
                            }
                        }
                    }
                }
                form.inline method="post" action={"/queue/proposals/" (hex(&p.id)) "/accept"} {
                    input type="hidden" name="csrf" value=(csrf);
                    button type="submit" { (t(lang, "Accept (publishes the next revision)", "Annehmen (veröffentlicht die nächste Revision)")) }
                }
                @if let Change::Fields(fields) = &p.change {
                    details.merge {
                        summary { (t(lang, "Merge by hand", "Von Hand zusammenführen")) }
                        form method="post" action={"/queue/proposals/" (hex(&p.id)) "/accept"} {
                            input type="hidden" name="csrf" value=(csrf);
                            @for f in fields {
                                label.field { (f.name) " "
                                    textarea name={"merge-" (f.name)} rows="2" { (f.proposed.join("\n")) }
                                }
                            }
                            button type="submit" { (t(lang, "Publish my merge", "Meine Zusammenführung veröffentlichen")) }
                        }
                    }
                }
                form.inline method="post" action={"/queue/proposals/" (hex(&p.id)) "/reject"} {
                    input type="hidden" name="csrf" value=(csrf);
                    label { (t(lang, "Reason", "Grund")) " " input name="reason" maxlength="500"; }
                    button type="submit" { (t(lang, "Reject", "Ablehnen")) }
                }
            }
        }
    })
}

/// `POST /queue/proposals/{id}/accept|reject`: admins, and users who may approve changes.
pub async fn decide(
    State(gw): State<Gateway>,
    Path((id, verb)): Path<(String, String)>,
    h: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let (caller, f) = signed_in_form(&gw, &h, &body)?;
    may_approve(&gw, &caller)?;
    let id =
        unhex(&id).ok_or_else(|| AppError::BadRequest(format!("{id:?} is not a proposal id")))?;
    let accept = verb_is(&verb, ("accept", "reject"))?;
    gw.node
        .proposal(ProposalRequest::Decide {
            id,
            accept,
            reason: f.get("reason").to_string(),
            merged: f
                .pairs()
                .filter_map(|(k, v)| {
                    k.strip_prefix("merge-")
                        .map(|n| (n.to_string(), v.to_string()))
                })
                .collect(),
            by: caller.name.clone(),
        })
        .await
        .map_err(|e| match e {
            WriteError::NotFound(m) => AppError::NotFound(m),
            other => AppError::from(other),
        })?;
    Ok(see_other("/queue", &[]))
}
