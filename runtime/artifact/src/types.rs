//! The plain data types of an artifact: dtypes, tensor signatures, the target, code
//! variants and the execution plan. They carry no behaviour beyond small helpers; the
//! byte encoding lives in `encode.rs` / `decode.rs`, the consistency rules in
//! `validate.rs`.

use std::fmt;

/// Element type of a tensor.
///
/// The numeric code used in the file (see [`DType::code`]) is part of the format and never
/// changes for an existing variant; new dtypes get new codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    F32,
    F16,
    BF16,
    F64,
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    /// One byte per element, 0 or 1.
    Bool,
    /// The 8-bit floats of ONNX (see the artifact format doc): one byte each.
    F8E4M3FN,
    F8E4M3FNUZ,
    F8E5M2,
    F8E5M2FNUZ,
    /// 4-bit integers, held one per byte (`I4` sign-extended).
    I4,
    U4,
}

impl DType {
    /// Every dtype, in code order.
    pub const ALL: [DType; 19] = [
        DType::F32,
        DType::F16,
        DType::BF16,
        DType::F64,
        DType::I8,
        DType::U8,
        DType::I16,
        DType::U16,
        DType::I32,
        DType::U32,
        DType::I64,
        DType::U64,
        DType::Bool,
        DType::F8E4M3FN,
        DType::F8E4M3FNUZ,
        DType::F8E5M2,
        DType::F8E5M2FNUZ,
        DType::I4,
        DType::U4,
    ];

    /// Size of one element in bytes (also its required alignment).
    pub fn size_bytes(self) -> usize {
        match self {
            DType::I8 | DType::U8 | DType::Bool | DType::I4 | DType::U4 => 1,
            DType::F8E4M3FN | DType::F8E4M3FNUZ | DType::F8E5M2 | DType::F8E5M2FNUZ => 1,
            DType::F16 | DType::BF16 | DType::I16 | DType::U16 => 2,
            DType::F32 | DType::I32 | DType::U32 => 4,
            DType::F64 | DType::I64 | DType::U64 => 8,
        }
    }

    /// The name users see, as NumPy / ONNX spell it: `"float32"`, `"int64"`, `"bool"`.
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::F16 => "float16",
            DType::BF16 => "bfloat16",
            DType::F64 => "float64",
            DType::I8 => "int8",
            DType::U8 => "uint8",
            DType::I16 => "int16",
            DType::U16 => "uint16",
            DType::I32 => "int32",
            DType::U32 => "uint32",
            DType::I64 => "int64",
            DType::U64 => "uint64",
            DType::Bool => "bool",
            DType::F8E4M3FN => "float8e4m3fn",
            DType::F8E4M3FNUZ => "float8e4m3fnuz",
            DType::F8E5M2 => "float8e5m2",
            DType::F8E5M2FNUZ => "float8e5m2fnuz",
            DType::I4 => "int4",
            DType::U4 => "uint4",
        }
    }

    /// The inverse of [`DType::name`].
    pub fn from_name(name: &str) -> Option<DType> {
        DType::ALL.into_iter().find(|d| d.name() == name)
    }

    /// The stable code stored in the file (1-based; 0 is never a valid dtype).
    pub fn code(self) -> u32 {
        match self {
            DType::F32 => 1,
            DType::F16 => 2,
            DType::BF16 => 3,
            DType::F64 => 4,
            DType::I8 => 5,
            DType::U8 => 6,
            DType::I16 => 7,
            DType::U16 => 8,
            DType::I32 => 9,
            DType::U32 => 10,
            DType::I64 => 11,
            DType::U64 => 12,
            DType::Bool => 13,
            DType::F8E4M3FN => 14,
            DType::F8E4M3FNUZ => 15,
            DType::F8E5M2 => 16,
            DType::F8E5M2FNUZ => 17,
            DType::I4 => 18,
            DType::U4 => 19,
        }
    }

    /// The inverse of [`DType::code`]; `None` for codes this version does not know.
    pub fn from_code(code: u32) -> Option<DType> {
        DType::ALL.into_iter().find(|d| d.code() == code)
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Name, dtype and static shape of one model input or output.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TensorSpec {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<u64>,
}

impl TensorSpec {
    /// Product of the dims (1 for a scalar). Saturates at `u64::MAX`; a parsed artifact never
    /// holds a spec where that happens (see [`TensorSpec::checked_byte_len`]).
    pub fn num_elements(&self) -> u64 {
        self.checked_num_elements().unwrap_or(u64::MAX)
    }

    /// Size of the tensor's data in bytes. Saturates like [`TensorSpec::num_elements`].
    pub fn byte_len(&self) -> u64 {
        self.checked_byte_len().unwrap_or(u64::MAX)
    }

    /// Product of the dims, or `None` on overflow.
    pub fn checked_num_elements(&self) -> Option<u64> {
        self.shape
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
    }

    /// Size in bytes, or `None` on overflow.
    pub fn checked_byte_len(&self) -> Option<u64> {
        self.checked_num_elements()?
            .checked_mul(self.dtype.size_bytes() as u64)
    }

    /// The type as users write it: `float32[1,3,224,224]` (`float32[]` for a scalar).
    pub fn type_string(&self) -> String {
        format_type(self.dtype, &self.shape)
    }
}

impl fmt::Display for TensorSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.type_string())
    }
}

/// Formats a dtype and shape as `float32[1,3,224,224]`; used by error messages in both the
/// artifact crate and the runtime so they read the same.
pub fn format_type(dtype: DType, shape: &[u64]) -> String {
    let dims: Vec<String> = shape.iter().map(u64::to_string).collect();
    format!("{}[{}]", dtype.name(), dims.join(","))
}

/// Instruction-set family the code was generated for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arch {
    X86_64,
    Aarch64,
    /// NVIDIA GPUs; the code blobs are PTX (or cubin), run by the CUDA executor.
    Nvptx,
}

impl Arch {
    /// Every arch, in code order.
    pub const ALL: [Arch; 3] = [Arch::X86_64, Arch::Aarch64, Arch::Nvptx];

    /// Lower-case name as in target triples: `"x86_64"`, `"aarch64"`, `"nvptx64"`.
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
            Arch::Nvptx => "nvptx64",
        }
    }

    /// The stable code stored in the file (1-based).
    pub fn code(self) -> u32 {
        match self {
            Arch::X86_64 => 1,
            Arch::Aarch64 => 2,
            Arch::Nvptx => 3,
        }
    }

    /// The inverse of [`Arch::code`].
    pub fn from_code(code: u32) -> Option<Arch> {
        Arch::ALL.into_iter().find(|a| a.code() == code)
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The target an artifact was compiled for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TargetInfo {
    /// The `--target` name the user gave, e.g. `"x86_64-avx512"`.
    pub name: String,
    pub arch: Arch,
    /// LLVM target triple, e.g. `"x86_64-unknown-linux-gnu"`.
    pub triple: String,
}

/// One compiled version of all the plan's kernels, for one level of CPU features.
///
/// An artifact lists its variants best first; the runtime takes the first one whose
/// `required_features` the host has. Every variant exports every [`KernelInfo::symbol`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CodeVariant {
    /// Short name, e.g. `"avx512"`, `"avx2"`, `"generic"`.
    pub name: String,
    /// LLVM CPU name the code was tuned for, e.g. `"x86-64-v4"`.
    pub cpu: String,
    /// Feature names as `std::arch::is_x86_feature_detected!` spells them (`"avx2"`,
    /// `"fma"`, `"avx512f"`, ...). A runtime treats names it does not know as missing.
    pub required_features: Vec<String>,
    /// A position-independent ELF shared object for CPU targets; PTX for NVPTX.
    pub code: Vec<u8>,
}

/// Where one kernel argument points. Lengths are in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BufferRef {
    /// The model input at this index of [`Artifact::inputs`]; read only.
    Input(u32),
    /// The model output at this index of [`Artifact::outputs`]; written by kernels.
    Output(u32),
    /// A range of the per-context scratch arena (64-aligned base).
    Arena { offset: u64, len: u64 },
    /// A range of the weights blob; read only. `offset` is a multiple of 64.
    Weight { offset: u64, len: u64 },
}

/// One kernel call.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Step {
    /// Index into [`Plan::kernels`].
    pub kernel: u32,
    /// One pointer per kernel parameter, in order.
    pub args: Vec<BufferRef>,
    /// Source node names this step computes, for profiling and `neoc inspect`.
    pub label: String,
}

/// A kernel exported by every code variant.
///
/// Kernel ABI (C): `void symbol(void **args, int64_t task, int64_t ntasks)`, where
/// `args[i]` points at the buffer of the step's i-th argument. Task `t` of `ntasks`
/// computes its share of the kernel's work; `task = 0, ntasks = 1` computes all of it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KernelInfo {
    pub symbol: String,
    /// Byte length of the buffer each argument must point at.
    pub params: Vec<u64>,
    /// The kernel may be called concurrently with `ntasks > 1`, once per `task`: its
    /// tasks write disjoint memory and together do the whole work. When false it must be
    /// called once with `ntasks = 1`.
    pub parallel: bool,
}

/// The static execution plan: kernel calls in order over inputs, outputs, arena and
/// weights.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Plan {
    /// Bytes of scratch memory one execution context needs.
    pub arena_size: u64,
    pub kernels: Vec<KernelInfo>,
    pub steps: Vec<Step>,
}
