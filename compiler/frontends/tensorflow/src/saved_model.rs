//! SavedModel directories: `saved_model.pb` (meta graphs with signatures, the graph
//! and its function library, the TF2 object graph) and `variables/` (a tensor bundle).
//!
//! A signature names its inputs and outputs by key, each a tensor of the meta graph
//! (`serving_default_x:0`, `StatefulPartitionedCall:0`). In TF2 (and Keras) models the
//! output is a call of a function whose trailing arguments are the variables it
//! captured; which variables is not in the graph but in the object graph:
//!
//! ```text
//! SavedObjectGraph.concrete_functions[f].bound_inputs = [node ids]
//!   node id ──(same ids)──▶ checkpoint's TrackableObjectGraph (the bundle entry
//!                           _CHECKPOINTABLE_OBJECT_GRAPH) ──▶ attribute VARIABLE_VALUE
//!                           ──▶ checkpoint key ──▶ bundle tensor
//! ```
//!
//! Inside the function, `ReadVariableOp` of such an argument is the tensor. TF1-style
//! SavedModels read variables by name instead (`VarHandleOp`'s `shared_name`, or a
//! `VariableV2`'s node name, is the checkpoint key). The checkpoint's variable shape
//! is checked against the object graph's.

use crate::bundle::Bundle;
use crate::error::{Result, TfError};
use crate::import::{Body, Captured, Importer, Ref, Resources};
use crate::proto::{NodeDef, SavedModel, SavedObjectGraph, TrackableObjectGraph};
use crate::value::Val;
use crate::ImportOptions;
use neoc_ir::{Graph, Tensor, ValueId};
use prost::Message;
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// Variables of a SavedModel.
struct Variables<'m> {
    file: String,
    bundle: Option<Bundle>,
    objects: Option<&'m SavedObjectGraph>,
    /// The checkpoint's object graph, read on first use.
    trackable: Option<TrackableObjectGraph>,
    graph_nodes: &'m [NodeDef],
    cache: HashMap<String, ValueId>,
}

impl Variables<'_> {
    fn err(&self, message: String) -> TfError {
        TfError::Model {
            file: self.file.clone(),
            message,
        }
    }

    fn bundle(&mut self) -> Result<&mut Bundle> {
        let file = self.file.clone();
        self.bundle.as_mut().ok_or_else(|| TfError::Model {
            file,
            message: "the model reads variables but has no variables/variables.index".into(),
        })
    }

    /// The checkpoint tensor `key` as a constant (once per key).
    fn tensor(&mut self, g: &mut Graph, key: &str) -> Result<ValueId> {
        if let Some(&v) = self.cache.get(key) {
            return Ok(v);
        }
        let bundle = self.bundle()?;
        let index = bundle.index_file().to_string();
        let entry = bundle
            .entry(key)
            .ok_or_else(|| TfError::Bundle {
                file: index.clone(),
                message: format!("variable \"{key}\" is not in the checkpoint"),
            })?
            .clone();
        let dtype = crate::tensor::ir_dtype(entry.dtype).ok_or_else(|| TfError::Bundle {
            file: index.clone(),
            message: format!(
                "variable \"{key}\" has type {}, which is not supported",
                crate::tensor::dtype_name(entry.dtype)
            ),
        })?;
        let shape =
            crate::tensor::static_shape(entry.shape.as_ref()).map_err(|m| TfError::Bundle {
                file: index.clone(),
                message: format!("variable \"{key}\": {m}"),
            })?;
        let bytes = bundle.read(key)?;
        let t = Tensor::from_bytes(dtype, shape.clone(), bytes).map_err(|_| TfError::Bundle {
            file: index,
            message: format!(
                "variable \"{key}\": {} bytes do not hold {dtype}{shape:?}",
                entry.size
            ),
        })?;
        let v = g.add_const(key.to_string(), t);
        self.cache.insert(key.to_string(), v);
        Ok(v)
    }

    fn trackable(&mut self) -> Result<&TrackableObjectGraph> {
        if self.trackable.is_none() {
            let bundle = self.bundle()?;
            let index = bundle.index_file().to_string();
            let bytes = bundle.read_scalar_string("_CHECKPOINTABLE_OBJECT_GRAPH")?;
            let t = TrackableObjectGraph::decode(bytes).map_err(|e| TfError::Bundle {
                file: index,
                message: format!("the checkpoint's object graph does not decode: {e}"),
            })?;
            self.trackable = Some(t);
        }
        self.trackable
            .as_ref()
            .ok_or_else(|| self.err("internal error: no object graph".into()))
    }

    /// The checkpoint key of object `id`'s value.
    fn key_of(&mut self, id: usize) -> Result<String> {
        let t = self.trackable()?;
        let key = t.nodes.get(id).and_then(|n| {
            n.attributes
                .iter()
                .find(|a| a.name == "VARIABLE_VALUE")
                .map(|a| a.checkpoint_key.clone())
        });
        key.ok_or_else(|| {
            self.err(format!(
                "object {id} of the object graph has no value in the checkpoint"
            ))
        })
    }
}

impl Resources for Variables<'_> {
    fn capture_count(&self, function: &str) -> usize {
        self.objects
            .and_then(|o| o.concrete_functions.get(function))
            .map_or(0, |f| f.bound_inputs.len())
    }

    fn captures(&mut self, g: &mut Graph, function: &str) -> Result<Vec<Captured>> {
        let Some(objects) = self.objects else {
            return Ok(vec![]);
        };
        let ids = objects
            .concrete_functions
            .get(function)
            .map(|f| f.bound_inputs.clone())
            .unwrap_or_default();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let obj = usize::try_from(id)
                .ok()
                .and_then(|i| objects.nodes.get(i))
                .ok_or_else(|| {
                    self.err(format!(
                        "function {function} captures object {id}, which the object graph \
                         does not have"
                    ))
                })?;
            if let Some(var) = &obj.variable {
                let key = self.key_of(id as usize)?;
                let v = self.tensor(g, &key)?;
                let want = crate::tensor::shape_of(var.shape.as_ref());
                let have = g.value(v).ty.shape.as_fixed();
                let agrees = match (&want, &have) {
                    (Some(w), Some(h)) => {
                        w.len() == h.len()
                            && w.iter().zip(h).all(|(a, b)| a.is_none_or(|a| a == *b))
                    }
                    _ => true,
                };
                if !agrees {
                    return Err(self.err(format!(
                        "variable \"{}\" (checkpoint key \"{key}\") has shape {have:?} in the \
                         checkpoint but {want:?} in the object graph",
                        var.name
                    )));
                }
                out.push(Captured::Resource(v));
            } else if let Some(c) = &obj.constant {
                let node = self
                    .graph_nodes
                    .iter()
                    .find(|n| n.name == c.operation)
                    .ok_or_else(|| {
                        self.err(format!(
                            "captured constant \"{}\" is not in the graph",
                            c.operation
                        ))
                    })?;
                let t = crate::attrs::get(node, "value")
                    .and_then(|a| a.tensor.as_ref())
                    .ok_or_else(|| {
                        self.err(format!("constant \"{}\" has no value", c.operation))
                    })?;
                let t = crate::tensor::decode(t)
                    .map_err(|m| self.err(format!("constant \"{}\": {m}", c.operation)))?;
                out.push(Captured::Tensor(g.add_const(c.operation.clone(), t)));
            } else {
                return Err(self.err(format!(
                    "function {function} captures object {id}, which is neither a variable \
                     nor a constant (a lookup table or other resource neoc does not compile)"
                )));
            }
        }
        Ok(out)
    }

    fn variable(&mut self, g: &mut Graph, node: &NodeDef) -> Result<ValueId> {
        let key = crate::attrs::string(node, "shared_name")
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| node.name.clone());
        if self
            .bundle
            .as_ref()
            .is_some_and(|b| b.entry(&key).is_none())
        {
            return Err(self.err(format!(
                "variable node \"{}\" ({}) names checkpoint key \"{key}\", which the \
                 checkpoint does not have",
                node.name, node.op
            )));
        }
        self.tensor(g, &key)
    }
}

/// Parses a signature tensor name `node:port`.
fn tensor_ref(s: &str) -> Ref {
    match s.rsplit_once(':') {
        Some((n, p)) => Ref::Node(n.to_string(), p.parse().unwrap_or(usize::MAX)),
        None => Ref::Node(s.to_string(), 0),
    }
}

pub(crate) fn import(dir: &Path, opts: &ImportOptions) -> Result<Graph> {
    let pb = dir.join("saved_model.pb");
    let file = pb.display().to_string();
    let bytes = crate::map_file(&pb).map_err(|source| TfError::Io {
        file: file.clone(),
        source,
    })?;
    let model = SavedModel::decode(bytes).map_err(|e| TfError::Decode {
        file: file.clone(),
        message: format!("not a SavedModel: {e}"),
    })?;
    let model_err = |message: String| TfError::Model {
        file: file.clone(),
        message,
    };
    let serve = model.meta_graphs.iter().find(|m| {
        m.meta_info_def
            .as_ref()
            .is_some_and(|i| i.tags.iter().any(|t| t == "serve"))
    });
    let meta = match (serve, model.meta_graphs.as_slice()) {
        (Some(m), _) => m,
        (None, [m]) => m,
        (None, []) => return Err(model_err("the SavedModel has no meta graph".into())),
        (None, _) => {
            return Err(model_err(
                "the SavedModel has several meta graphs and none is tagged \"serve\"".into(),
            ))
        }
    };
    let sig_name = opts.signature.as_deref().unwrap_or("serving_default");
    let sig = meta.signature_def.get(sig_name).ok_or_else(|| {
        let names: Vec<String> = meta
            .signature_def
            .keys()
            .filter(|k| !k.starts_with("__"))
            .map(|k| format!("\"{k}\""))
            .collect();
        model_err(format!(
            "no signature \"{sig_name}\"; the model's signatures: {} (choose one with \
             --signature)",
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        ))
    })?;
    if !opts.outputs.is_empty() {
        return Err(model_err(
            "--outputs applies to frozen graphs; a SavedModel's outputs are its signature's \
             (choose one with --signature)"
                .into(),
        ));
    }
    let graph_def = meta
        .graph_def
        .as_ref()
        .ok_or_else(|| model_err("the meta graph has no graph".into()))?;
    let index = dir.join("variables").join("variables.index");
    let bundle = if index.exists() {
        Some(Bundle::open(&dir.join("variables").join("variables"))?)
    } else {
        None
    };
    let mut vars = Variables {
        file: file.clone(),
        bundle,
        objects: meta.object_graph_def.as_ref(),
        trackable: None,
        graph_nodes: &graph_def.node,
        cache: HashMap::new(),
    };
    let name = dir
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "saved_model".into());
    let lib = graph_def
        .library
        .as_ref()
        .map_or(&[][..], |l| &l.function[..]);
    let mut imp = Importer::new(file.clone(), &name, lib, &mut vars);
    let body = Body::graph(&graph_def.node);
    let keys: Vec<String> = sig.inputs.keys().cloned().collect();
    crate::inputs::check_overrides(&file, &keys, &opts.input_shapes)?;
    let mut bound: HashMap<String, Vec<Val>> = HashMap::new();
    for (key, info) in &sig.inputs {
        if !info.coo_sparse.is_empty() || !info.composite_tensor.is_empty() {
            return Err(imp.model_err(format!(
                "signature input \"{key}\" is a sparse or composite tensor; neoc takes \
                 dense tensors"
            )));
        }
        let Ref::Node(node, 0) = tensor_ref(&info.name) else {
            return Err(imp.model_err(format!(
                "signature input \"{key}\" is tensor \"{}\", not a placeholder's output",
                info.name
            )));
        };
        let ty = crate::inputs::input_type(
            &file,
            key,
            info.dtype,
            crate::tensor::shape_of(info.tensor_shape.as_ref()).as_deref(),
            &opts.input_shapes,
        )?;
        let v = imp.g.add_input(key.clone(), ty);
        let val = imp.input_val(v);
        bound.insert(node, vec![val]);
    }
    let wanted: Vec<Ref> = sig.outputs.values().map(|i| tensor_ref(&i.name)).collect();
    if wanted.is_empty() {
        return Err(imp.model_err(format!("signature \"{sig_name}\" has no outputs")));
    }
    let bound_names: HashSet<String> = bound.keys().cloned().collect();
    imp.check_supported(&body, &wanted, &bound_names)?;
    let vals = imp.eval(&body, &[], &wanted, &bound, 0)?;
    let outs: Vec<(String, Val)> = sig.outputs.keys().cloned().zip(vals).collect();
    imp.set_outputs(&outs)?;
    Ok(imp.g)
}
