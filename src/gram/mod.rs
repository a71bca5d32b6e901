//! Gram matrices and self-kernels: per-signal work once per signal, then
//! every needed pair, in tiles scheduled over the thread pool
//! ([`tiles`]). Each entry is computed by the same code whatever the thread
//! count and the block size, so results are bitwise identical.
//!
//! The precision is matched here, once per call; everything below is
//! generic over [`Real`].

mod reuse;
mod tiles;

use ndarray::{Array1, Array2, ArrayView, ArrayViewMut2, Axis, IxDyn};
use rayon::prelude::*;

use crate::error::{Error, Result, invalid};
use crate::memory;
use crate::network::Net;
use crate::network::plan::{Path, Plan, Target};
use crate::pair::{self, Values, Workspace};
use crate::recursion;
use crate::signal::Signal;
use crate::simd::{Precision, Real};
use crate::threads::{self, Control};
use tiles::{Signals, Writers};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Ntk,
    Rf,
    Both,
}

/// Kernel matrices of one call: `ntk` unless [`Kind::Rf`], `rf` unless [`Kind::Ntk`].
#[derive(Debug, Default)]
pub struct Gram {
    pub ntk: Option<Array2<f64>>,
    pub rf: Option<Array2<f64>>,
}

/// Signals of a call: channels-last arrays with 2 to 4 dimensions, and
/// the precision the maps are computed in (results are `f64` either way).
pub struct Inputs<'a> {
    x: ArrayView<'a, f64, IxDyn>,
    z: Option<ArrayView<'a, f64, IxDyn>>,
    precision: Precision,
}

impl<'a> Inputs<'a> {
    /// `z = None` asks for the symmetric Gram matrix of `x` with itself.
    pub fn new(x: ArrayView<'a, f64, IxDyn>, z: Option<ArrayView<'a, f64, IxDyn>>) -> Result<Inputs<'a>> {
        if !(2..=4).contains(&x.ndim()) {
            return Err(invalid!("X: expected 2 to 4 dimensions, got shape {:?}", x.shape()));
        }
        if x.shape()[x.ndim() - 1] == 0 {
            return Err(invalid!("X: expected at least one channel, got shape {:?}", x.shape()));
        }
        if let Some(z) = &z
            && (z.ndim() != x.ndim() || z.shape()[1..] != x.shape()[1..])
        {
            return Err(invalid!(
                "Z: shape {:?} does not match X's {:?} beyond the first axis",
                z.shape(),
                x.shape()
            ));
        }
        Ok(Inputs { x, z, precision: Precision::F64 })
    }

    pub fn with_precision(self, precision: Precision) -> Inputs<'a> {
        Inputs { precision, ..self }
    }

    /// The spatial grid (one length per spatial axis).
    pub fn grid(&self) -> &[usize] {
        &self.x.shape()[1..self.x.ndim() - 1]
    }

    /// Channels of every signal.
    pub fn channels(&self) -> usize {
        self.x.shape()[self.x.ndim() - 1]
    }

    pub fn shape(&self) -> (usize, usize) {
        let n = self.x.shape()[0];
        (n, self.z.as_ref().map_or(n, |z| z.shape()[0]))
    }
}

/// Allocates the outputs and fills them (see [`gram_into`]), in one block.
pub fn gram(net: &Net, inputs: &Inputs<'_>, kind: Kind, control: &Control) -> Result<Gram> {
    let (n, m) = inputs.shape();
    let mut out = Gram {
        ntk: (kind != Kind::Rf).then(|| Array2::zeros((n, m))),
        rf: (kind != Kind::Ntk).then(|| Array2::zeros((n, m))),
    };
    gram_into(
        net,
        inputs,
        out.ntk.as_mut().map(|a| a.view_mut()),
        out.rf.as_mut().map(|a| a.view_mut()),
        usize::MAX,
        control,
    )?;
    Ok(out)
}

/// Writes `K_NTK` into `ntk` and `K_RF` into `rf` (either may be absent),
/// each of shape `(n, m)`; any strides. A symmetric Gram matrix is written
/// whole: each unordered pair is computed once and mirrored.
///
/// The work proceeds in blocks of at most `block` rows × `block` columns,
/// and per-signal data is kept for one block's rows and columns only: that
/// bounds the working memory (see [`footprint`]) whatever `n` and `m`. Every
/// entry is computed by the same code, so the block size does not change
/// the results. Runs on the current rayon pool when called from one, else
/// on the crate's pool.
pub fn gram_into(
    net: &Net,
    inputs: &Inputs<'_>,
    ntk: Option<ArrayViewMut2<'_, f64>>,
    rf: Option<ArrayViewMut2<'_, f64>>,
    block: usize,
    control: &Control,
) -> Result<()> {
    let (n, m) = inputs.shape();
    for out in ntk.iter().chain(rf.iter()) {
        if out.dim() != (n, m) {
            return Err(invalid!("out: expected shape ({n}, {m}), got {:?}", out.dim()));
        }
    }
    if ntk.is_none() && rf.is_none() {
        return Err(invalid!("kind: nothing to compute"));
    }
    if block == 0 {
        return Err(invalid!("block_size must be >= 1"));
    }
    let writers = Writers::new(ntk, rf);
    match inputs.precision {
        Precision::F64 => gram_in::<f64>(net, inputs, &writers, block, control),
        Precision::F32 => gram_in::<f32>(net, inputs, &writers, block, control),
    }
}

/// [`gram_into`] with maps in `T`.
fn gram_in<T: Real>(
    net: &Net,
    inputs: &Inputs<'_>,
    writers: &Writers<'_>,
    block: usize,
    control: &Control,
) -> Result<()> {
    let readout = reuse::plan(net, inputs.grid(), Target::Readout, control)?;
    let norms = reuse::plan(net, inputs.grid(), Target::Norms, control)?;
    let (n, m) = inputs.shape();
    if n == 0 || m == 0 {
        return Ok(());
    }
    let symmetric = inputs.z.is_none();
    threads::install(|| {
        let threads = rayon::current_num_threads();
        let footprint = footprint_of::<T>(&readout, &norms, inputs.channels());
        guard(footprint, (n, m), block, 0, threads)?;
        for r0 in (0..n).step_by(block) {
            let rows = r0..r0.saturating_add(block).min(n);
            let xs = Signals::<T>::new(&inputs.x, rows.clone(), &norms, control)?;
            for c0 in (if symmetric { r0 } else { 0 }..m).step_by(block) {
                let cols = c0..c0.saturating_add(block).min(m);
                let owned;
                let zs = if symmetric && c0 == r0 {
                    &xs
                } else {
                    owned =
                        Signals::new(inputs.z.as_ref().unwrap_or(&inputs.x), cols.clone(), &norms, control)?;
                    &owned
                };
                let vectors = readout.path == Path::Vectors;
                tiles::tiles(rows.clone(), cols, symmetric, threads, vectors).par_iter().try_for_each(
                    |tile| {
                        control.check()?;
                        let mut ws = reuse::workspace::<Workspace<T>>(&readout)?;
                        tile.compute(&readout, (&xs, zs), writers, &mut ws, control);
                        Ok(())
                    },
                )?;
            }
        }
        // A tile stops early when cancelled: report it rather than success.
        if control.is_cancelled() {
            Err(Error::Cancelled)
        } else if writers.overflowed() {
            Err(overflow(if symmetric { "X" } else { "X, Z" }))
        } else {
            Ok(())
        }
    })
}

/// Working memory of [`gram_into`] beyond its inputs and outputs, in bytes:
/// `per_signal` for each signal of a block's rows and columns, and
/// `per_thread` for each thread of the pool. For the memory guard and the
/// default block size of the Python API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Footprint {
    pub per_signal: usize,
    pub per_thread: usize,
}

/// The footprint of signals of shape `grid × channels` through `net`, with
/// maps computed in `precision`.
pub fn footprint(net: &Net, grid: &[usize], channels: usize, precision: Precision) -> Result<Footprint> {
    match precision {
        Precision::F64 => footprint_in::<f64>(net, grid, channels, &Control::default()),
        Precision::F32 => footprint_in::<f32>(net, grid, channels, &Control::default()),
    }
}

fn footprint_in<T: Real>(net: &Net, grid: &[usize], channels: usize, control: &Control) -> Result<Footprint> {
    let readout = reuse::plan(net, grid, Target::Readout, control)?;
    let norms = reuse::plan(net, grid, Target::Norms, control)?;
    Ok(footprint_of::<T>(&readout, &norms, channels))
}

/// The footprint of signals of `channels` with the readout and norms plans.
fn footprint_of<T: Real>(readout: &Plan, norms: &Plan, channels: usize) -> Footprint {
    // A thread keeps one workspace for pairs and buffers for signals.
    Footprint {
        per_signal: Signal::<T>::bytes_for(norms, channels),
        per_thread: Workspace::<T>::bytes_for(readout, channels)
            + recursion::Buffers::<T>::slots_for(norms, channels) * size_of::<T>(),
    }
}

/// By default a block's per-signal data (its rows' and columns' signals)
/// stays under this many bytes.
pub const BLOCK_MEMORY: usize = 1 << 30;

/// The block size of a call of `n × m` pairs of signals of `grid ×
/// channels` through `net` in `precision`: `block`, else one that keeps a
/// block's per-signal data under [`BLOCK_MEMORY`]. Checks first that the
/// call fits in the memory available ([`crate::memory::guard`]): `outputs`
/// bytes of outputs the caller will allocate, the per-signal data of a
/// block's rows and columns, and a workspace per thread of the pool that
/// will run it; otherwise an [`Error::Memory`] naming the largest of them.
#[allow(clippy::too_many_arguments)]
pub fn prepare(
    net: &Net,
    grid: &[usize],
    channels: usize,
    precision: Precision,
    (n, m): (usize, usize),
    block: Option<usize>,
    outputs: u128,
    control: &Control,
) -> Result<usize> {
    if block == Some(0) {
        return Err(invalid!("block_size must be >= 1"));
    }
    let footprint = match precision {
        Precision::F64 => footprint_in::<f64>(net, grid, channels, control)?,
        Precision::F32 => footprint_in::<f32>(net, grid, channels, control)?,
    };
    let block = block.unwrap_or(BLOCK_MEMORY / (2 * footprint.per_signal).max(1)).clamp(1, n.max(m).max(1));
    guard(footprint, (n, m), block, outputs, threads::current()?)?;
    Ok(block)
}

/// [`memory::guard`] on the parts of a Gram matrix call.
fn guard(
    footprint: Footprint,
    (n, m): (usize, usize),
    block: usize,
    outputs: u128,
    threads: usize,
) -> Result<()> {
    let signals = footprint.per_signal as u128 * (block.min(n) + block.min(m)) as u128;
    let per_thread = footprint.per_thread as u128;
    let threads_advice = if per_thread * 2 > memory::available()?.map_or(u128::MAX, u128::from) {
        "one thread's workspace alone is too large for this network on signals this large: use smaller signals"
    } else {
        "use fewer threads (ntk_rs.set_num_threads): every thread holds a workspace of this size"
    };
    memory::guard(&[
        memory::Part {
            what: "the output".into(),
            bytes: outputs,
            advice: "pass out= (e.g. a numpy.memmap on disk), or use ntk_rs.blocks.GramJob",
        },
        memory::Part {
            what: format!("blocks of {block} signals ({} each)", memory::size(footprint.per_signal as u128)),
            bytes: signals,
            advice: "pass a smaller block_size: memory grows linearly with it",
        },
        memory::Part {
            what: format!("{threads} threads ({} each)", memory::size(per_thread)),
            bytes: memory::mul(per_thread, threads as u128),
            advice: threads_advice,
        },
    ])
}

/// `K(x_i, x_i)` of every signal of `inputs` (without `z`), without the
/// Gram matrix: `ntk` unless [`Kind::Rf`], `rf` unless [`Kind::Ntk`]. Equal, bit
/// for bit, to the diagonal of [`gram`] of the same inputs.
pub fn self_kernels(net: &Net, inputs: &Inputs<'_>, kind: Kind, control: &Control) -> Result<SelfKernels> {
    if inputs.z.is_some() {
        return Err(invalid!("Z: self-kernels are of X with itself"));
    }
    let values = match inputs.precision {
        Precision::F64 => self_values::<f64>(net, inputs, kind, control)?,
        Precision::F32 => self_values::<f32>(net, inputs, kind, control)?,
    };
    if !values.iter().all(Values::finite) {
        return Err(overflow("X"));
    }
    Ok(SelfKernels {
        ntk: (kind != Kind::Rf).then(|| values.iter().map(|v| v.ntk.expect("computed")).collect()),
        rf: (kind != Kind::Ntk).then(|| values.iter().map(|v| v.rf).collect()),
    })
}

/// The values of [`self_kernels`] with maps in `T`.
fn self_values<T: Real>(
    net: &Net,
    inputs: &Inputs<'_>,
    kind: Kind,
    control: &Control,
) -> Result<Vec<Values>> {
    let readout = reuse::plan(net, inputs.grid(), Target::Readout, control)?;
    let norms = reuse::plan(net, inputs.grid(), Target::Norms, control)?;
    let ntk = kind != Kind::Rf;
    let n = inputs.x.shape()[0];
    threads::install(|| {
        // Each thread holds its workspaces and one signal at a time.
        let mut footprint = footprint_of::<T>(&readout, &norms, inputs.channels());
        footprint.per_thread += footprint.per_signal;
        let outputs = 8 * n as u128 * if kind == Kind::Both { 2 } else { 1 };
        guard(Footprint { per_signal: 0, ..footprint }, (n, n), 1, outputs, rayon::current_num_threads())?;
        (0..inputs.x.shape()[0])
            .into_par_iter()
            .map_init(
                || {
                    let buffers = reuse::workspace::<recursion::Buffers<T>>(&norms)?;
                    Ok::<_, Error>((buffers, reuse::workspace::<Workspace<T>>(&readout)?))
                },
                |lent, i| {
                    control.check()?;
                    let (buffers, ws) = lent.as_mut().map_err(|e| e.clone())?;
                    let s = Signal::new(inputs.x.index_axis(Axis(0), i), &norms, buffers)?;
                    control.advance(1);
                    Ok(pair::kernel(&readout, &s, &s, true, ntk, ws))
                },
            )
            .collect::<Result<_>>()
    })
}

/// Self-kernels of one call (see [`self_kernels`]).
#[derive(Debug, Default)]
pub struct SelfKernels {
    pub ntk: Option<Array1<f64>>,
    pub rf: Option<Array1<f64>>,
}

/// The error for kernel values beyond `f64` (written as infinities). Maps
/// never overflow (see [`Signal::exponent`]): only signals whose kernels
/// themselves exceed about 1.8e308 do.
fn overflow(names: &str) -> Error {
    invalid!(
        "{names}: kernel values exceed float64's range (about 1.8e308); scale the signals down \
         (kernels are homogeneous: K(a x, b z) = a b K(x, z) for a, b > 0)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kappa::{kappa0, kappa1};
    use crate::network::plan::Plan;
    use crate::network::{Layer, Padding, Pool};
    use ndarray::Array;

    fn images(n: usize, seed: usize) -> ndarray::ArrayD<f64> {
        Array::from_shape_fn((n, 7, 6, 2), |(i, y, x, c)| {
            (((i + seed) * 31 + y * 7 + x * 3 + c * 5) % 11) as f64 - 5.0
        })
        .into_dyn()
    }

    fn net() -> Net {
        let layer = |pool| Layer { patch: vec![3, 3], padding: Padding::Same, pool };
        Net::new(vec![
            layer(Pool::Filter { h: vec![0.25, 0.5, 0.25], stride: 2 }),
            layer(Pool::GlobalAverage),
        ])
        .unwrap()
    }

    /// Three layers on vectors, which take the tile path (`vectors`).
    fn fc() -> Net {
        Net::fully_connected(3)
    }

    /// `n` vectors of 29 values, every fifth zero.
    fn vectors(n: usize, seed: usize) -> ndarray::ArrayD<f64> {
        Array::from_shape_fn((n, 29), |(i, c)| {
            if (i + seed) % 5 == 4 { 0.0 } else { (((i + seed) * 31 + c * 7) % 13) as f64 - 6.0 }
        })
        .into_dyn()
    }

    /// The networks and signals of the tests below: images through the
    /// recursion, and vectors through tiles, enough of them that the tiles
    /// differ in shape with the thread count and the blocks (tiles of
    /// vectors are at least `VECTOR_TILE_SIDE` on a side).
    fn cases(n: usize, seed: usize) -> [(Net, ndarray::ArrayD<f64>); 2] {
        [(net(), images(n, seed)), (fc(), vectors(12 * n, seed))]
    }

    #[test]
    fn one_layer_on_vectors_is_the_two_layer_closed_form() {
        let net = Net::fully_connected(1);
        let x = ndarray::arr2(&[[3.0, 4.0], [1.0, 0.0], [0.0, 0.0]]).into_dyn();
        let k = gram(&net, &Inputs::new(x.view(), None).unwrap(), Kind::Both, &Control::default()).unwrap();
        let (ntk, rf) = (k.ntk.unwrap(), k.rf.unwrap());
        let u: f64 = 0.6; // cosine of (3, 4) and (1, 0)
        assert!((rf[[0, 1]] - 5.0 * kappa1(u)).abs() < 1e-14);
        assert!((ntk[[0, 1]] - 5.0 * (u * kappa0(u) + kappa1(u))).abs() < 1e-14);
        assert_eq!((rf[[0, 0]], ntk[[0, 0]]), (25.0, 50.0));
        assert!(ntk.row(2).iter().chain(rf.column(2)).all(|&v| v == 0.0));
    }

    #[test]
    fn symmetric_gram_is_mirrored_and_matches_the_cross_kernel() {
        let x = images(5, 0);
        let sym =
            gram(&net(), &Inputs::new(x.view(), None).unwrap(), Kind::Ntk, &Control::default()).unwrap();
        let cross =
            gram(&net(), &Inputs::new(x.view(), Some(x.view())).unwrap(), Kind::Ntk, &Control::default())
                .unwrap();
        let (sym, cross) = (sym.ntk.unwrap(), cross.ntk.unwrap());
        assert_eq!(sym, sym.t());
        for (a, b) in sym.iter().zip(cross.iter()) {
            assert!((a - b).abs() <= 1e-8 * b.abs());
        }
    }

    #[test]
    fn the_scale_of_the_signals_is_taken_out_exactly() {
        // The diagonal path (identity poolings) besides the recursion and tiles.
        let layer = Layer { patch: vec![3, 3], padding: Padding::Same, pool: Pool::identity() };
        let diagonal_path = (Net::new(vec![layer; 2]).unwrap(), images(3, 0), images(2, 7));
        let [(net, x), (fc, v)] = cases(3, 0);
        let [(_, z), (_, w)] = cases(2, 7);
        for (net, x, z) in [(net, x, z), (fc, v, w), diagonal_path] {
            let both = |x: &ndarray::ArrayD<f64>, z: &ndarray::ArrayD<f64>, precision| {
                let inputs = Inputs::new(x.view(), Some(z.view())).unwrap().with_precision(precision);
                let out = gram(&net, &inputs, Kind::Both, &Control::default())?;
                Ok::<_, Error>((out.ntk.unwrap(), out.rf.unwrap()))
            };
            let (ntk, rf) = both(&x, &z, Precision::F64).unwrap();
            // Values near 1e162 and 1e-169, whose squares leave f64.
            let (big, small) = (x.mapv(|v| v * 2f64.powi(540)), z.mapv(|v| v * 2f64.powi(-560)));
            let (ntk_scaled, rf_scaled) = both(&big, &small, Precision::F64).unwrap();
            assert_eq!(ntk_scaled, ntk.mapv(|v| v * 2f64.powi(-20)));
            assert_eq!(rf_scaled, rf.mapv(|v| v * 2f64.powi(-20)));
            let (ntk32, _) = both(&big, &small, Precision::F32).unwrap();
            for (a, b) in ntk32.iter().zip(&ntk_scaled) {
                assert!((a - b).abs() <= 1e-5 * b.abs(), "{a} {b}");
            }
            let huge = x.mapv(|v| v * 2f64.powi(1000));
            for precision in [Precision::F64, Precision::F32] {
                let Err(Error::Invalid(msg)) = both(&huge, &huge, precision) else { panic!("no error") };
                assert!(msg.starts_with("X, Z: kernel values exceed float64"), "{msg}");
                let inputs = Inputs::new(huge.view(), None).unwrap().with_precision(precision);
                let Err(Error::Invalid(msg)) = self_kernels(&net, &inputs, Kind::Rf, &Control::default())
                else {
                    panic!("no error")
                };
                assert!(msg.starts_with("X: kernel values exceed float64"), "{msg}");
            }
        }
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        // Sizes whose tiles differ between 1 and 3 threads.
        let cases = [(net(), images(24, 0), images(16, 9)), (fc(), vectors(72, 0), vectors(48, 9))];
        for (net, x, z) in cases {
            let inputs = Inputs::new(x.view(), Some(z.view())).unwrap();
            let vectors = Plan::new(&net, inputs.grid(), Target::Readout).unwrap().path == Path::Vectors;
            let (n, m) = inputs.shape();
            // The schedules differ, so that the test could see a difference.
            let sides = |threads| -> Vec<_> {
                tiles::tiles(0..n, 0..m, false, threads, vectors).iter().map(|t| t.rows()).collect()
            };
            assert_ne!(sides(1), sides(3));
            let run = |threads| {
                rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(|| {
                    // gram runs where threads::install runs: on this pool.
                    let used = threads::install(|| Ok(rayon::current_num_threads())).unwrap();
                    assert_eq!(used, threads);
                    let out = gram(&net, &inputs, Kind::Both, &Control::default()).unwrap();
                    (out.ntk.unwrap(), out.rf.unwrap())
                })
            };
            assert_eq!(run(1), run(3));
        }
    }

    #[test]
    fn self_kernels_are_the_gram_diagonal_bit_for_bit() {
        for (net, x) in cases(5, 3) {
            let full =
                gram(&net, &Inputs::new(x.view(), None).unwrap(), Kind::Both, &Control::default()).unwrap();
            let diag =
                self_kernels(&net, &Inputs::new(x.view(), None).unwrap(), Kind::Both, &Control::default())
                    .unwrap();
            assert_eq!(diag.ntk.unwrap(), full.ntk.unwrap().diag());
            assert_eq!(diag.rf.unwrap(), full.rf.unwrap().diag());
        }
    }

    #[test]
    fn cancelled_work_stops() {
        let x = images(4, 0);
        let control = Control::default();
        control.cancel();
        let r = gram(&net(), &Inputs::new(x.view(), None).unwrap(), Kind::Rf, &control);
        assert_eq!(r.unwrap_err(), Error::Cancelled);
        assert_eq!(control.done(), 0);
    }

    #[test]
    fn writes_into_strided_outputs() {
        let x = images(3, 0);
        let inputs = Inputs::new(x.view(), None).unwrap();
        let want = gram(&net(), &inputs, Kind::Rf, &Control::default()).unwrap().rf.unwrap();
        let mut big = Array2::<f64>::from_elem((6, 3), -1.0);
        let view = big.slice_mut(ndarray::s![..;2, ..;-1]);
        gram_into(&net(), &inputs, None, Some(view), 2, &Control::default()).unwrap();
        assert_eq!(big.slice(ndarray::s![..;2, ..;-1]), want);
        assert!(big.slice(ndarray::s![1..;2, ..]).iter().all(|&v| v == -1.0));
    }

    #[test]
    fn blocks_do_not_change_the_results() {
        for ((net, x), (_, z)) in cases(7, 0).into_iter().zip(cases(5, 9)) {
            for inputs in
                [Inputs::new(x.view(), None).unwrap(), Inputs::new(x.view(), Some(z.view())).unwrap()]
            {
                let want = gram(&net, &inputs, Kind::Both, &Control::default()).unwrap();
                let (n, m) = inputs.shape();
                for block in [1, 2, 3, 6, 7, 17] {
                    let (mut ntk, mut rf) =
                        (Array2::from_elem((n, m), f64::NAN), Array2::from_elem((n, m), f64::NAN));
                    let control = Control::default();
                    gram_into(&net, &inputs, Some(ntk.view_mut()), Some(rf.view_mut()), block, &control)
                        .unwrap();
                    assert_eq!((Some(ntk), Some(rf)), (want.ntk.clone(), want.rf.clone()), "block {block}");
                    let pairs = if inputs.z.is_none() { n * (n + 1) / 2 } else { n * m };
                    assert_eq!(control.done(), pairs as u64);
                }
            }
        }
    }

    #[test]
    fn footprint_counts_signals_and_workspaces() {
        fn check<T: Real>() {
            let f = footprint(&net(), &[7, 6], 2, T::PRECISION).unwrap();
            // The planar copy (7·6·2) and the norm maps and their inverses
            // on the 7×6 grid and, after pooling with stride 2, the 4×3 grid.
            assert_eq!(f.per_signal, (84 + 2 * (42 + 12)) * size_of::<T>());
            let readout = Plan::new(&net(), &[7, 6], Target::Readout).unwrap();
            let norms = Plan::new(&net(), &[7, 6], Target::Norms).unwrap();
            assert_eq!(
                f.per_thread,
                Workspace::<T>::bytes_for(&readout, 2)
                    + recursion::Buffers::<T>::slots_for(&norms, 2) * size_of::<T>()
            );
        }
        check::<f64>();
        check::<f32>();
    }

    #[test]
    fn zero_block_size_is_rejected() {
        let x = images(2, 0);
        let mut out = Array2::zeros((2, 2));
        let r = gram_into(
            &net(),
            &Inputs::new(x.view(), None).unwrap(),
            Some(out.view_mut()),
            None,
            0,
            &Control::default(),
        );
        assert_eq!(r.unwrap_err(), invalid!("block_size must be >= 1"));
    }

    #[test]
    fn signals_without_channels_or_with_three_axes_are_rejected() {
        let x = ndarray::ArrayD::<f64>::zeros(vec![2, 8, 0]);
        assert!(
            matches!(Inputs::new(x.view(), None), Err(Error::Invalid(m)) if m.contains("at least one channel"))
        );
        let r = footprint(&net(), &[4, 4, 4], 2, Precision::F64);
        assert!(matches!(r, Err(Error::Invalid(m)) if m.contains("at most two spatial axes")));
    }
}
