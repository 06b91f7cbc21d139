-- Queues (inbound) and campaigns (outbound) as things an administrator defines, agents
-- are members of and log in and out of. crm/queues.py decides what is acceptable,
-- crm/queue_store.py keeps them, crm/agent_queues.py decides logins.
--
-- Neither is ever deleted once something refers to it: archived_at hides it from the
-- choices while history, callbacks, dispositions and the state log keep their meaning.

CREATE TABLE queues (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL UNIQUE,
    -- What the PBX sends with a call of this queue: its queue number, extension or the
    -- DID dialled (gateway/queue_routing.py reads it from the INVITE). '' = not mapped.
    pbx_number TEXT NOT NULL DEFAULT '',
    pbx_key TEXT NOT NULL DEFAULT '',
    archived_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- Two live queues cannot claim the same PBX number: a call would belong to both.
CREATE UNIQUE INDEX queues_pbx_key ON queues (pbx_key)
    WHERE pbx_key <> '' AND archived_at IS NULL;

CREATE TABLE campaigns (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'paused')),
    -- Inclusive dates (YYYY-MM-DD, the deployment's calendar); NULL = no limit.
    starts_on TEXT,
    ends_on TEXT,
    archived_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
-- "Must disposition before the next call" per campaign is the campaign's row in
-- disposition_policies (0009), so crm/call_work.py's blocking query needs no change;
-- the row with a NULL campaign stays the default for calls without a campaign.

CREATE TABLE queue_members (
    queue_id INTEGER NOT NULL REFERENCES queues (id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (queue_id, user_id)
);

CREATE TABLE campaign_members (
    campaign_id INTEGER NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (campaign_id, user_id)
);

CREATE INDEX queue_members_user ON queue_members (user_id);
CREATE INDEX campaign_members_user ON campaign_members (user_id);

-- Which queues and campaigns each agent is logged in to right now.
CREATE TABLE agent_queue_logins (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    queue_id INTEGER NOT NULL REFERENCES queues (id) ON DELETE CASCADE,
    since TEXT NOT NULL,
    PRIMARY KEY (user_id, queue_id)
);

CREATE TABLE agent_campaign_logins (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    campaign_id INTEGER NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    since TEXT NOT NULL,
    PRIMARY KEY (user_id, campaign_id)
);

-- The campaign the agent's next outbound call belongs to (their pick among those they
-- are logged in to).
ALTER TABLE agent_states ADD COLUMN campaign_id INTEGER REFERENCES campaigns (id);

-- The state log also keeps each queue/campaign login: rows with a queue_id or a
-- campaign_id are that queue's intervals ('available' = logged in to it); rows with
-- neither are the agent's overall status, as before.
ALTER TABLE agent_state_log ADD COLUMN queue_id INTEGER REFERENCES queues (id);
ALTER TABLE agent_state_log ADD COLUMN campaign_id INTEGER REFERENCES campaigns (id);
CREATE INDEX agent_state_log_open ON agent_state_log (user_id) WHERE ended_at IS NULL;

-- Which queue an inbound call came through (campaign_id is already there, from 0009).
ALTER TABLE call_work ADD COLUMN queue_id INTEGER REFERENCES queues (id);
CREATE INDEX call_work_queue ON call_work (queue_id) WHERE queue_id IS NOT NULL;
CREATE INDEX call_work_campaign ON call_work (campaign_id) WHERE campaign_id IS NOT NULL;

-- Callbacks referred to a queue or campaign by free text (callbacks.queue). They now
-- carry a reference; the text stays for rows that match no queue or campaign. No queue
-- or campaign exists when this runs, so the matching happens when an administrator
-- creates or renames one (crm/queue_store.py adopts callbacks whose text matches the
-- name, case-insensitively).
ALTER TABLE callbacks ADD COLUMN queue_id INTEGER REFERENCES queues (id);
ALTER TABLE callbacks ADD COLUMN campaign_id INTEGER REFERENCES campaigns (id);
CREATE INDEX callbacks_queue_key ON callbacks (queue_key)
    WHERE queue_id IS NULL AND campaign_id IS NULL AND queue_key <> '';
