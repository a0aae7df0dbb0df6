//! Backend choices.
//!
//! [`CpuBackend`] is burn's `flex` backend, chosen over `ndarray` by measurement on this
//! project's 2-core build machine (docs/performance.md). `CudaBackend` (feature `cuda`) is
//! burn-cuda, which builds offline and loads the CUDA driver at run time.

/// The default CPU backend for inference.
pub type CpuBackend = burn::backend::Flex;

/// [`CpuBackend`] with automatic differentiation, for training.
pub type CpuAutodiffBackend = burn::backend::Autodiff<CpuBackend>;

/// NVIDIA GPUs through CUDA (f32 floats, i32 ints).
#[cfg(feature = "cuda-backend")]
pub type CudaBackend = burn::backend::Cuda;

/// [`CudaBackend`] with automatic differentiation, for training.
#[cfg(feature = "cuda-backend")]
pub type CudaAutodiffBackend = burn::backend::Autodiff<CudaBackend>;
