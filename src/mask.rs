//! Masking actions: what a redacted value is replaced with.
//!
//! `mask` keeps the last N letters/digits and every separator, `label`
//! writes a fixed text, `token` writes a keyed HMAC-SHA256 pseudonym so the
//! same value always gives the same token under one key. Nothing here keeps
//! the value it masks.

use crate::validate;
use hmac::{Mac, SimpleHmac};
use sha2::Sha256;
use std::fmt;

/// Secret key for `token` actions and audit fingerprints. Its `Debug` never
/// shows the key.
#[derive(Clone)]
pub struct TokenKey(Vec<u8>);

impl TokenKey {
    /// Wraps key bytes; at least 16 bytes are required.
    pub fn new(bytes: Vec<u8>) -> Result<TokenKey, String> {
        if bytes.len() < 16 {
            return Err(format!(
                "token key is {} bytes; at least 16 are required",
                bytes.len()
            ));
        }
        Ok(TokenKey(bytes))
    }

    /// HMAC-SHA256 of `parts` concatenated, under this key.
    pub fn hmac(&self, parts: &[&[u8]]) -> [u8; 32] {
        // SimpleHmac accepts any key length, so construction cannot fail;
        // the fallback arm is there to avoid a panic path regardless.
        let Ok(mut mac) = <SimpleHmac<Sha256> as Mac>::new_from_slice(&self.0) else {
            return [0; 32];
        };
        for p in parts {
            mac.update(p);
        }
        mac.finalize().into_bytes().into()
    }
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenKey(<redacted>)")
    }
}

/// A compiled masking action.
#[derive(Debug, Clone)]
pub enum Action {
    /// Replace letters and digits with `*`, keeping the last `keep_last`
    /// and every separator.
    Mask {
        /// Letters/digits left readable at the end.
        keep_last: usize,
    },
    /// Replace the value with a fixed label.
    Label(String),
    /// Replace the value with `[category:tok_<16 hex>]`.
    Token {
        /// Category written into the token.
        category: String,
    },
}

/// Length of the separator that starts at `value[i]`, or 0 if a letter,
/// digit or other character starts there. Separators are every ASCII byte
/// that is not a letter or digit, a line break with the SSE `data:` field
/// after it ([`validate::line_break_len`]: the frame is kept, so a masked
/// card split over two `data:` lines is still two `data:` lines), the UTF-8
/// spaces and dashes of [`validate::unicode_separator_len`], and, with a
/// letter or digit on each side (a group separator inside a number or an
/// IBAN, `4111%201111`, `4111&#160;1111`, `GB82&nbsp;WEST`), a
/// percent-encoded space or dash (`%20`, `%2D`, `%2d`) or an HTML reference
/// of a space or dash ([`validate::html_separator_len`]): their `2`, `0`,
/// `D` or `160` are not digits of the value and are left readable, like a
/// space; and an HTML line break (`<br>`, [`validate::html_break_len`]),
/// kept whole.
fn separator_len(value: &[u8], i: usize) -> usize {
    let alnum_at = |j: usize| value.get(j).is_some_and(u8::is_ascii_alphanumeric);
    let inside = |n: usize| i > 0 && alnum_at(i - 1) && alnum_at(i + n);
    match value.get(i..) {
        Some([b'%', b'2', b'0' | b'D' | b'd', ..]) if inside(3) => 3,
        Some(rest @ [b'&', ..]) => match validate::html_separator_len(rest) {
            n if n > 0 && inside(n) => n,
            _ => 1,
        },
        Some(rest @ [0xC2 | 0xE2 | 0xE3 | 0xEF, ..]) => validate::unicode_separator_len(rest),
        Some(rest @ [b'\r' | b'\n', ..]) => validate::line_break_len(rest),
        Some(rest @ [b'<', ..]) => validate::html_break_len(rest).max(1),
        Some([b, ..]) if b.is_ascii() && !b.is_ascii_alphanumeric() => 1,
        _ => 0,
    }
}

/// Calls `f` once per byte of `value` with whether it belongs to a
/// separator (see [`separator_len`]).
fn each_byte(value: &[u8], mut f: impl FnMut(u8, bool)) {
    let mut i = 0;
    while i < value.len() {
        match separator_len(value, i) {
            0 => {
                f(value[i], false);
                i += 1;
            }
            n => {
                for &b in &value[i..i + n] {
                    f(b, true);
                }
                i += n;
            }
        }
    }
}

/// Writes `value` with separators dropped and ASCII lowercased into
/// `norm`; returns the length written and whether `value` did not fit.
fn normalise(value: &[u8], norm: &mut [u8; 256]) -> (usize, bool) {
    let mut n = 0;
    let mut overflow = false;
    each_byte(value, |b, sep| {
        if sep || overflow {
            return;
        }
        match norm.get_mut(n) {
            Some(slot) => {
                *slot = b.to_ascii_lowercase();
                n += 1;
            }
            None => overflow = true,
        }
    });
    // Full-width digits (`EF BC 90`-`99`) as their ASCII digits, so a
    // number gets one token and fingerprint however its digits are typed.
    let (mut r, mut w) = (0, 0);
    while r < n {
        if let [0xEF, 0xBC, f @ 0x90..=0x99, ..] = norm[r..n] {
            norm[w] = b'0' + (f - 0x90);
            r += 3;
        } else {
            norm[w] = norm[r];
            r += 1;
        }
        w += 1;
    }
    (w, overflow)
}

impl Action {
    /// How many letters and digits of a value stay readable: between
    /// candidates with the same span, the one that reveals least wins.
    pub fn reveals(&self) -> usize {
        match self {
            Action::Mask { keep_last } => *keep_last,
            Action::Label(_) | Action::Token { .. } => 0,
        }
    }

    /// Writes the masked form of `value` to `out`.
    pub fn apply(&self, value: &[u8], key: Option<&TokenKey>, out: &mut Vec<u8>) {
        match self {
            Action::Mask { keep_last } => mask_keep_last(value, *keep_last, out),
            Action::Label(l) => out.extend_from_slice(l.as_bytes()),
            Action::Token { category } => {
                let Some(key) = key else {
                    // Compilation refuses token rules without a key; should
                    // one get here anyway, never fall back to the value.
                    out.extend_from_slice(b"[REDACTED]");
                    return;
                };
                token(category, value, key, out);
            }
        }
    }
}

/// Writes `value` with all letters/digits but the last `keep` replaced by
/// `*`; a multi-byte UTF-8 character counts as one and becomes one `*`.
/// Separators (see [`separator_len`]) are copied and never counted.
pub fn mask_keep_last(value: &[u8], keep: usize, out: &mut Vec<u8>) {
    let mut units = 0usize;
    each_byte(value, |b, sep| {
        if !sep && (b & 0xC0) != 0x80 {
            units += 1;
        }
    });
    // A value no longer than what would be kept is masked whole: a mask
    // never shows an entire value.
    let keep = if units <= keep { 0 } else { keep };
    let hidden = units - keep;
    let mut seen = 0usize;
    each_byte(value, |b, sep| {
        if sep {
            out.push(b);
        } else if (b & 0xC0) == 0x80 {
            // UTF-8 continuation byte: its lead byte already wrote one unit.
            if seen > hidden {
                out.push(b);
            }
        } else {
            seen += 1;
            out.push(if seen > hidden { b } else { b'*' });
        }
    });
}

/// Keyed fingerprint of a value for the audit log: the first 8 bytes of
/// HMAC-SHA256 over the value with separators dropped and ASCII lowercased
/// (the same normalisation as tokens, under a different domain), so an
/// investigator holding the key can confirm a given value was seen.
pub fn fingerprint(value: &[u8], key: &TokenKey) -> [u8; 8] {
    let mut norm = [0u8; 256];
    // A longer value is fingerprinted by its first 256 normalised bytes.
    let (n, _) = normalise(value, &mut norm);
    let d = key.hmac(&[b"scrim-fingerprint\0", &norm[..n]]);
    let mut out = [0u8; 8];
    out.copy_from_slice(&d[..8]);
    out
}

/// Writes the keyed token for `value`: separators (see [`separator_len`])
/// are dropped and ASCII is lowercased first, so `4111 1111…`,
/// `4111-1111…` and `4111%201111…` give the same token.
pub fn token(category: &str, value: &[u8], key: &TokenKey, out: &mut Vec<u8>) {
    let mut norm = [0u8; 256];
    let (n, mac_input_overflow) = normalise(value, &mut norm);
    let digest = if mac_input_overflow {
        key.hmac(&[category.as_bytes(), b"\0", value])
    } else {
        key.hmac(&[category.as_bytes(), b"\0", &norm[..n]])
    };
    out.push(b'[');
    out.extend_from_slice(category.as_bytes());
    out.extend_from_slice(b":tok_");
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in &digest[..8] {
        out.push(HEX[(b >> 4) as usize]);
        out.push(HEX[(b & 15) as usize]);
    }
    out.push(b']');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(v: &str, keep: usize) -> String {
        let mut out = Vec::new();
        mask_keep_last(v.as_bytes(), keep, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn mask_keeps_separators_and_last_digits() {
        assert_eq!(masked("4111 1111 1111 1111", 4), "**** **** **** 1111");
        assert_eq!(masked("4111-1111-1111-1111", 4), "****-****-****-1111");
        assert_eq!(masked("123-45-6789", 0), "***-**-****");
        assert_eq!(masked("ab", 4), "**");
        assert_eq!(masked("1234", 4), "****");
        assert_eq!(masked("né", 1), "*é");
        assert_eq!(masked("éé", 0), "**");
    }

    /// Session 11 leak review: encoded and non-ASCII group separators stay
    /// readable and are not counted as digits, so `keep_last` keeps exactly
    /// the value's own last digits.
    #[test]
    fn mask_reads_encoded_separators() {
        assert_eq!(
            masked("4111%201111%201111%201111", 4),
            "****%20****%20****%201111"
        );
        assert_eq!(masked("219%2D45%2d6789", 0), "***%2D**%2d****");
        assert_eq!(masked("4111+1111+1111+1111", 4), "****+****+****+1111");
        assert_eq!(
            masked("4111\u{a0}1111\u{a0}1111\u{a0}1111", 4),
            "****\u{a0}****\u{a0}****\u{a0}1111"
        );
        assert_eq!(
            masked("4111\u{2009}1111\u{202f}1111\u{2011}1111", 4),
            "****\u{2009}****\u{202f}****\u{2011}1111"
        );
        assert_eq!(
            masked("4111&nbsp;1111&#160;1111&#X20;1111", 4),
            "****&nbsp;****&#160;****&#X20;1111"
        );
        assert_eq!(masked("219&#45;45&#45;6789", 0), "***&#45;**&#45;****");
        assert_eq!(
            masked("４１１１　１１１１－１１１１ １１１１", 4),
            "****　****－**** １１１１"
        );
        assert_eq!(
            masked("4111 1111\ndata: 1111 1111", 4),
            "**** ****\ndata: **** 1111"
        );
        assert_eq!(
            masked("4111 1111\r\n1111\rdata:1111", 4),
            "**** ****\r\n****\rdata:1111"
        );
        // Other references are masked like any other bytes.
        assert_eq!(masked("12&#52;34", 1), "**&#**;*4");
        // Only inside a value (a letter or digit on each side): elsewhere
        // the escape's digits and letters are masked like any others.
        assert_eq!(masked("%201111", 2), "%****11");
        assert_eq!(masked("1111%20", 2), "****%20");
        assert_eq!(masked("ab%20cd", 0), "**%20**");
        assert_eq!(masked("12%2B34", 1), "**%***4");
        assert_eq!(masked("ab&nbsp;cd", 0), "**&nbsp;**");
        assert_eq!(masked("ab&nbsp;", 0), "**&****;");
        assert_eq!(
            masked("GB82&nbsp;WEST&nbsp;1234", 4),
            "****&nbsp;****&nbsp;1234"
        );
        assert_eq!(masked("&#160;12", 1), "&#***;*2");
        // A value cut inside the escape (an overlap's tail) masks it.
        assert_eq!(masked("2012345", 4), "***2345");
        assert_eq!(masked("12%2", 0), "**%*");
    }

    #[test]
    fn token_reads_full_width_digits_as_ascii() {
        let k = TokenKey::new(vec![1; 32]).unwrap();
        assert_eq!(
            fingerprint("４１１１　１１１１－１１１１ １１１１".as_bytes(), &k),
            fingerprint(b"4111111111111111", &k)
        );
        assert_ne!(
            fingerprint("４１１１１１１１１１１１１１１２".as_bytes(), &k),
            fingerprint(b"4111111111111111", &k)
        );
    }

    #[test]
    fn token_ignores_encoded_separators() {
        let k = TokenKey::new(vec![1; 32]).unwrap();
        let t = |v: &str| {
            let mut out = Vec::new();
            token("card", v.as_bytes(), &k, &mut out);
            String::from_utf8(out).unwrap()
        };
        let a = t("4111 1111 1111 1111");
        assert_eq!(a, t("4111%201111%201111%201111"));
        assert_eq!(a, t("4111%2D1111%2d1111+1111"));
        assert_eq!(a, t("4111\u{a0}1111\u{a0}1111\u{a0}1111"));
        assert_ne!(a, t("4111%2B1111%2B1111%2B1111"));
        assert_eq!(
            fingerprint(b"4111%201111", &k),
            fingerprint(b"4111 1111", &k)
        );
    }

    #[test]
    fn token_is_deterministic_and_keyed() {
        let k1 = TokenKey::new(vec![1; 32]).unwrap();
        let k2 = TokenKey::new(vec![2; 32]).unwrap();
        let t = |v: &str, k: &TokenKey| {
            let mut out = Vec::new();
            token("card", v.as_bytes(), k, &mut out);
            String::from_utf8(out).unwrap()
        };
        let a = t("4111 1111 1111 1111", &k1);
        assert_eq!(a, t("4111-1111-1111-1111", &k1));
        assert_ne!(a, t("4111 1111 1111 1111", &k2));
        assert_ne!(a, t("5555 5555 5555 4444", &k1));
        assert!(a.starts_with("[card:tok_") && a.len() == "[card:tok_]".len() + 16);
        assert!(!a.contains("1111"));
    }

    #[test]
    fn short_keys_are_refused() {
        assert!(TokenKey::new(vec![0; 8]).is_err());
        assert_eq!(
            format!("{:?}", TokenKey::new(vec![7; 16]).unwrap()),
            "TokenKey(<redacted>)"
        );
    }
}
