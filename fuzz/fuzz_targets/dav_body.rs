#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| discal_gateway::dav::fuzzing::dav_body(data));
