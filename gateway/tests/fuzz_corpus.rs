//! Runs the gateway's fuzz targets' entry points (CalDAV request bodies, descriptions as the
//! views show them) over their committed seed corpora (fuzz/corpus/dav_body,
//! fuzz/corpus/description), so the targets keep compiling and every seed stays a regression
//! test.

use std::path::PathBuf;

/// The committed seeds of `target`, in order.
fn seeds(target: &str) -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut seeds: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    seeds.sort();
    assert!(seeds.len() >= 4, "seed corpus for {target} went missing");
    seeds
}

#[test]
fn dav_body_seeds() {
    for p in seeds("dav_body") {
        eprintln!("{}", p.display());
        discal_gateway::dav::fuzzing::dav_body(&std::fs::read(&p).unwrap());
    }
}

#[test]
fn description_seeds() {
    for p in seeds("description") {
        eprintln!("{}", p.display());
        discal_gateway::rich::fuzz_description(&std::fs::read(&p).unwrap());
    }
}
