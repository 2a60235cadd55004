//! The container: header, section table and sections. `Artifact::to_bytes` writes it;
//! `Artifact::parse` reads and validates it into an [`ArtifactView`] that borrows code and
//! weights from the input bytes.

use std::io;
use std::path::Path;

use crate::format::*;
use crate::meta::{self, Meta, VariantDesc};
use crate::wire::{le_u32, le_u64, Writer};
use crate::{validate, ArtifactError, CodeVariant, Plan, TargetInfo, TensorSpec};

/// A compiled model, owned: what the compiler builds and writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// Version string of the compiler that produced the artifact.
    pub compiler_version: String,
    pub target: TargetInfo,
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
    pub plan: Plan,
    /// Best first; see [`CodeVariant`].
    pub variants: Vec<CodeVariant>,
    /// The weights blob, laid out by the compiler: every weight starts at a multiple of 64.
    pub weights: Vec<u8>,
    /// Free-form key/value pairs (source model file, opset, producer, ...), in order.
    pub metadata: Vec<(String, String)>,
}

/// A code variant whose code is borrowed from the parsed bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeVariantView<'a> {
    pub name: String,
    pub cpu: String,
    pub required_features: Vec<String>,
    pub code: &'a [u8],
    /// Offset of `code` from the start of the file (a multiple of the section alignment).
    pub code_file_offset: u64,
}

impl CodeVariantView<'_> {
    /// Copies into an owned [`CodeVariant`].
    pub fn to_owned_variant(&self) -> CodeVariant {
        CodeVariant {
            name: self.name.clone(),
            cpu: self.cpu.clone(),
            required_features: self.required_features.clone(),
            code: self.code.to_vec(),
        }
    }
}

/// A parsed and fully validated artifact borrowing its code and weights from the input.
///
/// Invariants (checked by [`Artifact::parse`]): every step's kernel index is in range and
/// its argument count matches the kernel; every argument lies within its input, output,
/// arena or weights range and has exactly the byte length the kernel declares; every
/// input/output byte size fits in a `u64`; weight arguments start at multiples of 64;
/// there is at least one code variant when the plan has kernels. Every section's checksum
/// has been verified, except the weights' when the view came from
/// [`Artifact::parse_deferring_weights`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactView<'a> {
    format_version: u32,
    min_reader_version: u32,
    sections: Vec<SectionEntry>,
    meta: Meta,
    variants: Vec<CodeVariantView<'a>>,
    weights: &'a [u8],
    weights_file_offset: u64,
    /// Where the WEIGHTS section's entry is and its recorded checksum, for
    /// [`ArtifactView::verify_weights`].
    weights_index: u32,
    weights_crc32: u32,
}

impl<'a> ArtifactView<'a> {
    /// The format version the writer used (may exceed [`FORMAT_VERSION`]).
    pub fn format_version(&self) -> u32 {
        self.format_version
    }
    /// The oldest reader version the writer says can read the file.
    pub fn min_reader_version(&self) -> u32 {
        self.min_reader_version
    }
    /// Checks the WEIGHTS section against its recorded checksum (reads every byte of it).
    /// [`Artifact::parse`] has done this already; [`Artifact::parse_deferring_weights`]
    /// leaves it to the caller.
    pub fn verify_weights(&self) -> Result<(), ArtifactError> {
        weights_checksum_matches(self.weights, self.weights_crc32, self.weights_index)
    }
    /// The section table as found, unknown kinds included (for `neoc inspect`).
    pub fn sections(&self) -> &[SectionEntry] {
        &self.sections
    }
    pub fn compiler_version(&self) -> &str {
        &self.meta.compiler_version
    }
    pub fn target(&self) -> &TargetInfo {
        &self.meta.target
    }
    pub fn inputs(&self) -> &[TensorSpec] {
        &self.meta.inputs
    }
    pub fn outputs(&self) -> &[TensorSpec] {
        &self.meta.outputs
    }
    pub fn plan(&self) -> &Plan {
        &self.meta.plan
    }
    /// Code variants, best first, code borrowed from the input.
    pub fn variants(&self) -> &[CodeVariantView<'a>] {
        &self.variants
    }
    pub fn metadata(&self) -> &[(String, String)] {
        &self.meta.metadata
    }
    /// The weights blob, borrowed from the input.
    pub fn weights(&self) -> &'a [u8] {
        self.weights
    }
    /// Offset of the weights blob from the start of the file: a multiple of 64, so a
    /// page-aligned mapping of the file gives 64-aligned weight pointers.
    pub fn weights_file_offset(&self) -> u64 {
        self.weights_file_offset
    }

    /// Copies everything into an owned [`Artifact`].
    pub fn to_owned(&self) -> Artifact {
        Artifact {
            compiler_version: self.meta.compiler_version.clone(),
            target: self.meta.target.clone(),
            inputs: self.meta.inputs.clone(),
            outputs: self.meta.outputs.clone(),
            plan: self.meta.plan.clone(),
            variants: self
                .variants
                .iter()
                .map(CodeVariantView::to_owned_variant)
                .collect(),
            weights: self.weights.to_vec(),
            metadata: self.meta.metadata.clone(),
        }
    }
}

impl Artifact {
    /// Encodes the artifact. Infallible: consistency is checked by [`Artifact::validate`]
    /// (which the compiler should call) and again by every reader in [`Artifact::parse`].
    pub fn to_bytes(&self) -> Vec<u8> {
        let meta = meta::encode(&Meta {
            compiler_version: self.compiler_version.clone(),
            target: self.target.clone(),
            inputs: self.inputs.clone(),
            outputs: self.outputs.clone(),
            plan: self.plan.clone(),
            variants: self
                .variants
                .iter()
                .map(|v| VariantDesc {
                    name: v.name.clone(),
                    cpu: v.cpu.clone(),
                    required_features: v.required_features.clone(),
                })
                .collect(),
            metadata: self.metadata.clone(),
        });
        let mut bodies: Vec<(SectionKind, u64, &[u8])> =
            vec![(SectionKind::META, META_ALIGN, &meta)];
        for v in &self.variants {
            bodies.push((SectionKind::CODE, CODE_ALIGN, &v.code));
        }
        bodies.push((SectionKind::WEIGHTS, WEIGHTS_ALIGN, &self.weights));

        let mut w = Writer::default();
        w.buf
            .resize(HEADER_LEN + bodies.len() * SECTION_ENTRY_LEN, 0);
        let mut entries = Vec::with_capacity(bodies.len());
        for (kind, align, body) in bodies {
            w.pad_to(align);
            entries.push(SectionEntry {
                kind,
                flags: 0,
                offset: w.buf.len() as u64,
                len: body.len() as u64,
                crc32: crc32fast::hash(body),
                align: align as u32,
            });
            w.buf.extend_from_slice(body);
        }
        let mut table = Writer::default();
        for e in &entries {
            table.u32(e.kind.0);
            table.u32(e.flags);
            table.u64(e.offset);
            table.u64(e.len);
            table.u32(e.crc32);
            table.u32(e.align);
        }
        w.buf[HEADER_LEN..HEADER_LEN + table.buf.len()].copy_from_slice(&table.buf);

        let mut h = Writer::default();
        h.buf.extend_from_slice(&MAGIC);
        h.u32(FORMAT_VERSION);
        h.u32(MIN_READER_VERSION);
        h.u32(entries.len() as u32);
        h.u32(SECTION_ENTRY_LEN as u32);
        h.u64(HEADER_LEN as u64);
        h.u64(w.buf.len() as u64);
        h.u32(crc32fast::hash(&table.buf));
        h.buf.resize(H_CRC, 0);
        let crc = crc32fast::hash(&h.buf);
        h.u32(crc);
        w.buf[..HEADER_LEN].copy_from_slice(&h.buf);
        w.buf
    }

    /// Writes [`Artifact::to_bytes`] to `path`.
    pub fn write_to(&self, path: impl AsRef<Path>) -> io::Result<()> {
        std::fs::write(path, self.to_bytes())
    }

    /// Checks the plan against the signature and weights, as [`Artifact::parse`] will.
    pub fn validate(&self) -> Result<(), ArtifactError> {
        validate::validate(
            &self.inputs,
            &self.outputs,
            &self.plan,
            self.weights.len() as u64,
            self.variants.len(),
        )
    }

    /// Parses and validates an artifact; see [`ArtifactView`] for what is guaranteed after.
    /// Never panics, whatever the bytes.
    pub fn parse(bytes: &[u8]) -> Result<ArtifactView<'_>, ArtifactError> {
        let view = parse(bytes)?;
        view.verify_weights()?;
        Ok(view)
    }

    /// [`Artifact::parse`] without the WEIGHTS section's checksum, which is left to
    /// [`ArtifactView::verify_weights`]. Everything else is checked as by `parse`: the
    /// header, the section table, sizes and bounds (so a truncated file is still refused),
    /// the code and metadata checksums, and the plan. This is what lets a runtime map a
    /// large artifact without reading its weights at load: checksumming them means reading
    /// every page, which for a 100 MB model costs far more than the rest of the load.
    pub fn parse_deferring_weights(bytes: &[u8]) -> Result<ArtifactView<'_>, ArtifactError> {
        parse(bytes)
    }
}

fn parse(bytes: &[u8]) -> Result<ArtifactView<'_>, ArtifactError> {
    let found = bytes.len() as u64;
    // Magic first, so that any non-artifact reads as such even when it is short.
    let n = bytes.len().min(MAGIC.len());
    if bytes[..n] != MAGIC[..n] {
        return Err(ArtifactError::BadMagic);
    }
    if bytes.len() < HEADER_LEN {
        return Err(ArtifactError::Truncated {
            expected: HEADER_LEN as u64,
            found,
        });
    }
    debug_assert_eq!(&bytes[H_MAGIC..H_MAGIC + 8], &MAGIC);
    // Versions before the checksum: their place is fixed for all versions, and a newer
    // header layout must still produce a "needs newer runtime" message.
    let format_version = le_u32(bytes, H_FORMAT_VERSION);
    let min_reader = le_u32(bytes, H_MIN_READER);
    check_version(format_version, min_reader)?;
    if crc32fast::hash(&bytes[..H_CRC]) != le_u32(bytes, H_CRC) {
        return Err(ArtifactError::HeaderChecksum);
    }
    let file_len = le_u64(bytes, H_FILE_LEN);
    if found < file_len {
        return Err(ArtifactError::Truncated {
            expected: file_len,
            found,
        });
    }
    if found > file_len {
        return Err(ArtifactError::TrailingData {
            expected: file_len,
            found,
        });
    }

    let sections = read_section_table(bytes)?;
    let mut meta_bytes = None;
    let mut weights = None;
    let mut code = Vec::new();
    for (i, e) in sections.iter().enumerate() {
        let index = i as u32;
        let body = section_body(bytes, index, e)?;
        if e.kind != SectionKind::WEIGHTS && crc32fast::hash(body) != e.crc32 {
            return Err(ArtifactError::Checksum {
                index,
                kind: e.kind,
            });
        }
        match e.kind {
            SectionKind::META | SectionKind::WEIGHTS
                if (e.kind == SectionKind::META && meta_bytes.is_some())
                    || (e.kind == SectionKind::WEIGHTS && weights.is_some()) =>
            {
                return Err(ArtifactError::DuplicateSection { kind: e.kind });
            }
            SectionKind::META => meta_bytes = Some(body),
            SectionKind::CODE => code.push((body, e.offset)),
            SectionKind::WEIGHTS if e.offset % WEIGHTS_ALIGN != 0 => {
                return Err(ArtifactError::SectionMisaligned {
                    index,
                    kind: e.kind,
                    offset: e.offset,
                    align: WEIGHTS_ALIGN,
                });
            }
            SectionKind::WEIGHTS => weights = Some((body, e.offset, index, e.crc32)),
            // Unknown kinds: written by a newer compiler, safe to ignore (a writer whose
            // additions must be understood raises min_reader_version instead).
            _ => {}
        }
    }
    check_gaps(bytes, &sections)?;
    let meta_bytes = meta_bytes.ok_or(ArtifactError::MissingSection {
        kind: SectionKind::META,
    })?;
    let (weights, weights_file_offset, weights_index, weights_crc32) =
        weights.ok_or(ArtifactError::MissingSection {
            kind: SectionKind::WEIGHTS,
        })?;
    let meta = meta::decode(meta_bytes).map_err(|e| ArtifactError::BadMeta {
        offset: e.offset,
        reason: e.reason,
    })?;
    if meta.variants.len() != code.len() {
        return Err(ArtifactError::VariantCount {
            in_meta: meta.variants.len() as u64,
            sections: code.len() as u64,
        });
    }
    validate::validate(
        &meta.inputs,
        &meta.outputs,
        &meta.plan,
        weights.len() as u64,
        meta.variants.len(),
    )?;
    let variants = meta
        .variants
        .iter()
        .zip(code)
        .map(|(d, (code, off))| CodeVariantView {
            name: d.name.clone(),
            cpu: d.cpu.clone(),
            required_features: d.required_features.clone(),
            code,
            code_file_offset: off,
        })
        .collect();
    Ok(ArtifactView {
        format_version,
        min_reader_version: min_reader,
        sections,
        meta,
        variants,
        weights,
        weights_file_offset,
        weights_index,
        weights_crc32,
    })
}

/// The compatibility policy, in one place: which (format_version, min_reader_version)
/// pairs this reader accepts.
fn check_version(format_version: u32, min_reader: u32) -> Result<(), ArtifactError> {
    let unsupported = ArtifactError::UnsupportedVersion {
        version: format_version,
        min_reader,
    };
    if min_reader > format_version {
        return Err(unsupported);
    }
    match format_version {
        // Never released: development builds before the format was frozen.
        0 => Err(unsupported),
        // The current version. When version 2 exists, version 1 stays readable here, with
        // any conversion of its older META layout done in `meta::decode`.
        FORMAT_VERSION => Ok(()),
        // Newer writer: readable when it says an older reader may read it.
        _ if min_reader <= FORMAT_VERSION => Ok(()),
        _ => Err(ArtifactError::NeedsNewerRuntime {
            file_version: format_version,
            needed: min_reader,
        }),
    }
}

fn read_section_table(bytes: &[u8]) -> Result<Vec<SectionEntry>, ArtifactError> {
    let bad = |reason: String| ArtifactError::BadSectionTable { reason };
    let count = le_u32(bytes, H_SECTION_COUNT) as u64;
    let entry_len = le_u32(bytes, H_ENTRY_LEN) as u64;
    let table_offset = le_u64(bytes, H_TABLE_OFFSET);
    if entry_len < SECTION_ENTRY_LEN as u64 {
        return Err(bad(format!(
            "entry length {entry_len} is below the minimum {SECTION_ENTRY_LEN}"
        )));
    }
    if table_offset < HEADER_LEN as u64 {
        return Err(bad(format!(
            "table offset {table_offset} overlaps the header"
        )));
    }
    let table_len = count.checked_mul(entry_len);
    let Some(table_end) = table_len.and_then(|l| l.checked_add(table_offset)) else {
        return Err(bad(format!(
            "{count} entries of {entry_len} bytes overflow"
        )));
    };
    if table_end > bytes.len() as u64 {
        return Err(bad(format!(
            "{count} entries of {entry_len} bytes at offset {table_offset} end past the file \
             ({} bytes)",
            bytes.len()
        )));
    }
    // In range: checked just above.
    let table = &bytes[table_offset as usize..table_end as usize];
    if crc32fast::hash(table) != le_u32(bytes, H_TABLE_CRC) {
        return Err(ArtifactError::SectionTableChecksum);
    }
    Ok(table
        .chunks_exact(entry_len as usize)
        .map(|e| SectionEntry {
            kind: SectionKind(le_u32(e, 0)),
            flags: le_u32(e, 4),
            offset: le_u64(e, 8),
            len: le_u64(e, 16),
            crc32: le_u32(e, 24),
            align: le_u32(e, 28),
        })
        .collect())
}

/// Sections must not overlap, and every byte between the table and the sections, or
/// between two sections, must be zero padding; so no byte of a valid file escapes every
/// checksum.
fn check_gaps(bytes: &[u8], sections: &[SectionEntry]) -> Result<(), ArtifactError> {
    let table_end = le_u64(bytes, H_TABLE_OFFSET)
        + u64::from(le_u32(bytes, H_SECTION_COUNT)) * u64::from(le_u32(bytes, H_ENTRY_LEN));
    let mut spans: Vec<(u64, u64)> = sections
        .iter()
        .map(|e| (e.offset, e.offset + e.len))
        .collect();
    spans.push((0, table_end));
    spans.sort_unstable();
    let mut covered = 0u64;
    for (start, end) in spans {
        if start < covered {
            return Err(ArtifactError::BadSectionTable {
                reason: format!("a section at offset {start} overlaps the data before it"),
            });
        }
        // In range: sections were bounds-checked.
        if let Some(at) = bytes[covered as usize..start as usize]
            .iter()
            .position(|&b| b != 0)
        {
            return Err(ArtifactError::BadSectionTable {
                reason: format!("non-zero padding at byte {}", covered + at as u64),
            });
        }
        covered = end;
    }
    if let Some(at) = bytes[covered as usize..].iter().position(|&b| b != 0) {
        return Err(ArtifactError::BadSectionTable {
            reason: format!("non-zero padding at byte {}", covered + at as u64),
        });
    }
    Ok(())
}

fn section_body<'a>(
    bytes: &'a [u8],
    index: u32,
    e: &SectionEntry,
) -> Result<&'a [u8], ArtifactError> {
    let file_len = bytes.len() as u64;
    let end = e.offset.checked_add(e.len);
    if e.offset < HEADER_LEN as u64 || end.is_none_or(|end| end > file_len) {
        return Err(ArtifactError::SectionOutOfBounds {
            index,
            kind: e.kind,
            offset: e.offset,
            len: e.len,
            file_len,
        });
    }
    let align = u64::from(e.align);
    if !align.is_power_of_two() || align > MAX_SECTION_ALIGN || e.offset % align != 0 {
        return Err(ArtifactError::SectionMisaligned {
            index,
            kind: e.kind,
            offset: e.offset,
            align,
        });
    }
    // In range: checked above.
    Ok(&bytes[e.offset as usize..(e.offset + e.len) as usize])
}

/// `Ok` when `weights` (the body of section `index`) hashes to `crc32`; the
/// checksum-mismatch error otherwise. Shared by the view and [`WeightsChecksum`].
fn weights_checksum_matches(weights: &[u8], crc32: u32, index: u32) -> Result<(), ArtifactError> {
    if crc32fast::hash(weights) == crc32 {
        Ok(())
    } else {
        Err(ArtifactError::Checksum {
            index,
            kind: SectionKind::WEIGHTS,
        })
    }
}

/// A deferred WEIGHTS check, detached from the view: what a runtime keeps to verify the
/// weights on first use (see [`Artifact::parse_deferring_weights`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeightsChecksum {
    pub section_index: u32,
    pub crc32: u32,
}

impl WeightsChecksum {
    /// Checks `weights`, the WEIGHTS section's bytes, against the recorded checksum.
    pub fn verify(&self, weights: &[u8]) -> Result<(), ArtifactError> {
        weights_checksum_matches(weights, self.crc32, self.section_index)
    }
}

impl ArtifactView<'_> {
    /// The WEIGHTS checksum to verify later with [`WeightsChecksum::verify`].
    pub fn weights_checksum(&self) -> WeightsChecksum {
        WeightsChecksum {
            section_index: self.weights_index,
            crc32: self.weights_crc32,
        }
    }
}
