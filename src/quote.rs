//! How messages quote a value the user passed: whole when short, else its
//! first characters and its size, so a 10 MB argument never makes a 10 MB
//! error (on the command line or into an agent's context over MCP). Pure.

use std::borrow::Cow;

/// How many characters of a user's value an error quotes.
pub const QUOTE_CHARS: usize = 80;

/// A user's value as an error quotes it: whole up to [`QUOTE_CHARS`]
/// characters, else those and its size (`abc… (10485760 bytes)`), so a
/// 10 MB argument never makes a 10 MB message.
pub fn clip(value: &str) -> Cow<'_, str> {
    clip_to(value, QUOTE_CHARS)
}

/// [`clip`] to `chars` characters.
pub fn clip_to(value: &str, chars: usize) -> Cow<'_, str> {
    match value.char_indices().nth(chars) {
        None => Cow::Borrowed(value),
        Some((end, _)) => Cow::Owned(format!("{}… ({} bytes)", &value[..end], value.len())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_stay_whole_and_long_ones_keep_a_prefix_and_their_size() {
        assert_eq!(clip("api"), "api");
        let exact = "é".repeat(QUOTE_CHARS);
        assert_eq!(clip(&exact), exact);
        let long = "é".repeat(QUOTE_CHARS + 1);
        assert_eq!(
            clip(&long),
            format!("{}… ({} bytes)", "é".repeat(QUOTE_CHARS), long.len())
        );
        assert_eq!(clip_to("abcdef", 3), "abc… (6 bytes)");
    }
}
