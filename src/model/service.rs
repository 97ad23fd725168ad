//! Named service ports: which names are valid, the env variable each one
//! maps to, and what describes a service (a description, its protocol, a
//! health path), each checked here.
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

/// The protocol of a service: what "running" means for its port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Protocol {
    /// Running when a TCP socket listens on the port.
    #[default]
    Tcp,
    /// Running when a UDP socket is bound to the port.
    Udp,
}

impl Protocol {
    /// Returns the protocol named `text` (`tcp` or `udp`).
    pub fn parse(text: &str) -> Option<Protocol> {
        match text {
            "tcp" => Some(Protocol::Tcp),
            "udp" => Some(Protocol::Udp),
            _ => None,
        }
    }

    /// Returns its name, as the config and the ledger write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What describes a service beyond its port; a field left `None` is
/// unset (the protocol then is TCP, and `status` checks only that it
/// listens).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ServiceInfo {
    /// What it is, for people: "Frontend dev server".
    pub describe: Option<String>,
    /// Its protocol.
    pub protocol: Option<Protocol>,
    /// The HTTP path `status` asks (GET) to call it healthy.
    pub health: Option<String>,
}

impl ServiceInfo {
    /// Returns true when no field is set.
    pub fn is_empty(&self) -> bool {
        self.describe.is_none() && self.protocol.is_none() && self.health.is_none()
    }

    /// Returns the protocol, TCP when unset.
    pub fn protocol(&self) -> Protocol {
        self.protocol.unwrap_or_default()
    }
}

/// A field of [`ServiceInfo`], naming which one [`ServiceInfo::read`]
/// refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InfoField {
    /// `describe`.
    Describe,
    /// `protocol`.
    Protocol,
    /// `health`.
    Health,
}

impl ServiceInfo {
    /// Reads what a command says of a service, each field checked; an
    /// empty description or health path is kept as given (it clears the
    /// field). Returns the field refused and why.
    pub fn read(
        describe: Option<&str>,
        protocol: Option<&str>,
        health: Option<&str>,
    ) -> Result<ServiceInfo, (InfoField, String)> {
        if let Some(d) = describe {
            check_describe(d).map_err(|m| (InfoField::Describe, m))?;
        }
        if let Some(h) = health.filter(|h| !h.is_empty()) {
            check_health(h).map_err(|m| (InfoField::Health, m))?;
        }
        let protocol = match protocol {
            None => None,
            Some(p) => Some(
                Protocol::parse(p)
                    .ok_or_else(|| (InfoField::Protocol, format!("`{p}` is not a protocol")))?,
            ),
        };
        Ok(ServiceInfo {
            describe: describe.map(str::to_string),
            protocol,
            health: health.map(str::to_string),
        })
    }
}

/// The longest description a service may have, in characters.
pub const MAX_DESCRIBE: usize = 200;

/// Checks a service's description: one line of at most [`MAX_DESCRIBE`]
/// characters, no control characters; returns why not.
pub fn check_describe(text: &str) -> Result<(), String> {
    if text.chars().count() > MAX_DESCRIBE {
        return Err(format!(
            "a description is at most {MAX_DESCRIBE} characters"
        ));
    }
    if text.chars().any(char::is_control) {
        return Err("a description is one line, without control characters".into());
    }
    Ok(())
}

/// Checks a health path: it starts with `/`, is at most 1024 bytes, and
/// holds only the characters a request line's path may (no spaces, no
/// control characters); returns why not.
pub fn check_health(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!("a health path starts with `/` (got `{path}`)"));
    }
    if path.len() > 1024 {
        return Err("a health path is at most 1024 bytes".into());
    }
    if !path.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "a health path holds no spaces or control characters (got {path:?})"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_and_health_paths_are_checked() {
        assert!(check_describe("Frontend dev server").is_ok());
        assert!(check_describe(r"a \n in text").is_ok());
        assert!(check_describe("line\nbreak").is_err());
        assert!(check_describe(&"x".repeat(MAX_DESCRIBE + 1)).is_err());
        assert!(check_health("/healthz").is_ok());
        assert!(check_health("/api/health?deep=1").is_ok());
        for bad in ["healthz", "/a b", "/a\r\nHost: x", ""] {
            assert!(check_health(bad).is_err(), "{bad:?}");
        }
        assert_eq!(Protocol::parse("udp"), Some(Protocol::Udp));
        assert_eq!(Protocol::parse("UDP"), None);
        let refused = ServiceInfo::read(None, Some("sctp"), None).unwrap_err();
        assert_eq!(refused.0, InfoField::Protocol);
        let cleared = ServiceInfo::read(Some(""), None, Some("")).unwrap();
        assert_eq!(cleared.health.as_deref(), Some(""));
    }

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
