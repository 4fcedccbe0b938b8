//! A JSON Schema checker for the subset emu's schemas use (docs/*.schema.json):
//! `type` (a name or a list), `required`, `properties`,
//! `additionalProperties` (false, or a schema), `items`, `oneOf`, `enum`,
//! `$ref` to `#/$defs/NAME`. A keyword outside the subset fails the check,
//! so a schema cannot silently promise more than is checked.
#![allow(dead_code)]

use serde_json::Value;

/// Why `value` does not fit `schema` (a path and a reason), or Ok.
pub fn check(root: &Value, value: &Value) -> Result<(), String> {
    fits(root, root, value, "$")
}

fn fits(root: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let Some(schema) = schema.as_object() else {
        return Err(format!("{at}: the schema is not an object"));
    };
    for key in schema.keys() {
        let known = [
            "$schema",
            "$id",
            "$defs",
            "$ref",
            "title",
            "description",
            "type",
            "required",
            "properties",
            "additionalProperties",
            "items",
            "oneOf",
            "enum",
        ];
        if !known.contains(&key.as_str()) {
            return Err(format!("{at}: the checker does not know the keyword `{key}`"));
        }
    }
    if let Some(Value::String(r)) = schema.get("$ref") {
        let name = r.strip_prefix("#/$defs/").ok_or_else(|| format!("{at}: unsupported $ref {r}"))?;
        let target = &root["$defs"][name];
        return fits(root, target, value, at);
    }
    if let Some(types) = schema.get("type") {
        let names: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => return Err(format!("{at}: bad `type`")),
        };
        let is = |t: &str| match t {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            "null" => value.is_null(),
            _ => false,
        };
        if !names.iter().any(|t| is(t)) {
            return Err(format!("{at}: {value} is not {}", names.join(" or ")));
        }
    }
    if let Some(Value::Array(allowed)) = schema.get("enum") {
        if !allowed.contains(value) {
            return Err(format!("{at}: {value} is not one of {allowed:?}"));
        }
    }
    if let Some(Value::Array(shapes)) = schema.get("oneOf") {
        let fitting = shapes.iter().filter(|s| fits(root, s, value, at).is_ok()).count();
        if fitting != 1 {
            let why: Vec<String> = shapes.iter().filter_map(|s| fits(root, s, value, at).err()).collect();
            return Err(format!("{at}: fits {fitting} of the oneOf shapes, not 1 ({})", why.join("; ")));
        }
    }
    if let (Some(obj), true) = (value.as_object(), schema.contains_key("properties") || schema.contains_key("required"))
    {
        let empty = serde_json::Map::new();
        let props = schema.get("properties").and_then(Value::as_object).unwrap_or(&empty);
        for k in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
            let k = k.as_str().unwrap_or_default();
            if !obj.contains_key(k) {
                return Err(format!("{at}: `{k}` is missing"));
            }
        }
        for (k, v) in obj {
            let path = format!("{at}.{k}");
            match (props.get(k), schema.get("additionalProperties")) {
                (Some(p), _) => fits(root, p, v, &path)?,
                (None, Some(Value::Bool(false))) => return Err(format!("{path}: not in the schema")),
                (None, Some(extra)) if extra.is_object() => fits(root, extra, v, &path)?,
                (None, _) => {}
            }
        }
    } else if let (Some(obj), Some(extra)) = (value.as_object(), schema.get("additionalProperties")) {
        if extra.is_object() {
            for (k, v) in obj {
                fits(root, extra, v, &format!("{at}.{k}"))?;
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), value.as_array()) {
        for (i, v) in arr.iter().enumerate() {
            fits(root, items, v, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}
