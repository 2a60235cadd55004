//! The zip container torch writes (`torch.jit.save`, `torch.save`, `torch.export.save`).
//!
//! Why a thin layer over the `zip` crate: torch stores tensor data uncompressed and
//! 64-byte aligned so it can be mapped; reading those entries as slices of the one
//! memory-mapped file keeps weights zero-copy, as the ONNX frontend does. Only the small
//! text entries (`code/*.py`, debug pickles) are deflated; they are inflated with a size
//! bound. Every entry's CRC is checked when it is read, so a corrupt file is an error
//! naming the entry, not garbage weights.
//!
//! `torch.export.save` nests archives: its `serialized_state_dict.pt` is itself a
//! `torch.save` zip, stored; [`Archive::open`] takes any [`Bytes`], so a nested archive
//! is opened over a slice of the outer one and stays zero-copy too.

use crate::error::{PytorchError, Result};
use bytes::Bytes;
use std::io::{Cursor, Read};

/// The largest entry inflated into memory (code, JSON, pickles); stored entries (weights)
/// are slices of the file and have no such bound.
pub(crate) const MAX_INFLATED: u64 = 256 << 20;

/// The largest number of entries an archive may have.
const MAX_ENTRIES: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Stored,
    Deflated,
    Other(u16),
}

#[derive(Debug, Clone)]
struct Entry {
    name: String,
    method: Method,
    /// Byte range of the (possibly compressed) data in the archive's bytes.
    start: usize,
    compressed: usize,
    size: u64,
    crc: u32,
}

/// An opened zip archive over one buffer.
#[derive(Debug, Clone)]
pub(crate) struct Archive {
    /// The model file, for messages.
    file: String,
    /// Empty for the model file itself; for a nested archive, its entry name
    /// (`serialized_state_dict.pt`), which messages put before the inner entry.
    label: String,
    bytes: Bytes,
    entries: Vec<Entry>,
}

/// True when `bytes` start like a zip archive (a local file header).
pub(crate) fn looks_like_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04")
}

impl Archive {
    /// Reads the central directory of the zip in `bytes`. `label` is empty for the
    /// model file, else the entry this archive is nested in.
    pub(crate) fn open(bytes: Bytes, file: &str, label: &str) -> Result<Archive> {
        let err = |message: String| PytorchError::Archive {
            file: file.to_string(),
            message,
        };
        let what = if label.is_empty() {
            "the file".to_string()
        } else {
            format!("entry `{label}`")
        };
        let at = place(label);
        if !looks_like_zip(&bytes) {
            return Err(err(format!(
                "{what} is not a zip archive (torch.jit.save, torch.save and \
                 torch.export.save all write zip files); the file may be truncated or not \
                 a PyTorch model"
            )));
        }
        let mut zip = zip::ZipArchive::new(Cursor::new(bytes.clone())).map_err(|e| {
            err(format!(
                "{what} is not a readable zip archive ({e}); the file may be truncated"
            ))
        })?;
        if zip.len() > MAX_ENTRIES {
            return Err(err(format!(
                "{what} has {} entries (limit {MAX_ENTRIES})",
                zip.len()
            )));
        }
        let mut entries = Vec::with_capacity(zip.len());
        for i in 0..zip.len() {
            let f = zip
                .by_index_raw(i)
                .map_err(|e| err(format!("{at}entry {i} is unreadable ({e})")))?;
            // Built without zip's codecs, a deflated entry reads as method 8.
            #[allow(deprecated)]
            let method = match f.compression().to_u16() {
                0 => Method::Stored,
                8 => Method::Deflated,
                other => Method::Other(other),
            };
            let name = f.name().to_string();
            let start = usize::try_from(f.data_start()).unwrap_or(usize::MAX);
            let compressed = usize::try_from(f.compressed_size()).unwrap_or(usize::MAX);
            let in_bounds = start
                .checked_add(compressed)
                .is_some_and(|end| end <= bytes.len());
            if !in_bounds {
                return Err(err(format!(
                    "{at}entry `{name}` extends past the end of the archive; the file \
                     is truncated"
                )));
            }
            if method == Method::Stored && f.size() != compressed as u64 {
                return Err(err(format!(
                    "{at}stored entry `{name}` has inconsistent sizes"
                )));
            }
            entries.push(Entry {
                name,
                method,
                start,
                compressed,
                size: f.size(),
                crc: f.crc32(),
            });
        }
        Ok(Archive {
            file: file.to_string(),
            label: label.to_string(),
            bytes,
            entries,
        })
    }

    /// What messages put before an entry name of this archive: nothing for the model
    /// file, `serialized_state_dict.pt: ` for a nested archive.
    pub(crate) fn place(&self) -> String {
        place(&self.label)
    }

    /// The model file this archive comes from.
    pub(crate) fn file(&self) -> &str {
        &self.file
    }

    /// Entry names, in archive order.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.name.as_str())
    }

    pub(crate) fn contains(&self, name: &str) -> bool {
        self.entries.iter().any(|e| e.name == name)
    }

    fn err(&self, message: String) -> PytorchError {
        PytorchError::Archive {
            file: self.file.clone(),
            message,
        }
    }

    /// The contents of entry `name`: a slice of the archive for stored entries, an
    /// inflated copy (at most [`MAX_INFLATED`] bytes) for deflated ones. The CRC is
    /// checked either way.
    pub(crate) fn read(&self, name: &str) -> Result<Bytes> {
        let Some(e) = self.entries.iter().find(|e| e.name == name) else {
            return Err(self.err(format!("{}the archive has no entry `{name}`", self.place())));
        };
        let raw = self.bytes.slice(e.start..e.start + e.compressed);
        let data = match e.method {
            Method::Stored => raw,
            Method::Deflated => {
                if e.size > MAX_INFLATED {
                    return Err(self.err(format!(
                        "{}entry `{name}` inflates to {} bytes (limit {MAX_INFLATED})",
                        self.place(),
                        e.size
                    )));
                }
                let mut out = Vec::with_capacity(e.size as usize);
                flate2::read::DeflateDecoder::new(&raw[..])
                    .take(e.size + 1)
                    .read_to_end(&mut out)
                    .map_err(|err| {
                        self.err(format!(
                            "{}entry `{name}` does not inflate ({err}); the file is corrupt",
                            self.place()
                        ))
                    })?;
                if out.len() as u64 != e.size {
                    return Err(self.err(format!(
                        "{}entry `{name}` inflates to {} bytes, the directory says {}; the \
                         file is corrupt",
                        self.place(),
                        out.len(),
                        e.size
                    )));
                }
                Bytes::from(out)
            }
            Method::Other(m) => {
                return Err(self.err(format!(
                    "{}entry `{name}` uses zip compression method {m}; torch writes \
                     stored or deflated entries only",
                    self.place()
                )))
            }
        };
        if crc32fast::hash(&data) != e.crc {
            return Err(self.err(format!(
                "{}entry `{name}` fails its CRC check; the file is corrupt",
                self.place()
            )));
        }
        Ok(data)
    }

    /// Reads entry `name` as UTF-8 text.
    pub(crate) fn read_text(&self, name: &str) -> Result<String> {
        let b = self.read(name)?;
        String::from_utf8(b.to_vec())
            .map_err(|_| self.err(format!("{}entry `{name}` is not UTF-8 text", self.place())))
    }

    /// Opens entry `name`, itself a zip archive (torch.export's nested `torch.save`
    /// files), over a slice of this one.
    pub(crate) fn nested(&self, name: &str) -> Result<Archive> {
        let b = self.read(name)?;
        let label = if self.label.is_empty() {
            name.to_string()
        } else {
            format!("{}/{name}", self.label)
        };
        Archive::open(b, &self.file, &label)
    }

    /// The common first path component of the entries that end in `suffix` (torch
    /// writes `<archive name>/data.pkl`, `<archive name>/code/...`): the prefix with its
    /// slash, or `None` when no entry ends so.
    pub(crate) fn prefix_of(&self, suffix: &str) -> Option<String> {
        self.names().find_map(|n| {
            let p = n.strip_suffix(suffix)?;
            (p.is_empty() || (p.ends_with('/') && p.matches('/').count() == 1))
                .then(|| p.to_string())
        })
    }
}

fn place(label: &str) -> String {
    if label.is_empty() {
        String::new()
    } else {
        format!("{label}: ")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn refuses_what_is_not_a_zip() {
        let e = Archive::open(Bytes::from_static(b"hello"), "m.pt", "").unwrap_err();
        assert!(e.to_string().contains("not a zip archive"), "{e}");
        let e =
            Archive::open(Bytes::from_static(b"PK\x03\x04truncated"), "m.pt", "m.pt").unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
    }
}
