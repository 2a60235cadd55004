//! Byte-level constants of the container: header fields, section table entries, section
//! kinds. `docs/artifact-format.md` is the normative description; keep the two in step.

use std::fmt;

/// First 8 bytes of every artifact.
pub const MAGIC: [u8; 8] = *b"NEOCART\0";

/// The format version this crate writes, and the newest it fully understands.
pub const FORMAT_VERSION: u32 = 1;

/// The oldest reader version able to read what this crate writes.
pub const MIN_READER_VERSION: u32 = 1;

/// Size of the fixed header.
pub const HEADER_LEN: usize = 64;

/// Size of one section table entry written by this version. Readers accept larger entries
/// (a newer writer may append fields) and read only the first `SECTION_ENTRY_LEN` bytes.
pub const SECTION_ENTRY_LEN: usize = 32;

/// Alignment of the WEIGHTS section in the file and of every weight within it.
pub const WEIGHTS_ALIGN: u64 = 64;

/// Alignment this writer uses for CODE sections.
pub const CODE_ALIGN: u64 = 64;

/// Alignment this writer uses for META sections.
pub const META_ALIGN: u64 = 8;

/// Largest alignment a reader accepts in a section entry.
pub const MAX_SECTION_ALIGN: u64 = 1 << 16;

// Header field offsets.
pub(crate) const H_MAGIC: usize = 0;
pub(crate) const H_FORMAT_VERSION: usize = 8;
pub(crate) const H_MIN_READER: usize = 12;
pub(crate) const H_SECTION_COUNT: usize = 16;
pub(crate) const H_ENTRY_LEN: usize = 20;
pub(crate) const H_TABLE_OFFSET: usize = 24;
pub(crate) const H_FILE_LEN: usize = 32;
pub(crate) const H_TABLE_CRC: usize = 40;
pub(crate) const H_CRC: usize = 60;

/// What a section holds. A newtype, not an enum, so that kinds written by newer versions
/// survive a read and can be listed (they are otherwise skipped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SectionKind(pub u32);

impl SectionKind {
    /// Strings, signature, target, plan, code variant descriptions, metadata.
    pub const META: SectionKind = SectionKind(1);
    /// One code variant's shared object; the i-th CODE section belongs to the i-th variant.
    pub const CODE: SectionKind = SectionKind(2);
    /// The weights blob.
    pub const WEIGHTS: SectionKind = SectionKind(3);

    /// Whether this reader knows what the section holds.
    pub fn is_known(self) -> bool {
        matches!(self, Self::META | Self::CODE | Self::WEIGHTS)
    }
}

impl fmt::Display for SectionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::META => f.write_str("META"),
            Self::CODE => f.write_str("CODE"),
            Self::WEIGHTS => f.write_str("WEIGHTS"),
            SectionKind(k) => write!(f, "unknown({k})"),
        }
    }
}

/// One entry of the section table, as found in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SectionEntry {
    pub kind: SectionKind,
    /// Reserved; written as 0, ignored by this reader.
    pub flags: u32,
    /// Offset of the section's first byte from the start of the file.
    pub offset: u64,
    pub len: u64,
    /// CRC-32 (IEEE) of the section's bytes.
    pub crc32: u32,
    /// Alignment of `offset` promised by the writer; a power of two.
    pub align: u32,
}
