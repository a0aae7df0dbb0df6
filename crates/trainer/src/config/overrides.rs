//! `--set section.key=value` overrides on the raw TOML tree.

use crate::error::ConfigError;

/// Applies one `dotted.key=value` override to `table`.
///
/// `value` is read as a TOML value (`0.1`, `true`, `"k3"`, `[1, 2]`, `{ a = 1 }`); anything that is
/// not valid TOML is taken as a bare string, so `--set ppo.kl_estimator=k1` works unquoted.
/// Missing intermediate tables are created; the key itself is checked later, when the tree is
/// deserialised (an unknown key fails there, naming its path).
pub fn apply_override(table: &mut toml::Table, item: &str) -> Result<(), ConfigError> {
    let (key, raw) = item.split_once('=').ok_or_else(|| ConfigError::Override {
        item: item.to_string(),
        message: "expected key=value".into(),
    })?;
    let key = key.trim();
    let parts: Vec<&str> = key.split('.').map(str::trim).collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(ConfigError::Override {
            item: item.to_string(),
            message: "empty key segment".into(),
        });
    }
    let value = parse_value(raw.trim());
    let (last, parents) = parts.split_last().expect("split yields at least one part");
    let mut current = table;
    for (depth, part) in parents.iter().enumerate() {
        let entry = current
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = entry.as_table_mut().ok_or_else(|| ConfigError::Override {
            item: item.to_string(),
            message: format!("`{}` is not a table", parts[..=depth].join(".")),
        })?;
    }
    current.insert(last.to_string(), value);
    Ok(())
}

fn parse_value(raw: &str) -> toml::Value {
    let wrapped = format!("v = {raw}");
    match wrapped.parse::<toml::Table>() {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.into())),
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_nested_values_with_types() {
        let mut t: toml::Table = "[ppo]\nclip_eps = 0.2\n".parse().unwrap();
        apply_override(&mut t, "ppo.clip_eps=0.3").unwrap();
        apply_override(&mut t, "ppo.kl_estimator=k1").unwrap();
        apply_override(&mut t, "rollout.top_k = 5").unwrap();
        apply_override(&mut t, "filter.truncation=true").unwrap();
        assert_eq!(t["ppo"]["clip_eps"].as_float(), Some(0.3));
        assert_eq!(t["ppo"]["kl_estimator"].as_str(), Some("k1"));
        assert_eq!(t["rollout"]["top_k"].as_integer(), Some(5));
        assert_eq!(t["filter"]["truncation"].as_bool(), Some(true));
    }

    #[test]
    fn rejects_malformed_items() {
        let mut t = toml::Table::new();
        assert!(apply_override(&mut t, "ppo.clip_eps").is_err());
        assert!(apply_override(&mut t, "ppo..clip=1").is_err());
        t.insert("seed".into(), toml::Value::Integer(1));
        let err = apply_override(&mut t, "seed.x=1").unwrap_err().to_string();
        assert!(err.contains("`seed` is not a table"), "{err}");
    }
}
