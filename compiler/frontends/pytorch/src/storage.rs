//! Tensor storages of an archive: `<dir><key>` entries (`<name>/data/0`, or
//! `<name>/constants/0` for TorchScript's constants), read once each and shared by the
//! tensors that view them.

use crate::archive::Archive;
use crate::error::{PytorchError, Result};
use crate::pickle::TensorMeta;
use bytes::Bytes;
use neoc_ir::Tensor;
use std::collections::HashMap;

/// The storages of one (possibly nested) archive.
#[derive(Debug)]
pub(crate) struct Storages<'a> {
    archive: &'a Archive,
    /// The directory of the storages, with its slash (`archive/data/`).
    prefix: String,
    read: HashMap<String, Bytes>,
}

impl<'a> Storages<'a> {
    pub(crate) fn new(archive: &'a Archive, prefix: &str) -> Storages<'a> {
        Storages {
            archive,
            prefix: prefix.to_string(),
            read: HashMap::new(),
        }
    }

    /// The IR constant of tensor `meta`; `what` names it in errors.
    pub(crate) fn tensor(&mut self, meta: &TensorMeta, what: &str) -> Result<Tensor> {
        let key = &meta.storage.key;
        let bytes = match self.read.get(key) {
            Some(b) => b.clone(),
            None => {
                let b = self.archive.read(&format!("{}{key}", self.prefix))?;
                self.read.insert(key.clone(), b.clone());
                b
            }
        };
        crate::tensors::materialize(meta, &bytes).map_err(|message| PytorchError::Archive {
            file: self.archive.file().to_string(),
            message: format!("{}tensor `{what}`: {message}", self.archive.place()),
        })
    }
}
