//! Structured outputs: the JSON Schemas sent as `response_format: json_schema`, in the strict
//! form OpenAI requires and vLLM, Ollama and llama.cpp's server also constrain decoding to.
//!
//! Strict mode wants every object closed (`additionalProperties: false`) with every property
//! listed in `required`; an optional value is expressed as nullable instead. So the schema sent
//! is a transformed copy and the reply is mapped back (nulls of optional keys dropped) before it
//! is validated against the original. A schema the strict subset cannot express (a property of
//! any type, `$ref`, `not`) is sent with `strict: false`: servers still use it as a guide.

use serde_json::{Map, Value, json};

/// Keywords the strict subset has no use for or rejects; removed from what is sent.
const DROPPED_KEYWORDS: &[&str] = &["default", "$schema", "$id", "examples"];

/// The strict form of an arguments schema (a flat object of typed properties): every property
/// required and nullable. `None` when a property cannot be expressed (no `type`, or
/// composition keywords), so the caller sends the schema unchanged with `strict: false`.
pub fn strict_arguments(schema: &Value) -> Option<Value> {
    let props = schema.get("properties")?.as_object()?;
    let mut out = Map::new();
    for (name, prop) in props {
        out.insert(name.clone(), nullable(strict_value(prop)?));
    }
    let names: Vec<Value> = props.keys().map(|k| Value::String(k.clone())).collect();
    Some(json!({"type": "object", "properties": out, "required": names, "additionalProperties": false}))
}

/// A property schema in the strict subset, or `None`.
fn strict_value(schema: &Value) -> Option<Value> {
    let obj = schema.as_object()?;
    if ["$ref", "not", "allOf", "oneOf", "if", "patternProperties"].iter().any(|k| obj.contains_key(*k)) {
        return None;
    }
    if let Some(any) = obj.get("anyOf").and_then(Value::as_array) {
        let branches: Option<Vec<Value>> = any.iter().map(strict_value).collect();
        return Some(json!({"anyOf": branches?}));
    }
    let ty = obj.get("type")?;
    let mut out: Map<String, Value> = obj
        .iter()
        .filter(|(k, _)| !DROPPED_KEYWORDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let is = |t: &str| ty == t || ty.as_array().is_some_and(|a| a.iter().any(|x| x == t));
    if is("object") {
        match obj.get("properties").and_then(Value::as_object) {
            // A free-form object (a dict argument) cannot be closed: not expressible.
            None => return None,
            Some(props) => {
                let mut strict_props = Map::new();
                let required: Vec<&str> = obj
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                for (k, p) in props {
                    let p = strict_value(p)?;
                    strict_props.insert(k.clone(), if required.contains(&k.as_str()) { p } else { nullable(p) });
                }
                let names: Vec<Value> = props.keys().map(|k| Value::String(k.clone())).collect();
                out.insert("properties".into(), Value::Object(strict_props));
                out.insert("required".into(), Value::Array(names));
                out.insert("additionalProperties".into(), Value::Bool(false));
            }
        }
    }
    if is("array") {
        match obj.get("items") {
            Some(items) => {
                out.insert("items".into(), strict_value(items)?);
            }
            None => return None,
        }
    }
    Some(Value::Object(out))
}

/// `schema` that also admits `null`.
fn nullable(mut schema: Value) -> Value {
    match schema.get_mut("type") {
        Some(Value::String(t)) if t != "null" => {
            let t = std::mem::take(t);
            schema["type"] = json!([t, "null"]);
            schema
        }
        Some(Value::Array(ts)) => {
            if !ts.iter().any(|t| t == "null") {
                ts.push("null".into());
            }
            schema
        }
        Some(_) => schema,
        None => json!({"anyOf": [schema, {"type": "null"}]}),
    }
}

/// Undo [`strict_arguments`] on a reply: drop the keys that are `null` and not required by
/// the original `schema` (at the top level: arguments are flat). A required argument left
/// `null` is kept, so validation names it.
pub fn drop_null_optionals(args: &mut Map<String, Value>, schema: &Value) {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    args.retain(|k, v| !v.is_null() || required.contains(&k.as_str()));
}

/// What `extract_arguments` asks for: the arguments (strict form when the schema allows) and
/// the required values the request does not give. Returns the schema and whether it is strict.
pub fn extraction(arguments_schema: &Value) -> (Value, bool) {
    let missing = json!({"type": "array", "items": {"type": "string"}});
    match strict_arguments(arguments_schema) {
        Some(args) => (
            json!({
                "type": "object",
                "properties": {"arguments": args, "missing": missing},
                "required": ["arguments", "missing"],
                "additionalProperties": false
            }),
            true,
        ),
        None => {
            let mut loose = arguments_schema.clone();
            if let Some(o) = loose.as_object_mut() {
                for k in DROPPED_KEYWORDS {
                    o.remove(*k);
                }
            }
            (
                json!({
                    "type": "object",
                    "properties": {"arguments": loose, "missing": missing},
                    "required": ["arguments", "missing"]
                }),
                false,
            )
        }
    }
}

/// The spec as strict mode can state it (`schemas/spec.schema.json` uses `$ref` and `not`,
/// which it cannot): every key present, a parameter's `default` any scalar or null. The reply
/// is validated against the full schema afterwards.
pub fn spec_wire() -> Value {
    let types = json!(["string", "integer", "number", "boolean", "array", "object", "null"]);
    json!({
        "type": "object",
        "properties": {
            "function_name": {"type": "string"},
            "parameters": {"type": "array", "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "type": {"type": "string", "enum": types},
                    "description": {"type": "string"},
                    "required": {"type": "boolean"},
                    "default": {"type": ["string", "integer", "number", "boolean", "null"]}
                },
                "required": ["name", "type", "description", "required", "default"],
                "additionalProperties": false
            }},
            "return_type": {"type": "string", "enum": types},
            "docstring": {"type": "string"},
            "examples": {"type": "array", "items": {"type": "string"}}
        },
        "required": ["function_name", "parameters", "return_type", "docstring", "examples"],
        "additionalProperties": false
    })
}

/// Undo [`spec_wire`] on a reply: a required parameter has no default, and an empty examples
/// list says nothing.
pub fn spec_from_wire(value: &mut Value) {
    if let Some(params) = value.get_mut("parameters").and_then(Value::as_array_mut) {
        for p in params.iter_mut().filter_map(Value::as_object_mut) {
            if p.get("required") == Some(&Value::Bool(true)) {
                p.remove("default");
            }
        }
    }
    if value.get("examples").and_then(Value::as_array).is_some_and(|e| e.is_empty())
        && let Some(o) = value.as_object_mut()
    {
        o.remove("examples");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optional_arguments_become_nullable_and_come_back_absent() {
        let schema = json!({
            "type": "object",
            "properties": {"n": {"type": "integer"}, "places": {"type": "integer", "default": 2}},
            "required": ["n"],
            "additionalProperties": false
        });
        let strict = strict_arguments(&schema).unwrap();
        assert_eq!(strict["required"], json!(["n", "places"]));
        assert_eq!(strict["properties"]["places"], json!({"type": ["integer", "null"]}));
        let mut reply = json!({"n": 5, "places": null}).as_object().unwrap().clone();
        drop_null_optionals(&mut reply, &schema);
        assert_eq!(Value::Object(reply), json!({"n": 5}));
    }

    #[test]
    fn an_untyped_or_free_form_argument_is_not_strict() {
        let any = json!({"type": "object", "properties": {"x": {}}, "required": ["x"]});
        assert!(strict_arguments(&any).is_none());
        let dict = json!({"type": "object", "properties": {"d": {"type": "object"}}, "required": ["d"]});
        assert!(strict_arguments(&dict).is_none());
        assert!(!extraction(&dict).1);
        let list = json!({"type": "object", "properties": {"xs": {"type": "array", "items": {"type": "number"}}}});
        assert!(extraction(&list).1);
    }
}
