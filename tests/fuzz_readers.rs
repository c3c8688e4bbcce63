//! Fuzzing the readers of untrusted input: the spec reader, the archive reader and the loading
//! of an emulator (and its trust region) from a verified archive. Arbitrary bytes and valid inputs mutated (bytes
//! flipped, set, deleted, duplicated, truncated, and YAML, JSON or numeric tokens inserted):
//! every outcome is `Ok` or `Err`, never a panic, an abort or a hang.
//!
//! A few thousand cases each, within about 30 s in release mode on two cores. Failures shrink
//! to a minimal input; proptest prints it.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use proptest::prelude::*;
use zelos::archive::{Archive, ArchiveWriter, Limits};
use zelos::emulator::EmulatorArchive;
use zelos::model::OutputDescription;
use zelos::region::TrustRegion;
use zelos::spec::Spec;
use zelos::tensors::Tensor;
use zelos::testing::RandomModel;
use zelos::Emulator;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

// ---------------------------------------------------------------------------------------------
// Mutations

/// Tokens that change the structure or the size of what is read.
const TOKENS: &[&str] = &[
    "[", "]", "{", "}", ":", ": ", "- ", ",", "\n", "\n  ", "#", "\"", "'", "!", "!!str ", "!!python/object:x ",
    "&a ", "*a", "? ", "|", ">", "---\n", "...\n", "%YAML 1.2\n", "\t", "\\", "\0", "~", "null", "true",
    "-1", "0", "1e308", "-1e308", ".nan", ".inf", "NaN", "99999999999999999999", "18446744073709551615",
    "4294967296", "1000000000", "9223372036854775807", "\u{feff}", "\u{2028}", "é",
];

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, bit: u8 },
    Set { at: usize, byte: u8 },
    Delete { at: usize, len: usize },
    Duplicate { at: usize, len: usize, to: usize },
    Insert { at: usize, bytes: Vec<u8> },
    Token { at: usize, token: usize },
    /// Replaces the `nth` run of digits (modulo their count) with a numeric token: sizes,
    /// counts and shapes become huge, negative or not integers.
    Number { nth: usize, token: usize },
    Truncate { at: usize },
}

/// The numeric tokens among [`TOKENS`].
const NUMBERS: &[&str] = &["-1", "0", "1e308", "99999999999999999999", "18446744073709551615", "4294967296",
    "1000000000", "9223372036854775807", "100000000000", "65536", "2.5", ".nan"];

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = || any::<usize>();
    prop_oneof![
        1 => (at(), 0u8..8).prop_map(|(at, bit)| Mutation::Flip { at, bit }),
        1 => (at(), any::<u8>()).prop_map(|(at, byte)| Mutation::Set { at, byte }),
        1 => (at(), 1usize..64).prop_map(|(at, len)| Mutation::Delete { at, len }),
        1 => (at(), 1usize..256, any::<usize>()).prop_map(|(at, len, to)| Mutation::Duplicate { at, len, to }),
        1 => (at(), prop::collection::vec(any::<u8>(), 1..16)).prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        4 => (at(), 0..TOKENS.len()).prop_map(|(at, token)| Mutation::Token { at, token }),
        3 => (any::<usize>(), 0..NUMBERS.len()).prop_map(|(nth, token)| Mutation::Number { nth, token }),
        1 => at().prop_map(|at| Mutation::Truncate { at }),
    ]
}

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    prop::collection::vec(mutation(), 1..6)
}

/// Applies `mutations` in order; positions are taken modulo the current length.
fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let n = bytes.len();
        let pos = |at: usize| if n == 0 { 0 } else { at % (n + 1) };
        match m {
            Mutation::Flip { at, bit } if n > 0 => bytes[at % n] ^= 1 << bit,
            Mutation::Set { at, byte } if n > 0 => bytes[at % n] = *byte,
            Mutation::Delete { at, len } => {
                let start = pos(*at).min(n);
                bytes.drain(start..(start + len).min(n));
            }
            Mutation::Duplicate { at, len, to } => {
                let start = pos(*at).min(n);
                let piece = bytes[start..(start + len).min(n)].to_vec();
                let to = pos(*to);
                bytes.splice(to..to, piece);
            }
            Mutation::Insert { at, bytes: new } => {
                let at = pos(*at);
                bytes.splice(at..at, new.iter().copied());
            }
            Mutation::Token { at, token } => {
                let at = pos(*at);
                bytes.splice(at..at, TOKENS[*token].bytes());
            }
            Mutation::Number { nth, token } => {
                let runs = digit_runs(&bytes);
                if !runs.is_empty() {
                    let (start, end) = runs[nth % runs.len()];
                    bytes.splice(start..end, NUMBERS[*token].bytes());
                }
            }
            Mutation::Truncate { at } => bytes.truncate(pos(*at)),
            _ => {}
        }
    }
    bytes
}

/// `(start, end)` of every run of ASCII digits.
fn digit_runs(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            runs.push((start, i));
        } else {
            i += 1;
        }
    }
    runs
}

fn config(cases: u32) -> ProptestConfig {
    // No regression files: a failure prints the minimal input, to be added as a named test.
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

// ---------------------------------------------------------------------------------------------
// The spec reader

/// Every shipped spec and the docs' full example: valid inputs to mutate.
fn spec_seeds() -> &'static [String] {
    static SEEDS: OnceLock<Vec<String>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let mut seeds: Vec<String> = std::fs::read_dir(Path::new(ROOT).join("specs"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect();
        let docs = std::fs::read_to_string(Path::new(ROOT).join("docs/spec.md")).unwrap();
        let example = docs.split("```yaml\n").nth(1).unwrap().split("```").next().unwrap();
        seeds.push(example.to_string());
        seeds.sort();
        seeds
    })
}

/// Reads spec text; its outcome does not matter, only that there is one. Relative file names
/// (covariance files) resolve against the crate root, where `specs/covmats/` lies.
fn read_spec(text: &str) -> Result<Spec, zelos::spec::SpecError> {
    Spec::from_yaml_str(text, "fuzz.yaml")
}

proptest! {
    #![proptest_config(config(3000))]

    #[test]
    fn spec_reader_survives_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = read_spec(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn spec_reader_survives_mutated_specs(seed in any::<prop::sample::Index>(), mutations in mutations()) {
        let seeds = spec_seeds();
        let text = &seeds[seed.index(seeds.len())];
        let mutated = mutate(text.clone().into_bytes(), &mutations);
        let _ = read_spec(&String::from_utf8_lossy(&mutated));
    }
}

proptest! {
    #![proptest_config(config(3000))]

    /// Structured text from the YAML alphabet: deep, wide and odd documents more often than
    /// random bytes give them.
    #[test]
    fn spec_reader_survives_yaml_token_soup(tokens in prop::collection::vec(0..TOKENS.len(), 0..400)) {
        let text: String = tokens.iter().map(|&t| TOKENS[t]).collect();
        let _ = read_spec(&text);
    }
}

#[test]
fn spec_reader_seeds_are_valid() {
    // The mutations start from valid specs (else they would test only the first error).
    for text in spec_seeds() {
        let parsed = read_spec(text);
        // Shipped specs name covariance files relative to specs/: resolved from the crate root
        // here, they may be missing; anything else must parse.
        if let Err(e) = &parsed {
            assert!(e.found.contains("covmats"), "{e}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The archive reader and the emulator loader

/// An archive's bytes and its members by name.
type ArchiveAndMembers = (Vec<u8>, BTreeMap<String, Vec<u8>>);

/// A small valid emulator archive (3 parameters, a 12-multipole TT spectrum and two derived
/// parameters from one network) and its members.
fn emulator_archive() -> &'static ArchiveAndMembers {
    static ARCHIVE: OnceLock<ArchiveAndMembers> = OnceLock::new();
    ARCHIVE.get_or_init(|| {
        let params = [("ombh2", 0.020, 0.025), ("omch2", 0.10, 0.14), ("H0", 60.0, 80.0)];
        let yaml = "name: fuzz\nauthor: zelos tests\nversion: 0.0.1\ncode: {name: camb, version: \"2.0.5\"}\n\
                    parameters: {ombh2: [0.020, 0.025], omch2: [0.10, 0.14], H0: [60.0, 80.0]}\n\
                    outputs: {cmb: {spectra: [tt], lmin: 2, lmax: 13}, derived: [sigma8, rdrag]}\n\
                    trust: {method: [box, mahalanobis, hull]}\n";
        let spec = Spec::from_yaml_str(yaml, "fuzz spec").unwrap();
        let rm = RandomModel { n_params: 3, hidden: 2, width: 8, n_out: 14, skip: true, seed: 5, ..Default::default() };
        let (mut description, mut weights) = rm.build::<f32>();
        description.parameters = params.iter().map(|t| t.0.to_string()).collect();
        description.networks[0].outputs = vec![
            OutputDescription { name: "dl_tt".into(), shape: vec![12], axes: vec!["ell".into()] },
            OutputDescription { name: "sigma8".into(), shape: vec![], axes: vec![] },
            OutputDescription { name: "rdrag".into(), shape: vec![], axes: vec![] },
        ];
        weights.tensors.remove("grid.i");
        weights.insert("grid.ell", Tensor::f64(vec![12], (2..=13).map(f64::from).collect()));
        description.grids = [("ell".to_string(), "grid.ell".to_string())].into_iter().collect();
        let lower: Vec<f64> = params.iter().map(|t| t.1).collect();
        let upper: Vec<f64> = params.iter().map(|t| t.2).collect();
        let mut region = EmulatorArchive::box_region(lower.clone(), upper.clone());
        // Training points at the box's corners and centre: the Mahalanobis and hull data.
        let mut points = Vec::new();
        for corner in 0..8 {
            points.extend((0..3).map(|j| if corner >> j & 1 == 1 { upper[j] } else { lower[j] }));
        }
        points.extend((0..3).map(|j| 0.5 * (lower[j] + upper[j])));
        region.insert("points", Tensor::f64(vec![9, 3], points));
        let archive = EmulatorArchive {
            spec,
            model: description,
            weights,
            region,
            report: serde_json::json!({"accuracy": {"dl_tt": [1e-3, 2e-3]}, "data": {"workdir": "/tmp"}}),
            report_md: "# fuzz\n".into(),
            extra: vec![],
        };
        let mut writer = archive.to_writer().unwrap();
        writer.created(0);
        let bytes = writer.to_bytes().unwrap();
        let read = Archive::from_reader(bytes.as_slice(), "fuzz.tar.gz", &Limits::default()).unwrap();
        let emulator = Emulator::from_archive(&read).expect("the seed archive loads");
        let trust = TrustRegion::from_emulator(&emulator).expect("the seed region loads");
        assert_eq!(trust.methods().len(), 3, "every method has its data");
        let members = read.member_names().map(|n| (n.to_string(), read.member(n).unwrap().to_vec())).collect();
        (bytes, members)
    })
}

/// The uncompressed tar stream of the seed archive.
fn seed_tar() -> &'static Vec<u8> {
    static TAR: OnceLock<Vec<u8>> = OnceLock::new();
    TAR.get_or_init(|| {
        use std::io::Read;
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(emulator_archive().0.as_slice()).read_to_end(&mut tar).unwrap();
        tar
    })
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Small limits, so that the size checks are reached too.
fn small_limits() -> Limits {
    Limits { max_member_bytes: 64 << 10, max_total_bytes: 256 << 10, max_members: 32 }
}

/// Reads archive bytes under both the default and small limits, and loads what verifies.
fn read_archive(bytes: &[u8]) {
    for limits in [Limits::default(), small_limits()] {
        if let Ok(archive) = Archive::from_reader(bytes, "fuzz.tar.gz", &limits) {
            use_emulator(&archive);
        }
    }
}

/// Loads an emulator and, if it loads, its trust region, and evaluates both at the box centre.
fn use_emulator(archive: &Archive) {
    let Ok(emulator) = Emulator::from_archive(archive) else { return };
    let (lower, upper) = emulator.bounds();
    let centre: Vec<f64> = lower.iter().zip(upper).map(|(a, b)| 0.5 * (a + b)).collect();
    let _ = emulator.eval(&centre);
    let _ = emulator.eval_batch(&[centre.clone(), centre.clone()].concat(), 2);
    let _ = emulator.jacobian(&centre);
    if let Ok(trust) = TrustRegion::from_emulator(&emulator) {
        let _ = trust.decide(&centre);
    }
}

proptest! {
    #![proptest_config(config(3000))]

    #[test]
    fn archive_reader_survives_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        read_archive(&bytes);
        read_archive(&gzip(&bytes)); // past the gzip layer, into tar
    }

    #[test]
    fn archive_reader_survives_mutated_archives(mutations in mutations()) {
        read_archive(&mutate(emulator_archive().0.clone(), &mutations));
    }

    /// Mutated tar streams, compressed again: past the gzip checksum into tar headers, names,
    /// sizes, padding and the manifest.
    #[test]
    fn archive_reader_survives_mutated_tar_streams(mutations in mutations()) {
        read_archive(&gzip(&mutate(seed_tar().clone(), &mutations)));
    }
}

proptest! {
    #![proptest_config(config(3000))]

    /// One member mutated, the archive written again with a matching manifest: past every
    /// archive check into the spec, model.json, the safetensors headers, the region and the
    /// report, as an emulator loads them.
    #[test]
    fn emulator_loader_survives_mutated_members(member in any::<prop::sample::Index>(), mutations in mutations()) {
        let members = &emulator_archive().1;
        let names: Vec<&String> = members.keys().filter(|n| *n != "manifest.json").collect();
        let name = names[member.index(names.len())];
        let mut writer = ArchiveWriter::new();
        writer.created(0);
        for (n, bytes) in members.iter().filter(|(n, _)| *n != "manifest.json") {
            let bytes = if n == name { mutate(bytes.clone(), &mutations) } else { bytes.clone() };
            writer.add(n, bytes).unwrap();
        }
        let bytes = writer.to_bytes().unwrap();
        let archive = Archive::from_reader(bytes.as_slice(), "fuzz.tar.gz", &Limits::default()).unwrap();
        use_emulator(&archive);
    }
}
