#![no_main]
//! An event page (or a sitemap) from any site: reading it must never panic, whatever it holds.
use libfuzzer_sys::fuzz_target;

use discal_node::sources::page::{links, read_page, sitemap_locs};
use discal_protocol::{Limits, NodeSecret};

fuzz_target!(|data: &[u8]| {
    let Ok(html) = std::str::from_utf8(data) else {
        return;
    };
    let key = NodeSecret::from_seed_array([9; 32]).public();
    let tz = Some(discal_protocol::Tz::Europe__Berlin);
    let _ = read_page(html, "https://events.example/e/1", tz, &key, &Limits::default());
    let _ = links(html, "https://events.example/e/");
    let _ = sitemap_locs(html);
});
