// SPDX-License-Identifier: Apache-2.0
//! Card-number tokens: HMAC-SHA-256 (RFC 2104 over FIPS 180-4 SHA-256) of the
//! normalized primary account number, the keyed cryptographic hash PCI DSS
//! v4.0.1 req. 3.5.1.1 asks for when card numbers are hashed (docs/tokens.md).
//!
//! Normalization: spaces and dashes are dropped; what is left must be 12 to 19
//! ASCII digits (ISO/IEC 7812-1 allows up to 19; shorter strings are not card
//! numbers). The key schedule (the inner and outer padded-key states) is
//! computed once per secret and cloned per token, so a token costs two SHA-256
//! compressions.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::batch::par_rows_bytes;
use crate::keys::KeyBatch;

pub const MIN_SECRET_BYTES: usize = 16;
pub const MIN_PAN_DIGITS: usize = 12;
pub const MAX_PAN_DIGITS: usize = 19;
pub const TOKEN_BYTES: usize = 32;

/// Outcome of tokenizing one value; `Ok` is 0 so a zeroed status array means success.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(u8)]
pub enum PanStatus {
    #[default]
    Ok = 0,
    /// Empty after dropping separators.
    Empty = 1,
    /// A character other than a digit, space or dash.
    NotDigits = 2,
    /// Fewer than 12 or more than 19 digits.
    Length = 3,
    /// The Luhn check digit does not match (only when asked to check).
    Luhn = 4,
}

/// The keyed HMAC state for one secret.
#[derive(Clone)]
pub struct PanTokenizer {
    keyed: Hmac<Sha256>,
}

impl PanTokenizer {
    pub fn new(secret: &[u8]) -> Result<Self, String> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(format!("secret: must be at least {MIN_SECRET_BYTES} bytes"));
        }
        let keyed = Hmac::<Sha256>::new_from_slice(secret).map_err(|e| format!("secret: {e}"))?;
        Ok(PanTokenizer { keyed })
    }

    /// The digits of `pan` without separators, into `out`; returns their count.
    pub fn normalize(pan: &[u8], out: &mut [u8; MAX_PAN_DIGITS]) -> Result<usize, PanStatus> {
        let mut n = 0;
        for &c in pan {
            match c {
                b'0'..=b'9' => {
                    if n == MAX_PAN_DIGITS {
                        return Err(PanStatus::Length);
                    }
                    out[n] = c;
                    n += 1;
                }
                b' ' | b'-' => {}
                _ => return Err(PanStatus::NotDigits),
            }
        }
        match n {
            0 => Err(PanStatus::Empty),
            n if n < MIN_PAN_DIGITS => Err(PanStatus::Length),
            n => Ok(n),
        }
    }

    /// HMAC-SHA-256 of the normalized card number.
    pub fn token(&self, pan: &[u8], check_luhn: bool) -> Result<[u8; TOKEN_BYTES], PanStatus> {
        let mut digits = [0u8; MAX_PAN_DIGITS];
        let n = Self::normalize(pan, &mut digits)?;
        if check_luhn && !luhn_valid(&digits[..n]) {
            return Err(PanStatus::Luhn);
        }
        let mut mac = self.keyed.clone();
        mac.update(&digits[..n]);
        Ok(mac.finalize().into_bytes().into())
    }
}

impl PanTokenizer {
    /// Tokens of a validated batch of `n` values in one parallel pass: each
    /// worker computes the HMAC and writes it (as lowercase hex when `hex`)
    /// straight into its output row, with its status byte; failed rows stay
    /// zero. Integer keys are read as their decimal digits. Returns
    /// (n rows of 64 or 32 bytes, n status bytes).
    pub fn tokens_batch(&self, batch: KeyBatch<'_>, n: usize, check_luhn: bool, hex: bool) -> (Vec<u8>, Vec<u8>) {
        let width = if hex { 2 * TOKEN_BYTES } else { TOKEN_BYTES };
        par_rows_bytes(n, width, 1, Vec::new, |scratch, i, row, status| {
            let result = match batch {
                KeyBatch::U64(v) => {
                    let mut digits = [0u8; 20];
                    let len = decimal_digits(v[i], &mut digits);
                    self.token(&digits[20 - len..], check_luhn)
                }
                _ => self.token(batch.bytes_at(i, scratch), check_luhn),
            };
            match result {
                Ok(t) if hex => hex_into(&t, row),
                Ok(t) => row.copy_from_slice(&t),
                Err(s) => status[0] = s as u8,
            }
        })
    }
}

/// Decimal digits of `v`, right-aligned in `out`; returns how many.
fn decimal_digits(mut v: u64, out: &mut [u8; 20]) -> usize {
    let mut len = 0;
    loop {
        out[19 - len] = b'0' + (v % 10) as u8;
        len += 1;
        v /= 10;
        if v == 0 {
            return len;
        }
    }
}

/// ISO/IEC 7812-1 Annex B (Luhn): doubling every second digit from the right.
pub fn luhn_valid(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, &c) in digits.iter().rev().enumerate() {
        let d = (c - b'0') as u32;
        sum += if i % 2 == 1 { if d > 4 { 2 * d - 9 } else { 2 * d } } else { d };
    }
    sum % 10 == 0
}

/// Lowercase hex of a token into `out` (64 bytes).
pub fn hex_into(token: &[u8; TOKEN_BYTES], out: &mut [u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, &b) in token.iter().enumerate() {
        out[2 * i] = HEX[(b >> 4) as usize];
        out[2 * i + 1] = HEX[(b & 15) as usize];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4231_case_2_and_normalization() {
        // RFC 4231 §4.3 test case 2 uses a 4-byte key, below our minimum; check
        // the HMAC core through a long key instead (RFC 4231 §4.7 test case 6:
        // 131-byte key of 0xaa, "Test Using Larger Than Block-Size Key - Hash Key First").
        let key = [0xaau8; 131];
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(b"Test Using Larger Than Block-Size Key - Hash Key First");
        let expect = "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54";
        let mut hex = [0u8; 64];
        hex_into(&mac.finalize().into_bytes().into(), &mut hex);
        assert_eq!(std::str::from_utf8(&hex).unwrap(), expect);
        let t = PanTokenizer::new(&[7u8; 16]).unwrap();
        assert_eq!(t.token(b"4111 1111-1111 1111", true), t.token(b"4111111111111111", true));
        assert_eq!(t.token(b"4111111111111112", true), Err(PanStatus::Luhn));
        assert_eq!(t.token(b"4111x", false), Err(PanStatus::NotDigits));
        assert_eq!(t.token(b"41111111111", false), Err(PanStatus::Length));
        assert_eq!(t.token(b"41111111111111111111", false), Err(PanStatus::Length));
        assert_eq!(t.token(b" - ", false), Err(PanStatus::Empty));
        assert!(PanTokenizer::new(&[0u8; 15]).is_err());
    }

    #[test]
    fn batch_tokens_equal_single_tokens_in_every_layout() {
        let t = PanTokenizer::new(&[9u8; 32]).unwrap();
        let pans = ["4111111111111111", "bad", "5500 0000 0000 0004", "4111111111111112"];
        let mut data = Vec::new();
        let mut offsets = vec![0i64];
        for p in pans {
            data.extend_from_slice(p.as_bytes());
            offsets.push(data.len() as i64);
        }
        let batch = KeyBatch::Varlen { data: &data, offsets: crate::keys::Offsets::I64(&offsets) };
        for hex in [true, false] {
            let (rows, status) = t.tokens_batch(batch, pans.len(), true, hex);
            let width = if hex { 64 } else { 32 };
            for (i, p) in pans.iter().enumerate() {
                match t.token(p.as_bytes(), true) {
                    Ok(tok) => {
                        let mut want = [0u8; 64];
                        if hex {
                            hex_into(&tok, &mut want);
                        } else {
                            want[..32].copy_from_slice(&tok);
                        }
                        assert_eq!(&rows[i * width..(i + 1) * width], &want[..width], "row {i}");
                        assert_eq!(status[i], 0);
                    }
                    Err(s) => {
                        assert_eq!(status[i], s as u8, "row {i}");
                        assert!(rows[i * width..(i + 1) * width].iter().all(|&b| b == 0));
                    }
                }
            }
        }
        // Integers are their decimal digits: 0 is too short, u64::MAX (20 digits) too long.
        let ints = [4111111111111111u64, 0, 9_999_999_999_999_999_999, u64::MAX];
        let (rows, status) = t.tokens_batch(KeyBatch::U64(&ints), 4, false, true);
        assert_eq!(status, [0, PanStatus::Length as u8, 0, PanStatus::Length as u8]);
        let mut want = [0u8; 64];
        hex_into(&t.token(b"9999999999999999999", false).unwrap(), &mut want);
        assert_eq!(&rows[128..192], &want[..]);
        hex_into(&t.token(b"4111111111111111", false).unwrap(), &mut want);
        assert_eq!(&rows[..64], &want[..]);
    }

    #[test]
    fn luhn_examples() {
        for pan in ["4111111111111111", "5500000000000004", "378282246310005", "6011111111111117"] {
            assert!(luhn_valid(pan.as_bytes()), "{pan}");
        }
        assert!(!luhn_valid(b"4111111111111121"));
    }
}
