//! Target descriptions: what `--target NAME` means.
//!
//! A [`Target`] names an architecture and one or more CPU *levels*. The compiler emits one
//! code variant per level into the same artifact, best first; the runtime picks the
//! first level whose CPU features the running machine has. Everything target-specific
//! that is not LLVM (names, features, vector widths) lives here so that the CLI, the
//! lowering schedules and the backends agree.

use std::fmt;

/// The instruction-set architecture a target generates code for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    X86_64,
    Aarch64,
    /// NVIDIA GPUs: the code is PTX text for one compute capability (`docs/cuda.md`).
    Nvptx64,
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
            Arch::Nvptx64 => "nvptx64",
        })
    }
}

/// One CPU level: the code variant built for it and what it needs at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuLevel {
    /// Short name shown by `neoc inspect`, e.g. `avx512`.
    pub name: &'static str,
    /// The LLVM CPU name code is tuned and restricted to, e.g. `x86-64-v4`.
    pub llvm_cpu: &'static str,
    /// Extra LLVM target features (comma-separated `+feat`), may be empty.
    pub llvm_features: &'static str,
    /// CPU features the running machine must have, spelled as
    /// `std::arch::is_x86_feature_detected!` (or `is_aarch64_feature_detected!`) spells
    /// them. On AArch64 this lists every extension the LLVM CPU lets the code generator
    /// use, so a core without one is refused at load time instead of trapping (SIGILL).
    pub required_features: &'static [&'static str],
    /// Width of the widest float vector register, in bits.
    pub vector_bits: u32,
    /// How many of those registers the ISA level has (register tiles are sized to them).
    pub vector_registers: u32,
    /// How many parallel iterations a kernel's schedule should offer: a few dozen for
    /// the cores of a CPU (cache blocks stay large), tens of thousands for a GPU's threads.
    pub parallel_iterations: u32,
}

impl CpuLevel {
    /// Whether code for this level has a one-instruction int8 dot product: x86
    /// `vpdpbusd` (AVX-512 VNNI, AVX-VNNI), AArch64 `sdot`/`udot` (dotprod) or `usdot`
    /// (i8mm). Without one the int8 kernels widen bytes to 16 bits (about half as fast).
    pub fn has_byte_dot(&self) -> bool {
        ["avx512vnni", "avxvnni", "dotprod", "i8mm"]
            .iter()
            .any(|f| self.required_features.contains(f))
    }

    /// Whether this level's byte dot product multiplies signed bytes only: AArch64
    /// `sdot` without i8mm's mixed-sign `usdot`. The int8 kernels then present their
    /// unsigned activations as i8 (`x ^ 0x80`, the zero point shifted alike) so that
    /// every step is one `sdot` (docs/quantization.md).
    pub fn signed_byte_dot(&self) -> bool {
        self.required_features.contains(&"dotprod") && !self.required_features.contains(&"i8mm")
    }
}

/// A compilation target, chosen by name with [`lookup`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub name: &'static str,
    pub description: &'static str,
    pub arch: Arch,
    /// The LLVM target triple.
    pub triple: &'static str,
    /// Code variants to build, best first.
    pub levels: Vec<CpuLevel>,
}

/// Parallel iterations CPU schedules aim for: enough for 2–8 threads to finish within
/// about one small block of each other.
pub const CPU_PARALLEL_ITERATIONS: u32 = 24;

const V3_FEATURES: &[&str] = &[
    "avx", "avx2", "fma", "f16c", "bmi1", "bmi2", "lzcnt", "movbe",
];
const V4_FEATURES: &[&str] = &[
    "avx", "avx2", "fma", "f16c", "bmi1", "bmi2", "lzcnt", "movbe", "avx512f", "avx512bw",
    "avx512cd", "avx512dq", "avx512vl",
];

const V4_VNNI_FEATURES: &[&str] = &[
    "avx",
    "avx2",
    "fma",
    "f16c",
    "bmi1",
    "bmi2",
    "lzcnt",
    "movbe",
    "avx512f",
    "avx512bw",
    "avx512cd",
    "avx512dq",
    "avx512vl",
    "avx512vnni",
];

const V3_AVX_VNNI_FEATURES: &[&str] = &[
    "avx", "avx2", "fma", "f16c", "bmi1", "bmi2", "lzcnt", "movbe", "avxvnni",
];

/// x86-64-v4: AVX-512 (F, BW, CD, DQ, VL) on top of v3.
pub const X86_AVX512: CpuLevel = CpuLevel {
    name: "avx512",
    llvm_cpu: "x86-64-v4",
    llvm_features: "+prefer-no-gather,-prefer-256-bit",
    required_features: V4_FEATURES,
    vector_bits: 512,
    vector_registers: 32,
    parallel_iterations: CPU_PARALLEL_ITERATIONS,
};

/// x86-64-v4 plus AVX-512 VNNI (Cascade Lake, Ice Lake, Sapphire Rapids, Zen 4): the int8
/// dot product `vpdpbusd` (docs/quantization.md).
pub const X86_AVX512_VNNI: CpuLevel = CpuLevel {
    name: "avx512-vnni",
    llvm_cpu: "x86-64-v4",
    llvm_features: "+avx512vnni,+prefer-no-gather,-prefer-256-bit",
    required_features: V4_VNNI_FEATURES,
    vector_bits: 512,
    vector_registers: 32,
    parallel_iterations: CPU_PARALLEL_ITERATIONS,
};

/// x86-64-v3: AVX2 with FMA (Haswell, Zen and later).
pub const X86_AVX2: CpuLevel = CpuLevel {
    name: "avx2",
    llvm_cpu: "x86-64-v3",
    llvm_features: "",
    required_features: V3_FEATURES,
    vector_bits: 256,
    vector_registers: 16,
    parallel_iterations: CPU_PARALLEL_ITERATIONS,
};

/// x86-64-v3 plus AVX-VNNI: the VEX-encoded (256-bit) `vpdpbusd` of client cores whose
/// AVX-512 is absent or fused off (Alder Lake, Raptor Lake, Meteor Lake, Arrow Lake,
/// Lunar Lake) and of Sierra Forest's E-cores. int8 kernels only gain from it
/// (docs/quantization.md); float code is the `avx2` level's.
pub const X86_AVX2_VNNI: CpuLevel = CpuLevel {
    name: "avx2-vnni",
    llvm_cpu: "x86-64-v3",
    llvm_features: "+avxvnni",
    required_features: V3_AVX_VNNI_FEATURES,
    vector_bits: 256,
    vector_registers: 16,
    parallel_iterations: CPU_PARALLEL_ITERATIONS,
};

const X86_TRIPLE: &str = "x86_64-unknown-linux-gnu";
const AARCH64_TRIPLE: &str = "aarch64-unknown-linux-gnu";

/// ARMv8.2-A as Cortex-A76 / Neoverse N1 implement it: half-precision arithmetic, the
/// int8 dot product (`sdot`/`udot`), LSE atomics, rounding doubling multiply.
const V8_2_FEATURES: &[&str] = &["neon", "fp16", "dotprod", "lse", "rdm"];
/// ARMv8.4-A+ as Neoverse V1 implements it: v8.2 plus FP16 multiply-accumulate long,
/// BFloat16 and the int8 matrix multiply (`smmla`).
const V8_4_FEATURES: &[&str] = &[
    "neon", "fp16", "dotprod", "lse", "rdm", "fhm", "bf16", "i8mm",
];

/// ARMv8.0-A with NEON (Advanced SIMD), which every AArch64 Linux machine has: 32
/// registers of 128 bits. Tuned for no particular core.
pub const AARCH64_NEON: CpuLevel = CpuLevel {
    name: "neon",
    llvm_cpu: "generic",
    llvm_features: "+neon",
    required_features: &["neon"],
    vector_bits: 128,
    vector_registers: 32,
    parallel_iterations: CPU_PARALLEL_ITERATIONS,
};

/// Cortex-A72 (Raspberry Pi 4): ARMv8.0-A. The Pi 4's BCM2711 has no crypto extension,
/// so it is switched off (kernels never use it anyway).
pub const AARCH64_CORTEX_A72: CpuLevel = CpuLevel {
    name: "cortex-a72",
    llvm_cpu: "cortex-a72",
    llvm_features: "+neon,-aes,-sha2,-crypto",
    required_features: &["neon"],
    vector_bits: 128,
    vector_registers: 32,
    parallel_iterations: CPU_PARALLEL_ITERATIONS,
};

/// Cortex-A76 (Raspberry Pi 5, many phones and boards): ARMv8.2-A with dot product.
pub const AARCH64_CORTEX_A76: CpuLevel = CpuLevel {
    name: "cortex-a76",
    llvm_cpu: "cortex-a76",
    llvm_features: "+neon,-aes,-sha2,-crypto",
    required_features: V8_2_FEATURES,
    vector_bits: 128,
    vector_registers: 32,
    parallel_iterations: CPU_PARALLEL_ITERATIONS,
};

/// Neoverse N1 (AWS Graviton2, Ampere Altra): ARMv8.2-A with dot product.
pub const AARCH64_NEOVERSE_N1: CpuLevel = CpuLevel {
    name: "neoverse-n1",
    llvm_cpu: "neoverse-n1",
    llvm_features: "+neon",
    required_features: V8_2_FEATURES,
    vector_bits: 128,
    vector_registers: 32,
    parallel_iterations: CPU_PARALLEL_ITERATIONS,
};

/// Neoverse V1 (AWS Graviton3): ARMv8.4-A with bf16 and i8mm. SVE is switched off so
/// the code runs on any core with these NEON extensions (SVE is not required).
pub const AARCH64_NEOVERSE_V1: CpuLevel = CpuLevel {
    name: "neoverse-v1",
    llvm_cpu: "neoverse-v1",
    llvm_features: "+neon,-sve,-sve2",
    required_features: V8_4_FEATURES,
    vector_bits: 128,
    vector_registers: 32,
    parallel_iterations: CPU_PARALLEL_ITERATIONS,
};

const NVPTX_TRIPLE: &str = "nvptx64-nvidia-cuda";

/// One CUDA compute capability as a code level. `llvm_cpu` is LLVM's `sm_NN`,
/// `llvm_features` the PTX ISA version (the oldest that LLVM accepts for that `sm`, so the
/// PTX loads on the oldest driver possible), and `required_features` holds the single
/// name `sm_NN`: the CUDA executor reads it as "compute capability N.N or newer" (the
/// driver JIT-compiles PTX for newer GPUs). GPU schedules size per-thread register tiles
/// from `vector_bits`/`vector_registers`: small, since a GPU thread has few registers and
/// the parallelism comes from threads, not lanes.
const fn cuda_level(
    name: &'static str,
    ptx: &'static str,
    req: &'static [&'static str],
) -> CpuLevel {
    CpuLevel {
        name,
        llvm_cpu: name,
        llvm_features: ptx,
        required_features: req,
        vector_bits: 128,
        vector_registers: 8,
        parallel_iterations: 1 << 16,
    }
}

pub const CUDA_SM70: CpuLevel = cuda_level("sm_70", "+ptx63", &["sm_70"]);
pub const CUDA_SM75: CpuLevel = cuda_level("sm_75", "+ptx63", &["sm_75"]);
pub const CUDA_SM80: CpuLevel = cuda_level("sm_80", "+ptx70", &["sm_80"]);
pub const CUDA_SM86: CpuLevel = cuda_level("sm_86", "+ptx71", &["sm_86"]);
pub const CUDA_SM89: CpuLevel = cuda_level("sm_89", "+ptx78", &["sm_89"]);
pub const CUDA_SM90: CpuLevel = cuda_level("sm_90", "+ptx78", &["sm_90"]);

/// The CUDA targets: name, description, level.
fn cuda_targets() -> Vec<Target> {
    [
        (
            "cuda-sm70",
            "NVIDIA Volta (compute capability 7.0): V100, Titan V",
            CUDA_SM70,
        ),
        (
            "cuda-sm75",
            "NVIDIA Turing (7.5): T4, RTX 20xx, Quadro RTX",
            CUDA_SM75,
        ),
        (
            "cuda-sm80",
            "NVIDIA Ampere data center (8.0): A100, A30",
            CUDA_SM80,
        ),
        (
            "cuda-sm86",
            "NVIDIA Ampere (8.6): RTX 30xx, A10, A40, RTX A6000",
            CUDA_SM86,
        ),
        (
            "cuda-sm89",
            "NVIDIA Ada (8.9): L4, L40, RTX 40xx",
            CUDA_SM89,
        ),
        (
            "cuda-sm90",
            "NVIDIA Hopper (9.0): H100, H200, GH200",
            CUDA_SM90,
        ),
    ]
    .into_iter()
    .map(|(name, description, level)| Target {
        name,
        description,
        arch: Arch::Nvptx64,
        triple: NVPTX_TRIPLE,
        levels: vec![level],
    })
    .collect()
}

/// Every target this build of neoc accepts, in the order `neoc targets` lists them.
pub fn all() -> Vec<Target> {
    let mut targets = cpu_targets();
    targets.extend(cuda_targets());
    targets
}

fn cpu_targets() -> Vec<Target> {
    vec![
        Target {
            name: "x86_64",
            description: "any x86-64 CPU with AVX2+FMA; carries an AVX-512 variant too (and \
                          AVX-512 VNNI / AVX-VNNI ones for int8 models) and the runtime \
                          picks the best one the CPU has",
            arch: Arch::X86_64,
            triple: X86_TRIPLE,
            levels: vec![X86_AVX512, X86_AVX2],
        },
        Target {
            name: "x86_64-avx2",
            description: "x86-64-v3 only (AVX2, FMA, F16C, BMI1/2): Haswell, Zen 1 and newer",
            arch: Arch::X86_64,
            triple: X86_TRIPLE,
            levels: vec![X86_AVX2],
        },
        Target {
            name: "x86_64-avx512",
            description: "x86-64-v4 only (AVX-512 F/BW/CD/DQ/VL): Skylake-SP, Ice Lake, Zen 4 \
                          and newer",
            arch: Arch::X86_64,
            triple: X86_TRIPLE,
            levels: vec![X86_AVX512],
        },
        Target {
            name: "x86_64-avx512-vnni",
            description: "x86-64-v4 with AVX-512 VNNI (int8 dot products): Cascade Lake, \
                          Ice Lake, Sapphire Rapids, Zen 4 and newer",
            arch: Arch::X86_64,
            triple: X86_TRIPLE,
            levels: vec![X86_AVX512_VNNI],
        },
        Target {
            name: "x86_64-avx2-vnni",
            description: "x86-64-v3 with AVX-VNNI (256-bit int8 dot products, no AVX-512): \
                          Alder Lake, Raptor Lake, Meteor Lake, Arrow Lake, Lunar Lake, \
                          Sierra Forest",
            arch: Arch::X86_64,
            triple: X86_TRIPLE,
            levels: vec![X86_AVX2_VNNI],
        },
        Target {
            name: "aarch64",
            description: "any AArch64 (ARMv8.0-A) Linux machine: NEON, no newer extension \
                          (Raspberry Pi 3/4, Cortex-A53/A55/A72, every Arm server)",
            arch: Arch::Aarch64,
            triple: AARCH64_TRIPLE,
            levels: vec![AARCH64_NEON],
        },
        Target {
            name: "aarch64-cortex-a72",
            description: "tuned for Cortex-A72 (Raspberry Pi 4); ARMv8.0-A + NEON",
            arch: Arch::Aarch64,
            triple: AARCH64_TRIPLE,
            levels: vec![AARCH64_CORTEX_A72],
        },
        Target {
            name: "aarch64-cortex-a76",
            description: "Cortex-A76 (Raspberry Pi 5); ARMv8.2-A: fp16, dotprod (int8 dot \
                          product), lse, rdm",
            arch: Arch::Aarch64,
            triple: AARCH64_TRIPLE,
            levels: vec![AARCH64_CORTEX_A76],
        },
        Target {
            name: "aarch64-neoverse-n1",
            description: "Neoverse N1 (AWS Graviton2, Ampere Altra); ARMv8.2-A: fp16, \
                          dotprod (int8 dot product), lse, rdm",
            arch: Arch::Aarch64,
            triple: AARCH64_TRIPLE,
            levels: vec![AARCH64_NEOVERSE_N1],
        },
        Target {
            name: "aarch64-neoverse-v1",
            description: "Neoverse V1 (AWS Graviton3); ARMv8.4-A: fp16, fhm, dotprod, bf16, \
                          i8mm; NEON code, SVE not required",
            arch: Arch::Aarch64,
            triple: AARCH64_TRIPLE,
            levels: vec![AARCH64_NEOVERSE_V1],
        },
    ]
}

/// Other spellings accepted for a target name.
const ALIASES: &[(&str, &str)] = &[
    ("x86-64", "x86_64"),
    ("x86_64-v3", "x86_64-avx2"),
    ("x86-64-v3", "x86_64-avx2"),
    ("x86_64-v4", "x86_64-avx512"),
    ("x86-64-v4", "x86_64-avx512"),
    ("avx2", "x86_64-avx2"),
    ("avx512", "x86_64-avx512"),
    ("x86_64-avx-vnni", "x86_64-avx2-vnni"),
    ("avx-vnni", "x86_64-avx2-vnni"),
    ("arm64", "aarch64"),
    ("aarch64-neon", "aarch64"),
    ("raspberrypi4", "aarch64-cortex-a72"),
    ("rpi4", "aarch64-cortex-a72"),
    ("raspberrypi5", "aarch64-cortex-a76"),
    ("rpi5", "aarch64-cortex-a76"),
    ("graviton2", "aarch64-neoverse-n1"),
    ("graviton3", "aarch64-neoverse-v1"),
    ("cuda", "cuda-sm70"),
    ("v100", "cuda-sm70"),
    ("sm_70", "cuda-sm70"),
    ("t4", "cuda-sm75"),
    ("rtx2080", "cuda-sm75"),
    ("sm_75", "cuda-sm75"),
    ("a100", "cuda-sm80"),
    ("sm_80", "cuda-sm80"),
    ("a10", "cuda-sm86"),
    ("rtx3090", "cuda-sm86"),
    ("sm_86", "cuda-sm86"),
    ("l4", "cuda-sm89"),
    ("l40", "cuda-sm89"),
    ("rtx4090", "cuda-sm89"),
    ("sm_89", "cuda-sm89"),
    ("h100", "cuda-sm90"),
    ("h200", "cuda-sm90"),
    ("sm_90", "cuda-sm90"),
];

/// A `--target` name that this build does not know. Bad user input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown target `{name}`; known targets: {known} (run `neoc targets` for details)")]
pub struct UnknownTarget {
    pub name: String,
    pub known: String,
}

/// Finds a target by name or alias; `host` means the target matching this machine.
pub fn lookup(name: &str) -> Result<Target, UnknownTarget> {
    let canonical = if name == "host" {
        host_target_name()
    } else {
        ALIASES
            .iter()
            .find(|(alias, _)| *alias == name)
            .map_or(name, |(_, t)| *t)
    };
    all()
        .into_iter()
        .find(|t| t.name == canonical)
        .ok_or_else(|| UnknownTarget {
            name: name.to_string(),
            known: all().iter().map(|t| t.name).collect::<Vec<_>>().join(", "),
        })
}

/// Aliases of a target, for listings.
pub fn aliases_of(target: &str) -> Vec<&'static str> {
    ALIASES
        .iter()
        .filter(|(_, t)| *t == target)
        .map(|(a, _)| *a)
        .collect()
}

/// The best single-level target for the machine running this code.
pub fn host_target_name() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if X86_AVX512.required_features.iter().all(|f| x86_has(f)) {
            return "x86_64-avx512";
        }
        "x86_64-avx2"
    }
    #[cfg(target_arch = "aarch64")]
    {
        "aarch64"
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        "x86_64"
    }
}

#[cfg(target_arch = "x86_64")]
fn x86_has(feature: &str) -> bool {
    match feature {
        "avx" => std::arch::is_x86_feature_detected!("avx"),
        "avx2" => std::arch::is_x86_feature_detected!("avx2"),
        "fma" => std::arch::is_x86_feature_detected!("fma"),
        "f16c" => std::arch::is_x86_feature_detected!("f16c"),
        "bmi1" => std::arch::is_x86_feature_detected!("bmi1"),
        "bmi2" => std::arch::is_x86_feature_detected!("bmi2"),
        "lzcnt" => std::arch::is_x86_feature_detected!("lzcnt"),
        "movbe" => std::arch::is_x86_feature_detected!("movbe"),
        "avx512f" => std::arch::is_x86_feature_detected!("avx512f"),
        "avx512bw" => std::arch::is_x86_feature_detected!("avx512bw"),
        "avx512cd" => std::arch::is_x86_feature_detected!("avx512cd"),
        "avx512dq" => std::arch::is_x86_feature_detected!("avx512dq"),
        "avx512vl" => std::arch::is_x86_feature_detected!("avx512vl"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_aliases_resolve() {
        assert_eq!(lookup("x86_64").unwrap().levels.len(), 2);
        assert_eq!(lookup("x86-64-v3").unwrap().name, "x86_64-avx2");
        assert!(lookup("host").is_ok());
        let err = lookup("mips").unwrap_err();
        assert!(err.to_string().contains("x86_64-avx512"), "{err}");
    }

    #[test]
    fn levels_are_best_first() {
        for t in all() {
            let bits: Vec<u32> = t.levels.iter().map(|l| l.vector_bits).collect();
            let mut sorted = bits.clone();
            sorted.sort_by(|a, b| b.cmp(a));
            assert_eq!(bits, sorted, "{}", t.name);
        }
    }

    #[test]
    fn aarch64_profiles() {
        let base = lookup("aarch64").unwrap();
        assert_eq!(base.arch, Arch::Aarch64);
        assert_eq!(base.triple, "aarch64-unknown-linux-gnu");
        assert_eq!(base.levels[0].required_features, &["neon"]);
        assert_eq!(lookup("graviton2").unwrap().name, "aarch64-neoverse-n1");
        assert_eq!(lookup("rpi4").unwrap().name, "aarch64-cortex-a72");
        for name in [
            "aarch64-cortex-a76",
            "aarch64-neoverse-n1",
            "aarch64-neoverse-v1",
        ] {
            let t = lookup(name).unwrap();
            assert!(t.levels[0].required_features.contains(&"dotprod"), "{name}");
        }
        let v1 = lookup("aarch64-neoverse-v1").unwrap();
        assert!(!v1.levels[0].required_features.contains(&"sve"));
        // Dot products: sdot only on v8.2 cores, usdot (u8 × i8) with i8mm.
        let names = [
            "aarch64",
            "aarch64-cortex-a76",
            "aarch64-neoverse-n1",
            "aarch64-neoverse-v1",
        ];
        let signed: Vec<bool> = names
            .iter()
            .map(|n| lookup(n).unwrap().levels[0].signed_byte_dot())
            .collect();
        assert_eq!(signed, [false, true, true, false]);
        assert!(!lookup("aarch64").unwrap().levels[0].has_byte_dot());
        assert!(v1.levels[0].has_byte_dot());
        for t in all().iter().filter(|t| t.arch == Arch::Aarch64) {
            // NEON: 32 registers of 128 bits (the GEMM tiles are sized for them).
            assert_eq!(
                (t.levels[0].vector_bits, t.levels[0].vector_registers),
                (128, 32)
            );
        }
    }

    #[test]
    fn avx_vnni_level() {
        let t = lookup("x86_64-avx-vnni").unwrap();
        assert_eq!(t.name, "x86_64-avx2-vnni");
        let l = &t.levels[0];
        assert_eq!(
            (l.llvm_cpu, l.vector_bits, l.vector_registers),
            ("x86-64-v3", 256, 16)
        );
        assert!(l.required_features.contains(&"avxvnni") && l.has_byte_dot());
        assert!(!l.signed_byte_dot());
        assert!(!X86_AVX2.has_byte_dot() && !X86_AVX512.has_byte_dot());
        assert!(X86_AVX512_VNNI.has_byte_dot());
    }

    #[test]
    fn cuda_targets_and_aliases() {
        let names: Vec<&str> = all()
            .iter()
            .filter(|t| t.arch == Arch::Nvptx64)
            .map(|t| t.name)
            .collect();
        assert_eq!(
            names,
            [
                "cuda-sm70",
                "cuda-sm75",
                "cuda-sm80",
                "cuda-sm86",
                "cuda-sm89",
                "cuda-sm90"
            ]
        );
        for (alias, target) in [
            ("h100", "cuda-sm90"),
            ("h200", "cuda-sm90"),
            ("a100", "cuda-sm80"),
            ("l4", "cuda-sm89"),
            ("t4", "cuda-sm75"),
            ("v100", "cuda-sm70"),
            ("rtx4090", "cuda-sm89"),
        ] {
            assert_eq!(lookup(alias).unwrap().name, target, "{alias}");
        }
        let h100 = lookup("h100").unwrap();
        assert_eq!(h100.triple, "nvptx64-nvidia-cuda");
        assert_eq!(h100.levels[0].llvm_cpu, "sm_90");
        assert_eq!(h100.levels[0].required_features, &["sm_90"]);
    }
}
