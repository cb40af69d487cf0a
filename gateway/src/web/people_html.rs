//! The people pages' HTML: login, the event form with its preview, my events, the approval
//! queue and the admin page. maud escapes every value (titles typed by anyone, names), and
//! the pages may not be framed (unlike the embeds): they carry forms that act for the person.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

use super::auth::Caller;
use super::form::{EventForm, FieldErrors, WEEKDAYS};

/// English or German, from the browser's Accept-Language.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// English.
    En,
    /// German.
    De,
}

/// A string in the page's language.
pub fn t(lang: Lang, en: &'static str, de: &'static str) -> &'static str {
    match lang {
        Lang::En => en,
        Lang::De => de,
    }
}

/// The form's messages in German: they are written in English with their values quoted, so
/// the fixed parts are replaced.
const GERMAN: &[(&str, &str)] = &[
    ("Give the event a title.", "Bitte einen Titel angeben."),
    (
        " is not a time zone (e.g. Europe/Berlin).",
        " ist keine Zeitzone (z. B. Europe/Berlin).",
    ),
    (
        "A link starts with https:// or http://.",
        "Ein Link beginnt mit https:// oder http://.",
    ),
    (
        "The event ends before it starts.",
        "Der Termin endet, bevor er beginnt.",
    ),
    (
        " is not a repetition this form knows.",
        " ist keine bekannte Wiederholung.",
    ),
    ("Every 1 to 999.", "Alle 1 bis 999."),
    (
        "Give a number of times from 1 to 10000.",
        "Bitte eine Anzahl von 1 bis 10000 angeben.",
    ),
    (
        "The repetition ends before the event starts.",
        "Die Wiederholung endet vor dem Beginn.",
    ),
    (
        " is not a date (YYYY-MM-DD).",
        " ist kein Datum (JJJJ-MM-TT).",
    ),
    ("A number from -", "Eine Zahl von -"),
    (" to ", " bis "),
    ("A date is needed here.", "Hier fehlt ein Datum."),
    (
        " is not a date of the calendar (YYYY-MM-DD).",
        " ist kein Kalenderdatum (JJJJ-MM-TT).",
    ),
    (" is not a time (HH:MM).", " ist keine Uhrzeit (HH:MM)."),
    (
        "A language such as de, en or pt-BR.",
        "Eine Sprache wie de, en oder pt-BR.",
    ),
    (
        "this node takes events from its members only: log in first",
        "dieser Knoten nimmt Termine nur von Mitgliedern an: bitte zuerst anmelden",
    ),
    (
        "the form expired: reload it and send it again",
        "das Formular ist abgelaufen: bitte neu laden und noch einmal senden",
    ),
    (
        "the form was not filled in as a person would: reload it and try again",
        "das Formular wurde nicht wie von einem Menschen ausgefüllt: bitte neu laden und noch einmal versuchen",
    ),
];

/// Frames around a reason from the node or the parser: only the frame is translated (the
/// reason is the protocol's own English, and word-by-word replacement would garble it).
const GERMAN_FRAMES: &[(&str, &str)] = &[
    (
        "The node did not take the event: ",
        "Der Knoten hat den Termin nicht angenommen: ",
    ),
    (
        "The event cannot be read: ",
        "Der Termin kann nicht gelesen werden: ",
    ),
];

/// The languages the form offers for an event (any other tag can be sent, and is kept).
const EVENT_LANGUAGES: &[(&str, &str, &str)] = &[
    ("en", "English", "Englisch"),
    ("de", "German", "Deutsch"),
    ("fr", "French", "Französisch"),
    ("es", "Spanish", "Spanisch"),
    ("it", "Italian", "Italienisch"),
    ("nl", "Dutch", "Niederländisch"),
    ("pl", "Polish", "Polnisch"),
    ("pt", "Portuguese", "Portugiesisch"),
    ("cs", "Czech", "Tschechisch"),
    ("da", "Danish", "Dänisch"),
    ("sv", "Swedish", "Schwedisch"),
    ("tr", "Turkish", "Türkisch"),
    ("uk", "Ukrainian", "Ukrainisch"),
    ("ar", "Arabic", "Arabisch"),
];

fn language_field(lang: Lang, f: &EventForm, e: &FieldErrors) -> Markup {
    let now = f.get("language");
    let known = EVENT_LANGUAGES.iter().any(|(code, _, _)| *code == now);
    html! {
        label.field {
            (t(lang, "Language of the event", "Sprache des Termins")) " "
            select name="language" aria-describedby=[e.get("language").map(|_| "err-language")] {
                option value="" selected[now.is_empty()] { (t(lang, "(not said)", "(keine Angabe)")) }
                @if !now.is_empty() && !known { option value=(now) selected { (now) } }
                @for (code, en, de) in EVENT_LANGUAGES {
                    option value=(code) selected[*code == now] { (t(lang, en, de)) }
                }
            }
            @if let Some(msg) = e.get("language") { span.error id="err-language" { (message(lang, msg)) } }
        }
    }
}

/// A form message in the page's language.
pub fn message(lang: Lang, msg: &str) -> String {
    if lang == Lang::De {
        for (en, de) in GERMAN_FRAMES {
            if let Some(reason) = msg.strip_prefix(en) {
                return format!("{de}{reason}");
            }
        }
    }
    let mut m = msg.to_string();
    if lang == Lang::De {
        for (en, de) in GERMAN {
            m = m.replace(en, de);
        }
    }
    m
}

/// The CSP of the people pages: nothing but the gateway's own stylesheet, and no framing.
pub const PEOPLE_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
                              base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// `GET /static/people.css`.
pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        include_str!("../../assets/people.css"),
    )
        .into_response()
}

/// A whole page, with the headers every people page has.
pub fn page(
    status: StatusCode,
    lang: Lang,
    title: &str,
    caller: Option<&Caller>,
    body: Markup,
) -> Response {
    let doc = html! {
        (DOCTYPE)
        html lang=(if lang == Lang::De { "de" } else { "en" }) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) }
                link rel="stylesheet" href="/static/people.css";
            }
            body.people {
                nav {
                    a href="/" { "DisCal" } " · "
                    a href="/events/new" { (t(lang, "Enter an event", "Termin eintragen")) }
                    @if let Some(c) = caller {
                        " · " a href="/my" { (t(lang, "My events", "Meine Termine")) }
                        " · " a href="/my/proposals" { (t(lang, "My proposals", "Meine Vorschläge")) }
                        " · " a href="/queue" { (t(lang, "Waiting for approval", "Freigabe")) }
                        @if c.is_admin() { " · " a href="/admin" { "Admin" } }
                        " · " (c.name) " "
                        @if let Some(csrf) = &c.csrf {
                            form.inline method="post" action="/logout" {
                                input type="hidden" name="csrf" value=(csrf);
                                button type="submit" { (t(lang, "Log out", "Abmelden")) }
                            }
                        }
                    } @else {
                        " · " a href="/login" { (t(lang, "Log in", "Anmelden")) }
                    }
                }
                main { h1 { (title) } (body) }
            }
        }
    };
    let mut r = (status, doc.into_string()).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PEOPLE_CSP),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}

/// The login form.
pub fn login(lang: Lang, csrf: &str, name: &str, error: Option<&str>) -> Markup {
    html! {
        @if let Some(e) = error { p.error role="alert" { (e) } }
        form method="post" action="/login" {
            input type="hidden" name="csrf" value=(csrf);
            label { (t(lang, "Name", "Name")) " " input name="name" value=(name) autocomplete="username" required; }
            label { (t(lang, "Password", "Passwort")) " " input type="password" name="password" autocomplete="current-password" required; }
            button type="submit" { (t(lang, "Log in", "Anmelden")) }
        }
    }
}

fn field(
    lang: Lang,
    f: &EventForm,
    e: &FieldErrors,
    name: &'static str,
    label: (&'static str, &'static str),
    kind: &str,
) -> Markup {
    html! {
        label.field {
            (t(lang, label.0, label.1)) " "
            input type=(kind) name=(name) value=(f.get(name));
            @if let Some(msg) = e.get(name) { span.error id={"err-" (name)} { (message(lang, msg)) } }
        }
    }
}

/// Hidden fields of a form: its CSRF token, and for anonymous forms the anti-spam stamp.
pub struct Hidden<'a> {
    /// The CSRF token.
    pub csrf: &'a str,
    /// `(rendered at, signature)` for anonymous submissions.
    pub stamp: Option<(i64, String)>,
}

/// The enter-event (or edit) form, with field errors and the preview.
pub fn event_form(
    lang: Lang,
    action: &str,
    f: &EventForm,
    e: &FieldErrors,
    hidden: &Hidden<'_>,
    preview: &[String],
) -> Markup {
    html! {
        @if let Some(msg) = e.get("_") { p.error role="alert" { (message(lang, msg)) } }
        form method="post" action=(action) {
            input type="hidden" name="csrf" value=(hidden.csrf);
            @if let Some((at, sig)) = &hidden.stamp {
                input type="hidden" name="t" value=(at);
                input type="hidden" name="sig" value=(sig);
                // Left empty by people (it is hidden from them); bots fill every field.
                label.trap aria-hidden="true" { "Website " input name="website" tabindex="-1" autocomplete="off"; }
            }
            (field(lang, f, e, "title", ("Title", "Titel"), "text"))
            (field(lang, f, e, "start_date", ("Date", "Datum"), "date"))
            (field(lang, f, e, "start_time", ("Starts at", "Beginn"), "time"))
            (field(lang, f, e, "end_date", ("Ends on", "Ende am"), "date"))
            (field(lang, f, e, "end_time", ("Ends at", "Ende um"), "time"))
            label.field { input type="checkbox" name="all_day" checked[f.ticked("all_day")]; " " (t(lang, "All day", "Ganztägig")) }
            label.field {
                (t(lang, "Time zone", "Zeitzone")) " "
                input name="tz" list="zones" value=(f.get("tz"));
                @if let Some(msg) = e.get("tz") { span.error id="err-tz" { (message(lang, msg)) } }
            }
            datalist id="zones" { @for z in chrono_tz::TZ_VARIANTS { option value=(z.name()) {} } }
            (recurrence(lang, f, e))
            (field(lang, f, e, "location", ("Place (name, address)", "Ort (Name, Adresse)"), "text"))
            (field(lang, f, e, "lat", ("Latitude", "Breitengrad"), "text"))
            (field(lang, f, e, "lon", ("Longitude", "Längengrad"), "text"))
            (field(lang, f, e, "tags", ("Tags (comma-separated)", "Schlagwörter (mit Komma)"), "text"))
            (field(lang, f, e, "url", ("Link", "Link"), "url"))
            label.field { (t(lang, "Description", "Beschreibung")) " " textarea name="description" rows="5" { (f.get("description")) } }
            (language_field(lang, f, e))
            @if !preview.is_empty() {
                section.preview {
                    h2 { (t(lang, "Next dates", "Nächste Termine")) " (" (f.get("tz")) ")" }
                    ol { @for p in preview { li.occurrence { (p) } } }
                }
            }
            button type="submit" name="action" value="preview" { (t(lang, "Preview", "Vorschau")) }
            " "
            button type="submit" name="action" value="save" { (t(lang, "Save", "Speichern")) }
        }
    }
}

fn recurrence(lang: Lang, f: &EventForm, e: &FieldErrors) -> Markup {
    let freq = f.get("freq");
    let opts = [
        ("none", "Does not repeat", "Keine Wiederholung"),
        ("daily", "Daily", "Täglich"),
        ("weekly", "Weekly", "Wöchentlich"),
        ("monthly", "Monthly", "Monatlich"),
        ("yearly", "Yearly", "Jährlich"),
        ("custom", "As the RRULE below", "Wie die RRULE unten"),
    ];
    html! {
        fieldset {
            legend { (t(lang, "Repeats", "Wiederholung")) }
            select name="freq" { @for (v, en, de) in opts { option value=(v) selected[freq == v] { (t(lang, en, de)) } } }
            @if let Some(msg) = e.get("freq") { span.error { (message(lang, msg)) } }
            (field(lang, f, e, "interval", ("Every", "Alle"), "number"))
            span { @for d in WEEKDAYS {
                label { input type="checkbox" name="byday" value=(d) checked[f.ticked(&format!("byday_{d}"))]; (d) " " }
            } }
            select name="monthly" {
                option value="day" selected[f.get("monthly") != "weekday"] { (t(lang, "monthly on the same day", "monatlich am selben Tag")) }
                option value="weekday" selected[f.get("monthly") == "weekday"] { (t(lang, "monthly on the same weekday (e.g. 2nd Tuesday)", "monatlich am selben Wochentag (z. B. 2. Dienstag)")) }
            }
            (field(lang, f, e, "until", ("Until", "Bis"), "date"))
            (field(lang, f, e, "count", ("or times", "oder Anzahl"), "number"))
            (field(lang, f, e, "exdates", ("Except on (dates)", "Außer am (Daten)"), "text"))
            (field(lang, f, e, "rrule", ("RRULE", "RRULE"), "text"))
        }
    }
}

/// A table of events with edit and cancel buttons.
pub fn event_list(lang: Lang, rows: &[(String, String, String, bool)], csrf: &str) -> Markup {
    html! {
        @if rows.is_empty() { p { (t(lang, "No events yet.", "Noch keine Termine.")) } }
        table {
            @for (uid, title, start, cancelled) in rows {
                tr {
                    td.title { (title) @if *cancelled { " (" (t(lang, "cancelled", "abgesagt")) ")" } }
                    td { (start) }
                    td { a href={"/my/" (crate::read::path_segment(uid)) "/edit"} { (t(lang, "Edit", "Bearbeiten")) } }
                    td { @if !*cancelled {
                        form.inline method="post" action={"/my/" (crate::read::path_segment(uid)) "/cancel"} {
                            input type="hidden" name="csrf" value=(csrf);
                            button type="submit" { (t(lang, "Cancel event", "Absagen")) }
                        }
                    } }
                }
            }
        }
    }
}

fn text_field(label: &str, name: &str, value: &str) -> Markup {
    html! { label.field { (label) " " input name=(name) value=(value); } }
}

fn tick(label: &str, name: &str, on: bool) -> Markup {
    html! { label.field { input type="checkbox" name=(name) checked[on]; " " (label) } }
}

/// The admin page's peers: the allowlist with each peer's connection and last sync, and a form
/// to add one (the seed's site registry).
pub fn admin_peers(lang: Lang, status: &serde_json::Value, csrf: &str) -> Markup {
    let empty = Vec::new();
    let peers = status["peers"].as_array().unwrap_or(&empty);
    html! {
        h2 { (t(lang, "Peers", "Partner-Knoten")) }
        table { @for p in peers {
            @let key = p["key"].as_str().unwrap_or_default();
            tr.peer {
                td.name { (p["name"].as_str().unwrap_or("")) } td { code { (key) } }
                td { @if p["connected"].as_bool() == Some(true) { (t(lang, "connected", "verbunden")) } @else { (t(lang, "not connected", "nicht verbunden")) } }
                td { (t(lang, "last sync", "letzter Abgleich")) " "
                    (p["last_sync_ms"].as_i64().and_then(chrono::DateTime::from_timestamp_millis).map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string()).unwrap_or_else(|| "—".into())) }
                td { form.inline method="post" action={"/admin/peers/" (key) "/remove"} {
                    input type="hidden" name="csrf" value=(csrf);
                    button type="submit" { (t(lang, "Remove", "Entfernen")) }
                } }
            }
        } }
        form method="post" action="/admin/config/peer" {
            input type="hidden" name="csrf" value=(csrf);
            (text_field(t(lang, "Key (discal id on that node)", "Schlüssel (discal id auf jenem Knoten)"), "key", ""))
            (text_field(t(lang, "Address (multiaddr, optional)", "Adresse (Multiaddr, optional)"), "address", ""))
            (text_field(t(lang, "Name", "Name"), "name", ""))
            button type="submit" { (t(lang, "Add peer", "Partner hinzufügen")) }
        }
    }
}

fn when_ms(v: &serde_json::Value) -> String {
    v.as_i64()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map_or_else(
            || "—".into(),
            |d| d.format("%Y-%m-%d %H:%M UTC").to_string(),
        )
}

/// The admin page's sources (sister sites without DisCal): each with its last poll, what it
/// brought and what went wrong, buttons to poll it now or drop it, and a form to add one.
pub fn admin_sources(lang: Lang, sources: &serde_json::Value, csrf: &str) -> Markup {
    let empty = Vec::new();
    let all = sources.as_array().unwrap_or(&empty);
    html! {
        h2 { (t(lang, "Sources (feeds and pages polled)", "Quellen (abgerufene Feeds und Seiten)")) }
        table { @for s in all {
            @let name = s["name"].as_str().unwrap_or_default();
            @let c = &s["last"];
            tr.source {
                td.name { (name) br; small { (s["kind"].as_str().unwrap_or("")) " · " (s["url"].as_str().unwrap_or("")) } }
                td { (t(lang, "last", "zuletzt")) " " (when_ms(&s["last_poll_ms"])) br;
                    "HTTP " (s["last_status"].as_u64().map_or("—".into(), |v| v.to_string()))
                    " · " (t(lang, "next", "nächster")) " " (when_ms(&s["next_due_ms"])) }
                td { (s["events"]) " " (t(lang, "events", "Termine")) br;
                    small { (t(lang, "last read: ", "zuletzt gelesen: ")) (format!("{} {} / {} {} / {} {} / {} {} / {} {}",
                        c["seen"], t(lang, "seen", "gelesen"), c["new"], t(lang, "new", "neu"),
                        c["changed"], t(lang, "changed", "geändert"), c["cancelled"], t(lang, "cancelled", "abgesagt"),
                        c["refused"], t(lang, "refused", "abgelehnt"))) } }
                td.problems {
                    @if let Some(e) = s["last_error"].as_str() { strong { (t(lang, "Error: ", "Fehler: ")) } (e) br; }
                    @if s["held_back"].is_object() { strong { (t(lang, "Held back: ", "Zurückgehalten: ")) } }
                    @for p in s["problems"].as_array().unwrap_or(&empty).iter().take(5) { (p.as_str().unwrap_or("")) br; }
                }
                td {
                    form.inline method="post" action={"/admin/sources/" (name) "/run"} {
                        input type="hidden" name="csrf" value=(csrf);
                        button type="submit" { (t(lang, "Poll now", "Jetzt abrufen")) }
                    }
                    form.inline method="post" action={"/admin/sources/" (name) "/remove"} {
                        input type="hidden" name="csrf" value=(csrf);
                        button type="submit" { (t(lang, "Remove", "Entfernen")) }
                    }
                }
            }
        } }
        form method="post" action="/admin/config/source" {
            input type="hidden" name="csrf" value=(csrf);
            (text_field(t(lang, "URL of the feed (.ics) or event page", "URL des Feeds (.ics) oder der Veranstaltungsseite"), "url", ""))
            label.field { (t(lang, "Kind", "Art")) " " select name="kind" { option value="ics" { "ics" } option value="page" { "page" } option value="sitemap" { "sitemap" } } }
            (text_field(t(lang, "Name (optional)", "Name (optional)"), "name", ""))
            (text_field(t(lang, "Every (30m, 1h, 1d)", "Alle (30m, 1h, 1d)"), "every", "1h"))
            (text_field(t(lang, "Tags (comma-separated)", "Schlagwörter (mit Komma getrennt)"), "tags", ""))
            (text_field(t(lang, "Time zone of times without one", "Zeitzone für Zeiten ohne Zone"), "tz", ""))
            button type="submit" { (t(lang, "Add source", "Quelle hinzufügen")) }
        }
    }
}

fn post_button(action: &str, label: &str, csrf: &str) -> Markup {
    html! {
        form.inline method="post" action=(action) {
            input type="hidden" name="csrf" value=(csrf);
            button type="submit" { (label) }
        }
    }
}

fn delivery(lang: Lang, d: &serde_json::Value) -> Markup {
    html! {
        (d["delivered"]) " " (t(lang, "delivered", "zugestellt"))
        @if d["last_ok_ms"].as_i64().unwrap_or(0) > 0 { ", " (t(lang, "last", "zuletzt")) " " (when_ms(&d["last_ok_ms"])) }
        @if d["dead"].as_bool().unwrap_or(false) { br; strong { (t(lang, "Stopped (failing too long)", "Angehalten (zu lange fehlerhaft)")) } }
        @else if d["attempts"].as_u64().unwrap_or(0) > 0 {
            br; (t(lang, "failing, next try ", "fehlerhaft, nächster Versuch ")) (when_ms(&d["next_ms"]))
        }
        @if let Some(e) = d["last_error"].as_str().filter(|e| !e.is_empty()) { br; small { (e) } }
    }
}

/// The admin page's push section: targets, hub subscriptions (approve, refuse), inbound sites.
pub fn admin_push(lang: Lang, push: &serde_json::Value, csrf: &str) -> Markup {
    let empty = Vec::new();
    let list = |k: &str| push[k].as_array().unwrap_or(&empty).clone();
    html! {
        h2 { (t(lang, "Push to sister sites", "Push an Partnerseiten")) }
        p { (t(lang, "Hub registrations: ", "Anmeldungen am Hub: ")) (push["registrations"].as_str().unwrap_or("approve")) }
        table {
            @for s in list("targets") {
                @let name = s["name"].as_str().unwrap_or_default();
                tr.push-target {
                    td.name { (name) br; small { (s["url"].as_str().unwrap_or("")) } }
                    td { (s["auth"].as_str().unwrap_or("")) br; small { (s["filter"].as_str().unwrap_or("")) } }
                    td { (delivery(lang, &s["delivery"])) }
                    td {
                        @if s["delivery"]["dead"].as_bool().unwrap_or(false) {
                            (post_button(&format!("/admin/push/{name}/resume"), t(lang, "Resume", "Fortsetzen"), csrf))
                        }
                        (post_button(&format!("/admin/push/{name}/drop"), t(lang, "Remove", "Entfernen"), csrf))
                    }
                }
            }
            @for s in list("subscriptions") {
                @let id = s["id"].as_str().unwrap_or_default();
                @let state = s["state"].as_str().unwrap_or_default();
                tr.subscription {
                    td.name { (s["callback"].as_str().unwrap_or("")) br; small { (s["topic"].as_str().unwrap_or("")) } }
                    td { strong { (state) } br; small { (t(lang, "lease until ", "angemeldet bis ")) (when_ms(&s["expires_ms"])) } }
                    td { (delivery(lang, &s["delivery"])) }
                    td {
                        @if state == "waiting" {
                            (post_button(&format!("/admin/push/{id}/approve"), t(lang, "Approve", "Annehmen"), csrf))
                            (post_button(&format!("/admin/push/{id}/refuse"), t(lang, "Refuse", "Ablehnen"), csrf))
                        }
                        @if s["delivery"]["dead"].as_bool().unwrap_or(false) {
                            (post_button(&format!("/admin/push/{id}/resume"), t(lang, "Resume", "Fortsetzen"), csrf))
                        }
                        (post_button(&format!("/admin/push/{id}/remove"), t(lang, "Remove", "Entfernen"), csrf))
                    }
                }
            }
            @for s in list("inbound") {
                tr.inbound {
                    td.name { (s["name"].as_str().unwrap_or("")) br; small { (s["push_url"].as_str().unwrap_or("")) } }
                    td { (t(lang, "pushes to us", "sendet an uns")) " · " (s["auth"].as_str().unwrap_or("")) }
                    td { (s["events"]) " " (t(lang, "events", "Termine")) ", " (t(lang, "last", "zuletzt")) " " (when_ms(&s["last_push_ms"])) }
                    td.problems { @for p in s["problems"].as_array().unwrap_or(&empty).iter().take(5) { (p.as_str().unwrap_or("")) br; } }
                }
            }
        }
        form method="post" action="/admin/config/push" {
            input type="hidden" name="csrf" value=(csrf);
            (text_field(t(lang, "Name", "Name"), "name", ""))
            (text_field(t(lang, "URL the site receives pushes at", "URL, an der die Seite Pushes empfängt"), "url", ""))
            (text_field(t(lang, "Filter (a view's query, e.g. tags=linux)", "Filter (Ansicht, z. B. tags=linux)"), "filter", ""))
            (text_field(t(lang, "Shared secret (empty: signed with this node's key)", "Gemeinsames Geheimnis (leer: mit dem Schlüssel dieses Knotens signiert)"), "secret", ""))
            button type="submit" { (t(lang, "Add push target", "Push-Ziel hinzufügen")) }
        }
    }
}

/// The admin page's dedupe corrections: those made (each can be taken back) and a form for
/// a new one from two event pages' URLs.
pub fn admin_dedupe(
    lang: Lang,
    choices: &[discal_store::DedupeChoice],
    base: &str,
    csrf: &str,
) -> Markup {
    let page = |(o, u): &([u8; 32], String)| {
        discal_protocol::NodeKey::from_bytes(*o)
            .map(|k| format!("{base}/events/{k}/{}", crate::read::path_segment(u)))
            .unwrap_or_default()
    };
    html! {
        h2 { (t(lang, "One entry for one real event: corrections", "Ein Eintrag je Veranstaltung: Korrekturen")) }
        table { @for c in choices {
            tr.dedupe {
                td { strong { @if c.join { (t(lang, "joined", "verbunden")) } @else { (t(lang, "split", "getrennt")) } } }
                td { a href=(page(&c.a)) { (c.a.1) } br; a href=(page(&c.b)) { (c.b.1) } }
                td { (c.by) " · " (when_ms(&serde_json::json!(c.at_ms))) }
                td { form.inline method="post" action="/admin/dedupe" {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="a" value=(page(&c.a));
                    input type="hidden" name="b" value=(page(&c.b));
                    input type="hidden" name="action" value="clear";
                    button type="submit" { (t(lang, "Take back", "Zurücknehmen")) }
                } }
            }
        } }
        form method="post" action="/admin/dedupe" {
            input type="hidden" name="csrf" value=(csrf);
            (text_field(t(lang, "Event page", "Terminseite"), "a", ""))
            (text_field(t(lang, "Other event page", "Andere Terminseite"), "b", ""))
            label.field { (t(lang, "They are", "Sie sind")) " " select name="action" {
                option value="split" { (t(lang, "two events (split)", "zwei Termine (trennen)")) }
                option value="join" { (t(lang, "one event (join)", "ein Termin (verbinden)")) }
            } }
            button type="submit" { (t(lang, "Save", "Speichern")) }
        }
    }
}

/// The admin page's filters and node settings, prefilled from the configuration.
pub fn admin_settings(lang: Lang, cfg: &serde_json::Value, csrf: &str) -> Markup {
    let f = &cfg["filters"];
    let p = &cfg["people"];
    let list = |v: &serde_json::Value| {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    let num = |v: &serde_json::Value| v.as_f64().map(|x| x.to_string()).unwrap_or_default();
    html! {
        h2 { (t(lang, "Filters for arriving events", "Filter für ankommende Termine")) }
        form method="post" action="/admin/config/filters" {
            input type="hidden" name="csrf" value=(csrf);
            (text_field(t(lang, "Highest hop count", "Höchste Hop-Zahl"), "max_hop", &num(&f["max_hop"])))
            (text_field(t(lang, "Near latitude", "Nähe: Breitengrad"), "lat", &num(&f["near"][0])))
            (text_field(t(lang, "Near longitude", "Nähe: Längengrad"), "lon", &num(&f["near"][1])))
            (text_field(t(lang, "Radius (km)", "Radius (km)"), "radius_km", &num(&f["radius_km"])))
            (text_field(t(lang, "Keep only tags", "Nur Schlagwörter"), "require_tags", &list(&f["require_tags"])))
            (text_field(t(lang, "Drop tags", "Schlagwörter verwerfen"), "drop_tags", &list(&f["drop_tags"])))
            button type="submit" { (t(lang, "Save filters", "Filter speichern")) }
        }
        h2 { (t(lang, "Node", "Knoten")) }
        form method="post" action="/admin/config/settings" {
            input type="hidden" name="csrf" value=(csrf);
            (text_field(t(lang, "Name (after a restart)", "Name (nach Neustart)"), "name", cfg["name"].as_str().unwrap_or("")))
            (text_field(t(lang, "Public URL (after a restart)", "Öffentliche URL (nach Neustart)"), "public_url", cfg["public_url"].as_str().unwrap_or("")))
            (text_field(t(lang, "Description (on the home page)", "Beschreibung (auf der Startseite)"), "description", cfg["description"].as_str().unwrap_or("")))
            label { span { (t(lang, "Language of the pages", "Sprache der Seiten")) }
                select name="language" {
                    @for (code, label) in [("en", "English"), ("de", "Deutsch")] {
                        option value=(code) selected[cfg["language"].as_str() == Some(code)] { (label) }
                    }
                }
            }
            (text_field(t(lang, "Default time zone", "Standard-Zeitzone"), "default_tz", p["default_tz"].as_str().unwrap_or("UTC")))
            (text_field(t(lang, "Map tile server ({z}/{x}/{y}; empty: no map)", "Kartenkachel-Server ({z}/{x}/{y}; leer: keine Karte)"), "map_tiles", cfg["map"]["tiles"].as_str().unwrap_or("")))
            (text_field(t(lang, "Map attribution", "Karten-Quellenangabe"), "map_attribution", cfg["map"]["attribution"].as_str().unwrap_or("")))
            (tick(t(lang, "Take events without login (queued for approval)", "Termine ohne Anmeldung annehmen (zur Freigabe)"), "allow_anonymous", p["allow_anonymous"].as_bool() == Some(true)))
            (tick(t(lang, "Users may approve queued events", "Nutzer dürfen Termine freigeben"), "users_confirm_changes", p["users_confirm_changes"].as_bool() != Some(false)))
            (tick(t(lang, "Users may register sister sites", "Nutzer dürfen Schwesterseiten eintragen"), "users_register_sites", p["users_register_sites"].as_bool() == Some(true)))
            (tick(t(lang, "Users may confirm sister sites", "Nutzer dürfen Schwesterseiten bestätigen"), "users_confirm_sites", p["users_confirm_sites"].as_bool() == Some(true)))
            button type="submit" { (t(lang, "Save settings", "Einstellungen speichern")) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_messages_read_in_german() {
        assert_eq!(
            message(
                Lang::De,
                "\"Mars\" is not a time zone (e.g. Europe/Berlin)."
            ),
            "\"Mars\" ist keine Zeitzone (z. B. Europe/Berlin)."
        );
        assert_eq!(
            message(Lang::De, "A number from -90 to 90."),
            "Eine Zahl von -90 bis 90."
        );
        assert_eq!(message(Lang::En, "Every 1 to 999."), "Every 1 to 999.");
        // The node's refusals: framed in German, the node's own reason kept as it is.
        assert_eq!(
            message(
                Lang::De,
                "The node did not take the event: SUMMARY is 40000 bytes, up to 32768"
            ),
            "Der Knoten hat den Termin nicht angenommen: SUMMARY is 40000 bytes, up to 32768"
        );
        assert_eq!(
            message(
                Lang::De,
                "this node takes events from its members only: log in first"
            ),
            "dieser Knoten nimmt Termine nur von Mitgliedern an: bitte zuerst anmelden"
        );
    }
}
