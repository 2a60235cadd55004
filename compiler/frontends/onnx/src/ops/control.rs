//! If, Loop and Scan, resolved while importing: neoc compiles static graphs, so control
//! flow is selected or unrolled at compile time and no control-flow op reaches the IR.
//!
//! Specs: <https://onnx.ai/onnx/operators/onnx__If.html>,
//! <https://onnx.ai/onnx/operators/onnx__Loop.html>,
//! <https://onnx.ai/onnx/operators/onnx__Scan.html>. Each op carries its subgraphs as
//! `graph` attributes; a subgraph reads values of the enclosing graphs by name, and its
//! inputs are bound per use (see `import::import_subgraph`). Every imported copy of a
//! subgraph gets its own IR names, `<node>/<tag>/<name>` (the tag is `then`/`else`, the
//! iteration, or the batch entry and step), and may itself hold control flow, which
//! resolves recursively. Versions differ only in the non-tensor types they admit
//! (sequences from opset 13, optionals from 16), which neoc does not import: a subgraph
//! using them is refused by its operators.
//!
//! - **If**: when the condition is a constant after folding, only the chosen branch is
//!   imported (the other may even be invalid for these shapes, as in the expanded
//!   function bodies of the ONNX suite). Otherwise both branches are imported and each
//!   output is `Where(cond, then, else)`; this is sound because ONNX subgraphs are side
//!   effect free, so computing the untaken branch changes nothing but time. It needs
//!   the branches' outputs to have identical static types.
//! - **Loop**: the trip count `M` and the condition must be constants, and the body's
//!   condition output must fold to a constant after every iteration. The body is
//!   imported once per iteration with the iteration number and condition bound as
//!   constants and the loop-carried values threaded through; scan outputs are stacked
//!   along a new axis 0 (Reshape to a leading 1, then Concat).
//! - **Scan** (9+): the body is imported once per step of the static sequence length,
//!   with each scan input sliced along its `scan_input_axes` entry (from the end for a
//!   reverse direction); scan outputs are stacked along `scan_output_axes` (in reverse
//!   step order for a reverse direction). **Scan 8** has a leading batch axis on every
//!   input and output and no axes attributes: it unrolls per batch entry, then per step
//!   along axis 1, and stacks the results along the batch axis; `sequence_lens` must be
//!   absent or a constant equal to the full length for every entry.
//!
//! Unrolling is bounded: every imported copy counts against
//! [`crate::import::MAX_UNROLLED_NODES`], so a long or unbounded loop is refused with
//! that limit named.

use super::{spec, OpSpec};
use crate::context::{Built, NodeCtx};
use crate::proto::GraphProto;
use neoc_ir::ops::{Concat, Reshape, Slice, SliceAxis};
use neoc_ir::{DType, IrError, Op, Tensor, ValueId};

pub(crate) const SPECS: &[OpSpec] = &[
    spec(
        "If",
        1,
        22,
        if_,
        "constant condition: the chosen branch inline; otherwise both branches and Where (equal output types)",
    ),
    spec(
        "Loop",
        1,
        22,
        loop_,
        "unrolled: constant trip count and condition; scan outputs stacked on axis 0",
    ),
    spec(
        "Scan",
        8,
        8,
        scan8,
        "unrolled per batch entry and step; sequence_lens absent or the full length",
    ),
    spec(
        "Scan",
        9,
        22,
        scan9,
        "unrolled over the static sequence length; axes and directions",
    ),
];

/// The required `graph` attribute `name`.
fn body<'a>(c: &NodeCtx<'a>, name: &str) -> Result<&'a GraphProto, IrError> {
    c.attrs
        .graph(name)?
        .ok_or_else(|| c.attr_error(format!("the subgraph attribute \"{name}\" is missing")))
}

/// The node's outputs: `values` under the ONNX output names (Identity nodes, which
/// the passes remove), refusing a subgraph that yields fewer values than the node has
/// outputs.
fn finish(c: &mut NodeCtx<'_>, values: &[ValueId]) -> Built {
    if values.len() < c.output_count() {
        return Err(c.shape_error(format!(
            "the node has {} outputs, but its subgraph yields only {}",
            c.output_count(),
            values.len()
        )));
    }
    values
        .iter()
        .take(c.output_count())
        .enumerate()
        .map(|(i, &v)| c.emit_output(i, Op::Identity, vec![Some(v)]))
        .collect()
}

/// A one-element boolean condition's constant value, `None` when it is not a constant.
fn const_flag(c: &NodeCtx<'_>, v: ValueId, what: &str) -> Result<Option<bool>, IrError> {
    let ty = c.ty(v);
    if ty
        .shape
        .as_fixed()
        .is_none_or(|d| d.iter().product::<u64>() != 1)
    {
        return Err(c.shape_error(format!(
            "{what} must hold one element, got shape {}",
            ty.shape
        )));
    }
    Ok(c.graph
        .const_value(v)
        .and_then(|t| t.to_f64_vec().first().copied())
        .map(|x| x != 0.0))
}

fn if_(c: &mut NodeCtx<'_>) -> Built {
    let cond = c.req(0)?;
    let then_g = body(c, "then_branch")?;
    let else_g = body(c, "else_branch")?;
    if c.ty(cond).dtype != DType::Bool {
        return Err(c.shape_error(format!(
            "the condition must be bool, got {}",
            c.ty(cond).dtype
        )));
    }
    if let Some(take_then) = const_flag(c, cond, "the condition")? {
        let outs = if take_then {
            c.subgraph(then_g, "then", &[])?
        } else {
            c.subgraph(else_g, "else", &[])?
        };
        return finish(c, &outs);
    }
    let a = c.subgraph(then_g, "then", &[])?;
    let b = c.subgraph(else_g, "else", &[])?;
    let differ = |i: usize| {
        c.shape_error(format!(
            "If with a run-time condition whose branches differ in shape is not supported \
             (output {i}: then {}, else {})",
            a.get(i).map_or("none".into(), |&v| c.ty(v).to_string()),
            b.get(i).map_or("none".into(), |&v| c.ty(v).to_string()),
        ))
    };
    let n = c.output_count();
    for i in 0..n {
        match (a.get(i), b.get(i)) {
            (Some(&x), Some(&y)) if c.ty(x) == c.ty(y) && c.ty(x).shape.as_fixed().is_some() => {}
            _ => return Err(differ(i)),
        }
    }
    // A rank-0 condition, so it broadcasts to the branch type unchanged.
    let cond = c.inner(
        "cond",
        Op::Reshape(Reshape { shape: vec![] }),
        vec![Some(cond)],
    )?;
    let mut outs = Vec::with_capacity(n);
    for (i, (&x, &y)) in a.iter().zip(&b).take(n).enumerate() {
        outs.push(c.emit_output(i, Op::Where, vec![Some(cond), Some(x), Some(y)])?);
    }
    Ok(outs)
}

fn loop_(c: &mut NodeCtx<'_>) -> Built {
    let g = body(c, "body")?;
    let trip = match c.const_ints(0, "the trip count M")? {
        None => None,
        Some(v) => match v[..] {
            [m] => Some(m),
            _ => return Err(c.shape_error("the trip count M must be a scalar")),
        },
    };
    let has_cond = c.input(1).is_some();
    let mut cond = match c.input(1) {
        None => None,
        Some(v) => match const_flag(c, v, "the condition")? {
            Some(f) => Some(f),
            None => return Err(c.not_constant("the loop condition (input 1)")),
        },
    };
    if trip.is_none() && cond.is_none() {
        return Err(c.shape_error("a Loop with neither a trip count nor a condition never ends"));
    }
    let n = c.inputs().len().saturating_sub(2);
    let mut carried = (2..2 + n)
        .map(|i| c.req(i))
        .collect::<Result<Vec<_>, _>>()?;
    if g.input.len() != n + 2 || g.output.len() < n + 1 {
        return Err(c.shape_error(format!(
            "the body has {} inputs and {} outputs; a Loop with {n} loop-carried values \
             needs {} inputs and at least {} outputs",
            g.input.len(),
            g.output.len(),
            n + 2,
            n + 1
        )));
    }
    let k = g.output.len() - n - 1;
    let mut scans: Vec<Vec<ValueId>> = vec![Vec::new(); k];
    let mut i: i64 = 0;
    while trip.is_none_or(|m| i < m) && cond != Some(false) {
        let iteration = c.constant(&format!("{i}/iteration"), Tensor::from_i64(vec![], &[i]));
        let flag = if cond.unwrap_or(true) { 1.0 } else { 0.0 };
        let cond_in = c.constant(
            &format!("{i}/cond"),
            Tensor::from_f64_as(DType::Bool, vec![], &[flag]),
        );
        let mut bind = vec![iteration, cond_in];
        bind.extend(&carried);
        let outs = c.subgraph(g, &i.to_string(), &bind)?;
        let (head, rest) = outs.split_at(1.min(outs.len()));
        if has_cond {
            let Some(&cond_out) = head.first() else {
                return Err(c.shape_error("the body has no condition output"));
            };
            cond = match const_flag(c, cond_out, "the body's condition output")? {
                Some(f) => Some(f),
                None => {
                    return Err(c.not_constant(format!(
                        "the loop condition after iteration {i} (body output 0)"
                    )))
                }
            };
        }
        carried = rest.iter().take(n).copied().collect();
        for (s, &v) in scans.iter_mut().zip(rest.iter().skip(n)) {
            s.push(v);
        }
        i += 1;
    }
    if k > 0 && i == 0 {
        return Err(c.shape_error(
            "the Loop runs zero iterations, so its scan outputs would be empty, which is not supported",
        ));
    }
    let mut outs = carried;
    for (j, s) in scans.iter().enumerate() {
        outs.push(stack(c, &format!("scan{j}"), s, 0)?);
    }
    finish(c, &outs)
}

/// `pieces` (equal shapes) stacked along a new `axis`: each reshaped to have a 1 there,
/// then concatenated. Intermediate nodes are named `<node>/<tag>/...`.
fn stack(
    c: &mut NodeCtx<'_>,
    tag: &str,
    pieces: &[ValueId],
    axis: usize,
) -> Result<ValueId, IrError> {
    let mut parts = Vec::with_capacity(pieces.len());
    for (t, &p) in pieces.iter().enumerate() {
        let mut d = c.dims(p)?;
        if axis > d.len() {
            return Err(c.attr_error(format!(
                "output axis {axis} is out of range for a stacked rank-{} value",
                d.len()
            )));
        }
        d.insert(axis, 1);
        let r = c.inner(
            &format!("{tag}/{t}"),
            Op::Reshape(Reshape { shape: d }),
            vec![Some(p)],
        )?;
        parts.push(Some(r));
    }
    c.inner(tag, Op::Concat(Concat { axis }), parts)
}

/// Entry `index` of `x` along `axis`, with that axis removed.
fn take(
    c: &mut NodeCtx<'_>,
    tag: &str,
    x: ValueId,
    axis: usize,
    index: u64,
) -> Result<ValueId, IrError> {
    let mut d = c.dims(x)?;
    let start = i64::try_from(index).map_err(|_| c.shape_error("scan index overflows"))?;
    let s = Slice {
        axes: vec![SliceAxis {
            axis,
            start,
            end: start + 1,
            step: 1,
        }],
    };
    let v = c.inner(&format!("{tag}/slice"), Op::Slice(s), vec![Some(x)])?;
    if axis < d.len() {
        d.remove(axis);
    }
    c.inner(tag, Op::Reshape(Reshape { shape: d }), vec![Some(v)])
}

/// One scan to unroll: the body, and per scan input its axis and direction.
struct Unroll<'g> {
    body: &'g GraphProto,
    /// Prefix of the subgraph and slice tags (the batch entry for Scan 8).
    tag: String,
    axes: Vec<usize>,
    reverse: Vec<bool>,
}

impl Unroll<'_> {
    /// Runs the body once per step over `xs` (each sliced along its axis, from the
    /// end where reversed), threading `states`. Returns the final states and, per
    /// scan output, its values in step order.
    fn run(
        &self,
        c: &mut NodeCtx<'_>,
        mut states: Vec<ValueId>,
        xs: &[ValueId],
    ) -> Result<(Vec<ValueId>, Vec<Vec<ValueId>>), IrError> {
        let n = states.len();
        let g = self.body;
        if g.input.len() != n + xs.len() || g.output.len() < n {
            return Err(c.shape_error(format!(
                "the body has {} inputs and {} outputs; a Scan with {n} state values and {} \
                 scan inputs needs {} inputs and at least {n} outputs",
                g.input.len(),
                g.output.len(),
                xs.len(),
                n + xs.len()
            )));
        }
        let mut steps: Option<u64> = None;
        for (j, (&x, &axis)) in xs.iter().zip(&self.axes).enumerate() {
            let d = c.dims(x)?;
            let len = d.get(axis).copied().ok_or_else(|| {
                c.attr_error(format!("scan input {j} of shape {d:?} has no axis {axis}"))
            })?;
            match steps {
                Some(s) if s != len => {
                    return Err(c.shape_error(format!(
                        "the scan inputs have different sequence lengths ({s} and {len})"
                    )))
                }
                _ => steps = Some(len),
            }
        }
        let steps = match steps {
            Some(s) if s > 0 => s,
            _ => return Err(c.shape_error("a Scan needs at least one step over a scan input")),
        };
        let mut scans: Vec<Vec<ValueId>> = vec![Vec::new(); g.output.len() - n];
        for t in 0..steps {
            let step = format!("{}{t}", self.tag);
            let mut bind = states.clone();
            for (j, &x) in xs.iter().enumerate() {
                let (axis, rev) = (self.axes[j], self.reverse[j]);
                let index = if rev { steps - 1 - t } else { t };
                bind.push(take(c, &format!("{step}/in{j}"), x, axis, index)?);
            }
            let outs = c.subgraph(g, &step, &bind)?;
            states = outs.iter().take(n).copied().collect();
            for (s, &v) in scans.iter_mut().zip(outs.iter().skip(n)) {
                s.push(v);
            }
        }
        Ok((states, scans))
    }
}

/// An `ints` attribute with one entry per `count` (defaulting to 0s).
fn per_value(c: &NodeCtx<'_>, name: &str, count: usize) -> Result<Vec<i64>, IrError> {
    match c.attrs.ints(name)? {
        None => Ok(vec![0; count]),
        Some(v) if v.len() == count => Ok(v.to_vec()),
        Some(v) => Err(c.attr_error(format!(
            "\"{name}\" has {} entries, expected {count}",
            v.len()
        ))),
    }
}

/// Direction flags: 0 forward, 1 reverse.
fn directions(c: &NodeCtx<'_>, name: &str, count: usize) -> Result<Vec<bool>, IrError> {
    per_value(c, name, count)?
        .into_iter()
        .map(|d| match d {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(c.attr_error(format!("\"{name}\" entries must be 0 or 1, got {d}"))),
        })
        .collect()
}

/// `num_scan_inputs` and the split of `inputs` into states and scan inputs.
fn split_inputs(
    c: &NodeCtx<'_>,
    inputs: &[ValueId],
) -> Result<(usize, Vec<ValueId>, Vec<ValueId>), IrError> {
    let m = c
        .attrs
        .opt_int("num_scan_inputs")?
        .ok_or_else(|| c.attr_error("\"num_scan_inputs\" is required"))?;
    let m = usize::try_from(m)
        .ok()
        .filter(|&m| m >= 1 && m <= inputs.len())
        .ok_or_else(|| {
            c.attr_error(format!(
                "\"num_scan_inputs\" is {m}, but the node has {} state and scan inputs",
                inputs.len()
            ))
        })?;
    let n = inputs.len() - m;
    Ok((m, inputs[..n].to_vec(), inputs[n..].to_vec()))
}

fn scan9(c: &mut NodeCtx<'_>) -> Built {
    let g = body(c, "body")?;
    let inputs = (0..c.inputs().len())
        .map(|i| c.req(i))
        .collect::<Result<Vec<_>, _>>()?;
    let (m, states, xs) = split_inputs(c, &inputs)?;
    let mut axes = Vec::with_capacity(m);
    for (&x, a) in xs.iter().zip(per_value(c, "scan_input_axes", m)?) {
        let rank = c.dims(x)?.len();
        axes.push(c.axis(a, rank)?);
    }
    let reverse = directions(c, "scan_input_directions", m)?;
    let k = g.output.len().saturating_sub(states.len());
    let out_axes = per_value(c, "scan_output_axes", k)?;
    let out_reverse = directions(c, "scan_output_directions", k)?;
    let unroll = Unroll {
        body: g,
        tag: String::new(),
        axes,
        reverse,
    };
    let (mut outs, scans) = unroll.run(c, states, &xs)?;
    for (j, mut s) in scans.into_iter().enumerate() {
        if out_reverse[j] {
            s.reverse();
        }
        let rank = match s.first() {
            Some(&v) => c.dims(v)?.len(),
            None => 0,
        };
        let axis = c.axis(out_axes[j], rank + 1)?;
        outs.push(stack(c, &format!("scan{j}"), &s, axis)?);
    }
    finish(c, &outs)
}

fn scan8(c: &mut NodeCtx<'_>) -> Built {
    let g = body(c, "body")?;
    let inputs = (1..c.inputs().len())
        .map(|i| c.req(i))
        .collect::<Result<Vec<_>, _>>()?;
    let (m, states, xs) = split_inputs(c, &inputs)?;
    let reverse = directions(c, "directions", m)?;
    let mut batch: Option<u64> = None;
    let mut steps = 0;
    for (i, &v) in inputs.iter().enumerate() {
        let d = c.dims(v)?;
        let is_scan = i >= states.len();
        let (b, t) = match (d.first(), d.get(1)) {
            (Some(&b), Some(&t)) if is_scan => (b, t),
            (Some(&b), _) if !is_scan => (b, 0),
            _ => {
                return Err(c.shape_error(format!(
                    "input {} of shape {d:?} lacks the batch axis (and, for a scan input, \
                     the sequence axis)",
                    i + 1
                )))
            }
        };
        if batch.is_some_and(|x| x != b) {
            return Err(c.shape_error("the inputs have different batch sizes"));
        }
        batch = Some(b);
        if is_scan {
            steps = t;
        }
    }
    let batch = match batch {
        Some(b) if b > 0 => b,
        _ => return Err(c.shape_error("a Scan needs a batch of at least one entry")),
    };
    if let Some(lens) = c.const_ints(0, "sequence_lens")? {
        if lens.iter().any(|&l| u64::try_from(l).ok() != Some(steps)) {
            return Err(c.shape_error(format!(
                "sequence_lens {lens:?} shorter than the sequence length {steps} is not supported"
            )));
        }
    }
    let k = g.output.len().saturating_sub(states.len());
    let mut finals: Vec<Vec<ValueId>> = vec![Vec::new(); states.len()];
    let mut scans: Vec<Vec<ValueId>> = vec![Vec::new(); k];
    for b in 0..batch {
        let entry = |c: &mut NodeCtx<'_>, what: &str, j: usize, v: ValueId| {
            take(c, &format!("b{b}/{what}{j}"), v, 0, b)
        };
        let mut s_b = Vec::with_capacity(states.len());
        for (j, &s) in states.iter().enumerate() {
            s_b.push(entry(c, "state", j, s)?);
        }
        let mut x_b = Vec::with_capacity(xs.len());
        for (j, &x) in xs.iter().enumerate() {
            x_b.push(entry(c, "x", j, x)?);
        }
        let unroll = Unroll {
            body: g,
            tag: format!("b{b}/"),
            axes: vec![0; m],
            reverse: reverse.clone(),
        };
        let (last, per_step) = unroll.run(c, s_b, &x_b)?;
        for (f, v) in finals.iter_mut().zip(last) {
            f.push(v);
        }
        for (j, (s, steps)) in scans.iter_mut().zip(per_step).enumerate() {
            s.push(stack(c, &format!("b{b}/scan{j}"), &steps, 0)?);
        }
    }
    let mut outs = Vec::with_capacity(finals.len() + k);
    for (j, f) in finals.iter().enumerate() {
        outs.push(stack(c, &format!("state{j}"), f, 0)?);
    }
    for (j, s) in scans.iter().enumerate() {
        outs.push(stack(c, &format!("scan{j}"), s, 0)?);
    }
    finish(c, &outs)
}
