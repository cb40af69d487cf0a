//! `/map`: the upcoming events that have a place (GEO), as numbered markers on a map with
//! their list beside it. Off unless the operator names a tile server (`[map] tiles`): a node
//! makes no request to a third party unless its operator says so, and a visitor's browser
//! fetches tiles only from the server the operator chose (embeds never show a map).
//!
//! The map is an SVG of tile images and markers laid out here (Web Mercator, the tiling every
//! slippy-map server uses): no script, no inline style, so the page's policy stays strict but
//! for the one image origin.

use std::f64::consts::PI;

use axum::extract::State;
use axum::http::{header, HeaderMap, Uri};
use axum::response::Response;
use chrono::NaiveDate;
use discal_protocol::view::{Lang, ViewFilter};
use maud::{html, Markup};

use crate::display::{self, TITLE_MAX};
use crate::html::{self, Look};
use crate::read::{self, refs, Pairs, ReadKey, Rendered};
use crate::{AppError, Gateway};

/// The SVG's size in CSS pixels (it scales to the page's width) and the margin kept around
/// the markers.
const W: f64 = 960.0;
const H: f64 = 600.0;
const PAD: f64 = 48.0;
/// A tile's side, in pixels at its zoom.
const TILE: f64 = 256.0;
/// The closest zoom: a street's blocks (a single place would otherwise zoom in endlessly).
const MAX_ZOOM: u8 = 16;
/// Events read for the map: the next ones in the window, whether or not they have a place.
const MAP_EVENTS: usize = 1_000;
/// Places (markers) shown, and events listed under each (the rest behind a link).
const MAP_PLACES: usize = 40;
const PER_PLACE: usize = 3;
/// Radius of the "events here" link's view, in km: a building, not a district.
const HERE_KM: f64 = 0.2;

/// The operator's tile server, checked: an `http(s)` URL template with `{z}`, `{x}` and `{y}`,
/// made only of characters that are safe in a URL attribute and a CSP header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TileServer {
    /// The template, e.g. `https://tile.openstreetmap.org/{z}/{x}/{y}.png`.
    pub template: String,
    /// `scheme://host[:port]`, for the page's `img-src`.
    pub origin: String,
    /// The credit the tile server asks for, shown under the map.
    pub attribution: String,
}

impl TileServer {
    /// Checks a template (the node checks the config file with this too).
    pub fn parse(template: &str, attribution: &str) -> Result<Self, String> {
        let rest = template
            .strip_prefix("https://")
            .or_else(|| template.strip_prefix("http://"))
            .ok_or_else(|| format!("map tiles {template:?}: not an http(s) URL"))?;
        for part in ["{z}", "{x}", "{y}"] {
            if !template.contains(part) {
                return Err(format!("map tiles {template:?}: {part} is missing"));
            }
        }
        let safe = |c: char| c.is_ascii_alphanumeric() || "-._~/:?&=%{}@+".contains(c);
        if let Some(c) = template.chars().find(|c| !safe(*c)) {
            return Err(format!("map tiles {template:?}: {c:?} has no place in it"));
        }
        let host = rest.split('/').next().unwrap_or_default();
        if host.is_empty() || host.contains(['{', '}', '?', '@']) {
            return Err(format!("map tiles {template:?}: no host name"));
        }
        let scheme = &template[..template.len() - rest.len()];
        Ok(Self {
            template: template.to_owned(),
            origin: format!("{scheme}{host}"),
            attribution: attribution.to_owned(),
        })
    }

    fn url(&self, z: u8, x: i64, y: i64) -> String {
        self.template
            .replace("{z}", &z.to_string())
            .replace("{x}", &x.to_string())
            .replace("{y}", &y.to_string())
    }
}

/// The tile server from the node's settings, `None` when the map is off (or its setting is
/// broken: the node refuses such a config file, so only a hand-made gateway gets here).
pub fn tile_server(gw: &Gateway) -> Option<TileServer> {
    let c = gw.node.config();
    let tiles = c["map"]["tiles"].as_str()?;
    let attribution = c["map"]["attribution"].as_str().unwrap_or_default();
    TileServer::parse(tiles, attribution)
        .inspect_err(|e| tracing::warn!("{e}"))
        .ok()
}

/// `GET /map`: the map page, with the home page's filters.
pub async fn map(
    State(gw): State<Gateway>,
    uri: Uri,
    headers: HeaderMap,
    pairs: Pairs,
) -> Result<Response, AppError> {
    let Some(tiles) = tile_server(&gw) else {
        return Err(AppError::NotFound(
            "the map is off on this node: its operator turns it on with a tile server in \
             config.toml ([map] tiles = \"https://…/{z}/{x}/{y}.png\")"
                .into(),
        ));
    };
    let mut pairs = pairs.0;
    read::accept_language(&headers, &mut pairs, &super::node_language(&gw));
    let (f, rest) = ViewFilter::parse(refs(&pairs), html::LOOK_PARAMS).map_err(AppError::bad)?;
    let look = html::parse_look(&rest).map_err(AppError::BadRequest)?;
    let today = read::today(&gw, &f);
    let key = ReadKey {
        url: format!("{uri}|{}|{}", f.lang.tag(), tiles.template),
        relative_to: Some(today),
        max_age: 60,
    };
    let mut resp = read::serve(&gw, &headers, key, move |gw| {
        render(gw, (&f, &look, &pairs), &tiles, today)
    })
    .await;
    resp.headers_mut().insert(
        header::VARY,
        header::HeaderValue::from_static("Accept-Language, Accept-Encoding"),
    );
    Ok(resp)
}

/// Markers share a place when their coordinates agree to four decimals (about 10 m).
struct Place {
    lat: f64,
    lon: f64,
    name: String,
    events: Vec<(String, String, String)>,
    more: usize,
}

fn places(gw: &Gateway, f: &ViewFilter, today: NaiveDate) -> Result<(Vec<Place>, usize), AppError> {
    let window = f.window(today, Some(super::HOME_DAYS));
    let page = read::fetch_collected(&gw.store, f, window, MAP_EVENTS, false)?;
    let now = read::now(gw);
    let mut out: Vec<Place> = Vec::new();
    let mut unplaced = 0;
    for h in &page.hits {
        let m = &h.event.content().master;
        let Some(g) = m.geo else {
            unplaced += 1;
            continue;
        };
        let zone = display::display_zone(f, m);
        let Some(o) = display::shown_instance(h, zone, now) else {
            continue;
        };
        let item = (
            display::when_text(f.lang, &o, zone),
            display::line(m.summary.as_deref().unwrap_or("—"), TITLE_MAX).into_owned(),
            display::event_path(&h.event),
        );
        let same = |p: &&mut Place| {
            (p.lat * 1e4).round() == (g.lat * 1e4).round()
                && (p.lon * 1e4).round() == (g.lon * 1e4).round()
        };
        if let Some(p) = out.iter_mut().find(same) {
            if p.events.len() < PER_PLACE {
                p.events.push(item);
            } else {
                p.more += 1;
            }
        } else if out.len() < MAP_PLACES {
            out.push(Place {
                lat: g.lat,
                lon: g.lon,
                name: m.location.as_deref().map_or_else(
                    || format!("{:.4}, {:.4}", g.lat, g.lon),
                    |l| display::line(l, TITLE_MAX).into_owned(),
                ),
                events: vec![item],
                more: 0,
            });
        }
    }
    Ok((out, unplaced))
}

/// Web Mercator: world pixel coordinates at zoom `z`.
fn project(lat: f64, lon: f64, z: u8) -> (f64, f64) {
    let size = TILE * f64::from(1u32 << z);
    let phi = lat.clamp(-85.051_128, 85.051_128).to_radians();
    let x = (lon.clamp(-180.0, 180.0) + 180.0) / 360.0 * size;
    let y = (1.0 - (phi.tan() + 1.0 / phi.cos()).ln() / PI) / 2.0 * size;
    (x, y)
}

/// The closest zoom at which every place fits inside the margin, and the top-left corner of
/// the view in that zoom's pixels.
fn frame(places: &[Place]) -> (u8, f64, f64) {
    for z in (1..=MAX_ZOOM).rev() {
        let pts: Vec<(f64, f64)> = places.iter().map(|p| project(p.lat, p.lon, z)).collect();
        let (x0, x1, y0, y1) = pts.iter().fold(
            (f64::MAX, f64::MIN, f64::MAX, f64::MIN),
            |(a, b, c, d), &(x, y)| (a.min(x), b.max(x), c.min(y), d.max(y)),
        );
        if (x1 - x0 <= W - 2.0 * PAD && y1 - y0 <= H - 2.0 * PAD) || z == 1 {
            return (z, (x0 + x1 - W) / 2.0, (y0 + y1 - H) / 2.0);
        }
    }
    (1, 0.0, 0.0)
}

/// The SVG: the tiles that cover the view, then one numbered marker per place, each a link to
/// its entry in the list.
fn map_svg(places: &[Place], tiles: &TileServer, label: &str) -> Markup {
    let (z, ox, oy) = frame(places);
    let n = 1i64 << z;
    let (tx0, tx1) = ((ox / TILE).floor() as i64, ((ox + W) / TILE).floor() as i64);
    let (ty0, ty1) = (
        ((oy / TILE).floor() as i64).max(0),
        (((oy + H) / TILE).floor() as i64).min(n - 1),
    );
    html! {
        svg.map viewBox=(format!("0 0 {W} {H}")) role="group" aria-label=(label) {
            @for ty in ty0..=ty1 {
                @for tx in tx0..=tx1 {
                    image href=(tiles.url(z, tx.rem_euclid(n), ty))
                        x=(format!("{:.1}", tx as f64 * TILE - ox)) y=(format!("{:.1}", ty as f64 * TILE - oy))
                        width="256" height="256" {}
                }
            }
            @for (i, p) in places.iter().enumerate() {
                @let (x, y) = project(p.lat, p.lon, z);
                @let (x, y) = (format!("{:.1}", x - ox), format!("{:.1}", y - oy));
                a href=(format!("#place-{}", i + 1)) {
                    title { (i + 1) ". " (p.name) }
                    circle cx=(x) cy=(y) r="16" {}
                    text x=(x) y=(y) text-anchor="middle" dominant-baseline="central" { (i + 1) }
                }
            }
        }
    }
}

fn render(
    gw: &Gateway,
    (f, look, pairs): (&ViewFilter, &Look, &[(String, String)]),
    tiles: &TileServer,
    today: NaiveDate,
) -> Result<Rendered, AppError> {
    let (places, unplaced) = places(gw, f, today)?;
    let de = f.lang == Lang::De;
    let t = |en: &'static str, de_: &'static str| if de { de_ } else { en };
    let lang_q = if de { "&lang=de" } else { "" };
    let list = read::with_query("/", refs(pairs));
    let title = format!("{} — {}", gw.name, t("Map", "Karte"));
    let body = html! {
        header.home {
            h1 { (gw.name) ": " (t("events on the map", "Termine auf der Karte")) }
            nav.ranges aria-label=(t("Other views", "Andere Ansichten")) {
                a href=(list) { (t("All upcoming events as a list", "Alle kommenden Termine als Liste")) }
            }
        }
        main.map-page {
            @if places.is_empty() {
                p { (t("No upcoming event in the next four weeks has a place on the map.",
                       "Kein Termin der nächsten vier Wochen hat einen Ort auf der Karte.")) }
            } @else {
                figure {
                    (map_svg(&places, tiles, t("Map of the places; the list beside it names them", "Karte der Orte; die Liste daneben nennt sie")))
                    @if !tiles.attribution.is_empty() {
                        figcaption { (t("Map tiles: ", "Kartenkacheln: ")) (tiles.attribution) }
                    }
                }
                ol.places {
                    @for (i, p) in places.iter().enumerate() {
                        li id=(format!("place-{}", i + 1)) {
                            h2 { (p.name) }
                            ul {
                                @for (when, name, path) in &p.events {
                                    li { a href=(path) { (name) } " — " (when) }
                                }
                            }
                            a href=(format!("/?near={:.4},{:.4}&radius_km={HERE_KM}{lang_q}", p.lat, p.lon)) {
                                @if p.more > 0 { (t("All events here", "Alle Termine hier")) " (+" (p.more) ")" }
                                @else { (t("Only events here", "Nur Termine hier")) }
                            }
                        }
                    }
                }
            }
            @if unplaced > 0 {
                p.note { (unplaced) " " (t("upcoming events have no coordinates and are only in the list.",
                    "kommende Termine haben keine Koordinaten und stehen nur in der Liste.")) }
            }
        }
    };
    let csp = html::CSP.replacen(
        "img-src 'self'",
        &format!("img-src 'self' {}", tiles.origin),
        1,
    );
    Ok(Rendered::new(
        "text/html; charset=utf-8",
        html::page(f.lang, &title, look, body),
    )
    .with_header(header::CONTENT_SECURITY_POLICY, &csp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_templates_are_checked() {
        let osm = TileServer::parse("https://tile.openstreetmap.org/{z}/{x}/{y}.png", "©").unwrap();
        assert_eq!(osm.origin, "https://tile.openstreetmap.org");
        assert_eq!(osm.url(3, 4, 2), "https://tile.openstreetmap.org/3/4/2.png");
        let port = TileServer::parse("http://127.0.0.1:8081/t/{z}/{x}/{y}?k=a", "").unwrap();
        assert_eq!(port.origin, "http://127.0.0.1:8081");
        for bad in [
            "javascript:alert(1)/{z}/{x}/{y}",
            "https://tiles.example/{z}/{x}.png",
            "https://tiles.example/{z}/{x}/{y}.png\"><script>",
            "https://tiles.example/{z}/{x}/{y}.png; script-src *",
            "https://tiles.example/{z}/{x}/{y} .png",
            "https://{z}.example/{x}/{y}.png",
            "https:///{z}/{x}/{y}.png",
        ] {
            assert!(TileServer::parse(bad, "").is_err(), "{bad}");
        }
    }

    #[test]
    fn places_land_on_the_tiles_slippy_maps_use() {
        // Berlin's Alexanderplatz is in tile 10/550/335 on every OpenStreetMap-style server.
        let (x, y) = project(52.5219, 13.4132, 10);
        assert_eq!(((x / TILE) as i64, (y / TILE) as i64), (550, 335));
        let (x, y) = project(0.0, 0.0, 1);
        assert!((x - TILE).abs() < 1e-9 && (y - TILE).abs() < 1e-9);
        let place = |lat, lon| Place {
            lat,
            lon,
            name: String::new(),
            events: Vec::new(),
            more: 0,
        };
        // Two places a few kilometres apart: a close zoom that still shows both, inside the
        // margin.
        let ps = [place(52.5130, 13.4200), place(52.4500, 13.3000)];
        let (z, ox, oy) = frame(&ps);
        assert!((9..=13).contains(&z), "{z}");
        for p in &ps {
            let (x, y) = project(p.lat, p.lon, z);
            assert!(
                (PAD - 1.0..=W - PAD + 1.0).contains(&(x - ox)),
                "{z} {x} {ox}"
            );
            assert!(
                (PAD - 1.0..=H - PAD + 1.0).contains(&(y - oy)),
                "{z} {y} {oy}"
            );
        }
        // One place: the closest zoom, centred.
        let (z, ox, oy) = frame(&ps[..1]);
        assert_eq!(z, MAX_ZOOM);
        let (x, y) = project(ps[0].lat, ps[0].lon, z);
        assert!((x - ox - W / 2.0).abs() < 1e-6 && (y - oy - H / 2.0).abs() < 1e-6);
    }
}
