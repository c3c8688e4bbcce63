//! The emulator spec: every shipped spec parses, the canonical YAML round-trips, and each
//! validation rule has its own test naming the key, what was found and what was expected.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use yaml_serde::Value;
use zelos::spec::*;

// ---------------------------------------------------------------------------------------------
// Helpers

/// A valid spec using every output, a reference with an inline matrix, defaults elsewhere.
const BASE: &str = r#"
name: test_spec
author: tester
version: 1.0.0
code:
  name: camb
  version: "2.0.5"
  settings: {mnu: 0.06, lens_potential_accuracy: 1}
parameters:
  ombh2: [0.020, 0.025]
  omch2: {range: [0.10, 0.14], latex: '\Omega_c h^2'}
  H0: [60.0, 80.0]
reference:
  center: {ombh2: 0.0224, omch2: 0.12, H0: 67.0}
  covariance:
    matrix: [[1.0e-8, 0.0, 0.0], [0.0, 1.0e-6, 0.0], [0.0, 0.0, 1.0]]
outputs:
  cmb: {spectra: [tt, te], lmax: 100}
  matter_power: {k: {min: 1.0e-3, max: 1.0, n: 10}, z: [0.0, 1.0]}
  background: {functions: [H, D_M], z: {min: 0.1, max: 2.0, n: 5}}
  derived: [H0, sigma8]
"#;

const PLANCK_COVMAT: &str = "specs/covmats/base_plikHM_TTTEEE_lowl_lowE.covmat";

fn base() -> Value {
    yaml_serde::from_str(BASE).unwrap()
}

fn yaml(text: &str) -> Value {
    yaml_serde::from_str(text).unwrap()
}

/// Sets the value at a dotted path, creating mappings on the way.
fn set(doc: &mut Value, path: &str, value: &str) {
    let mut node = doc;
    let keys: Vec<&str> = path.split('.').collect();
    for key in &keys[..keys.len() - 1] {
        let map = node.as_mapping_mut().unwrap();
        if !map.contains_key(*key) {
            map.insert(Value::from(*key), Value::Mapping(Default::default()));
        }
        node = map.get_mut(*key).unwrap();
    }
    node.as_mapping_mut().unwrap().insert(Value::from(*keys.last().unwrap()), yaml(value));
}

/// Removes the key at a dotted path.
fn remove(doc: &mut Value, path: &str) {
    let (parent, last) = path.rsplit_once('.').map_or(("", path), |(p, l)| (p, l));
    let mut node = doc;
    for key in parent.split('.').filter(|k| !k.is_empty()) {
        node = node.as_mapping_mut().unwrap().get_mut(key).unwrap();
    }
    node.as_mapping_mut().unwrap().shift_remove(last).expect("key to remove");
}

fn parse(doc: &Value) -> Result<Spec, SpecError> {
    Spec::from_yaml_str(&yaml_serde::to_string(doc).unwrap(), "test.yaml")
}

/// The base spec with one change, which must be refused.
fn refused(path: &str, value: &str) -> SpecError {
    let mut doc = base();
    set(&mut doc, path, value);
    parse(&doc).expect_err("the spec should be refused")
}

/// Checks an error's file and key, and that found/expected mention the given words.
#[track_caller]
fn check(error: &SpecError, key: &str, found: &str, expected: &str) {
    assert_eq!(error.file, "test.yaml", "{error}");
    assert_eq!(error.key, key, "{error}");
    assert!(error.found.contains(found), "found `{}` lacks `{found}` in: {error}", error.found);
    assert!(error.expected.contains(expected), "expected `{}` lacks `{expected}` in: {error}", error.expected);
}

fn shipped_specs() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir("specs")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    paths.sort();
    paths
}

// ---------------------------------------------------------------------------------------------
// Shipped specs, documentation, round trips

#[test]
fn every_shipped_spec_parses_and_round_trips() {
    let paths = shipped_specs();
    assert!(paths.len() >= 3, "specs/ holds {paths:?}");
    for path in paths {
        let spec = Spec::from_path(&path).unwrap_or_else(|e| panic!("{e}"));
        let canonical = spec.to_yaml_string();
        let again = Spec::from_yaml_str(&canonical, "canonical").unwrap_or_else(|e| panic!("{e}\n{canonical}"));
        assert_eq!(again, spec, "{}", path.display());
        assert_eq!(again.to_yaml_string(), canonical, "canonical YAML is a fixed point");
    }
}

#[test]
fn shipped_specs_have_the_promised_contents() {
    let pk = Spec::from_path(Path::new("specs/camb_lcdm_linear_pk.yaml")).unwrap();
    assert_eq!(pk.parameter_names(), ["ombh2", "omch2", "H0", "logA", "ns"]);
    assert_eq!(pk.network_names(), ["pk_lin", "derived"]);
    let mp = pk.outputs.matter_power.as_ref().unwrap();
    let k = mp.k.values();
    assert_eq!((k[0], k[k.len() - 1], k.len()), (1e-4, 10.0, 200));

    let nl = Spec::from_path(Path::new("specs/camb_nonlinear_matter_power.yaml")).unwrap();
    assert_eq!(nl.network_names(), ["pk_lin", "pk_nonlin", "background", "derived"]);
    assert_eq!(nl.parameter_names().last().copied(), Some("HMCode_logT_AGN"));
    let k = nl.outputs.matter_power.as_ref().unwrap().k.values();
    assert_eq!((k[0], k[k.len() - 1], k.len()), (1e-4, 100.0, 298));
    assert_eq!(mp.z.values().last(), Some(&5.0));

    let cmb = Spec::from_path(Path::new("specs/camb_lcdm_cmb.yaml")).unwrap();
    assert_eq!(cmb.parameter_names(), ["ombh2", "omch2", "cosmomc_theta", "tau", "logA", "ns"]);
    assert_eq!(cmb.network_names(), ["tt", "te", "ee", "pp", "background", "derived"]);
    assert_eq!(cmb.outputs.cmb.as_ref().unwrap().lmax, 2508);
    let reference = cmb.reference.as_ref().unwrap();
    assert_eq!(reference.source.as_deref(), Some("covmats/base_plikHM_TTTEEE_lowl_lowE.covmat"));
    assert_eq!(cmb.code.settings.get("lens_potential_accuracy"), Some(&Value::from(1)));

    let tiny = Spec::from_path(Path::new("specs/tiny_test.yaml")).unwrap();
    assert_eq!(tiny.parameters.len(), 3);
}

#[test]
fn the_full_example_in_the_docs_is_valid() {
    let docs = std::fs::read_to_string("docs/spec.md").unwrap();
    let after = &docs[docs.find("## Full example").expect("a `## Full example` section")..];
    let start = after.find("```yaml\n").unwrap() + "```yaml\n".len();
    let example = &after[start..start + after[start..].find("```").unwrap()];
    // The example names its covariance file relative to itself, as a user's spec would.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("covmats")).unwrap();
    std::fs::copy(PLANCK_COVMAT, dir.path().join("covmats/base_plikHM_TTTEEE_lowl_lowE.covmat")).unwrap();
    let path = dir.path().join("example.yaml");
    std::fs::write(&path, example).unwrap();
    let spec = Spec::from_path(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(Spec::from_yaml_str(&spec.to_yaml_string(), "x").unwrap(), spec);
}

#[test]
fn base_spec_round_trips_through_yaml_and_json() {
    let spec = parse(&base()).unwrap();
    assert_eq!(Spec::from_yaml_str(&spec.to_yaml_string(), "x").unwrap(), spec);
    let json = serde_json::to_string(&spec).unwrap();
    assert_eq!(serde_json::from_str::<Spec>(&json).unwrap(), spec);
}

#[test]
fn error_display_is_pinned() {
    let error = SpecError::new("a.yaml", "outputs.cmb.lmax", "1", "an integer >= lmin (2)");
    assert_eq!(error.to_string(), "a.yaml: `outputs.cmb.lmax`: found 1; expected an integer >= lmin (2)");
    let wrapped: zelos::Error = error.clone().into();
    assert_eq!(wrapped.to_string(), error.to_string());
}

// ---------------------------------------------------------------------------------------------
// Resolution and defaults

#[test]
fn network_names_follow_the_fixed_order() {
    let mut doc = base();
    set(&mut doc, "outputs.cmb.spectra", "[pp, bb, ee, te, tt]");
    set(&mut doc, "outputs.matter_power.nonlinear", "true");
    let spec = parse(&doc).unwrap();
    assert_eq!(spec.network_names(), ["tt", "te", "ee", "bb", "pp", "pk_lin", "pk_nonlin", "background", "derived"]);
}

#[test]
fn defaults_are_filled_in_and_written_out() {
    let spec = parse(&base()).unwrap();
    assert_eq!(spec.outputs.cmb.as_ref().unwrap().lmin, 2);
    assert!(spec.outputs.cmb.as_ref().unwrap().lensed);
    let mp = spec.outputs.matter_power.as_ref().unwrap();
    assert!(mp.linear && !mp.nonlinear);
    assert_eq!(spec.emulator, NetworkSpec::default());
    assert_eq!(spec.training, Training::default());
    assert_eq!(spec.sampling.design, Design::LatinHypercube);
    assert_eq!((spec.sampling.points, spec.sampling.test_points), (2000, 200));
    assert_eq!(spec.trust.method, [TrustMethod::Box, TrustMethod::Mahalanobis]);
    assert_eq!(spec.trust.threshold, Threshold::Chi2Quantile(0.999));
    assert_eq!(spec.transforms.inputs, InputTransform::Standardise);
    let canonical = spec.to_yaml_string();
    for key in ["emulator:", "transforms:", "training:", "sampling:", "trust:", "lmin: 2", "test_points: 200"] {
        assert!(canonical.contains(key), "`{key}` missing from\n{canonical}");
    }
}

#[test]
fn test_points_default_to_a_tenth_rounded_up() {
    let mut doc = base();
    set(&mut doc, "sampling.points", "95");
    assert_eq!(parse(&doc).unwrap().sampling.test_points, 10);
}

#[test]
fn transforms_resolve_per_network() {
    let mut doc = base();
    set(
        &mut doc,
        "transforms.outputs",
        "{default: {log: log10, pca: 8, baseline: linear}, te: {log: none, pca: null}, derived: {pca: 2, baseline: none}}",
    );
    let spec = parse(&doc).unwrap();
    let t = &spec.transforms;
    assert_eq!(t.outputs.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), spec.network_names());
    let linear = Baseline::Linear;
    assert_eq!(t.output("tt"), Some(&OutputTransform { log: LogTransform::Log10, standardise: true, pca: Some(8), baseline: linear }));
    assert_eq!(t.output("te"), Some(&OutputTransform { log: LogTransform::None, standardise: true, pca: None, baseline: linear }));
    assert_eq!(t.output("derived").unwrap().pca, Some(2));
    assert_eq!(t.output("derived").unwrap().baseline, Baseline::None);
    // The canonical form has no `default` entry: each network's transform is explicit (a
    // baseline only where there is one, so that older specs keep their canonical text).
    let yaml = spec.to_yaml_string();
    assert!(!yaml.contains("default"));
    assert_eq!(yaml.matches("baseline: linear").count(), spec.network_names().len() - 1);
    assert!(!yaml.contains("baseline: none"));
    assert_eq!(Spec::from_yaml_str(&yaml, "x").unwrap(), spec);
}

#[test]
fn an_unknown_baseline_is_named_with_the_choices() {
    let mut doc = base();
    set(&mut doc, "transforms.outputs", "{tt: {baseline: quadratic}}");
    let message = parse(&doc).unwrap_err().to_string();
    assert!(message.contains("transforms.outputs.tt.baseline") || message.contains("baseline"), "{message}");
    assert!(message.contains("linear"), "{message}");
}

#[test]
fn network_overrides_apply_to_one_network() {
    let mut doc = base();
    set(&mut doc, "emulator", "{hidden_layers: 3, width: 64, activation: silu, networks: {tt: {width: 512}}}");
    let spec = parse(&doc).unwrap();
    assert_eq!(spec.emulator.layout("tt"), Layout { hidden_layers: 3, width: 512, activation: Activation::Silu });
    assert_eq!(spec.emulator.layout("te"), Layout { hidden_layers: 3, width: 64, activation: Activation::Silu });
}

#[test]
fn grids_give_their_values() {
    let k = Grid { min: 1e-4, max: 1.0, n: 5 };
    let values = k.logspace();
    assert_eq!((values[0], values[4]), (1e-4, 1.0));
    assert!((values[2] - 1e-2).abs() < 1e-15);
    assert_eq!(ZGrid::Linear(Grid { min: 0.0, max: 2.0, n: 3 }).values(), [0.0, 1.0, 2.0]);
    assert_eq!(ZGrid::List(vec![0.5, 1.5]).values(), [0.5, 1.5]);
}

#[test]
fn threshold_is_allowed_with_box_alone() {
    let mut doc = base();
    set(&mut doc, "trust", "{method: box, threshold: {chi2_quantile: 0.99}}");
    assert_eq!(parse(&doc).unwrap().trust.method, [TrustMethod::Box]);
}

#[test]
fn pico_threshold_is_accepted() {
    let mut doc = base();
    set(&mut doc, "trust.threshold", "{pico: 0.9}");
    assert_eq!(parse(&doc).unwrap().trust.threshold, Threshold::Pico(0.9));
}

#[test]
fn settings_keep_their_order_and_types() {
    let mut doc = base();
    set(&mut doc, "code.settings", "{z_last: 1, a_first: 0.5, nested: {x: [1, 2]}, flag: true}");
    let spec = parse(&doc).unwrap();
    let keys: Vec<&str> = spec.code.settings.keys().map(|k| k.as_str().unwrap()).collect();
    assert_eq!(keys, ["z_last", "a_first", "nested", "flag"]);
    assert!(spec.code.settings.get("z_last").unwrap().is_u64());
}

#[test]
fn the_numeric_settings_are_the_fixed_parameters() {
    // Numbers, and strings that read as finite numbers, in the order written; booleans, lists,
    // mappings, other strings and nulls are not numbers; a varied parameter is never fixed.
    let mut doc = base();
    set(
        &mut doc,
        "code.settings",
        "{nnu: 3.044, num_massive_neutrinos: 1, N_ur: ' 2.0328 ', flag: true, model: ppf, list: [1, 2], \
          nested: {x: 1}, none: null, big: '1e400'}",
    );
    let spec = parse(&doc).unwrap();
    let fixed = spec.code.fixed_parameters(&[]);
    let want = [("nnu", 3.044), ("num_massive_neutrinos", 1.0), ("N_ur", 2.0328)];
    assert_eq!(fixed, want.map(|(k, v)| (k.to_string(), v)));
    let varied = spec.code.fixed_parameters(&["nnu".to_string()]);
    assert_eq!(varied, want[1..].iter().map(|(k, v)| (k.to_string(), *v)).collect::<Vec<_>>());
}

#[test]
fn ellipsoid_design_defaults_to_five_sigmas() {
    let mut doc = base();
    set(&mut doc, "sampling.design", "ellipsoid");
    assert_eq!(parse(&doc).unwrap().sampling.sigmas, Some(5.0));
}

#[test]
fn file_design_keeps_its_file_relative_to_the_spec() {
    let mut doc = base();
    set(&mut doc, "sampling", "{design: file, file: chains/run.txt}");
    let spec = parse(&doc).unwrap();
    assert_eq!(spec.sampling.file_path(Path::new("/a/b")), Some(PathBuf::from("/a/b/chains/run.txt")));
}

// ---------------------------------------------------------------------------------------------
// Covariance files

fn with_covariance(covariance: &str) -> Value {
    let mut doc = base();
    set(&mut doc, "parameters", "{ombh2: [0.020, 0.025], omch2: [0.10, 0.14], cosmomc_theta: [0.0103, 0.0105]}");
    set(&mut doc, "reference.center", "{ombh2: 0.0224, omch2: 0.12, cosmomc_theta: 0.010409}");
    set(&mut doc, "reference.covariance", covariance);
    doc
}

#[test]
fn planck_covmat_is_translated_and_rescaled() {
    let doc = with_covariance(&format!("{{file: {PLANCK_COVMAT}}}"));
    let spec = parse(&doc).unwrap();
    let reference = spec.reference.as_ref().unwrap();
    let c = &reference.covariance;
    // From the file: omegabh2, omegach2, theta = 100 cosmomc_theta (variance x 1e-4).
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b.abs();
    assert!(close(c[0][0], 2.2139987e-08));
    assert!(close(c[1][1], 1.8664921e-06));
    assert!(close(c[2][2], 9.5788538e-08 * 1e-4));
    assert!(close(c[0][2], 1.6777190e-08 * 1e-2));
    assert!(close(c[1][0], -1.1786703e-07));
    assert_eq!(reference.source.as_deref(), Some(PLANCK_COVMAT));
    // The canonical spec holds the matrix itself.
    let canonical = spec.to_yaml_string();
    assert!(canonical.contains("matrix:") && !canonical.contains("file:"));
    assert_eq!(Spec::from_yaml_str(&canonical, "x").unwrap(), spec);
}

#[test]
fn covmat_columns_can_be_renamed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("my.covmat"), "# b c t nuisance\n4e-8 0 0 0\n0 1e-6 0 0\n0 0 1e-12 0\n0 0 0 7\n")
        .unwrap();
    let mut doc = with_covariance("{file: my.covmat, rename: {b: ombh2, c: omch2, t: cosmomc_theta}}");
    set(&mut doc, "name", "renamed");
    let path = dir.path().join("spec.yaml");
    std::fs::write(&path, yaml_serde::to_string(&doc).unwrap()).unwrap();
    let spec = Spec::from_path(&path).unwrap_or_else(|e| panic!("{e}"));
    let c = &spec.reference.unwrap().covariance;
    assert_eq!((c[0][0], c[1][1], c[2][2]), (4e-8, 1e-6, 1e-12));
}

#[test]
fn covariance_file_is_resolved_relative_to_the_spec_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::copy(PLANCK_COVMAT, dir.path().join("planck.covmat")).unwrap();
    let doc = with_covariance("{file: ../planck.covmat}");
    let path = dir.path().join("sub/spec.yaml");
    std::fs::write(&path, yaml_serde::to_string(&doc).unwrap()).unwrap();
    assert!(Spec::from_path(&path).is_ok());
}

// ---------------------------------------------------------------------------------------------
// One test per validation rule

#[test]
fn yaml_syntax_error_names_line_and_column() {
    let error = Spec::from_yaml_str("name: a\nparameters: [1, 2\n", "test.yaml").unwrap_err();
    assert!(error.key.starts_with("line ") && error.key.contains(" column "), "{error}");
    assert!(error.found.contains("invalid YAML"), "{error}");
}

#[test]
fn unknown_key_is_refused_with_the_allowed_keys() {
    let error = refused("outputs.cmb.lmxa", "2500");
    check(&error, "outputs.cmb.lmxa", "unknown key `lmxa`", "`lmax`");
    assert!(error.expected.contains("`spectra`") && error.expected.contains("`lensed`"), "{error}");
}

#[test]
fn unknown_top_level_key_is_refused() {
    let error = refused("emulater", "{width: 3}");
    check(&error, "emulater", "unknown key", "`emulator`");
}

#[test]
fn wrong_type_is_refused() {
    let error = refused("outputs.cmb.lmax", "many");
    check(&error, "outputs.cmb.lmax", "string \"many\"", "a non-negative integer");
    let error = refused("outputs.cmb.lensed", "[1]");
    check(&error, "outputs.cmb.lensed", "a list", "a boolean");
}

#[test]
fn wrong_type_inside_a_list_names_the_index() {
    let error = refused("outputs.matter_power.z", "[0.0, high]");
    check(&error, "outputs.matter_power.z[1]", "string", "a number");
}

#[test]
fn missing_required_key_is_refused() {
    for key in ["name", "author", "version", "code", "parameters", "outputs"] {
        let mut doc = base();
        remove(&mut doc, key);
        check(&parse(&doc).unwrap_err(), key, "missing", "required");
    }
    let mut doc = base();
    remove(&mut doc, "outputs.cmb.lmax");
    check(&parse(&doc).unwrap_err(), "outputs.cmb.lmax", "missing", "required");
}

#[test]
fn bad_name_characters_are_refused() {
    check(&refused("name", "'my emulator!'"), "name", "my emulator!", "letters, digits");
    check(&refused("name", "'.hidden'"), "name", ".hidden", "starting with a letter or digit");
}

#[test]
fn empty_author_is_refused() {
    check(&refused("author", "''"), "author", "empty", "author");
}

#[test]
fn spec_version_as_a_number_is_refused() {
    check(&refused("version", "1.0"), "version", "number 1.0", "quote it");
}

#[test]
fn unknown_code_is_refused() {
    check(&refused("code.name", "cmab"), "code.name", "`cmab`", "one of `camb`, `classy`");
}

#[test]
fn code_version_must_be_a_string() {
    check(&refused("code.version", "2.0"), "code.version", "the number 2.0", "quote it, e.g. \"2.0\"");
    check(&refused("code.version", "3"), "code.version", "the number 3", "quote it");
}

#[test]
fn code_version_must_be_exact() {
    check(&refused("code.version", "'>=2.0'"), "code.version", ">=2.0", "exact version");
}

#[test]
fn setting_that_is_also_a_parameter_is_refused() {
    check(&refused("code.settings.H0", "67.0"), "code.settings.H0", "also a varied parameter", "not both");
}

#[test]
fn setting_that_outputs_control_is_refused() {
    check(&refused("code.settings.lmax", "2600"), "code.settings.lmax", "`outputs` already determines", "left out");
}

#[test]
fn setting_with_a_yaml_tag_is_refused() {
    check(&refused("code.settings.x", "!weird 3"), "code.settings.x", "tagged", "plain value");
}

#[test]
fn range_with_min_not_below_max_is_refused() {
    check(&refused("parameters.H0", "[80.0, 60.0]"), "parameters.H0", "[80.0, 60.0]", "min < max");
    check(&refused("parameters.H0", "[70.0, 70.0]"), "parameters.H0", "[70.0, 70.0]", "min < max");
}

#[test]
fn non_finite_range_is_refused() {
    check(&refused("parameters.H0", "[60.0, .inf]"), "parameters.H0", "inf", "finite");
    check(&refused("parameters.H0", "[.nan, 80.0]"), "parameters.H0", "NaN", "finite");
}

#[test]
fn range_of_three_numbers_is_refused() {
    check(&refused("parameters.H0", "[60.0, 70.0, 80.0]"), "parameters.H0", "3 numbers", "[min, max]");
}

#[test]
fn unknown_key_in_long_form_parameter_is_refused() {
    check(&refused("parameters.H0", "{range: [60, 80], latx: H_0}"), "parameters.H0.latx", "unknown key", "`latex`");
}

#[test]
fn no_parameters_is_refused() {
    check(&refused("parameters", "{}"), "parameters", "no parameters", "at least one");
}

#[test]
fn bad_parameter_name_is_refused() {
    let mut doc = base();
    set(&mut doc, "parameters", "{'omega b': [0.02, 0.025]}");
    remove(&mut doc, "reference");
    check(&parse(&doc).unwrap_err(), "parameters.omega b", "omega b", "without spaces");
}

#[test]
fn parameter_listed_twice_is_refused() {
    let text = BASE.replace("  H0: [60.0, 80.0]\n", "  H0: [60.0, 80.0]\n  ombh2: [0.021, 0.024]\n");
    let error = Spec::from_yaml_str(&text, "test.yaml").unwrap_err();
    check(&error, "parameters.ombh2", "`ombh2` a second time", "at most once");
    assert!(error.found.contains("line 10 column 3"), "{error}");
}

#[test]
fn reference_center_missing_a_parameter_is_refused() {
    let mut doc = base();
    remove(&mut doc, "reference.center.H0");
    check(&parse(&doc).unwrap_err(), "reference.center.H0", "no value", "every parameter");
}

#[test]
fn reference_center_with_an_extra_parameter_is_refused() {
    check(&refused("reference.center.w", "-1.0"), "reference.center.w", "not a parameter", "one of `ombh2`");
}

#[test]
fn reference_center_outside_the_box_is_refused() {
    check(&refused("reference.center.H0", "90.0"), "reference.center.H0", "90.0", "inside the range [60.0, 80.0]");
}

#[test]
fn covariance_with_a_short_row_is_refused() {
    let error = refused("reference.covariance.matrix", "[[1.0, 0.0, 0.0], [0.0, 1.0], [0.0, 0.0, 1.0]]");
    check(&error, "reference.covariance.matrix[1]", "2 numbers", "3 rows of 3 numbers");
}

#[test]
fn covariance_of_the_wrong_size_is_refused() {
    let error = refused("reference.covariance.matrix", "[[1.0, 0.0], [0.0, 1.0]]");
    check(
        &error,
        "reference.covariance.matrix",
        "2 rows",
        "3 rows of 3 numbers, in parameter order (ombh2, omch2, H0)",
    );
}

#[test]
fn asymmetric_covariance_is_refused() {
    let error = refused("reference.covariance.matrix", "[[1.0, 0.5, 0.0], [0.4, 1.0, 0.0], [0.0, 0.0, 1.0]]");
    check(&error, "reference.covariance.matrix", "C[ombh2][omch2] = 0.5", "symmetric");
}

#[test]
fn nearly_symmetric_covariance_is_accepted_and_symmetrized() {
    let mut doc = base();
    set(&mut doc, "reference.covariance.matrix", "[[1.0, 0.5, 0.0], [0.500000000001, 1.0, 0.0], [0.0, 0.0, 1.0]]");
    let c = parse(&doc).unwrap().reference.unwrap().covariance;
    assert_eq!(c[0][1], c[1][0]);
}

#[test]
fn covariance_not_positive_definite_is_refused() {
    let error = refused("reference.covariance.matrix", "[[1.0, 2.0, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 1.0]]");
    check(&error, "reference.covariance.matrix", "not positive definite", "positive definite");
    assert!(error.found.contains("`omch2`"), "{error}");
}

#[test]
fn covariance_with_both_file_and_matrix_is_refused() {
    let error = refused("reference.covariance.file", PLANCK_COVMAT);
    check(&error, "reference.covariance", "both", "exactly one of `file`, `matrix`");
}

#[test]
fn covariance_file_missing_names_the_resolved_path() {
    let dir = tempfile::tempdir().unwrap();
    let doc = with_covariance("{file: nowhere/x.covmat}");
    let path = dir.path().join("spec.yaml");
    std::fs::write(&path, yaml_serde::to_string(&doc).unwrap()).unwrap();
    let error = Spec::from_path(&path).unwrap_err();
    assert_eq!(error.key, "reference.covariance.file");
    let resolved = dir.path().join("nowhere/x.covmat");
    assert!(error.found.contains(&resolved.display().to_string()), "{error}");
    assert!(error.expected.contains("relative to the spec file"), "{error}");
}

#[test]
fn covariance_file_lacking_a_parameter_is_refused() {
    let mut doc = with_covariance(&format!("{{file: {PLANCK_COVMAT}}}"));
    set(&mut doc, "parameters.H0", "[60.0, 80.0]");
    set(&mut doc, "reference.center.H0", "67.0");
    let error = parse(&doc).unwrap_err();
    check(&error, "reference.covariance.file", "no column for parameter `H0`", "rename");
}

#[test]
fn malformed_covariance_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.covmat"), "# ombh2 omch2 cosmomc_theta\n1 0 0\n0 1\n0 0 1\n").unwrap();
    let doc = with_covariance("{file: bad.covmat}");
    let path = dir.path().join("spec.yaml");
    std::fs::write(&path, yaml_serde::to_string(&doc).unwrap()).unwrap();
    let error = Spec::from_path(&path).unwrap_err();
    assert_eq!(error.key, "reference.covariance.file");
    assert!(error.found.contains("2 numbers on line 3"), "{error}");
}

#[test]
fn rename_of_a_missing_column_is_refused() {
    let doc = with_covariance(&format!("{{file: {PLANCK_COVMAT}, rename: {{omegabh: ombh2}}}}"));
    check(&parse(&doc).unwrap_err(), "reference.covariance.rename.omegabh", "not a column", "`omegabh2`");
}

#[test]
fn rename_beside_an_inline_matrix_is_refused() {
    let error = refused("reference.covariance.rename", "{a: ombh2}");
    check(&error, "reference.covariance.rename.a", "inline `matrix`", "only with `file`");
}

#[test]
fn no_outputs_is_refused() {
    check(&refused("outputs", "{}"), "outputs", "no outputs", "at least one of `cmb`");
}

#[test]
fn empty_spectra_list_is_refused() {
    check(&refused("outputs.cmb.spectra", "[]"), "outputs.cmb.spectra", "empty list", "`tt`");
}

#[test]
fn unknown_spectrum_is_refused() {
    check(
        &refused("outputs.cmb.spectra", "[tt, tb]"),
        "outputs.cmb.spectra[1]",
        "`tb`",
        "one of `tt`, `te`, `ee`, `bb`, `pp`",
    );
}

#[test]
fn duplicate_spectrum_is_refused() {
    check(
        &refused("outputs.cmb.spectra", "[tt, ee, tt]"),
        "outputs.cmb.spectra[2]",
        "`tt` a second time",
        "at most once",
    );
}

#[test]
fn lmax_below_lmin_is_refused() {
    let mut doc = base();
    set(&mut doc, "outputs.cmb.lmin", "30");
    set(&mut doc, "outputs.cmb.lmax", "20");
    check(&parse(&doc).unwrap_err(), "outputs.cmb.lmax", "20", ">= lmin (30)");
}

#[test]
fn lmin_below_two_is_refused() {
    check(&refused("outputs.cmb.lmin", "1"), "outputs.cmb.lmin", "1", ">= 2");
}

#[test]
fn k_min_not_positive_is_refused() {
    check(&refused("outputs.matter_power.k.min", "0.0"), "outputs.matter_power.k.min", "0.0", "> 0");
}

#[test]
fn k_max_not_above_min_is_refused() {
    check(&refused("outputs.matter_power.k.max", "1.0e-4"), "outputs.matter_power.k.max", "0.0001", "> min (0.001)");
}

#[test]
fn too_few_k_points_are_refused() {
    check(&refused("outputs.matter_power.k.n", "3"), "outputs.matter_power.k.n", "3", ">= 4");
}

#[test]
fn k_segments_join_end_to_end_with_the_shared_node_once() {
    let mut doc = base();
    set(&mut doc, "outputs.matter_power.k", "[{min: 1.0e-3, max: 0.01, n: 3}, {min: 0.01, max: 1.0, n: 5}]");
    let spec = parse(&doc).unwrap();
    let k = &spec.outputs.grids()["k"];
    assert_eq!(k.len(), 7);
    assert_eq!((k[0], k[2], k[6]), (1.0e-3, 0.01, 1.0), "segment ends exactly as written: {k:?}");
    assert!(k.windows(2).all(|w| w[1] > w[0]), "ascending: {k:?}");
    // log-spaced within each segment: 1e-3 .. 1e-2 in steps of sqrt(10), 1e-2 .. 1 in steps of sqrt(10)
    assert!((k[1] / 10f64.powf(-2.5) - 1.0).abs() < 1e-12 && (k[4] / 0.1 - 1.0).abs() < 1e-12, "{k:?}");
    let pk = spec.outputs.named_outputs().into_iter().find(|o| o.name == "pk_lin").unwrap();
    assert_eq!(pk.shape, vec![2, 7]);
    assert_eq!(spec.outputs.networks().iter().find(|(n, _)| n == "pk_lin").unwrap().1, 14);
}

#[test]
fn k_segments_with_a_gap_are_refused() {
    check(
        &refused("outputs.matter_power.k", "[{min: 1.0e-3, max: 0.01, n: 3}, {min: 0.02, max: 1.0, n: 5}]"),
        "outputs.matter_power.k[1].min",
        "0.02",
        "previous segment's max (0.01)",
    );
}

#[test]
fn bad_k_segments_are_refused_with_their_index() {
    check(
        &refused("outputs.matter_power.k", "[{min: 1.0e-3, max: 0.01, n: 3}, {min: 0.01, max: 0.001, n: 5}]"),
        "outputs.matter_power.k[1].max",
        "0.001",
        "> min (0.01)",
    );
    check(
        &refused("outputs.matter_power.k", "[{min: 1.0e-3, max: 0.01, n: 1}]"),
        "outputs.matter_power.k[0].n",
        "1",
        ">= 2",
    );
    check(&refused("outputs.matter_power.k", "[{min: 1.0e-3, max: 0.01, n: 3}]"), "outputs.matter_power.k", "3", "at least 4");
    check(&refused("outputs.matter_power.k", "[]"), "outputs.matter_power.k", "[]", "non-empty");
}

#[test]
fn z_not_ascending_is_refused() {
    check(
        &refused("outputs.matter_power.z", "[0.0, 2.0, 1.0]"),
        "outputs.matter_power.z[2]",
        "1.0 after 2.0",
        "ascending",
    );
    check(&refused("outputs.matter_power.z", "[0.0, 0.0]"), "outputs.matter_power.z[1]", "0.0 after 0.0", "strictly");
}

#[test]
fn negative_z_is_refused() {
    check(&refused("outputs.matter_power.z", "[-0.5, 1.0]"), "outputs.matter_power.z[0]", "-0.5", ">= 0");
    check(&refused("outputs.background.z.min", "-1.0"), "outputs.background.z.min", "-1.0", ">= 0");
}

#[test]
fn z_range_with_max_not_above_min_is_refused() {
    check(&refused("outputs.background.z.max", "0.1"), "outputs.background.z.max", "0.1", "> min (0.1)");
}

#[test]
fn unknown_background_function_is_refused() {
    let error = refused("outputs.background.functions", "[H, D_L]");
    check(&error, "outputs.background.functions[1]", "`D_L`", "one of `H`, `D_A`, `D_M`, `D_V`, `sigma8_z`, `fsigma8`");
}

#[test]
fn unknown_derived_name_is_refused() {
    let error = refused("outputs.derived", "[H0, sigma_8]");
    check(&error, "outputs.derived[1]", "`sigma_8`", "one of `H0`, `sigma8`, `S8`, `rdrag`");
    assert!(error.expected.contains("`zre`"), "{error}");
}

#[test]
fn duplicate_derived_name_is_refused() {
    check(&refused("outputs.derived", "[H0, H0]"), "outputs.derived[1]", "`H0` a second time", "at most once");
}

#[test]
fn matter_power_with_neither_linear_nor_nonlinear_is_refused() {
    check(&refused("outputs.matter_power.linear", "false"), "outputs.matter_power", "`linear: false`", "at least one");
}

#[test]
fn zero_hidden_layers_is_refused() {
    check(&refused("emulator.hidden_layers", "0"), "emulator.hidden_layers", "0", ">= 1");
}

#[test]
fn zero_width_is_refused() {
    check(&refused("emulator.width", "0"), "emulator.width", "0", ">= 1");
    check(&refused("emulator.networks.tt", "{width: 0}"), "emulator.networks.tt.width", "0", ">= 1");
}

#[test]
fn unknown_network_type_is_refused() {
    check(&refused("emulator.type", "cnn"), "emulator.type", "`cnn`", "`mlp`");
}

#[test]
fn unknown_activation_is_refused() {
    check(
        &refused("emulator.activation", "gelu"),
        "emulator.activation",
        "`gelu`",
        "one of `tanh`, `relu`, `silu`, `cosmopower`",
    );
}

#[test]
fn override_for_a_missing_network_is_refused() {
    let error = refused("emulator.networks.ee", "{width: 512}");
    check(&error, "emulator.networks.ee", "not a network", "one of `tt`, `te`, `pk_lin`, `background`, `derived`");
}

#[test]
fn transforms_for_an_unknown_network_is_refused() {
    let error = refused("transforms.outputs.pk_nonlin", "{log: log10}");
    check(&error, "transforms.outputs.pk_nonlin", "not a network", "one of `default`, `tt`");
}

#[test]
fn unknown_log_transform_is_refused() {
    check(
        &refused("transforms.outputs.tt", "{log: log2}"),
        "transforms.outputs.tt.log",
        "`log2`",
        "one of `none`, `ln`, `log10`",
    );
}

#[test]
fn pca_zero_is_refused() {
    check(&refused("transforms.outputs.tt", "{pca: 0}"), "transforms.outputs.tt.pca", "0", ">= 1, or null");
}

#[test]
fn pca_larger_than_the_output_is_refused() {
    let error = refused("transforms.outputs.default", "{pca: 3}");
    check(&error, "transforms.outputs.default.pca", "network `derived`, which has 2 outputs", "at most 2");
}

#[test]
fn log_of_te_is_refused() {
    let error = refused("transforms.outputs.default", "{log: ln}");
    check(&error, "transforms.outputs.default.log", "network `te`", "`log: none` for `te`");
}

#[test]
fn log_of_distances_at_z_zero_is_refused() {
    let mut doc = base();
    set(&mut doc, "outputs.background.z.min", "0.0");
    set(&mut doc, "transforms.outputs.background", "{log: log10}");
    check(&parse(&doc).unwrap_err(), "transforms.outputs.background.log", "0 at z = 0", "`log: none`");
}

#[test]
fn log_of_growth_functions_at_z_zero_is_accepted() {
    // sigma8(z) and f sigma8(z) are positive at z = 0: only distances vanish there.
    let mut doc = base();
    set(&mut doc, "outputs.background.functions", "[H, sigma8_z, fsigma8]");
    set(&mut doc, "outputs.background.z.min", "0.0");
    set(&mut doc, "transforms.outputs.background", "{log: log10}");
    let spec = parse(&doc).expect("growth functions at z = 0 take a log transform");
    let functions = &spec.outputs.background.as_ref().unwrap().functions;
    assert_eq!(functions.iter().map(|f| f.as_str()).collect::<Vec<_>>(), ["H", "sigma8_z", "fsigma8"]);
    set(&mut doc, "outputs.background.functions", "[sigma8_z, D_V]");
    check(&parse(&doc).unwrap_err(), "transforms.outputs.background.log", "0 at z = 0", "`log: none`");
}

#[test]
fn zero_epochs_are_refused() {
    check(&refused("training.epochs", "0"), "training.epochs", "0", ">= 1");
}

#[test]
fn zero_batch_size_is_refused() {
    check(&refused("training.batch_size", "0"), "training.batch_size", "0", ">= 1");
}

#[test]
fn zero_patience_is_refused() {
    check(&refused("training.patience", "0"), "training.patience", "0", ">= 1");
}

#[test]
fn validation_fraction_out_of_range_is_refused() {
    check(&refused("training.validation_fraction", "0.0"), "training.validation_fraction", "0.0", "(0, 0.5]");
    check(&refused("training.validation_fraction", "0.6"), "training.validation_fraction", "0.6", "(0, 0.5]");
}

#[test]
fn bad_learning_rate_is_refused() {
    check(&refused("training.learning_rate.initial", "-1.0"), "training.learning_rate.initial", "-1.0", "> 0");
    check(
        &refused("training.learning_rate.final", "0.1"),
        "training.learning_rate.final",
        "above initial",
        "<= initial",
    );
}

#[test]
fn unknown_schedule_is_refused() {
    check(
        &refused("training.learning_rate.schedule", "linear"),
        "training.learning_rate.schedule",
        "`linear`",
        "`cosine`",
    );
}

#[test]
fn zero_sampling_points_are_refused() {
    check(&refused("sampling.points", "0"), "sampling.points", "0", ">= 1");
    check(&refused("sampling.test_points", "0"), "sampling.test_points", "0", ">= 1");
}

#[test]
fn ellipsoid_without_reference_is_refused() {
    let mut doc = base();
    remove(&mut doc, "reference");
    set(&mut doc, "sampling.design", "ellipsoid");
    check(&parse(&doc).unwrap_err(), "sampling.design", "without a `reference`", "a `reference`");
}

#[test]
fn non_positive_sigmas_are_refused() {
    let mut doc = base();
    set(&mut doc, "sampling", "{design: ellipsoid, sigmas: 0.0}");
    check(&parse(&doc).unwrap_err(), "sampling.sigmas", "0.0", "> 0");
}

#[test]
fn sigmas_without_ellipsoid_are_refused() {
    check(
        &refused("sampling.sigmas", "4.0"),
        "sampling.sigmas",
        "design `latin_hypercube`",
        "only with design `ellipsoid`",
    );
}

#[test]
fn an_ellipsoid_shell_is_read_and_checked() {
    let mut doc = base();
    set(&mut doc, "sampling", "{design: ellipsoid, sigmas: 5, shell: {sigmas: 10, fraction: 0.2}}");
    let shell = parse(&doc).unwrap().sampling.shell.unwrap();
    assert_eq!((shell.sigmas, shell.fraction, shell.points), (10.0, Some(0.2), None));
    // or a number of points added after the design's own
    set(&mut doc, "sampling", "{design: ellipsoid, points: 5000, shell: {sigmas: 10, points: 1250}}");
    let shell = parse(&doc).unwrap().sampling.shell.unwrap();
    assert_eq!((shell.fraction, shell.points), (None, Some(1250)));
    set(&mut doc, "sampling", "{design: ellipsoid, shell: {sigmas: 10, points: 100, fraction: 0.2}}");
    check(&parse(&doc).unwrap_err(), "sampling.shell", "both `fraction` and `points`", "one of `fraction`");
    set(&mut doc, "sampling", "{design: ellipsoid, shell: {sigmas: 10, points: 0}}");
    check(&parse(&doc).unwrap_err(), "sampling.shell.points", "0", "an integer >= 1");
    set(&mut doc, "sampling", "{design: ellipsoid, shell: {sigmas: 4, fraction: 0.2}}");
    check(&parse(&doc).unwrap_err(), "sampling.shell.sigmas", "4.0", "larger than `sampling.sigmas` (5)");
    set(&mut doc, "sampling", "{design: ellipsoid, shell: {sigmas: 9, fraction: 1.0}}");
    check(&parse(&doc).unwrap_err(), "sampling.shell.fraction", "1.0", "between 0 and 1");
    set(&mut doc, "sampling", "{design: sobol, shell: {sigmas: 9, fraction: 0.2}}");
    check(&parse(&doc).unwrap_err(), "sampling.shell", "design `sobol`", "only with design `ellipsoid`");
    set(&mut doc, "sampling", "{design: ellipsoid, shell: {sigmas: 9}}");
    check(&parse(&doc).unwrap_err(), "sampling.shell", "neither `fraction` nor `points`", "one of `fraction`");
}

#[test]
fn background_points_are_read_and_checked() {
    let mut doc = base();
    set(&mut doc, "sampling", "{design: sobol, points: 100, background_points: 3000}");
    assert_eq!(parse(&doc).unwrap().sampling.background_points, Some(3000));
    set(&mut doc, "sampling", "{design: sobol, points: 100, background_points: 0}");
    check(&parse(&doc).unwrap_err(), "sampling.background_points", "0", "an integer >= 1");
    set(&mut doc, "sampling", "{design: file, file: points.txt, background_points: 10}");
    check(&parse(&doc).unwrap_err(), "sampling.background_points", "design `file`", "another design");
    // they compute the background alone: background functions to train, none of the growth
    set(&mut doc, "sampling", "{design: sobol, points: 100, background_points: 10}");
    set(&mut doc, "outputs", "{derived: [H0]}");
    check(&parse(&doc).unwrap_err(), "sampling.background_points", "without `outputs.background`", "`outputs.background`");
    set(&mut doc, "outputs", "{background: {functions: [H, fsigma8], z: {min: 0, max: 2, n: 8}}}");
    check(&parse(&doc).unwrap_err(), "sampling.background_points", "growth functions fsigma8", "the perturbations");
}

#[test]
fn file_design_without_file_is_refused() {
    check(&refused("sampling.design", "file"), "sampling.file", "missing", "design `file`");
}

#[test]
fn file_without_file_design_is_refused() {
    check(
        &refused("sampling.file", "chain.txt"),
        "sampling.file",
        "design `latin_hypercube`",
        "only with design `file`",
    );
}

#[test]
fn unknown_trust_method_is_refused() {
    check(&refused("trust.method", "[box, knn]"), "trust.method[1]", "`knn`", "one of `box`, `mahalanobis`, `hull`");
}

#[test]
fn duplicate_trust_method_is_refused() {
    check(&refused("trust.method", "[box, box]"), "trust.method[1]", "`box` a second time", "at most once");
}

#[test]
fn chi2_quantile_out_of_range_is_refused() {
    check(&refused("trust.threshold", "{chi2_quantile: 1.0}"), "trust.threshold.chi2_quantile", "1.0", "(0, 1)");
}

#[test]
fn pico_fraction_out_of_range_is_refused() {
    check(&refused("trust.threshold", "{pico: 0.0}"), "trust.threshold.pico", "0.0", "(0, 1]");
    check(&refused("trust.threshold", "{pico: 1.5}"), "trust.threshold.pico", "1.5", "(0, 1]");
}

#[test]
fn threshold_with_two_rules_is_refused() {
    check(&refused("trust.threshold", "{pico: 0.5, chi2_quantile: 0.9}"), "trust.threshold", "both", "exactly one");
}

#[test]
fn empty_document_is_refused() {
    let error = Spec::from_yaml_str("", "test.yaml").unwrap_err();
    check(&error, "name", "missing", "required");
    let error = Spec::from_yaml_str("[1, 2]", "test.yaml").unwrap_err();
    check(&error, "(document)", "a list", "a spec");
}

// ---------------------------------------------------------------------------------------------
// Limits: every size a spec sets is bounded (zelos::spec::limits, docs/spec.md#limits)

use zelos::spec::limits;

/// Each size key one past its limit is refused, naming the key, the value and the limit.
#[test]
fn sizes_above_their_limits_are_refused() {
    let cases: Vec<(&str, String, &str)> = vec![
        ("emulator.width", "100000000000".into(), "emulator.width"),
        ("emulator.width", (limits::MAX_WIDTH + 1).to_string(), "emulator.width"),
        ("emulator.hidden_layers", (limits::MAX_HIDDEN_LAYERS + 1).to_string(), "emulator.hidden_layers"),
        ("emulator.networks.tt", "{width: 1000000000}".into(), "emulator.networks.tt.width"),
        ("emulator.networks.tt", "{hidden_layers: 1000000000}".into(), "emulator.networks.tt.hidden_layers"),
        ("outputs.cmb.lmax", (limits::MAX_LMAX + 1).to_string(), "outputs.cmb.lmax"),
        ("outputs.matter_power.k.n", "1000000000".into(), "outputs.matter_power.k.n"),
        ("outputs.matter_power.z", "{min: 0.0, max: 5.0, n: 1000000000}".into(), "outputs.matter_power.z.n"),
        ("outputs.background.z", "{min: 0.1, max: 2.0, n: 1000000000}".into(), "outputs.background.z.n"),
        ("training.epochs", (limits::MAX_EPOCHS + 1).to_string(), "training.epochs"),
        ("training.batch_size", (limits::MAX_BATCH_SIZE + 1).to_string(), "training.batch_size"),
        ("training.patience", (limits::MAX_EPOCHS + 1).to_string(), "training.patience"),
        ("sampling.points", "100000000000".into(), "sampling.points"),
        ("sampling.test_points", (limits::MAX_POINTS + 1).to_string(), "sampling.test_points"),
        ("transforms.outputs.default", "{pca: 1000000000}".into(), "transforms.outputs.default.pca"),
    ];
    for (path, value, key) in cases {
        let error = refused(path, &value);
        let limit_words = "zelos's limit";
        check(&error, key, "", limit_words);
        let shown = yaml(&value);
        let number = shown.as_u64().or_else(|| shown.as_mapping().and_then(|m| m.values().last()?.as_u64()));
        let number = number.unwrap().to_string();
        assert!(error.found.contains(&number), "{path}: the value {number} is not named in: {error}");
        assert!(error.expected.starts_with("at most "), "{path}: the limit is not named in: {error}");
    }
}

#[test]
fn a_redshift_list_above_the_limit_is_refused() {
    let list: Vec<String> = (0..=limits::MAX_Z_POINTS).map(|i| format!("{i}.0")).collect();
    let error = refused("outputs.background.z", &format!("[{}]", list.join(", ")));
    check(&error, "outputs.background.z", &format!("{} redshifts", limits::MAX_Z_POINTS + 1), "at most 2000 redshifts");
}

#[test]
fn too_many_parameters_are_refused() {
    let mut doc = base();
    remove(&mut doc, "reference");
    let many: Vec<String> = (0..=limits::MAX_PARAMETERS).map(|i| format!("p{i}: [0.0, 1.0]")).collect();
    set(&mut doc, "parameters", &format!("{{{}}}", many.join(", ")));
    let error = parse(&doc).unwrap_err();
    check(&error, "parameters", "201 parameters", "at most 200 parameters");
}

#[test]
fn a_network_with_too_many_outputs_is_refused() {
    // Each grid within its own limit; their product is one network's output size.
    let error = refused(
        "outputs.matter_power",
        &format!("{{k: {{min: 1.0e-3, max: 1.0, n: {}}}, z: {{min: 0.0, max: 5.0, n: 1000}}}}", limits::MAX_K_POINTS),
    );
    check(&error, "outputs.matter_power", "5000000 values per network", "at most 500000 values per network");
}

#[test]
fn a_network_with_too_many_weights_is_refused() {
    let mut doc = base();
    set(&mut doc, "emulator.width", &limits::MAX_WIDTH.to_string());
    set(&mut doc, "emulator.hidden_layers", "8");
    let error = parse(&doc).unwrap_err();
    check(&error, "emulator", "network `tt` with 8 hidden layers of width 8192", "at most 100000000 weights");
    // The override names its own network.
    let mut doc = base();
    set(&mut doc, "emulator.networks.derived", &format!("{{width: {}, hidden_layers: 8}}", limits::MAX_WIDTH));
    let error = parse(&doc).unwrap_err();
    check(&error, "emulator.networks.derived", "network `derived`", "weights per network");
}

/// Sizes at their limits are accepted: the limits refuse only what cannot be built.
#[test]
fn sizes_at_their_limits_are_accepted() {
    let mut doc = base();
    set(&mut doc, "outputs.cmb.lmax", &limits::MAX_LMAX.to_string());
    set(&mut doc, "outputs.matter_power.k.n", &limits::MAX_K_POINTS.to_string());
    set(&mut doc, "outputs.background.z", &format!("{{min: 0.1, max: 2.0, n: {}}}", limits::MAX_Z_POINTS));
    set(&mut doc, "emulator.width", "1024");
    set(&mut doc, "emulator.hidden_layers", "4");
    set(&mut doc, "emulator.networks.derived", &format!("{{hidden_layers: {}, width: 64}}", limits::MAX_HIDDEN_LAYERS));
    set(&mut doc, "transforms.outputs.tt", &format!("{{pca: {}}}", limits::MAX_PCA_COMPONENTS));
    set(&mut doc, "training.epochs", &limits::MAX_EPOCHS.to_string());
    set(&mut doc, "training.patience", &limits::MAX_EPOCHS.to_string());
    set(&mut doc, "training.batch_size", &limits::MAX_BATCH_SIZE.to_string());
    set(&mut doc, "sampling.points", &limits::MAX_POINTS.to_string());
    set(&mut doc, "sampling.test_points", &limits::MAX_POINTS.to_string());
    let spec = parse(&doc).unwrap();
    assert_eq!(spec.emulator.layout("derived").hidden_layers, limits::MAX_HIDDEN_LAYERS);
    assert_eq!(spec.sampling.points, limits::MAX_POINTS);
}

#[test]
fn spec_text_above_the_size_limit_is_refused_unread() {
    let mut text = String::from(BASE);
    text.push_str(&format!("# {}\n", "x".repeat(limits::MAX_SPEC_BYTES)));
    let error = Spec::from_yaml_str(&text, "test.yaml").unwrap_err();
    check(&error, "(file)", "more than 4194304 bytes", "at most 4194304 bytes");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.yaml");
    std::fs::write(&path, &text).unwrap();
    let error = Spec::from_path(&path).unwrap_err();
    assert_eq!(error.key, "(file)", "{error}");
    assert!(error.found.contains("more than"), "{error}");
}

/// A covariance file is read up to its limit and no further: `/dev/zero` (endless) and a file
/// one byte over are refused, naming the key and the limit.
#[test]
fn a_covariance_file_above_the_size_limit_is_refused_unread() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.covmat");
    let mut text = String::from("# ombh2 omch2 cosmomc_theta\n1e-8 0 0\n0 1e-6 0\n0 0 1e-12\n");
    text.push_str(&" ".repeat(limits::MAX_COVMAT_BYTES + 1 - text.len()));
    std::fs::write(&big, &text).unwrap();
    let mut files = vec![big.display().to_string()];
    if cfg!(unix) {
        files.push("/dev/zero".to_string());
    }
    for file in files {
        let error = parse(&with_covariance(&format!("{{file: '{file}'}}"))).unwrap_err();
        check(&error, "reference.covariance.file", "more than 16777216 bytes", "at most 16777216 bytes of covariance file");
    }
    // At the limit it is read (and here parsed: the padding is blank).
    text.pop();
    std::fs::write(&big, &text).unwrap();
    parse(&with_covariance(&format!("{{file: '{}'}}", big.display()))).unwrap();
}

// ---------------------------------------------------------------------------------------------
// YAML tags and nesting (src/spec/plain_yaml.rs)

/// Tags are refused wherever they are, `!!` tags (which yaml_serde resolves away) included,
/// naming the key that carries one.
#[test]
fn yaml_tags_are_refused_anywhere() {
    let cases = [
        ("description", "!!python/object/apply:os.system [\"echo hi\"]", "description", "`!!python/object/apply:os.system`"),
        ("description", "!!python/name:os.system ''", "description", "`!!python/name:os.system`"),
        ("description", "!!str plain words", "description", "`!!str`"),
        ("author", "!custom someone", "author", "`!custom`"),
        ("emulator", "!!map {width: 64}", "emulator", "`!!map`"),
        ("outputs.cmb.spectra", "[tt, !!str te]", "outputs.cmb.spectra[1]", "`!!str`"),
        ("outputs.derived", "!!python/tuple [H0]", "outputs.derived", "`!!python/tuple`"),
        ("code.settings.x", "!!binary aGVsbG8=", "code.settings.x", "`!!binary`"),
    ];
    for (path, value, key, tag) in cases {
        let mut text = yaml_serde::to_string(&base()).unwrap();
        // Written into the text, not through a Value (which would drop `!!` tags).
        let (parent, last) = path.rsplit_once('.').unwrap_or(("", path));
        text = with_entry(&text, parent, last, value);
        let error = Spec::from_yaml_str(&text, "test.yaml").expect_err(&text);
        check(&error, key, &format!("a value tagged {tag}"), "a spec has no YAML tags");
    }
    // On a key, and on the whole document.
    let error = Spec::from_yaml_str(&format!("!!str name: x\n{}", &BASE[1..]), "test.yaml").unwrap_err();
    check(&error, "(document)", "a key tagged `!!str`", "plain value");
    let error = Spec::from_yaml_str(&format!("--- !spec\n{BASE}"), "test.yaml").unwrap_err();
    check(&error, "(document)", "a value tagged `!spec`", "plain value");
}

/// `text` (block YAML as yaml_serde writes it) with `key: value` set in the mapping at dotted
/// `parent` (which must exist), replacing any entry of that key.
fn with_entry(text: &str, parent: &str, key: &str, value: &str) -> String {
    let mut doc: Value = yaml_serde::from_str(text).unwrap();
    let mut node = &mut doc;
    for k in parent.split('.').filter(|k| !k.is_empty()) {
        node = node.as_mapping_mut().unwrap().get_mut(k).unwrap();
    }
    node.as_mapping_mut().unwrap().insert(Value::from(key), Value::from("PLACEHOLDER"));
    let text = yaml_serde::to_string(&doc).unwrap();
    assert_eq!(text.matches("PLACEHOLDER").count(), 1);
    text.replace("PLACEHOLDER", value)
}

/// 200 kB of nested lists: refused at the nesting limit, before the parser's quadratic work
/// (24 s before the limit existed).
#[test]
fn deeply_nested_lists_are_refused_quickly() {
    let depth = 100_000;
    let text = format!("{}description: {}{}\n", &BASE[1..], "[".repeat(depth), "]".repeat(depth));
    assert!(text.len() > 200_000);
    let error = Spec::from_yaml_str(&text, "test.yaml").unwrap_err();
    let inner = "[0]".repeat(limits::MAX_NESTING - 1);
    check(&error, &format!("description{inner}"), "nested more than 32 deep", "at most 32 levels of nesting");
    // Flow mappings, block lists, and nesting through the whole document alike.
    for text in [
        format!("{}{}", "{a: ".repeat(depth), "}".repeat(depth)),
        format!("{}x\n", "- ".repeat(depth)),
        format!("{}{}", "[".repeat(depth), "]".repeat(depth)),
    ] {
        let error = Spec::from_yaml_str(&text, "test.yaml").unwrap_err();
        assert!(error.found.contains("nested more than 32 deep"), "{error}");
    }
}

/// A mapping of 200 000 parameters (3.6 MB, under the size limit) is refused for their number
/// at once: repeated keys are found with a set, not by scanning every earlier key (which took
/// time quadratic in the number of keys).
#[test]
fn a_mapping_of_many_keys_is_refused_quickly() {
    let mut text = String::from(&BASE[1..BASE.find("parameters:").unwrap()]);
    text.push_str("parameters:\n");
    for i in 0..200_000 {
        text.push_str(&format!("  p{i}: [0, 1]\n"));
    }
    text.push_str(&BASE[BASE.find("outputs:").unwrap()..]);
    assert!(text.len() < limits::MAX_SPEC_BYTES);
    let error = Spec::from_yaml_str(&text, "test.yaml").unwrap_err();
    check(&error, "parameters", "200000 parameters", "at most 200 parameters");
}

#[test]
fn nesting_up_to_the_limit_is_accepted() {
    // The document, `code` and `settings` are three levels; the setting adds the rest.
    let lists = limits::MAX_NESTING - 3;
    let value = format!("{}1{}", "[".repeat(lists), "]".repeat(lists));
    let mut doc = base();
    set(&mut doc, "code.settings.nested", &value);
    parse(&doc).unwrap();
    set(&mut doc, "code.settings.nested", &format!("[{value}]"));
    check(&parse(&doc).unwrap_err(), &format!("code.settings.nested{}", "[0]".repeat(lists)), "nested more than", "levels");
}

// ---------------------------------------------------------------------------------------------
// Property: random valid specs survive the canonical round trip exactly.

fn arbitrary_spec() -> impl Strategy<Value = String> {
    let parameter = (-1.0e3..1.0e3f64, 1.0e-6..1.0e3f64, any::<bool>());
    (
        prop::collection::vec(parameter, 1..6),
        prop::collection::btree_set(prop::sample::select(vec!["tt", "te", "ee", "bb", "pp"]), 0..5),
        2u32..50,
        1.0e-5..1.0f64,
        prop::collection::vec(0.0..10.0f64, 1..5),
        prop::collection::vec(-1.0e10..1.0e10f64, 0..4),
        1usize..5000,
    )
        .prop_map(|(parameters, spectra, lmin, kmin, zs, settings, points)| {
            let mut text =
                String::from("name: prop\nauthor: p\nversion: '1'\ncode: {name: classy, version: '3.2.0', settings: {");
            for (i, s) in settings.iter().enumerate() {
                text.push_str(&format!("s{i}: {s:?}, "));
            }
            text.push_str("}}\nparameters:\n");
            for (i, (min, width, latex)) in parameters.iter().enumerate() {
                let range = format!("[{min:?}, {:?}]", min + width);
                if *latex {
                    text.push_str(&format!("  p{i}: {{range: {range}, latex: 'p_{i}'}}\n"));
                } else {
                    text.push_str(&format!("  p{i}: {range}\n"));
                }
            }
            let mut z = zs.clone();
            z.sort_by(f64::total_cmp);
            z.dedup();
            text.push_str("outputs:\n");
            if !spectra.is_empty() {
                let list: Vec<&str> = spectra.into_iter().collect();
                text.push_str(&format!(
                    "  cmb: {{spectra: [{}], lmin: {lmin}, lmax: {}}}\n",
                    list.join(", "),
                    lmin + 40
                ));
            }
            text.push_str(&format!(
                "  matter_power: {{k: {{min: {kmin:?}, max: {:?}, n: 7}}, z: {z:?}}}\n",
                kmin * 1.0e3
            ));
            text.push_str(&format!("sampling: {{points: {points}}}\n"));
            text
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn random_specs_round_trip(text in arbitrary_spec()) {
        let spec = Spec::from_yaml_str(&text, "prop").map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        let canonical = spec.to_yaml_string();
        let again = Spec::from_yaml_str(&canonical, "canonical").map_err(|e| TestCaseError::fail(format!("{e}\n{canonical}")))?;
        prop_assert_eq!(&again, &spec);
        prop_assert_eq!(again.to_yaml_string(), canonical);
    }
}

// ---------------------------------------------------------------------------------------------
// constraints

#[test]
fn constraints_resolve_in_parameter_order_and_round_trip() {
    let mut doc = base();
    set(&mut doc, "constraints", "[{terms: {H0: -0.5, omch2: 2.0}, max: 0.0}, {terms: {ombh2: 1.0}, min: 0.021}]");
    let spec = parse(&doc).unwrap();
    let c = spec.linear_constraints();
    assert_eq!(c[0].coefficients, vec![0.0, 2.0, -0.5]);
    assert_eq!(c[0].text, "2 omch2 - 0.5 H0");
    assert_eq!((c[0].min, c[0].max), (f64::NEG_INFINITY, 0.0));
    assert!(c[0].holds(&[0.022, 0.12, 67.0]) && !c[0].holds(&[0.022, 0.12, 0.1]));
    assert_eq!(c[0].explain(&[0.022, 0.12, 0.1]).unwrap(), "`2 omch2 - 0.5 H0` = 0.19 > 0");
    assert!(c[1].explain(&[0.020, 0.12, 67.0]).unwrap().contains("< 0.021"));
    assert_eq!(Spec::from_yaml_str(&spec.to_yaml_string(), "again").unwrap(), spec);
    // No constraints: the key stays out of the canonical YAML.
    assert!(!parse(&base()).unwrap().to_yaml_string().contains("constraints"));
}

#[test]
fn a_constraint_on_an_unknown_parameter_names_the_parameters() {
    let e = refused("constraints", "[{terms: {w: 1.0}, max: 0.0}]");
    check(&e, "constraints[0].terms.w", "not a parameter", "ombh2, omch2, H0");
}

#[test]
fn a_constraint_needs_a_bound_a_coefficient_and_part_of_the_box() {
    check(&refused("constraints", "[{terms: {H0: 1.0}}]"), "constraints[0]", "neither", "at least one bound");
    check(&refused("constraints", "[{terms: {}, max: 1.0}]"), "constraints[0].terms", "empty", "coefficient");
    check(&refused("constraints", "[{terms: {H0: 0.0}, max: 1.0}]"), "constraints[0].terms.H0", "0", "non-zero");
    check(&refused("constraints", "[{terms: {H0: 1.0}, min: 70.0, max: 65.0}]"), "constraints[0]", ">=", "min < max");
    // H0 in [60, 80]: H0 <= 50 leaves nothing of the box.
    check(&refused("constraints", "[{terms: {H0: 1.0}, max: 50.0}]"), "constraints[0]", "[60, 80]", "part of the box");
    check(&refused("constraints", "[{terms: {H0: 1.0}, max: 70.0, lower: 1}]"), "constraints[0].lower", "lower", "`terms`");
}

#[test]
fn sobol_is_a_design() {
    let mut doc = base();
    set(&mut doc, "sampling.design", "sobol");
    assert_eq!(parse(&doc).unwrap().sampling.design, Design::Sobol);
}
