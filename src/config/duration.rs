//! Serde helpers for human-readable durations such as `"30s"`, `"10m"` or
//! `"7d"`, parsed with `humantime`. A bare integer is taken as seconds.
//!
//! Use as `#[serde(deserialize_with = "duration::one")]` on a `Duration`
//! field and `#[serde(deserialize_with = "duration::list")]` on a
//! `Vec<Duration>` field.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserialize, Deserializer, Visitor};

/// A `Duration` that deserializes from a humantime string or whole seconds.
struct Human(Duration);

impl<'de> Deserialize<'de> for Human {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct HumanVisitor;

        impl Visitor<'_> for HumanVisitor {
            type Value = Human;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"30s\", \"10m\" or \"7d\"")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Human, E> {
                humantime::parse_duration(v.trim())
                    .map(Human)
                    .map_err(|e| E::custom(format_args!("invalid duration `{v}`: {e}")))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Human, E> {
                Ok(Human(Duration::from_secs(v)))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Human, E> {
                u64::try_from(v)
                    .map(|secs| Human(Duration::from_secs(secs)))
                    .map_err(|_| E::custom(format_args!("invalid duration `{v}`: negative")))
            }
        }

        deserializer.deserialize_any(HumanVisitor)
    }
}

/// Deserializes one duration.
///
/// # Errors
///
/// Fails on a value that is neither a humantime string nor a non-negative
/// integer.
pub fn one<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    Human::deserialize(deserializer).map(|h| h.0)
}

/// Deserializes a list of durations.
///
/// # Errors
///
/// Fails when the value is not a list, or when any item is not a duration.
pub fn list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Duration>, D::Error> {
    Vec::<Human>::deserialize(deserializer).map(|v| v.into_iter().map(|h| h.0).collect())
}
