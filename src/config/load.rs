//! Layering: embedded defaults, then the file, then `SALUR_…` variables.
//!
//! Each section and each `[[sinks]]`/`[[channels]]` item is deserialized on
//! its own, so one bad field does not hide the problems in the others: the
//! result holds every part that parsed and an error for every part that did
//! not.

use std::collections::HashMap;
use std::path::Path;

use figment::Figment;
use figment::error::Kind;
use figment::providers::{Format as _, Serialized, Toml};
use figment::value::{Dict, Value};
use serde::de::DeserializeOwned;

use super::channels::{CHANNEL_KINDS, ChannelConfig};
use super::secret::Environment;
use super::sections::{
    ApiConfig, DatabaseConfig, IntakeConfig, LogConfig, OutboxConfig, ServerConfig,
};
use super::sinks::{SINK_KINDS, SinkConfig};
use super::{Config, ConfigError, FieldError};

/// The built-in defaults.
const DEFAULTS: &str = include_str!("../../config/default.toml");

/// Every top-level key the configuration accepts.
const TOP_LEVEL: &[&str] = &[
    "server", "database", "api", "intake", "outbox", "log", "sinks", "channels",
];

/// One `[[sinks]]` or `[[channels]]` entry.
#[derive(Debug)]
pub(crate) struct Item<T> {
    /// Position in the array.
    pub index: usize,
    /// The raw `name` key, when it is a string.
    pub name: Option<String>,
    /// The entry, when it deserialized.
    pub config: Option<T>,
}

/// Everything that loaded, and what did not. A part may be present even
/// though some of its keys failed (they were dropped); the whole is usable
/// only when `errors` is empty, which [`Loaded::into_config`] enforces.
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    pub server: Option<ServerConfig>,
    pub database: Option<DatabaseConfig>,
    pub api: Option<ApiConfig>,
    pub intake: Option<IntakeConfig>,
    pub outbox: Option<OutboxConfig>,
    pub log: Option<LogConfig>,
    pub sinks: Vec<Item<SinkConfig>>,
    pub channels: Vec<Item<ChannelConfig>>,
    pub errors: Vec<FieldError>,
}

impl Loaded {
    /// The complete configuration, or every error found while loading.
    pub fn into_config(self) -> Result<Config, Vec<FieldError>> {
        if !self.errors.is_empty() {
            return Err(self.errors);
        }
        let incomplete = || vec![FieldError::new("", "configuration is incomplete")];
        Ok(Config {
            server: self.server.ok_or_else(incomplete)?,
            database: self.database.ok_or_else(incomplete)?,
            api: self.api.ok_or_else(incomplete)?,
            intake: self.intake.ok_or_else(incomplete)?,
            outbox: self.outbox.ok_or_else(incomplete)?,
            log: self.log.ok_or_else(incomplete)?,
            sinks: collect_items(self.sinks).ok_or_else(incomplete)?,
            channels: collect_items(self.channels).ok_or_else(incomplete)?,
        })
    }
}

fn collect_items<T>(items: Vec<Item<T>>) -> Option<Vec<T>> {
    items.into_iter().map(|i| i.config).collect()
}

/// Loads every layer and deserializes what it can.
///
/// # Errors
///
/// Fails only when `path` is given and can't be read; every other problem
/// is recorded in [`Loaded::errors`].
pub(crate) fn load(path: Option<&Path>, env: &Environment) -> Result<Loaded, ConfigError> {
    let mut figment = Figment::new().merge(Toml::string(DEFAULTS));
    let mut source = "built-in defaults".to_owned();
    if let Some(path) = path {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.to_owned(),
            source: e,
        })?;
        figment = figment.merge(Toml::string(&text));
        source = path.display().to_string();
    }
    let (env_dict, origins) = super::env::layer(env);
    let figment = figment.merge(Serialized::defaults(env_dict));

    let mut loaded = Loaded::default();
    let root: Dict = match figment.extract() {
        Ok(root) => root,
        Err(e) => {
            // Only a TOML syntax error gets here: the environment layer is
            // always a table.
            for e in e {
                loaded
                    .errors
                    .push(FieldError::new(&source, one_line(&e.kind.to_string())));
            }
            return Ok(loaded);
        }
    };
    let mut cx = Context {
        origins,
        errors: Vec::new(),
    };

    for key in root.keys() {
        if !TOP_LEVEL.contains(&key.as_str()) {
            cx.errors.push(FieldError::new(
                key,
                format!("unknown section; expected one of {}", one_of(TOP_LEVEL)),
            ));
        }
    }
    loaded.server = cx.section(&root, "server");
    loaded.database = cx.section(&root, "database");
    loaded.api = cx.section(&root, "api");
    loaded.intake = cx.section(&root, "intake");
    loaded.outbox = cx.section(&root, "outbox");
    loaded.log = cx.section(&root, "log");
    loaded.sinks = cx.items(&root, "sinks", "sink", SINK_KINDS, SinkConfig::from_kind);
    loaded.channels = cx.items(
        &root,
        "channels",
        "channel",
        CHANNEL_KINDS,
        ChannelConfig::from_kind,
    );
    loaded.errors = cx.errors;
    Ok(loaded)
}

/// Error collection while deserializing the merged table.
struct Context {
    /// Dotted key → the environment variable that set it.
    origins: HashMap<String, String>,
    errors: Vec<FieldError>,
}

/// Deserializes one array item's fields (its `kind` removed) for a known
/// `kind`, or returns `None` for an unknown one.
type FromKind<T> = fn(&str, &Value) -> Option<Result<T, Box<figment::Error>>>;

impl Context {
    fn section<T: DeserializeOwned>(&mut self, root: &Dict, key: &str) -> Option<T> {
        let Some(value) = root.get(key) else {
            self.errors.push(FieldError::new(key, "missing section"));
            return None;
        };
        let Some(fields) = value.as_dict() else {
            self.errors
                .push(FieldError::new(key, "must be a table, written `[{key}]`"));
            return None;
        };
        self.fields(key, fields.clone(), |v| {
            v.deserialize::<T>().map_err(Box::new)
        })
    }

    fn items<T>(
        &mut self,
        root: &Dict,
        key: &str,
        what: &str,
        kinds: &[&str],
        from_kind: FromKind<T>,
    ) -> Vec<Item<T>> {
        let Some(value) = root.get(key) else {
            return Vec::new();
        };
        let Some(values) = value.as_array() else {
            self.errors.push(FieldError::new(
                key,
                format!("must be an array of tables, written `[[{key}]]`"),
            ));
            return Vec::new();
        };
        let mut items = Vec::with_capacity(values.len());
        for (index, value) in values.iter().enumerate() {
            let name = value
                .find_ref("name")
                .and_then(Value::as_str)
                .map(str::to_owned);
            let label = item_label(key, index, name.as_deref());
            let config = self.item(value, &label, what, kinds, from_kind);
            items.push(Item {
                index,
                name,
                config,
            });
        }
        items
    }

    fn item<T>(
        &mut self,
        value: &Value,
        label: &str,
        what: &str,
        kinds: &[&str],
        from_kind: FromKind<T>,
    ) -> Option<T> {
        let Some(fields) = value.as_dict() else {
            self.errors
                .push(FieldError::new(label, "must be a table of settings"));
            return None;
        };
        let mut fields = fields.clone();
        let kind_path = format!("{label}.kind");
        let kind = match fields.remove("kind") {
            None => {
                self.errors.push(FieldError::new(
                    kind_path,
                    format!("missing; expected one of {}", one_of(kinds)),
                ));
                return None;
            }
            Some(Value::String(_, kind)) => kind,
            Some(_) => {
                self.errors.push(FieldError::new(
                    kind_path,
                    format!("must be a string, one of {}", one_of(kinds)),
                ));
                return None;
            }
        };
        if !kinds.contains(&kind.as_str()) {
            self.errors.push(FieldError::new(
                kind_path,
                format!(
                    "unknown {what} kind `{kind}`; this version supports {}",
                    one_of(kinds)
                ),
            ));
            return None;
        }
        self.fields(label, fields, |v| {
            from_kind(&kind, v)
                .unwrap_or_else(|| Err(Box::new(figment::Error::from("unknown kind"))))
        })
    }

    /// Deserializes a table with `de`, reporting every field that fails.
    ///
    /// Serde stops at the first bad field, so each failing key is removed
    /// and the rest deserialized again until no other key fails. What
    /// remains, when it deserializes, is returned so that validation can
    /// still check it; the recorded errors keep it from being used.
    fn fields<T>(
        &mut self,
        prefix: &str,
        mut fields: Dict,
        de: impl Fn(&Value) -> Result<T, Box<figment::Error>>,
    ) -> Option<T> {
        let mut removed: Vec<String> = Vec::new();
        loop {
            let error = match de(&Value::from(fields.clone())) {
                Ok(value) => return Some(value),
                Err(error) => error,
            };
            let mut progress = false;
            for e in *error {
                if let Kind::MissingField(field) = &e.kind
                    && removed.iter().any(|r| r == field.as_ref())
                {
                    continue;
                }
                let key = e.path.first().cloned().or(match &e.kind {
                    Kind::UnknownField(field, _) => Some(field.clone()),
                    _ => None,
                });
                self.push_figment(prefix, e);
                if let Some(key) = key
                    && fields.remove(&key).is_some()
                {
                    removed.push(key);
                    progress = true;
                }
            }
            if !progress {
                return None;
            }
        }
    }

    /// Records one figment error under `prefix`.
    fn push_figment(&mut self, prefix: &str, e: figment::Error) {
        let mut path = prefix.to_owned();
        for segment in &e.path {
            if segment.parse::<usize>().is_ok() {
                path.push_str(&format!("[{segment}]"));
            } else {
                path.push('.');
                path.push_str(segment);
            }
        }
        let message = match &e.kind {
            Kind::UnknownField(field, expected) => {
                if e.path.last() != Some(field) {
                    path.push('.');
                    path.push_str(field);
                }
                if expected.is_empty() {
                    "unknown field".to_owned()
                } else {
                    format!("unknown field; expected one of {}", one_of(expected))
                }
            }
            Kind::MissingField(field) => {
                if e.path.last().map(String::as_str) != Some(field.as_ref()) {
                    path.push('.');
                    path.push_str(field);
                }
                "missing; this field is required".to_owned()
            }
            Kind::UnknownVariant(found, expected) => {
                format!(
                    "unknown value `{found}`; expected one of {}",
                    one_of(expected)
                )
            }
            other => other.to_string(),
        };
        let key = path.split_once('[').map_or(path.as_str(), |(key, _)| key);
        let message = match self.origins.get(key) {
            Some(var) => format!("{message} (set by environment variable {var})"),
            None => message,
        };
        self.errors.push(FieldError::new(path, message));
    }
}

/// Folds a multi-line TOML parse error, which quotes the source line with a
/// caret, into one line: `line 1, column 8: invalid table header; …`.
fn one_line(message: &str) -> String {
    let mut lines = message.lines().map(str::trim).filter(|l| !l.is_empty());
    let head = lines.next().unwrap_or_default();
    let head = head.strip_prefix("TOML parse error at ").unwrap_or(head);
    let is_quote = |l: &str| {
        l.starts_with('|')
            || l.split_once(" |")
                .is_some_and(|(n, _)| n.chars().all(|c| c.is_ascii_digit()))
    };
    let rest: Vec<&str> = lines.filter(|l| !is_quote(l)).collect();
    if rest.is_empty() {
        head.to_owned()
    } else {
        format!("{head}: {}", rest.join("; "))
    }
}

/// `channels[0] (sms-utama)`, or `channels[0]` when the name is missing or
/// not a valid name.
pub(crate) fn item_label(key: &str, index: usize, name: Option<&str>) -> String {
    match name {
        Some(name) if super::channels::channel_name_problem(name).is_none() => {
            format!("{key}[{index}] ({name})")
        }
        _ => format!("{key}[{index}]"),
    }
}

/// `` `a`, `b`, `c` ``
pub(crate) fn one_of(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
