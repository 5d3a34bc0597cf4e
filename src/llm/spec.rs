//! The tool spec: the first thing generated, the contract tests and implementation follow.

use std::collections::HashSet;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::error::InvalidSpec;

/// `schemas/spec.schema.json`, compiled into the binary.
pub const SPEC_SCHEMA: &str = include_str!("../../schemas/spec.schema.json");

/// A JSON Schema type name: arguments and results cross the runtime boundary as JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JsonType {
    String,
    Integer,
    Number,
    Boolean,
    Array,
    Object,
    Null,
}

impl JsonType {
    pub fn as_str(self) -> &'static str {
        match self {
            JsonType::String => "string",
            JsonType::Integer => "integer",
            JsonType::Number => "number",
            JsonType::Boolean => "boolean",
            JsonType::Array => "array",
            JsonType::Object => "object",
            JsonType::Null => "null",
        }
    }

    /// The Python annotation for the type.
    pub fn python(self) -> &'static str {
        match self {
            JsonType::String => "str",
            JsonType::Integer => "int",
            JsonType::Number => "float",
            JsonType::Boolean => "bool",
            JsonType::Array => "list",
            JsonType::Object => "dict",
            JsonType::Null => "None",
        }
    }
}

/// One parameter of the tool's function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Param {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: JsonType,
    #[serde(default)]
    pub description: String,
    /// Whether a call must give it; when absent in JSON, true unless a default is given.
    #[serde(default = "yes")]
    pub required: bool,
    /// The value used when the argument is omitted (`None` in Python when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
}

fn yes() -> bool {
    true
}

/// The seed's spec: `function_name`, `parameters`, `return_type`, `docstring`, and the
/// requests a user might make of the tool, stored with it as example requests for the search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    pub function_name: String,
    pub parameters: Vec<Param>,
    pub return_type: JsonType,
    pub docstring: String,
    /// Varied requests a user might make of the tool (the schema allows up to 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub examples: Option<Vec<String>>,
}

fn validator() -> &'static jsonschema::Validator {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    V.get_or_init(|| {
        let schema: Value = serde_json::from_str(SPEC_SCHEMA).expect("schemas/spec.schema.json is JSON");
        jsonschema::validator_for(&schema).expect("schemas/spec.schema.json is a valid schema")
    })
}

/// Validate `instance`, one line per problem, each prefixed with its place
/// (`parameters[0].type: …`). Enum failures list every allowed value; a failed `not` is worded
/// as `not_means` (e.g. "is a Python keyword").
pub(crate) fn schema_problems(validator: &jsonschema::Validator, instance: &Value, not_means: &str) -> Vec<String> {
    use jsonschema::error::ValidationErrorKind as Kind;
    validator
        .iter_errors(instance)
        .map(|e| {
            let what = match e.kind() {
                Kind::Enum { options } => {
                    let options: Vec<String> = options.as_array().into_iter().flatten().map(Value::to_string).collect();
                    format!("{} is not one of {}", e.instance(), options.join(", "))
                }
                Kind::Not { .. } => format!("{} {not_means}", e.instance()),
                _ => e.to_string(),
            };
            format!("{}: {what}", place(&e.instance_path().to_string()))
        })
        .collect()
}

/// A JSON pointer (`/parameters/0/type`) as a reader writes it (`parameters[0].type`).
fn place(pointer: &str) -> String {
    let mut out = String::new();
    for seg in pointer.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&seg);
        }
    }
    if out.is_empty() { "(spec)".to_string() } else { out }
}

impl Spec {
    /// Check `value` against `schemas/spec.schema.json` and the rules a schema cannot state
    /// (unique parameter names, a function name that is not one of its parameters), then
    /// build the spec. A parameter without `required` is required unless it has a default;
    /// required parameters are moved before optional ones, as Python wants.
    pub fn from_value(mut value: Value) -> Result<Spec, InvalidSpec> {
        let mut problems = schema_problems(validator(), &value, "is a Python keyword");
        if !problems.is_empty() {
            return Err(InvalidSpec { problems });
        }
        if let Some(params) = value.get_mut("parameters").and_then(Value::as_array_mut) {
            for p in params.iter_mut().filter_map(Value::as_object_mut) {
                if !p.contains_key("required") {
                    let required = !p.contains_key("default");
                    p.insert("required".into(), Value::Bool(required));
                }
            }
        }
        let mut spec: Spec =
            serde_json::from_value(value).map_err(|e| InvalidSpec { problems: vec![e.to_string()] })?;
        let mut seen = HashSet::new();
        for (i, p) in spec.parameters.iter().enumerate() {
            if !seen.insert(p.name.as_str()) {
                problems.push(format!("parameters[{i}].name: {:?} is used by an earlier parameter", p.name));
            }
            if p.name == spec.function_name {
                problems.push(format!("parameters[{i}].name: {:?} is also the function's name", p.name));
            }
        }
        for (i, e) in spec.examples.iter().flatten().enumerate() {
            if let Err(why) = crate::registry::examples::clean(e) {
                problems.push(format!("examples[{i}]: {why}"));
            }
        }
        if !problems.is_empty() {
            return Err(InvalidSpec { problems });
        }
        spec.parameters.sort_by_key(|p| !p.required);
        Ok(spec)
    }

    /// The Python signature, e.g. `def round_to(x: float, places: int = 2) -> float`.
    pub fn python_signature(&self) -> String {
        let params: Vec<String> = self
            .parameters
            .iter()
            .map(|p| {
                let mut s = format!("{}: {}", p.name, p.ty.python());
                if !p.required {
                    s.push_str(" = ");
                    s.push_str(&python_literal(p.default.as_ref().unwrap_or(&Value::Null)));
                }
                s
            })
            .collect();
        format!("def {}({}) -> {}", self.function_name, params.join(", "), self.return_type.python())
    }

    /// A JSON Schema for the function's arguments object (for argument extraction, MCP tool
    /// listings and argument checks).
    pub fn arguments_schema(&self) -> Value {
        let mut props = Map::new();
        for p in &self.parameters {
            let mut s = json!({"type": p.ty.as_str()});
            if !p.description.is_empty() {
                s["description"] = p.description.clone().into();
            }
            if let Some(d) = &p.default {
                s["default"] = d.clone();
            }
            props.insert(p.name.clone(), s);
        }
        let required: Vec<&str> = self.parameters.iter().filter(|p| p.required).map(|p| p.name.as_str()).collect();
        json!({
            "title": self.function_name,
            "description": self.docstring,
            "type": "object",
            "properties": props,
            "required": required,
            "additionalProperties": false,
        })
    }

    /// Pretty JSON, as shown to the model and stored beside the tool.
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).expect("a spec serializes")
    }
}

/// A JSON value written as a Python literal (`null` → `None`, `true` → `True`, …).
fn python_literal(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => serde_json::to_string(s).expect("a string serializes"),
        Value::Array(items) => format!("[{}]", items.iter().map(python_literal).collect::<Vec<_>>().join(", ")),
        Value::Object(m) => {
            let items: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{}: {}", python_literal(&Value::String(k.clone())), python_literal(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_read_like_paths() {
        assert_eq!(place("/parameters/0/type"), "parameters[0].type");
        assert_eq!(place(""), "(spec)");
        assert_eq!(place("/function_name"), "function_name");
    }

    #[test]
    fn optional_parameters_follow_required_ones_and_render_defaults() {
        let spec = Spec::from_value(json!({
            "function_name": "round_to",
            "parameters": [
                {"name": "places", "type": "integer", "default": 2},
                {"name": "x", "type": "number"},
                {"name": "label", "type": "string", "required": false}
            ],
            "return_type": "number",
            "docstring": "Round x."
        }))
        .unwrap();
        assert_eq!(spec.python_signature(), "def round_to(x: float, places: int = 2, label: str = None) -> float");
        assert_eq!(spec.arguments_schema()["required"], json!(["x"]));
    }

    #[test]
    fn duplicate_names_and_keywords_are_refused() {
        let e = Spec::from_value(json!({
            "function_name": "f",
            "parameters": [{"name": "a", "type": "string"}, {"name": "a", "type": "string"}],
            "return_type": "string", "docstring": "d"
        }))
        .unwrap_err();
        assert!(e.problems[0].contains("parameters[1].name"), "{e}");
        let e = Spec::from_value(
            json!({"function_name": "class", "parameters": [], "return_type": "null", "docstring": "d"}),
        )
        .unwrap_err();
        assert!(e.problems[0].starts_with("function_name:"), "{e}");
    }

    #[test]
    fn examples_are_optional_and_checked() {
        let base = json!({"function_name": "f", "parameters": [], "return_type": "null", "docstring": "d"});
        assert_eq!(Spec::from_value(base.clone()).unwrap().examples, None);
        let mut with = base.clone();
        with["examples"] = json!(["do f", "please do f now"]);
        assert_eq!(Spec::from_value(with).unwrap().examples.unwrap().len(), 2);
        let mut bad = base.clone();
        bad["examples"] = json!(["ok", "bell \u{7}"]);
        let e = Spec::from_value(bad).unwrap_err();
        assert!(e.problems.iter().any(|p| p.starts_with("examples[1]:")), "{e}");
        let mut many = base;
        many["examples"] = json!((0..11).map(|i| format!("request {i}")).collect::<Vec<_>>());
        let e = Spec::from_value(many).unwrap_err();
        assert!(e.problems[0].starts_with("examples:"), "{e}");
    }
}
