//! The older tree ensembles of `ai.onnx.ml` (domain versions 1 to 3):
//! TreeEnsembleRegressor and TreeEnsembleClassifier, decoded into the nodes and
//! root-to-leaf paths of the parent module and evaluated by the same IR.
//!
//! Specs: <https://onnx.ai/onnx/operators/onnx_aionnxml_TreeEnsembleRegressor.html>,
//! <https://onnx.ai/onnx/operators/onnx_aionnxml_TreeEnsembleClassifier.html>; version 3
//! added the `*_as_tensor` (double) forms of the float attributes. As onnx's reference
//! evaluates them:
//! - Nodes are `(tree id, node id)` tuples with the modes `BRANCH_LEQ`, `BRANCH_LT`,
//!   `BRANCH_GTE`, `BRANCH_GT`, `BRANCH_EQ`, `BRANCH_NEQ` or `LEAF`; a tree's root is its
//!   first node in the lists, children are node ids of the same tree.
//! - A NaN feature follows `nodes_missing_value_tracks_true`, whatever the mode.
//! - A leaf's votes (`target_*` or `class_*`: target, weight) add to their targets.
//! - The regressor aggregates the votes (SUM, AVERAGE over trees, MIN, MAX starting from
//!   the extremes of the input's type: a `double` input's are infinite in the output),
//!   adds `base_values`, applies `post_transform`; `Y` is `float`. onnx's reference implements only `NONE`; the others are those of the
//!   classifier (onnxruntime implements them too).
//! - The classifier sums the votes onto `base_values` (`float`). When every vote is for
//!   one class (the binary case) the scores become `[1 - s, s]` (post transform NONE or
//!   PROBIT) or `[-s, s]`, `s` the first column. The label is the `classlabels_int64s`
//!   entry of the first maximal score after the post transform (`ArgMax`, a NaN
//!   counting as the maximum as in numpy, then `Gather`); a
//!   single class label must be 1 (labels 0 and 1). String labels have no IR type and
//!   are refused; integer inputs are cast to `float` first, as in the reference.

use super::{
    divide, expand, finish, largest, post_transform, required, scores, Aggregate, Child, Ensemble,
    Node, Post, Test, B,
};
use crate::context::{Built, NodeCtx};
use neoc_ir::ops::{ArgReduce, Concat, Gather, Reshape, Slice, SliceAxis};
use neoc_ir::ops::{BinaryOp, UnaryOp};
use neoc_ir::{DType, IrError, Op, Tensor, ValueId};
use std::collections::{BTreeMap, HashMap};

/// The votes of the leaves: `<prefix>_treeids`, `_nodeids`, `_ids`, `_weights`.
#[derive(Debug, Default)]
struct Votes {
    /// `(tree, node) → [(target, weight)]`, in attribute order.
    at: HashMap<(i64, i64), Vec<(u64, f64)>>,
    /// The distinct targets voted for.
    targets: Vec<u64>,
}

pub(super) fn regressor(c: &mut NodeCtx<'_>) -> Built {
    let x = input(c, false)?;
    let targets = c
        .attrs
        .opt_int("n_targets")?
        .and_then(|t| u64::try_from(t).ok())
        .filter(|&t| t >= 1)
        .ok_or_else(|| c.attr_error("n_targets must be set to a positive count"))?;
    let aggregate = match c.attrs.string("aggregate_function", "SUM")?.as_str() {
        "SUM" => Aggregate::Sum,
        "AVERAGE" => Aggregate::Average,
        "MIN" => Aggregate::Min,
        "MAX" => Aggregate::Max,
        other => {
            return Err(c.attr_error(format!(
                "aggregate_function must be SUM, AVERAGE, MIN or MAX, got \"{other}\""
            )))
        }
    };
    let votes = votes(c, "target", targets)?;
    let mut e = decode(c, &votes, targets, aggregate)?;
    e.base = base_values(c, targets)?;
    // MIN and MAX start from the extremes of the input's type (infinite in a `float`
    // output for a `double` input), as in the reference.
    e.fill = largest(c.ty(x).dtype);
    let s = scores(c, x, &e, DType::F32)?;
    let y = finish(c, s, e.post, DType::F32, DType::F32)?;
    c.emit1(Op::Identity, vec![Some(y)])
}

pub(super) fn classifier(c: &mut NodeCtx<'_>) -> Built {
    let x = input(c, true)?;
    if c.attrs.has("classlabels_strings") {
        return Err(c.attr_error(
            "classlabels_strings is not supported (string tensors have no IR type); use \
             classlabels_int64s",
        ));
    }
    let labels = c
        .attrs
        .ints("classlabels_int64s")?
        .filter(|l| !l.is_empty())
        .ok_or_else(|| c.attr_error("classlabels_int64s must list the classes"))?;
    let classes = labels.len() as u64;
    let votes = votes(c, "class", classes)?;
    let mut e = decode(c, &votes, classes, Aggregate::Sum)?;
    e.base = base_values(c, classes)?;
    let s = scores(c, x, &e, DType::F32)?;
    let s = if votes.targets.len() == 1 {
        binary(c, s, classes, e.post)?
    } else {
        s
    };
    let mut b = B { c };
    let z = post_transform(&mut b, s, e.post, DType::F32)?;
    // numpy's argmax takes the first NaN as the maximum; IR ArgMax skips NaN.
    let number = b.bin("score_is_number", BinaryOp::Equal, z, z)?;
    let inf = b.konst("infinity", DType::F32, vec![], &[f64::INFINITY]);
    let ranked = b.op("ranked", Op::Where, &[number, z, inf])?;
    let best = b.op(
        "best",
        Op::ArgReduce(ArgReduce {
            max: true,
            axis: 1,
            keepdims: false,
            last: false,
        }),
        &[ranked],
    )?;
    let table = match labels {
        [1] => vec![0, 1],
        [other] => {
            return Err(c.attr_error(format!(
                "a single class label must be 1 (labels 0 and 1), got {other}"
            )))
        }
        _ => labels.to_vec(),
    };
    let table = c.constant("labels", Tensor::from_i64(vec![table.len() as u64], &table));
    let y = c.emit_output(
        0,
        Op::Gather(Gather { axis: 0 }),
        vec![Some(table), Some(best)],
    )?;
    let z = c.emit_output(1, Op::Identity, vec![Some(z)])?;
    Ok(vec![y, z])
}

/// The input as `[N, F]` (`[F]` is one row); the classifier's integers become `float`.
fn input(c: &mut NodeCtx<'_>, to_float: bool) -> Result<ValueId, IrError> {
    let x = c.req(0)?;
    let xd = c.dims(x)?;
    let dtype = c.ty(x).dtype;
    if !matches!(dtype, DType::F32 | DType::F64 | DType::I32 | DType::I64) {
        return Err(c.shape_error(format!(
            "input must be float, double, int32 or int64, got {dtype}"
        )));
    }
    let x = match xd.as_slice() {
        [_, _] => x,
        [f] => c.inner(
            "row",
            Op::Reshape(Reshape { shape: vec![1, *f] }),
            vec![Some(x)],
        )?,
        _ => return Err(c.shape_error(format!("input must be [N, F] or [F], got {xd:?}"))),
    };
    if to_float && dtype.is_int() {
        return c.inner(
            "x_float",
            Op::Cast(neoc_ir::ops::Cast { to: DType::F32 }),
            vec![Some(x)],
        );
    }
    Ok(x)
}

/// A float list given as `<name>_as_tensor` (double) or `<name>` (float).
fn float_list(c: &mut NodeCtx<'_>, name: &str) -> Result<Option<Vec<f64>>, IrError> {
    let tensor_name = format!("{name}_as_tensor");
    if let Some(p) = c.attrs.tensor(&tensor_name)? {
        return Ok(Some(c.tensor(p, &tensor_name)?.to_f64_vec()));
    }
    Ok(c.attrs
        .floats(name)?
        .map(|v| v.iter().map(|&f| f64::from(f)).collect()))
}

/// `base_values` for `count` targets (one value is broadcast), empty when absent.
fn base_values(c: &mut NodeCtx<'_>, count: u64) -> Result<Vec<f64>, IrError> {
    let Some(v) = float_list(c, "base_values")? else {
        return Ok(Vec::new());
    };
    match v.as_slice() {
        [one] => Ok(vec![*one; count as usize]),
        _ if v.len() as u64 == count => Ok(v),
        _ => Err(c.attr_error(format!(
            "base_values has {} values for {count} targets",
            v.len()
        ))),
    }
}

/// The leaves' votes `<prefix>_*`, checked against `count` targets.
fn votes(c: &mut NodeCtx<'_>, prefix: &str, count: u64) -> Result<Votes, IrError> {
    let list = |c: &NodeCtx<'_>, what: &str| -> Result<Vec<i64>, IrError> {
        Ok(c.attrs
            .ints(&format!("{prefix}_{what}"))?
            .unwrap_or_default()
            .to_vec())
    };
    let trees = list(c, "treeids")?;
    let nodes = list(c, "nodeids")?;
    let ids = list(c, "ids")?;
    let weights = float_list(c, &format!("{prefix}_weights"))?.unwrap_or_default();
    if [nodes.len(), ids.len(), weights.len()] != [trees.len(); 3] {
        return Err(c.attr_error(format!(
            "{prefix}_treeids, _nodeids, _ids and _weights must have one length, got {}, {}, \
             {} and {}",
            trees.len(),
            nodes.len(),
            ids.len(),
            weights.len()
        )));
    }
    if let Some(w) = weights.iter().find(|w| !w.is_finite()) {
        return Err(c.attr_error(format!("{prefix} weight {w} is not finite")));
    }
    let mut votes = Votes::default();
    for (((&t, &n), &id), &w) in trees.iter().zip(&nodes).zip(&ids).zip(&weights) {
        let id = u64::try_from(id)
            .ok()
            .filter(|&i| i < count)
            .ok_or_else(|| c.attr_error(format!("{prefix} id {id} is outside 0..{count}")))?;
        votes.at.entry((t, n)).or_default().push((id, w));
        if !votes.targets.contains(&id) {
            votes.targets.push(id);
        }
    }
    Ok(votes)
}

/// Decodes the `nodes_*` attributes and the votes into an ensemble.
fn decode(
    c: &mut NodeCtx<'_>,
    votes: &Votes,
    targets: u64,
    aggregate: Aggregate,
) -> Result<Ensemble, IrError> {
    let a = c.attrs;
    let list = |name: &str| a.ints(name).and_then(|v| required(c, name, v));
    let trees = list("nodes_treeids")?;
    let ids = list("nodes_nodeids")?;
    let features = list("nodes_featureids")?;
    let true_ids = list("nodes_truenodeids")?;
    let false_ids = list("nodes_falsenodeids")?;
    let missing = a.ints("nodes_missing_value_tracks_true")?;
    let modes = a
        .strings("nodes_modes")?
        .ok_or_else(|| c.attr_error("attribute \"nodes_modes\" is required"))?;
    let post = match a.string("post_transform", "NONE")?.as_str() {
        "NONE" => Post::None,
        "SOFTMAX" => Post::Softmax,
        "LOGISTIC" => Post::Logistic,
        "SOFTMAX_ZERO" => Post::SoftmaxZero,
        "PROBIT" => Post::Probit,
        other => return Err(c.attr_error(format!("post_transform \"{other}\" is unknown"))),
    };
    let values = float_list(c, "nodes_values")?.unwrap_or_default();
    let m = trees.len();
    let lengths = [
        ids.len(),
        features.len(),
        true_ids.len(),
        false_ids.len(),
        modes.len(),
        missing.map_or(m, <[i64]>::len),
    ];
    if lengths.iter().any(|&l| l != m) || !(values.is_empty() || values.len() == m) {
        return Err(c.attr_error(format!(
            "the nodes_* attributes must have one length ({m}, got {lengths:?} and {} \
             values)",
            values.len()
        )));
    }
    let mut index = HashMap::with_capacity(m);
    let mut roots = BTreeMap::new();
    for k in 0..m {
        if index.insert((trees[k], ids[k]), k).is_some() {
            return Err(c.attr_error(format!(
                "node {} appears twice in tree {}",
                ids[k], trees[k]
            )));
        }
        roots.entry(trees[k]).or_insert(k);
    }
    let is_leaf: Vec<bool> = modes.iter().map(|s| s == "LEAF").collect();
    let mut nodes = Vec::with_capacity(m);
    let mut children = Vec::with_capacity(m);
    for k in 0..m {
        let placeholder = Node {
            feature: 0,
            test: Test::Equal(f64::NAN),
            invert: false,
            nan: false,
        };
        if is_leaf[k] {
            nodes.push(placeholder);
            children.push((Child::Leaf(k), Child::Leaf(k)));
            continue;
        }
        let s = values.get(k).copied().ok_or_else(|| {
            c.attr_error("nodes_values (or nodes_values_as_tensor) is required for branch nodes")
        })?;
        let (test, invert) = match modes[k].as_str() {
            // A NaN threshold: every comparison but `!=` is false, as `x == NaN` is.
            "BRANCH_LEQ" | "BRANCH_LT" | "BRANCH_GTE" | "BRANCH_GT" if s.is_nan() => {
                (Test::Equal(s), false)
            }
            "BRANCH_LEQ" => (Test::Greater(s), true),
            "BRANCH_LT" => (Test::Less(s), false),
            "BRANCH_GTE" => (Test::Less(s), true),
            "BRANCH_GT" => (Test::Greater(s), false),
            "BRANCH_EQ" => (Test::Equal(s), false),
            "BRANCH_NEQ" => (Test::Equal(s), true),
            other => return Err(c.attr_error(format!("nodes_modes[{k}] \"{other}\" is unknown"))),
        };
        let feature = u64::try_from(features[k])
            .map_err(|_| c.attr_error(format!("node {k} has feature {}", features[k])))?;
        nodes.push(Node {
            feature,
            test,
            invert,
            nan: missing.and_then(|v| v.get(k)).is_some_and(|&v| v != 0),
        });
        let child = |id: i64| match index.get(&(trees[k], id)) {
            Some(&j) if is_leaf[j] => Ok(Child::Leaf(j)),
            Some(&j) => Ok(Child::Node(j)),
            None => Err(c.attr_error(format!(
                "node {} of tree {} branches to node {id}, which the tree lacks",
                ids[k], trees[k]
            ))),
        };
        children.push((child(true_ids[k])?, child(false_ids[k])?));
    }
    let starts: Vec<Child> = roots
        .values()
        .map(|&k| {
            if is_leaf[k] {
                Child::Leaf(k)
            } else {
                Child::Node(k)
            }
        })
        .collect();
    let leaf = |k: usize| {
        votes
            .at
            .get(&(trees[k], ids[k]))
            .cloned()
            .unwrap_or_default()
    };
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
        fill: largest(DType::F32),
        post,
    })
}

/// The binary case's scores `[N, max(2, classes)]` from `s` `[N, classes]`: column 1
/// takes column 0, and column 0 becomes `1 - s` or `-s`.
fn binary(c: &mut NodeCtx<'_>, s: ValueId, classes: u64, post: Post) -> Result<ValueId, IrError> {
    let mut b = B { c };
    let column = |start: i64, end: i64| {
        Op::Slice(Slice {
            axes: vec![SliceAxis {
                axis: 1,
                start,
                end,
                step: 1,
            }],
        })
    };
    let first = b.op("binary_score", column(0, 1), &[s])?;
    let other = match post {
        Post::None | Post::Probit => {
            let one = b.konst("binary_one", DType::F32, vec![], &[1.0]);
            b.bin("binary_other", BinaryOp::Sub, one, first)?
        }
        _ => b.un("binary_other", UnaryOp::Neg, first)?,
    };
    let mut parts = vec![other, first];
    if classes > 2 {
        parts.push(b.op("binary_rest", column(2, classes as i64), &[s])?);
    }
    b.op("binary_scores", Op::Concat(Concat { axis: 1 }), &parts)
}
