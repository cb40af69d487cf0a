//! An event's language: read from DisCal's X-DISCAL-LANGUAGE or a SUMMARY's LANGUAGE parameter,
//! written as both, refused in signed content when it is not a language tag.

use discal_protocol::ics::{self, IcsEvent};
use discal_protocol::model::{is_language_tag, LocalDateTime, Property, LANGUAGE_PROPERTY};
use discal_protocol::{sign, Limits, NodeSecret, ValidationError};

fn doc(props: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:t\r\nBEGIN:VEVENT\r\nUID:l@t\r\n\
         DTSTART:20270316T180000Z\r\n{props}END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

fn read(props: &str) -> ics::Import {
    let key = NodeSecret::from_seed(&[3u8; 32]).unwrap().public();
    ics::parse_calendar(&doc(props), &key, &Limits::default()).unwrap()
}

#[test]
fn tags_are_checked_by_their_shape() {
    for ok in ["de", "en", "pt-BR", "zh-Hant-TW", "gsw", "es-419"] {
        assert!(is_language_tag(ok), "{ok}");
    }
    for bad in ["", "d", "deutschland", "de_DE", "de-", "1a", "de DE", "<b>"] {
        assert!(!is_language_tag(bad), "{bad}");
    }
}

#[test]
fn the_language_is_read_written_and_read_back() {
    // A SUMMARY's LANGUAGE parameter names it when DisCal's property is absent.
    let imp = read("SUMMARY;LANGUAGE=de:Stammtisch\r\nDESCRIPTION:Für alle\r\n");
    let c = &imp.events[0].content;
    assert_eq!(c.master.language(), Some("de"));
    let secret = NodeSecret::from_seed(&[3u8; 32]).unwrap();
    let ev = sign(&secret, "l@t".into(), 0, 0, c.clone(), &Limits::default()).unwrap();
    let mut out = String::new();
    ics::write_event(
        &mut out,
        &IcsEvent {
            uid: "l@t",
            content: &ev.payload().content,
            revision: 0,
            hop: 0,
            issued: LocalDateTime::from_chrono(chrono::NaiveDateTime::default()),
        },
    );
    assert!(out.contains("SUMMARY;LANGUAGE=de:Stammtisch\r\n"), "{out}");
    assert!(
        out.contains("DESCRIPTION;LANGUAGE=de:Für alle\r\n"),
        "{out}"
    );
    assert!(out.contains("X-DISCAL-LANGUAGE:de\r\n"), "{out}");
    let again = ics::parse_calendar(
        &format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:t\r\n{out}END:VCALENDAR\r\n"),
        &secret.public(),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(again.events[0].content.master.language(), Some("de"));
    assert_eq!(
        again.events[0].content.master.extra,
        ev.payload().content.master.extra
    );
    // DisCal's property wins over a SUMMARY's parameter; only one is kept.
    let both =
        read("X-DISCAL-LANGUAGE:fr\r\nSUMMARY;LANGUAGE=de:Réunion\r\nX-DISCAL-LANGUAGE:it\r\n");
    let m = &both.events[0].content.master;
    assert_eq!(m.language(), Some("fr"));
    assert_eq!(
        m.extra
            .iter()
            .filter(|p| p.name == LANGUAGE_PROPERTY)
            .count(),
        1
    );
}

#[test]
fn a_bad_language_is_dropped_on_import_and_refused_when_signed() {
    let imp = read("SUMMARY:Talk\r\nX-DISCAL-LANGUAGE:not a tag!\r\n");
    assert_eq!(imp.events.len(), 1, "the event is taken");
    assert_eq!(imp.events[0].content.master.language(), None);
    assert!(
        imp.events[0]
            .warnings
            .iter()
            .any(|w| w.contains("X-DISCAL-LANGUAGE")),
        "{:?}",
        imp.events[0].warnings
    );
    // A peer's signed content with one is refused like any invalid content.
    let mut content = imp.events[0].content.clone();
    content.master.extra.push(Property {
        name: LANGUAGE_PROPERTY.into(),
        params: Vec::new(),
        value: "<script>".into(),
    });
    let secret = NodeSecret::from_seed(&[3u8; 32]).unwrap();
    let e = sign(&secret, "l@t".into(), 0, 0, content, &Limits::default()).unwrap_err();
    assert!(matches!(e, ValidationError::BadLanguage(_)), "{e:?}");
}
