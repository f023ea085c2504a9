// SPDX-License-Identifier: Apache-2.0
//! Key batches as flat buffers, and their hashing. PyO3-free.
//!
//! A batch is borrowed from whatever holds it (numpy, Arrow, or a buffer the
//! binding layer filled from a Python list), so hashing never touches Python
//! objects and can run with the GIL released and on every core.

use crate::batch::par_map;
use crate::hash::HashAlgorithm;

/// Offsets of a variable-length batch: element i is `data[off[i]..off[i+1]]`.
#[derive(Clone, Copy, Debug)]
pub enum Offsets<'a> {
    I32(&'a [i32]),
    I64(&'a [i64]),
}

impl Offsets<'_> {
    #[inline]
    fn at(&self, i: usize) -> usize {
        match self {
            Offsets::I32(o) => o[i] as usize,
            Offsets::I64(o) => o[i] as usize,
        }
    }
}

/// A batch of keys laid out flat.
#[derive(Clone, Copy, Debug)]
pub enum KeyBatch<'a> {
    /// Integer keys; each hashed as its 8 little-endian bytes.
    U64(&'a [u64]),
    /// Variable-length byte strings (UTF-8 for str keys).
    Varlen { data: &'a [u8], offsets: Offsets<'a> },
    /// numpy `S<width>`: fixed-width, NUL-padded; trailing NULs are not part of the key.
    FixedBytes { data: &'a [u8], width: usize },
    /// numpy `U<width>`: fixed-width UCS-4, NUL-padded; hashed as UTF-8.
    FixedUcs4 { data: &'a [u32], width: usize },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// Offsets decrease, are negative, or point past the data.
    BadOffsets { index: usize },
    /// A UCS-4 element holds a value that is not a Unicode scalar value.
    BadCodePoint { index: usize, value: u32 },
    /// The buffer length is not a multiple of the element width.
    BadWidth,
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyError::BadOffsets { index } => {
                write!(f, "offsets are not non-decreasing within the data at position {index}")
            }
            KeyError::BadCodePoint { index, value } => {
                write!(f, "key {index} holds {value:#x}, which is not a Unicode scalar value")
            }
            KeyError::BadWidth => write!(f, "buffer length is not a multiple of the item width"),
        }
    }
}

impl std::error::Error for KeyError {}

impl<'a> KeyBatch<'a> {
    /// Number of keys; also checks the layout so later indexing cannot fail.
    pub fn validate(&self) -> Result<usize, KeyError> {
        match *self {
            KeyBatch::U64(v) => Ok(v.len()),
            // One loop per offset width (no per-offset match).
            KeyBatch::Varlen { data, offsets: Offsets::I32(o) } => checked_offsets(o, data.len()),
            KeyBatch::Varlen { data, offsets: Offsets::I64(o) } => checked_offsets(o, data.len()),
            KeyBatch::FixedBytes { data, width } => fixed_len(data.len(), width),
            KeyBatch::FixedUcs4 { data, width } => {
                let n = fixed_len(data.len(), width)?;
                if let Some(pos) = data.iter().position(|&c| char::from_u32(c).is_none()) {
                    return Err(KeyError::BadCodePoint { index: pos / width.max(1), value: data[pos] });
                }
                Ok(n)
            }
        }
    }

    /// Hash of key `i`. `scratch` holds the UTF-8 encoding of UCS-4 keys.
    /// Callers must have run `validate` first.
    #[inline]
    pub fn hash_at(&self, i: usize, algo: HashAlgorithm, seed: u64, scratch: &mut Vec<u8>) -> u64 {
        match *self {
            KeyBatch::U64(v) => algo.hash_u64(v[i], seed),
            _ => algo.hash(self.bytes_at(i, scratch), seed),
        }
    }

    /// Key `i` hashed by `hash` over its canonical bytes (integers: 8 bytes
    /// little-endian). Callers must have run `validate` first.
    #[inline]
    pub fn hash_at_with<H: Fn(&[u8]) -> u64>(&self, i: usize, hash: &H, scratch: &mut Vec<u8>) -> u64 {
        match *self {
            KeyBatch::U64(v) => hash(&v[i].to_le_bytes()),
            _ => hash(self.bytes_at(i, scratch)),
        }
    }

    /// Canonical bytes of key `i` (integers: 8 bytes little-endian).
    #[inline]
    pub fn bytes_at<'s>(&'s self, i: usize, scratch: &'s mut Vec<u8>) -> &'s [u8] {
        match *self {
            KeyBatch::U64(v) => {
                scratch.clear();
                scratch.extend_from_slice(&v[i].to_le_bytes());
                scratch
            }
            KeyBatch::Varlen { data, offsets } => &data[offsets.at(i)..offsets.at(i + 1)],
            KeyBatch::FixedBytes { data, width } => trim_trailing_zeros(&data[i * width..(i + 1) * width]),
            KeyBatch::FixedUcs4 { data, width } => {
                let chars = trim_trailing_zeros(&data[i * width..(i + 1) * width]);
                scratch.clear();
                for &c in chars {
                    // validate() guaranteed every value is a scalar value.
                    let ch = char::from_u32(c).unwrap_or('\u{FFFD}');
                    let mut buf = [0u8; 4];
                    scratch.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                scratch
            }
        }
    }

    /// Hashes every key, in parallel for large batches. Same output for any
    /// thread count.
    pub fn hash_all(&self, algo: HashAlgorithm, seed: u64) -> Result<Vec<u64>, KeyError> {
        self.hash_all_with(move |b: &[u8]| algo.hash(b, seed))
    }

    /// `hash_all` with any hash of a key's canonical bytes (the keyed placement hash).
    pub fn hash_all_with<H>(&self, hash: H) -> Result<Vec<u64>, KeyError>
    where
        H: Fn(&[u8]) -> u64 + Sync + Send,
    {
        self.validate()?;
        Ok(self.map_hashes_with(hash, |h| h))
    }

    /// `f(hash of key i)` for every key; the layout is matched once per batch
    /// so the per-key loop is specialised. Callers must have run `validate`.
    pub fn map_hashes<T, F>(&self, algo: HashAlgorithm, seed: u64, f: F) -> Vec<T>
    where
        T: Send + Copy + Default,
        F: Fn(u64) -> T + Sync + Send,
    {
        self.map_hashes_with(move |b: &[u8]| algo.hash(b, seed), f)
    }

    /// `map_hashes` with any hash of a key's canonical bytes (integers: 8 bytes
    /// little-endian, exactly what `HashAlgorithm::hash_u64` hashes).
    pub fn map_hashes_with<T, H, F>(&self, hash: H, f: F) -> Vec<T>
    where
        T: Send + Copy + Default,
        H: Fn(&[u8]) -> u64 + Sync + Send,
        F: Fn(u64) -> T + Sync + Send,
    {
        match *self {
            KeyBatch::U64(v) => par_map(v.len(), || (), |_, i| f(hash(&v[i].to_le_bytes()))),
            KeyBatch::Varlen { data, offsets: Offsets::I32(o) } => par_map(o.len().saturating_sub(1), || (), |_, i| {
                f(hash(&data[o[i] as usize..o[i + 1] as usize]))
            }),
            KeyBatch::Varlen { data, offsets: Offsets::I64(o) } => par_map(o.len().saturating_sub(1), || (), |_, i| {
                f(hash(&data[o[i] as usize..o[i + 1] as usize]))
            }),
            _ => {
                let n = self.validate().unwrap_or(0);
                let batch = *self;
                par_map(n, Vec::new, |scratch, i| f(batch.hash_at_with(i, &hash, scratch)))
            }
        }
    }
}

/// Number of elements `offsets` delimits, or the first offset that is
/// negative, past `data_len` or below its predecessor.
fn checked_offsets<O: Copy + Into<i64>>(offsets: &[O], data_len: usize) -> Result<usize, KeyError> {
    // Fast path without early exits (the compiler vectorises it): non-decreasing
    // from a first offset >= 0 to a last <= data_len puts every offset in range.
    // It was 8% of a 1 M-string `route` (docs/build.md §12).
    let in_order = offsets.windows(2).fold(true, |ok, w| ok & (w[0].into() <= w[1].into()));
    let (first, last) = (offsets.first().map_or(0, |&o| o.into()), offsets.last().map_or(0, |&o| o.into()));
    if in_order && first >= 0 && (last as u64) <= data_len as u64 {
        return Ok(offsets.len().saturating_sub(1));
    }
    let mut prev = 0i64;
    for (i, &raw) in offsets.iter().enumerate() {
        let raw: i64 = raw.into();
        if raw < 0 || (raw as u64) > data_len as u64 || (i > 0 && raw < prev) {
            return Err(KeyError::BadOffsets { index: i });
        }
        prev = raw;
    }
    Ok(offsets.len().saturating_sub(1))
}

fn fixed_len(len: usize, width: usize) -> Result<usize, KeyError> {
    if width == 0 {
        // numpy allows itemsize 0 only for empty-string arrays; such keys are all "".
        return if len == 0 { Ok(0) } else { Err(KeyError::BadWidth) };
    }
    if len % width != 0 {
        return Err(KeyError::BadWidth);
    }
    Ok(len / width)
}

#[inline]
fn trim_trailing_zeros<T: Copy + PartialEq + Default>(s: &[T]) -> &[T] {
    let zero = T::default();
    let mut end = s.len();
    while end > 0 && s[end - 1] == zero {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_agree_on_the_same_keys() {
        let algo = HashAlgorithm::Xxh3;
        let words = ["", "a", "héllo", "€uro"];
        let mut data = Vec::new();
        let mut offsets = vec![0i64];
        for w in words {
            data.extend_from_slice(w.as_bytes());
            offsets.push(data.len() as i64);
        }
        let varlen = KeyBatch::Varlen { data: &data, offsets: Offsets::I64(&offsets) }.hash_all(algo, 7).unwrap();
        let width = 5; // longest key, "héllo", has 5 chars
        let mut ucs4 = vec![0u32; words.len() * width];
        for (i, w) in words.iter().enumerate() {
            for (j, c) in w.chars().enumerate() {
                ucs4[i * width + j] = c as u32;
            }
        }
        let fixed = KeyBatch::FixedUcs4 { data: &ucs4, width }.hash_all(algo, 7).unwrap();
        assert_eq!(varlen, fixed);
        let direct: Vec<u64> = words.iter().map(|w| algo.hash(w.as_bytes(), 7)).collect();
        assert_eq!(varlen, direct);
    }

    #[test]
    fn bad_layouts_are_errors_not_panics() {
        let data = b"abc";
        let bad = [0i32, 5];
        assert!(KeyBatch::Varlen { data, offsets: Offsets::I32(&bad) }.validate().is_err());
        let decreasing = [0i32, 2, 1];
        assert!(KeyBatch::Varlen { data, offsets: Offsets::I32(&decreasing) }.validate().is_err());
        // The first bad offset is named: negative, past the data, below its predecessor.
        for (offsets, index) in [(vec![-1i64, 0], 0), (vec![0, 1, -2, 3], 2), (vec![0, 4], 1), (vec![1, 2, 3, 2, 3], 3)] {
            let batch = KeyBatch::Varlen { data, offsets: Offsets::I64(&offsets) };
            assert_eq!(batch.validate(), Err(KeyError::BadOffsets { index }), "{offsets:?}");
        }
        let fine = [1i64, 1, 3];
        assert_eq!(KeyBatch::Varlen { data, offsets: Offsets::I64(&fine) }.validate(), Ok(2));
        assert_eq!(KeyBatch::FixedBytes { data, width: 2 }.validate(), Err(KeyError::BadWidth));
        let surrogate = [0xD800u32];
        assert!(matches!(
            KeyBatch::FixedUcs4 { data: &surrogate, width: 1 }.validate(),
            Err(KeyError::BadCodePoint { index: 0, value: 0xD800 })
        ));
    }

    #[test]
    fn fixed_bytes_strip_padding() {
        let data = b"ab\0\0abc\0";
        let h = KeyBatch::FixedBytes { data, width: 4 }.hash_all(HashAlgorithm::Xxh64, 0).unwrap();
        assert_eq!(h, vec![HashAlgorithm::Xxh64.hash(b"ab", 0), HashAlgorithm::Xxh64.hash(b"abc", 0)]);
    }
}
