//! The archive container: one test per rule of docs/archive.md, built from hand-made tar bytes
//! (this file writes tar headers itself, so the reader is not only tested against the tar
//! crate's own writer), plus round-trip, determinism, atomicity and extraction tests.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;
use proptest::prelude::*;
use sha2::{Digest, Sha256};
use zelos::archive::{
    Archive, ArchiveError, ArchiveWriter, Limits, MemberEntry, NameProblem, FORMAT_VERSION,
    MANIFEST, REQUIRED_MEMBERS,
};

const ORIGIN: &str = "test.tar.gz";
/// 2000-02-29T00:00:00Z: a leap day, to check the date arithmetic too.
const CREATED: u64 = 951_782_400;

// ---------------------------------------------------------------------------------------------
// Hand-made tar bytes

/// One tar entry as written by [`tar_bytes`]: a raw name, a type flag and contents.
#[derive(Clone)]
struct Entry {
    name: Vec<u8>,
    kind: u8,
    data: Vec<u8>,
    link: Vec<u8>,
}

fn file(name: &str, data: &[u8]) -> Entry {
    raw_file(name.as_bytes(), data)
}

fn raw_file(name: &[u8], data: &[u8]) -> Entry {
    Entry { name: name.to_vec(), kind: b'0', data: data.to_vec(), link: Vec::new() }
}

fn special(name: &str, kind: u8, link: &str) -> Entry {
    Entry { name: name.as_bytes().to_vec(), kind, data: Vec::new(), link: link.as_bytes().to_vec() }
}

/// A ustar header; names over 100 bytes need [`push_entry`]'s GNU long-name entry.
fn header(name: &[u8], kind: u8, size: u64, link: &[u8]) -> [u8; 512] {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name);
    put_octal(&mut h[100..108], 0o644);
    put_octal(&mut h[108..116], 0);
    put_octal(&mut h[116..124], 0);
    put_octal(&mut h[124..136], size);
    put_octal(&mut h[136..148], 0);
    h[156] = kind;
    h[157..157 + link.len()].copy_from_slice(link);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    // The checksum is taken with its own field read as spaces; stored as 6 digits, NUL, space.
    h[148..156].fill(b' ');
    let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
    put_octal(&mut h[148..155], sum);
    h
}

/// Octal digits padded with zeros, then a NUL.
fn put_octal(field: &mut [u8], value: u64) {
    let digits = format!("{value:0width$o}", width = field.len() - 1);
    field[..digits.len()].copy_from_slice(digits.as_bytes());
    field[digits.len()] = 0;
}

/// Header, contents, zero padding to a 512-byte boundary.
fn push_raw(tar: &mut Vec<u8>, name: &[u8], kind: u8, data: &[u8], link: &[u8]) {
    tar.extend_from_slice(&header(name, kind, data.len() as u64, link));
    tar.extend_from_slice(data);
    tar.resize(tar.len().next_multiple_of(512), 0);
}

fn push_entry(tar: &mut Vec<u8>, entry: &Entry) {
    let mut name = entry.name.as_slice();
    if name.len() > 100 {
        let mut long = name.to_vec();
        long.push(0);
        push_raw(tar, b"././@LongLink", b'L', &long, b"");
        name = &name[..100];
    }
    push_raw(tar, name, entry.kind, &entry.data, &entry.link);
}

/// A complete tar stream: the entries, then the end-of-archive marker.
fn tar_bytes(entries: &[Entry]) -> Vec<u8> {
    let mut tar = Vec::new();
    for entry in entries {
        push_entry(&mut tar, entry);
    }
    tar.extend_from_slice(&[0; 1024]);
    tar
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// The required members with small stand-in contents.
fn required() -> Vec<Entry> {
    REQUIRED_MEMBERS
        .iter()
        .map(|name| file(name, format!("contents of {name}").as_bytes()))
        .collect()
}

/// A manifest listing the regular files among `entries`.
fn manifest_for(entries: &[Entry]) -> Entry {
    let members: BTreeMap<String, MemberEntry> = entries
        .iter()
        .filter(|e| e.kind == b'0')
        .map(|e| (String::from_utf8_lossy(&e.name).into_owned(), MemberEntry::of(&e.data)))
        .collect();
    let json = serde_json::json!({
        "format": "zelos-archive",
        "format_version": 1,
        "created": "2024-05-01T12:00:00Z",
        "members": members,
    });
    file(MANIFEST, json.to_string().as_bytes())
}

/// The manifest first (listing every regular file), then the required members and `extra`.
fn archive_with(extra: Vec<Entry>) -> Vec<u8> {
    let mut entries = required();
    entries.extend(extra);
    entries.insert(0, manifest_for(&entries));
    gzip(&tar_bytes(&entries))
}

fn read(bytes: &[u8]) -> Result<Archive, ArchiveError> {
    Archive::from_reader(bytes, ORIGIN, &Limits::default())
}

fn read_limited(bytes: &[u8], limits: Limits) -> Result<Archive, ArchiveError> {
    Archive::from_reader(bytes, ORIGIN, &limits)
}

fn read_err(bytes: &[u8]) -> ArchiveError {
    read(bytes).expect_err("the archive should be refused")
}

/// A writer holding the required members and a pinned `created` time.
fn writer() -> ArchiveWriter {
    let mut writer = ArchiveWriter::new();
    writer.created(CREATED);
    for entry in required() {
        writer.add(std::str::from_utf8(&entry.name).unwrap(), entry.data).unwrap();
    }
    writer
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

// ---------------------------------------------------------------------------------------------
// Broken archives, shared by the Rust tests and the test of the documented Python reader

/// The valid entries: the manifest first, then the required members.
fn valid_entries() -> Vec<Entry> {
    let mut entries = required();
    entries.insert(0, manifest_for(&entries));
    entries
}

/// One bit of the first required member changed after the manifest was made.
fn tampered() -> Vec<u8> {
    let mut entries = valid_entries();
    entries[1].data[0] ^= 1;
    gzip(&tar_bytes(&entries))
}

fn duplicated() -> Vec<u8> {
    let mut entries = valid_entries();
    entries.push(entries[1].clone());
    gzip(&tar_bytes(&entries))
}

fn unlisted() -> Vec<u8> {
    let mut entries = valid_entries();
    entries.push(file("smuggled", b"x"));
    gzip(&tar_bytes(&entries))
}

/// The valid archive without required member `name` (and without its manifest entry).
fn without(name: &str) -> Vec<u8> {
    let mut entries = required();
    entries.retain(|e| e.name != name.as_bytes());
    entries.insert(0, manifest_for(&entries));
    gzip(&tar_bytes(&entries))
}

fn listing_itself() -> Vec<u8> {
    let mut json = manifest_json();
    json["members"][MANIFEST] = serde_json::json!({"sha256": "0".repeat(64), "size": 1});
    with_manifest(json)
}

fn with_version(version: u64) -> Vec<u8> {
    let mut json = manifest_json();
    json["format_version"] = version.into();
    with_manifest(json)
}

/// A member after the end-of-archive marker, seen only by readers that skip zero blocks.
fn hidden_after_end() -> Vec<u8> {
    let mut tar = tar_bytes(&valid_entries());
    push_raw(&mut tar, b"hidden.sh", b'0', b"rm -rf /", b"");
    gzip(&tar)
}

fn with_trailing_gzip() -> Vec<u8> {
    let mut bytes = writer().to_bytes().unwrap();
    bytes.extend_from_slice(&gzip(b"a second gzip member"));
    bytes
}

fn truncated_gzip() -> Vec<u8> {
    let bytes = writer().to_bytes().unwrap();
    bytes[..bytes.len() - 5].to_vec()
}

fn with_manifest(json: serde_json::Value) -> Vec<u8> {
    let mut entries = required();
    entries.insert(0, file(MANIFEST, json.to_string().as_bytes()));
    gzip(&tar_bytes(&entries))
}

/// The manifest of the required members as JSON, to edit.
fn manifest_json() -> serde_json::Value {
    let manifest = manifest_for(&required());
    serde_json::from_slice(&manifest.data).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Valid archives

#[test]
fn writer_output_reads_back() {
    let mut writer = writer();
    writer.add("plots/error_tt.png", vec![1, 2, 3]).unwrap();
    let bytes = writer.to_bytes().unwrap();
    let archive = read(&bytes).unwrap();

    let mut expected: Vec<&str> = REQUIRED_MEMBERS.to_vec();
    expected.extend([MANIFEST, "plots/error_tt.png"]);
    expected.sort();
    assert_eq!(archive.member_names().collect::<Vec<_>>(), expected);
    assert_eq!(archive.member("plots/error_tt.png"), Some(&[1u8, 2, 3][..]));
    assert_eq!(archive.require("spec.yaml").unwrap(), b"contents of spec.yaml");
    assert_eq!(archive.origin(), ORIGIN);
    assert_eq!(archive.sha256(), sha256_hex(&bytes));

    let manifest = archive.manifest();
    assert_eq!(manifest.format, "zelos-archive");
    assert_eq!(manifest.format_version, FORMAT_VERSION);
    assert_eq!(manifest.created, "2000-02-29T00:00:00Z");
    assert_eq!(manifest.members.len(), REQUIRED_MEMBERS.len() + 1);
    assert!(!manifest.members.contains_key(MANIFEST));
    assert_eq!(manifest.members["plots/error_tt.png"], MemberEntry::of(&[1, 2, 3]));
}

#[test]
fn hand_made_archive_reads_and_directories_are_skipped() {
    let bytes = archive_with(vec![
        special("plots/", b'5', ""),
        file("plots/error_tt.png", b"png"),
        special("empty", b'5', ""),
    ]);
    let archive = read(&bytes).unwrap();
    assert_eq!(archive.member("plots/error_tt.png"), Some(&b"png"[..]));
    assert!(archive.member("plots").is_none() && archive.member("empty").is_none());
}

#[test]
fn long_names_up_to_255_bytes_are_accepted() {
    let name = format!("{}/{}", "a".repeat(150), "b".repeat(104));
    assert_eq!(name.len(), 255);
    // Hand-made with a GNU long-name entry, and through the writer.
    let archive = read(&archive_with(vec![file(&name, b"x")])).unwrap();
    assert_eq!(archive.member(&name), Some(&b"x"[..]));
    let mut writer = writer();
    writer.add(&name, b"y".to_vec()).unwrap();
    assert_eq!(read(&writer.to_bytes().unwrap()).unwrap().member(&name), Some(&b"y"[..]));
}

#[test]
fn read_from_a_path_names_the_path_and_hashes_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.tar.gz");
    let sha = writer().write(&path).unwrap();
    assert_eq!(sha, sha256_hex(&fs::read(&path).unwrap()));
    let archive = Archive::read(&path).unwrap();
    assert_eq!(archive.sha256(), sha);
    assert_eq!(archive.origin(), path.display().to_string());

    let missing = dir.path().join("absent.tar.gz");
    assert!(matches!(Archive::read(&missing), Err(ArchiveError::Io { .. })));
}

#[test]
fn created_is_rfc3339_utc() {
    for (seconds, expected) in [
        (0, "1970-01-01T00:00:00Z"),
        (CREATED, "2000-02-29T00:00:00Z"),
        (1_714_564_800 + 3_723, "2024-05-01T13:02:03Z"),
        (u64::MAX, "9999-12-31T23:59:59Z"),
    ] {
        let mut w = writer();
        w.created(seconds);
        assert_eq!(read(&w.to_bytes().unwrap()).unwrap().manifest().created, expected);
    }
}

#[test]
fn require_names_archive_and_member() {
    let archive = read(&writer().to_bytes().unwrap()).unwrap();
    let err = archive.require("plots/missing.png").unwrap_err();
    assert!(matches!(err, ArchiveError::MissingRequired { .. }));
    assert_eq!(err.to_string(), "test.tar.gz: required member `plots/missing.png` is missing");
}

// ---------------------------------------------------------------------------------------------
// Hashes and sizes

#[test]
fn changed_byte_in_a_member_is_a_hash_mismatch() {
    let err = read_err(&tampered());
    let original = valid_entries().remove(1);
    let mut changed = original.data.clone();
    changed[0] ^= 1;
    let name = String::from_utf8(original.name).unwrap();
    let (expected, found) = (sha256_hex(&original.data), sha256_hex(&changed));
    match &err {
        ArchiveError::HashMismatch { name: n, expected: e, found: f, .. } => {
            assert_eq!((n, e, f), (&name, &expected, &found));
        }
        other => panic!("expected a hash mismatch, got {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        format!(
            "test.tar.gz: member `{name}` has sha256 {}…, the manifest says {}…",
            &found[..12],
            &expected[..12]
        )
    );
}

#[test]
fn changed_size_is_a_size_mismatch() {
    let mut entries = valid_entries();
    entries[2].data.push(b'!');
    let err = read_err(&gzip(&tar_bytes(&entries)));
    assert!(
        matches!(err, ArchiveError::SizeMismatch { expected, found, .. } if found == expected + 1)
    );
}

// ---------------------------------------------------------------------------------------------
// Member names

#[test]
fn parent_component_leaves_the_archive() {
    for name in ["../x", "a/../../x", "a/.."] {
        let err = read_err(&archive_with(vec![file(name, b"x")]));
        assert!(matches!(err, ArchiveError::PathLeavesArchive { .. }), "{name}: {err}");
    }
    let err = read_err(&archive_with(vec![file("../x", b"x")]));
    assert_eq!(err.to_string(), "test.tar.gz: member `../x` has a path that leaves the archive");
}

#[test]
fn absolute_path_is_refused() {
    let err = read_err(&archive_with(vec![file("/etc/passwd", b"x")]));
    assert!(matches!(err, ArchiveError::AbsolutePath { ref name, .. } if name == "/etc/passwd"));
    assert_eq!(err.to_string(), "test.tar.gz: member `/etc/passwd` has an absolute path");
}

#[test]
fn invalid_names_are_refused_with_the_problem() {
    let cases: Vec<(Vec<u8>, NameProblem)> = vec![
        (b"a//b".to_vec(), NameProblem::EmptyComponent),
        (b"a/".to_vec(), NameProblem::EmptyComponent),
        (b"./a".to_vec(), NameProblem::DotComponent),
        (b"a/./b".to_vec(), NameProblem::DotComponent),
        (b"a\\b".to_vec(), NameProblem::Backslash),
        (b"..\\x".to_vec(), NameProblem::Backslash),
        (b"a b".to_vec(), NameProblem::BadCharacter(' ')),
        (b"C:x".to_vec(), NameProblem::BadCharacter(':')),
        ("caf\u{e9}".as_bytes().to_vec(), NameProblem::BadCharacter('\u{e9}')),
        (b"bad\xff".to_vec(), NameProblem::NotUtf8),
        (vec![b'a'; 256], NameProblem::TooLong(256)),
    ];
    for (name, problem) in cases {
        let err = read_err(&archive_with(vec![raw_file(&name, b"x")]));
        match err {
            ArchiveError::InvalidName { problem: p, .. } => {
                assert_eq!(p, problem, "{}", String::from_utf8_lossy(&name))
            }
            other => {
                panic!("{}: expected an invalid name, got {other}", String::from_utf8_lossy(&name))
            }
        }
    }
}

#[test]
fn empty_name_is_refused() {
    let err = read_err(&archive_with(vec![file("", b"x")]));
    assert!(matches!(err, ArchiveError::InvalidName { problem: NameProblem::Empty, .. }), "{err}");
}

#[test]
fn control_characters_are_escaped_in_messages() {
    let err = read_err(&archive_with(vec![file("a\nb", b"x")]));
    assert_eq!(
        err.to_string(),
        "test.tar.gz: member `a\\nb` has an invalid name: it contains '\\n'; allowed are A-Z a-z \
         0-9 _ . - and `/` between folders"
    );
}

// ---------------------------------------------------------------------------------------------
// Entry types

#[test]
fn only_regular_files_are_allowed() {
    let cases = [
        (special("link", b'2', "spec.yaml"), "symbolic link"),
        (special("hard", b'1', "spec.yaml"), "hard link"),
        (special("tty", b'3', ""), "character device"),
        (special("disk", b'4', ""), "block device"),
        (special("pipe", b'6', ""), "fifo"),
        (special("cont", b'7', ""), "contiguous file"),
        (special("glob", b'g', ""), "pax global header"),
        (special("odd", b'Z', ""), "tar entry of type 'Z'"),
    ];
    for (entry, kind) in cases {
        let err = read_err(&archive_with(vec![entry]));
        match &err {
            ArchiveError::NotARegularFile { kind: k, .. } => assert_eq!(k, kind),
            other => panic!("{kind}: expected a refused entry type, got {other}"),
        }
    }
    let err = read_err(&archive_with(vec![special("link", b'2', "/etc/passwd")]));
    assert_eq!(
        err.to_string(),
        "test.tar.gz: member `link` is a symbolic link; only regular files are allowed"
    );
}

#[test]
fn symlink_with_escaping_name_is_refused_by_name_first() {
    let err = read_err(&archive_with(vec![special("../link", b'2', "/etc")]));
    assert!(matches!(err, ArchiveError::PathLeavesArchive { .. }), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Duplicates and conflicts

#[test]
fn duplicate_member_is_refused() {
    let err = read_err(&duplicated());
    assert!(matches!(err, ArchiveError::DuplicateMember { .. }), "{err}");
    assert!(err.to_string().ends_with("appears more than once"));
}

#[test]
fn duplicate_manifest_is_refused() {
    let mut entries = required();
    let manifest = manifest_for(&entries);
    entries.insert(0, manifest.clone());
    entries.push(manifest);
    let err = read_err(&gzip(&tar_bytes(&entries)));
    assert!(matches!(err, ArchiveError::DuplicateMember { ref name, .. } if name == MANIFEST));
}

#[test]
fn member_below_a_file_member_is_refused() {
    let err = read_err(&archive_with(vec![file("plots", b"x"), file("plots/a.png", b"y")]));
    match err {
        ArchiveError::FileFolderConflict { name, parent, .. } => {
            assert_eq!((name.as_str(), parent.as_str()), ("plots/a.png", "plots"));
        }
        other => panic!("expected a file/folder conflict, got {other}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Limits

#[test]
fn oversize_member_is_refused() {
    let bytes = archive_with(vec![file("big.bin", &[7; 100])]);
    let limits = Limits { max_member_bytes: 99, ..Limits::default() };
    let err = read_limited(&bytes, limits).unwrap_err();
    // The manifest (sorted first in this archive) is larger than 99 bytes too; either way
    // the rule is the per-member limit.
    assert!(matches!(err, ArchiveError::MemberTooLarge { limit: 99, .. }), "{err}");

    let limits = Limits { max_member_bytes: 1000, ..Limits::default() };
    let bytes = archive_with(vec![file("big.bin", &[7; 1001])]);
    let err = read_limited(&bytes, limits).unwrap_err();
    assert!(matches!(err, ArchiveError::MemberTooLarge { ref name, .. } if name == "big.bin"));
    assert_eq!(
        err.to_string(),
        "test.tar.gz: member `big.bin` is larger than the limit of 1000 bytes"
    );
}

#[test]
fn total_size_is_limited() {
    let bytes = archive_with(vec![file("a.bin", &[1; 3000]), file("b.bin", &[2; 3000])]);
    let limits = Limits { max_total_bytes: 5000, ..Limits::default() };
    let err = read_limited(&bytes, limits).unwrap_err();
    assert!(matches!(err, ArchiveError::TotalTooLarge { limit: 5000, .. }), "{err}");
}

#[test]
fn member_count_is_limited() {
    let extra: Vec<Entry> = (0..10).map(|i| file(&format!("extra/{i}.txt"), b"x")).collect();
    let bytes = archive_with(extra);
    let limits = Limits { max_members: 16, ..Limits::default() };
    let err = read_limited(&bytes, limits).unwrap_err();
    assert!(matches!(err, ArchiveError::TooManyMembers { limit: 16, .. }), "{err}");
    assert_eq!(err.to_string(), "test.tar.gz: more than 16 members");
    // 1 manifest + 6 required + 10 extra = 17 entries: exactly at the limit is fine.
    read_limited(&bytes, Limits { max_members: 17, ..Limits::default() }).unwrap();
}

#[test]
fn directories_count_towards_the_member_limit() {
    let bytes = archive_with(vec![special("a/", b'5', ""), special("b/", b'5', "")]);
    let err = read_limited(&bytes, Limits { max_members: 8, ..Limits::default() }).unwrap_err();
    assert!(matches!(err, ArchiveError::TooManyMembers { .. }), "{err}");
}

#[test]
fn gzip_bomb_in_a_long_name_is_stopped_by_counting_bytes() {
    // A GNU long-name entry is read into memory by the tar parser before any member header
    // is seen, so only the count of decompressed bytes can stop it.
    let mut tar = Vec::new();
    push_raw(&mut tar, b"././@LongLink", b'L', &vec![b'a'; 4 << 20], b"");
    push_raw(&mut tar, b"x", b'0', b"x", b"");
    tar.extend_from_slice(&[0; 1024]);
    let bytes = gzip(&tar);
    assert!(bytes.len() < 64 << 10, "the bomb should compress well");
    let limits = Limits { max_member_bytes: 1 << 20, max_total_bytes: 1 << 20, max_members: 8 };
    let err = read_limited(&bytes, limits).unwrap_err();
    assert!(matches!(err, ArchiveError::TotalTooLarge { .. }), "{err}");
}

#[test]
fn zero_padding_bomb_after_the_end_is_stopped() {
    let mut tar = tar_bytes(&valid_entries());
    tar.resize(tar.len() + (8 << 20), 0);
    let limits = Limits { max_total_bytes: 1 << 20, max_member_bytes: 1 << 20, max_members: 16 };
    let err = read_limited(&gzip(&tar), limits).unwrap_err();
    assert!(matches!(err, ArchiveError::TotalTooLarge { .. }), "{err}");
    // Under the default limits the same padding is harmless zeros.
    read(&gzip(&tar)).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Gzip and tar layers

#[test]
fn bad_gzip_is_refused() {
    let valid = writer().to_bytes().unwrap();
    let truncated = truncated_gzip();
    let mut bad_crc = valid.clone();
    let at = bad_crc.len() - 6; // inside the CRC32 of the gzip trailer
    bad_crc[at] ^= 0xff;
    let plain_tar = tar_bytes(&required());
    let cases: [(&str, &[u8]); 5] = [
        ("empty file", b""),
        ("not gzip", b"this is not gzip at all"),
        ("plain tar", &plain_tar),
        ("truncated", &truncated),
        ("bad crc", &bad_crc),
    ];
    for (what, bytes) in cases {
        let err = read_err(bytes);
        assert!(matches!(err, ArchiveError::Gzip { .. }), "{what}: {err}");
        assert!(err.to_string().starts_with("test.tar.gz: not a valid gzip file"), "{what}: {err}");
    }
}

#[test]
fn bytes_after_the_gzip_stream_are_refused() {
    assert!(matches!(read_err(&with_trailing_gzip()), ArchiveError::TrailingBytes { .. }));
    let mut bytes = writer().to_bytes().unwrap();
    bytes.push(0);
    assert!(matches!(read_err(&bytes), ArchiveError::TrailingBytes { .. }));
}

#[test]
fn bad_tar_header_checksum_is_refused() {
    let mut tar = tar_bytes(&valid_entries());
    tar[0] ^= 0x20; // first byte of the first name; the checksum no longer matches
    let err = read_err(&gzip(&tar));
    assert!(matches!(err, ArchiveError::Tar { .. }), "{err}");
}

#[test]
fn truncated_member_is_refused_whatever_the_header_says() {
    let mut tar = tar_bytes(&valid_entries());
    tar.truncate(tar.len() - 1024); // drop the end marker
    tar.extend_from_slice(&header(b"short.bin", b'0', 1000, b""));
    tar.extend_from_slice(&[1; 10]); // 10 of the 1000 bytes the header claims
    let err = read_err(&gzip(&tar));
    assert!(matches!(err, ArchiveError::Tar { .. }), "{err}");
    assert!(err.to_string().contains("`short.bin` is truncated"), "{err}");
}

#[test]
fn data_after_the_end_of_archive_marker_is_refused() {
    // A reader that skips zero blocks (GNU tar -i) would see the hidden member.
    let err = read_err(&hidden_after_end());
    assert!(matches!(err, ArchiveError::Tar { .. }), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Manifest

#[test]
fn missing_manifest_is_refused() {
    let err = read_err(&gzip(&tar_bytes(&required())));
    assert!(matches!(err, ArchiveError::MissingManifest { .. }), "{err}");
    assert_eq!(err.to_string(), "test.tar.gz: member `manifest.json` is missing");
}

#[test]
fn manifest_that_is_not_json_is_refused() {
    let mut entries = required();
    entries.insert(0, file(MANIFEST, b"{ not json"));
    let err = read_err(&gzip(&tar_bytes(&entries)));
    assert!(matches!(err, ArchiveError::BadManifest { .. }), "{err}");
}

#[test]
fn manifest_schema_is_enforced() {
    type Edit = Box<dyn Fn(&mut serde_json::Value)>;
    let edits: Vec<(&str, Edit)> = vec![
        ("unknown field", Box::new(|m| m["extra"] = true.into())),
        ("unknown member field", Box::new(|m| m["members"]["spec.yaml"]["mode"] = 420.into())),
        ("missing created", Box::new(|m| drop(m.as_object_mut().unwrap().remove("created")))),
        ("local time", Box::new(|m| m["created"] = "2024-05-01T12:00:00+02:00".into())),
        ("bad month", Box::new(|m| m["created"] = "2024-13-01T12:00:00Z".into())),
        (
            "upper-case hash",
            Box::new(|m| {
                let hash = m["members"]["spec.yaml"]["sha256"].as_str().unwrap().to_uppercase();
                m["members"]["spec.yaml"]["sha256"] = hash.into();
            }),
        ),
        ("short hash", Box::new(|m| m["members"]["spec.yaml"]["sha256"] = "abc".into())),
        ("negative size", Box::new(|m| m["members"]["spec.yaml"]["size"] = (-1).into())),
        (
            "lists itself",
            Box::new(|m| {
                m["members"][MANIFEST] = serde_json::json!({"sha256": "0".repeat(64), "size": 1});
            }),
        ),
        ("string version", Box::new(|m| m["format_version"] = "1".into())),
        ("no format", Box::new(|m| drop(m.as_object_mut().unwrap().remove("format")))),
    ];
    for (what, edit) in edits {
        let mut json = manifest_json();
        edit(&mut json);
        let err = read_err(&with_manifest(json));
        assert!(matches!(err, ArchiveError::BadManifest { .. }), "{what}: {err}");
    }
    // A fractional second is valid RFC 3339.
    let mut json = manifest_json();
    json["created"] = "2024-05-01T12:00:00.250Z".into();
    read(&with_manifest(json)).unwrap();
}

#[test]
fn other_format_is_not_a_zelos_archive() {
    let mut json = manifest_json();
    json["format"] = "something-else".into();
    let err = read_err(&with_manifest(json));
    assert!(
        matches!(err, ArchiveError::NotZelosArchive { ref found, .. } if found == "something-else")
    );
}

#[test]
fn newer_format_version_asks_for_an_upgrade() {
    // A newer manifest may carry fields this reader does not know; the version wins.
    let mut json = manifest_json();
    json["format_version"] = 2.into();
    json["encryption"] = "future".into();
    let err = read_err(&with_manifest(json));
    assert!(matches!(err, ArchiveError::NewerFormatVersion { found: 2, supported: 1, .. }));
    assert_eq!(
        err.to_string(),
        "test.tar.gz: written by a newer zelos (archive format version 2, this zelos reads up to \
         1); upgrade zelos"
    );
}

#[test]
fn format_version_zero_is_unsupported() {
    let err = read_err(&with_version(0));
    assert!(matches!(err, ArchiveError::UnsupportedFormatVersion { found: 0, .. }), "{err}");
}

#[test]
fn member_not_in_manifest_is_refused() {
    let err = read_err(&unlisted());
    assert!(matches!(err, ArchiveError::UnlistedMember { ref name, .. } if name == "smuggled"));
    assert_eq!(err.to_string(), "test.tar.gz: member `smuggled` is not listed in the manifest");
}

#[test]
fn manifest_entry_without_member_is_refused() {
    let mut entries = required();
    entries.push(file("plots/gone.png", b"x"));
    let manifest = manifest_for(&entries);
    entries.pop();
    entries.insert(0, manifest);
    let err = read_err(&gzip(&tar_bytes(&entries)));
    let ArchiveError::ListedMemberMissing { name, .. } = err else { panic!("{err}") };
    assert_eq!(name, "plots/gone.png");
}

#[test]
fn missing_required_member_is_refused() {
    let err = read_err(&without("report.md"));
    assert!(matches!(err, ArchiveError::MissingRequired { ref name, .. } if name == "report.md"));
}

// ---------------------------------------------------------------------------------------------
// Writer

#[test]
fn writer_applies_the_reader_rules() {
    let mut w = writer();
    let err = |r: Result<&mut ArchiveWriter, ArchiveError>| r.map(|_| ()).unwrap_err();
    assert!(matches!(err(w.add("../x", vec![])), ArchiveError::PathLeavesArchive { .. }));
    assert!(matches!(err(w.add("/x", vec![])), ArchiveError::AbsolutePath { .. }));
    assert!(matches!(err(w.add("a b", vec![])), ArchiveError::InvalidName { .. }));
    assert!(matches!(err(w.add(&"a".repeat(256), vec![])), ArchiveError::InvalidName { .. }));
    assert!(matches!(err(w.add(MANIFEST, vec![])), ArchiveError::ReservedName { .. }));
    assert!(matches!(err(w.add("spec.yaml", vec![])), ArchiveError::DuplicateMember { .. }));
    w.add("plots/a.png", vec![]).unwrap();
    assert!(matches!(err(w.add("plots", vec![])), ArchiveError::FileFolderConflict { .. }));
    assert!(matches!(err(w.add("spec.yaml/x", vec![])), ArchiveError::FileFolderConflict { .. }));
    // `plots-2` sorts between `plots` and `plots/`; it is no conflict.
    w.add("plots-2", vec![]).unwrap();
    read(&w.to_bytes().unwrap()).unwrap();
}

#[test]
fn writer_stays_within_the_default_member_limit() {
    let mut w = writer();
    let room = Limits::default().max_members - 1 - REQUIRED_MEMBERS.len(); // 1 for the manifest
    for i in 0..room {
        w.add(&format!("extra/{i}"), vec![]).unwrap();
    }
    let err = w.add("one/too/many", vec![]).map(|_| ()).unwrap_err();
    assert!(matches!(err, ArchiveError::TooManyMembers { limit: 1024, .. }), "{err}");
    assert_eq!(read(&w.to_bytes().unwrap()).unwrap().member_names().count(), 1024);
}

#[test]
fn writer_refuses_a_missing_required_member() {
    let mut w = ArchiveWriter::new();
    w.add("spec.yaml", b"x".to_vec()).unwrap();
    let err = w.to_bytes().unwrap_err();
    assert!(matches!(err, ArchiveError::MissingRequired { .. }), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.tar.gz");
    let err = w.write(&path).unwrap_err();
    assert!(err.to_string().starts_with(&format!("{}: required member", path.display())), "{err}");
    assert!(!path.exists());
}

#[test]
fn writes_are_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.tar.gz"), dir.path().join("b.tar.gz"));
    let mut w = writer();
    w.add("plots/error_tt.png", vec![9; 5000]).unwrap();
    let sha_a = w.write(&a).unwrap();
    let sha_b = w.write(&b).unwrap();
    assert_eq!(sha_a, sha_b);
    assert_eq!(fs::read(&a).unwrap(), fs::read(&b).unwrap());
    assert_eq!(fs::read(&a).unwrap(), w.to_bytes().unwrap());

    // Insertion order does not matter, only content and `created`.
    let mut reversed = ArchiveWriter::new();
    reversed.created(CREATED);
    reversed.add("plots/error_tt.png", vec![9; 5000]).unwrap();
    for entry in required().into_iter().rev() {
        reversed.add(std::str::from_utf8(&entry.name).unwrap(), entry.data).unwrap();
    }
    assert_eq!(reversed.to_bytes().unwrap(), w.to_bytes().unwrap());
}

#[test]
fn writer_tar_headers_are_fixed() {
    let bytes = writer().to_bytes().unwrap();
    let mut decoder = flate2::read::GzDecoder::new(&bytes[..]);
    let mut tar = tar::Archive::new(&mut decoder);
    let mut names = Vec::new();
    for entry in tar.entries().unwrap() {
        let entry = entry.unwrap();
        let h = entry.header();
        assert_eq!(h.mode().unwrap(), 0o644);
        assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0));
        assert_eq!(h.mtime().unwrap(), 315_532_800);
        assert_eq!(h.username_bytes(), Some(&b""[..]));
        assert_eq!(h.groupname_bytes(), Some(&b""[..]));
        names.push(String::from_utf8(entry.path_bytes().into_owned()).unwrap());
    }
    let mut sorted = REQUIRED_MEMBERS.to_vec();
    sorted.sort();
    assert_eq!(names[0], MANIFEST, "the manifest comes first");
    assert_eq!(names[1..], sorted[..]);
}

#[test]
fn atomic_write_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.tar.gz");
    writer().write(&path).unwrap();
    writer().write(&path).unwrap(); // replacing an existing file
    assert_eq!(listing(dir.path()), vec![path.clone()]);
}

#[test]
fn failed_write_leaves_the_previous_file_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.tar.gz");
    writer().write(&path).unwrap();
    let before = fs::read(&path).unwrap();

    // Refused before anything is written.
    let mut incomplete = ArchiveWriter::new();
    incomplete.add("spec.yaml", b"new".to_vec()).unwrap();
    incomplete.write(&path).unwrap_err();
    assert_eq!(fs::read(&path).unwrap(), before);
    assert_eq!(listing(dir.path()), vec![path.clone()]);

    // Failing at the rename, after the temporary file was written: a folder is in the way.
    let blocked = dir.path().join("blocked.tar.gz");
    fs::create_dir(&blocked).unwrap();
    fs::write(blocked.join("keep"), b"keep").unwrap();
    let err = writer().write(&blocked).unwrap_err();
    assert!(matches!(err, ArchiveError::Io { .. }), "{err}");
    assert_eq!(fs::read(blocked.join("keep")).unwrap(), b"keep");
    assert_eq!(listing(dir.path()), vec![blocked.clone(), blocked.join("keep"), path.clone()]);
}

/// Every path below `dir`, sorted.
fn listing(dir: &Path) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if fs::symlink_metadata(&path).unwrap().is_dir() {
                stack.push(path.clone());
            }
            paths.push(path);
        }
    }
    paths.sort();
    paths
}

// ---------------------------------------------------------------------------------------------
// Extraction

#[test]
fn extract_writes_every_member_inside_the_folder_only() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("out");
    let mut w = writer();
    w.add("plots/deep/error_tt.png", b"png".to_vec()).unwrap();
    let archive = read(&w.to_bytes().unwrap()).unwrap();
    archive.extract_to(&out).unwrap();

    for name in archive.member_names() {
        assert_eq!(fs::read(out.join(name)).unwrap(), archive.member(name).unwrap(), "{name}");
    }
    let files: Vec<PathBuf> = listing(root.path()).into_iter().filter(|p| p.is_file()).collect();
    assert_eq!(files.len(), archive.member_names().count());
    assert!(files.iter().all(|p| p.starts_with(&out)));
}

#[test]
fn extract_never_overwrites() {
    let out = tempfile::tempdir().unwrap();
    fs::write(out.path().join("spec.yaml"), b"mine").unwrap();
    let archive = read(&writer().to_bytes().unwrap()).unwrap();
    let err = archive.extract_to(out.path()).unwrap_err();
    assert!(matches!(err, ArchiveError::ExtractConflict { .. }), "{err}");
    assert_eq!(fs::read(out.path().join("spec.yaml")).unwrap(), b"mine");
}

/// A member refused after others were written (here `spec.yaml`, blocked by an existing file,
/// after `manifest.json`, `model.json`, `plots/...`, `region.safetensors`, `report.*`): what
/// this extraction wrote is removed again, files and the folders it made, and nothing else.
#[test]
fn extract_refused_half_way_removes_what_it_wrote() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("out");
    fs::create_dir_all(out.join("plots/mine")).unwrap();
    fs::write(out.join("spec.yaml"), b"mine").unwrap();
    fs::write(out.join("plots/mine/keep.png"), b"mine").unwrap();
    fs::write(out.join("notes.txt"), b"mine").unwrap();
    let before = listing(root.path());

    let mut w = writer();
    w.add("plots/deep/error_tt.png", b"png".to_vec()).unwrap();
    w.add("plots/error_te.png", b"png".to_vec()).unwrap();
    let archive = read(&w.to_bytes().unwrap()).unwrap();
    let err = archive.extract_to(&out).unwrap_err();
    assert!(matches!(err, ArchiveError::ExtractConflict { ref path, .. } if path.ends_with("spec.yaml")), "{err}");

    assert_eq!(listing(root.path()), before, "exactly what was there before");
    assert_eq!(fs::read(out.join("spec.yaml")).unwrap(), b"mine");
    assert_eq!(fs::read(out.join("plots/mine/keep.png")).unwrap(), b"mine");
    // The same extraction succeeds once the obstacle is gone: nothing of the first try remains.
    fs::remove_file(out.join("spec.yaml")).unwrap();
    archive.extract_to(&out).unwrap();
}

#[cfg(unix)]
#[test]
fn extract_never_follows_a_symlink_in_the_target() {
    let root = tempfile::tempdir().unwrap();
    let (out, elsewhere) = (root.path().join("out"), root.path().join("elsewhere"));
    fs::create_dir_all(&out).unwrap();
    fs::create_dir_all(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, out.join("plots")).unwrap();
    std::os::unix::fs::symlink(elsewhere.join("spec.yaml"), out.join("spec.yaml")).unwrap();

    let mut w = writer();
    w.add("plots/error_tt.png", b"png".to_vec()).unwrap();
    let archive = read(&w.to_bytes().unwrap()).unwrap();
    let err = archive.extract_to(&out).unwrap_err();
    assert!(matches!(err, ArchiveError::ExtractConflict { .. }), "{err}");
    assert_eq!(fs::read_dir(&elsewhere).unwrap().count(), 0, "nothing written through links");
}

// ---------------------------------------------------------------------------------------------
// Properties

/// A name component from the allowed alphabet, never `.` or `..`.
fn component() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_.-]{1,40}".prop_filter("`.` and `..` are refused", |c| c != "." && c != "..")
}

/// A member name of one to six components (up to 245 bytes, so GNU long names occur).
fn member_name() -> impl Strategy<Value = String> {
    prop::collection::vec(component(), 1..=6).prop_map(|parts| parts.join("/"))
}

/// Whether `name` may join `members`: new, not reserved, no file/folder clash.
fn fits(name: &str, members: &BTreeMap<String, Vec<u8>>) -> bool {
    let clashes = members.keys().any(|other| {
        other == name
            || other.starts_with(&format!("{name}/"))
            || name.starts_with(&format!("{other}/"))
    });
    name != MANIFEST && !clashes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn round_trip_returns_identical_bytes(
        extra in prop::collection::vec(
            (member_name(), prop::collection::vec(any::<u8>(), 0..3000)), 0..8),
        created in 0u64..4_102_444_800,
    ) {
        let mut members: BTreeMap<String, Vec<u8>> = required()
            .into_iter()
            .map(|e| (String::from_utf8(e.name).unwrap(), e.data))
            .collect();
        for (name, bytes) in extra {
            if fits(&name, &members) {
                members.insert(name, bytes);
            }
        }
        let mut w = ArchiveWriter::new();
        w.created(created);
        for (name, bytes) in &members {
            w.add(name, bytes.clone()).unwrap();
        }
        let bytes = w.to_bytes().unwrap();
        let archive = read(&bytes).unwrap();

        let names: Vec<&str> = archive.member_names().filter(|n| *n != MANIFEST).collect();
        prop_assert_eq!(names, members.keys().map(String::as_str).collect::<Vec<_>>());
        for (name, expected) in &members {
            prop_assert_eq!(archive.member(name).unwrap(), &expected[..]);
            prop_assert_eq!(&archive.manifest().members[name], &MemberEntry::of(expected));
        }
        prop_assert_eq!(archive.manifest().members.len(), members.len());

        // Writing what was read gives the same bytes again.
        let mut again = ArchiveWriter::new();
        again.created(created);
        for name in archive.member_names().filter(|n| *n != MANIFEST) {
            again.add(name, archive.member(name).unwrap().to_vec()).unwrap();
        }
        prop_assert_eq!(again.to_bytes().unwrap(), bytes);
    }

    #[test]
    fn corruption_is_detected_or_harmless(at in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let mut w = writer();
        w.add("plots/a.png", vec![3; 700]).unwrap();
        let original = w.to_bytes().unwrap();
        let mut bytes = original.clone();
        let i = at.index(bytes.len());
        bytes[i] ^= flip;
        // Never a panic; if a flip is accepted (say, in the gzip header's unused fields) the
        // members must be exactly the original ones.
        if let Ok(archive) = read(&bytes) {
            let before = read(&original).unwrap();
            prop_assert!(archive.member_names().eq(before.member_names()));
            for name in before.member_names() {
                prop_assert_eq!(archive.member(name), before.member(name));
            }
        }
    }

    #[test]
    fn truncation_is_always_refused(keep in any::<prop::sample::Index>()) {
        let original = writer().to_bytes().unwrap();
        let cut = keep.index(original.len());
        prop_assert!(read(&original[..cut]).is_err());
    }
}

// ---------------------------------------------------------------------------------------------
// The Python reader in docs/archive.md

/// The first ```python block of docs/archive.md.
fn python_reader() -> String {
    let doc = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/archive.md"))
        .expect("docs/archive.md");
    let start = doc.find("```python\n").expect("a python block") + "```python\n".len();
    let end = start + doc[start..].find("```").expect("the end of the python block");
    doc[start..end].to_owned()
}

/// Runs the documented reader on `archive`; `None` when python3 is not installed.
fn run_python_reader(archive: &Path) -> Option<std::process::Output> {
    let script = archive.with_file_name("reader.py");
    fs::write(&script, python_reader()).unwrap();
    std::process::Command::new("python3").arg(&script).arg(archive).output().ok()
}

#[test]
fn documented_python_reader_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.tar.gz");
    let mut w = writer();
    w.add("plots/error_tt.png", b"png".to_vec()).unwrap();
    w.write(&good).unwrap();
    let Some(output) = run_python_reader(&good) else {
        eprintln!("python3 not found; skipping the documented reader");
        return;
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("plots/error_tt.png"), "{stdout}");

    let refused: Vec<(&str, Vec<u8>, &str)> = vec![
        ("tampered", tampered(), "sha256"),
        ("escaping", archive_with(vec![file("../x", b"x")]), "../x"),
        ("symlink", archive_with(vec![special("link", b'2', "/etc")]), "link"),
        ("fifo", archive_with(vec![special("pipe", b'6', "")]), "not a regular file"),
        ("contiguous", archive_with(vec![special("cont", b'7', "")]), "not a regular file"),
        ("bad name", archive_with(vec![file("a b", b"x")]), "invalid name"),
        ("bad folder name", archive_with(vec![special("a b/", b'5', "")]), "invalid name"),
        ("below a file", archive_with(vec![file("p", b"x"), file("p/q", b"y")]), "lies below"),
        ("duplicate", duplicated(), "more than once"),
        ("unlisted", unlisted(), "smuggled"),
        ("missing required", without("report.md"), "report.md"),
        ("lists itself", listing_itself(), "schema"),
        ("newer", with_version(2), "upgrade"),
        ("hidden", hidden_after_end(), "end-of-archive"),
        ("trailing", with_trailing_gzip(), "after the end of the gzip stream"),
        ("truncated gzip", truncated_gzip(), "gzip"),
        ("not gzip", b"plain text".to_vec(), "gzip"),
    ];
    for (what, bytes, needle) in refused {
        let path = dir.path().join(format!("{what}.tar.gz"));
        fs::write(&path, bytes).unwrap();
        let output = run_python_reader(&path).unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{what}: the python reader accepted it");
        assert!(stderr.contains(needle), "{what}: {stderr}");
        // The Rust reader refuses it too.
        assert!(Archive::read(&path).is_err(), "{what}");
    }
}

#[test]
fn archives_repacked_by_python_tarfile_are_accepted() {
    // Python's tarfile writes pax headers for long names, directory entries and 10 KiB record
    // padding; the reader must take an archive as common tools write it.
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    let long = format!("plots/{}.png", "x".repeat(120));
    let mut w = writer();
    w.add(&long, b"png".to_vec()).unwrap();
    read(&w.to_bytes().unwrap()).unwrap().extract_to(&tree).unwrap();
    let repacked = dir.path().join("repacked.tar.gz");
    let script = r#"
import os, sys, tarfile
tree, out = sys.argv[1], sys.argv[2]
with tarfile.open(out, "w:gz", format=tarfile.PAX_FORMAT) as tar:
    for name in sorted(os.listdir(tree)):
        tar.add(os.path.join(tree, name), arcname=name)
"#;
    let mut python = std::process::Command::new("python3");
    python.arg("-c").arg(script).arg(&tree).arg(&repacked);
    let Ok(status) = python.status() else {
        eprintln!("python3 not found; skipping");
        return;
    };
    assert!(status.success());
    let archive = Archive::read(&repacked).unwrap();
    assert_eq!(archive.member(&long), Some(&b"png"[..]));
    assert_eq!(archive.member_names().count(), REQUIRED_MEMBERS.len() + 2);
}
