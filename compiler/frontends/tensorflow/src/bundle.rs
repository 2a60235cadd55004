//! The tensor bundle of a SavedModel's `variables/` directory, read without TensorFlow.
//!
//! ```text
//! variables.index                 an SSTable (LevelDB's table format): key → value,
//!   ""          → BundleHeaderProto   sorted keys, prefix-compressed blocks, an index block
//!   "<ckpt key>" → BundleEntryProto   and a 48-byte footer
//! variables.data-SSSSS-of-NNNNN   raw tensor bytes; an entry names its shard, offset,
//!                                 size and CRC32C
//! ```
//!
//! Why read it here: the bundle is the only place a SavedModel keeps its weights, and
//! neoc must not depend on TensorFlow. Everything in these files is untrusted: every
//! block handle, varint, restart array, shard number, offset and size is checked
//! against the file it points into before use, allocations are bounded by the file
//! sizes, and a tensor whose CRC32C does not match is refused (a truncated or damaged
//! bundle fails with the file and the key, never with a panic). Data files are
//! memory-mapped, so a tensor is a slice of the map (no copy).

use crate::error::{Result, TfError};
use crate::proto::{BundleEntryProto, BundleHeaderProto};
use bytes::Bytes;
use prost::Message;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// LevelDB's table magic number (the footer's last 8 bytes, little-endian).
const TABLE_MAGIC: u64 = 0xdb47_7524_8b80_fb57;
const FOOTER_LEN: usize = 48;
/// Bytes after each block: compression type and masked CRC32C.
const BLOCK_TRAILER: usize = 5;
/// Most shards a bundle may name (TF writes one per device; a bound for the file table).
const MAX_SHARDS: i32 = 4096;

/// An opened bundle: its entries by key, and the data shards.
#[derive(Debug)]
pub(crate) struct Bundle {
    index_file: String,
    entries: BTreeMap<String, BundleEntryProto>,
    shards: Vec<(PathBuf, Option<Bytes>)>,
}

impl Bundle {
    /// Opens `prefix.index` (e.g. `variables/variables`) and checks its header; shards
    /// are mapped when first read.
    pub(crate) fn open(prefix: &Path) -> Result<Bundle> {
        let index_path = with_suffix(prefix, ".index");
        let index_file = index_path.display().to_string();
        let bytes = crate::map_file(&index_path).map_err(|source| TfError::Io {
            file: index_file.clone(),
            source,
        })?;
        let err = |message: String| TfError::Bundle {
            file: index_file.clone(),
            message,
        };
        let table = read_table(&bytes).map_err(err)?;
        let mut entries = BTreeMap::new();
        let mut header = None;
        for (key, value) in table {
            if key.is_empty() {
                header = Some(
                    BundleHeaderProto::decode(value.as_slice())
                        .map_err(|e| err(format!("the bundle header does not decode: {e}")))?,
                );
                continue;
            }
            let key =
                String::from_utf8(key).map_err(|_| err("a key is not valid UTF-8".to_string()))?;
            let entry = BundleEntryProto::decode(value.as_slice())
                .map_err(|e| err(format!("entry \"{key}\" does not decode: {e}")))?;
            entries.insert(key, entry);
        }
        let header =
            header.ok_or_else(|| err("the bundle header (empty key) is missing".into()))?;
        if header.endianness != 0 {
            return Err(err(
                "the bundle was written big-endian; neoc reads little-endian bundles".into(),
            ));
        }
        if header.num_shards < 1 || header.num_shards > MAX_SHARDS {
            return Err(err(format!(
                "the header names {} data shards",
                header.num_shards
            )));
        }
        let n = header.num_shards;
        let shards = (0..n)
            .map(|i| {
                let p = with_suffix(prefix, &format!(".data-{i:05}-of-{n:05}"));
                (p, None)
            })
            .collect();
        Ok(Bundle {
            index_file,
            entries,
            shards,
        })
    }

    /// The index file's path, for messages.
    pub(crate) fn index_file(&self) -> &str {
        &self.index_file
    }

    pub(crate) fn entry(&self, key: &str) -> Option<&BundleEntryProto> {
        self.entries.get(key)
    }

    /// The raw bytes of `key`'s tensor, checked against the entry's size and CRC32C.
    pub(crate) fn read(&mut self, key: &str) -> Result<Bytes> {
        let index_file = self.index_file.clone();
        let err = |message: String| TfError::Bundle {
            file: index_file.clone(),
            message: format!("tensor \"{key}\": {message}"),
        };
        let entry = self
            .entries
            .get(key)
            .ok_or_else(|| err("not in the bundle".into()))?
            .clone();
        if !entry.slices.is_empty() {
            return Err(err(
                "is stored in slices (a partitioned variable), which neoc does not read".into(),
            ));
        }
        let shard = usize::try_from(entry.shard_id)
            .ok()
            .filter(|&s| s < self.shards.len())
            .ok_or_else(|| err(format!("names data shard {}", entry.shard_id)))?;
        let (path, map) = &mut self.shards[shard];
        let data = match map {
            Some(b) => b.clone(),
            None => {
                let b = crate::map_file(path).map_err(|source| TfError::Io {
                    file: path.display().to_string(),
                    source,
                })?;
                *map = Some(b.clone());
                b
            }
        };
        let data_file = path.display().to_string();
        let (off, size) = (entry.offset, entry.size);
        let range = u64::try_from(off)
            .ok()
            .zip(u64::try_from(size).ok())
            .and_then(|(o, s)| Some((o, o.checked_add(s)?)))
            .filter(|&(_, end)| end <= data.len() as u64);
        let Some((start, end)) = range else {
            return Err(TfError::Bundle {
                file: data_file,
                message: format!(
                    "tensor \"{key}\" lies at bytes {off}..{} but the file has {} bytes \
                     (truncated?)",
                    off.saturating_add(size),
                    data.len()
                ),
            });
        };
        let bytes = data.slice(start as usize..end as usize);
        if entry.dtype != crate::proto::dt::STRING {
            let crc = crc32c(0, &bytes);
            if unmask(entry.crc32c) != crc {
                return Err(TfError::Bundle {
                    file: data_file,
                    message: format!("tensor \"{key}\": checksum mismatch (the file is damaged)"),
                });
            }
        }
        Ok(bytes)
    }

    /// The single string of a scalar `DT_STRING` entry (how the checkpoint stores its
    /// object graph): a varint length, a 4-byte checksum of the lengths, the bytes.
    pub(crate) fn read_scalar_string(&mut self, key: &str) -> Result<Bytes> {
        let b = self.read(key)?;
        let err = |m: &str| TfError::Bundle {
            file: self.index_file.clone(),
            message: format!("string tensor \"{key}\": {m}"),
        };
        let (len, mut pos) = varint(&b, 0).ok_or_else(|| err("bad length"))?;
        pos += 4;
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| pos.checked_add(l))
            .filter(|&e| e <= b.len())
            .ok_or_else(|| err("the string is longer than the tensor"))?;
        Ok(b.slice(pos..end))
    }
}

fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// A table entry: key and value bytes.
type Entry = (Vec<u8>, Vec<u8>);

/// Reads every (key, value) of an SSTable.
pub(crate) fn read_table(file: &[u8]) -> std::result::Result<Vec<Entry>, String> {
    if file.len() < FOOTER_LEN {
        return Err(format!(
            "{} bytes is too short for a table (truncated?)",
            file.len()
        ));
    }
    let footer = &file[file.len() - FOOTER_LEN..];
    let mut magic = [0u8; 8];
    magic.copy_from_slice(&footer[40..48]);
    if u64::from_le_bytes(magic) != TABLE_MAGIC {
        return Err("not a tensor bundle index (bad table magic; truncated?)".into());
    }
    let (_meta, pos) = block_handle(footer, 0).ok_or("bad metaindex handle in the footer")?;
    let (index, _) = block_handle(footer, pos).ok_or("bad index handle in the footer")?;
    let index_block = read_block(file, index)?;
    let mut out = Vec::new();
    for (_, handle) in block_entries(&index_block)? {
        let (h, _) = block_handle(&handle, 0).ok_or("bad data block handle in the index")?;
        let block = read_block(file, h)?;
        out.extend(block_entries(&block)?);
    }
    Ok(out)
}

/// `(offset, size)` of a block.
type Handle = (u64, u64);

fn block_handle(b: &[u8], pos: usize) -> Option<(Handle, usize)> {
    let (off, pos) = varint(b, pos)?;
    let (size, pos) = varint(b, pos)?;
    Some(((off, size), pos))
}

/// A block's contents, after checking bounds and CRC and undoing compression.
fn read_block(file: &[u8], (off, size): Handle) -> std::result::Result<Vec<u8>, String> {
    let end = off
        .checked_add(size)
        .and_then(|e| e.checked_add(BLOCK_TRAILER as u64))
        .filter(|&e| e <= file.len() as u64)
        .ok_or_else(|| {
            format!(
                "a block at {off}+{size} runs past the end of the file ({} bytes; truncated?)",
                file.len()
            )
        })?;
    let (off, end) = (off as usize, end as usize);
    let contents = &file[off..end - BLOCK_TRAILER];
    let kind = file[end - BLOCK_TRAILER];
    let mut crc = [0u8; 4];
    crc.copy_from_slice(&file[end - 4..end]);
    let want = unmask(u32::from_le_bytes(crc));
    let got = crc32c(crc32c(0, contents), &[kind]);
    if want != got {
        return Err(format!(
            "block at {off}: checksum mismatch (the file is damaged)"
        ));
    }
    match kind {
        0 => Ok(contents.to_vec()),
        1 => snappy_decompress(contents).ok_or_else(|| format!("block at {off}: bad snappy data")),
        k => Err(format!("block at {off}: unknown compression type {k}")),
    }
}

/// The (key, value) entries of a block (prefix-compressed keys, restart array at the end).
fn block_entries(block: &[u8]) -> std::result::Result<Vec<Entry>, String> {
    let bad = || "a table block is malformed".to_string();
    if block.len() < 4 {
        return Err(bad());
    }
    let n = u32::from_le_bytes([
        block[block.len() - 4],
        block[block.len() - 3],
        block[block.len() - 2],
        block[block.len() - 1],
    ]) as usize;
    let limit = n
        .checked_add(1)
        .and_then(|k| k.checked_mul(4))
        .and_then(|r| block.len().checked_sub(r))
        .ok_or_else(bad)?;
    let mut out = Vec::new();
    let mut key: Vec<u8> = Vec::new();
    let mut pos = 0;
    while pos < limit {
        let (shared, p) = varint(block, pos).ok_or_else(bad)?;
        let (unshared, p) = varint(block, p).ok_or_else(bad)?;
        let (vlen, p) = varint(block, p).ok_or_else(bad)?;
        let shared = usize::try_from(shared).map_err(|_| bad())?;
        if shared > key.len() {
            return Err(bad());
        }
        let kend = usize::try_from(unshared)
            .ok()
            .and_then(|u| p.checked_add(u))
            .filter(|&e| e <= limit)
            .ok_or_else(bad)?;
        let vend = usize::try_from(vlen)
            .ok()
            .and_then(|v| kend.checked_add(v))
            .filter(|&e| e <= limit)
            .ok_or_else(bad)?;
        key.truncate(shared);
        key.extend_from_slice(&block[p..kend]);
        out.push((key.clone(), block[kend..vend].to_vec()));
        pos = vend;
    }
    Ok(out)
}

/// A little-endian base-128 varint (at most 10 bytes).
pub(crate) fn varint(b: &[u8], mut pos: usize) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for shift in (0..70).step_by(7) {
        let c = *b.get(pos)?;
        pos += 1;
        v |= u64::from(c & 0x7f).checked_shl(shift)?;
        if c < 0x80 {
            return Some((v, pos));
        }
    }
    None
}

/// Snappy's raw format (LevelDB compresses blocks with it when that saves space).
fn snappy_decompress(src: &[u8]) -> Option<Vec<u8>> {
    let (len, mut pos) = varint(src, 0)?;
    let len = usize::try_from(len).ok()?;
    // Snappy expands at most ~21x... bound the output by a generous multiple of the input.
    if len > src.len().saturating_mul(64).max(1024) {
        return None;
    }
    let mut out = Vec::with_capacity(len);
    while pos < src.len() {
        let tag = src[pos];
        pos += 1;
        match tag & 3 {
            0 => {
                let mut n = usize::from(tag >> 2);
                if n >= 60 {
                    let k = n - 59;
                    let bytes = src.get(pos..pos + k)?;
                    n = bytes
                        .iter()
                        .rev()
                        .fold(0usize, |a, &b| (a << 8) | usize::from(b));
                    pos += k;
                }
                let lit = src.get(pos..pos.checked_add(n + 1)?)?;
                out.extend_from_slice(lit);
                pos += n + 1;
            }
            kind => {
                let (n, off) = match kind {
                    1 => {
                        let b = *src.get(pos)?;
                        pos += 1;
                        (
                            usize::from((tag >> 2) & 7) + 4,
                            (usize::from(tag >> 5) << 8) | usize::from(b),
                        )
                    }
                    2 => {
                        let b = src.get(pos..pos + 2)?;
                        pos += 2;
                        (
                            usize::from(tag >> 2) + 1,
                            usize::from(u16::from_le_bytes([b[0], b[1]])),
                        )
                    }
                    _ => {
                        let b = src.get(pos..pos + 4)?;
                        pos += 4;
                        (
                            usize::from(tag >> 2) + 1,
                            u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize,
                        )
                    }
                };
                if off == 0 || off > out.len() || out.len() + n > len {
                    return None;
                }
                let start = out.len() - off;
                for i in 0..n {
                    let c = out[start + i];
                    out.push(c);
                }
            }
        }
        if out.len() > len {
            return None;
        }
    }
    (out.len() == len).then_some(out)
}

/// CRC-32C (Castagnoli), continuing from `crc`.
pub(crate) fn crc32c(crc: u32, data: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (i, e) in t.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    (c >> 1) ^ 0x82f6_3b78
                } else {
                    c >> 1
                };
            }
            *e = c;
        }
        t
    });
    let mut c = !crc;
    for &b in data {
        c = table[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

/// LevelDB/TF store CRCs "masked" so that a CRC of data containing CRCs stays useful.
fn unmask(masked: u32) -> u32 {
    let rot = masked.wrapping_sub(0xa282_ead8);
    rot.rotate_left(15)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(crc: u32) -> u32 {
        crc.rotate_right(15).wrapping_add(0xa282_ead8)
    }

    #[test]
    fn crc32c_known_value() {
        assert_eq!(crc32c(0, b"123456789"), 0xe306_9283);
        assert_eq!(unmask(mask(0x1234_5678)), 0x1234_5678);
    }

    /// Builds a one-block table by hand.
    fn table(entries: &[(&[u8], &[u8])]) -> Vec<u8> {
        fn put_varint(v: &mut Vec<u8>, mut x: u64) {
            while x >= 0x80 {
                v.push((x as u8) | 0x80);
                x >>= 7;
            }
            v.push(x as u8);
        }
        fn block(entries: &[(&[u8], &[u8])]) -> Vec<u8> {
            let mut b = Vec::new();
            for (k, v) in entries {
                put_varint(&mut b, 0);
                put_varint(&mut b, k.len() as u64);
                put_varint(&mut b, v.len() as u64);
                b.extend_from_slice(k);
                b.extend_from_slice(v);
            }
            b.extend_from_slice(&0u32.to_le_bytes());
            b.extend_from_slice(&1u32.to_le_bytes());
            b
        }
        fn push_block(file: &mut Vec<u8>, contents: &[u8]) -> (u64, u64) {
            let off = file.len() as u64;
            file.extend_from_slice(contents);
            file.push(0);
            let crc = mask(crc32c(crc32c(0, contents), &[0]));
            file.extend_from_slice(&crc.to_le_bytes());
            (off, contents.len() as u64)
        }
        let mut file = Vec::new();
        let data = push_block(&mut file, &block(entries));
        let mut handle = Vec::new();
        put_varint(&mut handle, data.0);
        put_varint(&mut handle, data.1);
        let last = entries.last().map_or(&b""[..], |e| e.0);
        let index = push_block(&mut file, &block(&[(last, &handle)]));
        let meta = push_block(&mut file, &block(&[]));
        let mut footer = Vec::new();
        for x in [meta.0, meta.1, index.0, index.1] {
            put_varint(&mut footer, x);
        }
        footer.resize(40, 0);
        footer.extend_from_slice(&TABLE_MAGIC.to_le_bytes());
        file.extend_from_slice(&footer);
        file
    }

    #[test]
    fn reads_a_table_and_refuses_damage() {
        let t = table(&[(b"", b"h"), (b"a/b", b"xy"), (b"a/c", b"")]);
        let e = read_table(&t).unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!(e[1], (b"a/b".to_vec(), b"xy".to_vec()));
        // Every truncation is an error, never a panic.
        for n in 0..t.len() {
            assert!(read_table(&t[..n]).is_err(), "truncated to {n}");
        }
        // Every flipped byte is an error or (padding) harmless.
        for i in 0..t.len() {
            let mut d = t.clone();
            d[i] ^= 0x5a;
            let _ = read_table(&d);
        }
    }

    #[test]
    fn snappy_literals_and_copies() {
        // "abcabcabcX": literal "abc", copy (len 6, offset 3), literal "X".
        let src = [
            10u8,
            2 << 2,
            b'a',
            b'b',
            b'c',
            ((6 - 4) << 2) | 1,
            3,
            0,
            b'X',
        ];
        assert_eq!(snappy_decompress(&src).unwrap(), b"abcabcabcX");
        assert!(snappy_decompress(&[10u8, 0x05, 9]).is_none());
    }
}
