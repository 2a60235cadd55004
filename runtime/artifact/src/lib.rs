//! The neoc artifact format: the one contract between the compiler and the runtime.
//!
//! ```text
//!   compiler ──Artifact::to_bytes──▶ file.neo ──Artifact::parse──▶ ArtifactView ──▶ runtime
//!                                    ┌────────────────────────────┐
//!                                    │ header (64 B)              │ magic, versions, length, crc
//!                                    │ section table              │ kind, offset, len, crc, align
//!                                    │ META                       │ target, signature, plan, ...
//!                                    │ CODE × variants            │ ELF shared objects (64-aligned)
//!                                    │ WEIGHTS                    │ 64-aligned blob
//!                                    └────────────────────────────┘
//! ```
//!
//! [`Artifact`] is the owned form the compiler fills in; [`Artifact::parse`] checks a file
//! completely (structure, checksums, and that every plan step points inside correctly sized
//! buffers) and returns an [`ArtifactView`] that borrows code and weights from the bytes,
//! so a runtime can map the file and use the weights in place. The byte layout and the
//! compatibility policy are specified in `docs/artifact-format.md`.

mod container;
mod error;
mod format;
mod meta;
mod types;
mod validate;
mod wire;

pub use container::{Artifact, ArtifactView, CodeVariantView, WeightsChecksum};
pub use error::ArtifactError;
pub use format::{
    SectionEntry, SectionKind, CODE_ALIGN, FORMAT_VERSION, HEADER_LEN, MAGIC, MAX_SECTION_ALIGN,
    META_ALIGN, MIN_READER_VERSION, SECTION_ENTRY_LEN, WEIGHTS_ALIGN,
};
pub use types::{
    format_type, Arch, BufferRef, CodeVariant, DType, KernelInfo, Plan, Step, TargetInfo,
    TensorSpec,
};

/// Result alias for this crate.
pub type Result<T, E = ArtifactError> = std::result::Result<T, E>;
