//! Little-endian byte buffers of numbers, for the messages between ranks.

use crate::error::CommError;

/// `[n]` f64 → `8n` bytes.
pub fn encode_f64s(values: &[f64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// `8n` bytes from rank `from` → `[n]` f64; `what` names the message in the error.
pub fn decode_f64s(bytes: &[u8], from: usize, what: &'static str) -> Result<Vec<f64>, CommError> {
    chunks::<8>(bytes, from, what).map(|c| c.into_iter().map(f64::from_le_bytes).collect())
}

/// `[n]` f32 → `4n` bytes.
pub fn encode_f32s(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// `4n` bytes from rank `from` → `[n]` f32.
pub fn decode_f32s(bytes: &[u8], from: usize, what: &'static str) -> Result<Vec<f32>, CommError> {
    chunks::<4>(bytes, from, what).map(|c| c.into_iter().map(f32::from_le_bytes).collect())
}

/// `[n]` u64 → `8n` bytes.
pub fn encode_u64s(values: &[u64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// `8n` bytes from rank `from` → `[n]` u64.
pub fn decode_u64s(bytes: &[u8], from: usize, what: &'static str) -> Result<Vec<u64>, CommError> {
    chunks::<8>(bytes, from, what).map(|c| c.into_iter().map(u64::from_le_bytes).collect())
}

fn chunks<const N: usize>(
    bytes: &[u8],
    from: usize,
    what: &'static str,
) -> Result<Vec<[u8; N]>, CommError> {
    if bytes.len() % N != 0 {
        return Err(CommError::Decode {
            from,
            what,
            reason: format!("{} bytes is not a multiple of {N}", bytes.len()),
        });
    }
    Ok(bytes
        .chunks_exact(N)
        .map(|c| {
            let mut a = [0u8; N];
            a.copy_from_slice(c);
            a
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip_bit_for_bit() {
        let f = [1.5f64, -0.0, f64::MIN_POSITIVE, 1e300];
        assert_eq!(decode_f64s(&encode_f64s(&f), 0, "x").unwrap(), f);
        let g = [0.1f32, -3.25, f32::MAX];
        assert_eq!(decode_f32s(&encode_f32s(&g), 0, "x").unwrap(), g);
        let u = [0u64, u64::MAX, 7];
        assert_eq!(decode_u64s(&encode_u64s(&u), 0, "x").unwrap(), u);
    }

    #[test]
    fn a_truncated_buffer_is_an_error_naming_the_sender() {
        let err = decode_f64s(&[0u8; 12], 3, "moments").unwrap_err();
        assert_eq!(
            err.to_string(),
            "message from rank 3 is not a valid moments: 12 bytes is not a multiple of 8"
        );
    }
}
