//! Runs the CalDAV request-body fuzz target's entry point over its committed seed corpus
//! (fuzz/corpus/dav_body), so the target keeps compiling and every seed stays a regression
//! test.

use std::path::PathBuf;

#[test]
fn dav_body_seeds() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/dav_body");
    let mut seeds: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    seeds.sort();
    assert!(seeds.len() >= 4, "seed corpus for dav_body went missing");
    for p in seeds {
        eprintln!("{}", p.display());
        discal_gateway::dav::fuzzing::dav_body(&std::fs::read(&p).unwrap());
    }
}
