#![no_main]
//! A description, title or place from a peer or a feed, as the views show it: never a panic,
//! and nothing shown but the allowed elements and http(s) links.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| discal_gateway::rich::fuzz_description(data));
