//! Moving parameters between burn modules and Hugging Face tensor layouts.
//!
//! Hugging Face stores a linear layer's weight as `[out, in]`; burn's [`Linear`] holds
//! `[in, out]`. The transpose happens here, on the host, once at load and once at save.

use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::Distribution;
use burn::tensor::{backend::Backend, Tensor};

use crate::checkpoint::Checkpoint;
use crate::host_tensor::HostTensor;
use crate::ModelError;

/// A named list of host tensors in Hugging Face layout, in model order.
pub(crate) type NamedTensors = Vec<(String, HostTensor)>;

/// An eagerly initialised `N(0, std²)` parameter. (burn's `Initializer` is lazy: a clone taken
/// before first use would draw its own, different values.)
pub(crate) fn normal_param<B: Backend>(
    shape: [usize; 2],
    std: f64,
    device: &B::Device,
) -> Param<Tensor<B, 2>> {
    Param::from_tensor(Tensor::random(
        shape,
        Distribution::Normal(0.0, std),
        device,
    ))
}

/// A freshly initialised linear layer `in → out`: weights `N(0, std²)`, bias zero.
pub(crate) fn init_linear<B: Backend>(
    d_in: usize,
    d_out: usize,
    bias: bool,
    std: f64,
    device: &B::Device,
) -> Linear<B> {
    let weight = normal_param([d_in, d_out], std, device);
    let bias = bias.then(|| Param::from_tensor(Tensor::zeros([d_out], device)));
    Linear { weight, bias }
}

/// Reads the linear layer `prefix` (`prefix.weight` `[out, in]`, optionally `prefix.bias` `[out]`).
pub(crate) fn load_linear<B: Backend>(
    checkpoint: &mut Checkpoint,
    prefix: &str,
    d_in: usize,
    d_out: usize,
    bias: bool,
    device: &B::Device,
) -> Result<Linear<B>, ModelError> {
    let weight = checkpoint
        .take(&format!("{prefix}.weight"), &[d_out, d_in])?
        .transposed()
        .to_tensor(device);
    let bias = if bias {
        let bias = checkpoint.take(&format!("{prefix}.bias"), &[d_out])?;
        Some(Param::from_tensor(bias.to_tensor(device)))
    } else {
        None
    };
    Ok(Linear {
        weight: Param::from_tensor(weight),
        bias,
    })
}

/// Appends the linear layer's tensors under `prefix` in Hugging Face layout.
pub(crate) fn save_linear<B: Backend>(linear: &Linear<B>, prefix: &str, out: &mut NamedTensors) {
    let bias = linear.bias.as_ref().map(|b| b.val());
    save_weight_and_bias(linear.weight.val(), bias, prefix, out);
}

/// Appends a weight `[in, out]` (written `[out, in]`) and optional bias under `prefix`.
pub(crate) fn save_weight_and_bias<B: Backend>(
    weight: Tensor<B, 2>,
    bias: Option<Tensor<B, 1>>,
    prefix: &str,
    out: &mut NamedTensors,
) {
    let weight = HostTensor::from_tensor(weight).transposed();
    out.push((format!("{prefix}.weight"), weight));
    if let Some(bias) = bias {
        out.push((format!("{prefix}.bias"), HostTensor::from_tensor(bias)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose_moves_element_r_c_to_c_r() {
        let m = HostTensor {
            shape: vec![2, 3],
            values: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        };
        let t = m.transposed();
        assert_eq!(t.shape, vec![3, 2]);
        assert_eq!(t.values, vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
        assert_eq!(t.transposed(), m);
    }
}
