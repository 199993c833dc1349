-- Meetings (api.md, "Meeting"). Kept column-for-column identical in ../sqlite and ../postgres;
-- a test compares the two. Ids and JSON as TEXT, times as BIGINT milliseconds.
--
-- id: Zoom's meeting number, 10-11 random digits, unique deployment-wide.
-- password: the meeting passcode. Zoom's API shows it to participants and in join URLs, so it is
--   stored as plain TEXT: it is not a credential of this system (no hashing, no encryption).
-- settings, recurrence: JSON in Zoom's shape; occurrences are computed from them, not stored.
-- sort_at: the listing key, start_time or, for a meeting without a fixed time, created_at.
-- ends_at: when the meeting (its last occurrence) is over; NULL for one without a fixed time.
CREATE TABLE meetings (
    id BIGINT PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    host_id TEXT NOT NULL REFERENCES users (id),
    assistant_id TEXT,
    topic TEXT NOT NULL,
    meeting_type BIGINT NOT NULL CHECK (meeting_type IN (1, 2, 3, 8)),
    status TEXT NOT NULL CHECK (status IN ('waiting', 'started')),
    start_time BIGINT,
    duration BIGINT NOT NULL,
    timezone TEXT NOT NULL,
    agenda TEXT NOT NULL,
    password TEXT NOT NULL,
    settings TEXT NOT NULL,
    recurrence TEXT,
    sort_at BIGINT NOT NULL,
    ends_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX meetings_by_host ON meetings (host_id, sort_at, id);
