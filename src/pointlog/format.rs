//! The point log's file format (version 1): JSON lines, documented in docs/trust-regions.md.
//!
//! ```text
//! {"zelos_point_log":1,"host":"node17","pid":4242,"started":1732480000.25}
//! {"seq":0,"time":1732480001.5,"reason":"outside_every_region","detail":"...","distance":0.42,
//!  "nearest":"cmb","parameters":{"names":["ombh2",...],"values":[0.0224,...],"f64le":"<base64>"},
//!  "outputs":[{"name":"dl_tt","shape":[2499],"f64le":"<base64>"}]}
//! ```
//!
//! A header line starts every opening of a file; each record is one line, written whole.
//! Parameter values are written twice: as JSON numbers for people (non-finite ones as the
//! strings `"nan"`, `"inf"`, `"-inf"`), and exactly in `f64le`, which readers use. `f64le`
//! fields are little-endian IEEE-754 float64, row-major, base64 (RFC 4648, with padding).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The format version written in each header line.
pub const POINT_LOG_FORMAT: u32 = 1;

/// One named output computed for a point: row-major values and a shape (`[]` for a scalar).
#[derive(Debug, Clone, PartialEq)]
pub struct NamedArray {
    pub name: String,
    pub shape: Vec<usize>,
    pub values: Vec<f64>,
}

/// A point no emulator could answer, and what the real code computed for it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PointRecord {
    /// The point's parameters, in the caller's order.
    pub parameters: Vec<(String, f64)>,
    /// A stable identifier, e.g. `outside_every_region` (see [`crate::router::Fallback::kind`]).
    pub reason: String,
    /// The reason in words, e.g. "mahalanobis distance 4.1 > threshold 3.7".
    pub detail: String,
    /// How far beyond the nearest region, when outside every region.
    pub distance: Option<f64>,
    /// The key of the nearest emulator, when outside every region.
    pub nearest: Option<String>,
    /// The outputs the real code computed.
    pub outputs: Vec<NamedArray>,
}

/// A record as read back from a log file.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedPoint {
    pub host: String,
    pub pid: u64,
    /// Per opening of the log, from 0.
    pub seq: u64,
    /// Unix time (seconds) when the record was logged.
    pub time: f64,
    pub record: PointRecord,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct Header {
    pub zelos_point_log: u32,
    pub host: String,
    pub pid: u64,
    pub started: f64,
}

#[derive(Serialize, Deserialize)]
struct Parameters {
    names: Vec<String>,
    /// For people and tools (`jq`); readers use `f64le`, which is exact.
    values: Vec<Value>,
    f64le: String,
}

#[derive(Serialize, Deserialize)]
struct Output {
    name: String,
    shape: Vec<usize>,
    f64le: String,
}

#[derive(Serialize, Deserialize)]
struct Line {
    seq: u64,
    time: f64,
    reason: String,
    detail: String,
    distance: Option<f64>,
    nearest: Option<String>,
    parameters: Parameters,
    outputs: Vec<Output>,
}

fn number(v: f64) -> Value {
    if v.is_nan() {
        Value::from("nan")
    } else if v == f64::INFINITY {
        Value::from("inf")
    } else if v == f64::NEG_INFINITY {
        Value::from("-inf")
    } else {
        Value::from(v)
    }
}

fn from_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "nan" => Some(f64::NAN),
            "inf" => Some(f64::INFINITY),
            "-inf" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

/// One record as a line (with its newline).
pub(crate) fn encode(seq: u64, time: f64, r: &PointRecord) -> Vec<u8> {
    let line = Line {
        seq,
        time,
        reason: r.reason.clone(),
        detail: r.detail.clone(),
        distance: r.distance.filter(|d| d.is_finite()),
        nearest: r.nearest.clone(),
        parameters: Parameters {
            names: r.parameters.iter().map(|(n, _)| n.clone()).collect(),
            values: r.parameters.iter().map(|(_, v)| number(*v)).collect(),
            f64le: encode_f64(r.parameters.iter().map(|(_, v)| *v)),
        },
        outputs: r
            .outputs
            .iter()
            .map(|o| Output {
                name: o.name.clone(),
                shape: o.shape.clone(),
                f64le: encode_f64(o.values.iter().copied()),
            })
            .collect(),
    };
    let mut bytes = serde_json::to_vec(&line).expect("a record always serialises");
    bytes.push(b'\n');
    bytes
}

pub(crate) fn encode_header(h: &Header) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(h).expect("a header always serialises");
    bytes.push(b'\n');
    bytes
}

/// What a line holds.
pub(crate) enum Parsed {
    Header(Header),
    Record(u64, f64, PointRecord),
}

/// Parses one line; `Err` says what is wrong.
pub(crate) fn decode(line: &str) -> Result<Parsed, String> {
    let value: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    if value.get("zelos_point_log").is_some() {
        let h: Header = serde_json::from_value(value).map_err(|e| format!("bad header: {e}"))?;
        if h.zelos_point_log != POINT_LOG_FORMAT {
            return Err(format!("point log format {} is not supported (this zelos reads {POINT_LOG_FORMAT})", h.zelos_point_log));
        }
        return Ok(Parsed::Header(h));
    }
    let l: Line = serde_json::from_value(value).map_err(|e| format!("bad record: {e}"))?;
    if l.parameters.names.len() != l.parameters.values.len() {
        return Err("parameters: names and values differ in length".into());
    }
    let exact = decode_f64(&l.parameters.f64le, l.parameters.names.len()).ok_or("parameters: `f64le` is not base64 of one float64 per name")?;
    for (n, v) in l.parameters.names.iter().zip(&l.parameters.values) {
        from_number(v).ok_or_else(|| format!("parameter `{n}`: {v} is not a number"))?;
    }
    let parameters = l.parameters.names.into_iter().zip(exact).collect();
    let mut outputs = Vec::with_capacity(l.outputs.len());
    for o in l.outputs {
        let n: usize = o.shape.iter().product();
        let values = decode_f64(&o.f64le, n).ok_or_else(|| format!("output `{}`: `f64le` is not base64 of {n} float64 (shape {:?})", o.name, o.shape))?;
        outputs.push(NamedArray { name: o.name, shape: o.shape, values });
    }
    Ok(Parsed::Record(
        l.seq,
        l.time,
        PointRecord { parameters, reason: l.reason, detail: l.detail, distance: l.distance, nearest: l.nearest, outputs },
    ))
}

fn encode_f64(values: impl Iterator<Item = f64>) -> String {
    base64_encode(&values.flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>())
}

fn decode_f64(text: &str, n: usize) -> Option<Vec<f64>> {
    let bytes = base64_decode(text)?;
    (bytes.len() == 8 * n).then(|| bytes.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect())
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard base64 with padding; `None` if malformed.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let t = text.as_bytes();
    if t.len() % 4 != 0 {
        return None;
    }
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(t.len() / 4 * 3);
    for (k, q) in t.chunks(4).enumerate() {
        let last = k + 1 == t.len() / 4;
        let pad = q.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for &c in &q[..4 - pad] {
            n = n << 6 | val(c)?;
        }
        n <<= 6 * pad as u32;
        let b = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&b[..3 - pad]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip_and_known_values() {
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_encode(b"fooba"), "Zm9vYmE=");
        assert_eq!(base64_encode(b"foob"), "Zm9vYg==");
        assert_eq!(base64_encode(b""), "");
        for n in 0..40u8 {
            let v: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37).wrapping_add(n)).collect();
            assert_eq!(base64_decode(&base64_encode(&v)).unwrap(), v);
        }
        assert!(base64_decode("Zm9=vYmE").is_none());
        assert!(base64_decode("Zm9").is_none());
    }
}
