//! What the end-to-end model tests share: `.npy` inputs and references as runtime
//! tensors, and each case's `case.json`.

#![allow(dead_code)]

use neoc_runtime::DType;
use std::path::Path;

/// A `.npy` file as raw little-endian data.
pub struct Npy {
    pub dtype: DType,
    pub shape: Vec<u64>,
    pub data: Vec<u8>,
}

impl Npy {
    /// Every element widened to `f64`, for comparisons.
    pub fn values(&self) -> Vec<f64> {
        values(self.dtype, &self.data)
    }
}

/// The elements of `data` (little-endian `dtype`) widened to `f64`.
pub fn values(dtype: DType, data: &[u8]) -> Vec<f64> {
    let c = |n: usize| data.chunks_exact(n);
    match dtype {
        DType::F32 => c(4)
            .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
            .collect(),
        DType::I64 => c(8)
            .map(|b| i64::from_le_bytes(b.try_into().unwrap()) as f64)
            .collect(),
        DType::I32 => c(4)
            .map(|b| f64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])))
            .collect(),
        DType::Bool | DType::U8 => data.iter().map(|&b| f64::from(b)).collect(),
        DType::I8 => data.iter().map(|&b| f64::from(b as i8)).collect(),
        other => panic!("unsupported test dtype {other}"),
    }
}

/// The elements of `npy` as `T`, each written out with `to_le`.
fn le_bytes<T: npyz::Deserialize, const N: usize>(
    npy: npyz::NpyFile<&[u8]>,
    to_le: impl Fn(T) -> [u8; N],
) -> Vec<u8> {
    npy.into_vec::<T>()
        .unwrap()
        .into_iter()
        .flat_map(to_le)
        .collect()
}

pub fn read_npy(path: &Path) -> Npy {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape = npy.shape().to_vec();
    let descr = match npy.dtype() {
        npyz::DType::Plain(t) => t.to_string(),
        other => panic!("{}: structured dtype {other:?}", path.display()),
    };
    let (dtype, data): (DType, Vec<u8>) = match descr.as_str() {
        "<f4" => (DType::F32, le_bytes(npy, f32::to_le_bytes)),
        "<i8" => (DType::I64, le_bytes(npy, i64::to_le_bytes)),
        "<i4" => (DType::I32, le_bytes(npy, i32::to_le_bytes)),
        "|b1" => (DType::Bool, le_bytes(npy, |b: bool| [u8::from(b)])),
        "|u1" => (DType::U8, npy.into_vec::<u8>().unwrap()),
        "|i1" => (DType::I8, le_bytes(npy, |v: i8| v.to_le_bytes())),
        other => panic!("{}: unsupported dtype {other}", path.display()),
    };
    Npy { dtype, shape, data }
}

/// A case folder's `case.json`.
pub fn case(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).unwrap()).unwrap()
}

/// Little-endian f32 bytes widened to `f64`.
pub fn f32s(b: &[u8]) -> Vec<f64> {
    values(DType::F32, b)
}

/// The case's stored inputs (`inputs/<name>.npy`), in the model's signature order.
pub fn stored_inputs(model: &neoc_runtime::Model, dir: &Path) -> Vec<Npy> {
    model
        .inputs()
        .iter()
        .map(|s| read_npy(&dir.join("inputs").join(format!("{}.npy", s.name))))
        .collect()
}

/// `inputs` as runtime tensor references.
pub fn tensor_refs(inputs: &[Npy]) -> Vec<neoc_runtime::TensorRef<'_>> {
    inputs
        .iter()
        .map(|t| neoc_runtime::TensorRef::new(t.dtype, &t.shape, &t.data))
        .collect()
}

/// `case.json`'s `input_shapes` object as `--input-shape` pairs (none when absent).
pub fn input_shapes(case: &serde_json::Value) -> Vec<(String, Vec<u64>)> {
    case["input_shapes"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let d = v.as_array().unwrap().iter().map(|d| d.as_u64().unwrap());
                    (k.clone(), d.collect())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `case.json`'s `formats` list (the model files of one case).
pub fn formats(case: &serde_json::Value) -> Vec<String> {
    case["formats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect()
}

/// How far one output is from its reference.
#[derive(Debug, Clone, Copy)]
pub struct Errors {
    pub max_abs: f64,
    pub max_rel: f64,
    /// `max_abs / max |ref|`.
    pub scaled: f64,
    /// Elements outside `atol + rtol·|ref|` (NaN equals NaN; any other NaN is outside).
    pub bad: usize,
}

/// Compares `got` with `want` element by element.
pub fn errors(got: &[f64], want: &[f64], rtol: f64, atol: f64) -> Errors {
    let (mut max_abs, mut max_rel, mut bad) = (0f64, 0f64, 0usize);
    for (g, w) in got.iter().zip(want) {
        let abs = (g - w).abs();
        let ok = abs <= atol + rtol * w.abs() || (g.is_nan() && w.is_nan());
        if abs.is_finite() {
            max_abs = max_abs.max(abs);
            if *w != 0.0 {
                max_rel = max_rel.max(abs / w.abs());
            }
        }
        bad += usize::from(!ok);
    }
    assert_eq!(got.len(), want.len(), "element counts differ");
    let scale = want.iter().fold(0f64, |m, v| m.max(v.abs()));
    Errors {
        max_abs,
        max_rel,
        scaled: max_abs / scale.max(f64::MIN_POSITIVE),
        bad,
    }
}

/// Replaces `artifact`'s code with `module` compiled for the first level of `target` (an
/// x86-64 target): how the CUDA lowering's own kernels are run on this CPU.
pub fn with_cpu_code(
    artifact: &mut neoc_artifact::Artifact,
    module: &neoc_kernel::Module,
    target: &neoc_target_spec::Target,
    what: &str,
) {
    let level = &target.levels[0];
    let code = neoc_llvm::compile_shared_object(
        module,
        target,
        level,
        &neoc_llvm::CodegenOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{what}: {e}"));
    artifact.target = neoc_artifact::TargetInfo {
        name: target.name.into(),
        arch: neoc_artifact::Arch::X86_64,
        triple: target.triple.into(),
    };
    artifact.variants = vec![neoc_artifact::CodeVariant {
        name: level.name.into(),
        cpu: level.llvm_cpu.into(),
        required_features: level
            .required_features
            .iter()
            .map(|f| f.to_string())
            .collect(),
        code,
    }];
}

/// (QConv nodes, i.e. int8 kernels; float Conv/Gemm/MatMul nodes) of the ONNX model at
/// `model` after `-O2` (a fused node counts as its anchor).
pub fn int8_and_float_anchors(model: &Path) -> (usize, usize) {
    let mut g = neoc_driver::import(model, &[], &[]).unwrap();
    neoc_driver::optimize(
        &mut g,
        "model.onnx",
        &neoc_driver::CompileOptions::default(),
    )
    .unwrap();
    let (mut int8, mut float) = (0, 0);
    for n in g.topo_order() {
        let op = match &g.node(n).op {
            neoc_ir::Op::Fused(f) => f.anchor.as_ref(),
            op => op,
        };
        match op {
            neoc_ir::Op::QConv(_) => int8 += 1,
            neoc_ir::Op::Conv(_) | neoc_ir::Op::Gemm(_) | neoc_ir::Op::MatMul => float += 1,
            _ => {}
        }
    }
    (int8, float)
}

/// `testmodels/quant`: the int8 test cases (`testmodels/quant/generate.py`).
pub fn quant() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testmodels/quant")
}

/// The test case in `dir` (`dir/model.onnx`) compiled for `target` and loaded.
pub fn compile(dir: &Path, target: &str) -> neoc_runtime::Model {
    let opts = neoc_driver::CompileOptions {
        target: target.into(),
        ..neoc_driver::CompileOptions::default()
    };
    let (artifact, _) = neoc_driver::compile_file(&dir.join("model.onnx"), &opts)
        .unwrap_or_else(|e| panic!("{}: compile failed: {e}", dir.display()));
    neoc_runtime::Model::from_bytes(artifact.to_bytes()).unwrap()
}

/// The x86 targets whose int8 code paths differ, as far as this CPU runs them: AVX2
/// (`pmaddwd` byte products), AVX-512 without VNNI, AVX-512 VNNI.
pub fn int8_targets() -> Vec<&'static str> {
    let mut t = vec!["x86_64-avx2"];
    if std::arch::is_x86_feature_detected!("avx512bw") {
        t.push("x86_64-avx512");
    }
    if std::arch::is_x86_feature_detected!("avx512vnni") {
        t.push("x86_64-avx512-vnni");
    }
    t
}
