//! Scalar expressions of kernel IR.
//!
//! Expressions are pure trees; the only side effects are in [`crate::Stmt`]. Types are
//! implicit and checked by [`crate::verify_kernel`]: arithmetic needs both operands of
//! one type, comparisons produce `bool`, index expressions are `i64`.
//!
//! Vectors: [`Expr::VLoad`], [`Expr::Splat`] and vector variables produce values of
//! several lanes; arithmetic (`+ - * /`, min, max, neg, fma) on float vectors works lane
//! by lane, and a vector `Store` writes consecutive elements. `i32` vectors exist for
//! the int8 GEMM: loaded, broadcast, kept in variables, stored and combined by
//! [`Expr::DotBytes`]; its requantizing epilogue adds, subtracts and multiplies them,
//! casts them to and from `f32` (and bitcasts), loads `u8`/`i8` vectors and narrows to
//! them. Everything else is scalar.
//! Microkernels use them to keep a register tile explicit instead of hoping a loop
//! vectorizer finds it.

use crate::kernel::{BufId, Kernel, ScalarType, VarId};

/// Unary operations. Float-only unless noted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    /// Negation (ints and floats).
    Neg,
    /// Absolute value (ints and floats).
    Abs,
    Sqrt,
    /// `e^x`. Backends expand it inline (no libm): at most 2 ulp of error for results
    /// in the normal range, `+inf` on overflow, `0` on underflow, NaN passes through.
    Exp,
    /// Natural logarithm; at most 2 ulp, `log(0) = -inf`, negative → NaN.
    Log,
    /// Hyperbolic tangent; absolute error at most 2e-7 and relative error at most
    /// 4 ulp near zero.
    Tanh,
    /// Error function; absolute error at most 2e-7.
    Erf,
    /// Sine, computed in f64 (about 1 ulp of the result type while |x| < 1e5).
    Sin,
    /// Cosine, as `Sin`.
    Cos,
    /// Arc tangent, computed in f64 (about 1 ulp); `±inf → ±π/2`.
    Atan,
    Floor,
    Ceil,
    /// Round half to even.
    Round,
    /// Logical not (`bool` only).
    Not,
}

/// Binary operations on two operands of the same type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    /// Float division, or integer division truncating toward zero. Integer `x / 0` is
    /// `0` and `MIN / -1` is `MIN` (never a trap).
    Div,
    /// Integer remainder with the sign of the dividend (like C `%`), `x % 0 = 0`; float
    /// `fmod`, exact while `|a / b| < 2^53`.
    Rem,
    /// Minimum; for floats NaN-propagating (if either operand is NaN, NaN).
    Min,
    /// Maximum; for floats NaN-propagating (if either operand is NaN, NaN).
    Max,
    /// Logical/bitwise and (`bool` and ints).
    And,
    /// Logical/bitwise or (`bool` and ints).
    Or,
    /// Logical/bitwise exclusive or (`bool` and ints).
    Xor,
    /// Integer shift left; shifting by the bit width or more gives 0.
    Shl,
    /// Integer shift right (arithmetic for signed types, logical for unsigned); by the
    /// bit width or more gives 0 (or -1 for negative signed values).
    Shr,
    /// Power `a^b` (floats) with C99 `pow` special cases; about 1 ulp for `f32`.
    Pow,
}

/// Comparisons; the result is `bool`. Float comparisons are ordered (false on NaN)
/// except `Ne`, which is true when either side is NaN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

/// A scalar expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A float constant of the given float type (`f64` holds any `f32` exactly).
    FConst(f64, ScalarType),
    /// An integer constant of the given integer type.
    IConst(i64, ScalarType),
    /// A boolean constant.
    BConst(bool),
    /// The current value of a variable.
    Var(VarId),
    /// `buf[index]`, index in elements (`i64`).
    Load {
        buf: BufId,
        index: Box<Expr>,
    },
    Unary {
        op: UnaryOp,
        arg: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    Cmp {
        op: CmpOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// `buf[index..index + lanes]` as one vector (no alignment needed).
    VLoad {
        buf: BufId,
        index: Box<Expr>,
        lanes: u32,
    },
    /// A vector whose `lanes` lanes all equal the scalar `arg`.
    Splat {
        arg: Box<Expr>,
        lanes: u32,
    },
    /// The scalar `arg[0] op arg[1] op …` over the lanes of the vector `arg`, in a
    /// pairwise tree order; `op` is `Add`, `Min` or `Max` (NaN-propagating).
    LaneReduce {
        op: BinaryOp,
        arg: Box<Expr>,
    },
    /// `cond ? then : otherwise`; both arms are evaluated (they are pure).
    Select {
        cond: Box<Expr>,
        then: Box<Expr>,
        otherwise: Box<Expr>,
    },
    /// Numeric conversion: float→int truncates toward zero (saturating, NaN → 0),
    /// int→float rounds to nearest, int→int wraps (sign- or zero-extending by the
    /// source type, like Rust `as`), bool→number gives 0/1, number→bool is `x != 0`.
    /// On a vector: lane-wise, float↔float and int↔int only.
    Cast {
        to: ScalarType,
        arg: Box<Expr>,
    },
    /// The bits of the scalar `arg` read as type `to` of the same size (`f32` ↔
    /// `u32`/`i32`, `f64` ↔ `u64`/`i64`, `f16` ↔ `u16`/`i16`). Number formats the
    /// hardware lacks (bfloat16, the 8-bit floats) are converted with it. Lane-wise on
    /// a vector.
    Bitcast {
        to: ScalarType,
        arg: Box<Expr>,
    },
    /// `a * b + c`, fused or not at the backend's choice (floats).
    Fma {
        a: Box<Expr>,
        b: Box<Expr>,
        c: Box<Expr>,
    },
    /// Integer dot product of byte groups, the int8 GEMM step: in every `i32` lane,
    /// `acc + Σ_{j<4} a.byte[j] · i8(b.byte[j])` (bytes in little-endian order; `a`'s
    /// read as `a_sign` says, `b`'s signed), wrapping on overflow (a sum of 4 products
    /// cannot overflow by itself). `acc`, `a` and `b` are `i32` with the same lanes.
    /// Backends emit one instruction where the CPU level has one for that signedness
    /// (`vpdpbusd`, `usdot`, `sdot`) and widening multiplies and adds otherwise
    /// (`docs/quantization.md`).
    DotBytes {
        acc: Box<Expr>,
        a: Box<Expr>,
        b: Box<Expr>,
        a_sign: ByteSign,
    },
    /// Block kernels only: this thread's index in its block, `0..block` (`i64`).
    ThreadIdx,
    /// Block kernels only: this block's index in the grid, `0..grid` (`i64`).
    BlockIdx,
    /// Block kernels only: the scalar `value` (`f32` or `i32`) as computed by the thread
    /// whose index is this thread's `^ lane_mask` (`lane_mask < 32`: a partner in the same
    /// warp of 32; `shfl.sync.bfly`). Every thread of the block evaluates it at the same
    /// point (uniform control flow, like a barrier); it may appear only in the value of
    /// an `Assign` or `Store`, not nested in another shuffle.
    ShuffleXor {
        value: Box<Expr>,
        lane_mask: u32,
    },
    /// Block kernels only, warp-collective like [`Expr::ShuffleXor`] (uniform control
    /// flow, the whole value of an `Assign`): one tensor-core step of each warp of 32
    /// threads, `D = A·B + C` for a 16×8 tile with K = 16 (PTX
    /// `mma.sync.aligned.m16n8k16.row.col.f32.{f16,bf16}.f32`). `a` (8 lanes), `b` (4)
    /// and `c` (4) are `f32` vector variables holding this thread's fragments in the PTX
    /// layout (lane `l`, `g = l / 4`, `q = l % 4`): `a[i]` = A[g + 8·(i/2 % 2)][2q + i%2 +
    /// 8·(i/4)], `b[i]` = B[2q + i%2 + 8·(i/2)][g], `c[i]` and the result's lane `i` =
    /// C/D[g + 8·(i/2)][2q + i%2]. A and B values are first rounded to `input` (to
    /// nearest even); products are exact and summed in `f32` (in an unspecified order).
    /// The value is this thread's 4 lanes of D.
    Mma {
        a: VarId,
        b: VarId,
        c: VarId,
        input: MmaInput,
    },
}

/// The operand format of [`Expr::Mma`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MmaInput {
    F16,
    BF16,
}

impl MmaInput {
    pub fn name(self) -> &'static str {
        match self {
            MmaInput::F16 => "f16",
            MmaInput::BF16 => "bf16",
        }
    }
}

/// How [`Expr::DotBytes`] reads the bytes of its `a` operand (`b`'s are always `i8`).
/// The int8 GEMM picks the form its CPU level multiplies in one instruction
/// ([`crate::VectorUnit::signed_dot_bytes`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum ByteSign {
    /// `u8 · i8`: x86 `vpdpbusd`, AArch64 `usdot` (i8mm).
    #[default]
    Unsigned,
    /// `i8 · i8`: AArch64 `sdot` (dotprod).
    Signed,
}

impl Expr {
    /// An `f32` constant.
    pub fn f32(v: f32) -> Expr {
        Expr::FConst(f64::from(v), ScalarType::F32)
    }
    /// An `i64` constant (indices, loop bounds).
    pub fn i64(v: i64) -> Expr {
        Expr::IConst(v, ScalarType::I64)
    }
    pub fn var(v: VarId) -> Expr {
        Expr::Var(v)
    }
    pub fn load(buf: BufId, index: Expr) -> Expr {
        Expr::Load {
            buf,
            index: Box::new(index),
        }
    }
    pub fn vload(buf: BufId, index: Expr, lanes: u32) -> Expr {
        Expr::VLoad {
            buf,
            index: Box::new(index),
            lanes,
        }
    }
    pub fn splat(arg: Expr, lanes: u32) -> Expr {
        Expr::Splat {
            arg: Box::new(arg),
            lanes,
        }
    }
    pub fn lane_reduce(op: BinaryOp, arg: Expr) -> Expr {
        Expr::LaneReduce {
            op,
            arg: Box::new(arg),
        }
    }
    pub fn unary(op: UnaryOp, arg: Expr) -> Expr {
        Expr::Unary {
            op,
            arg: Box::new(arg),
        }
    }
    pub fn binary(op: BinaryOp, lhs: Expr, rhs: Expr) -> Expr {
        Expr::Binary {
            op,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
        }
    }
    pub fn cmp(op: CmpOp, lhs: Expr, rhs: Expr) -> Expr {
        Expr::Cmp {
            op,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
        }
    }
    pub fn select(cond: Expr, then: Expr, otherwise: Expr) -> Expr {
        Expr::Select {
            cond: Box::new(cond),
            then: Box::new(then),
            otherwise: Box::new(otherwise),
        }
    }
    pub fn cast(to: ScalarType, arg: Expr) -> Expr {
        Expr::Cast {
            to,
            arg: Box::new(arg),
        }
    }
    pub fn bitcast(to: ScalarType, arg: Expr) -> Expr {
        Expr::Bitcast {
            to,
            arg: Box::new(arg),
        }
    }
    pub fn fma(a: Expr, b: Expr, c: Expr) -> Expr {
        Expr::Fma {
            a: Box::new(a),
            b: Box::new(b),
            c: Box::new(c),
        }
    }
    /// [`Expr::DotBytes`] with unsigned `a` bytes (`u8 · i8`).
    pub fn dot_bytes(acc: Expr, a: Expr, b: Expr) -> Expr {
        Expr::dot_bytes_as(ByteSign::Unsigned, acc, a, b)
    }
    /// [`Expr::DotBytes`] with `a`'s bytes read as `a_sign` says.
    pub fn dot_bytes_as(a_sign: ByteSign, acc: Expr, a: Expr, b: Expr) -> Expr {
        Expr::DotBytes {
            acc: Box::new(acc),
            a: Box::new(a),
            b: Box::new(b),
            a_sign,
        }
    }
    pub fn shuffle_xor(value: Expr, lane_mask: u32) -> Expr {
        Expr::ShuffleXor {
            value: Box::new(value),
            lane_mask,
        }
    }
    pub fn min(self, rhs: Expr) -> Expr {
        Expr::binary(BinaryOp::Min, self, rhs)
    }
    pub fn max(self, rhs: Expr) -> Expr {
        Expr::binary(BinaryOp::Max, self, rhs)
    }
    pub fn lt(self, rhs: Expr) -> Expr {
        Expr::cmp(CmpOp::Lt, self, rhs)
    }
    pub fn ge(self, rhs: Expr) -> Expr {
        Expr::cmp(CmpOp::Ge, self, rhs)
    }
    pub fn and(self, rhs: Expr) -> Expr {
        Expr::binary(BinaryOp::And, self, rhs)
    }
    pub fn exp(self) -> Expr {
        Expr::unary(UnaryOp::Exp, self)
    }
    pub fn sqrt(self) -> Expr {
        Expr::unary(UnaryOp::Sqrt, self)
    }

    /// The type of this expression inside `kernel`, or `None` when it is ill-typed in a
    /// way that [`crate::verify_kernel`] reports.
    pub fn ty(&self, kernel: &Kernel) -> Option<ScalarType> {
        Some(match self {
            Expr::FConst(_, t) | Expr::IConst(_, t) => *t,
            Expr::BConst(_) | Expr::Cmp { .. } => ScalarType::Bool,
            Expr::Var(v) => kernel.var(*v)?.ty,
            Expr::Load { buf, .. } | Expr::VLoad { buf, .. } => kernel.buffer(*buf)?.0,
            Expr::ThreadIdx | Expr::BlockIdx => ScalarType::I64,
            Expr::ShuffleXor { value, .. } => value.ty(kernel)?,
            Expr::Mma { .. } => ScalarType::F32,
            Expr::Splat { arg, .. } | Expr::LaneReduce { arg, .. } => arg.ty(kernel)?,
            Expr::Unary { arg, .. } => arg.ty(kernel)?,
            Expr::Binary { lhs, .. } => lhs.ty(kernel)?,
            Expr::Select { then, .. } => then.ty(kernel)?,
            Expr::Cast { to, .. } | Expr::Bitcast { to, .. } => *to,
            Expr::Fma { a, .. } => a.ty(kernel)?,
            Expr::DotBytes { acc, .. } => acc.ty(kernel)?,
        })
    }
}

impl Expr {
    /// How many lanes the value has (1 for scalars). Like [`Expr::ty`], it assumes a
    /// well-typed expression; [`crate::verify_kernel`] checks the lanes agree.
    pub fn lanes(&self, kernel: &Kernel) -> u32 {
        match self {
            Expr::VLoad { lanes, .. } | Expr::Splat { lanes, .. } => *lanes,
            Expr::Mma { .. } => 4,
            Expr::Var(v) => kernel.var(*v).map_or(1, |v| v.lanes),
            Expr::Unary { arg, .. } => arg.lanes(kernel),
            Expr::Binary { lhs, .. } => lhs.lanes(kernel),
            Expr::Select { then, .. } => then.lanes(kernel),
            Expr::Fma { a, .. } => a.lanes(kernel),
            Expr::DotBytes { acc, .. } => acc.lanes(kernel),
            Expr::Cast { arg, .. } | Expr::Bitcast { arg, .. } => arg.lanes(kernel),
            Expr::FConst(..)
            | Expr::IConst(..)
            | Expr::BConst(_)
            | Expr::Load { .. }
            | Expr::LaneReduce { .. }
            | Expr::ThreadIdx
            | Expr::BlockIdx
            | Expr::ShuffleXor { .. }
            | Expr::Cmp { .. } => 1,
        }
    }
}

macro_rules! arith_ops {
    ($($trait:ident $method:ident $op:ident),*) => {$(
        impl std::ops::$trait for Expr {
            type Output = Expr;
            fn $method(self, rhs: Expr) -> Expr {
                Expr::binary(BinaryOp::$op, self, rhs)
            }
        }
    )*};
}
arith_ops!(Add add Add, Sub sub Sub, Mul mul Mul, Div div Div, Rem rem Rem);

impl std::ops::Neg for Expr {
    type Output = Expr;
    fn neg(self) -> Expr {
        Expr::unary(UnaryOp::Neg, self)
    }
}

impl From<i64> for Expr {
    fn from(v: i64) -> Expr {
        Expr::i64(v)
    }
}

impl From<VarId> for Expr {
    fn from(v: VarId) -> Expr {
        Expr::Var(v)
    }
}
