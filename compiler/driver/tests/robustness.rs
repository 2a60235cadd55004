//! Bad input must produce errors, never panics: seeded random mutations of real models
//! go through import, the passes and lowering (code generation is skipped for speed;
//! it only ever sees verified kernel IR).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, src: &[u8]) -> Vec<u8> {
    let mut b = src.to_vec();
    match rng.below(4) {
        0 => {
            // Flip a few bytes.
            for _ in 0..1 + rng.below(8) {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
        }
        1 => {
            // Overwrite a byte with an extreme value (varint lengths, dims, attributes).
            let i = rng.below(b.len());
            b[i] = [0x00, 0x7f, 0x80, 0xff][rng.below(4)];
        }
        2 => b.truncate(rng.below(b.len())),
        _ => {
            // Duplicate a random span (repeated fields, shifted lengths).
            let i = rng.below(b.len());
            let n = rng.below(64).min(b.len() - i);
            let span = b[i..i + n].to_vec();
            let at = rng.below(b.len());
            b.splice(at..at, span);
        }
    }
    b
}

fn pipeline(bytes: Vec<u8>) {
    let opts = neoc_onnx::ImportOptions::default();
    let Ok(mut graph) = neoc_onnx::import_bytes(bytes.into(), None, "fuzz.onnx", &opts) else {
        return;
    };
    if neoc_passes::optimize(&mut graph, 2, &[]).is_err() {
        return;
    }
    let _ = neoc_driver::plan::plan(&graph, "fuzz.onnx", neoc_kernel::VectorUnit::default());
}

fn fuzz_model(name: &str, iterations: usize, seed: u64) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testmodels/models")
        .join(name)
        .join("model.onnx");
    let src = std::fs::read(&path).unwrap();
    let mut rng = Rng(seed);
    for i in 0..iterations {
        let bytes = mutate(&mut rng, &src);
        let r = std::panic::catch_unwind(|| pipeline(bytes.clone()));
        if r.is_err() {
            let dump = std::env::temp_dir().join(format!("neoc-fuzz-{name}-{i}.onnx"));
            std::fs::write(&dump, &bytes).unwrap();
            panic!(
                "{name}: mutation {i} (seed {seed}) panicked; input saved to {}",
                dump.display()
            );
        }
    }
}

/// Mutations per model; `NEOC_FUZZ_ITERATIONS` raises it for a longer local run.
fn iterations() -> usize {
    std::env::var("NEOC_FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

#[test]
fn mutated_models_never_panic() {
    for (name, seed) in [
        ("lenet", 1),
        ("ops_conv", 2),
        ("ops_pool", 3),
        ("ops_shape", 4),
        ("ops_linear", 5),
        ("ops_opset7", 6),
        ("ops_elementwise", 7),
        ("ops_einsum", 8),
        ("ops_blocked", 11),
    ] {
        fuzz_model(name, iterations(), seed);
    }
    // Models whose every mutation plans hundreds of kernels (an unrolled RNN) or whose
    // import builds large constants: fewer mutations each.
    for (name, seed) in [("spatial_transformer", 9), ("rnn_tagger", 10)] {
        fuzz_model(name, iterations() / 20, seed);
    }
}
