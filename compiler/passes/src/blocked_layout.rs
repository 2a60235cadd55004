//! Chooses the blocked channel layout (NCHW16c, or NCHW8c) for the convolutions where it
//! pays off, and inserts and cancels the layout conversions around them (level 3).
//!
//! What moves: convolutions (plain, or fused anchors with their epilogue) that are
//! - **depthwise** (one input channel per group, any window): planar, the kernel
//!   vectorizes along output columns, and the short rows of late layers (14 or 7
//!   pixels) run mostly as scalar remainders; blocked, one vector holds `block`
//!   channels of a pixel, whatever the image width;
//! - **pointwise** (1×1, unpadded, any stride, one group): planar, the product's columns
//!   are pixels, and a 7×7 image is 49 columns (three vectors and a scalar lane);
//!   blocked, the columns are output channels, always whole vectors.
//!
//! Other convolutions stay planar: 3×3 stride-1 ones run as Winograd there, and dense
//! windows with strides as im2col products whose columns are already long. So do
//! convolutions of images larger than [`MAX_PIXELS`], where rows are long enough for
//! the planar kernels and conversions would cost more than blocking saves.
//!
//! Block size: 16 (one AVX-512 vector, two AVX2 or four NEON ones). A convolution whose
//! input or output channel count is not a multiple of 16 stays planar. (Blocks of 8
//! would admit MobileNet's 24-channel layers, but measured slower on AVX-512: 8-lane
//! accumulators halve the work per register-tile step.)
//!
//! Conversions: each planar value read by blocked convolutions is converted once
//! (`ToBlocked`); each blocked result gets a `FromBlocked` for its planar readers, and a
//! later blocked reader of that planar value reads the blocked result directly, so
//! chains of blocked convolutions (with their residual adds, fused as epilogue inputs)
//! pass no conversion between them. Finally `ToBlocked(FromBlocked(x))` and
//! `FromBlocked(ToBlocked(x))` of one block size cancel to `x`; `dce` drops the
//! conversions nobody reads.
//!
//! Sound because `BlockedConv` means exactly `ToBlocked ∘ Conv ∘ FromBlocked` with the
//! same weights, an epilogue is elementwise (it computes the same function on the same
//! elements in another order), and the two conversions are inverse permutations.

use crate::patch::{can_replace, producer, rewrite, Patch};
use crate::Result;
use neoc_ir::ops::{BlockedConv, Blocking, Conv, Fused};
use neoc_ir::{DType, Graph, NodeId, Op, ValueId};
use std::collections::HashMap;

/// The block: one 512-bit vector of f32.
pub const BLOCK: u64 = 16;
/// Largest input image (height × width) whose convolutions move: 14×14. On larger
/// images the planar kernels already run long vectors along rows, and a layout
/// conversion costs as much as the blocked kernel saves (measured on MobileNet-v2:
/// moving every eligible convolution gained nothing, moving those of 28×28 and
/// smaller images 5–7%, of 14×14 and smaller 7–9%).
pub const MAX_PIXELS: u64 = 14 * 14;

pub fn run(graph: &mut Graph) -> Result<bool> {
    let mut blocked: HashMap<ValueId, ValueId> = HashMap::new();
    let mut changed = false;
    for c in candidates(graph) {
        move_node(graph, c, BLOCK, &mut blocked)?;
        changed = true;
    }
    changed |= rewrite(graph, cancel)?;
    Ok(changed)
}

/// The convolution of a node (plain or a fused anchor).
fn conv_of(op: &Op) -> Option<&Conv> {
    match op {
        Op::Conv(c) => Some(c),
        Op::Fused(Fused { anchor, .. }) => match anchor.as_ref() {
            Op::Conv(c) => Some(c),
            _ => None,
        },
        _ => None,
    }
}

/// The convolutions to move, in topological order.
fn candidates(graph: &Graph) -> Vec<NodeId> {
    let mut out = Vec::new();
    for n in graph.topo_order() {
        let node = graph.node(n);
        let Some(c) = conv_of(&node.op) else { continue };
        let (Some(Some(x)), Some(Some(w)), [y]) = (
            node.inputs.first(),
            node.inputs.get(1),
            node.outputs.as_slice(),
        ) else {
            continue;
        };
        let (xt, yt) = (&graph.value(*x).ty, &graph.value(*y).ty);
        let (Some(xd), Some(wd), Some(yd)) = (
            xt.shape.as_fixed(),
            graph.value(*w).ty.shape.as_fixed(),
            yt.shape.as_fixed(),
        ) else {
            continue;
        };
        if xt.dtype != DType::F32
            || xd.len() != 4
            || graph.const_value(*w).is_none()
            || xd[1] % BLOCK != 0
            || yd[1] % BLOCK != 0
        {
            continue;
        }
        let depthwise = c.group == xd[1] && wd[1] == 1 && wd[0] == xd[1];
        let pointwise = c.group == 1 && c.kernel == [1, 1] && c.pads.iter().all(|&p| p == 0);
        if !(depthwise || pointwise) {
            continue;
        }
        if xd[2] * xd[3] > MAX_PIXELS {
            continue;
        }
        // Epilogue inputs must be whole tensors of the output's shape (a residual) or
        // single values: those read the same elements in either layout.
        if let Op::Fused(f) = &node.op {
            let ok = node.inputs[f.anchor_inputs..].iter().all(|e| {
                e.is_some_and(|e| {
                    let t = &graph.value(e).ty;
                    t.shape.as_fixed().is_some_and(|d| {
                        d.as_slice() == yd.as_slice() || d.iter().product::<u64>() == 1
                    })
                })
            });
            if !ok {
                continue;
            }
        }
        out.push(n);
    }
    out
}

/// The blocked version of planar value `v`: a blocked result computed earlier, or a
/// new `ToBlocked` node (remembered, so each value converts once).
fn to_blocked(
    graph: &mut Graph,
    v: ValueId,
    block: u64,
    blocked: &mut HashMap<ValueId, ValueId>,
) -> Result<ValueId> {
    if let Some(&b) = blocked.get(&v) {
        return Ok(b);
    }
    let name = format!("{}_blocked", graph.value(v).name);
    let b = graph.add_node(
        name.clone(),
        Op::ToBlocked(Blocking { block }),
        vec![Some(v)],
        vec![name],
    )?[0];
    blocked.insert(v, b);
    Ok(b)
}

/// Replaces convolution node `n` by its blocked form, followed by a `FromBlocked` that
/// its planar readers read.
fn move_node(
    graph: &mut Graph,
    n: NodeId,
    block: u64,
    blocked: &mut HashMap<ValueId, ValueId>,
) -> Result<()> {
    let node = graph.node(n).clone();
    let y = node.outputs[0];
    let conv_op = |c: &Conv| {
        Op::BlockedConv(BlockedConv {
            conv: c.clone(),
            block,
        })
    };
    let (op, anchor_inputs) = match &node.op {
        Op::Conv(c) => (conv_op(c), node.inputs.len()),
        Op::Fused(f) => {
            let Op::Conv(c) = f.anchor.as_ref() else {
                return Ok(());
            };
            let op = Op::Fused(Fused {
                anchor: Box::new(conv_op(c)),
                anchor_inputs: f.anchor_inputs,
                epilogue: f.epilogue.clone(),
            });
            (op, f.anchor_inputs)
        }
        _ => return Ok(()),
    };
    let y_dims = graph.value(y).ty.shape.as_fixed();
    let mut inputs = node.inputs.clone();
    for (i, slot) in inputs.iter_mut().enumerate() {
        let Some(v) = *slot else { continue };
        // The data input, and epilogue inputs of the output's shape, convert.
        let whole = i >= anchor_inputs && graph.value(v).ty.shape.as_fixed() == y_dims;
        if i == 0 || whole {
            *slot = Some(to_blocked(graph, v, block, blocked)?);
        }
    }
    let y_name = graph.value(y).name.clone();
    let yb = graph.add_node(
        node.name.clone(),
        op,
        inputs,
        vec![format!("{y_name}_blocked")],
    )?[0];
    let yp = graph.add_node(
        format!("{}_planar", node.name),
        Op::FromBlocked(Blocking { block }),
        vec![Some(yb)],
        vec![y_name.clone()],
    )?[0];
    if graph.outputs().contains(&y) {
        graph.set_value_name(yp, y_name);
    }
    graph.replace_uses(y, yp)?;
    graph.remove_node(n);
    blocked.insert(yp, yb);
    Ok(())
}

/// `ToBlocked(FromBlocked(x))` → `x` and `FromBlocked(ToBlocked(x))` → `x` (same block).
fn cancel(graph: &Graph, n: NodeId) -> Result<Option<Patch>> {
    let node = graph.node(n);
    let (Some(Some(mid)), [out]) = (node.inputs.first().copied(), node.outputs.as_slice()) else {
        return Ok(None);
    };
    let Some(inner) = producer(graph, mid) else {
        return Ok(None);
    };
    let inner_node = graph.node(inner);
    let inverse = match (&node.op, &inner_node.op) {
        (Op::ToBlocked(a), Op::FromBlocked(b)) | (Op::FromBlocked(a), Op::ToBlocked(b)) => a == b,
        _ => false,
    };
    let Some(Some(x)) = inner_node.inputs.first().copied() else {
        return Ok(None);
    };
    if !inverse || !can_replace(graph, *out, x) {
        return Ok(None);
    }
    let mut p = Patch::forward(*out, x);
    p.remove_if_dead(n);
    p.remove_if_dead(inner);
    Ok(Some(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::*;
    use neoc_ir::ops::{BinaryOp, ElemInstr, ElemProgram, UnaryOp};

    fn conv(kernel: u64, group: u64, stride: u64) -> Op {
        let p = kernel / 2;
        Op::Conv(Conv {
            kernel: vec![kernel; 2],
            strides: vec![stride; 2],
            pads: vec![p; 4],
            dilations: vec![1, 1],
            group,
        })
    }

    fn weights(g: &mut Graph, name: &str, dims: &[u64]) -> ValueId {
        konst(g, name, dims, |i| ((i * 7 % 13) as f32 - 6.0) / 8.0)
    }

    /// x → pointwise (16→32) → depthwise 3×3 (+bias, Relu fused) → pointwise (32→16)
    /// with the input added back (a residual fused as an epilogue input) → 3×3 conv.
    fn mobile_block() -> Graph {
        let mut g = Graph::new("block");
        let x = g.add_input("x", f32_ty(&[1, 16, 6, 5]));
        let w1 = weights(&mut g, "w1", &[32, 16, 1, 1]);
        let a = node(&mut g, conv(1, 1, 1), &[x, w1]);
        let w2 = weights(&mut g, "w2", &[32, 1, 3, 3]);
        let b2 = weights(&mut g, "b2", &[32]);
        let relu = ElemProgram {
            instrs: vec![ElemInstr::Input(0), ElemInstr::Unary(UnaryOp::Relu, 0)],
        };
        let dw = Op::Fused(Fused {
            anchor: Box::new(conv(3, 32, 1)),
            anchor_inputs: 3,
            epilogue: relu,
        });
        let b = node(&mut g, dw, &[a, w2, b2]);
        let w3 = weights(&mut g, "w3", &[16, 32, 1, 1]);
        let add = ElemProgram {
            instrs: vec![
                ElemInstr::Input(0),
                ElemInstr::Input(1),
                ElemInstr::Binary(BinaryOp::Add, 0, 1),
            ],
        };
        let pw = Op::Fused(Fused {
            anchor: Box::new(conv(1, 1, 1)),
            anchor_inputs: 2,
            epilogue: add,
        });
        let c = node(&mut g, pw, &[b, w3, x]);
        let w4 = weights(&mut g, "w4", &[16, 16, 3, 3]);
        let d = node(&mut g, conv(3, 1, 1), &[c, w4]);
        g.set_outputs(vec![d, c]);
        g
    }

    #[test]
    fn chains_of_blocked_convolutions_convert_only_at_their_edges() {
        let g = mobile_block();
        let (h, changed) = run_checked(&g, run);
        assert!(changed);
        // Three convolutions move; the 3×3 dense one stays planar.
        assert_eq!(count(&h, "Conv"), 1, "{h}");
        // One conversion in (x, read by the first conv and by the residual), one out
        // (c, read by the 3x3 conv and as a graph output).
        assert_eq!(count(&h, "ToBlocked"), 1, "{h}");
        assert_eq!(count(&h, "FromBlocked"), 1, "{h}");
        let text = h.to_string();
        assert!(text.contains("BlockedConv{block=16"), "{text}");
        // A second run finds nothing left to move or cancel.
        assert!(!run(&mut h.clone()).unwrap(), "{h}");
    }

    #[test]
    fn channels_not_divisible_by_16_stay_planar() {
        let mut g = Graph::new("c24");
        let x = g.add_input("x", f32_ty(&[1, 32, 4, 4]));
        let w = weights(&mut g, "w", &[32, 1, 3, 3]);
        let y = node(&mut g, conv(3, 32, 2), &[x, w]);
        let w2 = weights(&mut g, "w2", &[24, 32, 1, 1]);
        let z = node(&mut g, conv(1, 1, 1), &[y, w2]);
        g.set_outputs(vec![z]);
        let (h, _) = run_checked(&g, run);
        // 24 output channels are not a multiple of 16: that conv stays planar.
        assert_eq!(count(&h, "Conv"), 1, "{h}");
        assert_eq!(count(&h, "BlockedConv"), 1, "{h}");
    }

    #[test]
    fn inverse_conversions_cancel() {
        let mut g = Graph::new("cancel");
        let x = g.add_input("x", f32_ty(&[1, 16, 2, 2]));
        let b = Blocking { block: 16 };
        let xb = node(&mut g, Op::ToBlocked(b), &[x]);
        let xp = node(&mut g, Op::FromBlocked(b), &[xb]);
        let y = node(&mut g, Op::Unary(UnaryOp::Exp), &[xp]);
        g.set_outputs(vec![y]);
        let (h, changed) = run_checked(&g, run);
        assert!(changed);
        assert_eq!(h.node_count(), 1, "{h}");
    }

    #[test]
    fn convolutions_that_gain_nothing_stay_planar() {
        let mut g = Graph::new("planar");
        let x = g.add_input("x", f32_ty(&[1, 16, 6, 6]));
        let w = weights(&mut g, "w", &[16, 16, 3, 3]);
        let y = node(&mut g, conv(3, 1, 1), &[x, w]);
        // A broadcast epilogue input (per-channel scale) is not whole-shaped.
        let w2 = weights(&mut g, "w2", &[16, 16, 1, 1]);
        let s = weights(&mut g, "s", &[16, 1, 1]);
        let mul = ElemProgram {
            instrs: vec![
                ElemInstr::Input(0),
                ElemInstr::Input(1),
                ElemInstr::Binary(BinaryOp::Mul, 0, 1),
            ],
        };
        let f = Op::Fused(Fused {
            anchor: Box::new(conv(1, 1, 1)),
            anchor_inputs: 2,
            epilogue: mul,
        });
        let z = node(&mut g, f, &[y, w2, s]);
        // A pointwise convolution of a 16×16 image (more than MAX_PIXELS).
        let big = g.add_input("big", f32_ty(&[1, 16, 16, 16]));
        let w3 = weights(&mut g, "w3", &[16, 16, 1, 1]);
        let u = node(&mut g, conv(1, 1, 1), &[big, w3]);
        g.set_outputs(vec![z, u]);
        let (h, changed) = run_checked(&g, run);
        assert!(!changed, "{h}");
    }
}
