//! The CPU backend's tensors as host slices, for the fused kernels: read and written in place
//! where the layout allows, copied only when a tensor is a strided view. The fused ops run on
//! `f32` tensors only (`crate::attention_fused::is_cpu_f32` decides), so a non-`f32` tensor
//! here is a bug in the caller, not bad input.

use std::borrow::Cow;

use burn::tensor::TensorData;
use burn_flex::FlexTensor;

/// `tensor` itself when it is a contiguous run of its storage, else a contiguous copy.
pub(crate) fn contiguous(tensor: FlexTensor) -> FlexTensor {
    if tensor.layout().contiguous_offsets().is_some() {
        tensor
    } else {
        tensor.to_contiguous()
    }
}

/// The `f32` values of a tensor from [`contiguous`], in place.
pub(crate) fn values(tensor: &FlexTensor) -> &[f32] {
    tensor
        .as_slice::<f32>()
        .expect("the fused kernels read contiguous f32 tensors only")
}

/// The `f32` values of a tensor from [`contiguous`], writable in place (copied first when the
/// buffer is shared with another tensor).
pub(crate) fn values_mut(tensor: &mut FlexTensor) -> &mut [f32] {
    let (start, end) = tensor
        .layout()
        .contiguous_offsets()
        .expect("the fused kernels write contiguous tensors only");
    &mut tensor.storage_mut::<f32>()[start..end]
}

/// Any tensor's `f32` values, row-major: borrowed in place when contiguous, else copied.
pub(crate) fn values_of(tensor: &FlexTensor) -> Cow<'_, [f32]> {
    match tensor.as_slice::<f32>() {
        Some(values) => Cow::Borrowed(values),
        None => Cow::Owned(values(&tensor.to_contiguous()).to_vec()),
    }
}

/// Row-major `values` as a tensor of shape `dims`.
pub(crate) fn from_values<const D: usize>(values: Vec<f32>, dims: [usize; D]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, dims))
}

/// `f32` zeros of shape `dims`.
pub(crate) fn zeros<const D: usize>(dims: [usize; D]) -> FlexTensor {
    from_values(vec![0.0; dims.iter().product()], dims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strided_views_are_copied_and_contiguous_ones_borrowed() {
        let tensor = from_values((0..6).map(|i| i as f32).collect(), [2, 3]);
        assert!(matches!(values_of(&tensor), Cow::Borrowed(_)));
        let transposed = tensor.clone().transpose(0, 1);
        assert!(matches!(values_of(&transposed), Cow::Owned(_)));
        assert_eq!(
            values_of(&transposed).as_ref(),
            &[0.0, 3.0, 1.0, 4.0, 2.0, 5.0]
        );
        assert_eq!(
            values(&contiguous(transposed)),
            &[0.0, 3.0, 1.0, 4.0, 2.0, 5.0]
        );
    }

    #[test]
    fn writes_to_a_shared_buffer_leave_the_other_tensor_alone() {
        let tensor = from_values(vec![1.0, 2.0], [2]);
        let mut copy = tensor.clone();
        values_mut(&mut copy)[0] = 9.0;
        assert_eq!(values(&tensor), &[1.0, 2.0]);
        assert_eq!(values(&copy), &[9.0, 2.0]);
        assert_eq!(values(&zeros([2, 2])), &[0.0; 4]);
    }
}
