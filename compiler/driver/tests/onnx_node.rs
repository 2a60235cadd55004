//! ONNX backend node tests as a conformance runner (issue 4).
//!
//! Every case folder under `testmodels/onnx-node/node/` (materialised by
//! `testmodels/onnx-node/generate.py` from the pinned onnx wheel, never downloaded here)
//! is compiled for the host with the default options, each `test_data_set_*` is run
//! through the runtime, and every output is compared with the stored reference using
//! onnx's own rule (`|got - want| <= atol + rtol * |want|`, rtol 1e-3, atol 1e-7, NaN
//! equals NaN) unless the manifest line says otherwise.
//!
//! Each case is classified as
//! - `pass`: every output of every data set matches in dtype, shape and values;
//! - `fail`: it compiled and ran but an output differs (the reason says how);
//! - `unsupported`: compilation refused it as not supported yet (an operator without a
//!   mapping, an attribute value or operator form that lowering does not handle, an
//!   element type neoc has no code for, an opset out of range);
//! - `error`: anything else: a compile error that is not an "unsupported" one, a
//!   runtime error, a malformed reference, or a panic (caught per case).
//!
//! Contract of the `#[test]`: every case listed in `testmodels/onnx-node/manifest.txt`
//! passes, every manifest line names an existing case, and no case panics. Cases not in
//! the manifest are only reported. `NEOC_WRITE_CONFORMANCE=1` rewrites
//! `docs/onnx-conformance.md` from the results (per operator: passing count and one
//! line per failing case); `NEOC_ONNX_NODE_FILTER=substr` runs only matching cases (and
//! then neither asserts the whole manifest nor writes the doc);
//! `NEOC_ONNX_NODE_TARGET=name` compiles for another target this machine runs (e.g.
//! `x86_64-avx2` on an AVX-512 host).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use neoc_driver::{compile_file, CompileOptions, DriverError};
use neoc_ir::IrError;
use neoc_onnx::proto::{data_type as dt, ModelProto, TensorProto};
use neoc_onnx::OnnxError;
use neoc_runtime::{DType, Model, TensorRef};
use prost::Message;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const DEFAULT_RTOL: f64 = 1e-3;
const DEFAULT_ATOL: f64 = 1e-7;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn suite_dir() -> PathBuf {
    root().join("testmodels/onnx-node")
}

// ---------------------------------------------------------------------------------------
// Manifest

/// One enabled case and its tags.
#[derive(Debug, Clone)]
struct Entry {
    rtol: f64,
    atol: f64,
    /// Host target names on which the case is not run.
    skip_targets: Vec<String>,
}

/// `name [tag ...]` per line; `#` starts a comment. Tags: `tol:X` (rtol and atol X),
/// `rtol:X`, `atol:X`, `skip-target:NAME[,NAME...]`. Unknown tags and duplicate names
/// are errors, so a typo cannot silently disable a check.
fn read_manifest(path: &Path) -> BTreeMap<String, Entry> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = BTreeMap::new();
    for (lineno, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut words = line.split_whitespace();
        let name = words.next().unwrap().to_string();
        let mut e = Entry {
            rtol: DEFAULT_RTOL,
            atol: DEFAULT_ATOL,
            skip_targets: Vec::new(),
        };
        for tag in words {
            let (key, val) = tag
                .split_once(':')
                .unwrap_or_else(|| bad_tag(path, lineno, tag));
            let num = || {
                val.parse::<f64>()
                    .unwrap_or_else(|_| bad_tag(path, lineno, tag))
            };
            match key {
                "tol" => (e.rtol, e.atol) = (num(), num()),
                "rtol" => e.rtol = num(),
                "atol" => e.atol = num(),
                "skip-target" => e.skip_targets.extend(val.split(',').map(str::to_string)),
                _ => bad_tag(path, lineno, tag),
            }
        }
        assert!(
            out.insert(name.clone(), e).is_none(),
            "{}:{}: `{name}` listed twice",
            path.display(),
            lineno + 1
        );
    }
    out
}

fn bad_tag<T>(path: &Path, lineno: usize, tag: &str) -> T {
    panic!("{}:{}: bad tag `{tag}`", path.display(), lineno + 1)
}

// ---------------------------------------------------------------------------------------
// Reference tensors

/// A decoded `TensorProto`: little-endian data in the runtime's layout.
struct Ref {
    dtype: DType,
    shape: Vec<u64>,
    data: Vec<u8>,
}

fn dtype_of(code: i32) -> Result<DType, String> {
    Ok(match code {
        dt::FLOAT => DType::F32,
        dt::UINT8 => DType::U8,
        dt::INT8 => DType::I8,
        dt::UINT16 => DType::U16,
        dt::INT16 => DType::I16,
        dt::INT32 => DType::I32,
        dt::INT64 => DType::I64,
        dt::BOOL => DType::Bool,
        dt::FLOAT16 => DType::F16,
        dt::DOUBLE => DType::F64,
        dt::UINT32 => DType::U32,
        dt::UINT64 => DType::U64,
        dt::BFLOAT16 => DType::BF16,
        dt::FLOAT8E4M3FN => DType::F8E4M3FN,
        dt::FLOAT8E4M3FNUZ => DType::F8E4M3FNUZ,
        dt::FLOAT8E5M2 => DType::F8E5M2,
        dt::FLOAT8E5M2FNUZ => DType::F8E5M2FNUZ,
        dt::INT4 => DType::I4,
        dt::UINT4 => DType::U4,
        other => {
            return Err(format!(
                "reference element type {other} has no runtime dtype"
            ))
        }
    })
}

fn decode_tensor(path: &Path) -> Result<Ref, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let t = TensorProto::decode(&bytes[..]).map_err(|e| format!("{}: {e}", path.display()))?;
    tensor_ref(&t, path)
}

/// onnx's `SequenceProto`, only the fields the references use.
#[derive(Clone, PartialEq, prost::Message)]
struct SequenceProto {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(int32, tag = "2")]
    elem_type: i32,
    #[prost(message, repeated, tag = "3")]
    tensor_values: Vec<TensorProto>,
}

/// The tensor elements of a `SequenceProto` file.
fn decode_sequence(path: &Path) -> Result<Vec<TensorProto>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let s = SequenceProto::decode(&bytes[..]).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(s.tensor_values)
}

/// Whether a reference file holds a sequence of tensors (elem_type 1, TENSOR) rather
/// than a tensor.
fn is_sequence(path: &Path) -> bool {
    std::fs::read(path)
        .ok()
        .and_then(|b| SequenceProto::decode(&b[..]).ok())
        .is_some_and(|s| s.elem_type == 1 && !s.tensor_values.is_empty())
}

fn tensor_ref(t: &TensorProto, path: &Path) -> Result<Ref, String> {
    let dtype = dtype_of(t.data_type)?;
    let shape: Vec<u64> = t.dims.iter().map(|&d| d as u64).collect();
    let n: u64 = shape.iter().product();
    let data: Vec<u8> = if matches!(dtype, DType::I4 | DType::U4) {
        // Packed two per byte in the file (raw_data or int32_data), one per byte here.
        let packed: Vec<u8> = if t.raw_data.is_empty() {
            t.int32_data.iter().map(|&v| v as u8).collect()
        } else {
            t.raw_data.to_vec()
        };
        neoc_onnx::unpack_4bit(&packed, n, dtype == DType::I4)
    } else if !t.raw_data.is_empty() || n == 0 {
        t.raw_data.to_vec()
    } else {
        match dtype {
            DType::F32 => t.float_data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            DType::F64 => t.double_data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            DType::I64 => t.int64_data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            DType::U64 => t.uint64_data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            DType::U32 => t
                .uint64_data
                .iter()
                .flat_map(|&v| (v as u32).to_le_bytes())
                .collect(),
            DType::I32 => t.int32_data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            DType::I16 | DType::U16 | DType::F16 | DType::BF16 => t
                .int32_data
                .iter()
                .flat_map(|&v| (v as u16).to_le_bytes())
                .collect(),
            DType::I8
            | DType::U8
            | DType::Bool
            | DType::I4
            | DType::U4
            | DType::F8E4M3FN
            | DType::F8E4M3FNUZ
            | DType::F8E5M2
            | DType::F8E5M2FNUZ => t.int32_data.iter().map(|&v| v as u8).collect(),
        }
    };
    if data.len() as u64 != n * dtype.size_bytes() as u64 {
        return Err(format!(
            "{}: {} data bytes for {dtype}{shape:?}",
            path.display(),
            data.len()
        ));
    }
    Ok(Ref { dtype, shape, data })
}

fn f16_to_f64(bits: u16) -> f64 {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((bits >> 10) & 0x1f);
    let frac = f64::from(bits & 0x3ff);
    sign * match exp {
        0 => frac * 2f64.powi(-24),
        31 if frac == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        e => (1.0 + frac / 1024.0) * 2f64.powi(e - 15),
    }
}

/// Every element widened to `f64` (64-bit integers above 2^53 lose precision, which the
/// suite's values never reach).
fn values(dtype: DType, data: &[u8]) -> Vec<f64> {
    let c = |n: usize| data.chunks_exact(n);
    match dtype {
        DType::F32 => c(4)
            .map(|b| f64::from(f32::from_le_bytes(b.try_into().unwrap())))
            .collect(),
        DType::F64 => c(8)
            .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
            .collect(),
        DType::F16 => c(2)
            .map(|b| f16_to_f64(u16::from_le_bytes([b[0], b[1]])))
            .collect(),
        DType::BF16 => c(2)
            .map(|b| {
                f64::from(f32::from_bits(
                    u32::from(u16::from_le_bytes([b[0], b[1]])) << 16,
                ))
            })
            .collect(),
        DType::I8 | DType::I4 => data.iter().map(|&b| f64::from(b as i8)).collect(),
        DType::U8 | DType::Bool | DType::U4 => data.iter().map(|&b| f64::from(b)).collect(),
        DType::F8E4M3FN | DType::F8E4M3FNUZ | DType::F8E5M2 | DType::F8E5M2FNUZ => {
            let ir = neoc_driver::ir_dtype(dtype);
            let Some(format) = ir.minifloat() else {
                return Vec::new();
            };
            data.iter()
                .map(|&b| f64::from(neoc_ir::minifloat::decode(format, b)))
                .collect()
        }
        DType::I16 => c(2)
            .map(|b| f64::from(i16::from_le_bytes([b[0], b[1]])))
            .collect(),
        DType::U16 => c(2)
            .map(|b| f64::from(u16::from_le_bytes([b[0], b[1]])))
            .collect(),
        DType::I32 => c(4)
            .map(|b| f64::from(i32::from_le_bytes(b.try_into().unwrap())))
            .collect(),
        DType::U32 => c(4)
            .map(|b| f64::from(u32::from_le_bytes(b.try_into().unwrap())))
            .collect(),
        DType::I64 => c(8)
            .map(|b| i64::from_le_bytes(b.try_into().unwrap()) as f64)
            .collect(),
        DType::U64 => c(8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()) as f64)
            .collect(),
    }
}

// ---------------------------------------------------------------------------------------
// Running one case

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Status {
    Pass,
    Fail,
    Unsupported,
    Error,
    Skipped,
}

impl Status {
    fn word(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Unsupported => "unsupported",
            Status::Error => "error",
            Status::Skipped => "skipped",
        }
    }
}

struct Outcome {
    status: Status,
    /// One line; empty for a pass.
    reason: String,
    panicked: bool,
    /// Operators the frontend has no mapping for (`unsupported` cases only).
    missing: Vec<String>,
    time: Duration,
}

/// Is this compile error a "not supported yet" refusal rather than a defect? The suite's
/// models are valid ONNX, so an operator without a mapping, an opset or domain neoc does
/// not import, an attribute value it rejects, an operand that must be constant but is a
/// graph input (dynamic shapes), a form lowering lacks, or a non-tensor input all mean
/// "not supported yet". Shape-inference errors, internal errors and the rest do not.
fn is_unsupported(e: &DriverError) -> bool {
    let by_kind = match e {
        DriverError::Onnx(
            OnnxError::UnsupportedOps { .. }
            | OnnxError::UnsupportedOpset { .. }
            | OnnxError::MissingOpset { .. },
        )
        | DriverError::Lower { .. } => true,
        DriverError::Onnx(OnnxError::Node { source, .. }) => matches!(
            **source,
            IrError::NotConstant { .. } | IrError::Attribute { .. }
        ),
        _ => false,
    };
    let m = e.to_string();
    by_kind
        || m.contains("not supported")
        || m.contains("unsupported")
        || m.contains("not a tensor")
}

/// Graph input names (initializers excluded) and output names of an ONNX model, in order.
fn io_names(path: &Path) -> Result<(Vec<String>, Vec<String>), String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let m = ModelProto::decode(&bytes[..]).map_err(|e| e.to_string())?;
    let g = m.graph.ok_or("model has no graph")?;
    let inits: Vec<&str> = g.initializer.iter().map(|t| t.name.as_str()).collect();
    let inputs = g
        .input
        .iter()
        .filter(|v| !inits.contains(&v.name.as_str()))
        .map(|v| v.name.clone())
        .collect();
    let outputs = g.output.iter().map(|v| v.name.clone()).collect();
    Ok((inputs, outputs))
}

fn data_sets(dir: &Path) -> Vec<PathBuf> {
    let mut sets: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_dir()
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("test_data_set_"))
        })
        .collect();
    sets.sort();
    sets
}

fn numbered(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    (0..)
        .map(|i| dir.join(format!("{prefix}_{i}.pb")))
        .take_while(|p| p.exists())
        .collect()
}

/// Compiles, runs and compares one case. `Err` carries (status, reason); operators
/// without a mapping are added to `missing`.
fn run_case(
    dir: &Path,
    target: &str,
    (rtol, atol): (f64, f64),
    missing: &mut Vec<String>,
) -> Result<(), (Status, String)> {
    let model_path = dir.join("model.onnx");
    let compile = |constant_inputs: Vec<(String, neoc_ir::Tensor)>,
                   input_shapes: Vec<(String, Vec<u64>)>| {
        let opts = CompileOptions {
            target: target.into(),
            constant_inputs,
            input_shapes,
            ..CompileOptions::default()
        };
        compile_file(&model_path, &opts)
    };
    let refuse = |e: DriverError, missing: &mut Vec<String>| {
        let status = if is_unsupported(&e) {
            Status::Unsupported
        } else {
            Status::Error
        };
        if let DriverError::Onnx(OnnxError::UnsupportedOps { ops, .. }) = &e {
            missing.extend(ops.iter().map(|o| o.op_type.clone()));
        }
        (status, format!("compile: {e}"))
    };
    let err = |m: String| (Status::Error, m);
    let (in_names, out_names) = io_names(&model_path).map_err(err)?;
    let sets = data_sets(dir);
    if sets.is_empty() {
        return Err(err("no test_data_set_* folder".into()));
    }
    let read_inputs = |set: &Path| -> Result<Vec<Ref>, (Status, String)> {
        let inputs = numbered(set, "input")
            .iter()
            .map(|p| decode_tensor(p))
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        if inputs.len() != in_names.len() {
            return Err(err(format!(
                "{}: {} input files for {} graph inputs",
                set.display(),
                inputs.len(),
                in_names.len()
            )));
        }
        Ok(inputs)
    };
    match compile(Vec::new(), Vec::new()) {
        Ok((artifact, _)) => {
            let model =
                Model::from_bytes(artifact.to_bytes()).map_err(|e| err(format!("load: {e}")))?;
            for set in &sets {
                let inputs = read_inputs(set)?;
                check_set(&model, set, (&in_names, &out_names), &inputs, (rtol, atol))?;
            }
            Ok(())
        }
        // Shape operands fed as graph inputs (Resize sizes, Tile repeats, ...): neoc
        // compiles static shapes, so each data set is compiled with its rank-0/1 inputs
        // bound as constants — what `neoc compile --constant-input` does for users.
        // Inputs with symbolic dims get the data set's shapes (`--input-shape`). When
        // that is not enough, every input is bound (value-dependent output shapes).
        Err(e) if is_not_constant(&e) || is_unknown_dim(&e) => {
            let bind_constants = is_not_constant(&e);
            for set in &sets {
                let inputs = read_inputs(set)?;
                let shapes: Vec<(String, Vec<u64>)> = in_names
                    .iter()
                    .zip(&inputs)
                    .map(|(n, t)| (n.clone(), t.shape.clone()))
                    .collect();
                let bind = |max_rank: usize| -> Vec<(String, neoc_ir::Tensor)> {
                    in_names
                        .iter()
                        .zip(&inputs)
                        .filter(|(_, t)| t.shape.len() <= max_rank)
                        .filter_map(|(n, t)| {
                            let dtype = neoc_driver::ir_dtype(t.dtype);
                            let t = neoc_ir::Tensor::from_bytes(
                                dtype,
                                t.shape.clone(),
                                t.data.clone().into(),
                            );
                            Some((n.clone(), t.ok()?))
                        })
                        .collect()
                };
                let compiled = if bind_constants {
                    compile(bind(1), shapes.clone())
                } else {
                    compile(Vec::new(), shapes.clone())
                };
                // Operators whose output shape depends on values (NonZero, Unique)
                // compile only from constants: bind every input.
                let compiled = match compiled {
                    Err(e) if is_not_constant(&e) && bind_constants => {
                        compile(bind(usize::MAX), shapes)
                    }
                    Err(e) if is_not_constant(&e) => match compile(bind(1), shapes.clone()) {
                        Err(e) if is_not_constant(&e) => compile(bind(usize::MAX), shapes),
                        other => other,
                    },
                    other => other,
                };
                let (artifact, _) = compiled.map_err(|e| refuse(e, missing))?;
                let model = Model::from_bytes(artifact.to_bytes())
                    .map_err(|e| err(format!("load: {e}")))?;
                check_set(&model, set, (&in_names, &out_names), &inputs, (rtol, atol))?;
            }
            Ok(())
        }
        Err(e) => Err(refuse(e, missing)),
    }
}

/// A compile error caused by a graph input dim the model leaves symbolic.
fn is_unknown_dim(e: &DriverError) -> bool {
    e.to_string().contains("has unknown dimension")
}

/// The dtype to feed reference `dtype` as: bfloat16 inputs' references are stored as
/// their bits in uint16 (numpy has no bfloat16), and are passed as the bfloat16 they are.
fn bf16_as(model: &Model, name: &str, dtype: DType) -> DType {
    let declared = model.inputs().iter().find(|s| s.name == name);
    match declared {
        Some(s) if s.dtype == DType::BF16 && dtype == DType::U16 => DType::BF16,
        _ => dtype,
    }
}

/// A compile error caused by an operand that must be a compile-time constant.
fn is_not_constant(e: &DriverError) -> bool {
    matches!(
        e,
        DriverError::Onnx(OnnxError::Node { source, .. }) if matches!(**source, IrError::NotConstant { .. })
    )
}

/// Runs one data set through `model` and compares every output.
fn check_set(
    model: &Model,
    set: &Path,
    (in_names, out_names): (&[String], &[String]),
    inputs: &[Ref],
    (rtol, atol): (f64, f64),
) -> Result<(), (Status, String)> {
    let err = |m: String| (Status::Error, m);
    let set_name = set.file_name().unwrap().to_string_lossy().into_owned();
    {
        // Inputs the compiled model dropped (unused) are not passed.
        let named: Vec<(&str, TensorRef<'_>)> = in_names
            .iter()
            .zip(inputs)
            .filter(|(n, _)| model.inputs().iter().any(|s| &s.name == *n))
            .map(|(n, t)| {
                (
                    n.as_str(),
                    TensorRef::new(bf16_as(model, n, t.dtype), &t.shape, &t.data),
                )
            })
            .collect();
        let got = model
            .run_named(&named)
            .map_err(|e| err(format!("{set_name}: run: {e}")))?;
        let wants = numbered(set, "output");
        if wants.len() != out_names.len() {
            return Err(err(format!(
                "{set_name}: {} output files for {} graph outputs",
                wants.len(),
                out_names.len()
            )));
        }
        let mut expected = Vec::with_capacity(wants.len());
        for (name, want_path) in out_names.iter().zip(&wants) {
            let has = |n: &str| model.outputs().iter().any(|s| s.name == n);
            if !has(name) && (has(&format!("{name}[0]")) || is_sequence(want_path)) {
                // A sequence output: one compiled output per element, `<name>[i]`.
                for (k, t) in decode_sequence(want_path).map_err(err)?.iter().enumerate() {
                    expected.push((
                        format!("{name}[{k}]"),
                        tensor_ref(t, want_path).map_err(err)?,
                    ));
                }
            } else {
                expected.push((name.clone(), decode_tensor(want_path).map_err(err)?));
            }
        }
        for (name, want) in &expected {
            let Some(i) = model.outputs().iter().position(|s| &s.name == name) else {
                return Err(err(format!(
                    "{set_name}: the compiled model has no output `{name}`"
                )));
            };
            let g = &got[i];
            let fail = |m: String| (Status::Fail, format!("{set_name}/{name}: {m}"));
            // bfloat16 references are stored as their bits in uint16 (numpy has no
            // bfloat16): compare bit patterns.
            let got_dtype = match (g.dtype(), want.dtype) {
                (DType::BF16, DType::U16) => DType::U16,
                (d, _) => d,
            };
            if got_dtype != want.dtype {
                return Err(fail(format!(
                    "dtype {} != expected {}",
                    g.dtype(),
                    want.dtype
                )));
            }
            if g.shape() != &want.shape[..] {
                return Err(fail(format!(
                    "shape {:?} != expected {:?}",
                    g.shape(),
                    want.shape
                )));
            }
            let (gv, wv) = (
                values(got_dtype, g.as_bytes()),
                values(want.dtype, &want.data),
            );
            let (mut bad, mut max_abs, mut first) = (0usize, 0f64, None);
            for (k, (x, y)) in gv.iter().zip(&wv).enumerate() {
                let same = x == y || (x.is_nan() && y.is_nan());
                let d = (x - y).abs();
                let ok = same || d <= atol + rtol * y.abs();
                if !ok {
                    bad += 1;
                    first.get_or_insert((k, *x, *y));
                    if d.is_finite() {
                        max_abs = max_abs.max(d);
                    } else {
                        max_abs = f64::INFINITY;
                    }
                }
            }
            if let Some((k, x, y)) = first {
                return Err(fail(format!(
                    "{bad} of {} elements out of tolerance (rtol {rtol:e}, atol {atol:e}); \
                     max abs err {max_abs:.3e}; first at {k}: got {x}, want {y}",
                    wv.len()
                )));
            }
        }
    }
    Ok(())
}

thread_local! {
    static PANIC_AT: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".into()
    }
}

fn check_case(dir: &Path, target: &str, entry: Option<&Entry>) -> Outcome {
    let t = Instant::now();
    if entry.is_some_and(|e| e.skip_targets.iter().any(|s| s == target)) {
        return Outcome {
            status: Status::Skipped,
            reason: format!("skip-target:{target}"),
            panicked: false,
            missing: Vec::new(),
            time: t.elapsed(),
        };
    }
    let (rtol, atol) = entry.map_or((DEFAULT_RTOL, DEFAULT_ATOL), |e| (e.rtol, e.atol));
    let mut missing = Vec::new();
    let r = catch_unwind(AssertUnwindSafe(|| {
        run_case(dir, target, (rtol, atol), &mut missing)
    }));
    // Paths in messages would make the generated doc machine-dependent.
    let clean = |m: String| {
        m.replace(&format!("{}/", dir.display()), "")
            .replace("model.onnx: ", "")
            .replace('\n', " ")
    };
    let (status, reason, panicked) = match r {
        Ok(Ok(())) => (Status::Pass, String::new(), false),
        Ok(Err((s, m))) => (s, clean(m), false),
        Err(payload) => {
            let at = PANIC_AT.with(|p| p.borrow_mut().take()).unwrap_or_default();
            let m = format!("panic: {} ({at})", panic_message(&*payload));
            (Status::Error, clean(m), true)
        }
    };
    Outcome {
        status,
        reason,
        panicked,
        missing,
        time: t.elapsed(),
    }
}

// ---------------------------------------------------------------------------------------
// Operator of a case (for the per-operator table)

/// Op types of the model's nodes, in order.
fn node_ops(path: &Path) -> Vec<String> {
    std::fs::read(path)
        .ok()
        .and_then(|b| ModelProto::decode(&b[..]).ok())
        .and_then(|m| m.graph)
        .map(|g| g.node.into_iter().map(|n| n.op_type).collect())
        .unwrap_or_default()
}

/// The operator each case tests: the node's op for one-node models; for multi-node ones
/// (`*_expanded` function bodies and a few composites) the op of the longest one-node
/// case whose name is a prefix, else the first node's op.
fn case_ops(cases: &[(String, PathBuf)]) -> HashMap<String, String> {
    let ops: Vec<(String, Vec<String>)> = cases
        .iter()
        .map(|(n, d)| (n.clone(), node_ops(&d.join("model.onnx"))))
        .collect();
    let single: BTreeMap<&str, &str> = ops
        .iter()
        .filter(|(_, o)| o.len() == 1)
        .map(|(n, o)| (n.as_str(), o[0].as_str()))
        .collect();
    ops.iter()
        .map(|(name, o)| {
            let op = if o.len() == 1 {
                o[0].clone()
            } else {
                single
                    .iter()
                    .filter(|(n, _)| name.starts_with(*n))
                    .max_by_key(|(n, _)| n.len())
                    .map(|(_, op)| op.to_string())
                    .or_else(|| o.first().cloned())
                    .unwrap_or_else(|| "(empty graph)".into())
            };
            (name.clone(), op)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// The report

fn write_doc(
    results: &[(String, Outcome)],
    ops: &HashMap<String, String>,
    target: &str,
    summary: &str,
) {
    let mut by_op: BTreeMap<&str, Vec<&(String, Outcome)>> = BTreeMap::new();
    for r in results {
        by_op.entry(ops[&r.0].as_str()).or_default().push(r);
    }
    let mut s = String::new();
    s.push_str(
        "<!-- Generated by compiler/driver/tests/onnx_node.rs; do not edit by hand. -->\n\
         # ONNX conformance: backend node tests\n\n\
         The ONNX project's backend node tests (onnx 1.17.0, the version pinned in\n\
         `testmodels/gen/requirements.txt`) are committed under `testmodels/onnx-node/node/`:\n\
         one folder per case with `model.onnx` and `test_data_set_*/{input,output}_*.pb`.\n\
         `cargo test -p neoc-driver --test onnx_node` compiles every case for the host,\n\
         runs every data set and compares with the references (onnx's rule:\n\
         `|got - want| <= atol + rtol * |want|`, rtol 1e-3, atol 1e-7, NaN equals NaN).\n\n\
         - **pass**: every output matches in dtype, shape and values.\n\
         - **fail**: it compiled and ran, but an output differs.\n\
         - **unsupported**: compilation refused it as not supported yet (unknown operator,\n  \
           operator form or attribute value lowering lacks, element type without code).\n\
         - **error**: any other compile error, a runtime error, or a panic.\n\n\
         neoc compiles static shapes. A case whose shape operands arrive as graph inputs\n\
         (Resize `sizes`, Tile `repeats`, Reshape `shape`, ...) first fails with \"must be a\n\
         constant\"; it is then compiled once per data set with that set's rank-0 and\n\
         rank-1 inputs bound as constants — what `neoc compile --constant-input NAME=FILE.npy`\n\
         does for users — and the remaining inputs fed at run time.\n\n\
         `testmodels/onnx-node/manifest.txt` lists the cases that must pass (one per line,\n\
         `#` comments). Tags: `tol:X` sets rtol and atol to X, `rtol:X` / `atol:X` set one,\n\
         `skip-target:NAME[,NAME]` does not run the case when the host target is one of\n\
         those. The test fails when a listed case does not pass or any case panics;\n\
         unlisted cases are reported only. Enabling a newly passing case is one line.\n\n\
         Regenerate the data with `testmodels/.venv/bin/python testmodels/onnx-node/generate.py`\n\
         (copies the cases out of the pinned onnx wheel) and this page with\n\
         `NEOC_WRITE_CONFORMANCE=1 cargo test -p neoc-driver --test onnx_node`.\n\n\
         The wheel's `light` set — nine real architectures (alexnet, densenet121, inception\n\
         v1/v2, resnet50, shufflenet, squeezenet, vgg19, zfnet512) with onnx's expected\n\
         outputs — is committed under `testmodels/onnx-node/light/` and checked by\n\
         `onnx_light_models` in the same test file: all nine must pass. The other sets the\n\
         wheel ships as files — `simple`, `pytorch-converted` (torch.nn modules exported by\n\
         torch) and `pytorch-operator` — are committed beside `node/` and run by\n\
         `onnx_node_tests` with the node cases.\n\n",
    );
    let _ = writeln!(s, "Host target of this run: `{target}`. {summary}.\n");
    let (ort_version, ort) = onnxruntime_results();
    let _ = writeln!(
        s,
        "The same files through {ort_version} (`testmodels/onnx-node/onnxruntime_baseline.py`, \
         same comparison, its statuses in `onnxruntime.tsv`), next to neoc:\n"
    );
    s.push_str("| set | cases | neoc passes | onnxruntime passes |\n|---|---:|---:|---:|\n");
    let pct = |a: usize, b: usize| 100.0 * a as f64 / b.max(1) as f64;
    for set in std::iter::once("node").chain(EXTRA_SETS) {
        let rs: Vec<_> = results.iter().filter(|r| set_of(&r.0) == set).collect();
        let ours = rs.iter().filter(|r| r.1.status == Status::Pass).count();
        let theirs = rs
            .iter()
            .filter(|r| ort.get(&r.0).is_some_and(|v| v == "pass"))
            .count();
        let _ = writeln!(
            s,
            "| {set} | {} | {ours} ({:.1}%) | {theirs} ({:.1}%) |",
            rs.len(),
            pct(ours, rs.len()),
            pct(theirs, rs.len())
        );
    }
    let light_ort = ort
        .iter()
        .filter(|(k, v)| k.starts_with("light/") && *v == "pass")
        .count();
    let _ = writeln!(
        s,
        "| light | 9 | 9 (`onnx_light_models`) | {light_ort} ({:.1}%) |\n",
        pct(light_ort, 9)
    );
    s.push_str(
        "Cases of the other sets are named `<set>/<case>` below and in the manifest.\n\n\
         | operator | pass | of | onnxruntime passes |\n|---|---:|---:|---:|\n",
    );
    for (op, rs) in &by_op {
        let pass = rs.iter().filter(|r| r.1.status == Status::Pass).count();
        let theirs = rs
            .iter()
            .filter(|r| ort.get(&r.0).is_some_and(|v| v == "pass"))
            .count();
        let _ = writeln!(s, "| {op} | {pass} | {} | {theirs} |", rs.len());
    }
    let mut blocked: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, o) in results {
        for op in &o.missing {
            *blocked.entry(op.as_str()).or_default() += 1;
        }
    }
    let mut blocked: Vec<(&str, usize)> = blocked.into_iter().collect();
    blocked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    s.push_str(
        "\n## Operators without a mapping\n\n\
         By the number of cases (the `*_expanded` function bodies included) they block:\n\n",
    );
    let list: Vec<String> = blocked
        .iter()
        .map(|(op, n)| format!("{op} ({n})"))
        .collect();
    let _ = writeln!(s, "{}", list.join(", "));
    s.push_str("\n## Cases that do not pass\n");
    for (op, rs) in &by_op {
        let bad: Vec<_> = rs.iter().filter(|r| r.1.status != Status::Pass).collect();
        if bad.is_empty() {
            continue;
        }
        let _ = writeln!(s, "\n### {op}\n");
        for (name, o) in bad {
            let mut reason = o.reason.replace('|', "\\|");
            if reason.len() > 300 {
                let mut cut = 300;
                while !reason.is_char_boundary(cut) {
                    cut -= 1;
                }
                reason.truncate(cut);
                reason.push('…');
            }
            let _ = writeln!(s, "- `{name}` {}: {reason}", o.status.word());
        }
    }
    std::fs::write(root().join("docs/onnx-conformance.md"), s).unwrap();
}

/// The file-backed sets besides `node/` that run in the same test; their cases are
/// named `<set>/<case>` in the manifest and the report.
const EXTRA_SETS: [&str; 3] = ["simple", "pytorch-converted", "pytorch-operator"];

/// The cases (folders with a model.onnx) of one set, named `<prefix><folder>`, sorted.
fn set_cases(dir: &Path, prefix: &str) -> Vec<(String, PathBuf)> {
    let mut cases: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("model.onnx").exists())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (format!("{prefix}{name}"), p)
        })
        .collect();
    cases.sort();
    cases
}

/// The set a case name belongs to (`node` for unprefixed names).
fn set_of(name: &str) -> &str {
    name.split_once('/').map_or("node", |(set, _)| set)
}

/// onnxruntime's status per case (`onnxruntime.tsv`, written by
/// `onnxruntime_baseline.py`), keyed like the manifest; empty when the file is absent.
fn onnxruntime_results() -> (String, HashMap<String, String>) {
    let text = std::fs::read_to_string(suite_dir().join("onnxruntime.tsv")).unwrap_or_default();
    let mut header = String::new();
    let mut out = HashMap::new();
    for line in text.lines() {
        if let Some(h) = line.strip_prefix("# ") {
            header = h.split(';').next().unwrap_or("").to_string();
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        if let [set, case, status] = f[..] {
            let key = if set == "node" {
                case.to_string()
            } else {
                format!("{set}/{case}")
            };
            out.insert(key, status.to_string());
        }
    }
    (header, out)
}

/// `passed, failed, unsupported, errors` of `statuses`.
fn count_line<'a>(statuses: impl Iterator<Item = &'a str>) -> String {
    let mut c: BTreeMap<&str, usize> = BTreeMap::new();
    for s in statuses {
        *c.entry(s).or_default() += 1;
    }
    let n = |k: &str| c.get(k).copied().unwrap_or(0);
    format!(
        "{} passed, {} failed, {} unsupported, {} errors",
        n("pass"),
        n("fail"),
        n("unsupported"),
        n("error")
    )
}

#[test]
fn onnx_node_tests() {
    let node_dir = suite_dir().join("node");
    let manifest = read_manifest(&suite_dir().join("manifest.txt"));
    let filter = std::env::var("NEOC_ONNX_NODE_FILTER").ok();
    let target_override = std::env::var("NEOC_ONNX_NODE_TARGET").ok();
    let target = target_override
        .as_deref()
        .unwrap_or(neoc_target_spec::host_target_name());

    let mut cases = set_cases(&node_dir, "");
    for set in EXTRA_SETS {
        cases.extend(set_cases(&suite_dir().join(set), &format!("{set}/")));
    }
    if filter.is_none() {
        let stale: Vec<&String> = manifest
            .keys()
            .filter(|n| !cases.iter().any(|(c, _)| c == *n))
            .collect();
        assert!(stale.is_empty(), "manifest names missing cases: {stale:?}");
    }
    if let Some(f) = &filter {
        cases.retain(|(n, _)| n.contains(f.as_str()));
    }

    // Panics are caught per case; the hook records where instead of printing.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        PANIC_AT.with(|p| *p.borrow_mut() = Some(at));
    }));

    let t0 = Instant::now();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Outcome>>> = Mutex::new((0..cases.len()).map(|_| None).collect());
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((name, dir)) = cases.get(i) else {
                    break;
                };
                let o = check_case(dir, target, manifest.get(name));
                results.lock().unwrap()[i] = Some(o);
            });
        }
    });
    std::panic::set_hook(default_hook);

    let results: Vec<(String, Outcome)> = cases
        .iter()
        .map(|(n, _)| n.clone())
        .zip(
            results
                .into_inner()
                .unwrap()
                .into_iter()
                .map(Option::unwrap),
        )
        .collect();
    let mut counts: BTreeMap<Status, usize> = BTreeMap::new();
    let mut problems = Vec::new();
    for (name, o) in &results {
        *counts.entry(o.status).or_default() += 1;
        let enabled = manifest.contains_key(name);
        println!(
            "{name}: {}{} [{:.0} ms]{}{}",
            o.status.word(),
            if enabled { " (manifest)" } else { "" },
            o.time.as_secs_f64() * 1e3,
            if o.reason.is_empty() { "" } else { " " },
            o.reason
        );
        if o.panicked {
            problems.push(format!("{name}: {}", o.reason));
        } else if enabled && !matches!(o.status, Status::Pass | Status::Skipped) {
            problems.push(format!("{name}: {} {}", o.status.word(), o.reason));
        }
    }
    let n = |s| counts.get(&s).copied().unwrap_or(0);
    let node_statuses = results
        .iter()
        .filter(|r| set_of(&r.0) == "node")
        .map(|r| r.1.status.word());
    let mut summary = format!("onnx node tests: {}", count_line(node_statuses));
    if n(Status::Skipped) > 0 {
        let _ = write!(summary, ", {} skipped", n(Status::Skipped));
    }
    println!(
        "{summary} ({} cases in all sets, {} in the manifest, {:.1} s on {threads} threads)",
        results.len(),
        manifest.len(),
        t0.elapsed().as_secs_f64()
    );
    for set in EXTRA_SETS {
        let statuses = results
            .iter()
            .filter(|r| set_of(&r.0) == set)
            .map(|r| r.1.status.word());
        println!("{set}: {}", count_line(statuses));
    }
    let slow: Vec<String> = results
        .iter()
        .filter(|r| r.1.time > Duration::from_secs(2))
        .map(|r| format!("{} {:.1}s", r.0, r.1.time.as_secs_f64()))
        .collect();
    if !slow.is_empty() {
        println!("slow cases: {}", slow.join(", "));
    }

    if filter.is_none() && std::env::var("NEOC_WRITE_CONFORMANCE").is_ok_and(|v| v == "1") {
        write_doc(&results, &case_ops(&cases), target, &summary);
        println!("wrote docs/onnx-conformance.md");
    }
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The `light` set the onnx wheel ships: nine real architectures (alexnet, densenet121,
/// inception v1/v2, resnet50, shufflenet, squeezenet, vgg19, zfnet512) whose weights are
/// `ConstantOfShape` nodes, with onnx's expected outputs, written to
/// `testmodels/onnx-node/light/` by `generate.py` with the input onnx's runner uses.
/// Every model must pass at onnx's default tolerances.
#[test]
fn onnx_light_models() {
    let dir = suite_dir().join("light");
    let target = neoc_target_spec::host_target_name();
    let mut models: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("model.onnx").exists())
        .collect();
    models.sort();
    assert_eq!(models.len(), 9, "expected the nine light models");
    let mut problems = Vec::new();
    for m in &models {
        let name = m.file_name().unwrap().to_string_lossy().into_owned();
        let o = check_case(m, target, None);
        println!(
            "light/{name}: {} [{:.1} s] {}",
            o.status.word(),
            o.time.as_secs_f64(),
            o.reason
        );
        if o.status != Status::Pass {
            problems.push(format!("{name}: {} {}", o.status.word(), o.reason));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
