//! Test helpers: paths to the test corpus, a minimal `.npy` header reader, and a small
//! ONNX model writer (on the crate's own `neoc_onnx::proto` messages) for models the
//! corpus does not have.

#![allow(
    dead_code,
    unused_imports,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::path::PathBuf;

pub fn testmodels() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../testmodels")
}

/// The shape in a `.npy` (v1.0) file's header.
pub fn npy_shape(path: &std::path::Path) -> Vec<u64> {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[..6], b"\x93NUMPY", "{}", path.display());
    let len = u16::from_le_bytes([b[8], b[9]]) as usize;
    let header = std::str::from_utf8(&b[10..10 + len]).unwrap();
    let start = header.find("'shape': (").unwrap() + "'shape': (".len();
    let end = start + header[start..].find(')').unwrap();
    header[start..end]
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect()
}

/// `name → shape` for every `.npy` in `dir`.
pub fn npy_dir(dir: &std::path::Path) -> std::collections::BTreeMap<String, Vec<u64>> {
    let mut out = std::collections::BTreeMap::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "npy") {
                let name = p.file_stem().unwrap().to_string_lossy().to_string();
                out.insert(name, npy_shape(&p));
            }
        }
    }
    out
}

pub mod onnx {
    //! Builders for ONNX messages (`neoc_onnx::proto`, re-exported here).

    pub use neoc_onnx::proto::data_type::{FLOAT, INT64};
    use neoc_onnx::proto::tensor_shape_proto::{dimension, Dimension};
    use neoc_onnx::proto::type_proto;
    pub use neoc_onnx::proto::{
        AttributeProto, AttributeType, DataLocation, GraphProto, ModelProto, NodeProto,
        OperatorSetIdProto, StringStringEntryProto, TensorProto, TensorShapeProto, TypeProto,
        ValueInfoProto,
    };

    /// A float tensor value info; dims are numbers or `"name"` symbols.
    pub fn value(name: &str, dims: &[&str]) -> ValueInfoProto {
        typed_value(name, FLOAT, dims)
    }

    /// A tensor value info of element type `elem` (a `data_type` constant).
    pub fn typed_value(name: &str, elem: i32, dims: &[&str]) -> ValueInfoProto {
        let dim = dims
            .iter()
            .map(|d| Dimension {
                value: Some(match d.parse::<i64>() {
                    Ok(n) => dimension::Value::DimValue(n),
                    Err(_) => dimension::Value::DimParam(d.to_string()),
                }),
            })
            .collect();
        ValueInfoProto {
            name: name.into(),
            r#type: Some(TypeProto {
                value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                    elem_type: elem,
                    shape: Some(TensorShapeProto { dim }),
                })),
            }),
        }
    }

    fn attr(name: &str, ty: AttributeType) -> AttributeProto {
        AttributeProto {
            name: name.into(),
            r#type: ty as i32,
            ..Default::default()
        }
    }
    pub fn attr_i(name: &str, i: i64) -> AttributeProto {
        AttributeProto {
            i,
            ..attr(name, AttributeType::Int)
        }
    }
    pub fn attr_f(name: &str, f: f32) -> AttributeProto {
        AttributeProto {
            f,
            ..attr(name, AttributeType::Float)
        }
    }
    pub fn attr_ints(name: &str, ints: &[i64]) -> AttributeProto {
        AttributeProto {
            ints: ints.to_vec(),
            ..attr(name, AttributeType::Ints)
        }
    }
    pub fn attr_floats(name: &str, floats: &[f32]) -> AttributeProto {
        AttributeProto {
            floats: floats.to_vec(),
            ..attr(name, AttributeType::Floats)
        }
    }
    pub fn attr_s(name: &str, s: &str) -> AttributeProto {
        AttributeProto {
            s: s.as_bytes().to_vec(),
            ..attr(name, AttributeType::String)
        }
    }
    pub fn attr_t(name: &str, t: TensorProto) -> AttributeProto {
        AttributeProto {
            t: Some(t),
            ..attr(name, AttributeType::Tensor)
        }
    }
    pub fn floats(name: &str, dims: &[i64], v: &[f32]) -> TensorProto {
        TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: FLOAT,
            float_data: v.to_vec(),
            ..Default::default()
        }
    }
    pub fn ints(name: &str, v: &[i64]) -> TensorProto {
        TensorProto {
            name: name.into(),
            dims: vec![v.len() as i64],
            data_type: INT64,
            int64_data: v.to_vec(),
            ..Default::default()
        }
    }

    pub fn node(op: &str, name: &str, inputs: &[&str], outputs: &[&str]) -> NodeProto {
        NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.iter().map(|s| s.to_string()).collect(),
            name: name.into(),
            op_type: op.into(),
            ..NodeProto::default()
        }
    }

    pub fn model(opset: i64, graph: GraphProto) -> ModelProto {
        ModelProto {
            ir_version: 8,
            graph: Some(graph),
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: opset,
            }],
            ..Default::default()
        }
    }

    pub fn encode(m: &ModelProto) -> bytes::Bytes {
        use prost::Message;
        bytes::Bytes::from(m.encode_to_vec())
    }
}

/// One-node model helpers shared by the op-mapping tests.
pub mod models {
    use super::onnx::{self, encode, model, value};
    use neoc_ir::Graph;
    use neoc_onnx::{import_bytes, ImportOptions, OnnxError};

    /// A model at `opset` with graph inputs `inputs`, initializers `inits`, `nodes`, and
    /// graph outputs `outputs` (declared without shape).
    pub fn run(
        opset: i64,
        inputs: &[(&str, &[&str])],
        inits: Vec<onnx::TensorProto>,
        nodes: Vec<onnx::NodeProto>,
        outputs: &[&str],
    ) -> Result<Graph, OnnxError> {
        let g = onnx::GraphProto {
            name: "t".into(),
            node: nodes,
            initializer: inits,
            input: inputs.iter().map(|(n, d)| value(n, d)).collect(),
            output: outputs
                .iter()
                .map(|n| onnx::ValueInfoProto {
                    name: n.to_string(),
                    r#type: None,
                })
                .collect(),
            ..Default::default()
        };
        import_bytes(
            encode(&model(opset, g)),
            None,
            "t.onnx",
            &ImportOptions::default(),
        )
    }

    pub fn with(mut n: onnx::NodeProto, attrs: Vec<onnx::AttributeProto>) -> onnx::NodeProto {
        n.attribute = attrs;
        n
    }

    pub fn out_f32(g: &Graph, i: usize) -> Vec<f32> {
        g.const_value(g.outputs()[i])
            .expect("output is not folded to a constant")
            .to_f32_vec()
    }

    pub fn out_shape(g: &Graph, i: usize) -> String {
        g.value(g.outputs()[i]).ty.to_string()
    }
}
