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
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
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
    /// `std::arch::is_x86_feature_detected!` spells them.
    pub required_features: &'static [&'static str],
    /// Width of the widest float vector register, in bits.
    pub vector_bits: u32,
    /// How many of those registers the ISA level has (register tiles are sized to them).
    pub vector_registers: u32,
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

const V3_FEATURES: &[&str] = &[
    "avx", "avx2", "fma", "f16c", "bmi1", "bmi2", "lzcnt", "movbe",
];
const V4_FEATURES: &[&str] = &[
    "avx", "avx2", "fma", "f16c", "bmi1", "bmi2", "lzcnt", "movbe", "avx512f", "avx512bw",
    "avx512cd", "avx512dq", "avx512vl",
];

/// x86-64-v4: AVX-512 (F, BW, CD, DQ, VL) on top of v3.
pub const X86_AVX512: CpuLevel = CpuLevel {
    name: "avx512",
    llvm_cpu: "x86-64-v4",
    llvm_features: "+prefer-no-gather,-prefer-256-bit",
    required_features: V4_FEATURES,
    vector_bits: 512,
    vector_registers: 32,
};

/// x86-64-v3: AVX2 with FMA (Haswell, Zen and later).
pub const X86_AVX2: CpuLevel = CpuLevel {
    name: "avx2",
    llvm_cpu: "x86-64-v3",
    llvm_features: "",
    required_features: V3_FEATURES,
    vector_bits: 256,
    vector_registers: 16,
};

const X86_TRIPLE: &str = "x86_64-unknown-linux-gnu";

/// Every target this build of neoc accepts, in the order `neoc targets` lists them.
pub fn all() -> Vec<Target> {
    vec![
        Target {
            name: "x86_64",
            description: "any x86-64 CPU with AVX2+FMA; carries an AVX-512 variant too and \
                          the runtime picks the best one the CPU has",
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
    #[cfg(not(target_arch = "x86_64"))]
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
}
