//! Dense layers on `[batch, n, in]` activations as one matrix product over `batch·n` rows.
//!
//! burn 0.21's `Linear::forward` on a rank-3 input broadcasts the weight to `[1, in, out]` and
//! runs a *batched* matmul: `batch` products of `n` rows each. When decoding (`n = 1`) every row
//! is then its own vector-matrix product that reads the whole weight, and the backward pass
//! builds a `[batch, in, out]` weight gradient before summing it over the batch. Flattening the
//! leading dimensions makes the forward one `[batch·n, in] · [in, out]` product and the weight
//! gradient one `xᵀ · g`. The same function up to the order of float sums (so seeded runs take
//! slightly different trajectories than with burn's form); the speed-up is measured in
//! docs/performance.md.

use burn::nn::Linear;
use burn::tensor::{backend::Backend, module::linear, Tensor};

/// `layer(x)` for `x`: `[batch, n, in]` → `[batch, n, out]`, as one product over `batch·n` rows.
pub(crate) fn linear_rows<B: Backend>(layer: &Linear<B>, x: Tensor<B, 3>) -> Tensor<B, 3> {
    let bias = layer.bias.as_ref().map(|bias| bias.val());
    matmul_rows(x, layer.weight.val(), bias)
}

/// `x · weight (+ bias)` for `x`: `[batch, n, in]`, `weight`: `[in, out]`, `bias`: `[out]`
/// → `[batch, n, out]`, as one product over `batch·n` rows.
pub(crate) fn matmul_rows<B: Backend>(
    x: Tensor<B, 3>,
    weight: Tensor<B, 2>,
    bias: Option<Tensor<B, 1>>,
) -> Tensor<B, 3> {
    let [batch, n, d_in] = x.dims();
    let d_out = weight.dims()[1];
    linear(x.reshape([batch * n, d_in]), weight, bias).reshape([batch, n, d_out])
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, Flex};
    use burn::nn::LinearConfig;
    use burn::tensor::{Distribution, Tolerance};

    use super::*;

    type Ad = Autodiff<Flex>;

    /// Against the batched form burn's `Linear::forward` uses: the outputs and both gradients
    /// (input and weight) agree, for a biased and an unbiased layer, at decode (`n = 1`) and
    /// prefill shapes.
    #[test]
    fn matches_the_batched_linear_and_its_gradients() {
        let device = Default::default();
        for (bias, n) in [(true, 1), (false, 5)] {
            let layer: Linear<Ad> = LinearConfig::new(6, 4).with_bias(bias).init(&device);
            let x = Tensor::<Ad, 3>::random([3, n, 6], Distribution::Normal(0.0, 1.0), &device)
                .require_grad();
            let target = Tensor::<Ad, 3>::random([3, n, 4], Distribution::Default, &device);

            let rows = linear_rows(&layer, x.clone());
            let batched = layer.forward(x.clone());
            assert_eq!(rows.dims(), [3, n, 4]);
            rows.clone()
                .into_data()
                .assert_approx_eq::<f32>(&batched.clone().into_data(), Tolerance::default());

            let grads_rows = rows.mul(target.clone()).sum().backward();
            let grads_batched = batched.mul(target).sum().backward();
            let weight = layer.weight.val();
            weight
                .grad(&grads_rows)
                .expect("weight gradient, rows")
                .into_data()
                .assert_approx_eq::<f32>(
                    &weight
                        .grad(&grads_batched)
                        .expect("weight gradient")
                        .into_data(),
                    Tolerance::default(),
                );
            x.grad(&grads_rows)
                .expect("input gradient, rows")
                .into_data()
                .assert_approx_eq::<f32>(
                    &x.grad(&grads_batched).expect("input gradient").into_data(),
                    Tolerance::default(),
                );
        }
    }

    /// The output is `x · W + b` row by row, checked against a product worked on the host.
    #[test]
    fn computes_x_times_weight_plus_bias() {
        let device = Default::default();
        let x = Tensor::<Flex, 3>::from_floats([[[1.0, 2.0]], [[-1.0, 0.5]]], &device);
        let weight = Tensor::<Flex, 2>::from_floats([[1.0, 0.0, 2.0], [3.0, -1.0, 1.0]], &device);
        let bias = Tensor::<Flex, 1>::from_floats([0.5, 0.0, -1.0], &device);
        let y = matmul_rows(x, weight, Some(bias));
        // Row 1: [1 + 6, -2, 2 + 2] + b; row 2: [-1 + 1.5, -0.5, -2 + 0.5] + b.
        let expected =
            Tensor::<Flex, 3>::from_floats([[[7.5, -2.0, 3.0]], [[1.0, -0.5, -2.5]]], &device);
        y.into_data()
            .assert_approx_eq::<f32>(&expected.into_data(), Tolerance::default());
    }
}
