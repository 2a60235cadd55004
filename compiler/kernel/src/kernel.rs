//! Kernels, statements, buffers and variables.

use crate::expr::Expr;
use std::fmt;

/// The element types kernel code computes with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScalarType {
    /// IEEE half: a storage type; arithmetic on it is rounded to half after each step.
    F16,
    F32,
    F64,
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    /// A one-bit truth value; stored in memory as one byte (0 or 1).
    Bool,
}

impl ScalarType {
    /// Size of one element in memory, in bytes.
    pub fn size_bytes(self) -> u64 {
        match self {
            ScalarType::I8 | ScalarType::U8 | ScalarType::Bool => 1,
            ScalarType::I16 | ScalarType::U16 | ScalarType::F16 => 2,
            ScalarType::F32 | ScalarType::I32 | ScalarType::U32 => 4,
            ScalarType::F64 | ScalarType::I64 | ScalarType::U64 => 8,
        }
    }

    pub fn is_float(self) -> bool {
        matches!(self, ScalarType::F16 | ScalarType::F32 | ScalarType::F64)
    }

    pub fn is_int(self) -> bool {
        matches!(
            self,
            ScalarType::I8
                | ScalarType::U8
                | ScalarType::I16
                | ScalarType::U16
                | ScalarType::I32
                | ScalarType::U32
                | ScalarType::I64
                | ScalarType::U64
        )
    }

    pub fn is_signed(self) -> bool {
        matches!(
            self,
            ScalarType::I8 | ScalarType::I16 | ScalarType::I32 | ScalarType::I64
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            ScalarType::F16 => "f16",
            ScalarType::F32 => "f32",
            ScalarType::F64 => "f64",
            ScalarType::I8 => "i8",
            ScalarType::U8 => "u8",
            ScalarType::I16 => "i16",
            ScalarType::U16 => "u16",
            ScalarType::I32 => "i32",
            ScalarType::U32 => "u32",
            ScalarType::I64 => "i64",
            ScalarType::U64 => "u64",
            ScalarType::Bool => "bool",
        }
    }
}

impl fmt::Display for ScalarType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A buffer of a kernel: parameter `N` (printed `%bN`), or, with [`BufId::LOCAL`] set,
/// block-local array `N` of [`Kernel::locals`] (printed `%lN`). Both are addressed by the
/// same `Load`/`Store`/`VLoad`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BufId(pub u32);

impl BufId {
    /// The bit that marks a block-local array.
    pub const LOCAL: u32 = 1 << 31;

    /// Block-local array `i` of [`Kernel::locals`].
    pub fn local(i: u32) -> BufId {
        BufId(i | BufId::LOCAL)
    }

    /// The index into [`Kernel::locals`] when this names a block-local array.
    pub fn local_index(self) -> Option<usize> {
        (self.0 & BufId::LOCAL != 0).then_some((self.0 & !BufId::LOCAL) as usize)
    }
}

impl fmt::Display for BufId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.local_index() {
            Some(i) => write!(f, "%l{i}"),
            None => write!(f, "%b{}", self.0),
        }
    }
}

/// Index of a scalar variable of a kernel, printed as `vN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VarId(pub u32);

impl fmt::Display for VarId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

/// How a kernel uses a buffer. Backends may mark `Read` buffers `readonly`/`noalias`:
/// the compiler guarantees that distinct parameters of one kernel never overlap unless
/// both are `Read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    ReadWrite,
}

/// A buffer parameter: `len` elements of `elem`, passed as `args[i]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub name: String,
    pub elem: ScalarType,
    pub len: u64,
    pub access: Access,
}

impl Param {
    pub fn byte_len(&self) -> u64 {
        self.len * self.elem.size_bytes()
    }
}

/// A mutable variable (loop counters, accumulators, temporaries): one value of `ty`, or
/// a vector of `lanes` of them when `lanes > 1` (register tiles of microkernels).
#[derive(Debug, Clone, PartialEq)]
pub struct Var {
    pub name: String,
    pub ty: ScalarType,
    /// 1 for a scalar.
    pub lanes: u32,
}

/// Schedule marks on a loop. They are hints about legality the lowering has proven,
/// never changes of meaning: every loop is correct when run serially in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoopKind {
    Serial,
    /// Iterations are independent. A top-level parallel loop is split across tasks
    /// (`task`/`ntasks` of the calling convention); nested ones run serially.
    Parallel,
    /// Iterations are independent and the loop is a good candidate for SIMD.
    Vectorize,
    /// Unroll fully (the trip count is a small constant).
    Unroll,
}

/// A statement. Blocks are plain `Vec<Stmt>`.
#[derive(Debug, Clone, PartialEq)]
pub enum Stmt {
    /// `for var in lo..hi { body }`; `var` must be an `i64` variable; step 1.
    /// `lo` and `hi` are evaluated once before the loop.
    For {
        var: VarId,
        lo: Expr,
        hi: Expr,
        kind: LoopKind,
        body: Vec<Stmt>,
    },
    /// `var = value`.
    Assign { var: VarId, value: Expr },
    /// `buf[index] = value`; `index` is `i64`, counted in elements. A vector `value` of
    /// `n` lanes stores `buf[index..index + n]`.
    Store {
        buf: BufId,
        index: Expr,
        value: Expr,
    },
    /// `if cond { then } else { otherwise }`; `cond` is `bool`.
    If {
        cond: Expr,
        then: Vec<Stmt>,
        otherwise: Vec<Stmt>,
    },
    /// Block kernels only: every thread of the block waits here until all have arrived,
    /// and their earlier stores to block-local arrays are visible to all
    /// (`bar.sync 0`). Only in control flow that is uniform across the block.
    Barrier,
}

/// An array shared by the threads of one block of a block kernel (CUDA shared memory);
/// in a kernel without a launch shape, a scratch array private to one call. Addressed
/// as [`BufId::local`]; its contents are undefined when the block (or call) starts.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalArray {
    pub name: String,
    pub elem: ScalarType,
    pub len: u64,
}

/// The launch shape of a block kernel: `grid` blocks of `block` threads, each running
/// the whole body (no `task`/`ntasks` chunking). [`crate::Expr::ThreadIdx`] and
/// [`crate::Expr::BlockIdx`] tell the threads apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GpuLaunch {
    /// Threads per block, 1..=1024.
    pub block: u32,
    /// Blocks, at least 1.
    pub grid: u64,
}

/// One kernel: a function of the calling convention described in the crate docs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Kernel {
    /// The exported symbol name; unique in its [`Module`], a C identifier.
    pub name: String,
    pub params: Vec<Param>,
    pub vars: Vec<Var>,
    pub body: Vec<Stmt>,
    /// Block-local arrays ([`BufId::local`]).
    pub locals: Vec<LocalArray>,
    /// `Some` for a block kernel (GPU only; CPUs run `crate::gpu::emulate` of it).
    pub gpu: Option<GpuLaunch>,
}

impl Stmt {
    /// The statement with the statement lists it holds (a loop's body, an `if`'s
    /// branches) replaced by `f` of them; other statements unchanged. For rewrites that
    /// act on some statements and only recurse through the rest.
    pub fn map_bodies(self, f: &mut dyn FnMut(Vec<Stmt>) -> Vec<Stmt>) -> Stmt {
        match self {
            Stmt::For {
                var,
                lo,
                hi,
                kind,
                body,
            } => Stmt::For {
                var,
                lo,
                hi,
                kind,
                body: f(body),
            },
            Stmt::If {
                cond,
                then,
                otherwise,
            } => Stmt::If {
                cond,
                then: f(then),
                otherwise: f(otherwise),
            },
            other => other,
        }
    }
}

impl Kernel {
    /// The parameter `b` names (`None` for a block-local array).
    pub fn param(&self, b: BufId) -> Option<&Param> {
        self.params.get(b.0 as usize)
    }
    /// The block-local array `b` names.
    pub fn local(&self, b: BufId) -> Option<&LocalArray> {
        self.locals.get(b.local_index()?)
    }
    /// Element type and length of buffer `b`, a parameter or a block-local array.
    pub fn buffer(&self, b: BufId) -> Option<(ScalarType, u64)> {
        match self.local(b) {
            Some(l) => Some((l.elem, l.len)),
            None => self.param(b).map(|p| (p.elem, p.len)),
        }
    }
    pub fn var(&self, v: VarId) -> Option<&Var> {
        self.vars.get(v.0 as usize)
    }

    /// True when every top-level statement is a `Parallel` loop, so calling the kernel
    /// once per task (`task = 0..ntasks`) splits all of its work between the tasks and
    /// nothing runs twice. Lowering only marks loops parallel whose iterations write
    /// disjoint memory.
    pub fn is_parallel(&self) -> bool {
        !self.body.is_empty()
            && self.work() >= MIN_PARALLEL_WORK
            && self.body.iter().all(|s| {
                matches!(
                    s,
                    Stmt::For {
                        kind: LoopKind::Parallel,
                        ..
                    }
                )
            })
    }
}

/// Below this many statement executions a kernel is cheaper to run on one thread than
/// to hand out as parallel tasks (waking workers costs microseconds).
pub const MIN_PARALLEL_WORK: u64 = 1 << 16;

impl Kernel {
    /// Roughly how many statements one call executes: loop trip counts multiplied out
    /// (a loop whose bounds are not constants is guessed at 256 trips).
    pub fn work(&self) -> u64 {
        fn block(stmts: &[Stmt]) -> u64 {
            stmts.iter().map(stmt).fold(0u64, u64::saturating_add)
        }
        fn stmt(s: &Stmt) -> u64 {
            match s {
                Stmt::For { lo, hi, body, .. } => {
                    let trips = match (lo, hi) {
                        (Expr::IConst(l, _), Expr::IConst(h, _)) => (h - l).max(0) as u64,
                        _ => 256,
                    };
                    trips.saturating_mul(block(body).max(1))
                }
                Stmt::If {
                    then, otherwise, ..
                } => block(then).max(block(otherwise)).max(1),
                _ => 1,
            }
        }
        block(&self.body)
    }
}

/// All kernels of one compiled model.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Module {
    pub kernels: Vec<Kernel>,
}
