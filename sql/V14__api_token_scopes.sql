-- API token scopes (issue 12): 'read' tokens use GET and the read-only
-- checks (verification); 'write' tokens may also change what the practice's
-- role allows, except users, roles, tokens, sessions, passwords, auditor
-- grants and transfers, which need a browser session whatever the scope.
-- Tokens made before scopes existed could write; they keep that, so no
-- integration breaks; new tokens are 'read' unless asked otherwise.
ALTER TABLE api_tokens ADD COLUMN scope text NOT NULL DEFAULT 'write';
ALTER TABLE api_tokens ALTER COLUMN scope SET DEFAULT 'read';
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_scope_check CHECK (scope IN ('read', 'write'));
