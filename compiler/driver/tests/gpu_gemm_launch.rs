//! Launch shapes of the GPU GEMMs (`neoc_kernel::gpu::gemm`) in ResNet-18 and the
//! BERT-style encoder lowered for `cuda-sm90`: every MatMul/Gemm/convolution GEMM is a
//! block kernel with shared-memory tiles (on tensor cores at fp16), and the test prints
//! each one's blocks, threads and shared bytes (figures for `docs/cuda.md`; run with
//! `--nocapture`).
//! Their numerics are checked by `gpu_schedule.rs` and `precision.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use neoc_driver::CompileOptions;
use std::path::Path;

mod common;

#[test]
fn gemms_are_block_kernels_with_shared_tiles() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testmodels/models");
    for name in ["resnet18", "bert_encoder"] {
        let dir = root.join(name);
        let shapes = common::input_shapes(&common::case(&dir));
        let opts = CompileOptions {
            target: "cuda-sm90".into(),
            input_shapes: shapes.clone(),
            ..CompileOptions::default()
        };
        let file = dir.join("model.onnx");
        let mut graph = neoc_driver::import(&file, &shapes, &[]).unwrap();
        neoc_driver::optimize(&mut graph, name, &opts).unwrap();
        let cuda = &neoc_target_spec::lookup("cuda-sm90").unwrap().levels[0];
        let unit = neoc_kernel::VectorUnit {
            bits: cuda.vector_bits,
            registers: cuda.vector_registers,
            parallelism: cuda.parallel_iterations,
            ..neoc_kernel::VectorUnit::default()
        };
        let module = neoc_driver::plan::plan(&graph, name, unit).unwrap().module;
        let mut gemms = 0;
        for k in &module.kernels {
            let tiled = k.locals.iter().any(|l| l.name == "a_tile");
            let Some(launch) = k.gpu.filter(|_| tiled) else {
                continue;
            };
            gemms += 1;
            let shared: u64 = k.locals.iter().map(|l| l.len * l.elem.size_bytes()).sum();
            println!(
                "{name} {}: {} blocks x {} threads, {shared} B shared",
                k.name, launch.grid, launch.block
            );
        }
        println!(
            "{name}: {gemms} GEMM block kernels of {}",
            module.kernels.len()
        );
        assert!(gemms > 0, "{name}: no GEMM became a block kernel");
        // At fp16 the same products run on tensor cores (`gpu::tensor_gemm`).
        let fp16 = neoc_kernel::Precision::F16;
        let planned = neoc_driver::plan::plan_with_precision(&graph, name, unit, fp16, &|_, _| {});
        let tensor = planned
            .unwrap()
            .module
            .kernels
            .iter()
            .filter(|k| {
                k.locals
                    .iter()
                    .any(|l| l.name == neoc_kernel::gpu::tensor_gemm::A_FRAGMENTS)
            })
            .count();
        println!("{name} fp16: {tensor} tensor-core GEMM block kernels");
        assert_eq!(
            tensor, gemms,
            "{name}: fp16 products not all on tensor cores"
        );
    }
}
