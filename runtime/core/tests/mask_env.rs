//! NEOC_CPU_FEATURES_MASK, in its own test binary: environment variables are process-wide.

mod common;

use common::*;
use neoc_runtime::{host_cpu_features, Model, RuntimeError, TensorRef, CPU_FEATURES_MASK_ENV};

#[test]
fn masked_feature_forces_fallback_or_refusal() {
    let Some(so) = kernels_so() else { return };
    let Some(&feature) = host_cpu_features().first() else {
        eprintln!("SKIPPED: no detectable CPU features on this architecture");
        return;
    };
    let mut a = artifact(so.clone());
    let mut best = a.variants[0].clone();
    best.name = "best".into();
    best.required_features = vec![feature.to_string()];
    a.variants.insert(0, best);
    let bytes = a.to_bytes();

    let m = Model::from_bytes(bytes.clone()).unwrap();
    assert_eq!(m.variant().unwrap().name, "best");

    std::env::set_var(CPU_FEATURES_MASK_ENV, format!("{feature}, something-else"));
    assert!(!host_cpu_features().contains(&feature));
    let m = Model::from_bytes(bytes).unwrap();
    assert_eq!(m.variant().unwrap().name, "generic");
    assert_eq!(
        m.run(&[TensorRef::f32(&[1, 4], &X)]).unwrap()[0]
            .as_f32()
            .unwrap(),
        &Y
    );

    a.variants.truncate(1);
    let err = Model::from_bytes(a.to_bytes()).unwrap_err();
    assert!(
        matches!(err, RuntimeError::MissingCpuFeatures { ref missing, .. } if missing == &[feature.to_string()]),
        "{err}"
    );
    std::env::remove_var(CPU_FEATURES_MASK_ENV);
}
