//! Checks on the YAML parser's event stream, made before the document is built: a spec has no
//! YAML tags and nests lists and mappings at most [`MAX_NESTING`] deep.
//!
//! Both need the events themselves. yaml_serde resolves `!!`-tags away (a
//! `!!python/object/apply:os.system [...]` reads as a plain list), so a tag is invisible in the
//! value it builds; and it reads the whole document into events before its own recursion limit
//! applies, which takes time quadratic in the nesting depth inside libyaml's scanner (every
//! open flow collection is a pending simple key that each later token rescans): 24 s for
//! 200 kB of `[`. Streaming the same parser's events and stopping at the first tag or at depth
//! [`MAX_NESTING`] bounds that work by the limit.
//!
//! Syntax errors are left to yaml_serde (this pass stops at the first one and accepts), so
//! that they are reported exactly as before.

use std::ffi::CStr;
use std::mem::MaybeUninit;

use libyaml_rs as sys;

use super::error::{Origin, SpecError};
use super::limits::{self, MAX_NESTING};

/// Where the parser is: one frame per open list or mapping.
enum Frame {
    /// A list; the index of the entry being read.
    Seq(usize),
    /// A mapping: the number of nodes read so far (keys and values alternate, so an even count
    /// means a key comes next) and the last key that was a plain string.
    Map { nodes: usize, key: String },
}

/// The tag that libyaml resolved, written back as the author wrote it (`!!python/...`).
fn shown_tag(resolved: &str) -> String {
    match resolved.strip_prefix("tag:yaml.org,2002:") {
        Some(rest) => format!("!!{rest}"),
        None => resolved.to_string(),
    }
}

/// Refuses tags and nesting deeper than [`MAX_NESTING`] in `text`; anything else (syntax
/// errors included) is left to the full parse.
pub(crate) fn check(text: &str, origin: &Origin) -> Result<(), SpecError> {
    let mut parser = Parser::new(text.as_bytes());
    let mut stack: Vec<Frame> = Vec::new();
    loop {
        let Some(event) = parser.next() else {
            return Ok(()); // a syntax error: yaml_serde reports it
        };
        let mut starts_node = false;
        match event.kind {
            Kind::StreamEnd => return Ok(()),
            Kind::Other => {}
            Kind::Scalar | Kind::Alias => {
                starts_node = true;
            }
            Kind::SequenceStart | Kind::MappingStart => {
                starts_node = true;
                if stack.len() >= MAX_NESTING {
                    return Err(origin.error(
                        key_path(&stack),
                        format!(
                            "lists and mappings nested more than {MAX_NESTING} deep (line {} column {})",
                            event.line + 1,
                            event.column + 1
                        ),
                        limits::limit_text(&MAX_NESTING, "levels of nesting"),
                    ));
                }
            }
            Kind::SequenceEnd | Kind::MappingEnd => {
                stack.pop();
                node_done(&mut stack);
            }
        }
        if !starts_node {
            continue;
        }
        if let Some(tag) = &event.tag {
            let is_key = matches!(stack.last(), Some(Frame::Map { nodes, .. }) if nodes % 2 == 0);
            let what = if is_key { "a key" } else { "a value" };
            return Err(origin.error(
                key_path(&stack),
                format!("{what} tagged `{}`", shown_tag(tag)),
                "a plain value (null, boolean, number, string, list or mapping): a spec has no YAML tags",
            ));
        }
        match event.kind {
            Kind::Scalar | Kind::Alias => {
                if let (Some(Frame::Map { nodes, key }), Some(text)) = (stack.last_mut(), &event.scalar) {
                    if *nodes % 2 == 0 {
                        key.clone_from(text);
                    }
                }
                node_done(&mut stack);
            }
            Kind::SequenceStart => stack.push(Frame::Seq(0)),
            Kind::MappingStart => stack.push(Frame::Map { nodes: 0, key: String::new() }),
            _ => {}
        }
    }
}

/// A node of the innermost list or mapping is complete.
fn node_done(stack: &mut [Frame]) {
    match stack.last_mut() {
        Some(Frame::Seq(index)) => *index += 1,
        Some(Frame::Map { nodes, .. }) => *nodes += 1,
        None => {}
    }
}

/// The dotted key of the node about to be read (`a.b[2].c`), as in every spec error; a node
/// in key position is named by its mapping.
fn key_path(stack: &[Frame]) -> String {
    let mut out = String::new();
    let last = stack.len().saturating_sub(1);
    for (depth, frame) in stack.iter().enumerate() {
        match frame {
            Frame::Seq(index) => out.push_str(&format!("[{index}]")),
            Frame::Map { nodes, key } => {
                let name = if nodes % 2 == 1 {
                    key.as_str()
                } else if depth == last {
                    continue; // a key: its mapping names it
                } else {
                    "?" // inside a key that is itself a list or mapping
                };
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(name);
            }
        }
    }
    if out.is_empty() {
        "(document)".to_string()
    } else {
        out
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Scalar,
    Alias,
    SequenceStart,
    SequenceEnd,
    MappingStart,
    MappingEnd,
    StreamEnd,
    /// Stream and document starts and ends.
    Other,
}

/// What this pass needs of one parser event.
struct Event {
    kind: Kind,
    /// The tag as libyaml resolved it (`tag:yaml.org,2002:str`, `!local`).
    tag: Option<String>,
    /// A scalar's text.
    scalar: Option<String>,
    /// Zero-based position of the event's start.
    line: usize,
    column: usize,
}

/// libyaml's event parser over a string, the one yaml_serde uses.
struct Parser<'input> {
    /// On the heap and never moved: with string input, libyaml keeps a pointer to the parser
    /// in the parser itself.
    sys: Box<MaybeUninit<sys::yaml_parser_t>>,
    /// The parser reads these bytes through a raw pointer; the borrow keeps them alive and
    /// unchanged for as long as the parser exists.
    _input: &'input [u8],
    failed: bool,
}

impl<'input> Parser<'input> {
    fn new(input: &'input [u8]) -> Self {
        let mut sys = Box::new(MaybeUninit::<sys::yaml_parser_t>::uninit());
        let parser = sys.as_mut_ptr();
        // SAFETY: `parser` points to writable memory of the right size and alignment, which
        // `yaml_parser_initialize` zeroes and initialises (it fails only when its first
        // buffers cannot be allocated, and libyaml-rs aborts on allocation failure instead).
        // The input pointer stays valid while the parser lives: `_input` borrows it.
        let failed = unsafe {
            let failed = sys::yaml_parser_initialize(parser).fail;
            if !failed {
                sys::yaml_parser_set_encoding(parser, sys::YAML_UTF8_ENCODING);
                sys::yaml_parser_set_input_string(parser, input.as_ptr(), input.len() as u64);
            }
            failed
        };
        assert!(!failed, "libyaml could not initialise a parser");
        Parser { sys, _input: input, failed: false }
    }

    /// The next event, or `None` after a syntax error.
    fn next(&mut self) -> Option<Event> {
        if self.failed {
            return None;
        }
        let parser = self.sys.as_mut_ptr();
        let mut raw = MaybeUninit::<sys::yaml_event_t>::uninit();
        // SAFETY: the parser was initialised in `new` and is only used from here; on success
        // `yaml_parser_parse` fills `raw` (it zeroes it first in any case), which is read
        // according to its type and then freed with `yaml_event_delete` exactly once.
        unsafe {
            if sys::yaml_parser_parse(parser, raw.as_mut_ptr()).fail {
                self.failed = true;
                return None;
            }
            let raw = raw.assume_init_mut();
            let event = convert(raw);
            sys::yaml_event_delete(raw);
            Some(event)
        }
    }
}

impl Drop for Parser<'_> {
    fn drop(&mut self) {
        // SAFETY: initialised in `new` (which panics otherwise) and deleted only here.
        unsafe { sys::yaml_parser_delete(self.sys.as_mut_ptr()) }
    }
}

/// Reads what [`check`] needs out of a parsed event.
///
/// # Safety
/// `raw` must be an event filled by a successful `yaml_parser_parse` and not yet deleted.
unsafe fn convert(raw: &sys::yaml_event_t) -> Event {
    let text = |ptr: *const u8| {
        // SAFETY (of the caller): libyaml's tags are NUL-terminated strings or null.
        (!ptr.is_null()).then(|| unsafe { CStr::from_ptr(ptr.cast()) }.to_string_lossy().into_owned())
    };
    let (kind, tag, scalar) = match raw.type_ {
        sys::YAML_SCALAR_EVENT => {
            let data = unsafe { raw.data.scalar };
            let value = if data.value.is_null() {
                String::new()
            } else {
                // SAFETY: a scalar's value is `length` bytes at `value`.
                let bytes = unsafe { std::slice::from_raw_parts(data.value, data.length as usize) };
                String::from_utf8_lossy(bytes).into_owned()
            };
            (Kind::Scalar, text(data.tag), Some(value))
        }
        sys::YAML_ALIAS_EVENT => (Kind::Alias, None, None),
        sys::YAML_SEQUENCE_START_EVENT => (Kind::SequenceStart, text(unsafe { raw.data.sequence_start }.tag), None),
        sys::YAML_MAPPING_START_EVENT => (Kind::MappingStart, text(unsafe { raw.data.mapping_start }.tag), None),
        sys::YAML_SEQUENCE_END_EVENT => (Kind::SequenceEnd, None, None),
        sys::YAML_MAPPING_END_EVENT => (Kind::MappingEnd, None, None),
        sys::YAML_STREAM_END_EVENT => (Kind::StreamEnd, None, None),
        _ => (Kind::Other, None, None),
    };
    Event { kind, tag, scalar, line: raw.start_mark.line as usize, column: raw.start_mark.column as usize }
}
