-- Call quality (gateway/quality.py estimates it, the line worker samples it every ~2 s):
-- one row per call and leg ('browser' = agent's WebRTC leg, 'sip' = the carrier leg), the
-- average and worst figures over the connected part of the call. Kept beside call_records
-- rather than as columns on it so a call without samples costs nothing.
CREATE TABLE call_quality (
    call_id TEXT NOT NULL REFERENCES call_records (id) ON DELETE CASCADE,
    leg TEXT NOT NULL CHECK (leg IN ('browser', 'sip')),
    samples INTEGER NOT NULL,
    jitter_avg_ms REAL NOT NULL,
    jitter_max_ms REAL NOT NULL,
    loss_avg_pct REAL NOT NULL,
    loss_max_pct REAL NOT NULL,
    -- NULL when RTCP never gave a round-trip time for this leg.
    rtt_avg_ms REAL,
    rtt_max_ms REAL,
    mos_avg REAL NOT NULL,
    mos_min REAL NOT NULL,
    PRIMARY KEY (call_id, leg)
);
