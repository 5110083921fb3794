//! Secret references and the environment they are resolved against.
//!
//! A secret in the configuration is written as `env:NAME`, `file:PATH` or a
//! literal value. Deserialization only records which of the three it is;
//! the value is read during validation, so that every unresolvable secret is
//! reported with its own field path. Nothing here prints a secret: the
//! `Debug` output names the variable or file, or says `"<literal>"`.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::de::{self, Deserialize, Deserializer, Visitor};

/// A snapshot of environment variables.
///
/// Loading and secret resolution read variables from this snapshot instead
/// of the process environment, so tests can inject their own without
/// touching global state. `Debug` lists the variable names only.
#[derive(Clone, Default)]
pub struct Environment {
    vars: HashMap<String, String>,
}

impl Environment {
    /// Takes a snapshot of the process environment. Variables whose name or
    /// value is not valid UTF-8 are left out.
    pub fn from_process() -> Self {
        std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect()
    }

    /// The value of the variable `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// Every variable, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Environment {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self {
            vars: iter
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }
}

impl fmt::Debug for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.vars.keys().map(String::as_str).collect();
        names.sort_unstable();
        f.debug_struct("Environment")
            .field("names", &names)
            .finish()
    }
}

/// Where a secret comes from: `env:NAME`, `file:PATH`, or a literal value.
#[derive(Clone)]
pub enum SecretRef {
    /// The value of an environment variable.
    Env(String),
    /// The contents of a file, without one trailing newline.
    File(PathBuf),
    /// The value written in the configuration itself.
    Literal(SecretString),
}

/// Why a [`SecretRef`] could not be parsed or resolved.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The environment variable is not set.
    #[error("environment variable `{0}` is not set")]
    EnvMissing(String),
    /// The environment variable is set but empty.
    #[error("environment variable `{0}` is empty")]
    EnvEmpty(String),
    /// The file could not be read.
    #[error("cannot read secret file `{path}`: {source}", path = .path.display())]
    FileUnreadable {
        /// The file named by the reference.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is empty, or holds only a newline.
    #[error("secret file `{}` is empty", .0.display())]
    FileEmpty(PathBuf),
    /// The literal value is empty.
    #[error("secret is empty")]
    LiteralEmpty,
    /// `env:` with no variable name after it.
    #[error("`env:` must be followed by a variable name")]
    NoVariableName,
    /// `file:` with no path after it.
    #[error("`file:` must be followed by a path")]
    NoFilePath,
}

impl SecretRef {
    /// Parses the configuration form: `env:NAME`, `file:PATH`, or anything
    /// else as a literal.
    ///
    /// # Errors
    ///
    /// [`SecretError::NoVariableName`] or [`SecretError::NoFilePath`] when
    /// `env:` or `file:` is followed by nothing.
    pub fn parse(s: &str) -> Result<Self, SecretError> {
        if let Some(name) = s.strip_prefix("env:") {
            let name = name.trim();
            if name.is_empty() {
                return Err(SecretError::NoVariableName);
            }
            Ok(Self::Env(name.to_owned()))
        } else if let Some(path) = s.strip_prefix("file:") {
            let path = path.trim();
            if path.is_empty() {
                return Err(SecretError::NoFilePath);
            }
            Ok(Self::File(PathBuf::from(path)))
        } else {
            Ok(Self::Literal(SecretString::from(s)))
        }
    }

    /// Reads the secret's value.
    ///
    /// # Errors
    ///
    /// Fails when the variable is unset or empty, when the file can't be
    /// read or is empty, or when a literal is empty.
    pub fn resolve(&self, env: &Environment) -> Result<SecretString, SecretError> {
        use secrecy::ExposeSecret as _;
        match self {
            Self::Env(name) => match env.get(name) {
                None => Err(SecretError::EnvMissing(name.clone())),
                Some("") => Err(SecretError::EnvEmpty(name.clone())),
                Some(value) => Ok(SecretString::from(value)),
            },
            Self::File(path) => read_secret_file(path),
            Self::Literal(value) if value.expose_secret().is_empty() => {
                Err(SecretError::LiteralEmpty)
            }
            Self::Literal(value) => Ok(value.clone()),
        }
    }
}

/// Reads a secret file, dropping one trailing `\n` or `\r\n`.
fn read_secret_file(path: &Path) -> Result<SecretString, SecretError> {
    let mut text = std::fs::read_to_string(path).map_err(|source| SecretError::FileUnreadable {
        path: path.to_owned(),
        source,
    })?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    if text.is_empty() {
        return Err(SecretError::FileEmpty(path.to_owned()));
    }
    Ok(SecretString::from(text))
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env(name) => write!(f, "env:{name}"),
            Self::File(path) => write!(f, "file:{}", path.display()),
            Self::Literal(_) => f.write_str("\"<literal>\""),
        }
    }
}

impl<'de> Deserialize<'de> for SecretRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RefVisitor;

        impl Visitor<'_> for RefVisitor {
            type Value = SecretRef;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a secret: \"env:NAME\", \"file:PATH\" or a literal string")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<SecretRef, E> {
                SecretRef::parse(v).map_err(E::custom)
            }
        }

        deserializer.deserialize_str(RefVisitor)
    }
}
