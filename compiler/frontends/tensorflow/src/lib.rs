//! The TensorFlow frontend: reads frozen GraphDefs (`.pb`) and SavedModel directories
//! into the neoc graph IR, without TensorFlow.
//!
//! ```text
//! frozen.pb ──mmap──▶ GraphDef (prost; Const tensors are slices of the map) ──┐
//! saved_model/                                                              │
//!   saved_model.pb ──▶ SavedModel: signature → graph tensors, functions ──────┤
//!   variables/ ──bundle──▶ checkpoint tensors, bound to functions' captures ─┤
//!                                                                           ▼
//!              import: evaluate backwards from the outputs; calls inlined ──▶ Graph
//!              ops/: one builder per TF op; NHWC held lazily as NCHW (value.rs)
//! ```
//!
//! - [`proto`]: the protobuf messages read (GraphDef, SavedModel, bundle entries).
//! - `bundle`: the variables' tensor bundle (SSTable index + data shards).
//! - `import`: the evaluator shared by both formats; `frozen` and `saved_model` pick
//!   inputs and outputs.
//! - `ops`: the op table; `value`: the NHWC/NCHW layout tracking.
//!
//! Errors name the file and, where there is one, the node, function or checkpoint key;
//! every unsupported op of a model is reported at once.

mod attrs;
mod bundle;
mod error;
mod frozen;
mod import;
mod inputs;
mod ops;
pub mod proto;
mod saved_model;
mod tensor;
mod value;

pub use error::{Result, TfError, UnsupportedOp};

use bytes::Bytes;
use std::io::Read;
use std::path::Path;

/// Options for [`import_path`] / [`import_frozen_bytes`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportOptions {
    /// Static shapes for inputs with unknown dims, by input name (a frozen graph's
    /// placeholder name, a signature's input key): `--input-shape x=1,224,224,3`.
    pub input_shapes: Vec<(String, Vec<u64>)>,
    /// The SavedModel signature to import (`None`: `serving_default`).
    pub signature: Option<String>,
    /// A frozen graph's outputs (`node` or `node:port`); empty: the nodes nothing
    /// reads.
    pub outputs: Vec<String>,
}

/// The two TensorFlow model forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A `GraphDef` with constants for weights (`.pb`).
    FrozenGraph,
    /// A SavedModel directory (`saved_model.pb` + `variables/`).
    SavedModel,
}

/// One supported TensorFlow op, for documentation and tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SupportedOp {
    pub name: &'static str,
    /// How it is mapped, when that is more than a one-to-one translation.
    pub note: &'static str,
}

/// Every supported op, in table order.
pub fn supported_ops() -> Vec<SupportedOp> {
    ops::all()
        .map(|o| SupportedOp {
            name: o.name,
            note: o.note,
        })
        .collect()
}

/// The TensorFlow form at `path`: a directory holding `saved_model.pb`, a file named
/// `saved_model.pb`, or a `.pb` file (a frozen graph). `None` otherwise.
pub fn detect(path: &Path) -> Option<Format> {
    if path.is_dir() {
        return path
            .join("saved_model.pb")
            .is_file()
            .then_some(Format::SavedModel);
    }
    if path.file_name().is_some_and(|n| n == "saved_model.pb") {
        return Some(Format::SavedModel);
    }
    let ext = path.extension()?.to_string_lossy().to_ascii_lowercase();
    (ext == "pb").then_some(Format::FrozenGraph)
}

/// Imports the model at `path`: a SavedModel directory (or its `saved_model.pb`), or a
/// frozen graph file. Errors name the file as `path` displays.
pub fn import_path(path: &Path, opts: &ImportOptions) -> Result<neoc_ir::Graph> {
    match detect(path) {
        Some(Format::SavedModel) => {
            let dir = if path.is_dir() {
                path
            } else {
                path.parent().unwrap_or(Path::new("."))
            };
            saved_model::import(dir, opts)
        }
        _ => {
            let file = path.display().to_string();
            let bytes = map_file(path).map_err(|source| TfError::Io {
                file: file.clone(),
                source,
            })?;
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            frozen::import(bytes, &file, &name, opts)
        }
    }
}

/// Imports a frozen graph from memory; `source_name` names it in errors.
pub fn import_frozen_bytes(
    bytes: Bytes,
    source_name: &str,
    opts: &ImportOptions,
) -> Result<neoc_ir::Graph> {
    frozen::import(bytes, source_name, source_name, opts)
}

pub(crate) fn map_file(path: &Path) -> std::io::Result<Bytes> {
    let mut file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    if meta.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "is a directory without saved_model.pb",
        ));
    }
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
