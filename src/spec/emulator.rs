//! `emulator`: the network architecture, shared by every output network unless overridden.

use serde::{Deserialize, Serialize};

use super::error::{one_of, Origin, SpecError};
use super::forms::ordered_map;
use crate::keywords::keywords;
use super::limits::{self, MAX_HIDDEN_LAYERS, MAX_NETWORK_WEIGHTS, MAX_WIDTH};
use super::transforms::{Baseline, Transforms};

keywords! {
    /// The kind of network.
    pub enum NetworkKind {
        /// A dense multilayer perceptron.
        Mlp = "mlp",
    }
}

/// The activation of the hidden layers: the network's own type, spelled as in the spec.
pub use crate::nn::Activation;

/// The `emulator` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    default,
    deny_unknown_fields,
    expecting = "a mapping with keys `type`, `hidden_layers`, `width`, `activation`, `networks`"
)]
pub struct NetworkSpec {
    /// `type` in YAML.
    #[serde(rename = "type")]
    pub kind: NetworkKind,
    /// Number of hidden layers (>= 1).
    pub hidden_layers: usize,
    /// Neurons per hidden layer (>= 1).
    pub width: usize,
    pub activation: Activation,
    /// Per-network overrides, keyed by network name, in the order written.
    #[serde(skip_serializing_if = "Vec::is_empty", with = "ordered_map")]
    pub networks: Vec<(String, NetworkOverride)>,
}

/// An override of some of the architecture for one network.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping with keys `hidden_layers`, `width`, `activation`")]
pub struct NetworkOverride {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden_layers: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation: Option<Activation>,
}

/// The architecture of one network, overrides applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub hidden_layers: usize,
    pub width: usize,
    pub activation: Activation,
}

impl Default for NetworkSpec {
    fn default() -> Self {
        NetworkSpec {
            kind: NetworkKind::Mlp,
            hidden_layers: 4,
            width: 256,
            activation: Activation::Tanh,
            networks: Vec::new(),
        }
    }
}

impl NetworkSpec {
    /// The architecture of network `name`: the section's values, overridden where the
    /// `networks` entry for `name` says so.
    pub fn layout(&self, name: &str) -> Layout {
        let over = self.networks.iter().find(|(n, _)| n == name).map(|(_, o)| o.clone()).unwrap_or_default();
        Layout {
            hidden_layers: over.hidden_layers.unwrap_or(self.hidden_layers),
            width: over.width.unwrap_or(self.width),
            activation: over.activation.unwrap_or(self.activation),
        }
    }

    /// Sizes >= 1 and within the limits; overrides only for networks that exist.
    pub(crate) fn validate(&self, networks: &[String], origin: &Origin) -> Result<(), SpecError> {
        check_layers(self.hidden_layers, "emulator.hidden_layers", origin)?;
        check_width(self.width, "emulator.width", origin)?;
        for (name, over) in &self.networks {
            let key = format!("emulator.networks.{name}");
            if !networks.contains(name) {
                return Err(origin.error(
                    key,
                    format!("`{name}`, not a network of this spec"),
                    format!("{} (the networks `outputs` defines)", one_of(networks)),
                ));
            }
            if let Some(n) = over.hidden_layers {
                check_layers(n, &format!("{key}.hidden_layers"), origin)?;
            }
            if let Some(n) = over.width {
                check_width(n, &format!("{key}.width"), origin)?;
            }
        }
        Ok(())
    }

    /// Every network's weight count within [`MAX_NETWORK_WEIGHTS`]: `n_in` inputs, `networks`
    /// with their output sizes, and the resolved transforms (PCA shrinks the last layer, a
    /// linear baseline adds an `n_in x n_out` skip).
    pub(crate) fn check_weights(
        &self,
        n_in: usize,
        networks: &[(String, usize)],
        transforms: &Transforms,
        origin: &Origin,
    ) -> Result<(), SpecError> {
        for (name, size) in networks {
            let layout = self.layout(name);
            let transform = transforms.output(name);
            let n_out = transform.and_then(|t| t.pca).unwrap_or(*size) as u64;
            let skip = transform.is_some_and(|t| t.baseline == Baseline::Linear);
            let (n_in, width, hidden) = (n_in as u64, layout.width as u64, layout.hidden_layers as u64);
            // Weights and biases of each layer, the skip's weights; sizes are already bounded,
            // so this cannot overflow a u64.
            let weights = (n_in + 1) * width
                + hidden.saturating_sub(1) * (width + 1) * width
                + (width + 1) * n_out
                + if skip { n_in * n_out } else { 0 };
            if weights > MAX_NETWORK_WEIGHTS {
                let key = if self.networks.iter().any(|(n, _)| n == name) {
                    format!("emulator.networks.{name}")
                } else {
                    "emulator".to_string()
                };
                return Err(origin.error(
                    key,
                    format!(
                        "network `{name}` with {hidden} hidden layers of width {width} onto {n_out} outputs: \
                         {weights} weights"
                    ),
                    format!(
                        "{}: fewer or narrower layers, or fewer outputs (`pca`)",
                        limits::limit_text(&MAX_NETWORK_WEIGHTS, "weights per network")
                    ),
                ));
            }
        }
        Ok(())
    }
}

fn check_layers(n: usize, key: &str, origin: &Origin) -> Result<(), SpecError> {
    if n == 0 {
        return Err(origin.error(key, "0", "an integer >= 1"));
    }
    limits::at_most(n, MAX_HIDDEN_LAYERS, key, "hidden layers", origin)
}

fn check_width(n: usize, key: &str, origin: &Origin) -> Result<(), SpecError> {
    if n == 0 {
        return Err(origin.error(key, "0", "an integer >= 1"));
    }
    limits::at_most(n, MAX_WIDTH, key, "neurons per hidden layer", origin)
}
