//! Helpers shared by the integration tests: reading a run's safetensors files back.
//!
//! Each test binary uses a part of this module, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

/// Every tensor of an f32 safetensors file: name → (shape, values), sorted by name.
pub fn tensors(path: &Path) -> BTreeMap<String, (Vec<usize>, Vec<f32>)> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    file.tensors()
        .into_iter()
        .map(|(name, view)| {
            assert_eq!(view.dtype(), safetensors::Dtype::F32, "{name}");
            let values = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            (name, (view.shape().to_vec(), values))
        })
        .collect()
}

/// `‖a − b‖ / ‖a‖` over every tensor of two safetensors files with the same tensor names and
/// shapes.
pub fn relative_error(a: &Path, b: &Path) -> f64 {
    let (a, b) = (tensors(a), tensors(b));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    let (mut diff, mut norm) = (0.0f64, 0.0f64);
    for ((name, (sa, x)), (_, (sb, y))) in a.iter().zip(&b) {
        assert_eq!(sa, sb, "{name}");
        for (&x, &y) in x.iter().zip(y) {
            diff += (f64::from(x) - f64::from(y)).powi(2);
            norm += f64::from(x).powi(2);
        }
    }
    (diff / norm).sqrt()
}
