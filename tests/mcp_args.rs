//! MCP tool calls with a missing or wrongly typed argument (issue 18): the
//! error names the argument and carries a hint listing what the tool
//! takes, in the shape of every other tool error (`error (kind): message`,
//! then `hint: …`). Raw JSON-RPC on the real binary's stdio (`mcp_wire`).

use serde_json::{Value, json};

use crate::common::TestEnv;
use crate::mcp_wire::{Wire, error_text, world};

/// Calls `tool` with `arguments` and returns its error text.
fn refused(wire: &mut Wire, id: u64, tool: &str, arguments: Value) -> String {
    let reply: Value = serde_json::from_str(&wire.call(id, tool, arguments)).unwrap();
    assert_eq!(reply["id"], id, "{reply}");
    error_text(&reply)
}

#[test]
fn issue_18_mcp_a_missing_argument_is_named_with_a_hint() {
    let env = TestEnv::new();
    let before = world(&env);
    let mut wire = Wire::start(&env, "2025-06-18");
    insta::assert_snapshot!(refused(&mut wire, 1, "create_shard", json!({})), @"
    error (usage): create_shard: missing argument `name`
    hint: create_shard takes `name` (required), `base`, `branch`, `no_hooks`, `repo`; their types are in its input schema, see tools/list
    ");
    let text = refused(&mut wire, 2, "destroy_shard", json!({"force": true}));
    assert!(
        text.starts_with("error (usage): destroy_shard: missing argument `name`"),
        "{text}"
    );
    assert!(
        text.contains("\nhint: destroy_shard takes `name` (required)"),
        "{text}"
    );
    let text = refused(&mut wire, 3, "get_port", json!({"shard": "a"}));
    assert!(text.contains("missing argument `services`"), "{text}");
    assert!(text.contains("\nhint: "), "{text}");
    wire.ping(4);
    wire.finish();
    assert_eq!(world(&env), before);
}

#[test]
fn issue_18_mcp_a_wrongly_typed_argument_is_named_with_a_hint() {
    let env = TestEnv::new();
    let before = world(&env);
    let mut wire = Wire::start(&env, "2025-06-18");
    insta::assert_snapshot!(refused(&mut wire, 1, "create_shard", json!({"name": 5})), @"
    error (usage): create_shard: argument `name`: invalid type: integer `5`, expected a string
    hint: create_shard takes `name` (required), `base`, `branch`, `no_hooks`, `repo`; their types are in its input schema, see tools/list
    ");
    for (id, tool, arguments, argument) in [
        (
            2,
            "destroy_shard",
            json!({"name": "x", "force": "yes"}),
            "force",
        ),
        (3, "get_port", json!({"services": "web"}), "services"),
        (4, "get_port", json!({"services": ["web", 5]}), "services"),
        (5, "list_shards", json!({"full": 1}), "full"),
        (6, "port_status", json!({"all": "true"}), "all"),
        (7, "shard_env", json!({"shard": ["a"]}), "shard"),
        (8, "create_shard", json!({"name": "ok", "repo": 7}), "repo"),
    ] {
        let text = refused(&mut wire, id, tool, arguments);
        assert!(
            text.starts_with(&format!(
                "error (usage): {tool}: argument `{argument}`: invalid type"
            )),
            "{text}"
        );
        assert!(text.contains(&format!("\nhint: {tool} takes ")), "{text}");
        assert!(text.ends_with("see tools/list"), "{text}");
    }
    wire.ping(9);
    wire.finish();
    assert_eq!(world(&env), before);
}
