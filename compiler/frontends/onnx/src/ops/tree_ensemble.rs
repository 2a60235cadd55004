//! Tree ensembles of the `ai.onnx.ml` domain, evaluated without data-dependent control
//! flow: TreeEnsemble (domain version 5) here, TreeEnsembleRegressor and
//! TreeEnsembleClassifier (versions 1 to 4) in [`legacy`], which decodes its encoding
//! into the same nodes and paths.
//!
//! Spec: <https://onnx.ai/onnx/operators/onnx_aionnxml_TreeEnsemble.html>. The trees are
//! attributes: interior nodes (`nodes_*`: feature, comparison mode, split, true and
//! false child, each a node or a leaf), leaves (`leaf_*`: target and weight), the roots;
//! `aggregate_function` (AVERAGE, SUM, MIN, MAX) combines the leaves reached per target
//! and `post_transform` (NONE, SOFTMAX, LOGISTIC, SOFTMAX_ZERO, PROBIT) maps the scores.
//!
//! A tree walk branches on the data, which static kernels do not; instead every
//! decision of every row is computed and the leaf reached is the one whose root path
//! agrees with all of them:
//! 1. `Gather` the feature column of each node (`[N, M]`) and compare it with the
//!    constant splits: one `Less`, `Greater` or `Equal` per mode present, selected per
//!    node by constant masks (`Where`), inverted per node where the mode is the negation
//!    (`x <= s` is `!(x > s)`, `x >= s` is `!(x < s)`, `x != s` is `!(x == s)`). A
//!    set-membership node compares its column with its constant set (padded with NaN,
//!    which equals nothing) and takes the maximum. A NaN feature takes
//!    `nodes_missing_value_tracks_true` (`x != s` is also true for it, as in the
//!    reference). A NaN split makes every comparison but `!=` false.
//! 2. Every root-to-leaf path is a row of a constant `[E, D]` table of columns of
//!    `[decisions, !decisions, true]`: a `Gather` and a `ReduceMin` over the path give
//!    the one-hot reached-leaf indicator `[N, E]`. A node whose branches are the same
//!    adds no step; a one-leaf tree (a root whose true and false branches are the same
//!    leaf) takes the leaf at the root's own index, as onnx's reference and onnxruntime
//!    do.
//! 3. SUM and AVERAGE are a `MatMul` with the constant `[E, targets]` leaf weights
//!    (AVERAGE divides each weight by the tree count, as the reference does); MIN and MAX
//!    gather, per target, the weights of the reached leaves (`Where`, the type's largest
//!    or lowest value elsewhere, which is also the value of a target no leaf reaches, as
//!    in the reference) and reduce them.
//! 4. The post transform is composed of IR ops; SOFTMAX_ZERO and PROBIT follow onnx's
//!    reference of the older classifiers (`_common_classifier.py`: zeros stay out of
//!    the softmax; PROBIT is `√2·erfinv(2p − 1)` with its erfinv approximation). onnx's
//!    reference of TreeEnsemble ignores `post_transform`; the spec does not.
//!
//! Comparisons run in `float` for a `float` or `float16` input when every split and set
//! member is exact in `float`, otherwise in `double` (the reference compares in
//! `double`; integer inputs of the older operators too). Leaf weights must be
//! finite (a `MatMul` by a 0/1 indicator would turn an infinite weight of an unreached
//! leaf into NaN). Path enumeration is bounded, and a cycle in the node graph is an
//! error.

use super::OpSpec;
use crate::context::{Built, NodeCtx};
use neoc_ir::ops::{BinaryOp, Cast, Concat, Gather, Reduce, ReduceKind, Reshape, Softmax, UnaryOp};
use neoc_ir::{DType, IrError, Op, Tensor, ValueId};

mod legacy;

/// A spec of this domain.
const fn ml(
    op_type: &'static str,
    min_opset: i64,
    max_opset: i64,
    build: super::BuildFn,
    note: &'static str,
) -> OpSpec {
    OpSpec {
        op_type,
        domain: "ai.onnx.ml",
        min_opset,
        max_opset,
        build,
        note,
    }
}

pub(crate) const SPECS: &[OpSpec] = &[
    ml(
        "TreeEnsemble",
        5,
        5,
        tree_ensemble,
        "ai.onnx.ml; every node's decision (Gather, compare), root paths (Gather, ReduceMin), MatMul or Min/Max by target, post transform",
    ),
    ml(
        "TreeEnsembleRegressor",
        1,
        4,
        legacy::regressor,
        "ai.onnx.ml; as TreeEnsemble, base_values; float output",
    ),
    ml(
        "TreeEnsembleClassifier",
        1,
        4,
        legacy::classifier,
        "ai.onnx.ml; as TreeEnsemble (SUM), binary case, ArgMax label from classlabels_int64s",
    ),
];

/// The most root-to-leaf path steps (summed over paths) an ensemble may have.
const MAX_PATH_STEPS: usize = 1 << 24;

/// How an interior node compares its feature `x` (NaN aside).
#[derive(Debug, Clone, PartialEq)]
enum Test {
    /// `x < s`, or `x >= s` when inverted.
    Less(f64),
    /// `x > s`, or `x <= s` when inverted.
    Greater(f64),
    /// `x == s`, or `x != s` when inverted.
    Equal(f64),
    /// `x` is one of the values.
    Member(Vec<f64>),
}

/// An interior node.
#[derive(Debug, Clone)]
struct Node {
    feature: u64,
    test: Test,
    invert: bool,
    /// The decision for a NaN feature.
    nan: bool,
}

/// A root-to-leaf path and what its leaf adds to the targets.
#[derive(Debug, Clone)]
struct Path {
    /// `(node, branch)`: the decision of `node` must be `branch`.
    steps: Vec<(usize, bool)>,
    /// `(target, weight)`.
    out: Vec<(u64, f64)>,
}

/// How the reached leaves combine per target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Aggregate {
    Sum,
    /// The mean over trees, as the sum of the weights each divided by the tree count.
    Average,
    Min,
    Max,
}

/// The score transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Post {
    None,
    Softmax,
    Logistic,
    SoftmaxZero,
    Probit,
}

/// A decoded ensemble.
#[derive(Debug)]
struct Ensemble {
    nodes: Vec<Node>,
    paths: Vec<Path>,
    targets: u64,
    aggregate: Aggregate,
    /// Added to every row's scores after the aggregation (empty: nothing).
    base: Vec<f64>,
    /// MIN's start value (MAX's is its negation): the largest finite value of the
    /// output type, as in the reference.
    fill: f64,
    post: Post,
}

/// A child reference of the version-5 encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Child {
    Node(usize),
    Leaf(usize),
}

fn tree_ensemble(c: &mut NodeCtx<'_>) -> Built {
    let x = c.req(0)?;
    let xd = c.dims(x)?;
    let dtype = c.ty(x).dtype;
    if xd.len() != 2 || !matches!(dtype, DType::F32 | DType::F64 | DType::F16) {
        return Err(c.shape_error(format!(
            "input must be [N, F] float, double or float16, got {dtype} {xd:?}"
        )));
    }
    let e = decode_v5(c, dtype)?;
    let acc = accumulator(dtype);
    let scores = scores(c, x, &e, acc)?;
    let y = finish(c, scores, e.post, acc, dtype)?;
    c.emit1(Op::Identity, vec![Some(y)])
}

/// The type scores are summed and transformed in for outputs of type `out`.
fn accumulator(out: DType) -> DType {
    if out == DType::F64 {
        DType::F64
    } else {
        DType::F32
    }
}

/// Applies `post` to `scores` (of type `acc`) and casts them to `out`.
fn finish(
    c: &mut NodeCtx<'_>,
    scores: ValueId,
    post: Post,
    acc: DType,
    out: DType,
) -> Result<ValueId, IrError> {
    let mut b = B { c };
    let scores = post_transform(&mut b, scores, post, acc)?;
    if acc == out {
        Ok(scores)
    } else {
        b.cast("scores", scores, out)
    }
}

/// A tensor attribute as `f64` values.
fn floats_of(c: &mut NodeCtx<'_>, name: &str) -> Result<Option<Vec<f64>>, IrError> {
    match c.attrs.tensor(name)? {
        None => Ok(None),
        Some(p) => Ok(Some(c.tensor(p, name)?.to_f64_vec())),
    }
}

fn required<T>(c: &NodeCtx<'_>, name: &str, v: Option<T>) -> Result<T, IrError> {
    v.ok_or_else(|| c.attr_error(format!("attribute \"{name}\" is required")))
}

/// Decodes the version-5 attributes into nodes and root-to-leaf paths.
fn decode_v5(c: &mut NodeCtx<'_>, dtype: DType) -> Result<Ensemble, IrError> {
    let a = c.attrs;
    let features = required(c, "nodes_featureids", a.uints("nodes_featureids")?)?;
    let true_ids = required(c, "nodes_truenodeids", a.ints("nodes_truenodeids")?)?;
    let false_ids = required(c, "nodes_falsenodeids", a.ints("nodes_falsenodeids")?)?;
    let true_leafs = required(c, "nodes_trueleafs", a.ints("nodes_trueleafs")?)?;
    let false_leafs = required(c, "nodes_falseleafs", a.ints("nodes_falseleafs")?)?;
    let missing = a.ints("nodes_missing_value_tracks_true")?;
    let targets_of = required(c, "leaf_targetids", a.uints("leaf_targetids")?)?;
    let roots = required(c, "tree_roots", a.uints("tree_roots")?)?;
    let modes = match a.tensor("nodes_modes")? {
        Some(p) => c.tensor(p, "nodes_modes")?.to_i64_vec(),
        None => return Err(c.attr_error("attribute \"nodes_modes\" is required")),
    };
    let splits = floats_of(c, "nodes_splits")?;
    let splits = required(c, "nodes_splits", splits)?;
    let weights = floats_of(c, "leaf_weights")?;
    let weights = required(c, "leaf_weights", weights)?;
    let members = floats_of(c, "membership_values")?.unwrap_or_default();
    let targets = required(c, "n_targets", a.opt_int("n_targets")?)?;
    let m = features.len();
    let lengths = [
        true_ids.len(),
        false_ids.len(),
        true_leafs.len(),
        false_leafs.len(),
        modes.len(),
        splits.len(),
        missing.map_or(m, <[i64]>::len),
    ];
    if lengths.iter().any(|&l| l != m) || weights.len() != targets_of.len() {
        return Err(c.attr_error(format!(
            "the nodes_* attributes must have one length ({m}, got {lengths:?}) and \
             leaf_weights and leaf_targetids another ({} and {})",
            weights.len(),
            targets_of.len()
        )));
    }
    let targets = u64::try_from(targets)
        .ok()
        .filter(|&t| t >= 1)
        .ok_or_else(|| c.attr_error(format!("n_targets must be positive, got {targets}")))?;
    if let Some(t) = targets_of.iter().find(|&&t| t >= targets) {
        return Err(c.attr_error(format!("leaf target {t} is outside n_targets {targets}")));
    }
    check_finite(c, &weights)?;
    let aggregate = match a.int("aggregate_function", 1)? {
        0 => Aggregate::Average,
        1 => Aggregate::Sum,
        2 => Aggregate::Min,
        3 => Aggregate::Max,
        v => return Err(c.attr_error(format!("aggregate_function {v} is not 0 to 3"))),
    };
    let post = match a.int("post_transform", 0)? {
        0 => Post::None,
        1 => Post::Softmax,
        2 => Post::Logistic,
        3 => Post::SoftmaxZero,
        4 => Post::Probit,
        v => return Err(c.attr_error(format!("post_transform {v} is not 0 to 4"))),
    };

    // Sets of the membership nodes, in node order, NaN-delimited.
    let mut sets = members
        .split(|v| v.is_nan())
        .map(<[f64]>::to_vec)
        .collect::<Vec<_>>();
    if members.last().is_none_or(|v| v.is_nan()) {
        // Nothing follows the last separator (or there are no values at all).
        sets.pop();
    }
    let member_count = modes.iter().filter(|&&v| v == 6).count();
    if sets.len() != member_count {
        return Err(c.attr_error(format!(
            "membership_values holds {} NaN-delimited sets for {member_count} BRANCH_MEMBER nodes",
            sets.len()
        )));
    }
    let mut sets = sets.into_iter();
    let mut nodes = Vec::with_capacity(m);
    for k in 0..m {
        let s = splits[k];
        let (test, invert) = match modes[k] {
            // A NaN split: every comparison but `!=` is false, as `x == NaN` is.
            0..=3 if s.is_nan() => (Test::Equal(s), false),
            0 => (Test::Greater(s), true),
            1 => (Test::Less(s), false),
            2 => (Test::Less(s), true),
            3 => (Test::Greater(s), false),
            4 => (Test::Equal(s), false),
            5 => (Test::Equal(s), true),
            6 => (Test::Member(sets.next().unwrap_or_default()), false),
            v => return Err(c.attr_error(format!("nodes_modes[{k}] = {v} is not a mode (0 to 6)"))),
        };
        let tracks = missing.and_then(|v| v.get(k)).is_some_and(|&v| v != 0);
        nodes.push(Node {
            feature: features[k],
            test,
            invert,
            nan: tracks || modes[k] == 5,
        });
    }

    let child = |k: usize, leaf: i64, id: i64| -> Result<Child, IrError> {
        let bad = || {
            c.attr_error(format!(
                "node {k} has a child {id} outside the {} nodes or {} leaves",
                m,
                weights.len()
            ))
        };
        let id = usize::try_from(id).map_err(|_| bad())?;
        match leaf {
            0 if id < m => Ok(Child::Node(id)),
            0 => Err(bad()),
            _ if id < weights.len() => Ok(Child::Leaf(id)),
            _ => Err(bad()),
        }
    };
    let mut children = Vec::with_capacity(m);
    for k in 0..m {
        children.push((
            child(k, true_leafs[k], true_ids[k])?,
            child(k, false_leafs[k], false_ids[k])?,
        ));
    }
    let mut starts = Vec::with_capacity(roots.len());
    for &root in &roots {
        let root = usize::try_from(root)
            .ok()
            .filter(|&r| r < m)
            .ok_or_else(|| c.attr_error(format!("tree root {root} is not a node")))?;
        // A one-leaf tree: a root whose branches are the same leaf. onnx's reference
        // and onnxruntime take the leaf at the root's own index then.
        let single =
            true_leafs[root] != 0 && false_leafs[root] != 0 && true_ids[root] == false_ids[root];
        starts.push(if single {
            if root >= weights.len() {
                return Err(c.attr_error(format!("one-leaf tree {root} has no leaf at its index")));
            }
            Child::Leaf(root)
        } else {
            Child::Node(root)
        });
    }
    let leaf = |l: usize| vec![(targets_of[l], weights[l])];
    let mut paths = expand(c, &starts, &children, &leaf)?;
    if aggregate == Aggregate::Average {
        divide(&mut paths, roots.len());
    }
    Ok(Ensemble {
        nodes,
        paths,
        targets,
        aggregate,
        base: Vec::new(),
        fill: largest(dtype),
        post,
    })
}

/// Divides every leaf weight by the tree count (AVERAGE as a sum).
fn divide(paths: &mut [Path], trees: usize) {
    for p in paths {
        for o in &mut p.out {
            o.1 /= trees as f64;
        }
    }
}

/// Every root-to-leaf path from `starts`, where interior node `k` branches to
/// `children[k]` and leaf `l` adds `leaf(l)`. A node whose branches are the same adds
/// no step. Bounded by [`MAX_PATH_STEPS`]; a path longer than the node count is a cycle.
fn expand(
    c: &NodeCtx<'_>,
    starts: &[Child],
    children: &[(Child, Child)],
    leaf: &dyn Fn(usize) -> Vec<(u64, f64)>,
) -> Result<Vec<Path>, IrError> {
    let mut paths = Vec::new();
    let mut work = 0usize;
    for &start in starts {
        let mut stack = vec![(start, Vec::new())];
        while let Some((at, steps)) = stack.pop() {
            work += steps.len() + 1;
            if work > MAX_PATH_STEPS || steps.len() > children.len() {
                return Err(c.attr_error(
                    "the trees have a cycle or too many root-to-leaf paths to expand",
                ));
            }
            match at {
                Child::Leaf(l) => paths.push(Path {
                    steps,
                    out: leaf(l),
                }),
                Child::Node(k) => {
                    let Some(&(t, f)) = children.get(k) else {
                        return Err(IrError::Internal(format!("tree node {k} is unknown")));
                    };
                    if t == f {
                        // Both branches go the same way: the decision does not matter.
                        stack.push((t, steps));
                        continue;
                    }
                    let mut fs = steps.clone();
                    fs.push((k, false));
                    let mut ts = steps;
                    ts.push((k, true));
                    stack.push((f, fs));
                    stack.push((t, ts));
                }
            }
        }
    }
    Ok(paths)
}

/// The largest finite value of the float type `dt`.
fn largest(dt: DType) -> f64 {
    match dt {
        DType::F64 => f64::MAX,
        DType::F16 => 65504.0,
        _ => f64::from(f32::MAX),
    }
}

fn check_finite(c: &NodeCtx<'_>, weights: &[f64]) -> Result<(), IrError> {
    match weights.iter().find(|w| !w.is_finite()) {
        Some(w) => Err(c.attr_error(format!("leaf weight {w} is not finite"))),
        None => Ok(()),
    }
}

/// Named node helpers over a [`NodeCtx`].
struct B<'c, 'a> {
    c: &'c mut NodeCtx<'a>,
}

impl B<'_, '_> {
    fn op(&mut self, name: &str, op: Op, inputs: &[ValueId]) -> Result<ValueId, IrError> {
        self.c
            .inner(name, op, inputs.iter().copied().map(Some).collect())
    }
    fn bin(
        &mut self,
        name: &str,
        op: BinaryOp,
        a: ValueId,
        b: ValueId,
    ) -> Result<ValueId, IrError> {
        self.op(name, Op::Binary(op), &[a, b])
    }
    fn un(&mut self, name: &str, op: UnaryOp, a: ValueId) -> Result<ValueId, IrError> {
        self.op(name, Op::Unary(op), &[a])
    }
    fn cast(&mut self, name: &str, a: ValueId, to: DType) -> Result<ValueId, IrError> {
        self.op(name, Op::Cast(Cast { to }), &[a])
    }
    fn reduce(
        &mut self,
        name: &str,
        kind: ReduceKind,
        axis: usize,
        keepdims: bool,
        a: ValueId,
    ) -> Result<ValueId, IrError> {
        let r = Reduce {
            kind,
            axes: vec![axis],
            keepdims,
        };
        self.op(name, Op::Reduce(r), &[a])
    }
    fn gather(&mut self, name: &str, a: ValueId, idx: ValueId) -> Result<ValueId, IrError> {
        self.op(name, Op::Gather(Gather { axis: 1 }), &[a, idx])
    }
    fn konst(&mut self, name: &str, dtype: DType, shape: Vec<u64>, v: &[f64]) -> ValueId {
        self.c.constant(name, Tensor::from_f64_as(dtype, shape, v))
    }
    fn bools(&mut self, name: &str, v: &[bool]) -> ValueId {
        let f: Vec<f64> = v.iter().map(|&b| f64::from(u8::from(b))).collect();
        self.konst(name, DType::Bool, vec![v.len() as u64], &f)
    }
    fn indices(&mut self, name: &str, shape: Vec<u64>, v: &[i64]) -> ValueId {
        self.c.constant(name, Tensor::from_i64(shape, v))
    }
}

/// The aggregated scores `[N, targets]` of `x` (`[N, F]`) plus the base values, of
/// type `acc` (`float` or `double`), before the post transform.
fn scores(c: &mut NodeCtx<'_>, x: ValueId, e: &Ensemble, acc: DType) -> Result<ValueId, IrError> {
    let [n, f] = c.dims(x)?[..] else {
        return Err(c.shape_error("input must be [N, F]"));
    };
    let t = e.targets;
    c.built_elements(&[t, n], 8)?;
    // Only the nodes some path tests are computed.
    let mut used = vec![usize::MAX; e.nodes.len()];
    let mut nodes = Vec::new();
    for p in &e.paths {
        for &(k, _) in &p.steps {
            if let Some(u) = used.get_mut(k) {
                if *u == usize::MAX {
                    *u = nodes.len();
                    nodes.push(e.nodes[k].clone());
                }
            }
        }
    }
    if let Some(node) = nodes.iter().find(|node| node.feature >= f) {
        return Err(c.attr_error(format!(
            "feature {} is outside the input's {f} features",
            node.feature
        )));
    }
    let depth = e.paths.iter().map(|p| p.steps.len()).max().unwrap_or(0);
    let count = e.paths.len() as u64;
    let mut b = B { c };
    let reached = if depth == 0 {
        None
    } else {
        let dec = decisions(&mut b, x, &nodes)?;
        let m = nodes.len();
        b.c.built_elements(&[count, depth as u64], 8)?;
        let mut table = Vec::with_capacity(e.paths.len() * depth);
        for p in &e.paths {
            for &(k, branch) in &p.steps {
                let k = used.get(k).copied().unwrap_or(0);
                table.push(if branch { k } else { m + k } as i64);
            }
            table.extend((p.steps.len()..depth).map(|_| (2 * m) as i64));
        }
        let no = b.bools("false", &[false]);
        let not = b.bin("not_decision", BinaryOp::Equal, dec, no)?;
        b.c.built_elements(&[n], 1)?;
        let yes = b.konst("true", DType::Bool, vec![n, 1], &vec![1.0; n as usize]);
        let signed = b.op("signed", Op::Concat(Concat { axis: 1 }), &[dec, not, yes])?;
        let table = b.indices("paths", vec![count, depth as u64], &table);
        let along = b.gather("along_path", signed, table)?;
        let bits = b.cast("along_path_u8", along, DType::U8)?;
        Some(b.reduce("reached", ReduceKind::Min, 2, false, bits)?)
    };
    let scores = match e.aggregate {
        Aggregate::Sum | Aggregate::Average => {
            let cells = b.c.built_elements(&[count, t], 8)?;
            let mut w = vec![0.0; cells as usize];
            for (i, p) in e.paths.iter().enumerate() {
                for &(target, weight) in &p.out {
                    if let Some(cell) = w.get_mut(i * t as usize + target as usize) {
                        *cell += weight;
                    }
                }
            }
            match reached {
                Some(r) => {
                    let r = b.cast("reached_f", r, acc)?;
                    let w = b.konst("leaf_weights", acc, vec![count, t], &w);
                    b.op("sums", Op::MatMul, &[r, w])?
                }
                // Every path is taken: the sums are constants.
                None => {
                    let sums: Vec<f64> = (0..t as usize)
                        .map(|j| (0..e.paths.len()).map(|i| w[i * t as usize + j]).sum())
                        .collect();
                    let sums = b.konst("sums", acc, vec![1, t], &sums);
                    let zeros = b.konst("zeros", acc, vec![n, 1], &vec![0.0; n as usize]);
                    b.bin("broadcast", BinaryOp::Add, zeros, sums)?
                }
            }
        }
        Aggregate::Min | Aggregate::Max => extreme(&mut b, reached, e, n, acc)?,
    };
    if e.base.is_empty() {
        return Ok(scores);
    }
    let shape = vec![e.base.len() as u64];
    let base = b.konst("base_values", acc, shape, &e.base);
    b.bin("based", BinaryOp::Add, scores, base)
}

/// The decision `[N, M]` (bool) of every node for every row of `x`.
fn decisions(b: &mut B<'_, '_>, x: ValueId, nodes: &[Node]) -> Result<ValueId, IrError> {
    let m = nodes.len() as u64;
    let n = b.c.dims(x)?.first().copied().unwrap_or(1);
    let xdt = b.c.ty(x).dtype;
    let exact = |v: f64, dt: DType| {
        let back = Tensor::from_f64_as(dt, vec![], &[v]).to_f64_vec();
        back.first()
            .is_some_and(|&r| r == v || r.is_nan() && v.is_nan())
    };
    let all_exact = |dt: DType| {
        nodes.iter().all(|node| match &node.test {
            Test::Less(s) | Test::Greater(s) | Test::Equal(s) => exact(*s, dt),
            Test::Member(vs) => vs.iter().all(|&v| exact(v, dt)),
        })
    };
    let cmp = if xdt == DType::F64 || xdt.is_int() || !all_exact(DType::F32) {
        DType::F64
    } else {
        DType::F32
    };
    let x = if cmp == xdt {
        x
    } else {
        b.cast("x_compared", x, cmp)?
    };
    let features: Vec<i64> = nodes.iter().map(|node| node.feature as i64).collect();
    let features = b.indices("features", vec![m], &features);
    let cols = b.gather("columns", x, features)?;
    let splits: Vec<f64> = nodes
        .iter()
        .map(|node| match node.test {
            Test::Less(s) | Test::Greater(s) | Test::Equal(s) => s,
            Test::Member(_) => f64::NAN,
        })
        .collect();
    let splits = b.konst("splits", cmp, vec![m], &splits);
    let comparison = |t: &Test| match t {
        Test::Less(_) => Some(BinaryOp::Less),
        Test::Greater(_) => Some(BinaryOp::Greater),
        Test::Equal(_) => Some(BinaryOp::Equal),
        Test::Member(_) => None,
    };
    let mut base: Option<ValueId> = None;
    for (op, name) in [
        (BinaryOp::Less, "less"),
        (BinaryOp::Greater, "greater"),
        (BinaryOp::Equal, "equal"),
    ] {
        let mask: Vec<bool> = nodes
            .iter()
            .map(|node| comparison(&node.test) == Some(op))
            .collect();
        if mask.iter().any(|&v| v) {
            let r = b.bin(name, op, cols, splits)?;
            base = Some(select(b, name, &mask, r, base)?);
        }
    }
    let mask: Vec<bool> = nodes
        .iter()
        .map(|node| matches!(node.test, Test::Member(_)))
        .collect();
    if mask.iter().any(|&v| v) {
        let r = membership(b, x, n, nodes, cmp)?;
        base = Some(select(b, "member", &mask, r, base)?);
    }
    let base = base.ok_or_else(|| IrError::Internal("a tree node has no test".into()))?;
    let inv: Vec<bool> = nodes.iter().map(|node| !node.invert).collect();
    let base = if inv.iter().all(|&v| v) {
        base
    } else {
        let keep = b.bools("not_inverted", &inv);
        b.bin("compared", BinaryOp::Equal, base, keep)?
    };
    let nan: Vec<bool> = nodes.iter().map(|node| node.nan).collect();
    let nan = b.bools("nan_decision", &nan);
    let number = b.bin("is_number", BinaryOp::Equal, cols, cols)?;
    b.op("decisions", Op::Where, &[number, base, nan])
}

/// `r` where `mask` holds, `rest` elsewhere (`r` alone when there is no rest).
fn select(
    b: &mut B<'_, '_>,
    name: &str,
    mask: &[bool],
    r: ValueId,
    rest: Option<ValueId>,
) -> Result<ValueId, IrError> {
    match rest {
        None => Ok(r),
        Some(rest) => {
            let mask = b.bools(&format!("{name}_mask"), mask);
            b.op(&format!("{name}_selected"), Op::Where, &[mask, r, rest])
        }
    }
}

/// Set membership `[N, M]` (bool; false for the other nodes).
fn membership(
    b: &mut B<'_, '_>,
    x: ValueId,
    n: u64,
    nodes: &[Node],
    cmp: DType,
) -> Result<ValueId, IrError> {
    let sets: Vec<(usize, &Node, &[f64])> = nodes
        .iter()
        .enumerate()
        .filter_map(|(k, node)| match &node.test {
            Test::Member(v) => Some((k, node, v.as_slice())),
            _ => None,
        })
        .collect();
    let (mm, m) = (sets.len() as u64, nodes.len());
    let width = sets.iter().map(|s| s.2.len()).max().unwrap_or(0).max(1) as u64;
    let cells = b.c.built_elements(&[mm, width], 8)?;
    b.c.built_elements(&[n, mm, width], 1)?;
    let mut table = vec![f64::NAN; cells as usize];
    for (i, (_, _, vs)) in sets.iter().enumerate() {
        for (j, &v) in vs.iter().enumerate() {
            if let Some(cell) = table.get_mut(i * width as usize + j) {
                *cell = v;
            }
        }
    }
    let features: Vec<i64> = sets.iter().map(|s| s.1.feature as i64).collect();
    let features = b.indices("member_features", vec![mm], &features);
    let cols = b.gather("member_columns", x, features)?;
    let cols = b.op(
        "member_columns_3d",
        Op::Reshape(Reshape {
            shape: vec![n, mm, 1],
        }),
        &[cols],
    )?;
    let table = b.konst("member_sets", cmp, vec![mm, width], &table);
    let hits = b.bin("member_hits", BinaryOp::Equal, cols, table)?;
    let hits = b.cast("member_hits_u8", hits, DType::U8)?;
    let any = b.reduce("member_any", ReduceKind::Max, 2, false, hits)?;
    let any = if mm as usize == m {
        any
    } else {
        let zero = b.konst("member_none", DType::U8, vec![n, 1], &vec![0.0; n as usize]);
        let padded = b.op(
            "member_padded",
            Op::Concat(Concat { axis: 1 }),
            &[any, zero],
        )?;
        let mut index = vec![mm as i64; m];
        for (i, (k, _, _)) in sets.iter().enumerate() {
            if let Some(slot) = index.get_mut(*k) {
                *slot = i as i64;
            }
        }
        let index = b.indices("member_index", vec![m as u64], &index);
        b.gather("member_all", padded, index)?
    };
    let one = b.konst("member_one", DType::U8, vec![], &[1.0]);
    b.bin("member", BinaryOp::Equal, any, one)
}

/// MIN or MAX per target over the weights of the reached leaves.
fn extreme(
    b: &mut B<'_, '_>,
    reached: Option<ValueId>,
    e: &Ensemble,
    n: u64,
    acc: DType,
) -> Result<ValueId, IrError> {
    let (kind, fill) = match (e.aggregate, e.fill) {
        (Aggregate::Min, fill) => (ReduceKind::Min, fill),
        (_, fill) => (ReduceKind::Max, -fill),
    };
    // One entry per (path, target, weight), grouped by target.
    let t = e.targets as usize;
    let mut by_target: Vec<Vec<(usize, f64)>> = vec![Vec::new(); t];
    for (i, p) in e.paths.iter().enumerate() {
        for &(target, weight) in &p.out {
            if let Some(g) = by_target.get_mut(target as usize) {
                g.push((i, weight));
            }
        }
    }
    let width = by_target.iter().map(Vec::len).max().unwrap_or(0).max(1);
    let pairs: usize = by_target.iter().map(Vec::len).sum();
    b.c.built_elements(&[n, t as u64, width as u64], 8)?;
    let mut path_of = Vec::with_capacity(pairs);
    let mut weight_of = Vec::with_capacity(pairs);
    let mut table = Vec::with_capacity(t * width);
    for g in &by_target {
        for &(i, w) in g {
            table.push(path_of.len() as i64);
            path_of.push(i as i64);
            weight_of.push(w);
        }
        table.extend((g.len()..width).map(|_| pairs as i64));
    }
    let fill_v = b.konst("fill", acc, vec![n, 1], &vec![fill; n as usize]);
    let values = match reached {
        Some(r) if pairs > 0 => {
            let one = b.konst("one_u8", DType::U8, vec![], &[1.0]);
            let hit = b.bin("reached_b", BinaryOp::Equal, r, one)?;
            let path_of = b.indices("pair_paths", vec![pairs as u64], &path_of);
            let hit = b.gather("pair_reached", hit, path_of)?;
            let w = b.konst("pair_weights", acc, vec![pairs as u64], &weight_of);
            let fill_s = b.konst("fill_scalar", acc, vec![], &[fill]);
            b.op("pair_values", Op::Where, &[hit, w, fill_s])?
        }
        // Every path is taken (or none adds anything): the values are constants.
        _ => {
            let cells = b.c.built_elements(&[n, pairs as u64], 8)?;
            let v: Vec<f64> = (0..cells as usize)
                .map(|i| weight_of.get(i % pairs.max(1)).copied().unwrap_or(fill))
                .collect();
            b.konst("pair_values", acc, vec![n, pairs as u64], &v)
        }
    };
    let padded = b.op(
        "pair_values_padded",
        Op::Concat(Concat { axis: 1 }),
        &[values, fill_v],
    )?;
    let table = b.indices("by_target", vec![t as u64, width as u64], &table);
    let grouped = b.gather("by_target_values", padded, table)?;
    b.reduce("extreme", kind, 2, false, grouped)
}

/// Applies `post` to the scores `[N, T]` (of type `dt`).
fn post_transform(
    b: &mut B<'_, '_>,
    v: ValueId,
    post: Post,
    dt: DType,
) -> Result<ValueId, IrError> {
    let k = |b: &mut B<'_, '_>, name: &str, x: f64| b.konst(name, dt, vec![], &[x]);
    match post {
        Post::None => Ok(v),
        Post::Softmax => b.op(
            "softmax",
            Op::Softmax(Softmax {
                axis: 1,
                log: false,
            }),
            &[v],
        ),
        Post::Logistic => b.un("logistic", UnaryOp::Sigmoid, v),
        Post::SoftmaxZero => {
            // Non-zero scores: exp(v - max); zeros: v·exp(-max); then over the sum,
            // 0.5 everywhere when the sum is 0.
            let max = b.reduce("sz_max", ReduceKind::Max, 1, true, v)?;
            let shifted = b.bin("sz_shifted", BinaryOp::Sub, v, max)?;
            let ex = b.un("sz_exp", UnaryOp::Exp, shifted)?;
            let neg = b.un("sz_neg_max", UnaryOp::Neg, max)?;
            let scale = b.un("sz_scale", UnaryOp::Exp, neg)?;
            let small = b.bin("sz_small", BinaryOp::Mul, v, scale)?;
            let abs = b.un("sz_abs", UnaryOp::Abs, v)?;
            let eps = k(b, "sz_eps", 1e-7);
            let nonzero = b.bin("sz_nonzero", BinaryOp::Greater, abs, eps)?;
            let e = b.op("sz_values", Op::Where, &[nonzero, ex, small])?;
            let sum = b.reduce("sz_sum", ReduceKind::Sum, 1, true, e)?;
            let div = b.bin("sz_div", BinaryOp::Div, e, sum)?;
            let zero = k(b, "sz_zero", 0.0);
            let empty = b.bin("sz_empty", BinaryOp::Equal, sum, zero)?;
            let half = k(b, "sz_half", 0.5);
            b.op("softmax_zero", Op::Where, &[empty, half, div])
        }
        Post::Probit => {
            // √2·erfinv(2p − 1), erfinv(t) = sgn(t)·√(√(a² − ln(1 − t²)/0.147) − a),
            // a = 2/(π·0.147) + ln(1 − t²)/2; 0 where 1 − t² = 0.
            let two = k(b, "pb_two", 2.0);
            let one = k(b, "pb_one", 1.0);
            let twice = b.bin("pb_twice", BinaryOp::Mul, v, two)?;
            let t = b.bin("pb_t", BinaryOp::Sub, twice, one)?;
            let lo = b.bin("pb_1mt", BinaryOp::Sub, one, t)?;
            let hi = b.bin("pb_1pt", BinaryOp::Add, one, t)?;
            let w = b.bin("pb_w", BinaryOp::Mul, lo, hi)?;
            let log = b.un("pb_log", UnaryOp::Log, w)?;
            let half = k(b, "pb_half", 0.5);
            let hl = b.bin("pb_half_log", BinaryOp::Mul, log, half)?;
            let c0 = k(b, "pb_c0", 2.0 / (std::f64::consts::PI * 0.147));
            let a = b.bin("pb_a", BinaryOp::Add, hl, c0)?;
            let c1 = k(b, "pb_c1", 1.0 / 0.147);
            let v2 = b.bin("pb_v2", BinaryOp::Mul, log, c1)?;
            let a2 = b.bin("pb_a2", BinaryOp::Mul, a, a)?;
            let d = b.bin("pb_d", BinaryOp::Sub, a2, v2)?;
            let sd = b.un("pb_sqrt_d", UnaryOp::Sqrt, d)?;
            let v3 = b.bin("pb_v3", BinaryOp::Sub, sd, a)?;
            let r = b.un("pb_root", UnaryOp::Sqrt, v3)?;
            let zero = k(b, "pb_zero", 0.0);
            let negative = b.bin("pb_negative", BinaryOp::Less, t, zero)?;
            let nr = b.un("pb_neg_root", UnaryOp::Neg, r)?;
            let signed = b.op("pb_signed", Op::Where, &[negative, nr, r])?;
            let edge = b.bin("pb_edge", BinaryOp::Equal, w, zero)?;
            let erfinv = b.op("pb_erfinv", Op::Where, &[edge, zero, signed])?;
            let sqrt2 = k(b, "pb_sqrt2", std::f64::consts::SQRT_2);
            b.bin("probit", BinaryOp::Mul, erfinv, sqrt2)
        }
    }
}
