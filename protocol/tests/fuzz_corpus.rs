//! Runs the cargo-fuzz targets' entry points over their committed seed corpus (fuzz/corpus), so
//! the targets keep compiling against the API and every seed (including any crash a fuzzer
//! found and we fixed) stays a regression test.

use std::path::PathBuf;

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir:?}: {e}"))
        .map(|e| {
            let p = e.unwrap().path();
            (p.display().to_string(), std::fs::read(&p).unwrap())
        })
        .collect();
    out.sort();
    assert!(out.len() >= 4, "seed corpus for {target} went missing");
    out
}

#[test]
fn envelope_decode_seeds() {
    for (name, data) in seeds("envelope_decode") {
        eprintln!("{name}");
        discal_protocol::fuzzing::envelope_decode(&data);
    }
}

#[test]
fn proposal_decode_seeds() {
    for (name, data) in seeds("proposal_decode") {
        eprintln!("{name}");
        discal_protocol::fuzzing::proposal_decode(&data);
    }
}

#[test]
fn ics_parse_seeds() {
    for (name, data) in seeds("ics_parse") {
        eprintln!("{name}");
        discal_protocol::fuzzing::ics_parse(&data);
    }
}

#[test]
fn view_query_seeds() {
    for (name, data) in seeds("view_query") {
        eprintln!("{name}");
        discal_protocol::fuzzing::view_query(&data);
    }
}
