//! A tool's arguments, checked by shards rather than by rmcp: a missing or
//! wrongly typed argument becomes a usage error that names the argument
//! and hints at what the tool takes, in the shape of every other tool
//! error ([`super::describe`]). rmcp would answer "failed to deserialize
//! parameters" with serde's words alone, which name no field for a wrong
//! type and say nothing of what to send.
//!
//! Command layer: serde and the tool's JSON schema, nothing of git or the
//! ledger.

use std::borrow::Cow;

use rmcp::handler::server::tool::schema_for_type;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::error::Error;

/// The arguments of one tool call: read as `T`, or kept as sent with why
/// they are not a `T`. Its schema is `T`'s, so `tools/list` is unchanged.
pub enum Checked<T> {
    /// The arguments, read.
    Given(T),
    /// The arguments as sent, which `T` refused, and serde's reason.
    Refused(Map<String, Value>, String),
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Checked<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let sent = Map::<String, Value>::deserialize(d)?;
        Ok(match read::<T>(&sent) {
            Ok(t) => Checked::Given(t),
            Err(e) => Checked::Refused(sent, e.to_string()),
        })
    }
}

impl<T: JsonSchema> JsonSchema for Checked<T> {
    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }

    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        T::json_schema(generator)
    }

    fn inline_schema() -> bool {
        T::inline_schema()
    }
}

impl<T: DeserializeOwned + JsonSchema + 'static> Checked<T> {
    /// Returns the arguments of `tool`, or the tool error for them (a
    /// usage error, as [`super::describe`] words it).
    pub fn take(self, tool: &str) -> Result<T, String> {
        match self {
            Checked::Given(t) => Ok(t),
            Checked::Refused(sent, reason) => {
                Err(super::describe(&refusal::<T>(tool, &sent, &reason)))
            }
        }
    }
}

fn read<T: DeserializeOwned>(sent: &Map<String, Value>) -> serde_json::Result<T> {
    serde_json::from_value(Value::Object(sent.clone()))
}

/// The usage error for arguments `T` refused: the argument at fault (the
/// one missing, else the one whose removal `T` takes or misses as such)
/// and serde's reason; the hint lists the tool's arguments.
fn refusal<T: DeserializeOwned + JsonSchema + 'static>(
    tool: &str,
    sent: &Map<String, Value>,
    reason: &str,
) -> Error {
    let message = if let Some(missing) = missing_field(reason) {
        format!("{tool}: missing argument `{missing}`")
    } else {
        // serde names no field for a wrong type: the culprit is the one
        // whose removal leaves the rest readable, or only missing itself.
        let culprit = sent.keys().find(|key| {
            let mut rest = sent.clone();
            rest.remove(*key);
            match read::<T>(&rest) {
                Ok(_) => true,
                Err(e) => missing_field(&e.to_string()) == Some(key.as_str()),
            }
        });
        match culprit {
            Some(key) => format!("{tool}: argument `{key}`: {reason}"),
            None => format!("{tool}: {reason}"),
        }
    };
    Error::Usage {
        message,
        hint: expected::<T>(tool),
    }
}

/// The field serde's `missing field `x`` names.
fn missing_field(reason: &str) -> Option<&str> {
    reason.strip_prefix("missing field `")?.split('`').next()
}

/// Says what `tool` takes: its arguments from its schema, the required
/// ones first and marked.
fn expected<T: JsonSchema + 'static>(tool: &str) -> String {
    let schema = schema_for_type::<T>();
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut names: Vec<String> = required
        .iter()
        .map(|name| format!("`{name}` (required)"))
        .collect();
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        names.extend(
            properties
                .keys()
                .filter(|k| !required.contains(&k.as_str()))
                .map(|k| format!("`{k}`")),
        );
    }
    format!(
        "{tool} takes {}; their types are in its input schema, see tools/list",
        names.join(", ")
    )
}
