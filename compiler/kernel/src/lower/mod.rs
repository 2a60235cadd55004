//! Lowering of graph operators to kernel IR: one file per operator family.
//!
//! [`lower_node`] turns one graph node into one [`Kernel`] plus the list of graph values
//! (and scratch buffers) bound to its parameters. View operators (Reshape, Identity)
//! are never lowered: the memory planner makes their output share the input's bytes.
//! Loop structure is chosen here in a target-neutral way (vectorizable innermost loops
//! over contiguous memory, a parallel outermost loop); target schedules refine it.

mod arg_reduce;
mod blocked;
mod conv;
mod conv_nd;
mod conv_transpose;
mod depthwise;
mod dynamic_quantize;
mod elementwise;
mod fused;
mod grid_sample;
mod int8_depthwise;
mod int8_gemm;
mod int8_pad;
mod int8_pool;
mod linalg;
mod movement;
mod normalization;
mod number_format;
mod pad;
mod pool;
mod reduce;
mod resize;
mod scatter;
mod select;
mod tiled_gemm;
mod winograd;

use crate::builder::KernelBuilder;
use crate::kernel::{Access, BufId, Kernel, ScalarType};
use neoc_ir::{DType, Graph, NodeId, Op, ValueId};

/// Above this [`VectorUnit::parallelism`] a lowering is for a GPU (block kernels, no
/// Winograd, products as `gpu::gemm`).
pub(crate) const GPU_PARALLELISM: u32 = conv::GEMM_ONLY_PARALLELISM;

/// The vector unit that schedules are sized for (register tiles). Kernel IR stays
/// target-neutral otherwise; a target with several CPU levels lowers once per level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VectorUnit {
    /// Width of one vector register, in bits.
    pub bits: u32,
    /// Number of vector registers.
    pub registers: u32,
    /// Parallel iterations a schedule should offer (the tiled GEMM shrinks its cache
    /// blocks until it has this many): 24 for CPU cores, tens of thousands for GPUs.
    pub parallelism: u32,
    /// The level multiplies bytes in one instruction only when both are signed (AArch64
    /// `sdot` without i8mm's `usdot`): the int8 GEMM then gives [`crate::Expr::DotBytes`]
    /// its activations as i8 (`x ^ 0x80`, [`crate::ByteSign::Signed`]).
    pub signed_dot_bytes: bool,
}

impl Default for VectorUnit {
    /// AVX-512: 32 registers of 512 bits, scheduled for a CPU's cores.
    fn default() -> Self {
        VectorUnit {
            bits: 512,
            registers: 32,
            parallelism: 24,
            signed_dot_bytes: false,
        }
    }
}

/// What a kernel parameter is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgRef {
    /// The storage of a graph value (input, constant, or intermediate).
    Value(ValueId),
    /// Private scratch memory of `bytes` bytes, live only while the node's stages run.
    /// Stages of one node that name the same `slot` share it (one stage fills what the
    /// next reads, e.g. im2col columns).
    Scratch { slot: u32, bytes: u64 },
    /// Constant data computed by the lowering from the graph's constants (prepacked or
    /// transformed weights), stored with the weights; identical contents are stored once.
    Constant(std::sync::Arc<[u8]>),
}

impl ArgRef {
    /// Scratch `slot` holding `len` elements of `elem`.
    pub fn scratch(slot: u32, elem: ScalarType, len: u64) -> ArgRef {
        ArgRef::Scratch {
            slot,
            bytes: len * elem.size_bytes(),
        }
    }
}

/// Element types of constants a lowering derives at compile time.
pub(crate) trait ConstElem: Copy {
    const TYPE: ScalarType;
    fn extend_le(self, out: &mut Vec<u8>);
}

impl ConstElem for f32 {
    const TYPE: ScalarType = ScalarType::F32;
    fn extend_le(self, out: &mut Vec<u8>) {
        out.extend(self.to_le_bytes());
    }
}

impl ConstElem for i64 {
    const TYPE: ScalarType = ScalarType::I64;
    fn extend_le(self, out: &mut Vec<u8>) {
        out.extend(self.to_le_bytes());
    }
}

/// Declares the next parameter of `b`, bound to `arg` (shared by the main kernel and
/// the stages of a node).
fn push_param(
    (b, args): (&mut KernelBuilder, &mut Vec<ArgRef>),
    arg: ArgRef,
    name: impl Into<String>,
    (elem, len): (ScalarType, u64),
    access: Access,
) -> BufId {
    args.push(arg);
    b.param(name, elem, len, access)
}

/// The read-only parameter of compile-time constant `data`.
fn push_constant<T: ConstElem>(
    kernel: (&mut KernelBuilder, &mut Vec<ArgRef>),
    name: &str,
    data: &[T],
) -> BufId {
    let mut bytes = Vec::with_capacity(data.len() * T::TYPE.size_bytes() as usize);
    for &v in data {
        v.extend_le(&mut bytes);
    }
    let arg = ArgRef::Constant(bytes.into());
    push_param(
        kernel,
        arg,
        name,
        (T::TYPE, data.len() as u64),
        Access::Read,
    )
}

/// A stage kernel being built (see [`Ctx::stage`]) and what its parameters bind.
pub(crate) struct StageKernel {
    pub b: KernelBuilder,
    args: Vec<ArgRef>,
}

impl StageKernel {
    /// Binds scratch `slot` (`len` elements of `elem`) as the next parameter.
    pub fn scratch(&mut self, slot: u32, elem: ScalarType, len: u64, access: Access) -> BufId {
        let arg = ArgRef::scratch(slot, elem, len);
        let name = format!("scratch{slot}");
        push_param(
            (&mut self.b, &mut self.args),
            arg,
            name,
            (elem, len),
            access,
        )
    }

    /// Binds compile-time constant `data` as the next, read-only, parameter.
    pub fn constant<T: ConstElem>(&mut self, name: &str, data: &[T]) -> BufId {
        push_constant((&mut self.b, &mut self.args), name, data)
    }
}

/// One kernel call of a lowered node and, per parameter, what to bind.
#[derive(Debug, Clone)]
pub struct Stage {
    pub kernel: Kernel,
    pub args: Vec<ArgRef>,
}

/// A lowered node: its stages, run in order, each finishing before the next starts
/// (a parallel stage is a barrier). Most nodes have one.
#[derive(Debug, Clone)]
pub struct Lowered {
    pub stages: Vec<Stage>,
}

/// Why a node could not be lowered. Bad input (the model uses a form this build cannot
/// compile), named by node and operator.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("node `{node}` ({op}): {message}")]
pub struct LowerError {
    pub node: String,
    pub op: String,
    pub message: String,
}

/// Per-node lowering context: the graph, the node, and the kernel being built.
pub(crate) struct Ctx<'g> {
    pub graph: &'g Graph,
    pub node: NodeId,
    pub b: KernelBuilder,
    pub args: Vec<ArgRef>,
    /// Input index whose buffer the output reuses (in-place), and its parameter once
    /// bound.
    pub inplace: Option<(usize, Option<BufId>)>,
    /// Stages that run before the kernel in `b` (see [`Ctx::add_stage`]).
    pub before: Vec<Stage>,
    /// The vector unit register tiles are sized for.
    pub unit: VectorUnit,
    /// How float tensors will be stored (`narrow` runs after lowering); GPU products
    /// use tensor cores when it is 16-bit.
    pub precision: crate::Precision,
}

impl<'g> Ctx<'g> {
    /// The tensor-core operand format for this node's products: `Some` on GPUs at a
    /// 16-bit precision (see [`lower_node_at`]).
    pub fn mma_input(&self) -> Option<crate::MmaInput> {
        crate::gpu::tensor_gemm::operand_format(self.unit, self.precision)
    }

    pub fn err<T>(&self, message: impl Into<String>) -> Result<T, LowerError> {
        let n = self.graph.node(self.node);
        Err(LowerError {
            node: n.name.clone(),
            op: n.op.name().to_string(),
            message: message.into(),
        })
    }

    /// The node's `i`-th input value, if present.
    pub fn input(&self, i: usize) -> Option<ValueId> {
        self.graph.node(self.node).inputs.get(i).copied().flatten()
    }

    /// The node's `i`-th input when it belongs to the op itself, not to a fused
    /// epilogue: an optional input (a bias, Gemm's C) of a fused anchor whose node
    /// lists fewer anchor inputs is absent, even though the node's input `i` exists
    /// (it is then the epilogue's first extra input).
    pub fn anchor_input(&self, i: usize) -> Option<ValueId> {
        match &self.graph.node(self.node).op {
            neoc_ir::Op::Fused(f) if i >= f.anchor_inputs => None,
            _ => self.input(i),
        }
    }

    /// The node's `i`-th input value; an error when it is absent.
    pub fn operand(&self, i: usize) -> Result<ValueId, LowerError> {
        match self.input(i) {
            Some(v) => Ok(v),
            None => self.err("missing operand"),
        }
    }

    pub fn output(&self, i: usize) -> ValueId {
        self.graph.node(self.node).outputs[i]
    }

    /// Static dims of a value.
    pub fn dims(&self, v: ValueId) -> Result<Vec<u64>, LowerError> {
        match self.graph.value(v).ty.shape.as_fixed() {
            Some(d) => Ok(d),
            None => self.err(format!(
                "value `{}` has symbolic shape {}",
                self.graph.value(v).name,
                self.graph.value(v).ty.shape
            )),
        }
    }

    pub fn scalar_type(&self, v: ValueId) -> Result<ScalarType, LowerError> {
        let dt = self.graph.value(v).ty.dtype;
        match scalar_type(dt) {
            Some(t) => Ok(t),
            None => self.err(format!(
                "element type {dt} is not supported by code generation yet"
            )),
        }
    }

    /// Name, element type and length of graph value `v` as a kernel parameter.
    fn value_param(&self, v: ValueId) -> Result<(String, ScalarType, u64), LowerError> {
        let elem = self.scalar_type(v)?;
        let len: u64 = self.dims(v)?.iter().product();
        Ok((self.graph.value(v).name.clone(), elem, len))
    }

    /// Binds graph value `v` as the next kernel parameter.
    pub fn bind(&mut self, v: ValueId, access: Access) -> Result<BufId, LowerError> {
        let (name, elem, len) = self.value_param(v)?;
        let main = (&mut self.b, &mut self.args);
        Ok(push_param(
            main,
            ArgRef::Value(v),
            name,
            (elem, len),
            access,
        ))
    }

    /// A stage kernel that runs before the node's main kernel, named after it.
    pub fn stage(&self, suffix: &str) -> StageKernel {
        StageKernel {
            b: KernelBuilder::new(format!("{}_{suffix}", self.b.name())),
            args: Vec::new(),
        }
    }

    /// Binds the node's `i`-th input as the next parameter of stage `st`, read-only.
    pub fn stage_input(&self, st: &mut StageKernel, i: usize) -> Result<BufId, LowerError> {
        let v = self.operand(i)?;
        let (name, elem, len) = self.value_param(v)?;
        let kernel = (&mut st.b, &mut st.args);
        Ok(push_param(
            kernel,
            ArgRef::Value(v),
            name,
            (elem, len),
            Access::Read,
        ))
    }

    /// Adds a finished stage to run before the main kernel, after those added earlier.
    pub fn add_stage(&mut self, st: StageKernel) -> Result<(), LowerError> {
        let kernel = st.b.finish();
        if let Err(e) = crate::verify::verify_kernel(&kernel) {
            return self.err(format!("internal error: {e}"));
        }
        self.before.push(Stage {
            kernel,
            args: st.args,
        });
        Ok(())
    }

    /// Binds scratch `slot` (filled by a stage) as the next, read-only, parameter of the
    /// main kernel.
    pub fn bind_scratch(&mut self, slot: u32, elem: ScalarType, len: u64) -> BufId {
        let arg = ArgRef::scratch(slot, elem, len);
        let main = (&mut self.b, &mut self.args);
        push_param(
            main,
            arg,
            format!("scratch{slot}"),
            (elem, len),
            Access::Read,
        )
    }

    /// Binds data computed at compile time (prepacked weights, gather tables) as the
    /// next, read-only, parameter of the main kernel.
    pub fn bind_constant<T: ConstElem>(&mut self, name: &str, data: &[T]) -> BufId {
        push_constant((&mut self.b, &mut self.args), name, data)
    }

    /// The float32 contents of graph constant `v` (row-major), if it is one.
    pub fn const_f32(&self, v: ValueId) -> Option<Vec<f32>> {
        let t = self.graph.const_value(v)?;
        if self.graph.value(v).ty.dtype != DType::F32 {
            return None;
        }
        Some(
            t.bytes()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        )
    }

    /// Binds the node's `i`-th input for reading; the input must be present.
    pub fn bind_input(&mut self, i: usize) -> Result<BufId, LowerError> {
        let b = match self.input(i) {
            Some(v) => self.bind(v, Access::Read)?,
            None => return self.err(format!("input {i} is missing")),
        };
        if let Some((k, slot)) = &mut self.inplace {
            if *k == i && slot.is_none() {
                *slot = Some(b);
            }
        }
        Ok(b)
    }

    /// Binds output `i`. For an in-place node the output is the aliased input's
    /// parameter, made read-write, and no new parameter is added.
    pub fn bind_output(&mut self, i: usize) -> Result<BufId, LowerError> {
        if let (0, Some((_, Some(b)))) = (i, self.inplace) {
            self.b.set_access(b, Access::ReadWrite);
            return Ok(b);
        }
        let v = self.output(i);
        self.bind(v, Access::ReadWrite)
    }
}

/// The kernel scalar type for a graph dtype, when code generation supports it.
pub fn scalar_type(dt: DType) -> Option<ScalarType> {
    Some(match dt {
        DType::F16 => ScalarType::F16,
        DType::F32 => ScalarType::F32,
        DType::F64 => ScalarType::F64,
        DType::I8 => ScalarType::I8,
        DType::U8 => ScalarType::U8,
        DType::I16 => ScalarType::I16,
        DType::U16 => ScalarType::U16,
        DType::U32 => ScalarType::U32,
        DType::U64 => ScalarType::U64,
        DType::I32 => ScalarType::I32,
        DType::I64 => ScalarType::I64,
        DType::Bool => ScalarType::Bool,
        other => return number_format::storage(other),
    })
}

/// True when the node's kernel may write its output over input `i` (the caller must
/// also know that input is dead afterwards): an elementwise op whose input `i` has the
/// output's exact type, so element `k` of the output depends only on element `k` of
/// that input, read before it is written in the same iteration.
pub fn can_run_in_place(graph: &Graph, node: NodeId, i: usize) -> bool {
    let n = graph.node(node);
    let elementwise = matches!(n.op, Op::Unary(_) | Op::Binary(_) | Op::Elementwise(_));
    match (n.inputs.get(i).copied().flatten(), n.outputs.first()) {
        (Some(v), Some(&o)) => {
            // Read through one parameter only: a second one would alias the output.
            let once = n.inputs.iter().filter(|x| **x == Some(v)).count() == 1;
            elementwise && once && graph.value(v).ty == graph.value(o).ty
        }
        _ => false,
    }
}

/// Lowers one node to a kernel named `symbol`. Returns `Ok(None)` for view operators,
/// which need no code. With `inplace = Some(i)` (see [`can_run_in_place`]) the output
/// shares input `i`'s buffer and has no parameter of its own. `unit` sizes register
/// tiles; it changes kernel bodies only, never parameters, stages or scratch sizes.
pub fn lower_node(
    graph: &Graph,
    node: NodeId,
    symbol: &str,
    inplace: Option<usize>,
    unit: VectorUnit,
) -> Result<Option<Lowered>, LowerError> {
    lower_node_at(graph, node, symbol, inplace, unit, crate::Precision::F32)
}

/// [`lower_node`] for float tensors stored at `precision` (the planner narrows them
/// after lowering, `crate::narrow`): on GPUs (`unit.parallelism` above 4 096) a 16-bit
/// precision makes MatMul, Gemm and convolution products tensor-core (`Expr::Mma`)
/// kernels, with operands rounded to that format; everything else is as at `F32`.
pub fn lower_node_at(
    graph: &Graph,
    node: NodeId,
    symbol: &str,
    inplace: Option<usize>,
    unit: VectorUnit,
    precision: crate::Precision,
) -> Result<Option<Lowered>, LowerError> {
    let op = graph.node(node).op.clone();
    if op.is_view() {
        return Ok(None);
    }
    let mut cx = Ctx {
        graph,
        node,
        b: KernelBuilder::new(symbol),
        args: Vec::new(),
        inplace: inplace
            .filter(|&i| can_run_in_place(graph, node, i))
            .map(|i| (i, None)),
        before: Vec::new(),
        unit,
        precision,
    };
    let moves_only = matches!(
        op,
        Op::Cast(_)
            | Op::Transpose(_)
            | Op::Concat(_)
            | Op::Gather(_)
            | Op::GatherElements(_)
            | Op::GatherNd(_)
            | Op::Slice(_)
            | Op::Where
            | Op::Expand(_)
    );
    let n = graph.node(node);
    let values = n.inputs.iter().flatten().chain(&n.outputs);
    if let Some(&v) = values
        .clone()
        .find(|&&v| number_format::only_moves(graph.value(v).ty.dtype))
    {
        if !moves_only {
            return cx.err(format!(
                "element type {} is not supported by code generation yet (only Cast and \
                 data movement take it)",
                graph.value(v).ty.dtype
            ));
        }
    }
    match &op {
        Op::Unary(u) => elementwise::unary(&mut cx, u)?,
        Op::Binary(b) => elementwise::binary(&mut cx, *b)?,
        Op::Cast(_) => elementwise::cast(&mut cx)?,
        Op::Conv(c) => conv::conv(&mut cx, c, None)?,
        Op::BlockedConv(c) => blocked::conv(&mut cx, c, None)?,
        Op::QConv(q) => int8_gemm::qconv(&mut cx, q, None)?,
        Op::DynamicQuantize => dynamic_quantize::dynamic_quantize(&mut cx)?,
        Op::ConvTranspose(c) => conv_transpose::conv_transpose(&mut cx, c)?,
        Op::ToBlocked(b) => blocked::convert(&mut cx, b, true)?,
        Op::FromBlocked(b) => blocked::convert(&mut cx, b, false)?,
        Op::Pool(p) => pool::pool(&mut cx, p)?,
        Op::GlobalPool(g) => pool::global_pool(&mut cx, g)?,
        Op::Gemm(g) => linalg::gemm(&mut cx, g, None)?,
        Op::MatMul => linalg::matmul(&mut cx, None)?,
        Op::LayerNorm(l) => normalization::layer_norm(&mut cx, l)?,
        Op::Lrn(l) => normalization::lrn(&mut cx, l)?,
        Op::Resize(r) => resize::resize(&mut cx, r)?,
        Op::CumSum(c) => reduce::cumsum(&mut cx, c)?,
        Op::Elementwise(p) => fused::elementwise(&mut cx, p)?,
        Op::Fused(f) => match f.anchor.as_ref() {
            Op::Conv(c) => conv::conv(&mut cx, c, Some(f))?,
            Op::BlockedConv(c) => blocked::conv(&mut cx, c, Some(f))?,
            Op::Gemm(g) => linalg::gemm(&mut cx, g, Some(f))?,
            Op::MatMul => linalg::matmul(&mut cx, Some(f))?,
            Op::QConv(q) => int8_gemm::qconv(&mut cx, q, Some(f))?,
            other => {
                return cx.err(format!(
                    "internal: no fused lowering for a {} anchor",
                    other.name()
                ))
            }
        },
        Op::BatchNorm(b) => normalization::batch_norm(&mut cx, b)?,
        Op::Softmax(s) => normalization::softmax(&mut cx, s)?,
        Op::Transpose(t) => movement::transpose(&mut cx, t)?,
        Op::Concat(c) => movement::concat(&mut cx, c)?,
        Op::Gather(g) => movement::gather(&mut cx, g)?,
        Op::GatherElements(g) => movement::gather_elements(&mut cx, g)?,
        Op::TopK(t) => arg_reduce::top_k(&mut cx, t)?,
        Op::GridSample(g) => grid_sample::grid_sample(&mut cx, g)?,
        Op::GatherNd(g) => scatter::gather_nd(&mut cx, g)?,
        Op::ScatterNd(s) => scatter::scatter_nd(&mut cx, s)?,
        Op::ScatterElements(s) => scatter::scatter_elements(&mut cx, s)?,
        Op::Slice(s) => movement::slice(&mut cx, s)?,
        Op::Pad(p) => pad::pad(&mut cx, p)?,
        Op::Reduce(r) => reduce::reduce(&mut cx, r)?,
        Op::Where => select::where_(&mut cx)?,
        Op::Expand(_) => select::expand(&mut cx)?,
        Op::ArgReduce(a) => arg_reduce::arg_reduce(&mut cx, a)?,
        Op::Shape(_) | Op::Reshape(_) | Op::Identity => {
            return cx.err("internal: this operator should have been folded or aliased")
        }
    }
    let kernel = cx.b.finish();
    if let Err(e) = crate::verify::verify_kernel(&kernel) {
        let n = graph.node(node);
        return Err(LowerError {
            node: n.name.clone(),
            op: n.op.name().to_string(),
            message: format!("internal error: {e}"),
        });
    }
    let mut stages = cx.before;
    stages.push(Stage {
        kernel,
        args: cx.args,
    });
    Ok(Some(Lowered { stages }))
}

/// A float constant of type `t`.
pub(crate) fn fconst(v: f64, t: ScalarType) -> crate::Expr {
    if t.is_float() {
        crate::Expr::FConst(v, t)
    } else if t == ScalarType::Bool {
        crate::Expr::BConst(v != 0.0)
    } else {
        crate::Expr::IConst(v as i64, t)
    }
}
