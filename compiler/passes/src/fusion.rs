//! Shared machinery of the fusion passes: turning elementwise graph ops into
//! [`ElemProgram`] instructions and splicing one program into another.

use crate::Result;
use neoc_ir::ops::{ElemInstr, ElemProgram};
use neoc_ir::{DType, Graph, Node, NodeId, Op, ValueId};

/// Applies `fuse_one` (which applies one fusion, false when none is left) until it
/// finds nothing; true when anything changed.
pub(crate) fn fuse_all(
    graph: &mut Graph,
    fuse_one: fn(&mut Graph) -> Result<bool>,
) -> Result<bool> {
    let mut changed = false;
    while fuse_one(graph)? {
        changed = true;
    }
    Ok(changed)
}

/// All operands and the output are `f32`.
pub(crate) fn is_f32_node(graph: &Graph, node: &Node) -> bool {
    node.inputs
        .iter()
        .flatten()
        .chain(&node.outputs)
        .all(|v| graph.value(*v).ty.dtype == DType::F32)
}

/// The node that can absorb the producer of `out`: the only reader of `out`, when `out`
/// is not a graph output and that reader is an f32 elementwise node.
pub(crate) fn sole_elementwise_reader(graph: &Graph, out: ValueId) -> Option<(NodeId, Node)> {
    if graph.outputs().contains(&out) {
        return None;
    }
    let readers = graph.consumers(out);
    let [reader] = readers[..] else { return None };
    let r = graph.node(reader).clone();
    (is_elementwise(&r.op) && is_f32_node(graph, &r)).then_some((reader, r))
}

/// Replaces node `n` (`node`) and its only reader `reader` (`r`) with one node
/// computing `op` on `inputs`, named after both, whose output keeps `r`'s output name.
pub(crate) fn replace_pair(
    graph: &mut Graph,
    (n, node): (NodeId, &Node),
    (reader, r): (NodeId, &Node),
    op: Op,
    inputs: Vec<Option<ValueId>>,
) -> Result<()> {
    let name = graph.value(r.outputs[0]).name.clone();
    let new = graph.add_node(format!("{}+{}", node.name, r.name), op, inputs, vec![name])?;
    graph.replace_uses(r.outputs[0], new[0])?;
    graph.remove_node(reader);
    graph.remove_node(n);
    Ok(())
}

/// Where a fused program's operands come from.
#[derive(Debug, Clone)]
pub(crate) struct Builder {
    pub instrs: Vec<ElemInstr>,
    /// Node inputs of the fused node, in `Input(k)` order (after `first_input`).
    pub inputs: Vec<ValueId>,
    /// Index of the first `Input` that maps to `inputs[0]` (1 for an epilogue, whose
    /// `Input(0)` is the anchor's result; 0 for an elementwise group).
    pub first_input: usize,
}

impl Builder {
    /// The `Input` instruction index for graph value `v`, adding it as an input if new.
    fn input_of(&mut self, v: ValueId) -> usize {
        let k = match self.inputs.iter().position(|&x| x == v) {
            Some(k) => k,
            None => {
                self.inputs.push(v);
                self.inputs.len() - 1
            }
        };
        self.instrs.push(ElemInstr::Input(self.first_input + k));
        self.instrs.len() - 1
    }

    /// Appends the computation of elementwise node `op` whose operands are `operands`;
    /// operands equal to `inner` (the value computed so far, at instruction `at`) refer
    /// to it. Returns the index of the result, or `None` if `op` is not elementwise.
    pub fn append(
        &mut self,
        graph: &Graph,
        op: &Op,
        operands: &[ValueId],
        inner: ValueId,
        at: usize,
    ) -> Option<usize> {
        let operand = |b: &mut Builder, v: ValueId| -> usize {
            if v == inner {
                return at;
            }
            // Small scalar constants are embedded.
            if let Some(t) = graph.const_value(v) {
                if t.num_elements() == 1 && t.dtype == DType::F32 {
                    let c = t.to_f32_vec()[0];
                    b.instrs.push(ElemInstr::Const(c));
                    return b.instrs.len() - 1;
                }
            }
            b.input_of(v)
        };
        match op {
            Op::Unary(u) => {
                let a = operand(self, *operands.first()?);
                self.instrs.push(ElemInstr::Unary(*u, a));
            }
            Op::Binary(b) => {
                let x = operand(self, *operands.first()?);
                let y = operand(self, *operands.get(1)?);
                self.instrs.push(ElemInstr::Binary(*b, x, y));
            }
            Op::Elementwise(p) => {
                let map: Vec<usize> = operands.iter().map(|&v| operand(self, v)).collect();
                let mut local: Vec<usize> = Vec::with_capacity(p.instrs.len());
                for i in &p.instrs {
                    let instr = match *i {
                        ElemInstr::Input(k) => {
                            local.push(*map.get(k)?);
                            continue;
                        }
                        ElemInstr::Const(c) => ElemInstr::Const(c),
                        ElemInstr::Unary(u, a) => ElemInstr::Unary(u, local[a]),
                        ElemInstr::Binary(b, x, y) => ElemInstr::Binary(b, local[x], local[y]),
                    };
                    self.instrs.push(instr);
                    local.push(self.instrs.len() - 1);
                }
                return local.last().copied();
            }
            _ => return None,
        }
        Some(self.instrs.len() - 1)
    }

    /// The finished program: a final copy instruction makes `result` the last value.
    pub fn finish(mut self, result: usize) -> (ElemProgram, Vec<ValueId>) {
        if result + 1 != self.instrs.len() {
            // Re-emit the result last: `Max(x, x)` is `x` exactly, NaN included.
            self.instrs.push(ElemInstr::Binary(
                neoc_ir::ops::BinaryOp::Max,
                result,
                result,
            ));
        }
        (
            ElemProgram {
                instrs: self.instrs,
            },
            self.inputs,
        )
    }
}

/// True for ops an elementwise group or an epilogue can absorb.
pub(crate) fn is_elementwise(op: &Op) -> bool {
    matches!(op, Op::Unary(_) | Op::Binary(_) | Op::Elementwise(_))
}
