//! Prints the test vector in docs/protocol.md: `cargo run -p discal-protocol --example test_vector`.

use discal_protocol::model::{
    Component, Date, DateTimeValue, Duration, End, EventContent, LocalDateTime,
};
use discal_protocol::{sign, Limits, NodeSecret};

fn main() {
    let seed: Vec<u8> = (0u8..32).collect();
    let secret = NodeSecret::from_seed(&seed).expect("32 bytes");
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
    let ev = sign(
        &secret,
        "vector-1@discal.example".into(),
        1,
        1_790_000_000_000,
        EventContent::new(master),
        &Limits::default(),
    )
    .expect("valid");
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    println!("seed      {}", hex(&seed));
    println!("origin    {}", secret.public());
    println!("pubkey    {}", hex(secret.public().as_bytes()));
    println!("payload   {}", hex(&ev.envelope().payload));
    println!("signature {}", hex(&ev.envelope().signature));
    println!("envelope  {}", hex(&ev.envelope().encode()));
    println!("event id  {}", ev.id().to_hex());
}
