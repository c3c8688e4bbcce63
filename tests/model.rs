//! The evaluation graph: analytic Jacobian against finite differences, batch against single
//! point, f32 against f64, and the output layout.

use zelos::model::Model;
use zelos::nn::Activation;
use zelos::testing::{RandomModel, SplitMix};

const ACTIVATIONS: [Activation; 4] = [Activation::Tanh, Activation::Relu, Activation::Silu, Activation::Cosmopower];

fn model<T: zelos::nn::Real>(spec: &RandomModel) -> Model {
    let (description, tensors) = spec.build::<T>();
    Model::new(description, &tensors, "test").expect("random model loads")
}

fn small(activation: Activation, output_steps: bool, seed: u64) -> RandomModel {
    // Odd seeds carry a linear skip connection, so every test covers networks with and without.
    let skip = seed % 2 == 1;
    RandomModel { n_params: 6, hidden: 3, width: 24, n_out: 10, activation, output_steps, pca_out: if output_steps { 16 } else { 0 }, skip, seed }
}

#[test]
fn jacobian_matches_central_differences() {
    for activation in ACTIVATIONS {
        for (seed, steps) in [(1, false), (2, true), (3, true)] {
            let spec = small(activation, steps, seed);
            let m = model::<f64>(&spec);
            let p = spec.n_params;
            let mut rng = SplitMix::new(seed + 100);
            for _ in 0..5 {
                let x = spec.point(&mut rng);
                let n = m.n_outputs();
                let (mut out, mut jac) = (vec![0.0; n], vec![0.0; n * p]);
                m.jacobian(&x, &mut out, &mut jac);
                for j in 0..p {
                    let h = 1e-5 * (0.5 + 0.25 * j as f64);
                    let (mut xp, mut xm) = (x.clone(), x.clone());
                    xp[j] += h;
                    xm[j] -= h;
                    let (mut fp, mut fm) = (vec![0.0; n], vec![0.0; n]);
                    m.eval(&xp, &mut fp);
                    m.eval(&xm, &mut fm);
                    let scale = jac.iter().skip(j).step_by(p).fold(0.0f64, |a, v| a.max(v.abs()));
                    for i in 0..n {
                        let numeric = (fp[i] - fm[i]) / (2.0 * h);
                        let analytic = jac[i * p + j];
                        // ReLU kinks make single entries of a difference quotient wrong; skip them.
                        let tol = 1e-6 * analytic.abs().max(scale);
                        if activation == Activation::Relu && (numeric - analytic).abs() > tol {
                            continue;
                        }
                        assert!((numeric - analytic).abs() <= tol, "{activation:?} seed {seed}: d out[{i}] / d x[{j}]: analytic {analytic}, numeric {numeric}");
                    }
                }
            }
        }
    }
}

#[test]
fn jacobian_outputs_equal_eval() {
    let spec = small(Activation::Cosmopower, true, 7);
    let m = model::<f64>(&spec);
    let x = spec.point(&mut SplitMix::new(9));
    let n = m.n_outputs();
    let (mut a, mut b, mut jac) = (vec![0.0; n], vec![0.0; n], vec![0.0; n * spec.n_params]);
    m.eval(&x, &mut a);
    m.jacobian(&x, &mut b, &mut jac);
    assert_eq!(a, b);
}

#[test]
fn batch_equals_single_points() {
    for activation in ACTIVATIONS {
        let spec = small(activation, true, 11);
        for m in [model::<f64>(&spec), model::<f32>(&spec)] {
            let mut rng = SplitMix::new(5);
            let n_points = 37;
            let x: Vec<f64> = (0..n_points).flat_map(|_| spec.point(&mut rng)).collect();
            let width = m.n_outputs();
            let mut batch = vec![0.0; n_points * width];
            m.eval_batch(&x, n_points, &mut batch).unwrap();
            for i in 0..n_points {
                let mut single = vec![0.0; width];
                m.eval(&x[i * spec.n_params..(i + 1) * spec.n_params], &mut single);
                for k in 0..width {
                    let (a, b) = (single[k], batch[i * width + k]);
                    assert!((a - b).abs() <= 1e-5 * a.abs().max(1e-3), "{activation:?} {}: point {i} output {k}: {a} vs {b}", m.dtype());
                }
            }
        }
    }
}

/// In f64 the batch path (matrix products, the output transform on the whole block) gives the
/// single-point values to 1e-12; batches under `BATCH_MIN_ROWS` points are the single-point path.
#[test]
fn f64_batch_equals_single_points_to_1e_12() {
    for activation in ACTIVATIONS {
        let spec = small(activation, true, 3);
        let m = model::<f64>(&spec);
        let mut rng = SplitMix::new(21);
        let width = m.n_outputs();
        for n_points in [1, 2, 3, 4, 64] {
            let x: Vec<f64> = (0..n_points).flat_map(|_| spec.point(&mut rng)).collect();
            let mut batch = vec![0.0; n_points * width];
            m.eval_batch(&x, n_points, &mut batch).unwrap();
            for i in 0..n_points {
                let mut single = vec![0.0; width];
                m.eval(&x[i * spec.n_params..(i + 1) * spec.n_params], &mut single);
                if n_points < zelos::model::BATCH_MIN_ROWS {
                    assert_eq!(single, batch[i * width..(i + 1) * width], "{activation:?}: a batch of {n_points}");
                }
                for k in 0..width {
                    let (a, b) = (single[k], batch[i * width + k]);
                    assert!((a - b).abs() <= 1e-12 * a.abs(), "{activation:?} point {i} of {n_points}, output {k}: {a} vs {b}");
                }
            }
        }
    }
}

/// Batches go through the networks in chunks (of bounded scratch memory): any chunk size, a
/// ragged last chunk included, gives the values of the whole batch at once.
#[test]
fn batch_in_chunks_equals_the_whole_batch() {
    let spec = small(Activation::Cosmopower, true, 13);
    for m in [model::<f64>(&spec), model::<f32>(&spec)] {
        let mut rng = SplitMix::new(8);
        let n_points = 37;
        let x: Vec<f64> = (0..n_points).flat_map(|_| spec.point(&mut rng)).collect();
        let width = m.n_outputs();
        let mut whole = vec![0.0; n_points * width];
        m.eval_batch_chunked(&x, n_points, &mut whole, n_points).unwrap();
        for rows in [1, 2, 7, 36, 1000] {
            let mut chunked = vec![f64::NAN; n_points * width];
            m.eval_batch_chunked(&x, n_points, &mut chunked, rows).unwrap();
            assert_eq!(chunked, whole, "{} in chunks of {rows}", m.dtype());
        }
        let mut empty: Vec<f64> = Vec::new();
        m.eval_batch(&[], 0, &mut empty).unwrap();
    }
}

/// A batch shared out among threads (consecutive rows each) gives exactly the values of the
/// same batch on one thread, for any number of threads, a ragged last share included.
#[test]
fn batch_on_threads_equals_one_thread() {
    let spec = small(Activation::Cosmopower, true, 17);
    for m in [model::<f64>(&spec), model::<f32>(&spec)] {
        let mut rng = SplitMix::new(4);
        let n_points = 4 * zelos::model::BATCH_MIN_ROWS_PER_THREAD + 7;
        let x: Vec<f64> = (0..n_points).flat_map(|_| spec.point(&mut rng)).collect();
        let width = m.n_outputs();
        let mut one = vec![0.0; n_points * width];
        m.eval_batch_threads(&x, n_points, &mut one, 1).unwrap();
        for threads in [2, 3, 4, 5, 64] {
            let mut shared = vec![f64::NAN; n_points * width];
            m.eval_batch_threads(&x, n_points, &mut shared, threads).unwrap();
            assert_eq!(shared, one, "{} on {threads} threads", m.dtype());
        }
    }
}

#[test]
fn f32_evaluation_tracks_f64() {
    let spec = RandomModel { output_steps: false, ..RandomModel::default() };
    let (m64, m32) = (model::<f64>(&spec), model::<f32>(&spec));
    assert_eq!((m64.dtype(), m32.dtype()), ("F64", "F32"));
    let mut rng = SplitMix::new(3);
    for _ in 0..20 {
        let x = spec.point(&mut rng);
        let (mut a, mut b) = (vec![0.0; 200], vec![0.0; 200]);
        m64.eval(&x, &mut a);
        m32.eval(&x, &mut b);
        let worst = a.iter().zip(&b).map(|(u, v)| (u - v).abs()).fold(0.0, f64::max);
        assert!(worst < 1e-4, "f32 differs from f64 by {worst}");
    }
}

#[test]
fn layout_names_blocks_of_the_output() {
    let spec = small(Activation::Tanh, true, 1);
    let m = model::<f64>(&spec);
    let y = m.output("y").expect("output y");
    assert_eq!((y.offset, y.shape.clone(), y.axes.clone()), (0, vec![16], vec!["i".to_string()]));
    assert_eq!(m.grid("i").unwrap().len(), 16);
}

#[test]
fn a_missing_tensor_is_named() {
    let spec = small(Activation::Cosmopower, false, 1);
    let (description, mut tensors) = spec.build::<f64>();
    tensors.tensors.remove("net.1.alpha");
    let err = Model::new(description, &tensors, "x.tar.gz").err().expect("refused");
    assert_eq!(err.to_string(), "x.tar.gz: model: tensor `net.1.alpha` is missing from the weights");
}

/// model.json is untrusted: a layer count far beyond the tensors is a missing tensor, not an
/// allocation sized by the claim (found by tests/fuzz_readers.rs: it aborted the process).
#[test]
fn a_huge_layer_count_is_a_missing_tensor() {
    let spec = small(Activation::Tanh, false, 1);
    let (mut description, tensors) = spec.build::<f64>();
    description.networks[0].layers = 1_000_000_000_000_000;
    let err = Model::new(description, &tensors, "x.tar.gz").err().expect("refused");
    assert_eq!(err.to_string(), "x.tar.gz: model: tensor `net.4.weight` is missing from the weights");
}

#[test]
fn a_wrong_shape_is_named() {
    let spec = small(Activation::Tanh, false, 1);
    let (description, mut tensors) = spec.build::<f64>();
    tensors.insert("net.2.bias", zelos::tensors::Tensor::f64(vec![3], vec![0.0; 3]));
    let err = Model::new(description, &tensors, "x.tar.gz").err().expect("refused");
    assert!(err.to_string().contains("tensor `net.2.bias` has shape [3]; expected [24]"), "{err}");
}
