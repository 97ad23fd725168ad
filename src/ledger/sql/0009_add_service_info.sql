-- 0009: what describes a service (issue 21): a description for people, its protocol (`udp` counts as running when a UDP socket is bound; NULL is TCP), and the HTTP path `status` asks to call it healthy. NULL is unset: `[ports.services]` fills unset fields, `shards port --describe/--protocol/--health` and MCP's `update_port` set them.
ALTER TABLE service_ports ADD COLUMN describe TEXT;
ALTER TABLE service_ports ADD COLUMN protocol TEXT CHECK (protocol IN ('tcp', 'udp'));
ALTER TABLE service_ports ADD COLUMN health TEXT;
