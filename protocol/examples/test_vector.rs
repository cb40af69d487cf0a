//! Prints the test vector in docs/protocol.md: `cargo run -p discal-protocol --example test_vector`.

fn main() {
    let secret = discal_protocol::vector::secret();
    let ev = discal_protocol::vector::signed().expect("the vector is valid");
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    println!("seed      {}", hex(&secret.to_seed()));
    println!("origin    {}", secret.public());
    println!("pubkey    {}", hex(secret.public().as_bytes()));
    println!("payload   {}", hex(&ev.envelope().payload));
    println!("signature {}", hex(&ev.envelope().signature));
    println!("envelope  {}", hex(&ev.envelope().encode()));
    println!("event id  {}", ev.id().to_hex());
}
