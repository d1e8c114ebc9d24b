-- A delivery's headers and body, written once. Kept apart from its inbox
-- row, which changes as the delivery is handled, so that each store keeps
-- the same tables.
CREATE TABLE inbox_bodies (
    inbox_id BIGINT PRIMARY KEY REFERENCES inbox (id),
    headers TEXT NOT NULL,
    body BYTEA NOT NULL
);
INSERT INTO inbox_bodies (inbox_id, headers, body) SELECT id, headers, body FROM inbox;
ALTER TABLE inbox DROP COLUMN headers, DROP COLUMN body;
