//! Placeholder: this pass is being written and changes nothing yet.
use crate::Result;
use neoc_ir::Graph;
pub fn run(_graph: &mut Graph) -> Result<bool> {
    Ok(false)
}
