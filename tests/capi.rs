//! The C API: `include/zelos.h` declares every exported function, and a C program
//! (`tests/c/test_capi.c`), compiled with the system C compiler and linked against the cdylib,
//! loads an archive, evaluates, compares with values computed here, checks the Jacobian against
//! finite differences, the trust region and the error paths. The Fortran example of
//! docs/c-api.md (`examples/fortran/zelos_example.f90`), compiled with gfortran, is run the
//! same way and its printed numbers compared with the Rust evaluation.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use zelos::emulator::EmulatorArchive;
use zelos::model::OutputDescription;
use zelos::region::TrustRegion;
use zelos::spec::Spec;
use zelos::tensors::Tensor;
use zelos::testing::{RandomModel, SplitMix};
use zelos::Emulator;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

const PARAMS: [(&str, f64, f64); 6] =
    [("ombh2", 0.020, 0.025), ("omch2", 0.10, 0.14), ("H0", 60.0, 80.0), ("ns", 0.90, 1.00), ("logA", 2.9, 3.2), ("tau", 0.03, 0.09)];

/// The names `pub ... extern "C" fn NAME` exported by src/capi.rs.
fn exported_names() -> Vec<String> {
    let src = std::fs::read_to_string(Path::new(ROOT).join("src/capi.rs")).unwrap();
    src.lines()
        .filter_map(|l| {
            let l = l.trim_start();
            let rest = l.strip_prefix("pub unsafe extern \"C\" fn ").or_else(|| l.strip_prefix("pub extern \"C\" fn "))?;
            Some(rest.split('(').next()?.trim().to_string())
        })
        .collect()
}

#[test]
fn header_declares_every_exported_function() {
    let header = std::fs::read_to_string(Path::new(ROOT).join("include/zelos.h")).unwrap();
    let names = exported_names();
    assert!(names.len() >= 14, "found only {names:?} in src/capi.rs");
    for name in &names {
        assert!(name.starts_with("zelos_"), "exported `{name}` lacks the zelos_ prefix");
        assert!(header.contains(&format!("{name}(")), "include/zelos.h does not declare `{name}`");
    }
    // And every error code constant has the same value in both.
    let src = std::fs::read_to_string(Path::new(ROOT).join("src/capi.rs")).unwrap();
    for line in src.lines().filter(|l| l.starts_with("pub const ZELOS_")) {
        let name = line["pub const ".len()..].split(':').next().unwrap();
        let value = line.rsplit('=').next().unwrap().trim().trim_end_matches(';');
        let declared = header.lines().any(|h| {
            let mut w = h.split_whitespace();
            w.next() == Some("#define") && w.next() == Some(name) && w.next() == Some(value)
        });
        assert!(declared, "include/zelos.h lacks `#define {name} {value}`");
    }
}

/// A 6-parameter CMB TT emulator (dl_tt on ell 2..201) plus two derived outputs.
fn write_archive(path: &Path) {
    let params: String = PARAMS.iter().map(|(n, lo, hi)| format!("  {n}: [{lo:?}, {hi:?}]\n")).collect();
    let yaml = format!(
        "name: capi-test\nauthor: zelos tests\nversion: 0.0.1\ncode:\n  name: camb\n  version: \"2.0.5\"\n\
         parameters:\n{params}outputs:\n  cmb: {{spectra: [tt], lmin: 2, lmax: 201}}\n  derived: [sigma8, rdrag]\n\
         trust:\n  method: [box]\n"
    );
    let spec = Spec::from_yaml_str(&yaml, "test spec").unwrap();
    let rm = RandomModel { n_params: 6, hidden: 2, width: 32, n_out: 202, seed: 3, ..Default::default() };
    let (mut description, mut weights) = rm.build::<f64>();
    description.parameters = PARAMS.iter().map(|t| t.0.to_string()).collect();
    description.networks[0].outputs = vec![
        OutputDescription { name: "dl_tt".into(), shape: vec![200], axes: vec!["ell".into()] },
        OutputDescription { name: "sigma8".into(), shape: vec![], axes: vec![] },
        OutputDescription { name: "rdrag".into(), shape: vec![], axes: vec![] },
    ];
    weights.tensors.remove("grid.i");
    weights.insert("grid.ell", Tensor::f64(vec![200], (2..=201).map(f64::from).collect()));
    description.grids = [("ell".to_string(), "grid.ell".to_string())].into_iter().collect();
    // Input scaling to the box, so that the network sees values of order one.
    let lower: Vec<f64> = PARAMS.iter().map(|t| t.1).collect();
    let upper: Vec<f64> = PARAMS.iter().map(|t| t.2).collect();
    let centre: Vec<f64> = lower.iter().zip(&upper).map(|(a, b)| 0.5 * (a + b)).collect();
    let half: Vec<f64> = lower.iter().zip(&upper).map(|(a, b)| 0.5 * (b - a)).collect();
    weights.insert("input.shift", Tensor::f64(vec![6], centre));
    weights.insert("input.scale", Tensor::f64(vec![6], half));
    let archive = EmulatorArchive {
        spec,
        model: description,
        weights,
        region: EmulatorArchive::box_region(lower, upper),
        report: serde_json::json!({"note": "C API test"}),
        report_md: "# test\n".into(),
        extra: vec![],
    };
    archive.write(path).unwrap();
}

/// The directory holding the cdylib cargo built alongside this test (target/<profile>).
fn library_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let name = format!("{}zelos{}", std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX);
    for dir in [deps, deps.parent().unwrap()] {
        let lib = dir.join(&name);
        if lib.exists() {
            // maturin's build of the same file is the Python extension: it needs libpython.
            let bytes = std::fs::read(&lib).unwrap();
            let python_build = bytes.windows(13).any(|w| w == b"PyInit__zelos");
            assert!(
                !python_build,
                "{} is the Python extension (built by maturin with the `python` feature); \
                 run `cargo build --release --lib` (as `make test` does) before this test",
                lib.display()
            );
            return dir.to_path_buf();
        }
    }
    panic!("{name} not found next to {}; `cargo build` builds it", exe.display());
}

fn fmt_line(v: &[f64]) -> String {
    let mut s = String::new();
    for x in v {
        write!(s, "{x:.17e} ").unwrap();
    }
    s.push('\n');
    s
}

#[test]
fn c_program_loads_evaluates_and_reports_errors() {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    if Command::new(&cc).arg("--version").output().is_err() {
        eprintln!("skipping: no C compiler (`{cc}`) on this machine");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("capi-test.tar.gz");
    write_archive(&archive);
    let emu = Emulator::load(&archive).unwrap();

    let mut rng = SplitMix::new(42);
    let mut point = || -> Vec<f64> { PARAMS.iter().map(|(_, lo, hi)| lo + (hi - lo) * (0.05 + 0.9 * rng.uniform())).collect() };
    let (x1, x2) = (point(), point());
    let mut outside = x1.clone();
    outside[5] = 0.2; // tau above 0.09
    let mut expected = format!("{} {}\n", x1.len(), emu.n_outputs());
    for x in [&x1, &x2] {
        expected += &fmt_line(x);
        expected += &fmt_line(&emu.eval(x).unwrap());
    }
    expected += &fmt_line(&outside);
    let expected_path = dir.path().join("expected.txt");
    std::fs::write(&expected_path, expected).unwrap();

    let libdir = library_dir();
    let exe = dir.path().join("test_capi");
    let compile = Command::new(&cc)
        .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-O1"])
        .arg(Path::new(ROOT).join("tests/c/test_capi.c"))
        .arg("-I")
        .arg(Path::new(ROOT).join("include"))
        .arg("-o")
        .arg(&exe)
        .arg(format!("-L{}", libdir.display()))
        .arg("-lzelos")
        .arg(format!("-Wl,-rpath,{}", libdir.display()))
        .arg("-lm")
        .output()
        .unwrap();
    assert!(compile.status.success(), "compiling test_capi.c failed:\n{}", String::from_utf8_lossy(&compile.stderr));

    let missing = dir.path().join("no-such-emulator.tar.gz");
    let run = Command::new(&exe).arg(&archive).arg(&expected_path).arg(&missing).output().unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    println!("{stdout}");
    assert!(run.status.success() && stdout.trim_end().ends_with("ALL OK"), "test_capi failed ({}):\n{stdout}\n{stderr}", run.status);
    // What the program saw agrees with the Rust side.
    for (j, (name, ..)) in PARAMS.iter().enumerate() {
        assert!(stdout.contains(&format!("param {j} {name}\n")), "parameter {j}:\n{stdout}");
    }
    assert!(stdout.contains("n_parameters 6 n_outputs 202 n_named_outputs 3"), "{stdout}");
    assert!(stdout.contains("output 0 dl_tt offset 0 len 200"), "{stdout}");
    assert!(stdout.contains("output 2 rdrag offset 201 len 1"), "{stdout}");
    assert!(stdout.contains("missing file: code 6 (io)"), "{stdout}");
    assert!(stdout.contains("`tau` = 0.2 > 0.09"), "{stdout}");
}

const FORTRAN_EXAMPLE: &str = "examples/fortran/zelos_example.f90";

/// `gfortran`, if this machine has it. Without it the Fortran test is skipped, saying so on
/// the terminal (written past cargo's output capture), unless CI=true or
/// ZELOS_REQUIRE_FORTRAN=1 (as `.ci/run` sets), where a missing compiler fails the test.
fn fortran_compiler(test: &str) -> Option<&'static str> {
    let fc = "gfortran";
    if Command::new(fc).arg("--version").output().is_ok_and(|o| o.status.success()) {
        return Some(fc);
    }
    let set = |var: &str, values: &[&str]| std::env::var(var).is_ok_and(|v| values.contains(&v.to_ascii_lowercase().as_str()));
    let required = set("CI", &["true", "1"]) || set("ZELOS_REQUIRE_FORTRAN", &["1", "true"]);
    assert!(
        !required,
        "`{fc}` is not on PATH, and CI=true or ZELOS_REQUIRE_FORTRAN=1 asks for the Fortran test: \
         install it (`apt-get install gfortran`; `make test` does so when run as root)"
    );
    // Straight to the terminal: cargo's capture would swallow eprintln! of a passing test.
    let _ = writeln!(
        std::io::stderr(),
        "\n{test}: SKIPPED: `{fc}` is not on PATH (Debian: `apt-get install gfortran`; \
         `make test` installs it when run as root). Set CI=true to make this a failure."
    );
    None
}

/// Runs the compiled example with these arguments: (succeeded, stdout).
fn run_example(exe: &Path, args: &[String]) -> (bool, String) {
    let run = Command::new(exe).args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&run.stderr);
    println!("$ zelos_example {}\n{stdout}{stderr}", args.join(" "));
    (run.status.success(), stdout)
}

/// The numbers after `prefix` on the line that starts with it.
fn numbers_after(stdout: &str, prefix: &str) -> Vec<f64> {
    let line = stdout.lines().find_map(|l| l.strip_prefix(prefix)).unwrap_or_else(|| panic!("no line `{prefix}...` in:\n{stdout}"));
    line.split_whitespace().map(|w| w.parse().unwrap_or_else(|e| panic!("`{w}` in `{prefix}{line}`: {e}"))).collect()
}

/// Checks the example's output at `x`: the description, the trust decision and every output and
/// Jacobian entry, against the Rust side. The numbers are printed with 18 significant digits, so
/// they must agree bit for bit with what `Emulator::eval` and `Emulator::jacobian` give.
fn check_example_output(stdout: &str, emu: &Emulator, x: &[f64]) {
    let p = x.len();
    assert!(stdout.starts_with(&format!("n_parameters {p} n_outputs {} n_named_outputs {}\n", emu.n_outputs(), emu.outputs().len())), "{stdout}");
    for (j, name) in emu.parameters().iter().enumerate() {
        let v = numbers_after(stdout, &format!("parameter {} {name} = ", j + 1));
        assert_eq!(v, [x[j]], "parameter {name} as the example read it");
    }
    for (k, o) in emu.outputs().iter().enumerate() {
        let line = format!("output {k} {} offset {} len {}\n", o.name, o.offset, o.len());
        assert!(stdout.contains(&line), "no `{}` in:\n{stdout}", line.trim_end());
    }
    let decision = TrustRegion::from_emulator(emu).unwrap().decide(x).unwrap();
    if decision.inside {
        assert_eq!(numbers_after(stdout, "trust: inside, distance "), [decision.distance()], "trust distance");
    } else {
        let line = format!("trust: outside: {}: {}\n", emu.name(), decision.reason());
        assert!(stdout.contains(&line), "no `{}` in:\n{stdout}", line.trim_end());
    }
    let values = emu.eval(x).unwrap();
    let (jac_values, jac) = emu.jacobian(x).unwrap();
    assert_eq!(values, jac_values);
    for (i, v) in values.iter().enumerate() {
        let got = numbers_after(stdout, &format!("out {} ", i + 1));
        assert_eq!(got.len(), 1 + p, "out {}: {got:?}", i + 1);
        assert_eq!(got[0], *v, "output {i}: Fortran {} vs Rust {v}", got[0]);
        for j in 0..p {
            let want = jac[i * p + j];
            assert_eq!(got[1 + j], want, "d out[{i}] / d x[{j}]: Fortran {} vs Rust {want}", got[1 + j]);
        }
    }
    assert!(!stdout.contains(&format!("out {} ", values.len() + 1)), "more outputs than {}:\n{stdout}", values.len());
    assert_eq!(numbers_after(stdout, "jacobian's outputs differ from eval's by at most "), [0.0]);
}

#[test]
fn fortran_example_loads_evaluates_and_reports_errors() {
    let Some(fc) = fortran_compiler("fortran_example_loads_evaluates_and_reports_errors") else { return };
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("capi-test.tar.gz");
    write_archive(&archive);
    let emu = Emulator::load(&archive).unwrap();

    // Compiled as docs/c-api.md says, plus strict standard conformance and runtime checks; the
    // module file goes to the temporary directory.
    let libdir = library_dir();
    let exe = dir.path().join("zelos_example");
    let compile = Command::new(fc)
        .current_dir(dir.path())
        .args(["-std=f2018", "-Wall", "-Wextra", "-Werror", "-fcheck=all", "-O1"])
        .arg(Path::new(ROOT).join(FORTRAN_EXAMPLE))
        .arg("-J")
        .arg(dir.path())
        .arg("-o")
        .arg(&exe)
        .arg(format!("-L{}", libdir.display()))
        .arg("-lzelos")
        .arg(format!("-Wl,-rpath,{}", libdir.display()))
        .output()
        .unwrap();
    assert!(compile.status.success(), "compiling {FORTRAN_EXAMPLE} failed:\n{}", String::from_utf8_lossy(&compile.stderr));

    let arch = archive.display().to_string();
    let args = |x: &[f64]| -> Vec<String> { std::iter::once(arch.clone()).chain(x.iter().map(|v| format!("{v:e}"))).collect() };
    let mut rng = SplitMix::new(7);
    let mut point = || -> Vec<f64> { PARAMS.iter().map(|(_, lo, hi)| lo + (hi - lo) * (0.05 + 0.9 * rng.uniform())).collect() };

    // Two points inside the box.
    for x in [point(), point()] {
        let (ok, stdout) = run_example(&exe, &args(&x));
        assert!(ok, "zelos_example failed:\n{stdout}");
        check_example_output(&stdout, &emu, &x);
    }

    // Outside (tau above 0.09): the trust region says why, and the outputs are still given.
    let mut outside = point();
    outside[5] = 0.2;
    let (ok, stdout) = run_example(&exe, &args(&outside));
    assert!(ok, "zelos_example failed:\n{stdout}");
    assert!(stdout.contains("`tau` = 0.2 > 0.09"), "{stdout}");
    check_example_output(&stdout, &emu, &outside);

    // Errors: a missing archive (zelos' code and message), a point of the wrong length.
    let missing = dir.path().join("no-such-emulator.tar.gz");
    let (ok, stdout) = run_example(&exe, &[missing.display().to_string(), "1".into()]);
    assert!(!ok, "loading a missing archive succeeded:\n{stdout}");
    let line = format!("zelos: loading {} failed: code 6 (io): {}", missing.display(), missing.display());
    assert!(stdout.starts_with(&line) && stdout.contains("No such file"), "no `{line}...` in:\n{stdout}");
    let (ok, stdout) = run_example(&exe, &args(&outside[..5]));
    assert!(!ok && stdout.contains("give the point: 6 numbers"), "{stdout}");
}

/// docs/c-api.md shows the Fortran example verbatim, right after a line naming its file: the
/// text must be that of the file the test above compiles.
#[test]
fn docs_show_the_tested_fortran_example() {
    let docs = std::fs::read_to_string(Path::new(ROOT).join("docs/c-api.md")).unwrap();
    let example = std::fs::read_to_string(Path::new(ROOT).join(FORTRAN_EXAMPLE)).unwrap();
    let marker = format!("(../{FORTRAN_EXAMPLE})");
    let at = docs.find(&marker).unwrap_or_else(|| panic!("docs/c-api.md does not link {FORTRAN_EXAMPLE}"));
    let block = docs[at..].split_once("```fortran\n").and_then(|(_, rest)| rest.split_once("```\n")).map(|(b, _)| b);
    let block = block.unwrap_or_else(|| panic!("no ```fortran block after the link to {FORTRAN_EXAMPLE} in docs/c-api.md"));
    if block != example {
        let (n, (shown, file)) = block
            .lines()
            .map(Some)
            .chain(std::iter::repeat(None))
            .zip(example.lines().map(Some).chain(std::iter::repeat(None)))
            .enumerate()
            .find(|(_, (a, b))| a != b)
            .unwrap_or((0, (None, None)));
        panic!(
            "the ```fortran block after the link to {FORTRAN_EXAMPLE} in docs/c-api.md is not that file \
             (copy the file into it); first difference, line {}:\n  docs: {shown:?}\n  file: {file:?}",
            n + 1
        );
    }
}

/// The example's module declares every exported function, with the C name.
#[test]
fn fortran_module_binds_every_exported_function() {
    let example = std::fs::read_to_string(Path::new(ROOT).join(FORTRAN_EXAMPLE)).unwrap();
    for name in exported_names() {
        assert!(example.contains(&format!("bind(C, name=\"{name}\")")), "{FORTRAN_EXAMPLE} has no interface to `{name}`");
    }
}
