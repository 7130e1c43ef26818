//! Streaming decoders for compressed bodies (gzip with several members,
//! deflate with or without the zlib header, br, zstd), with limits on the
//! decoded size and on the expansion ratio.
//!
//! Input is fed in small pieces and the output size is checked after each,
//! so a decompression bomb is stopped within a few MiB of the limit. A body
//! that ends before its compressed stream does is an error: the caller fails
//! closed.

use std::io::Write;

/// Largest input piece handed to a decoder at once (bounds the output one
/// step can produce before the limits are checked).
const PIECE: usize = 256;

/// Why a compressed body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The Content-Encoding is not one scrim decodes.
    #[error("unsupported content-encoding")]
    Unsupported,
    /// The compressed data is corrupt.
    #[error("corrupt compressed body")]
    Corrupt,
    /// The compressed stream ended early.
    #[error("truncated compressed body")]
    Truncated,
    /// The decoded body is larger than allowed.
    #[error("decoded body over the size limit")]
    TooLarge,
    /// The body expands more than the allowed ratio.
    #[error("compression ratio over the limit")]
    Ratio,
}

enum Kind {
    Gzip(flate2::write::MultiGzDecoder<Vec<u8>>),
    /// Deflate before its first two bytes are seen (zlib header or raw).
    DeflateUnknown(Vec<u8>),
    Zlib(flate2::write::ZlibDecoder<Vec<u8>>),
    Raw(flate2::write::DeflateDecoder<Vec<u8>>),
    Brotli(Box<brotli_decompressor::DecompressorWriter<Vec<u8>>>),
    Zstd(zstd::stream::raw::Decoder<'static>, usize),
}

/// A streaming decoder with limits.
pub struct Decoder {
    kind: Kind,
    encoded: u64,
    decoded: u64,
    max_decoded: u64,
    max_ratio: u64,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("encoded", &self.encoded)
            .field("decoded", &self.decoded)
            .finish()
    }
}

/// Parses a Content-Encoding value: `Ok(None)` for identity, a decoder for
/// one supported coding, an error otherwise (several codings included).
pub fn for_encoding(
    value: &str,
    max_decoded: u64,
    max_ratio: u64,
) -> Result<Option<Decoder>, DecodeError> {
    let v = value.trim().to_ascii_lowercase();
    let kind = match v.as_str() {
        "" | "identity" => return Ok(None),
        "gzip" | "x-gzip" => Kind::Gzip(flate2::write::MultiGzDecoder::new(Vec::new())),
        "deflate" => Kind::DeflateUnknown(Vec::new()),
        "br" => Kind::Brotli(Box::new(brotli_decompressor::DecompressorWriter::new(
            Vec::new(),
            4096,
        ))),
        "zstd" => {
            let d = zstd::stream::raw::Decoder::new().map_err(|_| DecodeError::Corrupt)?;
            Kind::Zstd(d, 0)
        }
        _ => return Err(DecodeError::Unsupported),
    };
    Ok(Some(Decoder {
        kind,
        encoded: 0,
        decoded: 0,
        max_decoded,
        max_ratio,
    }))
}

fn take_output(sink: &mut Vec<u8>, out: &mut Vec<u8>) -> usize {
    let n = sink.len();
    out.append(sink);
    n
}

impl Decoder {
    /// Decodes `input`, appending to `out`.
    pub fn push(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), DecodeError> {
        for piece in input.chunks(PIECE) {
            self.encoded += piece.len() as u64;
            let n = self.step(piece, out)?;
            self.decoded += n as u64;
            self.check()?;
        }
        Ok(())
    }

    /// Ends the stream: a stream that did not end properly is an error.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), DecodeError> {
        let n = match &mut self.kind {
            Kind::Gzip(d) => {
                d.try_finish().map_err(|_| DecodeError::Truncated)?;
                take_output(d.get_mut(), out)
            }
            Kind::DeflateUnknown(buf) => {
                if buf.is_empty() {
                    0
                } else {
                    return Err(DecodeError::Truncated);
                }
            }
            Kind::Zlib(d) => {
                d.try_finish().map_err(|_| DecodeError::Truncated)?;
                if d.total_in() == 0 {
                    return Err(DecodeError::Truncated);
                }
                take_output(d.get_mut(), out)
            }
            Kind::Raw(d) => {
                d.try_finish().map_err(|_| DecodeError::Truncated)?;
                take_output(d.get_mut(), out)
            }
            Kind::Brotli(d) => {
                d.close().map_err(|_| DecodeError::Truncated)?;
                take_output(d.get_mut(), out)
            }
            Kind::Zstd(_, remaining) => {
                if *remaining != 0 {
                    return Err(DecodeError::Truncated);
                }
                0
            }
        };
        self.decoded += n as u64;
        self.check()
    }

    fn check(&self) -> Result<(), DecodeError> {
        if self.decoded > self.max_decoded {
            return Err(DecodeError::TooLarge);
        }
        // Small bodies may legitimately compress very well; the ratio is
        // judged once there is something to judge.
        if self.decoded > 1 << 20 && self.decoded > self.encoded.saturating_mul(self.max_ratio) {
            return Err(DecodeError::Ratio);
        }
        Ok(())
    }

    fn step(&mut self, piece: &[u8], out: &mut Vec<u8>) -> Result<usize, DecodeError> {
        if let Kind::DeflateUnknown(buf) = &mut self.kind {
            buf.extend_from_slice(piece);
            if buf.len() < 2 {
                return Ok(0);
            }
            // RFC 1950: CM = 8 and the header is a multiple of 31.
            let zlib = buf[0] & 0x0f == 8 && (u16::from(buf[0]) << 8 | u16::from(buf[1])) % 31 == 0;
            let pending = std::mem::take(buf);
            self.kind = if zlib {
                Kind::Zlib(flate2::write::ZlibDecoder::new(Vec::new()))
            } else {
                Kind::Raw(flate2::write::DeflateDecoder::new(Vec::new()))
            };
            return self.step(&pending, out);
        }
        match &mut self.kind {
            Kind::Gzip(d) => {
                d.write_all(piece).map_err(|_| DecodeError::Corrupt)?;
                Ok(take_output(d.get_mut(), out))
            }
            Kind::Zlib(d) => {
                d.write_all(piece).map_err(|_| DecodeError::Corrupt)?;
                Ok(take_output(d.get_mut(), out))
            }
            Kind::Raw(d) => {
                d.write_all(piece).map_err(|_| DecodeError::Corrupt)?;
                Ok(take_output(d.get_mut(), out))
            }
            Kind::Brotli(d) => {
                d.write_all(piece).map_err(|_| DecodeError::Corrupt)?;
                Ok(take_output(d.get_mut(), out))
            }
            Kind::Zstd(d, remaining) => {
                use zstd::stream::raw::Operation;
                let mut total = 0;
                let mut input = zstd::stream::raw::InBuffer::around(piece);
                let mut buf = [0u8; 16 * 1024];
                loop {
                    let mut output = zstd::stream::raw::OutBuffer::around(&mut buf[..]);
                    let hint = d
                        .run(&mut input, &mut output)
                        .map_err(|_| DecodeError::Corrupt)?;
                    let n = output.pos();
                    out.extend_from_slice(&buf[..n]);
                    total += n;
                    *remaining = hint;
                    if self.decoded + total as u64 > self.max_decoded {
                        return Err(DecodeError::TooLarge);
                    }
                    if input.pos() == piece.len() && n < buf.len() {
                        break;
                    }
                }
                Ok(total)
            }
            Kind::DeflateUnknown(_) => Ok(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(enc: &str, data: &[u8]) -> Result<Vec<u8>, DecodeError> {
        let mut d = for_encoding(enc, 1 << 30, 1000)?.expect("decoder");
        let mut out = Vec::new();
        for c in data.chunks(7) {
            d.push(c, &mut out)?;
        }
        d.finish(&mut out)?;
        Ok(out)
    }

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn gzip_multi_member_and_truncation() {
        let mut two = gz(b"hello ");
        two.extend(gz(b"world"));
        assert_eq!(decode_all("gzip", &two).unwrap(), b"hello world");
        let one = gz(b"hello world, hello world");
        assert_eq!(
            decode_all("gzip", &one[..one.len() - 6]),
            Err(DecodeError::Truncated)
        );
    }

    #[test]
    fn deflate_with_and_without_zlib_header() {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(b"zlib body").unwrap();
        let z = z.finish().unwrap();
        assert_eq!(decode_all("deflate", &z).unwrap(), b"zlib body");
        assert_eq!(
            decode_all("deflate", &z[..z.len() - 3]),
            Err(DecodeError::Truncated)
        );
        let mut r = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        r.write_all(b"raw body").unwrap();
        let r = r.finish().unwrap();
        assert_eq!(decode_all("deflate", &r).unwrap(), b"raw body");
        assert_eq!(
            decode_all("deflate", &r[..r.len() - 2]),
            Err(DecodeError::Truncated)
        );
    }

    #[test]
    fn brotli_and_zstd() {
        let mut b = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut b, 4096, 5, 22);
            w.write_all(b"brotli body").unwrap();
        }
        assert_eq!(decode_all("br", &b).unwrap(), b"brotli body");
        assert_eq!(
            decode_all("br", &b[..b.len() - 2]),
            Err(DecodeError::Truncated)
        );
        let z = zstd::stream::encode_all(&b"zstd body"[..], 3).unwrap();
        assert_eq!(decode_all("zstd", &z).unwrap(), b"zstd body");
        assert_eq!(
            decode_all("zstd", &z[..z.len() - 3]),
            Err(DecodeError::Truncated)
        );
    }

    #[test]
    fn limits_and_unknown_codings() {
        assert_eq!(
            for_encoding("compress", 10, 10).err(),
            Some(DecodeError::Unsupported)
        );
        assert_eq!(
            for_encoding("gzip, br", 10, 10).err(),
            Some(DecodeError::Unsupported)
        );
        assert!(for_encoding("identity", 10, 10).unwrap().is_none());
        let bomb = gz(&vec![b'a'; 8 << 20]);
        let mut d = for_encoding("gzip", 1 << 20, 1_000_000).unwrap().unwrap();
        let mut out = Vec::new();
        assert_eq!(d.push(&bomb, &mut out), Err(DecodeError::TooLarge));
        let mut d = for_encoding("gzip", 1 << 30, 10).unwrap().unwrap();
        assert_eq!(d.push(&bomb, &mut Vec::new()), Err(DecodeError::Ratio));
    }
}
