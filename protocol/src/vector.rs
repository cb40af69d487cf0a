//! The test vector of docs/protocol.md §9, in one place: the conformance test and the
//! `test_vector` example both build it from here.

use crate::model::{Component, Date, DateTimeValue, Duration, End, EventContent, LocalDateTime};
use crate::{sign, Limits, NodeSecret, ValidationError, VerifiedEvent};

/// The secret key seed: bytes 0x00, 0x01, …, 0x1f.
pub fn secret() -> NodeSecret {
    let mut seed = [0u8; 32];
    for (i, b) in seed.iter_mut().enumerate() {
        *b = i as u8;
    }
    NodeSecret::from_seed_array(seed)
}

/// The event: 3 December 2026 18:30 Europe/Berlin for two hours, "Open Source Night", tagged
/// "linux".
pub fn content() -> EventContent {
    let mut master = Component::new(DateTimeValue::Zoned {
        local: LocalDateTime {
            date: Date {
                year: 2026,
                month: 12,
                day: 3,
            },
            hour: 18,
            minute: 30,
            second: 0,
        },
        tzid: "Europe/Berlin".into(),
    });
    master.end = Some(End::Duration(Duration {
        negative: false,
        weeks: 0,
        days: 0,
        seconds: 7200,
    }));
    master.summary = Some("Open Source Night".into());
    master.categories = vec!["linux".into()];
    EventContent::new(master)
}

/// UID `vector-1@discal.example`, revision 1, issued at 1,790,000,000,000 ms.
pub fn signed() -> Result<VerifiedEvent, ValidationError> {
    sign(
        &secret(),
        "vector-1@discal.example".into(),
        1,
        1_790_000_000_000,
        content(),
        &Limits::default(),
    )
}
