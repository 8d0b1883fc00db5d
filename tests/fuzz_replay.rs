//! Replays every fuzz target's saved inputs, on stable, as an ordinary
//! test: `fuzz/corpus/<target>/` (the seeds and what the fuzzers kept) and
//! `fuzz/regressions/<target>/` (inputs that once crashed, kept after the
//! fix). The bodies are the fuzz targets' own (fuzz/entries), so a
//! regression here is a regression there.

#[allow(dead_code)]
#[path = "../fuzz/entries/mod.rs"]
mod entries;

use std::path::Path;

fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<_> = rd
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

#[test]
fn every_target_replays_its_corpus_and_regressions() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut failures = Vec::new();
    for (name, entry) in entries::TARGETS {
        let corpus = files(&root.join("corpus").join(name));
        let regressions = files(&root.join("regressions").join(name));
        assert!(!corpus.is_empty(), "fuzz/corpus/{name} is empty or missing");
        for path in corpus.iter().chain(&regressions) {
            let data = std::fs::read(path).unwrap();
            if std::panic::catch_unwind(|| entry(&data)).is_err() {
                failures.push(path.display().to_string());
            }
        }
        eprintln!(
            "{name}: {} corpus and {} regression inputs",
            corpus.len(),
            regressions.len()
        );
    }
    assert!(failures.is_empty(), "inputs that panic: {failures:#?}");
}

mod fuzz_seeds;

/// Writes the seed inputs (tests/fuzz_seeds) into fuzz/corpus when
/// `FUZZ_WRITE_SEEDS` is set; otherwise checks they are all there, so a
/// changed seed cannot go unsaved.
#[test]
fn seeds_are_in_the_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let write = std::env::var_os("FUZZ_WRITE_SEEDS").is_some();
    for (target, inputs) in fuzz_seeds::seeds() {
        let dir = root.join(target);
        for (i, data) in inputs.iter().enumerate() {
            let path = dir.join(format!("seed-{i:03}"));
            if write {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, data).unwrap();
            } else {
                let saved = std::fs::read(&path).unwrap_or_default();
                assert!(
                    saved == *data,
                    "{} is missing or stale: run with FUZZ_WRITE_SEEDS=1",
                    path.display()
                );
            }
        }
    }
}
