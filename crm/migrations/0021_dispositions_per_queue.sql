-- Dispositions and "must disposition before the next call" per inbound queue, beside
-- the per-campaign ones (0009, 0016). crm/dispositions.py decides what a call is offered
-- and crm/call_work.py which policy blocks the next call.
--
-- A disposition is offered everywhere (no campaign, no queue), in one campaign, or in
-- calls of one queue: never both, so the pair (campaign, queue) names where it lives.
ALTER TABLE dispositions ADD COLUMN queue_id INTEGER REFERENCES queues (id);
DROP INDEX dispositions_name;
CREATE UNIQUE INDEX dispositions_name
    ON dispositions (COALESCE(campaign_id, 0), COALESCE(queue_id, 0), name_key);

-- A queue's policy is its row; a queue without one follows the default row (no campaign,
-- no queue), as every queue call did before this migration.
ALTER TABLE disposition_policies ADD COLUMN queue_id INTEGER REFERENCES queues (id);
DROP INDEX disposition_policies_campaign;
CREATE UNIQUE INDEX disposition_policies_scope
    ON disposition_policies (COALESCE(campaign_id, 0), COALESCE(queue_id, 0));
