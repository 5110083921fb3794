//! The environment layer: `SALUR_<SECTION>__<KEY>` variables as a table.
//!
//! Only the scalar sections are read. Other `SALUR_…` variables, such as
//! `SALUR_API_TOKEN` (a secret referenced as `env:SALUR_API_TOKEN`) or
//! `SALUR_TEST_REQUIRE_SERVICES` (a test switch), are not settings and are
//! skipped.

use std::collections::HashMap;

use figment::value::{Dict, Value};

use super::secret::Environment;

/// Prefix of the environment variables that override settings.
const ENV_PREFIX: &str = "SALUR_";

/// Sections that environment variables may set.
const ENV_SECTIONS: &[&str] = &["server", "database", "api", "intake", "outbox", "log"];

/// List settings that an environment variable gives as comma-separated
/// values.
const ENV_LISTS: &[&str] = &["api.tokens", "outbox.retry_schedule"];

/// Turns `SALUR_SECTION__KEY=value` variables into a nested table, and
/// maps each dotted key (`server.listen`) to the variable that set it, so
/// that errors can name the variable. Names are case-insensitive; values are
/// parsed like figment's own `Env` provider (numbers, booleans), except the
/// [`ENV_LISTS`], which are split on commas.
pub(crate) fn layer(env: &Environment) -> (Dict, HashMap<String, String>) {
    let mut root = Dict::new();
    let mut origins = HashMap::new();
    for (name, value) in env.iter() {
        let split = ENV_PREFIX.len();
        let (Some(prefix), Some(rest)) = (name.get(..split), name.get(split..)) else {
            continue;
        };
        if !prefix.eq_ignore_ascii_case(ENV_PREFIX) {
            continue;
        }
        let rest = rest.to_ascii_lowercase();
        let segments: Vec<&str> = rest.split("__").collect();
        if segments.len() < 2
            || segments.iter().any(|s| s.is_empty())
            || !ENV_SECTIONS.contains(&segments[0])
        {
            continue;
        }
        let dotted = segments.join(".");
        let value = if ENV_LISTS.contains(&dotted.as_str()) {
            let items = value
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(Value::from)
                .collect::<Vec<_>>();
            Value::from(items)
        } else {
            match value.parse::<Value>() {
                Ok(v) => v,
                Err(never) => match never {},
            }
        };
        insert_nested(&mut root, &segments, value);
        origins.insert(dotted, name.to_owned());
    }
    (root, origins)
}

fn insert_nested(dict: &mut Dict, segments: &[&str], value: Value) {
    match segments {
        [] => {}
        [last] => {
            dict.insert((*last).to_owned(), value);
        }
        [first, rest @ ..] => {
            let entry = dict
                .entry((*first).to_owned())
                .or_insert_with(|| Value::from(Dict::new()));
            if entry.as_dict().is_none() {
                *entry = Value::from(Dict::new());
            }
            if let Value::Dict(_, inner) = entry {
                insert_nested(inner, rest, value);
            }
        }
    }
}
