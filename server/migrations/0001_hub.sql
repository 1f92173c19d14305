-- The province's projection of every site's log.

-- One row per site: how far its log is projected (the cursor, moved in the same transaction
-- as the events it covers) and what the newest configuration says about it.
CREATE TABLE hub_sites (
    site         text PRIMARY KEY,
    last_seq     bigint NOT NULL DEFAULT 0,
    last_at      timestamptz,
    -- The stream sequence of the event at last_seq (a gap is filled from after it).
    stream_seq   bigint NOT NULL DEFAULT 0,
    name         text NOT NULL DEFAULT '',
    time_zone    text NOT NULL DEFAULT 'Asia/Ho_Chi_Minh',
    projected_at timestamptz NOT NULL DEFAULT now(),
    -- Set when an event later than the next one arrived: the first seq still missing.
    gap_from     bigint,
    -- Why the site's events cannot be folded into its state, if they cannot.
    problem      text
);

-- Every event of every site, exactly once: the site's own log, keyed as the site keys it.
CREATE TABLE hub_events (
    site text   NOT NULL REFERENCES hub_sites (site),
    seq  bigint NOT NULL CHECK (seq > 0),
    at   timestamptz NOT NULL,
    kind text   NOT NULL,
    body jsonb  NOT NULL,
    PRIMARY KEY (site, seq)
);
CREATE INDEX hub_events_kind_at ON hub_events (kind, at);

-- The first seq of each local business day of a site (the reports start reading there).
CREATE TABLE hub_days (
    site      text   NOT NULL REFERENCES hub_sites (site),
    day       date   NOT NULL,
    first_seq bigint NOT NULL,
    PRIMARY KEY (site, day)
);

-- Each closed day of a site reduced to mergeable sums (the same records a center keeps).
CREATE TABLE hub_rollups (
    site text  NOT NULL REFERENCES hub_sites (site),
    day  date  NOT NULL,
    body bytea NOT NULL,
    PRIMARY KEY (site, day)
);

-- A site's folded state, so a restarted hub reads only the events after it.
CREATE TABLE hub_snapshots (
    site text   PRIMARY KEY REFERENCES hub_sites (site),
    seq  bigint NOT NULL,
    body bytea  NOT NULL
);

-- One row per ticket of every site, as its events left it: for the province's own queries.
CREATE TABLE hub_tickets (
    site            text    NOT NULL REFERENCES hub_sites (site),
    day             date    NOT NULL,
    ticket          bigint  NOT NULL,
    number          text    NOT NULL,
    service         text    NOT NULL,
    priority        boolean NOT NULL,
    state           text    NOT NULL,
    issued_at       timestamptz NOT NULL,
    counter         integer,
    staff           text,
    wait_s          bigint,
    service_s       bigint,
    rating          smallint,
    updated_seq     bigint  NOT NULL,
    PRIMARY KEY (site, ticket)
);
CREATE INDEX hub_tickets_day ON hub_tickets (day, site);

-- The sites the province takes events from, each with the key its events are signed with (a
-- shared secret: the hub needs it to check a signature, so it is kept as given).
CREATE TABLE hub_site_keys (
    site       text PRIMARY KEY,
    key        text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The hub's own accounts, sessions and tokens (secrets as hashes only).
CREATE TABLE hub_users (
    name       text PRIMARY KEY,
    phc        text NOT NULL,
    role       text NOT NULL CHECK (role IN ('admin', 'viewer')),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE hub_sessions (
    hash       bytea PRIMARY KEY,
    name       text NOT NULL REFERENCES hub_users (name) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL
);
CREATE TABLE hub_tokens (
    hash       bytea PRIMARY KEY,
    id         text NOT NULL UNIQUE,
    role       text NOT NULL CHECK (role IN ('admin', 'viewer')),
    label      text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
