//! Every target over its corpus (`corpus/<target>/`), then over mutations of it for
//! `FUZZ_REPLAY_SECONDS` seconds each (default 2): not coverage-guided (that is scripts/fuzz,
//! under AFL++), but it keeps the targets building and running in CI, and replays the seeds and
//! any crash committed to a corpus.

use std::path::Path;
use std::time::{Duration, Instant};

/// A small xorshift generator: the mutations are the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const INTERESTING: &[&[u8]] = &[
    b"\0", b"{{", b"}}", b"${", b"}", b"%", b"%FF", b"\r\n", b":", b"/", b"..", b"\"", b"'", b"{",
    b"[", b"Basic ", b"Bearer ", b"auth=", b"&", b"+", b"\xff", b"\xc3",
];

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut out = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(4) {
            0 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] = rng.next() as u8;
            }
            1 if !out.is_empty() => {
                let end = (at + rng.below(8)).min(out.len());
                out.drain(at.min(end)..end);
            }
            2 => {
                let piece = INTERESTING[rng.below(INTERESTING.len())];
                out.splice(at..at, piece.iter().copied());
            }
            _ => {
                let n = rng.below(out.len().max(1));
                let copy: Vec<u8> = out.iter().skip(n).take(16).copied().collect();
                out.splice(at..at, copy);
            }
        }
    }
    out
}

#[test]
fn every_target_survives_its_corpus_and_mutations_of_it() {
    let seconds = std::env::var("FUZZ_REPLAY_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for name in mfa_bridge_fuzz::TARGETS {
        let run = mfa_bridge_fuzz::target(name).expect("a known target");
        let mut seeds = Vec::new();
        for entry in std::fs::read_dir(root.join(name)).expect("the target's corpus") {
            let path = entry.expect("a corpus entry").path();
            seeds.push(std::fs::read(&path).expect("a corpus file"));
        }
        assert!(!seeds.is_empty(), "{name}: an empty corpus");
        for seed in &seeds {
            run(seed);
        }
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let until = Instant::now() + Duration::from_secs(seconds);
        let mut runs = 0u64;
        while Instant::now() < until {
            let seed = &seeds[rng.below(seeds.len())];
            run(&mutate(&mut rng, seed));
            runs += 1;
        }
        eprintln!("{name}: {} seeds, {runs} mutations", seeds.len());
    }
}
