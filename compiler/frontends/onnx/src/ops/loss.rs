//! Loss functions: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss, desugared.
//!
//! Specs: <https://onnx.ai/onnx/operators/onnx__NegativeLogLikelihoodLoss.html>,
//! <https://onnx.ai/onnx/operators/onnx__SoftmaxCrossEntropyLoss.html>. Models evaluate
//! them (validation graphs, exported training heads); as IR:
//! - `safe = Where(target == ignore_index, 0, target)` (so every gather is in range);
//! - `picked = GatherElements(input, safe, axis 1)`, `w = weight[safe]` (or 1), zeroed
//!   where the target is ignored; `loss = -picked · w`;
//! - `none` keeps `loss`, `sum` is `ReduceSum(loss)`, `mean` is
//!   `ReduceSum(loss) / ReduceSum(w)` (the weighted mean over the kept elements);
//! - SoftmaxCrossEntropyLoss first takes `LogSoftmax` over axis 1 (its optional second
//!   output).

use super::{spec, OpSpec};
use crate::context::{Built, NodeCtx};
use neoc_ir::ops::{
    BinaryOp, Gather, GatherElements, Reduce, ReduceKind, Reshape, Softmax, UnaryOp,
};
use neoc_ir::{IrError, Op, Tensor, ValueId};

pub(crate) const SPECS: &[OpSpec] = &[
    spec(
        "NegativeLogLikelihoodLoss",
        12,
        22,
        nll_loss,
        "desugared: GatherElements, weights, ignore_index, reductions",
    ),
    spec(
        "SoftmaxCrossEntropyLoss",
        12,
        22,
        softmax_cross_entropy,
        "desugared: LogSoftmax then NegativeLogLikelihoodLoss; log_prob output",
    ),
];

fn nll_loss(c: &mut NodeCtx<'_>) -> Built {
    let (input, target) = (c.req(0)?, c.req(1)?);
    let loss = nll(c, input, target, c.input(2))?;
    Ok(vec![loss])
}

fn softmax_cross_entropy(c: &mut NodeCtx<'_>) -> Built {
    let (scores, labels) = (c.req(0)?, c.req(1)?);
    let log_prob = c.inner(
        "log_prob",
        Op::Softmax(Softmax { axis: 1, log: true }),
        vec![Some(scores)],
    )?;
    let loss = nll(c, log_prob, labels, c.input(2))?;
    if c.output_count() > 1 {
        let lp = c.emit_output(1, Op::Identity, vec![Some(log_prob)])?;
        return Ok(vec![loss, lp]);
    }
    Ok(vec![loss])
}

/// The NLL loss of `input` `[N, C, d...]` at `target` `[N, d...]`, as output 0.
fn nll(
    c: &mut NodeCtx<'_>,
    input: ValueId,
    target: ValueId,
    weight: Option<ValueId>,
) -> Result<ValueId, IrError> {
    let (xd, td) = (c.dims(input)?, c.dims(target)?);
    let dtype = c.ty(input).dtype;
    let tdt = c.ty(target).dtype;
    if xd.len() < 2 || td.len() + 1 != xd.len() || td[0] != xd[0] || td[1..] != xd[2..] {
        return Err(c.shape_error(format!(
            "input {xd:?} and target {td:?} must be [N, C, d...] and [N, d...]"
        )));
    }
    let reduction = c.attrs.string("reduction", "mean")?;
    if !matches!(reduction.as_str(), "none" | "sum" | "mean") {
        return Err(c.attr_error(format!(
            "reduction must be none, sum or mean, got \"{reduction}\""
        )));
    }
    let ignore = c.attrs.opt_int("ignore_index")?;
    let mut unsq = vec![td[0], 1];
    unsq.extend_from_slice(&td[1..]);
    let zero_t = c.constant("zero_index", Tensor::from_f64_as(tdt, vec![], &[0.0]));
    // Targets with the ignored ones replaced by 0, and the keep mask.
    let (safe, ignored) = match ignore {
        Some(ii) => {
            let iiv = c.constant(
                "ignore_index",
                Tensor::from_f64_as(tdt, vec![], &[ii as f64]),
            );
            let eq = c.inner(
                "ignored",
                Op::Binary(BinaryOp::Equal),
                vec![Some(target), Some(iiv)],
            )?;
            let safe = c.inner(
                "safe",
                Op::Where,
                vec![Some(eq), Some(zero_t), Some(target)],
            )?;
            (safe, Some(eq))
        }
        None => (target, None),
    };
    let idx = c.inner(
        "index",
        Op::Reshape(Reshape { shape: unsq }),
        vec![Some(safe)],
    )?;
    let picked = c.inner(
        "picked",
        Op::GatherElements(GatherElements { axis: 1 }),
        vec![Some(input), Some(idx)],
    )?;
    let picked = c.inner(
        "picked_flat",
        Op::Reshape(Reshape { shape: td.clone() }),
        vec![Some(picked)],
    )?;
    let zero = c.constant("zero", Tensor::from_f64_as(dtype, vec![], &[0.0]));
    // Per-element weights (1 without a weight input), 0 where ignored.
    let w = match weight {
        Some(wv) => c.inner(
            "weights",
            Op::Gather(Gather { axis: 0 }),
            vec![Some(wv), Some(safe)],
        )?,
        None => {
            let n = c.built_elements(&td, 8)?;
            c.constant(
                "ones",
                Tensor::from_f64_as(dtype, td.clone(), &vec![1.0; n as usize]),
            )
        }
    };
    let w = match ignored {
        Some(m) => c.inner("kept", Op::Where, vec![Some(m), Some(zero), Some(w)])?,
        None => w,
    };
    let neg = c.inner("neg", Op::Unary(UnaryOp::Neg), vec![Some(picked)])?;
    let loss = c.inner("loss", Op::Binary(BinaryOp::Mul), vec![Some(neg), Some(w)])?;
    let all: Vec<usize> = (0..td.len()).collect();
    let sum = |c: &mut NodeCtx<'_>, name: &str, v: ValueId| {
        let r = Reduce {
            kind: ReduceKind::Sum,
            axes: all.clone(),
            keepdims: false,
        };
        c.inner(name, Op::Reduce(r), vec![Some(v)])
    };
    match reduction.as_str() {
        "none" => c.emit_output(0, Op::Identity, vec![Some(loss)]),
        "sum" => {
            let total = sum(c, "total", loss)?;
            c.emit_output(0, Op::Identity, vec![Some(total)])
        }
        _ => {
            let total = sum(c, "total", loss)?;
            let wsum = sum(c, "weight_sum", w)?;
            c.emit_output(0, Op::Binary(BinaryOp::Div), vec![Some(total), Some(wsum)])
        }
    }
}
