//! Little-endian primitives: an append-only writer and a bounds-checked reader. Every read
//! returns a `Result`; running off the end is an error, never a panic.

/// Appends little-endian values to a byte vector.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// A count or length; the format stores them as u32.
    pub fn len(&mut self, n: usize) {
        self.u32(u32::try_from(n).unwrap_or(u32::MAX));
    }
    pub fn str(&mut self, s: &str) {
        self.len(s.len());
        self.buf.extend_from_slice(s.as_bytes());
    }
    /// Pads with zeros up to a multiple of `align` (a power of two).
    pub fn pad_to(&mut self, align: u64) {
        while (self.buf.len() as u64) % align != 0 {
            self.buf.push(0);
        }
    }
}

/// Why a read failed: at which byte, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReadError {
    pub offset: u64,
    pub reason: String,
}

pub(crate) type ReadResult<T> = Result<T, ReadError>;

/// Reads little-endian values from a slice, tracking the position.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, pos: 0 }
    }

    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    pub fn err<T>(&self, reason: impl Into<String>) -> ReadResult<T> {
        Err(ReadError {
            offset: self.pos as u64,
            reason: reason.into(),
        })
    }

    pub fn take(&mut self, n: usize, what: &str) -> ReadResult<&'a [u8]> {
        if n > self.remaining() {
            return self.err(format!(
                "unexpected end reading {what}: need {n} bytes, {} left",
                self.remaining()
            ));
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &str) -> ReadResult<[u8; N]> {
        let s = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub fn u8(&mut self, what: &str) -> ReadResult<u8> {
        Ok(self.array::<1>(what)?[0])
    }
    pub fn u32(&mut self, what: &str) -> ReadResult<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    pub fn u64(&mut self, what: &str) -> ReadResult<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A count of items each at least `min_item_len` bytes long; rejects counts the
    /// remaining bytes cannot hold, so callers may preallocate.
    pub fn count(&mut self, what: &str, min_item_len: usize) -> ReadResult<usize> {
        let n = self.u32(what)? as usize;
        if n.saturating_mul(min_item_len.max(1)) > self.remaining() {
            return self.err(format!(
                "{what} count {n} exceeds the {} bytes left",
                self.remaining()
            ));
        }
        Ok(n)
    }

    pub fn str(&mut self, what: &str) -> ReadResult<String> {
        let n = self.count(what, 1)?;
        let start = self.pos;
        let s = self.take(n, what)?;
        match std::str::from_utf8(s) {
            Ok(s) => Ok(s.to_owned()),
            Err(e) => Err(ReadError {
                offset: start as u64,
                reason: format!("{what} is not valid UTF-8: {e}"),
            }),
        }
    }
}

/// Reads a little-endian u32 at a fixed offset of a slice known to be long enough.
pub(crate) fn le_u32(bytes: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = bytes.get(at..at + 4) {
        a.copy_from_slice(s);
    }
    u32::from_le_bytes(a)
}

/// Reads a little-endian u64 at a fixed offset of a slice known to be long enough.
pub(crate) fn le_u64(bytes: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    if let Some(s) = bytes.get(at..at + 8) {
        a.copy_from_slice(s);
    }
    u64::from_le_bytes(a)
}
