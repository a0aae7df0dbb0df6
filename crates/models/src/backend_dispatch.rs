//! How a fused op, written against burn's generic `Backend`, finds out at run time that it runs
//! on the CPU backend (plain or under autodiff) and gets its concrete tensors: by `TypeId`,
//! through `std::any::Any`, no `unsafe`. Elsewhere the callers run burn's decomposed ops.

use std::any::{Any, TypeId};

use burn::backend::autodiff::checkpoint::strategy::{BalancedCheckpointing, NoCheckpointing};
use burn::backend::Autodiff;
use burn::tensor::{backend::Backend, DType};

use crate::backend::CpuBackend as Cpu;

/// `value` as a `T`, when its type is `T` (the run-time backend check of the fused ops).
pub(crate) fn cast<S: Clone + 'static, T: 'static>(value: &S) -> Option<T> {
    let boxed: Box<dyn Any> = Box::new(value.clone());
    boxed.downcast::<T>().ok().map(|value| *value)
}

/// Whether `B` is the CPU backend, with or without autodiff, and `dtype` is `f32`: where the
/// fused ops run.
pub(crate) fn is_cpu_f32<B: Backend>(dtype: DType) -> bool {
    let backend = TypeId::of::<B>();
    dtype == DType::F32
        && [
            TypeId::of::<Cpu>(),
            TypeId::of::<Autodiff<Cpu, NoCheckpointing>>(),
            TypeId::of::<Autodiff<Cpu, BalancedCheckpointing>>(),
        ]
        .contains(&backend)
}
