//! Closed sets of keywords (`camb`, `tanh`, `latin_hypercube`, ...) as Rust enums, for the spec
//! and for the core types it names (the activation of [`crate::nn`]).
//!
//! Each enum goes through serde as a plain string, so that a wrong value is always reported as
//! "found `x`; expected one of `a`, `b`" whatever the YAML or JSON held (serde's own enum support
//! in `yaml_serde` expects YAML tags and reports `a Value::Tagged enum` instead).

/// "found {found}; expected {expected}": the convention of every spec error.
pub(crate) fn mismatch_text(found: impl std::fmt::Display, expected: impl std::fmt::Display) -> String {
    format!("found {found}; expected {expected}")
}

/// "one of `a`, `b`, `c`" (or "`a`" when there is a single choice).
pub(crate) fn one_of<S: AsRef<str>>(allowed: &[S]) -> String {
    let quoted: Vec<String> = allowed.iter().map(|s| format!("`{}`", s.as_ref())).collect();
    match quoted.len() {
        0 => "nothing (no entries are allowed here)".to_string(),
        1 => quoted[0].clone(),
        _ => format!("one of {}", quoted.join(", ")),
    }
}

/// Declares a keyword enum: the variants, their spelling in the spec, a doc line each.
///
/// Generates `ALL`, `as_str`, `Display`, `TryFrom<String>` (whose error follows the
/// "found ...; expected ..." convention of the spec's errors) and `Into<&'static str>`, and
/// derives serde through those two conversions.
macro_rules! keywords {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+ }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "&'static str")]
        pub enum $name { $( $(#[$vmeta])* $variant, )+ }

        impl $name {
            /// Every keyword, in the order the documentation lists them.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The keyword as written in a spec.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(text: String) -> Result<Self, String> {
                Self::ALL.iter().copied().find(|k| k.as_str() == text).ok_or_else(|| {
                    let allowed: Vec<&str> = Self::ALL.iter().map(|k| k.as_str()).collect();
                    $crate::keywords::mismatch_text(
                        format!("`{text}`"),
                        $crate::keywords::one_of(&allowed),
                    )
                })
            }
        }

        impl From<$name> for &'static str {
            fn from(keyword: $name) -> &'static str { keyword.as_str() }
        }
    };
}

pub(crate) use keywords;
