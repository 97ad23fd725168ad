//! Named service ports: which names are valid and the env variable each
//! one maps to.
//!
//! Part of the pure core: no I/O, no SQLite.

/// Returns true when `name` can name a service port: a lowercase ASCII
/// letter, then lowercase letters, digits and `_`, at most 40 characters.
/// So every name maps to its own valid variable (`web_api` → `WEB_API_PORT`).
/// `who` is reserved for `shards port who`.
pub fn valid_service_name(name: &str) -> bool {
    // `who` is `shards port who PORT`.
    name != "who"
        && name.len() <= 40
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Returns the env variable of a service port: `web_api` → `WEB_API_PORT`.
pub fn service_var(name: &str) -> String {
    format!("{}_PORT", name.to_ascii_uppercase())
}

/// Returns the variable that holds a service's URL through the proxy
/// (`web` → `WEB_URL`).
pub fn service_url_var(name: &str) -> String {
    format!("{}_URL", name.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names_map_to_distinct_valid_variables() {
        for ok in ["web", "api2", "web_admin"] {
            assert!(valid_service_name(ok), "{ok}");
        }
        for bad in ["who", "Web", "web-api", "1web", "_web", "", &"a".repeat(41)] {
            assert!(!valid_service_name(bad), "{bad:?} was accepted");
        }
        assert_eq!(service_var("web_admin"), "WEB_ADMIN_PORT");
    }
}
