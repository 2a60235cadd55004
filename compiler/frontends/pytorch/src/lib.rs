//! The PyTorch frontend: reads torch.export (`.pt2`) and TorchScript (`.pt`) archives
//! into the neoc graph IR, without Python and without running any of the archive's code.
//!
//! ```text
//! file ──mmap──▶ Archive (zip; weights are slices of the map)
//!   .pt2:  serialized_exported_program.json ──export/──┐ aten nodes, named arguments,
//!          serialized_state_dict.pt (pickle) ──────────┤ shapes recorded
//!   .pt:   data.pkl (module tree, pickle) ──script/────┤ code/*.py parsed and
//!          code/__torch__/*.py, constants.pkl ─────────┘ interpreted (inlined)
//!                                                       │
//!                              ops/: the aten table ◀───┘ (one builder per operator,
//!                              desugaring into IR ops)   ──▶ neoc_ir::Graph
//! ```
//!
//! - [`archive`]: the zip container; stored entries are zero-copy, deflated ones
//!   inflated with a bound; CRCs checked.
//! - [`pickle`]: a restricted unpickler (no code execution; an allow-list of globals;
//!   limits on objects, memo, stack and marks).
//! - [`export`]: torch.export's serialized program.
//! - [`script`]: TorchScript's module tree and the straight-line code of traced models.
//! - [`ops`]: the aten operator table shared by both formats.
//!
//! Errors name the file and, where there is one, the archive entry, node or code line;
//! every unsupported operator of a model is reported at once.

mod archive;
mod build;
mod error;
mod export;
mod ops;
mod pickle;
mod script;
mod storage;
mod tensors;
#[cfg(test)]
mod tests;
mod value;

pub use error::{PytorchError, Result, UnsupportedOp};

use archive::Archive;
use bytes::Bytes;
use std::io::Read;
use std::path::Path;

/// Options for [`import_file`] / [`import_bytes`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportOptions {
    /// Static shapes for graph inputs, by name (`--input-shape x=1,3,224,224`). A
    /// TorchScript archive records no shapes (a traced one records its example
    /// inputs, used when no override is given); a `.pt2` records them, and an override
    /// must agree with its static dims.
    pub input_shapes: Vec<(String, Vec<u64>)>,
}

/// Which kind of torch archive a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `torch.export.save` (torch 2.5 layout).
    Export,
    /// `torch.jit.save` of a traced or scripted module.
    TorchScript,
    /// `torch.save` of a state dict or a pickled module: weights without a graph,
    /// which cannot be imported.
    Checkpoint,
}

/// One supported aten operator, for documentation and `neoc` tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SupportedOp {
    /// The operator name (`conv2d`; in-place variants like `relu_` map to it too).
    pub name: &'static str,
    /// How it is mapped, when that is more than a one-to-one translation.
    pub note: &'static str,
}

/// Every supported aten operator, in table order.
pub fn supported_ops() -> Vec<SupportedOp> {
    ops::all()
        .map(|o| SupportedOp {
            name: o.name,
            note: o.note,
        })
        .collect()
}

/// The kind of torch archive in `bytes`, or `None` when it is not one.
pub fn detect_bytes(bytes: Bytes) -> Option<Format> {
    if !archive::looks_like_zip(&bytes) {
        return None;
    }
    let a = Archive::open(bytes, "", "").ok()?;
    format_of(&a)
}

/// The kind of torch archive at `path`, or `None` when it is not one (or unreadable).
pub fn detect(path: &Path) -> Option<Format> {
    let mut head = [0u8; 4];
    std::fs::File::open(path).ok()?.read_exact(&mut head).ok()?;
    if !archive::looks_like_zip(&head) {
        return None;
    }
    detect_bytes(map_file(path).ok()?)
}

fn format_of(a: &Archive) -> Option<Format> {
    if a.contains(export::PROGRAM) || a.prefix_of("archive_format").is_some() {
        return Some(Format::Export);
    }
    let prefix = a.prefix_of("data.pkl")?;
    let has_code = a.names().any(|n| n.starts_with(&format!("{prefix}code/")));
    if has_code || a.contains(&format!("{prefix}constants.pkl")) {
        Some(Format::TorchScript)
    } else {
        Some(Format::Checkpoint)
    }
}

/// Reads and imports the archive at `path` (memory-mapped; weights stay slices of the
/// map). Errors name the file as `path` displays.
pub fn import_file(path: &Path, opts: &ImportOptions) -> Result<neoc_ir::Graph> {
    let file = path.display().to_string();
    let bytes = map_file(path).map_err(|source| PytorchError::Io {
        file: file.clone(),
        source,
    })?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    import_named(bytes, &file, &name, opts)
}

/// Imports an archive from memory; `source_name` names it in errors.
pub fn import_bytes(
    bytes: Bytes,
    source_name: &str,
    opts: &ImportOptions,
) -> Result<neoc_ir::Graph> {
    import_named(bytes, source_name, source_name, opts)
}

fn import_named(
    bytes: Bytes,
    file: &str,
    name: &str,
    opts: &ImportOptions,
) -> Result<neoc_ir::Graph> {
    let a = Archive::open(bytes, file, "")?;
    match format_of(&a) {
        Some(Format::Export) if a.contains(export::PROGRAM) => export::import(&a, name, opts),
        Some(Format::Export) => Err(PytorchError::Archive {
            file: file.to_string(),
            message: "this is a PT2 archive in the package layout of torch 2.6 and later, \
                      which neoc does not read yet; save the program with torch 2.5's \
                      torch.export.save"
                .into(),
        }),
        Some(Format::TorchScript) => script::import(&a, name, opts),
        Some(Format::Checkpoint) => Err(PytorchError::Archive {
            file: file.to_string(),
            message: "this is a torch.save checkpoint (weights, or a pickled module, without \
                      a graph); save the model with torch.export.save (a .pt2) or \
                      torch.jit.save of a traced module"
                .into(),
        }),
        None => Err(PytorchError::Archive {
            file: file.to_string(),
            message: "the zip holds neither a torch.export program (serialized_exported_\
                      program.json) nor a TorchScript module (data.pkl and code/)"
                .into(),
        }),
    }
}

fn map_file(path: &Path) -> std::io::Result<Bytes> {
    let mut file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        let mut v = Vec::new();
        file.read_to_end(&mut v)?;
        return Ok(v.into());
    }
    if meta.len() == 0 {
        return Ok(Bytes::new());
    }
    // SAFETY: a map is sound only while no one truncates or rewrites the file, which
    // this process cannot prevent (a truncation makes touching a page past the end
    // raise SIGBUS). A compiler reads its input once, from files the user handed it;
    // compiling a file while it changes has no meaningful result whether it is mapped or
    // read, and mapping spares reading the weights into memory. The map is read-only.
    let map = unsafe { memmap2::Mmap::map(&file) }?;
    Ok(Bytes::from_owner(map))
}
