//! What a training run is asked to do, read from a JSON object (what the Python binding passes)
//! and checked: the checks that refuse an unusable request, each naming the key.

use serde_json::Value;

use crate::nn::Activation;
use crate::Error;

/// How the learning rate moves from `lr_initial` to `lr_final` (docs/spec.md, `training`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// `lr_initial` throughout (`lr_final` unused).
    Constant,
    /// Cosine annealing: `lr_initial` at the first epoch, `lr_final` at the last.
    Cosine,
    /// Geometric decay: `lr_initial` at the first epoch, `lr_final` at the last.
    Exponential,
    /// Divided by 10 after 10 epochs without validation improvement, never below `lr_final`.
    Plateau,
}

impl Schedule {
    /// Every schedule, in the order docs/spec.md lists them.
    pub const ALL: [Schedule; 4] = [Schedule::Constant, Schedule::Cosine, Schedule::Exponential, Schedule::Plateau];

    pub fn name(self) -> &'static str {
        match self {
            Schedule::Constant => "constant",
            Schedule::Cosine => "cosine",
            Schedule::Exponential => "exponential",
            Schedule::Plateau => "plateau",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Schedule::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// A training run: the architecture (`d_in -> widths... -> d_out`, the input and output sizes
/// coming from the data), the optimiser (Adam) and its schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    /// Hidden layer widths, in order (empty: a single linear layer).
    pub widths: Vec<usize>,
    /// The activation of every hidden layer; the output layer is linear.
    pub activation: Activation,
    /// The most epochs (passes over the training set).
    pub epochs: usize,
    /// Points per mini-batch (the last batch of an epoch may be smaller).
    pub batch_size: usize,
    pub lr_initial: f64,
    pub lr_final: f64,
    pub schedule: Schedule,
    /// Stop after this many epochs without validation improvement; `None`: never stop early.
    pub patience: Option<usize>,
    /// Seeds the initial weights and the shuffling: the same seed, data and `threads` give a
    /// bit-identical result.
    pub seed: u64,
    /// Worker threads per mini-batch; 0: one per available core.
    pub threads: usize,
    /// Decoupled (AdamW) weight decay per step, applied to weight matrices only; 0: plain Adam.
    pub weight_decay: f64,
}

impl Default for TrainConfig {
    /// The defaults of docs/spec.md: 4 x 256 tanh, 1000 epochs of 256 points, cosine 1e-3 -> 1e-5,
    /// patience 100, seed 1.
    fn default() -> Self {
        TrainConfig {
            widths: vec![256; 4],
            activation: Activation::Tanh,
            epochs: 1000,
            batch_size: 256,
            lr_initial: 1e-3,
            lr_final: 1e-5,
            schedule: Schedule::Cosine,
            patience: Some(100),
            seed: 1,
            threads: 0,
            weight_decay: 0.0,
        }
    }
}

impl TrainConfig {
    /// The keys of a config object ([`TrainConfig::from_json`]), in the order of the fields.
    pub const KEYS: [&'static str; 11] = [
        "widths",
        "activation",
        "epochs",
        "batch_size",
        "lr_initial",
        "lr_final",
        "schedule",
        "patience",
        "seed",
        "threads",
        "weight_decay",
    ];

    /// A config from a JSON object whose keys are all optional (the [`Default`] for those
    /// missing), then [`TrainConfig::check`]ed. An unknown key, a value of the wrong kind or an
    /// unusable setting is an [`Error::Parameters`] naming the key and what it must be.
    pub fn from_json(object: &Value) -> Result<TrainConfig, Error> {
        let Some(object) = object.as_object() else {
            return Err(Error::Parameters(format!("training config: expected an object of settings, got {object}")));
        };
        let mut c = TrainConfig::default();
        for (key, value) in object {
            let bad = |what: String| Error::Parameters(format!("training config: '{key}' must be {what}, got {value}"));
            let count = |v: &Value| v.as_u64().and_then(|u| usize::try_from(u).ok());
            let natural = || count(value).ok_or_else(|| bad("a non-negative integer".into()));
            let number = || value.as_f64().ok_or_else(|| bad("a number".into()));
            match key.as_str() {
                "widths" => {
                    c.widths = value
                        .as_array()
                        .and_then(|list| list.iter().map(count).collect())
                        .ok_or_else(|| bad("a list of positive integers".into()))?
                }
                "activation" => {
                    c.activation = Activation::ALL
                        .iter()
                        .copied()
                        .find(|a| value.as_str() == Some(a.as_str()))
                        .ok_or_else(|| bad(quoted_choices(Activation::ALL.iter().map(|a| a.as_str()))))?
                }
                "schedule" => {
                    c.schedule = Schedule::ALL
                        .into_iter()
                        .find(|s| value.as_str() == Some(s.name()))
                        .ok_or_else(|| bad(quoted_choices(Schedule::ALL.iter().map(|s| s.name()))))?
                }
                "epochs" => c.epochs = natural()?,
                "batch_size" => c.batch_size = natural()?,
                "lr_initial" => c.lr_initial = number()?,
                "lr_final" => c.lr_final = number()?,
                "patience" => {
                    c.patience = match value {
                        Value::Null => None,
                        v => Some(count(v).ok_or_else(|| bad("a non-negative integer or None".into()))?),
                    }
                }
                "seed" => c.seed = value.as_u64().ok_or_else(|| bad("a non-negative integer".into()))?,
                "threads" => c.threads = natural()?,
                "weight_decay" => c.weight_decay = number()?,
                _ => {
                    return Err(Error::Parameters(format!(
                        "training config: unknown key '{key}' (allowed: {})",
                        Self::KEYS.join(", ")
                    )))
                }
            }
        }
        c.check()?;
        Ok(c)
    }

    /// Refuses settings no run can use, naming the setting.
    pub fn check(&self) -> Result<(), Error> {
        let bad = |message: String| Err(Error::Parameters(format!("training config: {message}")));
        if let Some(i) = self.widths.iter().position(|&w| w == 0) {
            return bad(format!("widths[{i}] is 0; every hidden layer needs at least one unit"));
        }
        if self.epochs == 0 {
            return bad("epochs must be at least 1".into());
        }
        if self.batch_size == 0 {
            return bad("batch_size must be at least 1".into());
        }
        if !(self.lr_initial.is_finite() && self.lr_initial > 0.0) {
            return bad(format!("lr_initial must be a positive number, got {}", self.lr_initial));
        }
        if self.schedule != Schedule::Constant
            && !(self.lr_final.is_finite() && self.lr_final > 0.0 && self.lr_final <= self.lr_initial)
        {
            return bad(format!(
                "lr_final must be positive and at most lr_initial ({}) for the {} schedule, got {}",
                self.lr_initial,
                self.schedule.name(),
                self.lr_final
            ));
        }
        if self.patience == Some(0) {
            return bad("patience must be at least 1 (or None to never stop early)".into());
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad(format!("weight_decay must be a non-negative number, got {}", self.weight_decay));
        }
        Ok(())
    }

    /// The worker threads a run actually uses: `threads`, or one per core when 0.
    pub fn resolved_threads(&self) -> usize {
        match self.threads {
            0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            t => t,
        }
    }
}

/// "one of 'a', 'b', 'c'".
fn quoted_choices<'a>(names: impl Iterator<Item = &'a str>) -> String {
    format!("one of {}", names.map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", "))
}
