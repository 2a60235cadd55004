//! A model's summary for `neoc inspect`: read from the protobuf without importing, so
//! it also works for models with unsupported operators or symbolic shapes.

use crate::import::graph_of;
use crate::proto::{ModelProto, ValueInfoProto};
use crate::reader::{decl_type, dtype_of, onnx_type_name, DeclDim};
use neoc_ir::DType;
use std::collections::{BTreeMap, HashSet};
use std::fmt;

/// What `neoc inspect model.onnx` prints.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    /// The file or source name.
    pub file: String,
    pub ir_version: i64,
    pub producer_name: String,
    pub producer_version: String,
    /// `(domain, version)` per imported opset; the default domain is `"ai.onnx"`.
    pub opset_imports: Vec<(String, i64)>,
    pub graph_name: String,
    /// Graph inputs that are not initializers (the values a caller must feed).
    pub inputs: Vec<TensorInfo>,
    pub outputs: Vec<TensorInfo>,
    /// Node count per op type (`domain::OpType` outside the default domain), sorted.
    pub op_counts: BTreeMap<String, usize>,
    pub initializer_count: usize,
    /// Elements over all initializers.
    pub parameter_count: u64,
    /// Bytes over all initializers (elements × element size, for the types the IR has).
    pub parameter_bytes: u64,
}

/// A graph input or output as declared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    /// IR dtype name (`f32`, `i64`, ...) or the ONNX name of a type the IR lacks;
    /// `"non-tensor"` for sequences, maps and optionals.
    pub dtype: String,
    /// `None` when the rank is unknown.
    pub dims: Option<Vec<DimInfo>>,
}

/// One declared dim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DimInfo {
    Fixed(u64),
    Symbolic(String),
    Unknown,
}

impl fmt::Display for DimInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DimInfo::Fixed(n) => write!(f, "{n}"),
            DimInfo::Symbolic(s) => f.write_str(s),
            DimInfo::Unknown => f.write_str("?"),
        }
    }
}

impl fmt::Display for TensorInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.dtype)?;
        match &self.dims {
            None => f.write_str("[unknown rank]"),
            Some(d) => {
                let parts: Vec<String> = d.iter().map(ToString::to_string).collect();
                write!(f, "[{}]", parts.join(","))
            }
        }
    }
}

impl fmt::Display for ModelInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "model:       {}", self.file)?;
        writeln!(f, "ir_version:  {}", self.ir_version)?;
        writeln!(
            f,
            "producer:    {} {}",
            self.producer_name, self.producer_version
        )?;
        let opsets: Vec<String> = self
            .opset_imports
            .iter()
            .map(|(d, v)| format!("{d} {v}"))
            .collect();
        writeln!(f, "opsets:      {}", opsets.join(", "))?;
        writeln!(f, "graph:       {}", self.graph_name)?;
        for i in &self.inputs {
            writeln!(f, "input:       {i}")?;
        }
        for o in &self.outputs {
            writeln!(f, "output:      {o}")?;
        }
        writeln!(
            f,
            "parameters:  {} in {} initializers ({} bytes)",
            self.parameter_count, self.initializer_count, self.parameter_bytes
        )?;
        let total: usize = self.op_counts.values().sum();
        writeln!(f, "nodes:       {total}")?;
        for (op, n) in &self.op_counts {
            writeln!(f, "  {op:<24} {n}")?;
        }
        Ok(())
    }
}

fn tensor_info(vi: &ValueInfoProto) -> TensorInfo {
    match decl_type(vi) {
        Err(_) => TensorInfo {
            name: vi.name.clone(),
            dtype: "non-tensor".into(),
            dims: None,
        },
        Ok(t) => TensorInfo {
            name: vi.name.clone(),
            dtype: onnx_type_name(t.elem),
            dims: t.dims.map(|d| {
                d.into_iter()
                    .map(|x| match x {
                        DeclDim::Fixed(n) => DimInfo::Fixed(n),
                        DeclDim::Sym(s) => DimInfo::Symbolic(s),
                        DeclDim::Unknown => DimInfo::Unknown,
                    })
                    .collect()
            }),
        },
    }
}

/// Summarises a decoded model.
pub(crate) fn model_info(model: &ModelProto, file: &str) -> crate::Result<ModelInfo> {
    let g = graph_of(model, file)?;
    let initializers: HashSet<&str> = g.initializer.iter().map(|t| t.name.as_str()).collect();
    let mut op_counts = BTreeMap::new();
    for n in &g.node {
        let domain = crate::ops::normalize_domain(&n.domain);
        let key = if domain.is_empty() {
            n.op_type.clone()
        } else {
            format!("{domain}::{}", n.op_type)
        };
        *op_counts.entry(key).or_insert(0) += 1;
    }
    let (mut parameter_count, mut parameter_bytes) = (0u64, 0u64);
    for t in &g.initializer {
        let n = t
            .dims
            .iter()
            .fold(1u64, |a, &d| a.saturating_mul(d.max(0) as u64));
        parameter_count = parameter_count.saturating_add(n);
        let size = dtype_of(t.data_type).map_or(0, DType::size_bytes) as u64;
        parameter_bytes = parameter_bytes.saturating_add(n.saturating_mul(size));
    }
    Ok(ModelInfo {
        file: file.into(),
        ir_version: model.ir_version,
        producer_name: model.producer_name.clone(),
        producer_version: model.producer_version.clone(),
        opset_imports: model
            .opset_import
            .iter()
            .map(|o| {
                let d = if o.domain.is_empty() {
                    "ai.onnx".to_string()
                } else {
                    o.domain.clone()
                };
                (d, o.version)
            })
            .collect(),
        graph_name: g.name.clone(),
        inputs: g
            .input
            .iter()
            .filter(|i| !initializers.contains(i.name.as_str()))
            .map(tensor_info)
            .collect(),
        outputs: g.output.iter().map(tensor_info).collect(),
        op_counts,
        initializer_count: g.initializer.len(),
        parameter_count,
        parameter_bytes,
    })
}
