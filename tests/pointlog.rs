//! The point log: round trip of the documented format, concurrent loggers, appending, torn
//! final lines, and a process killed (SIGKILL) while logging: every record it had seen
//! acknowledged is on disk.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::Arc;

use zelos::pointlog::{read_point_log, NamedArray, PointLog, PointLogOptions, PointRecord};
use zelos::router::Fallback;

fn record(i: usize) -> PointRecord {
    PointRecord {
        parameters: vec![("omch2".into(), 0.12 + i as f64 * 1e-3), ("ombh2".into(), 0.0224), ("H0".into(), 67.0 + 0.1 * i as f64)],
        reason: "outside_every_region".into(),
        detail: format!("mahalanobis distance {} > threshold 3.7", 4.0 + i as f64),
        // JSON numbers (distance, time) read back to within a rounding unit in some parsers; the
        // exact fields are the parameters and outputs (base64).
        distance: Some(i as f64 / 8.0),
        nearest: Some("cmb".into()),
        outputs: vec![
            NamedArray { name: "dl_tt".into(), shape: vec![5], values: (0..5).map(|k| (k * i) as f64 / 7.0).collect() },
            NamedArray { name: "pk_lin".into(), shape: vec![2, 3], values: (0..6).map(|k| 1e4 / (1.0 + k as f64 + i as f64)).collect() },
            NamedArray { name: "rdrag".into(), shape: vec![], values: vec![147.09 + i as f64] },
        ],
    }
}

#[test]
fn records_round_trip_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let log = PointLog::open(dir.path()).unwrap();
    let name = log.path().file_name().unwrap().to_str().unwrap().to_string();
    assert!(name.starts_with("points.") && name.ends_with(&format!(".{}.jsonl", std::process::id())), "{name}");
    let mut odd = record(3);
    odd.parameters.push(("w".into(), f64::NAN));
    odd.parameters.push(("wa".into(), f64::NEG_INFINITY));
    odd.distance = None;
    odd.nearest = None;
    odd.outputs[0].values[1] = f64::NAN;
    for i in 0..3 {
        assert_eq!(log.log(record(i)).unwrap(), i as u64);
    }
    assert_eq!(log.log(odd.clone()).unwrap(), 3);
    log.flush().unwrap();
    assert_eq!(log.acknowledged(), 4);
    let back = read_point_log(dir.path()).unwrap();
    assert_eq!(back.files.len(), 1);
    assert_eq!(back.torn, 0);
    assert_eq!(back.points.len(), 4);
    for i in 0..3 {
        assert_eq!(back.points[i].record, record(i));
        assert_eq!(back.points[i].seq, i as u64);
        assert_eq!(back.points[i].pid, std::process::id() as u64);
        assert!(!back.points[i].host.is_empty());
    }
    let got = &back.points[3].record;
    assert!(got.parameters[3].1.is_nan() && got.parameters[4].1 == f64::NEG_INFINITY);
    assert!(got.outputs[0].values[1].is_nan());
    assert_eq!(got.distance, None);
    // Each record is one line; parameters keep their order.
    let text = std::fs::read_to_string(log.path()).unwrap();
    assert_eq!(text.lines().count(), 5);
    assert!(text.lines().nth(1).unwrap().contains(r#""parameters":{"names":["omch2","ombh2","H0"],"values":[0.12,0.0224,67.0],"f64le":"#), "{text}");
    assert!(text.lines().nth(4).unwrap().contains(r#""values":[0.123,0.0224,67.3,"nan","-inf"],"f64le":"#), "{text}");
}

#[test]
fn loggers_on_many_threads_each_get_their_record_written_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(PointLog::open(dir.path()).unwrap());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || (0..250).map(|i| log.log(record(t * 1000 + i)).unwrap()).collect::<Vec<u64>>())
        })
        .collect();
    let mut seqs: Vec<u64> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    log.flush().unwrap();
    seqs.sort();
    assert_eq!(seqs, (0..1000).collect::<Vec<u64>>());
    let back = read_point_log(dir.path()).unwrap();
    assert_eq!(back.points.iter().map(|p| p.seq).collect::<Vec<_>>(), (0..1000).collect::<Vec<u64>>(), "file order is seq order");
}

#[test]
fn reopening_appends_and_closing_stops_logging() {
    let dir = tempfile::tempdir().unwrap();
    let opts = PointLogOptions { sync: true, file_name: Some("points.test.1.jsonl".into()) };
    {
        let log = PointLog::open_with(dir.path(), opts.clone()).unwrap();
        log.log(record(1)).unwrap();
        // Dropped without flush: the drop writes what is queued.
    }
    let log = PointLog::open_with(dir.path(), opts).unwrap();
    log.log(record(2)).unwrap();
    log.close().unwrap();
    let e = log.log(record(3)).unwrap_err();
    assert!(e.to_string().ends_with("the point log is closed"), "{e}");
    let back = read_point_log(dir.path()).unwrap();
    assert_eq!(back.points.iter().map(|p| (p.seq, p.record.clone())).collect::<Vec<_>>(), vec![(0, record(1)), (0, record(2))]);
    let text = std::fs::read_to_string(dir.path().join("points.test.1.jsonl")).unwrap();
    assert_eq!(text.lines().filter(|l| l.starts_with(r#"{"zelos_point_log":1,"#)).count(), 2, "a header per opening");
}

#[test]
fn a_torn_final_line_is_skipped_and_a_corrupt_line_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let log = PointLog::open(dir.path()).unwrap();
    log.log(record(1)).unwrap();
    log.close().unwrap();
    let mut f = std::fs::OpenOptions::new().append(true).open(log.path()).unwrap();
    f.write_all(br#"{"seq":1,"time":1.0,"reason":"outside_ev"#).unwrap();
    let back = read_point_log(dir.path()).unwrap();
    assert_eq!((back.points.len(), back.torn), (1, 1));
    f.write_all(b"\n").unwrap();
    let e = read_point_log(dir.path()).unwrap_err().to_string();
    assert!(e.contains("line 3: not JSON"), "{e}");
}

#[test]
fn records_from_fallbacks() {
    let f = Fallback::OutsideEveryRegion { nearest: "cmb".into(), distance: 0.5, reason: "outside the box: `tau` = 0.2 > 0.09".into() };
    let r = PointRecord::from_fallback(vec![("tau".into(), 0.2)], &f, vec![]);
    assert_eq!(r.reason, "outside_every_region");
    assert_eq!(r.nearest.as_deref(), Some("cmb"));
    assert_eq!(r.distance, Some(0.5));
    assert_eq!(r.detail, "outside every trust region; nearest: `cmb` (0.5000 beyond it): outside the box: `tau` = 0.2 > 0.09");
    let r = PointRecord::from_fallback(vec![], &Fallback::NonFiniteInput { name: "H0".into() }, vec![]);
    assert_eq!((r.reason.as_str(), r.nearest, r.distance), ("non_finite_input", None, None));
}

// ---------------------------------------------------------------------------------------------
// A process killed while logging.

const CHILD_ENV: &str = "ZELOS_POINTLOG_CHILD_DIR";

/// In the child process only (the parent test below sets the variable): log records as fast
/// as possible, printing `ack N` whenever the acknowledged count grows, until killed.
#[test]
fn child_process_logger() {
    let Ok(dir) = std::env::var(CHILD_ENV) else { return };
    let log = PointLog::open(Path::new(&dir)).unwrap();
    let mut out = std::io::stdout();
    let mut last = 0;
    for i in 0.. {
        log.log(record(i)).unwrap();
        let a = log.acknowledged();
        if a > last {
            last = a;
            writeln!(out, "ack {a}").unwrap();
            out.flush().unwrap();
        }
    }
}

#[cfg(unix)]
#[test]
fn every_acknowledged_record_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..3 {
        let sub = dir.path().join(format!("run{round}"));
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["child_process_logger", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &sub)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut acked = 0u64;
        let target = 200 + 300 * round as u64;
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if let Some(n) = line.strip_prefix("ack ") {
                acked = n.parse().unwrap();
                if acked >= target {
                    break;
                }
            }
        }
        // SIGKILL: no destructor, no flush.
        let status = std::process::Command::new("kill").args(["-9", &child.id().to_string()]).status().unwrap();
        assert!(status.success());
        child.wait().unwrap();
        let back = read_point_log(&sub).unwrap();
        assert!(acked >= target, "the child acknowledged {acked}");
        assert!(back.points.len() as u64 >= acked, "{} on disk, {acked} acknowledged", back.points.len());
        for (i, p) in back.points.iter().enumerate() {
            assert_eq!(p.seq, i as u64);
            assert_eq!(p.record, record(i), "record {i} intact");
        }
        assert!(back.torn <= 1);
    }
}
