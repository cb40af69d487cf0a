//! Sister sites registered by people, the seed's "register sister sites" and "confirm sister
//! sites" roles: `/sites/new` takes a site's node key, address and name. Someone who may
//! confirm sites adds it to the allowlist at once (written to the config file like the admin
//! page's peer form); anyone else's request waits in `/queue` for someone who may. Admins may
//! both; users by configuration (`[people] users_register_sites`, `users_confirm_sites`).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use discal_protocol::NodeKey;
use discal_store::SiteRequest;
use maud::{html, Markup};

use super::auth::Caller;
use super::people::{audit, lang_of, see_other, session_caller, signed_in_form, verb_is};
use super::people_html::{self as ui, t, Lang};
use crate::{AppError, ConfigChange, Gateway};

/// Longest address and name taken (a multiaddr is far shorter).
const MAX_ADDRESS: usize = 256;
const MAX_NAME: usize = 100;

/// Whether `c` may ask for a sister site.
pub fn may_register(gw: &Gateway, c: &Caller) -> bool {
    c.is_admin() || gw.people.settings().users_register_sites
}

/// Whether `c` may confirm a sister site (add it to the allowlist).
pub fn may_confirm(gw: &Gateway, c: &Caller) -> bool {
    c.is_admin() || gw.people.settings().users_confirm_sites
}

fn form(lang: Lang, csrf: &str, error: Option<&str>, typed: [&str; 3]) -> Markup {
    html! {
        p { (t(lang, "A sister site is another DisCal node this one exchanges events with. Its operator gives you its key (discal id) and address.",
               "Eine Schwesterseite ist ein anderer DisCal-Knoten, mit dem dieser Termine austauscht. Ihr Betreiber nennt Schlüssel (discal id) und Adresse.")) }
        @if let Some(e) = error { p.error role="alert" { (e) } }
        form method="post" action="/sites/new" {
            input type="hidden" name="csrf" value=(csrf);
            label.field { (t(lang, "Node key", "Knotenschlüssel")) " " input name="key" required value=(typed[0]); }
            label.field { (t(lang, "Address (multiaddr, optional)", "Adresse (Multiaddr, optional)")) " " input name="address" value=(typed[1]); }
            label.field { (t(lang, "Name", "Name")) " " input name="name" value=(typed[2]); }
            button type="submit" { (t(lang, "Register the site", "Seite eintragen")) }
        }
    }
}

fn forbidden(lang: Lang) -> AppError {
    AppError::Forbidden(
        t(
            lang,
            "on this node only admins register sister sites",
            "auf diesem Knoten tragen nur Admins Schwesterseiten ein",
        )
        .into(),
    )
}

/// `GET /sites/new`.
pub async fn new_site_page(State(gw): State<Gateway>, h: HeaderMap) -> Result<Response, AppError> {
    let Some(caller) = session_caller(&gw, &h)? else {
        return Ok(see_other("/login", &[]));
    };
    let lang = lang_of(&h);
    if !may_register(&gw, &caller) {
        return Err(forbidden(lang));
    }
    let csrf = caller.csrf.clone().unwrap_or_default();
    Ok(ui::page(
        StatusCode::OK,
        lang,
        t(lang, "Register a sister site", "Schwesterseite eintragen"),
        Some(&caller),
        form(lang, &csrf, None, ["", "", ""]),
    ))
}

/// What is wrong with a registration, if anything.
fn check(key: &str, address: &str, name: &str) -> Option<String> {
    if let Err(e) = key.parse::<NodeKey>() {
        return Some(format!("{key:?} is not a node key: {e}"));
    }
    if address.len() > MAX_ADDRESS || address.chars().any(char::is_whitespace) {
        return Some(format!(
            "the address is a multiaddr without blanks, at most {MAX_ADDRESS} characters"
        ));
    }
    if name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Some(format!(
            "the name is one line of at most {MAX_NAME} characters"
        ));
    }
    None
}

/// `POST /sites/new`: added at once by someone who may confirm, else queued.
pub async fn new_site(
    State(gw): State<Gateway>,
    h: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let (caller, f) = signed_in_form(&gw, &h, &body)?;
    let lang = lang_of(&h);
    if !may_register(&gw, &caller) {
        return Err(forbidden(lang));
    }
    let (key, address, name) = (
        f.get("key").trim(),
        f.get("address").trim(),
        f.get("name").trim(),
    );
    if let Some(why) = check(key, address, name) {
        let csrf = caller.csrf.clone().unwrap_or_default();
        return Ok(ui::page(
            StatusCode::UNPROCESSABLE_ENTITY,
            lang,
            t(lang, "Register a sister site", "Schwesterseite eintragen"),
            Some(&caller),
            form(lang, &csrf, Some(&why), [key, address, name]),
        ));
    }
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let req = SiteRequest {
        id: 0,
        key: key.to_string(),
        address: opt(address),
        name: opt(name),
        by: caller.name.clone(),
        at_ms: (gw.clock)(),
    };
    if may_confirm(&gw, &caller) {
        add_peer(&gw, &caller, &req).await?;
        return Ok(see_other("/queue", &[]));
    }
    let id = gw.store.queue_site(&req).map_err(AppError::internal)?;
    audit(
        &gw,
        &caller.name,
        "register site",
        &format!("site {id}: {key}"),
    )?;
    Ok(ui::page(
        StatusCode::ACCEPTED,
        lang,
        t(lang, "Registered", "Eingetragen"),
        Some(&caller),
        html! { p { (t(lang, "The site waits for confirmation by someone who may confirm sister sites.",
        "Die Seite wartet auf die Bestätigung durch jemanden, der Schwesterseiten bestätigen darf.")) } },
    ))
}

async fn add_peer(gw: &Gateway, caller: &Caller, req: &SiteRequest) -> Result<(), AppError> {
    gw.node
        .configure(ConfigChange::AddPeer {
            key: req.key.clone(),
            address: req.address.clone(),
            name: req.name.clone(),
        })
        .await?;
    audit(
        gw,
        &caller.name,
        "confirm site",
        &format!("peer {}", req.key),
    )
}

/// The `/queue` page's part for sister sites, for those who may confirm them.
pub fn queue_section(gw: &Gateway, caller: &Caller, lang: Lang) -> Result<Markup, AppError> {
    let may = may_register(gw, caller);
    if !may_confirm(gw, caller) {
        return Ok(
            html! { @if may { p { a href="/sites/new" { (t(lang, "Register a sister site", "Schwesterseite eintragen")) } } } },
        );
    }
    let csrf = caller.csrf.clone().unwrap_or_default();
    let waiting = gw.store.site_requests().map_err(AppError::internal)?;
    // Sites that asked at the hub for this node's events (push-register), intent verified.
    let subscribers: Vec<discal_store::Subscription> = gw
        .store
        .subscriptions()
        .map_err(AppError::internal)?
        .into_iter()
        .filter(|s| s.state == discal_store::SubState::Waiting)
        .collect();
    Ok(html! {
        @for s in &subscribers {
            section.submission.subscriber {
                h3 { (t(lang, "Wants this node's events by push: ", "Möchte die Termine dieses Knotens per Push: ")) (s.callback) }
                p { (t(lang, "topic ", "Thema ")) code { (s.topic) } " · "
                    @if s.secret.is_empty() { (t(lang, "signed with this node's key", "mit dem Schlüssel dieses Knotens signiert")) }
                    @else { (t(lang, "with a shared secret", "mit gemeinsamem Geheimnis")) } }
                @for (verb, en, de) in [("approve", "Approve", "Annehmen"), ("refuse", "Refuse", "Ablehnen")] {
                    form.inline method="post" action={"/queue/push/" (s.id) "/" (verb)} {
                        input type="hidden" name="csrf" value=(csrf);
                        button type="submit" { (t(lang, en, de)) }
                    }
                }
            }
        }
        h2 { (t(lang, "Sister sites", "Schwesterseiten")) }
        p { a href="/sites/new" { (t(lang, "Register a sister site", "Schwesterseite eintragen")) } }
        @if waiting.is_empty() { p { (t(lang, "No site waits.", "Keine Seite wartet.")) } }
        @for r in &waiting {
            section.submission {
                h3 { (r.name.clone().unwrap_or_else(|| r.key.clone())) }
                p { code { (r.key) } " · " (r.address.clone().unwrap_or_default()) " · " (t(lang, "asked by ", "eingetragen von ")) (r.by) }
                @for (verb, en, de) in [("confirm", "Confirm", "Bestätigen"), ("reject", "Reject", "Ablehnen")] {
                    form.inline method="post" action={"/queue/sites/" (r.id) "/" (verb)} {
                        input type="hidden" name="csrf" value=(csrf);
                        button type="submit" { (t(lang, en, de)) }
                    }
                }
            }
        }
    })
}

/// The signed-in person deciding on a sister site, if they may confirm sister sites.
fn confirmer(gw: &Gateway, h: &HeaderMap, body: &Bytes) -> Result<Caller, AppError> {
    let (caller, _) = signed_in_form(gw, h, body)?;
    if !may_confirm(gw, &caller) {
        return Err(AppError::Forbidden(
            "on this node only admins confirm sister sites".into(),
        ));
    }
    Ok(caller)
}

/// `POST /queue/push/{id}/approve|refuse`: a hub subscription waiting in the queue, decided
/// by whoever may confirm sister sites.
pub async fn decide_subscriber(
    State(gw): State<Gateway>,
    Path((id, verb)): Path<(String, String)>,
    h: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let caller = confirmer(&gw, &h, &body)?;
    verb_is(&verb, ("approve", "refuse"))?;
    gw.node
        .push(crate::PushRequest::Decide {
            id,
            verb,
            by: caller.name.clone(),
        })
        .await?;
    Ok(see_other("/queue", &[]))
}

/// `POST /queue/sites/{id}/confirm|reject`.
pub async fn decide_site(
    State(gw): State<Gateway>,
    Path((id, verb)): Path<(u64, String)>,
    h: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let caller = confirmer(&gw, &h, &body)?;
    let confirm = verb_is(&verb, ("confirm", "reject"))?;
    let req = gw
        .store
        .take_site_request(id)
        .map_err(AppError::internal)?
        .ok_or_else(|| AppError::NotFound(format!("no sister site {id} waits")))?;
    if confirm {
        if let Err(e) = add_peer(&gw, &caller, &req).await {
            // Not lost: back in the queue.
            gw.store.queue_site(&req).map_err(AppError::internal)?;
            return Err(e);
        }
    } else {
        audit(
            &gw,
            &caller.name,
            "reject site",
            &format!("site {id}: {}", req.key),
        )?;
    }
    Ok(see_other("/queue", &[]))
}
