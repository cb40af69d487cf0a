//! The collector's dedupe rule (issue 21) judged on a labelled corpus built here: 300 pairs
//! that are one real event written twice (by two sites, a feed and a page, two aggregators)
//! and 300 near-misses (weekly meetups of two groups in one city, the same talk at two places,
//! the same series on other days, two events at one venue on one evening). Prints precision
//! and recall; the targets are precision ≥ 0.99 and recall ≥ 0.9.

use chrono::{Duration, NaiveDate, NaiveDateTime, TimeZone};
use discal_protocol::dedupe::{fingerprint, same_event};
use discal_protocol::model::{
    Component, DateTimeValue, EventContent, Geo, LocalDateTime, Property,
};
use discal_protocol::source::SOURCE_PROPERTY;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[derive(Clone, Copy)]
struct Venue {
    name: &'static str,
    address: &'static str,
    geo: (f64, f64),
}

// (name, address, coordinates)
#[rustfmt::skip]
const PLACES: &[(&str, &str, (f64, f64))] = &[
    ("c-base", "Rungestraße 20, 10179 Berlin", (52.5130, 13.4201)),
    ("Impact Hub", "Gotzinger Str. 8, 81371 München", (48.1206, 11.5447)),
    ("Stadtbibliothek", "Am Wall 201, 28195 Bremen", (53.0793, 8.8017)),
    ("Hackspace", "Hauptstraße 1, 70173 Stuttgart", (48.7784, 9.1800)),
    ("La Quadrature", "60 rue des Orteaux, 75020 Paris", (48.8566, 2.4025)),
    ("XM24", "Via Fioravanti 24, Bologna", (44.5075, 11.3514)),
    ("Otto Group Campus", "Werner-Otto-Straße 1, Hamburg", (53.5900, 10.0810)),
    ("Raumfahrtagentur", "Wiesenstraße 29, 13357 Berlin", (52.5470, 13.3720)),
];

const VENUES: [Venue; 8] = venues();

const fn venues() -> [Venue; 8] {
    let mut out = [Venue {
        name: "",
        address: "",
        geo: (0.0, 0.0),
    }; 8];
    let mut i = 0;
    while i < 8 {
        out[i] = Venue {
            name: PLACES[i].0,
            address: PLACES[i].1,
            geo: PLACES[i].2,
        };
        i += 1;
    }
    out
}

const TOPICS: &[&str] = &[
    "Linux Install Party",
    "Python Usergroup",
    "Rust Meetup",
    "Repair Café",
    "OpenStreetMap Mapping Party",
    "Hack Night",
    "Wikipedia Stammtisch",
    "Free Software Evening",
    "Cryptoparty",
    "Blender Workshop",
    "Git for Beginners",
    "Nextcloud Admin Meetup",
    "Emacs Users",
    "Debian Bug Squashing Party",
    "Fediverse Meetup",
];

fn at(t: NaiveDateTime) -> DateTimeValue {
    DateTimeValue::Zoned {
        local: LocalDateTime::from_chrono(t),
        tzid: "Europe/Berlin".into(),
    }
}

fn utc_of(t: NaiveDateTime) -> DateTimeValue {
    let z = chrono_tz::Europe::Berlin.from_local_datetime(&t).unwrap();
    DateTimeValue::Utc(LocalDateTime::from_chrono(z.naive_utc()))
}

struct Ev {
    uid: String,
    content: EventContent,
}

fn ev(
    uid: String,
    title: &str,
    start: DateTimeValue,
    place: Option<String>,
    geo: Option<(f64, f64)>,
) -> Ev {
    let mut c = Component::new(start);
    c.summary = Some(title.to_string());
    c.location = place;
    c.geo = geo.map(|(lat, lon)| Geo { lat, lon });
    Ev {
        uid,
        content: EventContent::new(c),
    }
}

fn jitter(rng: &mut StdRng, (lat, lon): (f64, f64), metres: f64) -> (f64, f64) {
    let d = metres / 111_000.0;
    (lat + rng.gen_range(-d..d), lon + rng.gen_range(-d..d))
}

fn start_of(rng: &mut StdRng) -> NaiveDateTime {
    let day = NaiveDate::from_ymd_opt(2027, 1, 4).unwrap() + Duration::days(rng.gen_range(0..300));
    day.and_hms_opt(rng.gen_range(17..21), [0, 30][rng.gen_range(0..2)], 0)
        .unwrap()
}

/// The same real event as two sites write it.
fn duplicate(rng: &mut StdRng, i: usize) -> (Ev, Ev) {
    let v = &VENUES[rng.gen_range(0..VENUES.len())];
    let topic = TOPICS[rng.gen_range(0..TOPICS.len())];
    let t = start_of(rng);
    let city = v.address.rsplit(' ').next().unwrap();
    let a = ev(
        format!("a{i}@site-a.example"),
        &format!("{topic} {city}"),
        at(t),
        Some(format!("{}, {}", v.name, v.address)),
        Some(v.geo),
    );
    let title = match rng.gen_range(0..5) {
        0 => format!("{topic} {city}").to_uppercase(),
        1 => format!("[{city}] {topic}"),
        2 => format!("{topic} {city} – monthly meeting"),
        3 => format!("{topic}!"),
        _ => format!("{topic} in {city}"),
    };
    let start = match rng.gen_range(0..4) {
        0 => utc_of(t),
        1 => at(t + Duration::minutes(rng.gen_range(-15..=15))),
        _ => at(t),
    };
    let (place, geo) = match rng.gen_range(0..4) {
        0 => (Some(v.name.to_string()), None),
        1 => (
            Some(format!("{} ({})", v.name, city)),
            Some(jitter(rng, v.geo, 150.0)),
        ),
        2 => (None, Some(jitter(rng, v.geo, 80.0))),
        _ => (Some(v.address.to_string()), Some(v.geo)),
    };
    let mut b = ev(format!("b{i}@site-b.example"), &title, start, place, geo);
    match rng.gen_range(0..6) {
        // Both nodes took it from the same feed: the same UID, each with provenance.
        0 => {
            let uid = format!("feed-{i}@groups.example");
            let mut a2 = ev(
                uid.clone(),
                &a.content.master.summary.clone().unwrap(),
                a.content.master.start.clone(),
                a.content.master.location.clone(),
                Some(v.geo),
            );
            for e in [&mut a2, &mut b] {
                e.uid = uid.clone();
                e.content.master.extra.push(Property {
                    name: SOURCE_PROPERTY.into(),
                    params: vec![],
                    value: "https://groups.example/cal.ics".into(),
                });
            }
            return (a2, b);
        }
        // The same event page linked from both.
        1 => {
            let mut a = a;
            a.content.master.url = Some(format!("https://groups.example/events/{i}/"));
            b.content.master.url = Some(format!(
                "http://www.groups.example/events/{i}?utm_source=feed"
            ));
            return (a, b);
        }
        _ => {}
    }
    (a, b)
}

/// Two events that share much and are not one.
fn near_miss(rng: &mut StdRng, i: usize) -> (Ev, Ev) {
    let v = &VENUES[rng.gen_range(0..VENUES.len())];
    let t = start_of(rng);
    let topic = TOPICS[rng.gen_range(0..TOPICS.len())];
    let a = ev(
        format!("a{i}@x"),
        topic,
        at(t),
        Some(format!("{}, {}", v.name, v.address)),
        Some(v.geo),
    );
    let b = match i % 5 {
        // Another group's meetup at the same time in the same city, elsewhere.
        0 => {
            let other = TOPICS
                .iter()
                .find(|o| **o != topic && !o.split(' ').any(|w| topic.contains(w)))
                .unwrap();
            let far = (v.geo.0 + 0.02, v.geo.1 + 0.02);
            ev(
                format!("b{i}@x"),
                other,
                at(t),
                Some(format!("Café {i}")),
                Some(far),
            )
        }
        // Another group at the same venue, same evening, same time.
        1 => {
            let other = TOPICS[(TOPICS.iter().position(|o| *o == topic).unwrap()
                + 1
                + rng.gen_range(0..TOPICS.len() - 1))
                % TOPICS.len()];
            let other = if other == topic { TOPICS[0] } else { other };
            let other = if other == topic { TOPICS[1] } else { other };
            ev(
                format!("b{i}@x"),
                other,
                at(t),
                Some(format!("{}, {}", v.name, v.address)),
                Some(v.geo),
            )
        }
        // The same talk at the same time at another place in the city.
        2 => {
            let w =
                &VENUES[(VENUES.iter().position(|x| x.name == v.name).unwrap() + 1) % VENUES.len()];
            let (place, geo) = if rng.gen_bool(0.5) {
                (Some(format!("{}, {}", w.name, w.address)), Some(w.geo))
            } else {
                (
                    Some(format!("Volkshochschule Raum {i}")),
                    Some((v.geo.0 + 0.015, v.geo.1)),
                )
            };
            ev(format!("b{i}@x"), topic, at(t), place, geo)
        }
        // The same series, another week.
        3 => ev(
            format!("b{i}@x"),
            topic,
            at(t + Duration::days(7 * rng.gen_range(1..4))),
            a.content.master.location.clone(),
            Some(v.geo),
        ),
        // The same venue, the same evening, a later event with a related title.
        _ => ev(
            format!("b{i}@x"),
            &format!("{topic} afterparty"),
            at(t + Duration::hours(rng.gen_range(2..4))),
            a.content.master.location.clone(),
            Some(v.geo),
        ),
    };
    (a, b)
}

#[test]
fn precision_and_recall_on_a_labelled_corpus() {
    let mut rng = StdRng::seed_from_u64(21);
    let (mut tp, mut fn_, mut fp, mut tn) = (0u32, 0u32, 0u32, 0u32);
    let mut misses = Vec::new();
    for i in 0..300 {
        let (a, b) = duplicate(&mut rng, i);
        match same_event(
            &fingerprint(&a.uid, &a.content),
            &fingerprint(&b.uid, &b.content),
        ) {
            Some(_) => tp += 1,
            None => {
                fn_ += 1;
                misses.push(format!(
                    "missed: {:?} / {:?}",
                    a.content.master.summary, b.content.master.summary
                ));
            }
        }
        let (a, b) = near_miss(&mut rng, i);
        match same_event(
            &fingerprint(&a.uid, &a.content),
            &fingerprint(&b.uid, &b.content),
        ) {
            Some(s) => {
                fp += 1;
                misses.push(format!(
                    "merged by {s:?}: {:?} @ {:?} / {:?} @ {:?}",
                    a.content.master.summary,
                    a.content.master.location,
                    b.content.master.summary,
                    b.content.master.location
                ));
            }
            None => tn += 1,
        }
    }
    let precision = f64::from(tp) / f64::from(tp + fp);
    let recall = f64::from(tp) / f64::from(tp + fn_);
    println!("dedupe: {tp} true, {fp} false merges, {fn_} missed, {tn} kept apart: precision {precision:.3}, recall {recall:.3}");
    for m in misses.iter().take(20) {
        println!("  {m}");
    }
    assert!(precision >= 0.99, "precision {precision:.3}");
    assert!(recall >= 0.9, "recall {recall:.3}");
}
