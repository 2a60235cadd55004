//! The one error type of this crate. Every variant is a *bad input* (a file that is not a
//! valid artifact for this reader) unless its doc says *internal bug*; the runtime adds
//! the file name when it reports one.

use crate::SectionKind;

/// Why bytes could not be accepted as an artifact.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArtifactError {
    /// Bad input: the file does not start with `NEOCART\0`.
    #[error("not a neoc artifact (bad magic)")]
    BadMagic,

    /// Bad input: the file needs a newer reader (its `min_reader_version` is above
    /// [`crate::FORMAT_VERSION`]).
    #[error(
        "artifact format version {file_version} needs a runtime that reads format version \
         {needed} or newer; this runtime reads format version {ours} (upgrade neoc-runtime)",
        ours = crate::FORMAT_VERSION
    )]
    NeedsNewerRuntime { file_version: u32, needed: u32 },

    /// Bad input: a format version no released writer produced (0, or a `min_reader_version`
    /// above the `format_version`).
    #[error("unsupported artifact format version {version} (min reader version {min_reader})")]
    UnsupportedVersion { version: u32, min_reader: u32 },

    /// Bad input: the file is shorter than its header says (or than a header).
    #[error("truncated: expected {expected} bytes, found {found}")]
    Truncated { expected: u64, found: u64 },

    /// Bad input: the file is longer than its header says.
    #[error("trailing data: header says {expected} bytes, found {found}")]
    TrailingData { expected: u64, found: u64 },

    /// Bad input: the header checksum does not match.
    #[error("corrupted: checksum mismatch in header")]
    HeaderChecksum,

    /// Bad input: the section table checksum does not match.
    #[error("corrupted: checksum mismatch in section table")]
    SectionTableChecksum,

    /// Bad input: the header describes an impossible section table.
    #[error("malformed section table: {reason}")]
    BadSectionTable { reason: String },

    /// Bad input: a section's bytes lie outside the file.
    #[error(
        "section {kind} (entry {index}) at offset {offset}, length {len} lies outside the \
         file of {file_len} bytes"
    )]
    SectionOutOfBounds {
        index: u32,
        kind: SectionKind,
        offset: u64,
        len: u64,
        file_len: u64,
    },

    /// Bad input: a section's offset breaks its declared (or required) alignment.
    #[error("section {kind} (entry {index}) at offset {offset} is not aligned to {align}")]
    SectionMisaligned {
        index: u32,
        kind: SectionKind,
        offset: u64,
        align: u64,
    },

    /// Bad input: a section's checksum does not match its bytes.
    #[error("corrupted: checksum mismatch in section {kind} (entry {index})")]
    Checksum { index: u32, kind: SectionKind },

    /// Bad input: a required section is absent.
    #[error("missing section {kind}")]
    MissingSection { kind: SectionKind },

    /// Bad input: a section that must be unique appears twice.
    #[error("section {kind} appears more than once")]
    DuplicateSection { kind: SectionKind },

    /// Bad input: the META section cannot be decoded.
    #[error("malformed META section at byte {offset}: {reason}")]
    BadMeta { offset: u64, reason: String },

    /// Bad input: META lists a different number of code variants than there are CODE
    /// sections.
    #[error("META lists {in_meta} code variants but the file has {sections} CODE sections")]
    VariantCount { in_meta: u64, sections: u64 },

    /// Bad input: the plan calls kernels but the artifact carries no code.
    #[error("the plan has {kernels} kernels but the artifact has no code variant")]
    NoCode { kernels: u64 },

    /// Bad input: an input or output's byte size does not fit in 64 bits.
    #[error("{what} \"{name}\" is too large: {ty} overflows 64-bit size")]
    TensorTooLarge {
        what: &'static str,
        name: String,
        ty: String,
    },

    /// Bad input: a step names a kernel that does not exist.
    #[error(
        "plan step {step} (\"{label}\") calls kernel {kernel}, but the plan has {kernels} kernels"
    )]
    KernelIndex {
        step: u64,
        label: String,
        kernel: u32,
        kernels: u64,
    },

    /// Bad input: a step passes a different number of arguments than its kernel takes.
    #[error(
        "plan step {step} (\"{label}\") passes {found} arguments to kernel {symbol}, which takes \
         {expected}"
    )]
    ArgCount {
        step: u64,
        label: String,
        symbol: String,
        expected: u64,
        found: u64,
    },

    /// Bad input: a step argument points outside the inputs, outputs, arena or weights.
    #[error(
        "plan step {step} (\"{label}\") argument {arg} ({buffer:?}) is out of range: {reason}"
    )]
    ArgOutOfRange {
        step: u64,
        label: String,
        arg: u64,
        buffer: crate::BufferRef,
        reason: String,
    },

    /// Bad input: a step argument's buffer has a different size than the kernel expects.
    #[error(
        "plan step {step} (\"{label}\") argument {arg} ({buffer:?}) is {found} bytes, but kernel \
         {symbol} expects {expected}"
    )]
    ArgSize {
        step: u64,
        label: String,
        arg: u64,
        buffer: crate::BufferRef,
        symbol: String,
        expected: u64,
        found: u64,
    },
}
