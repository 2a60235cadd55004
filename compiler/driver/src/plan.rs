//! From an optimised graph to an execution plan: lowering every node, deduplicating
//! identical kernels, assigning storage to every value and planning the arena.
//!
//! Storage rules:
//! - graph inputs and outputs live in caller buffers (`Input(i)`, `Output(j)`);
//! - constants live in the weights blob, 64-byte aligned, each stored once;
//! - views (Reshape, Identity) share their source's storage, so they cost nothing;
//! - every other value gets an arena range. Ranges are reused once a value is dead:
//!   buffers are placed largest first at the lowest offset that does not overlap a
//!   placed buffer whose lifetime (first write .. last read, in steps) intersects.
//!
//! A graph output that is a graph input, a constant, or shares storage with another
//! output is materialised with a copy kernel.
//!
//! With a 16-bit [`Precision`] (`--precision fp16|bf16`) every `f32` storage class that
//! is not a graph input or output — weights, derived weights, arena activations — is
//! stored narrowed and the kernels touching it widen on load and narrow on store
//! (`neoc_kernel::narrow`). Not narrowed: storage some kernel reads with another element
//! type, values converted to integers by a `Cast` (indices computed in float would lose
//! integers above 2048 in half) and GridSample's sampling grid.

use crate::error::DriverError;
use neoc_artifact::{BufferRef, KernelInfo, Plan, Step, TensorSpec};
use neoc_ir::{DType, Graph, ValueDef, ValueId};
use neoc_kernel::{Access, ArgRef, Kernel, KernelBuilder, LoopKind, Module, Precision, VectorUnit};
use std::collections::{HashMap, HashSet};

/// Alignment of every arena and weight buffer.
const ALIGN: u64 = 64;

/// The result of planning: kernels to compile, and the artifact's plan pieces.
#[derive(Debug)]
pub struct Planned {
    pub module: Module,
    pub artifact_plan: Plan,
    pub weights: Vec<u8>,
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
    /// Sum of the sizes of all intermediate tensors (kernel outputs that are not graph
    /// outputs, and scratch), i.e. the memory needed without planning (for reports).
    pub naive_bytes: u64,
    /// The vector unit `module` was lowered for.
    pub unit: VectorUnit,
    /// Where each kernel of `module` came from, so that it can be lowered again for
    /// another vector unit (`None`: a kernel the planner wrote itself).
    origins: Vec<Option<Origin>>,
}

/// The lowering call that produced a kernel: node, its in-place choice and symbol, and
/// which of its stages.
#[derive(Debug, Clone)]
struct Origin {
    node: neoc_ir::NodeId,
    symbol: String,
    inplace: Option<usize>,
    stage: usize,
    /// Parameters narrowed to `precision` (`narrow::narrow_params`).
    narrowed: Vec<usize>,
    precision: Precision,
    /// The precision the node was lowered for (`lower_node_at`): `precision` for GPU
    /// products on tensor cores, else `F32`.
    lowered_at: Precision,
    /// [`args_fingerprint`] of the stage's arguments as first lowered. Every code
    /// variant runs with the first variant's arguments (packed weights, scratch sizes),
    /// so a lowering for another vector unit must ask for exactly the same ones.
    args: u64,
}

/// A hash of what a stage binds: graph values, scratch slots and sizes, and the
/// contents of the constants the lowering derived (before any narrowing).
fn args_fingerprint(args: &[ArgRef]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for a in args {
        match a {
            ArgRef::Value(v) => (0u8, v.0).hash(&mut h),
            ArgRef::Scratch { slot, bytes } => (1u8, slot, bytes).hash(&mut h),
            ArgRef::Constant(bytes) => (2u8, &bytes[..]).hash(&mut h),
        }
    }
    h.finish()
}

impl Planned {
    /// The kernels lowered for `unit`: the same kernels (names, parameters, order) with
    /// bodies scheduled for that vector unit. Memory plan and steps stay valid because a
    /// vector unit changes kernel bodies only.
    pub fn module_for(
        &self,
        graph: &Graph,
        file: &str,
        unit: VectorUnit,
    ) -> Result<Module, DriverError> {
        if unit == self.unit {
            return Ok(self.module.clone());
        }
        let mut kernels = Vec::with_capacity(self.module.kernels.len());
        for (k, origin) in self.module.kernels.iter().zip(&self.origins) {
            let Some(o) = origin else {
                kernels.push(k.clone());
                continue;
            };
            let lowered =
                neoc_kernel::lower_node_at(graph, o.node, &o.symbol, o.inplace, unit, o.lowered_at)
                    .map_err(|e| DriverError::Lower {
                        file: file.to_string(),
                        source: e,
                    })?;
            let stage = lowered.and_then(|l| l.stages.into_iter().nth(o.stage));
            if let Some(st) = stage
                .as_ref()
                .filter(|st| args_fingerprint(&st.args) != o.args)
            {
                return Err(DriverError::Internal(format!(
                    "{file}: kernel `{}` lowered for {} x {}-bit vectors needs other constants or scratch than the first code variant's (every variant runs with the first one's)",
                    st.kernel.name, unit.registers, unit.bits
                )));
            }
            let stage = stage.map(|mut st| {
                neoc_kernel::narrow::narrow_params(&mut st.kernel, &o.narrowed, o.precision);
                st
            });
            match stage {
                Some(st) if st.kernel.params == k.params => {
                    let mut kernel = st.kernel;
                    kernel.name = k.name.clone();
                    kernels.push(kernel);
                }
                _ => {
                    return Err(DriverError::Internal(format!(
                        "{file}: kernel `{}` changed its parameters when lowered for {} x {}-bit vectors",
                        k.name, unit.registers, unit.bits
                    )))
                }
            }
        }
        Ok(Module { kernels })
    }
}

/// Where a storage class lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Storage {
    Input(u32),
    Output(u32),
    Weight(u64),
    Arena(u64),
}

/// A kernel argument before storage is final.
enum PendingArg {
    /// What the lowering asked for (a graph value or scratch).
    Lowered(ArgRef),
    /// Graph output `j` itself (the destination of a copy-to-output step).
    Output(u32),
}

/// A kernel call before storage is final.
struct PendingStep {
    kernel: u32,
    args: Vec<PendingArg>,
    label: String,
    /// Position of the node in the schedule (scratch slots are per node).
    node: usize,
}

pub(crate) fn artifact_dtype(d: DType) -> neoc_artifact::DType {
    use neoc_artifact::DType as A;
    match d {
        DType::F32 => A::F32,
        DType::F16 => A::F16,
        DType::BF16 => A::BF16,
        DType::F64 => A::F64,
        DType::I8 => A::I8,
        DType::U8 => A::U8,
        DType::I16 => A::I16,
        DType::U16 => A::U16,
        DType::I32 => A::I32,
        DType::U32 => A::U32,
        DType::I64 => A::I64,
        DType::U64 => A::U64,
        DType::Bool => A::Bool,
        DType::F8E4M3FN => A::F8E4M3FN,
        DType::F8E4M3FNUZ => A::F8E4M3FNUZ,
        DType::F8E5M2 => A::F8E5M2,
        DType::F8E5M2FNUZ => A::F8E5M2FNUZ,
        DType::I4 => A::I4,
        DType::U4 => A::U4,
    }
}

/// The graph-IR element type of an artifact/runtime element type (the inverse of
/// [`artifact_dtype`]).
pub fn ir_dtype(d: neoc_artifact::DType) -> DType {
    use neoc_artifact::DType as A;
    match d {
        A::F32 => DType::F32,
        A::F16 => DType::F16,
        A::BF16 => DType::BF16,
        A::F64 => DType::F64,
        A::I8 => DType::I8,
        A::U8 => DType::U8,
        A::I16 => DType::I16,
        A::U16 => DType::U16,
        A::I32 => DType::I32,
        A::U32 => DType::U32,
        A::I64 => DType::I64,
        A::U64 => DType::U64,
        A::Bool => DType::Bool,
        A::F8E4M3FN => DType::F8E4M3FN,
        A::F8E4M3FNUZ => DType::F8E4M3FNUZ,
        A::F8E5M2 => DType::F8E5M2,
        A::F8E5M2FNUZ => DType::F8E5M2FNUZ,
        A::I4 => DType::I4,
        A::U4 => DType::U4,
    }
}

fn byte_len(graph: &Graph, v: ValueId) -> u64 {
    let t = &graph.value(v).ty;
    t.shape.num_elements().unwrap_or(0) * t.dtype.size_bytes() as u64
}

fn spec(graph: &Graph, v: ValueId, file: &str) -> Result<TensorSpec, DriverError> {
    let val = graph.value(v);
    let Some(shape) = val.ty.shape.as_fixed() else {
        return Err(DriverError::Internal(format!(
            "{file}: value `{}` still has a symbolic shape {}",
            val.name, val.ty.shape
        )));
    };
    Ok(TensorSpec {
        name: val.name.clone(),
        dtype: artifact_dtype(val.ty.dtype),
        shape,
    })
}

/// Deduplicates structurally identical kernels (same body, different names).
#[derive(Default)]
struct KernelTable {
    module: Module,
    by_body: HashMap<String, u32>,
    origins: Vec<Option<Origin>>,
}

impl KernelTable {
    fn add(&mut self, k: Kernel, origin: Option<Origin>) -> u32 {
        // Names (of the kernel and its parameters) do not affect the code.
        let mut anon = k.clone();
        anon.name = "k".into();
        for p in &mut anon.params {
            p.name.clear();
        }
        let key = anon.to_string();
        if let Some(&i) = self.by_body.get(&key) {
            return i;
        }
        let i = self.module.kernels.len() as u32;
        self.module.kernels.push(k);
        self.origins.push(origin);
        self.by_body.insert(key, i);
        i
    }
}

/// A short symbol-safe op name for kernel symbols (`Conv` → `conv`).
fn symbol_part(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase()
}

fn copy_kernel(name: String, elem: neoc_kernel::ScalarType, len: u64) -> Kernel {
    let mut b = KernelBuilder::new(name);
    let x = b.param("src", elem, len, Access::Read);
    let y = b.param("dst", elem, len, Access::Write);
    b.for_loop("i", 0, len as i64, LoopKind::Vectorize, |b, i| {
        b.store(y, i.clone(), neoc_kernel::Expr::load(x, i));
    });
    b.finish()
}

/// The storage classes (roots) narrowed to `precision`: `f32` values that are not
/// graph inputs or outputs, that every kernel touching them reads as `f32`, and that are
/// not positions or integers in disguise (see `exact`, returned second: the lowering's
/// derived constants of the nodes computing them stay `f32` too).
fn narrowed_classes(
    graph: &Graph,
    order: &[neoc_ir::NodeId],
    steps: &[PendingStep],
    pending: &[(Kernel, Option<Origin>)],
    storage: &HashMap<ValueId, Storage>,
    root: &HashMap<ValueId, ValueId>,
    precision: Precision,
) -> (HashSet<ValueId>, HashSet<ValueId>) {
    let mut ok: HashMap<ValueId, bool> = HashMap::new();
    if precision == Precision::F32 {
        return (HashSet::new(), HashSet::new());
    }
    // Floats that become positions or integers keep f32, with everything they are
    // computed from: GridSample's grid (in bf16 a spatial transformer's sample points
    // move by up to 1/256 of the image: 40 % output error measured), the source of a Cast
    // to integers.
    let mut work: Vec<ValueId> = order
        .iter()
        .filter_map(|&n| {
            let node = graph.node(n);
            match &node.op {
                neoc_ir::Op::GridSample(_) => node.inputs.get(1).copied().flatten(),
                neoc_ir::Op::Cast(c) if !c.to.is_float() => node.inputs.first().copied().flatten(),
                _ => None,
            }
        })
        .collect();
    let (mut seen, mut exact) = (HashSet::new(), HashSet::new());
    while let Some(v) = work.pop() {
        if !seen.insert(v) {
            continue;
        }
        exact.insert(find(root, v));
        if let ValueDef::Node(n, _) = graph.value(v).def {
            work.extend(graph.node(n).inputs.iter().flatten().copied());
        }
    }
    for s in steps {
        let kernel = &pending[s.kernel as usize].0;
        for (ai, a) in s.args.iter().enumerate() {
            let PendingArg::Lowered(ArgRef::Value(v)) = a else {
                continue;
            };
            let r = find(root, *v);
            let f32_param =
                kernel.params.get(ai).map(|p| p.elem) == Some(neoc_kernel::ScalarType::F32);
            let good = f32_param
                && !exact.contains(&r)
                && graph.value(r).ty.dtype == DType::F32
                && !matches!(
                    storage.get(&r),
                    Some(Storage::Input(_) | Storage::Output(_))
                );
            *ok.entry(r).or_insert(true) &= good;
        }
    }
    let narrowed = ok.into_iter().filter(|(_, g)| *g).map(|(r, _)| r).collect();
    (narrowed, exact)
}

/// The storage-class root of `v`: follows `root` (view or in-place output -> source)
/// until a value with no entry.
fn find(root: &HashMap<ValueId, ValueId>, mut v: ValueId) -> ValueId {
    while let Some(&r) = root.get(&v) {
        if r == v {
            break;
        }
        v = r;
    }
    v
}

/// For each storage class (keyed by its root value), the position in `order` of its
/// last reader; `None` when it outlives the run (a graph output is in the class).
/// Views join their source's class.
fn last_uses(graph: &Graph, order: &[neoc_ir::NodeId]) -> HashMap<ValueId, Option<usize>> {
    let mut root: HashMap<ValueId, ValueId> = HashMap::new();
    let mut last: HashMap<ValueId, Option<usize>> = HashMap::new();
    for (pos, &n) in order.iter().enumerate() {
        let node = graph.node(n);
        for v in node.inputs.iter().flatten() {
            let r = find(&root, *v);
            last.insert(r, Some(pos));
        }
        if node.op.is_view() {
            if let (Some(Some(src)), Some(&out)) = (node.inputs.first(), node.outputs.first()) {
                let r = find(&root, *src);
                root.insert(out, r);
            }
        }
    }
    for &o in graph.outputs() {
        let r = find(&root, o);
        last.insert(r, None);
    }
    last
}

/// A 16-bit GPU plan's products (Conv, Gemm, MatMul and their fused forms) whose results
/// are not kept exact lowered again for tensor cores (`lower_node_at`): their operands
/// are rounded to the storage format, as narrowed storage rounds them anyway. Nodes
/// whose outputs stay `f32` (sampling grids and the like) keep `f32` products.
fn tensor_cores(
    graph: &Graph,
    file: &str,
    (unit, precision): (VectorUnit, Precision),
    o: &mut Origin,
    kernel: &mut Kernel,
) -> Result<(), DriverError> {
    let product = matches!(
        graph.node(o.node).op,
        neoc_ir::Op::Conv(_) | neoc_ir::Op::Gemm(_) | neoc_ir::Op::MatMul | neoc_ir::Op::Fused(_)
    );
    if neoc_kernel::gpu::tensor_gemm::operand_format(unit, precision).is_none() || !product {
        return Ok(());
    }
    let lowered = neoc_kernel::lower_node_at(graph, o.node, &o.symbol, o.inplace, unit, precision)
        .map_err(|e| DriverError::Lower {
            file: file.to_string(),
            source: e,
        })?;
    if let Some(st) = lowered.and_then(|l| l.stages.into_iter().nth(o.stage)) {
        let same_args = args_fingerprint(&st.args) == o.args;
        if st.kernel.params == kernel.params && st.kernel.name == kernel.name && same_args {
            *kernel = st.kernel;
            o.lowered_at = precision;
        }
    }
    Ok(())
}

/// Plans `graph` with kernels lowered for `unit` (see [`Planned::module_for`] for the
/// other levels of a target).
pub fn plan(graph: &Graph, file: &str, unit: VectorUnit) -> Result<Planned, DriverError> {
    plan_reporting(graph, file, unit, &|_, _| {})
}

/// [`plan`], calling `lowered(done, total)` as graph nodes are lowered (for progress).
pub fn plan_reporting(
    graph: &Graph,
    file: &str,
    unit: VectorUnit,
    lowered: &dyn Fn(usize, usize),
) -> Result<Planned, DriverError> {
    plan_with_precision(graph, file, unit, Precision::F32, lowered)
}

/// [`plan_reporting`] with `f32` storage narrowed to `precision` (module docs).
pub fn plan_with_precision(
    graph: &Graph,
    file: &str,
    unit: VectorUnit,
    precision: Precision,
    lowered: &dyn Fn(usize, usize),
) -> Result<Planned, DriverError> {
    let mut table = KernelTable::default();
    // Kernels as lowered, one per step (`PendingStep::kernel` indexes this until the
    // narrowed buffers are known; then the table deduplicates them).
    let mut pending: Vec<(Kernel, Option<Origin>)> = Vec::new();
    let mut steps: Vec<PendingStep> = Vec::new();
    let mut produced: Vec<ValueId> = Vec::new();
    // Storage-class root of each value (views point at their source).
    let mut root: HashMap<ValueId, ValueId> = HashMap::new();

    let order = graph.topo_order();
    let last_use = last_uses(graph, &order);
    for (pos, &n) in order.iter().enumerate() {
        lowered(pos, order.len());
        let node = graph.node(n);
        let symbol = format!("k{}_{}", steps.len(), symbol_part(node.op.name()));
        // In place: an elementwise node may overwrite an input whose storage class
        // (itself and its views) is intermediate and read for the last time here.
        let inplace = (0..node.inputs.len()).find(|&i| {
            let Some(v) = node.inputs[i] else {
                return false;
            };
            let r = find(&root, v);
            matches!(graph.value(r).def, ValueDef::Node(..))
                && last_use.get(&r) == Some(&Some(pos))
                && neoc_kernel::lower::can_run_in_place(graph, n, i)
        });
        let lowered = neoc_kernel::lower_node_at(graph, n, &symbol, inplace, unit, Precision::F32);
        let lowered = lowered.map_err(|e| DriverError::Lower {
            file: file.to_string(),
            source: e,
        })?;
        if let (Some(i), Some(_), Some(&out)) = (inplace, &lowered, node.outputs.first()) {
            if let Some(Some(src)) = node.inputs.get(i) {
                let r = find(&root, *src);
                root.insert(out, r);
            }
        }
        match lowered {
            None => {
                // A view: the output shares the input's storage.
                if let (Some(Some(src)), Some(&out)) = (node.inputs.first(), node.outputs.first()) {
                    let r = find(&root, *src);
                    root.insert(out, r);
                }
            }
            Some(l) => {
                produced.extend(node.outputs.iter().filter(|o| !graph.outputs().contains(o)));
                for (si, stage) in l.stages.into_iter().enumerate() {
                    let origin = Origin {
                        node: n,
                        symbol: symbol.clone(),
                        inplace,
                        stage: si,
                        narrowed: Vec::new(),
                        precision,
                        lowered_at: Precision::F32,
                        args: args_fingerprint(&stage.args),
                    };
                    let kernel = pending.len() as u32;
                    pending.push((stage.kernel, Some(origin)));
                    steps.push(PendingStep {
                        kernel,
                        args: stage.args.into_iter().map(PendingArg::Lowered).collect(),
                        label: node.name.clone(),
                        node: pos,
                    });
                }
            }
        }
    }
    lowered(order.len(), order.len());

    // Graph outputs: claim the producing storage class, or copy.
    let mut storage: HashMap<ValueId, Storage> = HashMap::new();
    for (i, &v) in graph.inputs().iter().enumerate() {
        storage.insert(v, Storage::Input(i as u32));
    }
    for (j, &v) in graph.outputs().iter().enumerate() {
        let r = find(&root, v);
        let produced_by_kernel = matches!(graph.value(r).def, ValueDef::Node(..));
        let free = !storage.contains_key(&r);
        if produced_by_kernel && free {
            storage.insert(r, Storage::Output(j as u32));
        } else {
            let Some(elem) = neoc_kernel::lower::scalar_type(graph.value(v).ty.dtype) else {
                return Err(DriverError::Internal(format!(
                    "{file}: output `{}` has unsupported type {}",
                    graph.value(v).name,
                    graph.value(v).ty
                )));
            };
            let len = graph.value(v).ty.shape.num_elements().unwrap_or(0);
            let k = pending.len() as u32;
            pending.push((
                copy_kernel(format!("k{}_copy", steps.len()), elem, len),
                None,
            ));
            steps.push(PendingStep {
                kernel: k,
                args: vec![
                    PendingArg::Lowered(ArgRef::Value(r)),
                    PendingArg::Output(j as u32),
                ],
                label: format!("copy to output {}", graph.value(v).name),
                node: order.len() + j,
            });
        }
    }
    let arg_root = |a: &PendingArg, root: &HashMap<ValueId, ValueId>| match a {
        PendingArg::Lowered(ArgRef::Value(v)) => Some(find(root, *v)),
        _ => None,
    };

    // Storage precision: which classes are narrowed, then each step's kernel rewritten
    // and deduplicated.
    let (narrowed, exact) =
        narrowed_classes(graph, &order, &steps, &pending, &storage, &root, precision);
    for s in &mut steps {
        let (mut kernel, mut origin) = pending[s.kernel as usize].clone();
        let mut params = Vec::new();
        let computes_exact = order.get(s.node).is_some_and(|&n| {
            let outputs = &graph.node(n).outputs;
            outputs.iter().any(|o| exact.contains(&find(&root, *o)))
        });
        if let Some(o) = origin.as_mut().filter(|_| !computes_exact) {
            tensor_cores(graph, file, (unit, precision), o, &mut kernel)?;
        }
        for (ai, a) in s.args.iter_mut().enumerate() {
            let is_f32 =
                kernel.params.get(ai).map(|p| p.elem) == Some(neoc_kernel::ScalarType::F32);
            let narrow = match a {
                PendingArg::Lowered(ArgRef::Constant(bytes))
                    if is_f32 && precision != Precision::F32 && !computes_exact =>
                {
                    *bytes = precision.narrow_bytes(bytes).into();
                    true
                }
                _ => arg_root(a, &root).is_some_and(|r| narrowed.contains(&r)),
            };
            if narrow {
                params.push(ai);
            }
        }
        neoc_kernel::narrow::narrow_params(&mut kernel, &params, precision);
        let origin = origin.map(|o| Origin {
            narrowed: params,
            ..o
        });
        s.kernel = table.add(kernel, origin);
    }
    let stored_len = |r: ValueId| {
        let n = byte_len(graph, r);
        if narrowed.contains(&r) {
            n / 2
        } else {
            n
        }
    };
    let intermediate_bytes: u64 = produced
        .iter()
        .map(|&o| stored_len(o).next_multiple_of(ALIGN))
        .sum();

    // Weights: constants read by kernels, laid out once each; then constants the
    // lowering derived from them (prepacked or transformed weights), once per content.
    let mut weights: Vec<u8> = Vec::new();
    let mut derived_at: HashMap<&[u8], u64> = HashMap::new();
    for s in &steps {
        for a in &s.args {
            if let PendingArg::Lowered(ArgRef::Constant(bytes)) = a {
                if !derived_at.contains_key(&bytes[..]) {
                    let off = (weights.len() as u64).next_multiple_of(ALIGN);
                    weights.resize(off as usize, 0);
                    weights.extend_from_slice(bytes);
                    derived_at.insert(&bytes[..], off);
                }
                continue;
            }
            let Some(r) = arg_root(a, &root) else {
                continue;
            };
            if storage.contains_key(&r) {
                continue;
            }
            if let Some(t) = graph.const_value(r) {
                let off = (weights.len() as u64).next_multiple_of(ALIGN);
                weights.resize(off as usize, 0);
                if narrowed.contains(&r) {
                    weights.extend_from_slice(&precision.narrow_bytes(t.bytes()));
                } else {
                    weights.extend_from_slice(t.bytes());
                }
                storage.insert(r, Storage::Weight(off));
            }
        }
    }

    // Arena: lifetimes of the remaining classes, then greedy placement.
    struct Live {
        key: Option<ValueId>, // None for scratch
        size: u64,
        first: usize,
        last: usize,
    }
    let mut lives: Vec<Live> = Vec::new();
    let mut index: HashMap<ValueId, usize> = HashMap::new();
    // Scratch: (node position, slot) → live index; a slot lives across its node's stages.
    let mut scratch_index: HashMap<(usize, u32), usize> = HashMap::new();
    for (si, s) in steps.iter().enumerate() {
        for a in &s.args {
            match (a, arg_root(a, &root)) {
                (PendingArg::Lowered(ArgRef::Scratch { slot, bytes }), _) => {
                    if let Some(&i) = scratch_index.get(&(s.node, *slot)) {
                        let l: &mut Live = &mut lives[i];
                        l.last = si;
                        l.size = l.size.max(*bytes);
                    } else {
                        scratch_index.insert((s.node, *slot), lives.len());
                        lives.push(Live {
                            key: None,
                            size: *bytes,
                            first: si,
                            last: si,
                        });
                    }
                }
                (_, Some(r)) if !storage.contains_key(&r) => {
                    if let Some(&i) = index.get(&r) {
                        lives[i].last = si;
                    } else {
                        index.insert(r, lives.len());
                        lives.push(Live {
                            key: Some(r),
                            size: stored_len(r),
                            first: si,
                            last: si,
                        });
                    }
                }
                _ => {}
            }
        }
    }
    // Without a plan every intermediate tensor (each kernel's output that is not a graph
    // output, plus scratch) would have its own buffer.
    let scratch_bytes: u64 = lives
        .iter()
        .filter(|l| l.key.is_none())
        .map(|l| l.size.next_multiple_of(ALIGN))
        .sum();
    let naive_bytes = intermediate_bytes + scratch_bytes;
    let mut order: Vec<usize> = (0..lives.len()).collect();
    order.sort_by(|&a, &b| lives[b].size.cmp(&lives[a].size).then(a.cmp(&b)));
    let mut placed: Vec<(usize, u64)> = Vec::new(); // (live index, offset)
    let mut arena_size = 0u64;
    let mut offsets = vec![0u64; lives.len()];
    for i in order {
        let l = &lives[i];
        let mut busy: Vec<(u64, u64)> = placed
            .iter()
            .filter(|(j, _)| lives[*j].first <= l.last && l.first <= lives[*j].last)
            .map(|(j, off)| (*off, off + lives[*j].size.next_multiple_of(ALIGN)))
            .collect();
        busy.sort();
        let mut off = 0u64;
        let need = l.size.next_multiple_of(ALIGN).max(ALIGN);
        for (s, e) in busy {
            if off + need <= s {
                break;
            }
            off = off.max(e);
        }
        offsets[i] = off;
        arena_size = arena_size.max(off + need);
        placed.push((i, off));
    }
    for (i, l) in lives.iter().enumerate() {
        if let Some(r) = l.key {
            storage.insert(r, Storage::Arena(offsets[i]));
        }
    }

    // Final steps with concrete buffer references.
    let mut kernel_params: Vec<Vec<u64>> = table
        .module
        .kernels
        .iter()
        .map(|k| k.params.iter().map(|p| p.byte_len()).collect())
        .collect();
    let mut out_steps = Vec::with_capacity(steps.len());
    for (si, s) in steps.iter().enumerate() {
        let mut args = Vec::with_capacity(s.args.len());
        for (ai, a) in s.args.iter().enumerate() {
            let len = kernel_params[s.kernel as usize]
                .get(ai)
                .copied()
                .unwrap_or(0);
            let r = match a {
                PendingArg::Output(j) => BufferRef::Output(*j),
                PendingArg::Lowered(ArgRef::Scratch { slot, .. }) => {
                    let Some(&i) = scratch_index.get(&(s.node, *slot)) else {
                        return Err(DriverError::Internal(format!(
                            "{file}: scratch slot {slot} of step {si} was not planned"
                        )));
                    };
                    BufferRef::Arena {
                        offset: offsets[i],
                        len,
                    }
                }
                PendingArg::Lowered(ArgRef::Constant(bytes)) => {
                    let Some(&offset) = derived_at.get(&bytes[..]) else {
                        return Err(DriverError::Internal(format!(
                            "{file}: a derived constant of step {si} was not placed"
                        )));
                    };
                    BufferRef::Weight { offset, len }
                }
                PendingArg::Lowered(ArgRef::Value(_)) => {
                    let Some(r) = arg_root(a, &root) else {
                        continue;
                    };
                    match storage.get(&r) {
                        Some(Storage::Input(i)) => BufferRef::Input(*i),
                        Some(Storage::Output(j)) => BufferRef::Output(*j),
                        Some(Storage::Weight(off)) => BufferRef::Weight { offset: *off, len },
                        Some(Storage::Arena(off)) => BufferRef::Arena { offset: *off, len },
                        None => {
                            return Err(DriverError::Internal(format!(
                                "{file}: no storage for value `{}`",
                                graph.value(r).name
                            )))
                        }
                    }
                }
            };
            args.push(r);
        }
        out_steps.push(Step {
            kernel: s.kernel,
            args,
            label: s.label.clone(),
        });
    }
    let kernels = table
        .module
        .kernels
        .iter()
        .zip(kernel_params.drain(..))
        .map(|(k, params)| KernelInfo {
            symbol: k.name.clone(),
            params,
            parallel: k.is_parallel(),
        })
        .collect();

    let inputs = graph
        .inputs()
        .iter()
        .map(|&v| spec(graph, v, file))
        .collect::<Result<Vec<_>, _>>()?;
    let outputs = graph
        .outputs()
        .iter()
        .map(|&v| spec(graph, v, file))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Planned {
        module: table.module,
        unit,
        origins: table.origins,
        artifact_plan: Plan {
            arena_size,
            kernels,
            steps: out_steps,
        },
        weights,
        inputs,
        outputs,
        naive_bytes,
    })
}
