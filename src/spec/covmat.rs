//! Covariance files in the Cobaya/getdist/CosmoMC `.covmat` format, the translation of CosmoMC
//! parameter names, and the few matrix checks a covariance needs.
//!
//! Format: a first line `# name1 name2 ...`, then one row of numbers per name (a square
//! matrix). Columns the spec does not vary (nuisance parameters) are dropped.

use std::path::Path;

use super::error::{Origin, SpecError};
use super::limits::{self, MAX_COVMAT_BYTES};

/// A covariance file as read: column names and the full matrix.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Covmat {
    pub names: Vec<String>,
    pub matrix: Vec<Vec<f64>>,
}

/// Known equivalent names: `(name in the file, name in the spec, scale)`, where
/// file value = scale × spec value. CosmoMC's `theta` is 100 θ_MC, so CAMB's `cosmomc_theta`
/// has scale 100 (variances divide by 1e4, covariances by 100). The CLASS names are exact
/// equivalents of the same quantities.
const TRANSLATIONS: &[(&str, &str, f64)] = &[
    ("omegabh2", "ombh2", 1.0),
    ("omegabh2", "omega_b", 1.0),
    ("omegach2", "omch2", 1.0),
    ("omegach2", "omega_cdm", 1.0),
    ("theta", "cosmomc_theta", 100.0),
    ("theta", "theta_MC_100", 1.0),
    // Cobaya's examples sample 100 θ_MC as `theta_MC_100`; its chains' covariances name it so
    ("theta_MC_100", "cosmomc_theta", 100.0),
    ("logA", "ln10^{10}A_s", 1.0),
    ("ns", "n_s", 1.0),
    ("tau", "tau_reio", 1.0),
    ("w", "w0_fld", 1.0),
    ("wa", "wa_fld", 1.0),
    ("omegak", "omk", 1.0),
    ("omegak", "Omega_k", 1.0),
];

/// Reads and parses a `.covmat` file; `key` is the spec key that named it. At most
/// [`MAX_COVMAT_BYTES`] are read: a larger file (or `/dev/zero`) is refused, not read to the end.
pub(crate) fn read(path: &Path, key: &str, origin: &Origin) -> Result<Covmat, SpecError> {
    use std::io::Read;
    let mut bytes = Vec::new();
    let read = std::fs::File::open(path).and_then(|f| f.take(MAX_COVMAT_BYTES as u64 + 1).read_to_end(&mut bytes));
    let text = read.and_then(|_| {
        if bytes.len() > MAX_COVMAT_BYTES {
            return Ok(None);
        }
        String::from_utf8(std::mem::take(&mut bytes))
            .map(Some)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    });
    let text = match text {
        Ok(Some(text)) => text,
        Ok(None) => {
            return Err(origin.error(
                key,
                format!("`{}`: more than {MAX_COVMAT_BYTES} bytes", path.display()),
                limits::limit_text(&MAX_COVMAT_BYTES, "bytes of covariance file"),
            ))
        }
        Err(e) => {
            // The absolute path shows where a relative name was looked for.
            let resolved = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
            return Err(origin.error(
                key,
                format!("no readable file at `{}` ({e})", resolved.display()),
                "an existing covariance file (a relative path is relative to the spec file)",
            ));
        }
    };
    parse(&text).map_err(|found| {
        origin.error(
            key,
            format!("`{}`: {found}", path.display()),
            "a .covmat file: a header `# name1 name2 ...`, then a square matrix, one row per name",
        )
    })
}

/// The covariance of those of `names` that the `.covmat` file at `path` holds (under the name,
/// or a known equivalent: CosmoMC's `theta` is 100 θ_MC), in their own units: `(the names
/// found, in the order of `names`; the matrix)`. `zelos coverage` reads chains' covariances so.
pub fn read_named(path: &Path, names: &[String]) -> Result<(Vec<String>, Vec<Vec<f64>>), SpecError> {
    let file = path.display().to_string();
    let origin = Origin { file: &file, base_dir: path.parent().unwrap_or(Path::new(".")) };
    let covmat = read(path, "covmat", &origin)?;
    let (found, columns): (Vec<String>, Vec<Column>) = names
        .iter()
        .filter_map(|name| covmat.column_for(name, &[]).map(|column| (name.clone(), column)))
        .unzip();
    Ok((found, covmat.select(&columns)))
}

/// Parses `.covmat` text; the error says what is wrong with it.
pub(crate) fn parse(text: &str) -> Result<Covmat, String> {
    let mut lines = text.lines().enumerate().filter(|(_, line)| !line.trim().is_empty());
    let (_, header) = lines.next().ok_or("an empty file")?;
    let names: Vec<String> = header
        .trim()
        .strip_prefix('#')
        .ok_or("a first line that is not a `# name1 name2 ...` header")?
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if names.is_empty() {
        return Err("a header naming no parameters".to_string());
    }
    let mut matrix = Vec::new();
    for (index, line) in lines {
        if line.trim_start().starts_with('#') {
            continue;
        }
        let row = parse_row(line).map_err(|word| format!("`{word}` on line {}, not a number", index + 1))?;
        if row.len() != names.len() {
            return Err(format!("{} numbers on line {} for {} names in the header", row.len(), index + 1, names.len()));
        }
        matrix.push(row);
    }
    if matrix.len() != names.len() {
        return Err(format!("{} rows for {} names in the header", matrix.len(), names.len()));
    }
    Ok(Covmat { names, matrix })
}

fn parse_row(line: &str) -> Result<Vec<f64>, String> {
    line.split_whitespace().map(|word| word.parse::<f64>().map_err(|_| word.to_string())).collect()
}

/// Where a spec parameter's values sit in a file: the column, and the scale of the file's
/// unit (file value = scale × spec value).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Column {
    pub index: usize,
    pub scale: f64,
}

impl Covmat {
    /// The column holding spec parameter `name`: a user `rename` first, then the same name,
    /// then the built-in translation table.
    pub fn column_for(&self, name: &str, rename: &[(String, String)]) -> Option<Column> {
        let position = |file_name: &str| self.names.iter().position(|n| n == file_name);
        if let Some((file_name, _)) = rename.iter().find(|(_, spec_name)| spec_name == name) {
            return position(file_name).map(|index| Column { index, scale: 1.0 });
        }
        if let Some(index) = position(name) {
            return Some(Column { index, scale: 1.0 });
        }
        TRANSLATIONS
            .iter()
            .filter(|(_, spec_name, _)| *spec_name == name)
            .find_map(|(file_name, _, scale)| position(file_name).map(|index| Column { index, scale: *scale }))
    }

    /// The sub-matrix for `columns` (in that order), in the spec's units. Dividing by the
    /// (exact) scales keeps round decimals round, where multiplying by 0.01 would not.
    pub fn select(&self, columns: &[Column]) -> Vec<Vec<f64>> {
        columns
            .iter()
            .map(|a| columns.iter().map(|b| self.matrix[a.index][b.index] / a.scale / b.scale).collect())
            .collect()
    }
}

/// The first pair `(i, j)` with `|a_ij - a_ji| > tolerance * sqrt(|a_ii a_jj|)`: asymmetry is
/// measured relative to the diagonal, i.e. in units of correlation.
pub(crate) fn asymmetry(matrix: &[Vec<f64>], tolerance: f64) -> Option<(usize, usize)> {
    let n = matrix.len();
    (0..n).flat_map(|i| (i + 1..n).map(move |j| (i, j))).find(|&(i, j)| {
        let scale = (matrix[i][i] * matrix[j][j]).abs().sqrt();
        (matrix[i][j] - matrix[j][i]).abs() > tolerance * scale
    })
}

/// Cholesky factor `L` (lower triangular, `L Lᵀ = A`) of a symmetric matrix, reading only the
/// lower triangle; `Err(k)` when pivot `k` is not positive, i.e. `A` is not positive definite.
pub(crate) fn cholesky(matrix: &[Vec<f64>]) -> Result<Vec<Vec<f64>>, usize> {
    let n = matrix.len();
    let mut l = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in 0..=i {
            let dot: f64 = (0..j).map(|k| l[i][k] * l[j][k]).sum();
            let rest = matrix[i][j] - dot;
            if i == j {
                if rest.is_nan() || rest <= 0.0 {
                    return Err(i);
                }
                l[i][i] = rest.sqrt();
            } else {
                l[i][j] = rest / l[j][j];
            }
        }
    }
    Ok(l)
}

/// The symmetric part `(A + Aᵀ) / 2`: removes rounding asymmetry, a no-op on a symmetric matrix.
pub(crate) fn symmetrize(matrix: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let n = matrix.len();
    (0..n).map(|i| (0..n).map(|j| 0.5 * (matrix[i][j] + matrix[j][i])).collect()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chains_covariance_is_read_by_name_in_the_emulators_units() {
        let path = std::env::temp_dir().join(format!("zelos-covmat-{}.covmat", std::process::id()));
        std::fs::write(&path, "# theta_MC_100 ombh2 A_planck\n 4e-6 2e-8 0\n 2e-8 1e-8 0\n 0 0 1e-4\n").unwrap();
        let names = ["ombh2", "cosmomc_theta", "mnu"].map(String::from);
        let (found, matrix) = read_named(&path, &names).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(found, ["ombh2", "cosmomc_theta"]); // in the order asked; mnu is not there
        assert_eq!(matrix[0][0], 1e-8);
        assert!((matrix[1][1] - 4e-10).abs() < 1e-24); // (100 θ)² → θ²
        assert!((matrix[0][1] - 2e-10).abs() < 1e-24);
        let missing = read_named(Path::new("/no/such.covmat"), &names).unwrap_err().to_string();
        assert!(missing.contains("/no/such.covmat"), "{missing}");
    }

    #[test]
    fn cholesky_of_a_known_matrix() {
        let a = vec![vec![4.0, 2.0], vec![2.0, 3.0]];
        let l = cholesky(&a).unwrap();
        assert_eq!(l[0][0], 2.0);
        assert_eq!(l[1][0], 1.0);
        assert!((l[1][1] - 2f64.sqrt()).abs() < 1e-15);
        assert_eq!(cholesky(&[vec![1.0, 2.0], vec![2.0, 1.0]]), Err(1));
    }

    #[test]
    fn parse_reads_header_and_rows() {
        let c = parse("# a b\n 1 0.5\n 0.5 2\n").unwrap();
        assert_eq!(c.names, ["a", "b"]);
        assert_eq!(c.matrix, vec![vec![1.0, 0.5], vec![0.5, 2.0]]);
        assert!(parse("# a b\n1 2\n").unwrap_err().contains("1 rows"));
        assert!(parse("a b\n1 2\n").is_err());
    }

    #[test]
    fn translation_scales_theta() {
        let c = parse("# theta omegabh2\n 4 1\n 1 1\n").unwrap();
        let col = c.column_for("cosmomc_theta", &[]).unwrap();
        assert_eq!(col, Column { index: 0, scale: 100.0 });
        let sub = c.select(&[col, c.column_for("ombh2", &[]).unwrap()]);
        assert!((sub[0][0] - 4e-4).abs() < 1e-18 && (sub[0][1] - 0.01).abs() < 1e-16);
    }

    #[test]
    fn cosmomc_curvature_is_cambs_omk_and_classs_omega_k() {
        let c = parse("# omegabh2 omegak\n 1 0\n 0 4e-6\n").unwrap();
        for name in ["omk", "Omega_k"] {
            assert_eq!(c.column_for(name, &[]).unwrap(), Column { index: 1, scale: 1.0 });
        }
    }
}
