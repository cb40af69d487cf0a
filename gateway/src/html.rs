//! What every HTML page shares: the security policy, the look (theme, accent, kind of view),
//! the stylesheet and the page frame. maud escapes every interpolated value, so event text
//! from peers is always text. Pages read without JavaScript; the only script is the optional
//! resizer that tells an embedding page the content's height.

use chrono::NaiveDate;
use discal_protocol::view::{Lang, ViewFilter};
use maud::{html, Markup, DOCTYPE};

use crate::i18n::strings;
use crate::read::query_string;

/// The Content-Security-Policy of every HTML page: any site may frame it, nothing but its own
/// stylesheet and resizer script may load, and forms only go back to the gateway.
pub const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; \
                       base-uri 'none'; form-action 'self'; frame-ancestors *";

/// The view builder's policy: [`CSP`], and its preview may frame the gateway's own embed.
pub const VIEWS_CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; \
                             frame-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors *";

/// Which embed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ViewKind {
    /// Upcoming instances, one line each.
    List,
    /// Upcoming instances grouped by day.
    Agenda,
    /// A month grid.
    Month,
}

/// Presentation options of an embed (besides the filter).
#[derive(Clone, Debug)]
pub struct Look {
    /// The view.
    pub kind: ViewKind,
    /// Dark theme.
    pub dark: bool,
    /// Accent colour, six hex digits (validated).
    pub accent: Option<String>,
    /// First day of the month shown (month view).
    pub month: Option<NaiveDate>,
    /// Most instances a list or agenda shows (500 in embeds; the home page shows a page).
    pub max_items: usize,
    /// Days a list covers when the view names no window.
    pub days: u32,
}

impl Default for Look {
    fn default() -> Self {
        Self {
            kind: ViewKind::List,
            dark: false,
            accent: None,
            month: None,
            max_items: 500,
            days: 60,
        }
    }
}

/// Parses the embed-only parameters (`view`, `theme`, `accent`, `month`).
pub fn parse_look(rest: &[(&str, &str)]) -> Result<Look, String> {
    let mut look = Look::default();
    for (k, v) in rest {
        match *k {
            "view" => {
                look.kind = match *v {
                    "list" => ViewKind::List,
                    "agenda" => ViewKind::Agenda,
                    "month" => ViewKind::Month,
                    _ => {
                        return Err(format!(
                            "parameter \"view\": {v:?} is not list, agenda or month"
                        ))
                    }
                }
            }
            "theme" => {
                look.dark = match *v {
                    "light" => false,
                    "dark" => true,
                    _ => return Err(format!("parameter \"theme\": {v:?} is not light or dark")),
                }
            }
            "accent" => {
                if v.len() != 6 || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(format!(
                        "parameter \"accent\": {v:?} is not six hex digits (RRGGBB)"
                    ));
                }
                look.accent = Some(v.to_ascii_lowercase());
            }
            "month" => {
                let d = NaiveDate::parse_from_str(&format!("{v}-01"), "%Y-%m-%d")
                    .map_err(|_| format!("parameter \"month\": {v:?} is not YYYY-MM"))?;
                look.month = Some(d);
            }
            _ => {}
        }
    }
    Ok(look)
}

/// The embed-only parameter names.
pub const LOOK_PARAMS: &[&str] = &["view", "theme", "accent", "month"];

/// The stylesheet; theme and accent come in its URL so pages need no inline style.
pub fn stylesheet(dark: bool, accent: Option<&str>) -> String {
    let (bg, fg, muted, line) = if dark {
        ("#16181d", "#e8e8ea", "#a0a3ab", "#30333b")
    } else {
        ("#ffffff", "#1d1f24", "#5d616b", "#e1e3e8")
    };
    let accent = accent.unwrap_or(if dark { "7aa7ff" } else { "2457c5" });
    format!(
        ":root{{--bg:{bg};--fg:{fg};--muted:{muted};--line:{line};--accent:#{accent}}}\n{}",
        include_str!("../assets/embed.css")
    )
}

fn css_href(look: &Look) -> String {
    let mut p: Vec<(&str, &str)> = Vec::new();
    if look.dark {
        p.push(("theme", "dark"));
    }
    if let Some(a) = &look.accent {
        p.push(("accent", a));
    }
    if p.is_empty() {
        "/static/embed.css".into()
    } else {
        format!("/static/embed.css?{}", query_string(p))
    }
}

pub(crate) fn page(lang: Lang, title: &str, look: &Look, body: Markup) -> String {
    page_with_head(lang, title, look, html! {}, body)
}

/// [`page`] with more in its head (an event page's Open Graph and JSON-LD).
pub(crate) fn page_with_head(
    lang: Lang,
    title: &str,
    look: &Look,
    head: Markup,
    body: Markup,
) -> String {
    html! {
        (DOCTYPE)
        html lang=(lang.tag()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) }
                link rel="stylesheet" href=(css_href(look));
                script src="/static/resize.js" defer {}
                (head)
            }
            body { (body) }
        }
    }
    .into_string()
}

pub(crate) fn zone_note(f: &ViewFilter) -> Markup {
    html! {
        @if let Some(tz) = f.tz {
            p.zone { (strings(f.lang).times_in) " " (tz.name()) }
        }
    }
}
