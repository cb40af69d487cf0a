#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| discal_protocol::fuzzing::proposal_decode(data));
