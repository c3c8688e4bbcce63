//! `reference`: a Gaussian (center + covariance) describing the region of interest, e.g. a
//! Planck posterior. Used by the `ellipsoid` design and available to trust regions.
//!
//! In YAML the center is a mapping by parameter name and the covariance is either a file or an
//! inline matrix; in Rust both are in parameter order and the covariance is always a matrix
//! (its file named in `source`), so a resolved spec is self-contained.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::covmat::{self, Covmat};
use super::error::{one_of, Origin, SpecError};
use super::forms::ordered_map;
use super::parameters::Parameter;

/// Symmetry tolerance of a covariance, relative to `sqrt(C_ii C_jj)`.
const SYMMETRY_TOLERANCE: f64 = 1e-8;

/// The reference Gaussian, resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    /// The center, one value per parameter, in parameter order.
    pub center: Vec<f64>,
    /// The covariance, in parameter order and the spec's units; symmetric positive definite.
    pub covariance: Vec<Vec<f64>>,
    /// The covariance file it was read from, as written in the spec (absent for a matrix
    /// written inline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// The section as written in YAML.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping with keys `center`, `covariance`")]
pub(crate) struct ReferenceDoc {
    #[serde(with = "ordered_map")]
    center: Vec<(String, f64)>,
    covariance: CovarianceDoc,
}

/// `covariance`: `{file: PATH, rename: {...}}` or `{matrix: [[...]], source: PATH}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping with key `file` or `matrix`")]
struct CovarianceDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    file: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "ordered_map")]
    rename: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    matrix: Option<Vec<Vec<f64>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source: Option<String>,
}

impl ReferenceDoc {
    /// The canonical YAML form of a resolved reference: the matrix inline, `source` naming
    /// its file.
    pub fn from_resolved(reference: &Reference, parameters: &[Parameter]) -> Self {
        ReferenceDoc {
            center: parameters.iter().map(|p| p.name.clone()).zip(reference.center.iter().copied()).collect(),
            covariance: CovarianceDoc {
                file: None,
                rename: Vec::new(),
                matrix: Some(reference.covariance.clone()),
                source: reference.source.clone(),
            },
        }
    }

    /// Checks the center, reads the covariance (resolving a file against the spec's folder),
    /// checks it and puts both in parameter order.
    pub fn resolve(self, parameters: &[Parameter], origin: &Origin) -> Result<Reference, SpecError> {
        let center = resolve_center(&self.center, parameters, origin)?;
        let (covariance, source) = self.covariance.resolve(parameters, origin)?;
        Ok(Reference { center, covariance, source })
    }
}

/// The center in parameter order: every parameter exactly once, finite, inside its range.
fn resolve_center(center: &[(String, f64)], parameters: &[Parameter], origin: &Origin) -> Result<Vec<f64>, SpecError> {
    let names: Vec<&str> = parameters.iter().map(|p| p.name.as_str()).collect();
    if let Some((extra, _)) = center.iter().find(|(name, _)| !names.contains(&name.as_str())) {
        return Err(origin.error(
            format!("reference.center.{extra}"),
            format!("`{extra}`, which is not a parameter"),
            one_of(&names),
        ));
    }
    let mut values = Vec::with_capacity(parameters.len());
    for p in parameters {
        let key = format!("reference.center.{}", p.name);
        let Some((_, x)) = center.iter().find(|(name, _)| *name == p.name) else {
            return Err(origin.error(key, "nothing (no value for this parameter)", "a value for every parameter"));
        };
        if !x.is_finite() || !p.contains(*x) {
            return Err(origin.error(
                key,
                format!("{x:?}"),
                format!("a value inside the range [{:?}, {:?}]", p.min, p.max),
            ));
        }
        values.push(*x);
    }
    Ok(values)
}

impl CovarianceDoc {
    /// The checked, symmetrized matrix in parameter order, and its source file.
    fn resolve(self, parameters: &[Parameter], origin: &Origin) -> Result<(Vec<Vec<f64>>, Option<String>), SpecError> {
        let names: Vec<&str> = parameters.iter().map(|p| p.name.as_str()).collect();
        let (matrix, source, key) = match (self.file, self.matrix) {
            (Some(file), None) => {
                if self.source.is_some() {
                    return Err(origin.error(
                        "reference.covariance.source",
                        "`source` beside `file`",
                        "`source` only with an inline `matrix` (with `file`, the file is the source)",
                    ));
                }
                let path = origin.base_dir.join(&file);
                let matrix = from_file(&path, &self.rename, &names, origin)?;
                (matrix, Some(file), "reference.covariance.file")
            }
            (None, Some(matrix)) => {
                if let Some((name, _)) = self.rename.first() {
                    return Err(origin.error(
                        format!("reference.covariance.rename.{name}"),
                        "`rename` beside an inline `matrix`",
                        "`rename` only with `file` (an inline matrix is in parameter order)",
                    ));
                }
                check_shape(&matrix, &names, origin)?;
                (matrix, self.source, "reference.covariance.matrix")
            }
            (Some(_), Some(_)) => {
                return Err(origin.error(
                    "reference.covariance",
                    "both `file` and `matrix`",
                    "exactly one of `file`, `matrix`",
                ))
            }
            (None, None) => {
                return Err(origin.error(
                    "reference.covariance",
                    "neither `file` nor `matrix`",
                    "exactly one of `file`, `matrix`",
                ))
            }
        };
        check_covariance(&matrix, &names, key, origin)?;
        Ok((covmat::symmetrize(&matrix), source))
    }
}

/// Reads a `.covmat` file and extracts the spec's parameters (renamed, translated, rescaled).
fn from_file(
    path: &Path,
    rename: &[(String, String)],
    names: &[&str],
    origin: &Origin,
) -> Result<Vec<Vec<f64>>, SpecError> {
    let key = "reference.covariance.file";
    let covmat = covmat::read(path, key, origin)?;
    check_rename(&covmat, rename, names, path, origin)?;
    let mut columns = Vec::with_capacity(names.len());
    for name in names {
        let column = covmat.column_for(name, rename).ok_or_else(|| {
            origin.error(
                key,
                format!(
                    "`{}` with no column for parameter `{name}` (its columns: {})",
                    path.display(),
                    covmat.names.join(" ")
                ),
                format!("a column for every parameter; name one with `rename: {{COLUMN: {name}}}`"),
            )
        })?;
        columns.push(column);
    }
    Ok(covmat.select(&columns))
}

/// Every `rename` maps an existing column to a spec parameter, each parameter at most once.
fn check_rename(
    covmat: &Covmat,
    rename: &[(String, String)],
    names: &[&str],
    path: &Path,
    origin: &Origin,
) -> Result<(), SpecError> {
    for (i, (column, target)) in rename.iter().enumerate() {
        let key = format!("reference.covariance.rename.{column}");
        if !covmat.names.contains(column) {
            return Err(origin.error(
                key,
                format!("`{column}`, not a column of `{}`", path.display()),
                one_of(&covmat.names),
            ));
        }
        if !names.contains(&target.as_str()) {
            return Err(origin.error(key, format!("`{target}`, which is not a parameter"), one_of(names)));
        }
        if rename[..i].iter().any(|(_, earlier)| earlier == target) {
            return Err(origin.error(
                key,
                format!("a second column renamed to `{target}`"),
                "each parameter named once",
            ));
        }
    }
    Ok(())
}

/// An inline matrix: one row per parameter, each row as long.
fn check_shape(matrix: &[Vec<f64>], names: &[&str], origin: &Origin) -> Result<(), SpecError> {
    let n = names.len();
    let expected = || format!("{n} rows of {n} numbers, in parameter order ({})", names.join(", "));
    if matrix.len() != n {
        return Err(origin.error("reference.covariance.matrix", format!("{} rows", matrix.len()), expected()));
    }
    if let Some((i, row)) = matrix.iter().enumerate().find(|(_, row)| row.len() != n) {
        return Err(origin.error(
            format!("reference.covariance.matrix[{i}]"),
            format!("{} numbers", row.len()),
            expected(),
        ));
    }
    Ok(())
}

/// A square matrix in parameter order: finite, symmetric, positive definite.
fn check_covariance(matrix: &[Vec<f64>], names: &[&str], key: &str, origin: &Origin) -> Result<(), SpecError> {
    if let Some(x) = matrix.iter().flatten().find(|x| !x.is_finite()) {
        return Err(origin.error(key, format!("the entry {x:?}"), "finite numbers"));
    }
    if let Some((i, j)) = covmat::asymmetry(matrix, SYMMETRY_TOLERANCE) {
        return Err(origin.error(
            key,
            format!(
                "an asymmetric matrix: C[{}][{}] = {:?} but C[{}][{}] = {:?}",
                names[i], names[j], matrix[i][j], names[j], names[i], matrix[j][i]
            ),
            format!("a symmetric matrix (to {SYMMETRY_TOLERANCE:e} relative to sqrt(C_ii C_jj))"),
        ));
    }
    if let Err(k) = covmat::cholesky(matrix) {
        return Err(origin.error(
            key,
            format!(
                "a matrix that is not positive definite (the Cholesky factorization fails at parameter `{}`)",
                names[k]
            ),
            "a positive definite covariance matrix",
        ));
    }
    Ok(())
}
