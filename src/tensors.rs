//! Named tensors, as stored in an archive's `.safetensors` members.
//!
//! A thin owned layer over the `safetensors` crate: the rest of zelos reads tensors by name as
//! `f64` or as the network's float type, and never handles raw bytes.

use std::collections::BTreeMap;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::error::{Error, Result};
use crate::nn::Real;

/// The values of one tensor, in the dtype it is stored in.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    F32(Vec<f32>),
    F64(Vec<f64>),
}

/// A tensor: a shape and row-major values.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: TensorData,
}

impl Tensor {
    pub fn f32(shape: Vec<usize>, values: Vec<f32>) -> Self {
        Tensor { shape, data: TensorData::F32(values) }
    }

    pub fn f64(shape: Vec<usize>, values: Vec<f64>) -> Self {
        Tensor { shape, data: TensorData::F64(values) }
    }

    /// Converts `values` to `T`'s dtype.
    pub fn of<T: Real>(shape: Vec<usize>, values: &[T]) -> Self {
        let as_f64 = values.iter().map(|v| v.to_f64());
        match T::DTYPE {
            "F32" => Tensor::f32(shape, as_f64.map(|v| v as f32).collect()),
            _ => Tensor::f64(shape, as_f64.collect()),
        }
    }

    pub fn len(&self) -> usize {
        match &self.data {
            TensorData::F32(v) => v.len(),
            TensorData::F64(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn dtype(&self) -> &'static str {
        match self.data {
            TensorData::F32(_) => "F32",
            TensorData::F64(_) => "F64",
        }
    }

    /// The values converted to `T`.
    pub fn to_vec<T: Real>(&self) -> Vec<T> {
        match &self.data {
            TensorData::F32(v) => v.iter().map(|&x| T::from_f64(x as f64)).collect(),
            TensorData::F64(v) => v.iter().map(|&x| T::from_f64(x)).collect(),
        }
    }

    fn bytes(&self) -> Vec<u8> {
        match &self.data {
            TensorData::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            TensorData::F64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    }
}

/// Named tensors plus the free-form string metadata safetensors allows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TensorSet {
    pub tensors: BTreeMap<String, Tensor>,
    pub metadata: BTreeMap<String, String>,
}

impl TensorSet {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, name: impl Into<String>, tensor: Tensor) {
        self.tensors.insert(name.into(), tensor);
    }

    /// Parses a safetensors buffer; `origin` names it in errors. Only F32 and F64 are accepted.
    pub fn from_safetensors(bytes: &[u8], origin: &str) -> Result<Self> {
        let parsed = SafeTensors::deserialize(bytes)
            .map_err(|e| Error::model(origin, format!("not a valid safetensors buffer: {e}")))?;
        let mut set = TensorSet::new();
        for (name, view) in parsed.iter() {
            let data = view.data();
            let values = match view.dtype() {
                Dtype::F32 => TensorData::F32(
                    data.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect(),
                ),
                Dtype::F64 => TensorData::F64(
                    data.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect(),
                ),
                other => {
                    return Err(Error::model(
                        origin,
                        format!("tensor `{name}` has dtype {other:?}; expected F32 or F64"),
                    ))
                }
            };
            set.insert(name, Tensor { shape: view.shape().to_vec(), data: values });
        }
        let (_, metadata) = SafeTensors::read_metadata(bytes)
            .map_err(|e| Error::model(origin, format!("not a valid safetensors buffer: {e}")))?;
        if let Some(meta) = metadata.metadata() {
            set.metadata = meta.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        }
        Ok(set)
    }

    /// Serialises to safetensors bytes (deterministic: names sorted).
    pub fn to_safetensors(&self) -> Vec<u8> {
        let bytes: Vec<(String, Vec<u8>)> = self.tensors.iter().map(|(n, t)| (n.clone(), t.bytes())).collect();
        let views = self.tensors.iter().zip(&bytes).map(|((name, t), (_, b))| {
            let dtype = if t.dtype() == "F32" { Dtype::F32 } else { Dtype::F64 };
            let view = TensorView::new(dtype, t.shape.clone(), b).expect("shape and byte length agree");
            (name.clone(), view)
        });
        let meta = (!self.metadata.is_empty())
            .then(|| self.metadata.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
        safetensors::serialize(views, meta).expect("tensors from a TensorSet always serialise")
    }

    /// The tensor `name`, or an error naming it and `origin`.
    pub fn get(&self, name: &str, origin: &str) -> Result<&Tensor> {
        self.tensors
            .get(name)
            .ok_or_else(|| Error::model(origin, format!("tensor `{name}` is missing from the weights")))
    }

    /// The tensor `name` as `T`, checked to have `shape`.
    pub fn get_as<T: Real>(&self, name: &str, shape: &[usize], origin: &str) -> Result<Vec<T>> {
        let t = self.get(name, origin)?;
        if t.shape != shape {
            return Err(Error::model(
                origin,
                format!("tensor `{name}` has shape {:?}; expected {:?}", t.shape, shape),
            ));
        }
        Ok(t.to_vec())
    }
}
