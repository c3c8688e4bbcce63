//! Closed sets of keywords (`camb`, `tanh`, `latin_hypercube`, ...) as Rust enums.
//!
//! Each enum goes through serde as a plain string, so that a wrong value is always reported as
//! "found `x`; expected one of `a`, `b`" whatever the YAML held (serde's own enum support in
//! `yaml_serde` expects YAML tags and reports `a Value::Tagged enum` instead).

/// Declares a keyword enum: the variants, their spelling in the spec, a doc line each.
///
/// Generates `ALL`, `as_str`, `Display`, `TryFrom<String>` (whose error follows the
/// "found ...; expected ..." convention of [`super::error`]) and `Into<&'static str>`, and
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
                    $crate::spec::error::mismatch_text(
                        format!("`{text}`"),
                        $crate::spec::error::one_of(&allowed),
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
