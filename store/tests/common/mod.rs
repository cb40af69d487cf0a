//! Helpers shared by the store's integration tests and benchmark.
#![allow(dead_code)]

use discal_protocol::model::{
    Component, Date, DateTimeValue, Duration, End, EventContent, Geo, LocalDateTime, Status,
};
use discal_protocol::{sign, Limits, NodeSecret, VerifiedEvent};

pub const NOW: i64 = 1_790_000_000_000;

pub fn secret(n: u8) -> NodeSecret {
    NodeSecret::from_seed(&[n; 32]).unwrap()
}

pub fn at(y: i32, mo: u8, d: u8, h: u8) -> LocalDateTime {
    LocalDateTime {
        date: Date {
            year: y,
            month: mo,
            day: d,
        },
        hour: h,
        minute: 0,
        second: 0,
    }
}

/// A one-hour UTC event.
pub fn one_off(start: LocalDateTime, title: &str) -> EventContent {
    let mut c = Component::new(DateTimeValue::Utc(start));
    c.end = Some(End::Duration(Duration {
        seconds: 3600,
        ..Duration::default()
    }));
    c.summary = Some(title.into());
    EventContent::new(c)
}

pub fn with_tags(mut c: EventContent, tags: &[&str]) -> EventContent {
    c.master.categories = tags.iter().map(|t| t.to_string()).collect();
    c
}

pub fn with_geo(mut c: EventContent, lat: f64, lon: f64) -> EventContent {
    c.master.geo = Some(Geo { lat, lon });
    c
}

pub fn cancelled(mut c: EventContent) -> EventContent {
    c.master.status = Some(Status::Cancelled);
    c
}

pub fn signed(s: &NodeSecret, uid: &str, revision: u32, c: EventContent) -> VerifiedEvent {
    sign(s, uid.into(), revision, NOW, c, &Limits::default()).unwrap()
}
