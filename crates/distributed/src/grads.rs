//! The gradient all-reduce of a burn module: gradients are paired between ranks by the
//! module's parameter visiting order (identical on every rank for the same architecture), never
//! by `ParamId` (random per process).

use burn::module::{AutodiffModule, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Tensor, TensorData};

use crate::communicator::Communicator;
use crate::error::CommError;

/// Sums `grads` of `module`'s trainable parameters over ranks and returns them: every rank gets
/// the same sums (through host memory), so the optimizer step that follows is identical on every
/// rank.
///
/// The trainable parameters (those requiring a gradient; a frozen base under LoRA adapters is
/// skipped) are visited in order; each gradient is flattened into one `[Σ numel + n_params]`
/// buffer together with a presence flag per parameter. A rank without a gradient for a parameter
/// (no rows in this mini-batch) sends zeros. A parameter no rank has a gradient for gets none
/// back, as in one process (the optimizer leaves it alone). With one rank, `grads` is returned
/// unchanged.
pub fn all_reduce_gradients<B: AutodiffBackend, M: AutodiffModule<B>>(
    comm: &dyn Communicator,
    module: &M,
    grads: GradientsParams,
) -> Result<GradientsParams, CommError> {
    if comm.size() == 1 {
        return Ok(grads);
    }
    let mut flatten = Flatten::<B> {
        grads,
        flat: Vec::new(),
        present: Vec::new(),
        rank: comm.rank(),
        error: None,
        _backend: std::marker::PhantomData,
    };
    module.visit(&mut flatten);
    if let Some(e) = flatten.error {
        return Err(e);
    }
    let Flatten {
        grads,
        mut flat,
        present,
        ..
    } = flatten;
    let values = flat.len();
    flat.extend(present);
    comm.all_reduce_sum(&mut flat)?;
    let (values, present) = flat.split_at(values);
    let mut write = Unflatten::<B> {
        grads,
        values,
        present,
        offset: 0,
        index: 0,
        _backend: std::marker::PhantomData,
    };
    module.visit(&mut write);
    Ok(write.grads)
}

/// Pulls every trainable parameter's gradient (or zeros) to the host, in visiting order.
struct Flatten<B: AutodiffBackend> {
    grads: GradientsParams,
    flat: Vec<f32>,
    present: Vec<f32>,
    rank: usize,
    error: Option<CommError>,
    _backend: std::marker::PhantomData<B>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Flatten<B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let value = param.val();
        if !value.is_require_grad() || self.error.is_some() {
            return;
        }
        let numel = value.shape().num_elements();
        match self.grads.remove::<B::InnerBackend, D>(param.id) {
            Some(grad) => match grad.into_data().convert::<f32>().into_vec::<f32>() {
                Ok(host) if host.len() == numel => {
                    self.flat.extend(host);
                    self.present.push(1.0);
                }
                Ok(host) => {
                    self.error = Some(CommError::Gradient {
                        rank: self.rank,
                        param: self.present.len(),
                        reason: format!("{} values for a parameter of {numel}", host.len()),
                    })
                }
                Err(e) => {
                    self.error = Some(CommError::Gradient {
                        rank: self.rank,
                        param: self.present.len(),
                        reason: format!("{e:?}"),
                    })
                }
            },
            None => {
                self.flat.extend(std::iter::repeat_n(0.0, numel));
                self.present.push(0.0);
            }
        }
    }
}

/// Registers the summed gradients back, in the same visiting order.
struct Unflatten<'a, B: AutodiffBackend> {
    grads: GradientsParams,
    values: &'a [f32],
    present: &'a [f32],
    offset: usize,
    index: usize,
    _backend: std::marker::PhantomData<B>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Unflatten<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let value = param.val();
        if !value.is_require_grad() {
            return;
        }
        let shape = value.shape();
        let numel = shape.num_elements();
        let slice = &self.values[self.offset..self.offset + numel];
        self.offset += numel;
        let present = self.present[self.index] > 0.0;
        self.index += 1;
        if present {
            let device = value.inner().device();
            let grad = Tensor::<B::InnerBackend, D>::from_data(
                TensorData::new(slice.to_vec(), shape),
                &device,
            );
            self.grads.register::<B::InnerBackend, D>(param.id, grad);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::threads::ThreadGroup;
    use crate::SingleProcess;
    use burn::backend::{Autodiff, Flex};
    use burn::module::Module;
    use burn::nn::{Initializer, Linear, LinearConfig};

    type AD = Autodiff<Flex>;

    // burn's derive visits the fields only when the backend parameter is named `B`.
    #[derive(Module, Debug)]
    struct Net<B: burn::tensor::backend::Backend> {
        a: Linear<B>,
        b: Linear<B>,
    }

    /// The same weights every time, new `ParamId`s every time.
    fn net() -> Net<AD> {
        let device = Default::default();
        let constant = |value| Initializer::Constant { value };
        Net {
            a: LinearConfig::new(3, 2)
                .with_initializer(constant(0.3))
                .init(&device),
            b: LinearConfig::new(2, 1)
                .with_initializer(constant(-0.7))
                .init(&device),
        }
    }

    /// Gradients of `Σ b(a(x))` for one input row `x`, and of `a` only when `only_a`.
    fn grads(net: &Net<AD>, x: [f32; 3], only_a: bool) -> GradientsParams {
        let device = Default::default();
        let x = Tensor::<AD, 2>::from_data(TensorData::new(x.to_vec(), [1, 3]), &device);
        let hidden = net.a.forward(x);
        let out = if only_a {
            hidden.sum()
        } else {
            net.b.forward(hidden).sum()
        };
        GradientsParams::from_grads::<AD, _>(out.backward(), net)
    }

    fn host<const D: usize>(g: &GradientsParams, p: &Param<Tensor<AD, D>>) -> Option<Vec<f32>> {
        g.get::<Flex, D>(p.id)
            .map(|t| t.into_data().to_vec::<f32>().unwrap())
    }

    #[test]
    fn one_rank_returns_the_gradients_unchanged() {
        let n = net();
        let g = grads(&n, [1.0, 2.0, 3.0], false);
        let before = host(&g, &n.a.weight).unwrap();
        let g = all_reduce_gradients::<AD, _>(&SingleProcess, &n, g).unwrap();
        assert_eq!(host(&g, &n.a.weight).unwrap(), before);
    }

    /// Two ranks whose modules have different `ParamId`s (built separately) but the same
    /// weights: the sum pairs parameters by visiting order and equals the one-process gradient
    /// of both rows; a parameter only one rank has a gradient for is summed with zeros.
    #[test]
    fn ranks_sum_by_visiting_order_not_param_id() {
        let rows = [[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]];
        let reference = net();
        let both = {
            let g0 = grads(&reference, rows[0], false);
            let g1 = grads(&reference, rows[1], true);
            [
                host(&g0, &reference.a.weight).unwrap(),
                host(&g1, &reference.a.weight).unwrap(),
                host(&g0, &reference.b.weight).unwrap(),
            ]
        };
        let handles: Vec<_> = ThreadGroup::ranks(2)
            .into_iter()
            .map(|comm| {
                std::thread::spawn(move || {
                    let n = net();
                    let r = comm.rank();
                    let g = grads(&n, rows[r], r == 1);
                    let g = all_reduce_gradients::<AD, _>(&comm, &n, g).unwrap();
                    (
                        host(&g, &n.a.weight).unwrap(),
                        host(&g, &n.b.weight).unwrap(),
                    )
                })
            })
            .collect();
        for h in handles {
            let (a, b) = h.join().unwrap();
            let expected_a: Vec<f32> = both[0].iter().zip(&both[1]).map(|(x, y)| x + y).collect();
            assert_eq!(a, expected_a);
            assert_eq!(b, both[2]);
        }
    }
}
