//! The ONNX frontend: reads an `.onnx` file into the neoc graph IR.
//!
//! ```text
//! file bytes ──reader──▶ ModelProto ──import──▶ neoc_ir::Graph
//!  (Bytes,     (prost,    (registry check: all unsupported ops at once;
//!   mmap'd)     proto.rs)  initializers → constants; inputs typed, --input-shape;
//!                          nodes in order: attrs.rs → ops/<family>.rs builder → IR
//!                          node with shape inference and constant folding)
//! ```
//!
//! - [`proto`]: the ONNX messages, declared with `prost` derives (no build script);
//!   public so tools and tests can write ONNX models.
//! - [`reader`]: decoding and tensor conversion (raw/typed/external data).
//! - [`attrs`]: the only place attribute names are read; typed getters.
//! - [`context`]: what a builder sees (inputs, constants, opset) and how it adds nodes.
//! - [`ops`]: the registry (`OpSpec { op_type, domain, min_opset, max_opset, build }`)
//!   and one builder per op, grouped by family. Opset differences are resolved there;
//!   composite ops are desugared into IR ops.
//!
//! Weights are not copied: the model file (and each external data file) is
//! memory-mapped into one [`bytes::Bytes`] buffer and every initializer's `raw_data`
//! stays a slice of it inside the IR constants, which keep the map alive. The import API
//! takes and returns no protobuf type; only the [`proto`] module itself exposes them.

mod attrs;
mod context;
mod error;
mod import;
mod info;
mod ops;
pub mod proto;
mod reader;

pub use error::{OnnxError, Result, UnsupportedOp};
pub use info::{DimInfo, ModelInfo, TensorInfo};
pub use ops::{MAX_OPSET, MIN_OPSET};
pub use reader::unpack_4bit;

use bytes::Bytes;
use std::path::Path;

/// Options for [`import_file`] / [`import_bytes`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportOptions {
    /// Static shapes for graph inputs, by name (e.g. from `--input-shape
    /// x=1,3,224,224`). They replace the declared shape (whose rank must match) and are
    /// required for inputs with symbolic or unknown dims. Naming a value that is not a
    /// graph input is an error.
    pub input_shapes: Vec<(String, Vec<u64>)>,
    /// Graph inputs bound to constant values (e.g. from `--constant-input
    /// sizes=sizes.npy`): they become constants, so shape operands a model takes as
    /// inputs (Resize sizes, Reshape shapes, ...) fold and the rest compiles statically.
    /// The value must have the input's element type and declared rank and fixed dims.
    pub constant_inputs: Vec<(String, neoc_ir::Tensor)>,
}

/// One supported operator: its ONNX op type and opset range (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SupportedOp {
    pub op_type: &'static str,
    /// `""` for the default domain (`ai.onnx`).
    pub domain: &'static str,
    pub min_opset: i64,
    pub max_opset: i64,
    /// How the op is mapped, when that is more than a one-to-one translation.
    pub note: &'static str,
}

/// Every (op type, opset range) the frontend imports, in registry order. An op whose
/// meaning changed appears once per range.
pub fn supported_ops() -> Vec<SupportedOp> {
    ops::all()
        .map(|s| SupportedOp {
            op_type: s.op_type,
            domain: s.domain,
            min_opset: s.min_opset,
            max_opset: s.max_opset,
            note: s.note,
        })
        .collect()
}

/// Reads and imports the model at `path`. The file and its external data files
/// (resolved against the model's directory) are memory-mapped, and the graph's constants
/// are slices of those maps. Errors name the file as `path` displays.
pub fn import_file(path: &Path, opts: &ImportOptions) -> Result<neoc_ir::Graph> {
    let (bytes, file) = read(path)?;
    import_bytes(bytes, Some(base_dir(path)), &file, opts)
}

/// Imports a model from memory. `base_dir` is where external data files live (`None`:
/// a model with external data is refused); `source_name` names the model in errors.
/// Initializer data stays a slice of `bytes`.
pub fn import_bytes(
    bytes: Bytes,
    base_dir: Option<&Path>,
    source_name: &str,
    opts: &ImportOptions,
) -> Result<neoc_ir::Graph> {
    let model = decode(bytes, source_name)?;
    import::import_model(&model, source_name, base_dir, opts)
}

/// Summarises the model at `path` without importing it (works for models with
/// unsupported ops or symbolic shapes too).
pub fn read_model_info(path: &Path) -> Result<ModelInfo> {
    let (bytes, file) = read(path)?;
    let model = decode(bytes, &file)?;
    info::model_info(&model, &file)
}

fn read(path: &Path) -> Result<(Bytes, String)> {
    let file = path.display().to_string();
    match reader::map_file(path) {
        Ok(b) => Ok((b, file)),
        Err(source) => Err(OnnxError::Io { file, source }),
    }
}

fn base_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn decode(bytes: Bytes, file: &str) -> Result<proto::ModelProto> {
    let empty = bytes.is_empty();
    let model = reader::decode_model(bytes).map_err(|message| OnnxError::Decode {
        file: file.into(),
        message,
    })?;
    // Protobuf accepts many byte strings (an empty one, say) as a message with no
    // fields; a file without a graph nor an IR version is not an ONNX model.
    if empty || (model.graph.is_none() && model.ir_version == 0) {
        return Err(OnnxError::Decode {
            file: file.into(),
            message: "no ONNX model fields (ir_version, graph) found".into(),
        });
    }
    Ok(model)
}
