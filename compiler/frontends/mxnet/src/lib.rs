//! The MXNet frontend: reads a Symbol JSON graph (`model-symbol.json`) and its NDArray
//! parameters (`model-0000.params`), as `HybridBlock.export` writes them in MXNet 1.x,
//! into the neoc graph IR, without MXNet.
//!
//! ```text
//! model-symbol.json ──serde_json──▶ Symbol (nodes in topological order, heads)
//! model-0000.params ──mmap──▶ NDArray list (arrays are slices of the map) ──┐
//!                                                                          ▼
//!                  import: needed nodes, unsupported ops at once, build ──▶ Graph
//!                  ops/: one builder per MXNet operator (NCHW, as the IR)
//! ```
//!
//! The parameters file is found beside the symbol by MXNet's naming (`<prefix>-symbol.json`
//! → the `<prefix>-NNNN.params` with the highest epoch) unless one is given. Errors name
//! the file and, where there is one, the node or parameter.

mod error;
mod import;
mod ops;
mod params;
mod symbol;

pub use error::{MxnetError, Result, UnsupportedOp};

use bytes::Bytes;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Largest symbol file read (the graph is text; weights are in the params file).
const MAX_SYMBOL_BYTES: u64 = 256 << 20;

/// Options for [`import_file`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportOptions {
    /// Static input shapes by input name (`--input-shape data=1,3,224,224`); the symbol
    /// records none for inputs of an exported block.
    pub input_shapes: Vec<(String, Vec<u64>)>,
    /// The parameters file (`--params`); `None`: found beside the symbol.
    pub params: Option<PathBuf>,
}

/// One supported MXNet operator, for documentation and tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SupportedOp {
    pub name: &'static str,
    pub note: &'static str,
}

/// Every supported operator, in table order.
pub fn supported_ops() -> Vec<SupportedOp> {
    ops::all()
        .map(|o| SupportedOp {
            name: o.name,
            note: o.note,
        })
        .collect()
}

/// True for a file named like an MXNet symbol (`*-symbol.json`), or a `.json` whose
/// start looks like one (`{"nodes": ...`).
pub fn detect(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if name.ends_with("-symbol.json") {
        return true;
    }
    if !name.ends_with(".json") {
        return false;
    }
    let mut head = [0u8; 64];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    let s: String = String::from_utf8_lossy(&head[..n])
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    s.starts_with("{\"nodes\"")
}

/// The parameters file MXNet's naming puts beside `symbol`: for `prefix-symbol.json`,
/// the `prefix-NNNN.params` with the highest epoch NNNN.
pub fn find_params(symbol: &Path) -> Option<PathBuf> {
    let name = symbol.file_name()?.to_string_lossy().into_owned();
    let prefix = name
        .strip_suffix("-symbol.json")
        .or_else(|| name.strip_suffix(".json"))?;
    let dir = match symbol.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut best: Option<(u64, PathBuf)> = None;
    for e in std::fs::read_dir(&dir).ok()?.flatten() {
        let f = e.file_name().to_string_lossy().into_owned();
        let epoch = f
            .strip_prefix(prefix)
            .and_then(|r| r.strip_prefix('-'))
            .and_then(|r| r.strip_suffix(".params"))
            .filter(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|r| r.parse::<u64>().ok());
        if let Some(ep) = epoch {
            if best.as_ref().is_none_or(|(b, _)| ep > *b) {
                best = Some((ep, e.path()));
            }
        }
    }
    best.map(|(_, p)| p)
}

/// Imports `symbol` (a `-symbol.json`) with its parameters. Errors name the files as
/// the paths display.
pub fn import_file(symbol: &Path, opts: &ImportOptions) -> Result<neoc_ir::Graph> {
    let file = symbol.display().to_string();
    let io = |file: &str, source| MxnetError::Io {
        file: file.to_string(),
        source,
    };
    let meta = std::fs::metadata(symbol).map_err(|e| io(&file, e))?;
    if meta.len() > MAX_SYMBOL_BYTES {
        return Err(MxnetError::Symbol {
            file,
            message: format!("{} bytes is too large for a symbol file", meta.len()),
        });
    }
    let bytes = std::fs::read(symbol).map_err(|e| io(&file, e))?;
    let text = String::from_utf8(bytes).map_err(|_| MxnetError::Symbol {
        file: file.clone(),
        message: "not an MXNet symbol: the file is not JSON text".into(),
    })?;
    let sym = symbol::parse(&text).map_err(|message| MxnetError::Symbol {
        file: file.clone(),
        message,
    })?;
    let params_path = match &opts.params {
        Some(p) => p.clone(),
        None => find_params(symbol).ok_or_else(|| MxnetError::Params {
            file: file.clone(),
            message: "no parameters file beside the symbol (expected <prefix>-NNNN.params, as \
                      HybridBlock.export writes); give one with --params"
                .into(),
        })?,
    };
    let params_file = params_path.display().to_string();
    let bytes = map_file(&params_path).map_err(|e| io(&params_file, e))?;
    let params = params::read(bytes, &params_file)?;
    let name = symbol
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = name
        .strip_suffix("-symbol.json")
        .unwrap_or(&name)
        .to_string();
    import::import(&sym, params, &file, &params_file, &name, opts)
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
