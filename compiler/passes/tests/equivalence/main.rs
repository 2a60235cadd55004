//! Property tests of the optimizer against the reference interpreter.
//!
//! `random_graphs_survive_every_opt_level`: a seeded generator builds small random graphs
//! (Conv/BatchNorm/activation chains, Gemm/MatMul with constant weights, residual adds,
//! elementwise chains with broadcast constants, Reshape/Transpose pairs, Identity,
//! duplicated subexpressions, scalar pre-scales, pooling, Concat, Softmax). Each graph
//! is optimized at every level 0..=3 and must stay well-formed (every node's recorded
//! output types equal the types re-inferred from its inputs, producers before
//! consumers) and compute the same outputs as the unoptimized graph within
//! `|a - b| <= 1e-5 + 1e-4 * |b|`. A failure prints the seed and both graphs;
//! `NEOC_EQUIV_SEED=<seed>` reruns one case, `NEOC_EQUIV_CASES=<n>` changes the count,
//! `NEOC_EQUIV_TRACE=1` prints each graph and each pass as it finishes,
//! `NEOC_EQUIV_DISABLE=a,b` leaves passes out. The generator is in `generator.rs` (core
//! and `build`) and `generator/` (the blocks it picks from).
//!
//! `interpreter_matches_onnxruntime`: the oracle itself is checked against the stored
//! onnxruntime outputs of the small test models (and those models are checked again
//! after optimization at every level).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod generator;

use generator::Gen;
use neoc_ir::interp::{self, compare, Tolerance};
use neoc_ir::ops::BinaryOp;
use neoc_ir::{DType, Graph, Op, Tensor, TensorType, ValueDef, ValueId};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;

/// Checks the graph invariants a pass must keep: acyclic, every read value defined
/// before it is read (by a live node, an input or a constant), every node's recorded
/// output types equal to those re-inferred from its inputs, outputs defined.
fn check_well_formed(g: &Graph) -> Result<(), String> {
    let order = g.topo_order();
    if order.len() != g.node_count() {
        return Err(format!(
            "topo order has {} of {} nodes (cycle)",
            order.len(),
            g.node_count()
        ));
    }
    let mut defined: HashSet<ValueId> = g
        .values()
        .filter(|(_, v)| matches!(v.def, ValueDef::Input(_) | ValueDef::Const(_)))
        .map(|(id, _)| id)
        .collect();
    for n in order {
        let node = g.node(n);
        let here = format!("node `{}` ({})", node.name, node.op);
        for v in node.inputs.iter().flatten() {
            if !defined.contains(v) {
                return Err(format!("{here} reads {v} before it is defined"));
            }
        }
        let tys: Vec<Option<&TensorType>> = node
            .inputs
            .iter()
            .map(|v| v.map(|v| &g.value(v).ty))
            .collect();
        let inferred = node
            .op
            .infer(&tys)
            .map_err(|e| format!("{here}: inputs no longer type-check: {e:?}"))?;
        let recorded: Vec<TensorType> = node
            .outputs
            .iter()
            .map(|v| g.value(*v).ty.clone())
            .collect();
        if inferred != recorded {
            return Err(format!(
                "{here}: recorded output types {recorded:?}, inferred {inferred:?}"
            ));
        }
        for (i, v) in node.outputs.iter().enumerate() {
            if g.value(*v).def != ValueDef::Node(n, i) {
                return Err(format!("{here}: output {v} is not defined by it"));
            }
            defined.insert(*v);
        }
    }
    for v in g.outputs() {
        if !defined.contains(v) {
            return Err(format!("graph output {v} is not defined"));
        }
    }
    Ok(())
}

/// Largest errors seen over a whole test run.
#[derive(Default)]
struct Stats {
    max_abs: f64,
    max_rel: f64,
    compared: usize,
}

/// Optimizes a clone of `g` at `level` and compares it with `want`; `Err` describes
/// the failure.
fn check_level(
    g: &Graph,
    inputs: &[Tensor],
    want: &[Tensor],
    level: u8,
    tol: Tolerance,
    stats: &mut Stats,
    fired: &mut BTreeMap<String, usize>,
) -> Result<(), String> {
    let mut opt = g.clone();
    if std::env::var_os("NEOC_EQUIV_TRACE").is_some() {
        // Names every pass as it finishes, on a scratch copy, so a pass that loops or
        // panics is the one after the last name printed.
        let all: Vec<String> = neoc_passes::pass_names()
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut scratch = g.clone();
        let mut sink = |name: &str, _: &Graph| eprintln!("-O{level}: {name} done");
        let off = disabled_passes();
        let _ = neoc_passes::optimize_with(&mut scratch, level, &off, &all, &mut sink);
    }
    let changed = neoc_passes::optimize(&mut opt, level, &disabled_passes())
        .map_err(|e| format!("-O{level}: optimize failed: {e}"))?;
    for p in changed {
        *fired.entry(format!("-O{level} {p}")).or_default() += 1;
    }
    let fail = |what: String| format!("-O{level}: {what}\noptimized graph:\n{opt}");
    check_well_formed(&opt).map_err(|e| fail(format!("ill-formed after optimize: {e}")))?;
    let got = interp::run(&opt, inputs).map_err(|e| fail(format!("interpreter: {e}")))?;
    if got.len() != want.len() {
        return Err(fail(format!("{} outputs, want {}", got.len(), want.len())));
    }
    for (i, (gt, wt)) in got.iter().zip(want).enumerate() {
        let c = compare(gt, wt, tol);
        stats.max_abs = stats.max_abs.max(c.max_abs);
        stats.max_rel = stats.max_rel.max(c.max_rel);
        stats.compared += gt.num_elements() as usize;
        if !c.ok() {
            return Err(fail(format!(
                "output {i} differs: {c:?} (max abs {:.3e}, max rel {:.3e})",
                c.max_abs, c.max_rel
            )));
        }
    }
    Ok(())
}

/// Passes named in `NEOC_EQUIV_DISABLE` (comma-separated), to isolate a failing pass.
fn disabled_passes() -> Vec<String> {
    std::env::var("NEOC_EQUIV_DISABLE")
        .map(|s| s.split(',').map(|p| p.trim().to_string()).collect())
        .unwrap_or_default()
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|s| s.parse().ok())
}

/// What checking one seed found.
#[derive(Default)]
struct SeedReport {
    stats: Stats,
    fired: BTreeMap<String, usize>,
    ops: BTreeMap<&'static str, usize>,
    failures: Vec<String>,
}

/// Builds the graph of `seed`, runs it, and checks it at every opt level.
fn check_seed(seed: u64, tol: Tolerance) -> SeedReport {
    let mut r = SeedReport::default();
    let (g, inputs) = Gen::new(seed).build();
    if std::env::var_os("NEOC_EQUIV_TRACE").is_some() {
        eprintln!("seed {seed}:\n{g}");
    }
    for n in g.topo_order() {
        *r.ops.entry(g.node(n).op.name()).or_default() += 1;
    }
    if let Err(e) = check_well_formed(&g) {
        r.failures.push(format!(
            "seed {seed}: generated graph is ill-formed: {e}\n{g}"
        ));
        return r;
    }
    let want = match interp::run(&g, &inputs) {
        Ok(w) => w,
        Err(e) => {
            r.failures.push(format!(
                "seed {seed}: interpreter on the original: {e}\n{g}"
            ));
            return r;
        }
    };
    for level in 0..=3 {
        if let Err(e) = check_level(&g, &inputs, &want, level, tol, &mut r.stats, &mut r.fired) {
            r.failures
                .push(format!("seed {seed} {e}\noriginal graph:\n{g}"));
        }
    }
    r
}

/// Runs `f` on its own thread and waits at most `limit`, so that a rewrite (or a
/// reference function) that loops forever becomes a failure instead of a hung test.
fn with_timeout<T: Send + 'static>(
    limit: std::time::Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit).map_err(|e| match e {
        std::sync::mpsc::RecvTimeoutError::Timeout => {
            format!("no result within {limit:?}: a pass or the interpreter does not terminate")
        }
        std::sync::mpsc::RecvTimeoutError::Disconnected => "panicked".to_string(),
    })
}

/// Longest one stored model may take (import, five interpreter runs, four pipelines).
const MODEL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// Longest one seed may take; far above the few milliseconds a case needs, so only a
/// pass (or reference function) that does not terminate trips it.
const SEED_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

#[test]
fn random_graphs_survive_every_opt_level() {
    let tol = Tolerance {
        atol: 1e-5,
        rtol: 1e-4,
    };
    let seeds: Vec<u64> = match env_u64("NEOC_EQUIV_SEED") {
        Some(s) => vec![s],
        None => (0..env_u64("NEOC_EQUIV_CASES").unwrap_or(200))
            .map(|i| 0x5EED_0000 + i)
            .collect(),
    };
    let mut total = SeedReport::default();
    for &seed in &seeds {
        let r = match with_timeout(SEED_TIMEOUT, move || check_seed(seed, tol)) {
            Ok(r) => r,
            Err(why) => {
                total.failures.push(format!(
                    "seed {seed}: {why}; rerun with NEOC_EQUIV_SEED={seed} NEOC_EQUIV_TRACE=1"
                ));
                // A stuck thread keeps a core busy; stop here.
                break;
            }
        };
        total.stats.max_abs = total.stats.max_abs.max(r.stats.max_abs);
        total.stats.max_rel = total.stats.max_rel.max(r.stats.max_rel);
        total.stats.compared += r.stats.compared;
        for (k, v) in r.fired {
            *total.fired.entry(k).or_default() += v;
        }
        for (k, v) in r.ops {
            *total.ops.entry(k).or_default() += v;
        }
        total.failures.extend(r.failures);
    }
    eprintln!(
        "{} graphs x 4 levels, {} elements compared: max abs error {:.3e}, max rel error {:.3e}",
        seeds.len(),
        total.stats.compared,
        total.stats.max_abs,
        total.stats.max_rel
    );
    eprintln!("ops generated: {:?}", total.ops);
    eprintln!("passes that changed graphs: {:?}", total.fired);
    if !total.failures.is_empty() {
        for f in total.failures.iter().take(3) {
            eprintln!("---- FAILURE ----\n{f}");
        }
        panic!(
            "{} (graph, level) cases failed; rerun one with NEOC_EQUIV_SEED=<seed>",
            total.failures.len()
        );
    }
}

#[test]
fn generator_is_deterministic() {
    let (a, ia) = Gen::new(7).build();
    let (b, ib) = Gen::new(7).build();
    assert_eq!(a.to_string(), b.to_string());
    assert_eq!(ia, ib);
}

/// The harness itself: a slightly wrong graph and a dangling read are both caught.
#[test]
fn harness_catches_wrong_and_broken_graphs() {
    let (g, inputs) = Gen::new(11).build();
    let want = interp::run(&g, &inputs).unwrap();
    let mut wrong = g.clone();
    let out = wrong.outputs()[0];
    let k = wrong.add_const("k", Tensor::from_f32(vec![], &[1.001]));
    let scaled = wrong
        .add_node(
            "scale",
            Op::Binary(BinaryOp::Mul),
            vec![Some(out), Some(k)],
            vec![],
        )
        .unwrap();
    let mut outs = wrong.outputs().to_vec();
    outs[0] = scaled[0];
    wrong.set_outputs(outs);
    let got = interp::run(&wrong, &inputs).unwrap();
    let nonzero = want[0].to_f64_vec().iter().any(|v| v.abs() > 0.1);
    assert!(!nonzero || !compare(&got[0], &want[0], Tolerance::F32).ok());

    let mut broken = g.clone();
    let first = broken.topo_order()[0];
    broken.remove_node(first);
    assert!(check_well_formed(&broken).is_err() || broken.node_count() == 0);
    assert!(interp::run(&broken, &inputs).is_err());
}

// ---- the oracle against onnxruntime ----

fn read_npy(path: &Path) -> Tensor {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape = npy.shape().to_vec();
    let descr = match npy.dtype() {
        npyz::DType::Plain(ts) => ts.to_string(),
        other => panic!("{}: unsupported npy dtype {other:?}", path.display()),
    };
    match descr.as_str() {
        "<f4" => Tensor::from_f32(shape, &npy.into_vec::<f32>().unwrap()),
        "<i8" => Tensor::from_i64(shape, &npy.into_vec::<i64>().unwrap()),
        "<f8" => Tensor::from_f64_as(DType::F64, shape, &npy.into_vec::<f64>().unwrap()),
        d => panic!("{}: unsupported npy dtype {d}", path.display()),
    }
}

const ORACLE_MODELS: &[&str] = &[
    "mlp",
    "lenet",
    "ops_conv",
    "ops_pool",
    "ops_elementwise",
    "ops_linear",
    "ops_shape",
    "ops_bn",
    "ops_opset7",
    "ops_opset11",
    "ops_opset21",
    // Ops added later: blocked layout at -O3, GridSample/AffineGrid, Einsum, RNNs.
    "ops_blocked",
    "spatial_transformer",
    "ops_einsum",
    "rnn_tagger",
];

/// Checks one stored model: the interpreter on the imported graph, and on the graph
/// optimized at each level, against the onnxruntime outputs. Returns the failures.
fn check_model(name: &str, tol: Tolerance) -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testmodels/models")
        .join(name);
    let model = dir.join("model.onnx");
    let info = neoc_onnx::read_model_info(&model).unwrap();
    let g = neoc_onnx::import_file(&model, &Default::default())
        .unwrap_or_else(|e| panic!("{name}: import: {e}"));
    let inputs: Vec<Tensor> = g
        .inputs()
        .iter()
        .map(|&v| read_npy(&dir.join("inputs").join(format!("{}.npy", g.value(v).name))))
        .collect();
    let want: Vec<Tensor> = info
        .outputs
        .iter()
        .map(|o| read_npy(&dir.join("expected").join(format!("{}.npy", o.name))))
        .collect();
    let mut failures = Vec::new();
    let mut stats = Stats::default();
    for level in [None, Some(0), Some(1), Some(2), Some(3)] {
        let what = level.map_or("imported".to_string(), |l| format!("-O{l}"));
        let mut opt = g.clone();
        if let Some(l) = level {
            if let Err(e) = neoc_passes::optimize(&mut opt, l, &disabled_passes()) {
                failures.push(format!("{name} {what}: optimize failed: {e}"));
                continue;
            }
            if let Err(e) = check_well_formed(&opt) {
                failures.push(format!("{name} {what}: {e}"));
                continue;
            }
        }
        let got = match interp::run(&opt, &inputs) {
            Ok(g) => g,
            Err(e) => {
                failures.push(format!("{name} {what}: {e}"));
                continue;
            }
        };
        for ((o, gt), wt) in info.outputs.iter().zip(&got).zip(&want) {
            let c = compare(gt, wt, tol);
            stats.max_abs = stats.max_abs.max(c.max_abs);
            stats.max_rel = stats.max_rel.max(c.max_rel);
            if !c.ok() {
                failures.push(format!("{name}/{} ({what}): {c:?}", o.name));
            }
        }
    }
    eprintln!(
        "{name}: {} outputs, max abs error {:.3e}, max rel error {:.3e}",
        want.len(),
        stats.max_abs,
        stats.max_rel
    );
    failures
}

#[test]
fn interpreter_matches_onnxruntime() {
    let tol = Tolerance {
        atol: 1e-5,
        rtol: 1e-4,
    };
    let mut failures = Vec::new();
    for name in ORACLE_MODELS {
        match with_timeout(MODEL_TIMEOUT, move || check_model(name, tol)) {
            Ok(f) => failures.extend(f),
            Err(why) => {
                failures.push(format!("{name}: {why}"));
                break;
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
