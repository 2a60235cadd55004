//! Shared machinery of the fusion passes: turning elementwise graph ops into
//! [`ElemProgram`] instructions and splicing one program into another.

use neoc_ir::ops::{ElemInstr, ElemProgram};
use neoc_ir::{Graph, Op, ValueId};

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
                if t.num_elements() == 1 && t.dtype == neoc_ir::DType::F32 {
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
