//! MXNet's Symbol JSON (`model-symbol.json`): the graph as a list of nodes in
//! topological order.
//!
//! ```json
//! {"nodes": [{"op": "null", "name": "data", "inputs": []},
//!            {"op": "Convolution", "name": "conv0", "attrs": {"kernel": "(3, 3)", ...},
//!             "inputs": [[0, 0, 0], [1, 0, 0]]}, ...],
//!  "arg_nodes": [0, 1, ...], "heads": [[170, 0, 0]], "attrs": {"mxnet_version": [...]}}
//! ```
//!
//! `op: "null"` nodes are variables: parameters (found in the `.params` file) or graph
//! inputs. An input entry is `[node, output, version]`. Older files spell `attrs` as
//! `attr` or `param`. Every input must name an earlier node (the format is
//! topologically ordered), which also rules out cycles.

use std::collections::BTreeMap;

/// One node of the symbol.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub(crate) op: String,
    pub(crate) name: String,
    pub(crate) attrs: BTreeMap<String, String>,
    /// `(node index, output index)`.
    pub(crate) inputs: Vec<(usize, usize)>,
}

/// A parsed symbol.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Symbol {
    pub(crate) nodes: Vec<Node>,
    pub(crate) heads: Vec<(usize, usize)>,
}

fn entry(v: &serde_json::Value) -> Option<(usize, usize)> {
    let a = v.as_array()?;
    let n = usize::try_from(a.first()?.as_u64()?).ok()?;
    let i = usize::try_from(a.get(1).and_then(|x| x.as_u64()).unwrap_or(0)).ok()?;
    Some((n, i))
}

fn attr_string(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Parses and checks a symbol file's text. `Err` is the reason.
pub(crate) fn parse(text: &str) -> Result<Symbol, String> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let nodes_json = v
        .get("nodes")
        .and_then(|n| n.as_array())
        .ok_or("not an MXNet symbol (no \"nodes\" list)")?;
    let mut nodes = Vec::with_capacity(nodes_json.len());
    for (i, n) in nodes_json.iter().enumerate() {
        let op = n
            .get("op")
            .and_then(|o| o.as_str())
            .ok_or_else(|| format!("node {i} has no \"op\""))?
            .to_string();
        let name = n
            .get("name")
            .and_then(|o| o.as_str())
            .ok_or_else(|| format!("node {i} has no \"name\""))?
            .to_string();
        let attrs = ["attrs", "attr", "param"]
            .iter()
            .find_map(|k| n.get(*k).and_then(|a| a.as_object()))
            .map(|m| m.iter().map(|(k, v)| (k.clone(), attr_string(v))).collect())
            .unwrap_or_default();
        let inputs = n
            .get("inputs")
            .and_then(|x| x.as_array())
            .map(|a| a.iter().map(entry).collect::<Option<Vec<_>>>())
            .unwrap_or(Some(vec![]))
            .ok_or_else(|| format!("node {i} (\"{name}\") has a malformed input entry"))?;
        if let Some(&(bad, _)) = inputs.iter().find(|(src, _)| *src >= i) {
            return Err(format!(
                "node {i} (\"{name}\") reads node {bad}, which does not come before it"
            ));
        }
        nodes.push(Node {
            op,
            name,
            attrs,
            inputs,
        });
    }
    let heads = v
        .get("heads")
        .and_then(|h| h.as_array())
        .ok_or("the symbol has no \"heads\" (outputs)")?
        .iter()
        .map(entry)
        .collect::<Option<Vec<_>>>()
        .ok_or("a head entry is malformed")?;
    if heads.is_empty() {
        return Err("the symbol has no outputs".into());
    }
    if let Some((h, _)) = heads.iter().find(|(h, _)| *h >= nodes.len()) {
        return Err(format!("an output names node {h}, which does not exist"));
    }
    Ok(Symbol { nodes, heads })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses_forward_references() {
        let s = parse(
            r#"{"nodes":[{"op":"null","name":"x","inputs":[]},
                {"op":"relu","name":"r","attr":{"a":"1"},"inputs":[[0,0,0]]}],
                "arg_nodes":[0],"heads":[[1,0,0]]}"#,
        )
        .unwrap();
        assert_eq!(s.nodes[1].inputs, vec![(0, 0)]);
        assert_eq!(s.nodes[1].attrs["a"], "1");
        let e =
            parse(r#"{"nodes":[{"op":"relu","name":"r","inputs":[[0,0,0]]}],"heads":[[0,0,0]]}"#)
                .unwrap_err();
        assert!(e.contains("does not come before"), "{e}");
        assert!(parse("{}").is_err());
        assert!(parse("[1,").is_err());
    }
}
