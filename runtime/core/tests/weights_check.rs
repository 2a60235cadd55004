//! A mapped artifact's weights are checksummed on first use, not at load (see
//! `Model::load`): a corrupted weight must still be refused, at the first run or at
//! `Model::verify`, with the checksum error and never a result.
//!
//! The fixture is the committed x86-64 doc artifact, so this runs on x86-64 hosts only
//! (the runtime's suite also runs cross-built under qemu-aarch64).
#![cfg(target_arch = "x86_64")]
#![allow(clippy::unwrap_used)]

use neoc_runtime::{Model, RuntimeError, TensorRef};
use std::path::PathBuf;

fn mlp_artifact() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testmodels/artifacts/mlp_x86_64.neo"
    );
    std::fs::read(path).unwrap()
}

fn write(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("neoc-weights-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn is_weights_checksum(err: &RuntimeError) -> bool {
    err.to_string()
        .contains("corrupted: checksum mismatch in section WEIGHTS")
}

#[test]
fn corrupted_weights_fail_the_first_run_and_verify() {
    let mut bytes = mlp_artifact();
    let last = bytes.len() - 1; // inside WEIGHTS, the last section
    bytes[last] ^= 0x40;
    let path = write("flipped.neo", &bytes);

    // Loading maps the file without reading the weights...
    let model = Model::load(&path).unwrap();
    // ...and the checksum is checked before anything runs, every time.
    let x = vec![0.5f32; 4 * 64];
    for _ in 0..2 {
        let err = model.run(&[TensorRef::f32(&[4, 64], &x)]).unwrap_err();
        assert!(is_weights_checksum(&err), "{err}");
        assert!(
            err.to_string().starts_with(&path.display().to_string()),
            "{err}"
        );
    }
    let err = Model::load(&path).unwrap().verify().unwrap_err();
    assert!(is_weights_checksum(&err), "{err}");

    // In memory, the weights are copied at load, so they are checked there.
    let err = Model::from_bytes(bytes).unwrap_err();
    assert!(is_weights_checksum(&err), "{err}");
}

#[test]
fn intact_weights_verify_and_run() {
    let path = write("intact.neo", &mlp_artifact());
    let model = Model::load(&path).unwrap();
    model.verify().unwrap();
    let x = vec![0.5f32; 4 * 64];
    assert_eq!(model.run(&[TensorRef::f32(&[4, 64], &x)]).unwrap().len(), 1);
}
