//! Random models for tests and benchmarks (seeded, dependency-free).

use crate::model::{InputDescription, ModelDescription, NetworkDescription, OutputDescription, StepDescription, MODEL_FORMAT};
use crate::nn::{Activation, Real};
use crate::tensors::{Tensor, TensorSet};

/// The generator of training, shared so that tests draw from the same seeded stream.
pub use crate::train::rng::SplitMix;

/// What [`random_model`] builds: `n_params -> hidden x width -> n_out`, optionally followed by
/// an affine step, a PCA-like linear step to `pca_out` values and `pow10`.
#[derive(Debug, Clone)]
pub struct RandomModel {
    pub n_params: usize,
    pub hidden: usize,
    pub width: usize,
    pub n_out: usize,
    pub activation: Activation,
    pub output_steps: bool,
    pub pca_out: usize,
    /// A linear skip connection `S x` from the input to the network output.
    pub skip: bool,
    pub seed: u64,
}

impl Default for RandomModel {
    fn default() -> Self {
        RandomModel { n_params: 6, hidden: 5, width: 128, n_out: 200, activation: Activation::Tanh, output_steps: false, pca_out: 0, skip: false, seed: 1 }
    }
}

impl RandomModel {
    /// Parameter names `p0, p1, ...` and a box `[-1 - j/10, 1 + j/10]` around an offset centre.
    pub fn parameter_names(&self) -> Vec<String> {
        (0..self.n_params).map(|j| format!("p{j}")).collect()
    }

    /// The description and tensors (network weights in `T`'s dtype) of one network named `net`
    /// producing one output `y` of shape `[n]`.
    pub fn build<T: Real>(&self) -> (ModelDescription, TensorSet) {
        let mut rng = SplitMix::new(self.seed);
        let mut t = TensorSet::new();
        let p = self.n_params;
        let shift: Vec<f64> = (0..p).map(|j| 0.1 * j as f64).collect();
        let scale: Vec<f64> = (0..p).map(|j| 0.5 + 0.25 * j as f64).collect();
        t.insert("input.shift", Tensor::f64(vec![p], shift));
        t.insert("input.scale", Tensor::f64(vec![p], scale));
        let mut n_in = p;
        let layers = self.hidden + 1;
        for i in 0..layers {
            let n_out = if i + 1 == layers { self.n_out } else { self.width };
            // Glorot-like scale keeps tanh units out of saturation, so derivatives are informative.
            let a = (6.0 / (n_in + n_out) as f64).sqrt();
            let w: Vec<T> = (0..n_in * n_out).map(|_| T::from_f64(rng.symmetric(a))).collect();
            let b: Vec<T> = (0..n_out).map(|_| T::from_f64(rng.symmetric(0.1))).collect();
            t.insert(format!("net.{i}.weight"), Tensor::of(vec![n_out, n_in], &w));
            t.insert(format!("net.{i}.bias"), Tensor::of(vec![n_out], &b));
            if i + 1 < layers && self.activation.has_parameters() {
                let alpha: Vec<T> = (0..n_out).map(|_| T::from_f64(0.5 + rng.uniform())).collect();
                let beta: Vec<T> = (0..n_out).map(|_| T::from_f64(rng.uniform() * 0.5)).collect();
                t.insert(format!("net.{i}.alpha"), Tensor::of(vec![n_out], &alpha));
                t.insert(format!("net.{i}.beta"), Tensor::of(vec![n_out], &beta));
            }
            n_in = n_out;
        }
        let skip = self.skip.then(|| {
            let w: Vec<T> = (0..self.n_out * p).map(|_| T::from_f64(rng.symmetric(1.0))).collect();
            t.insert("net.skip.weight", Tensor::of(vec![self.n_out, p], &w));
            "net.skip.weight".to_string()
        });
        let mut steps = Vec::new();
        let mut n = self.n_out;
        if self.output_steps {
            let scale: Vec<T> = (0..n).map(|_| T::from_f64(0.1 + 0.2 * rng.uniform())).collect();
            let shift: Vec<T> = (0..n).map(|_| T::from_f64(rng.symmetric(0.5))).collect();
            t.insert("net.out.scale", Tensor::of(vec![n], &scale));
            t.insert("net.out.shift", Tensor::of(vec![n], &shift));
            steps.push(StepDescription::Affine { scale: "net.out.scale".into(), shift: "net.out.shift".into() });
            if self.pca_out > 0 {
                let m: Vec<T> = (0..n * self.pca_out).map(|_| T::from_f64(rng.symmetric(1.0 / (n as f64).sqrt()))).collect();
                let mean: Vec<T> = (0..self.pca_out).map(|_| T::from_f64(rng.symmetric(0.3))).collect();
                t.insert("net.pca.matrix", Tensor::of(vec![n, self.pca_out], &m));
                t.insert("net.pca.mean", Tensor::of(vec![self.pca_out], &mean));
                steps.push(StepDescription::Linear { matrix: "net.pca.matrix".into(), bias: Some("net.pca.mean".into()) });
                n = self.pca_out;
            }
            steps.push(StepDescription::Pow10);
        }
        let grid: Vec<f64> = (0..n).map(|i| i as f64).collect();
        t.insert("grid.i", Tensor::f64(vec![n], grid));
        let description = ModelDescription {
            model_format: MODEL_FORMAT,
            parameters: self.parameter_names(),
            input: InputDescription { shift: "input.shift".into(), scale: "input.scale".into() },
            networks: vec![NetworkDescription {
                name: "net".into(),
                activation: self.activation,
                layers,
                skip,
                output_transform: steps,
                outputs: vec![OutputDescription { name: "y".into(), shape: vec![n], axes: vec!["i".into()] }],
            }],
            grids: [("i".to_string(), "grid.i".to_string())].into_iter().collect(),
        };
        (description, t)
    }

    /// A point inside the parameter region the input scaling is centred on.
    pub fn point(&self, rng: &mut SplitMix) -> Vec<f64> {
        (0..self.n_params).map(|j| 0.1 * j as f64 + rng.symmetric(0.5 + 0.25 * j as f64)).collect()
    }
}
