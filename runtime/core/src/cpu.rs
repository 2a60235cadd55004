//! Host CPU features and the choice of code variant.
//!
//! Feature names are those `std::arch::is_x86_feature_detected!` (or
//! `is_aarch64_feature_detected!`) accepts; a name this table does not know counts as
//! missing, so an artifact from a newer compiler asking for a feature this runtime cannot
//! detect is refused rather than run on a CPU that may lack it.
//!
//! `NEOC_CPU_FEATURES_MASK=avx512f,avx512bw` makes the runtime treat the listed features
//! as absent (to test fallbacks, or to force a smaller variant).

use neoc_artifact::Arch;

/// Environment variable listing features (comma-separated) to treat as missing.
pub const CPU_FEATURES_MASK_ENV: &str = "NEOC_CPU_FEATURES_MASK";

macro_rules! feature_table {
    ($detect:ident; $($name:tt),* $(,)?) => {
        /// Every feature name this runtime can detect on this architecture.
        pub(crate) const KNOWN: &[&str] = &[$($name),*];

        fn detect(name: &str) -> bool {
            match name {
                $($name => std::arch::$detect!($name),)*
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
    "vpclmulqdq",
);

#[cfg(target_arch = "aarch64")]
feature_table!(is_aarch64_feature_detected;
    "neon", "fp16", "fhm", "dotprod", "i8mm", "bf16", "sve", "sve2", "lse", "rdm", "crc",
    "aes", "sha2",
);

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
            Arch::Aarch64 => Some("aarch64"),
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

/// The public form of [`HostFeatures::detect`]: the CPU features the runtime will consider
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

    #[test]
    fn unknown_features_are_missing() {
        let host = HostFeatures::detect_masked("");
        let req = vec!["neoc-test-nonexistent".to_string()];
        assert_eq!(missing(&req, &host), vec!["neoc-test-nonexistent"]);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn x86_baseline_is_detected() {
        assert!(HostFeatures::detect_masked("").has("sse2"));
    }
}
