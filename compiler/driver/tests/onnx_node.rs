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

mod conformance;

use conformance::refs::{decode_sequence, decode_tensor, is_sequence, tensor_ref, values, Ref};
use conformance::report::{case_ops, count_line, write_doc};
use neoc_driver::{compile_file, CompileOptions, DriverError};
use neoc_ir::IrError;
use neoc_onnx::proto::ModelProto;
use neoc_onnx::OnnxError;
use neoc_runtime::{DType, Model, TensorRef};
use prost::Message;
use std::collections::BTreeMap;
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
