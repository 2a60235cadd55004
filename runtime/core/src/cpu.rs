//! Host CPU features and the choice of code variant.
//!
//! Feature names are those `std::arch::is_x86_feature_detected!` (or
//! `is_aarch64_feature_detected!`) accepts; a name this table does not know counts as
//! missing, so an artifact from a newer compiler asking for a feature this runtime cannot
//! detect is refused rather than run on a CPU that may lack it.
//!
//! On AArch64 Linux the features come from the kernel's hardware capabilities
//! (`getauxval(AT_HWCAP)`, `getauxval(AT_HWCAP2)`), decoded by [`aarch64_hwcap_features`]:
//! that is what the kernel promises user space can execute (and what `qemu-aarch64 -cpu`
//! reports for the emulated core), so an artifact for a newer core is refused with a
//! message naming the missing extensions instead of dying of SIGILL in its first kernel.
//! The decoding is plain code, compiled and tested on every host.
//!
//! `NEOC_CPU_FEATURES_MASK=avx512f,avx512bw` makes the runtime treat the listed features
//! as absent (to test fallbacks, or to force a smaller variant).

use neoc_artifact::Arch;

/// Environment variable listing features (comma-separated) to treat as missing.
pub const CPU_FEATURES_MASK_ENV: &str = "NEOC_CPU_FEATURES_MASK";

#[cfg(target_arch = "x86_64")]
macro_rules! feature_table {
    ($detect:ident; $($name:tt),* $(,)?; by cpuid: $($cname:tt => $cfn:ident),* $(,)?) => {
        /// Every feature name this runtime can detect on this architecture.
        pub(crate) const KNOWN: &[&str] = &[$($name,)* $($cname),*];

        fn detect(name: &str) -> bool {
            match name {
                $($name => std::arch::$detect!($name),)*
                $($cname => $cfn(),)*
                _ => false,
            }
        }
    };
}

#[cfg(target_arch = "x86_64")]
feature_table!(is_x86_feature_detected;
    "sse", "sse2", "sse3", "ssse3", "sse4.1", "sse4.2", "sse4a", "popcnt", "avx", "avx2",
    "fma", "f16c", "bmi1", "bmi2", "lzcnt", "movbe", "adx", "aes", "pclmulqdq", "sha",
    "avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl", "avx512ifma", "avx512vbmi",
    "avx512vbmi2", "avx512vnni", "avx512bitalg", "avx512vpopcntdq", "gfni", "vaes",
    "vpclmulqdq";
    by cpuid: "avxvnni" => avx_vnni,
);

/// AVX-VNNI (the VEX-encoded `vpdpbusd`; CPUID leaf 7 sub-leaf 1, EAX bit 4), usable
/// when AVX is (the OS saves the ymm state). Read from CPUID here because
/// `is_x86_feature_detected!("avxvnni")` needs a newer Rust than this crate's minimum.
#[cfg(target_arch = "x86_64")]
fn avx_vnni() -> bool {
    use std::arch::x86_64::{__cpuid, __cpuid_count};
    // SAFETY: every x86-64 CPU has CPUID; leaf 7 is read only when the highest basic
    // leaf (leaf 0's EAX) includes it. Newer std declares both safe, hence the allow.
    #[allow(unused_unsafe)]
    let leaf7_1 = unsafe {
        if __cpuid(0).eax < 7 {
            return false;
        }
        __cpuid_count(7, 1).eax
    };
    leaf7_1 & (1 << 4) != 0 && std::arch::is_x86_feature_detected!("avx")
}

/// AArch64 feature names and the `AT_HWCAP` / `AT_HWCAP2` bits that must all be set for
/// each (Linux `arch/arm64/include/uapi/asm/hwcap.h`).
const AARCH64_HWCAPS: &[(&str, u64, u64)] = &[
    // (name, HWCAP bits, HWCAP2 bits)
    ("neon", 1 << 0 | 1 << 1, 0),  // FP, ASIMD
    ("aes", 1 << 3 | 1 << 4, 0),   // AES, PMULL
    ("sha2", 1 << 5 | 1 << 6, 0),  // SHA1, SHA2
    ("crc", 1 << 7, 0),            // CRC32
    ("lse", 1 << 8, 0),            // ATOMICS
    ("fp16", 1 << 9 | 1 << 10, 0), // FPHP, ASIMDHP
    ("rdm", 1 << 12, 0),           // ASIMDRDM
    ("rcpc", 1 << 15, 0),          // LRCPC
    ("dotprod", 1 << 20, 0),       // ASIMDDP
    ("sve", 1 << 22, 0),           // SVE
    ("fhm", 1 << 23, 0),           // ASIMDFHM
    ("sve2", 0, 1 << 1),           // HWCAP2_SVE2
    ("i8mm", 0, 1 << 13),          // HWCAP2_I8MM
    ("bf16", 0, 1 << 14),          // HWCAP2_BF16
];

/// The AArch64 features present according to the kernel's `AT_HWCAP` and `AT_HWCAP2`
/// words, in `AARCH64_HWCAPS` order.
pub fn aarch64_hwcap_features(hwcap: u64, hwcap2: u64) -> Vec<&'static str> {
    AARCH64_HWCAPS
        .iter()
        .filter(|(_, h1, h2)| hwcap & h1 == *h1 && hwcap2 & h2 == *h2)
        .map(|(name, _, _)| *name)
        .collect()
}

#[cfg(target_arch = "aarch64")]
pub(crate) const KNOWN: &[&str] = &[
    "neon", "aes", "sha2", "crc", "lse", "fp16", "rdm", "rcpc", "dotprod", "sve", "fhm", "sve2",
    "i8mm", "bf16",
];

#[cfg(all(target_arch = "aarch64", target_os = "linux"))]
fn detect(name: &str) -> bool {
    // SAFETY: getauxval only reads the process's auxiliary vector; unknown types give 0.
    let (hwcap, hwcap2) = unsafe {
        (
            libc::getauxval(libc::AT_HWCAP),
            libc::getauxval(libc::AT_HWCAP2),
        )
    };
    aarch64_hwcap_features(hwcap, hwcap2).contains(&name)
}

#[cfg(all(target_arch = "aarch64", not(target_os = "linux")))]
fn detect(name: &str) -> bool {
    match name {
        "neon" => std::arch::is_aarch64_feature_detected!("neon"),
        "fp16" => std::arch::is_aarch64_feature_detected!("fp16"),
        "dotprod" => std::arch::is_aarch64_feature_detected!("dotprod"),
        "lse" => std::arch::is_aarch64_feature_detected!("lse"),
        "rdm" => std::arch::is_aarch64_feature_detected!("rdm"),
        "fhm" => std::arch::is_aarch64_feature_detected!("fhm"),
        "bf16" => std::arch::is_aarch64_feature_detected!("bf16"),
        "i8mm" => std::arch::is_aarch64_feature_detected!("i8mm"),
        _ => false,
    }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub(crate) const KNOWN: &[&str] = &[];

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn detect(_name: &str) -> bool {
    false
}

/// The architecture this runtime was built for, if it can run code for one.
pub(crate) fn host_arch() -> Option<Arch> {
    if cfg!(target_arch = "x86_64") {
        Some(Arch::X86_64)
    } else if cfg!(target_arch = "aarch64") {
        Some(Arch::Aarch64)
    } else {
        None
    }
}

/// Name of the host architecture, for messages.
pub(crate) fn host_arch_name() -> &'static str {
    std::env::consts::ARCH
}

/// The features usable on this CPU: detected, minus those masked by
/// [`CPU_FEATURES_MASK_ENV`].
#[derive(Debug, Clone)]
pub(crate) struct HostFeatures {
    present: Vec<&'static str>,
}

impl HostFeatures {
    pub fn detect() -> Self {
        let mask = std::env::var(CPU_FEATURES_MASK_ENV).unwrap_or_default();
        Self::detect_masked(&mask)
    }

    pub fn detect_masked(mask: &str) -> Self {
        let masked: Vec<&str> = mask
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        let present = KNOWN
            .iter()
            .copied()
            .filter(|f| !masked.contains(f) && detect(f))
            .collect();
        HostFeatures { present }
    }

    pub fn has(&self, feature: &str) -> bool {
        self.present.contains(&feature)
    }

    pub fn names(&self) -> &[&'static str] {
        &self.present
    }

    /// The neoc `--target` to suggest for this CPU. Mirrors the levels in `targets/spec`
    /// (the runtime does not depend on the compiler's crates).
    pub fn suggested_target(&self) -> Option<&'static str> {
        const V3: &[&str] = &[
            "avx", "avx2", "fma", "f16c", "bmi1", "bmi2", "lzcnt", "movbe",
        ];
        const V4: &[&str] = &["avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"];
        match host_arch()? {
            Arch::X86_64 if V3.iter().all(|f| self.has(f)) => {
                Some(if V4.iter().all(|f| self.has(f)) {
                    "x86_64-avx512"
                } else {
                    "x86_64-avx2"
                })
            }
            Arch::X86_64 => None,
            // Mirrors the AArch64 profiles: v8.4 extensions → Neoverse V1, v8.2 → A76/N1.
            Arch::Aarch64 => Some(
                if ["fp16", "dotprod", "lse", "rdm", "fhm", "bf16", "i8mm"]
                    .iter()
                    .all(|f| self.has(f))
                {
                    "aarch64-neoverse-v1"
                } else if ["fp16", "dotprod", "lse", "rdm"]
                    .iter()
                    .all(|f| self.has(f))
                {
                    "aarch64-neoverse-n1"
                } else {
                    "aarch64"
                },
            ),
            Arch::Nvptx => None,
        }
    }
}

/// The features a variant needs that the host lacks.
pub(crate) fn missing<'a>(required: &'a [String], host: &HostFeatures) -> Vec<&'a str> {
    required
        .iter()
        .map(String::as_str)
        .filter(|f| !host.has(f))
        .collect()
}

/// The public form of `HostFeatures::detect`: the CPU features the runtime will consider
/// present, after [`CPU_FEATURES_MASK_ENV`].
pub fn host_cpu_features() -> Vec<&'static str> {
    HostFeatures::detect().present
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_removes_features() {
        let all = HostFeatures::detect_masked("");
        let Some(&first) = all.names().first() else {
            return;
        };
        let masked = HostFeatures::detect_masked(&format!(" {first} ,nonexistent"));
        assert!(!masked.has(first));
        assert_eq!(masked.names().len() + 1, all.names().len());
    }

    /// The int8 dot-product features agree with the kernel's view (`/proc/cpuinfo` flags
    /// `avx512_vnni`, `avx_vnni`), AVX-VNNI being read from CPUID directly.
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    #[test]
    fn vnni_detection_matches_cpuinfo() {
        let Ok(info) = std::fs::read_to_string("/proc/cpuinfo") else {
            return;
        };
        let flags: Vec<&str> = info
            .lines()
            .find(|l| l.starts_with("flags"))
            .map(|l| l.split_whitespace().collect())
            .unwrap_or_default();
        let host = HostFeatures::detect_masked("");
        for (feature, flag) in [("avxvnni", "avx_vnni"), ("avx512vnni", "avx512_vnni")] {
            assert!(KNOWN.contains(&feature));
            assert_eq!(host.has(feature), flags.contains(&flag), "{feature}");
        }
    }

    #[test]
    fn unknown_features_are_missing() {
        let host = HostFeatures::detect_masked("");
        let req = vec!["neoc-test-nonexistent".to_string()];
        assert_eq!(missing(&req, &host), vec!["neoc-test-nonexistent"]);
    }

    #[test]
    fn aarch64_hwcaps_decode() {
        // Cortex-A53 as Linux reports it: fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid.
        let a53 = aarch64_hwcap_features(0b1000_1111_1111, 0);
        assert_eq!(a53, ["neon", "aes", "sha2", "crc"]);
        // Neoverse N1 adds atomics fphp asimdhp asimdrdm lrcpc asimddp (among others).
        let n1 = aarch64_hwcap_features(
            0b1000_1111_1111 | 1 << 8 | 3 << 9 | 1 << 12 | 1 << 15 | 1 << 20,
            0,
        );
        for f in ["neon", "fp16", "dotprod", "lse", "rdm", "rcpc"] {
            assert!(n1.contains(&f), "{f}: {n1:?}");
        }
        assert!(!n1.contains(&"bf16"));
        // Half of a pair is not enough: ASIMD without FP, FPHP without ASIMDHP.
        assert!(aarch64_hwcap_features(1 << 1 | 1 << 9, 0).is_empty());
        let v1 = aarch64_hwcap_features(3, 1 << 13 | 1 << 14);
        assert_eq!(v1, ["neon", "i8mm", "bf16"]);
    }

    #[cfg(target_arch = "aarch64")]
    #[test]
    fn aarch64_baseline_is_detected() {
        assert!(HostFeatures::detect_masked("").has("neon"));
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn x86_baseline_is_detected() {
        assert!(HostFeatures::detect_masked("").has("sse2"));
    }
}
