-- The runs database of runtape: the layout of onesecondtrader's run recorder (user_version 1),
-- extended additively (user_version 2). Generated from src/events/catalog.ts by
-- `bun run schema`; a test keeps this file and the catalog in step.

CREATE TABLE runs (
    run_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    ts_start INTEGER NOT NULL,
    ts_end INTEGER,
    status TEXT NOT NULL CHECK(status IN ('running', 'completed', 'failed', 'cancelled')),
    config TEXT,
    metadata TEXT
);

CREATE TABLE bars (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    ts_event_ns INTEGER NOT NULL,
    ts_created_ns INTEGER NOT NULL,
    symbol TEXT NOT NULL,
    bar_period TEXT NOT NULL,
    open REAL NOT NULL,
    high REAL NOT NULL,
    low REAL NOT NULL,
    close REAL NOT NULL,
    volume INTEGER,
    seq INTEGER,
    FOREIGN KEY (run_id) REFERENCES runs(run_id)
);

CREATE TABLE bars_processed (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    ts_event_ns INTEGER NOT NULL,
    ts_created_ns INTEGER NOT NULL,
    symbol TEXT NOT NULL,
    bar_period TEXT NOT NULL,
    open REAL NOT NULL,
    high REAL NOT NULL,
    low REAL NOT NULL,
    close REAL NOT NULL,
    volume INTEGER,
    indicators TEXT NOT NULL,
    seq INTEGER,
    FOREIGN KEY (run_id) REFERENCES runs(run_id)
);

CREATE TABLE order_submissions (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    ts_event_ns INTEGER NOT NULL,
    ts_created_ns INTEGER NOT NULL,
    system_order_id TEXT NOT NULL,
    symbol TEXT NOT NULL,
    order_type TEXT NOT NULL,
    side TEXT NOT NULL,
    quantity REAL NOT NULL,
    limit_price REAL,
    stop_price REAL,
    action TEXT,
    signal TEXT,
    seq INTEGER,
    FOREIGN KEY (run_id) REFERENCES runs(run_id)
);

CREATE TABLE order_cancellations (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    ts_event_ns INTEGER NOT NULL,
    ts_created_ns INTEGER NOT NULL,
    system_order_id TEXT NOT NULL,
    symbol TEXT NOT NULL,
    seq INTEGER,
    FOREIGN KEY (run_id) REFERENCES runs(run_id)
);

CREATE TABLE order_modifications (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    ts_event_ns INTEGER NOT NULL,
    ts_created_ns INTEGER NOT NULL,
    system_order_id TEXT NOT NULL,
    symbol TEXT NOT NULL,
    quantity REAL,
    limit_price REAL,
    stop_price REAL,
    seq INTEGER,
    FOREIGN KEY (run_id) REFERENCES runs(run_id)
);

CREATE TABLE orders_accepted (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    ts_event_ns INTEGER NOT NULL,
    ts_created_ns INTEGER NOT NULL,
    ts_broker_ns INTEGER NOT NULL,
    associated_order_id TEXT NOT NULL,
    broker_order_id TEXT,
    seq INTEGER,
    FOREIGN KEY (run_id) REFERENCES runs(run_id)
);

CREATE TABLE orders_rejected (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    ts_event_ns INTEGER NOT NULL,
    ts_created_ns INTEGER NOT NULL,
    ts_broker_ns INTEGER NOT NULL,
    associated_order_id TEXT NOT NULL,
    rejection_reason TEXT NOT NULL,
    rejection_message TEXT NOT NULL,
    seq INTEGER,
    FOREIGN KEY (run_id) REFERENCES runs(run_id)
);

CREATE TABLE cancellations_accepted (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    ts_event_ns INTEGER NOT NULL,
    ts_created_ns INTEGER NOT NULL,
    ts_broker_ns INTEGER NOT NULL,
    associated_order_id TEXT NOT NULL,
    broker_order_id TEXT,
    seq INTEGER,
    FOREIGN KEY (run_id) REFERENCES runs(run_id)
);

CREATE TABLE cancellations_rejected (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    ts_event_ns INTEGER NOT NULL,
    ts_created_ns INTEGER NOT NULL,
    ts_broker_ns INTEGER NOT NULL,
    associated_order_id TEXT NOT NULL,
    rejection_reason TEXT NOT NULL,
    rejection_message TEXT NOT NULL,
    seq INTEGER,
    FOREIGN KEY (run_id) REFERENCES runs(run_id)
);

CREATE TABLE modifications_accepted (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    ts_event_ns INTEGER NOT NULL,
    ts_created_ns INTEGER NOT NULL,
    ts_broker_ns INTEGER NOT NULL,
    associated_order_id TEXT NOT NULL,
    broker_order_id TEXT,
    seq INTEGER,
    FOREIGN KEY (run_id) REFERENCES runs(run_id)
);

CREATE TABLE modifications_rejected (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    ts_event_ns INTEGER NOT NULL,
    ts_created_ns INTEGER NOT NULL,
    ts_broker_ns INTEGER NOT NULL,
    associated_order_id TEXT NOT NULL,
    rejection_reason TEXT NOT NULL,
    rejection_message TEXT NOT NULL,
    seq INTEGER,
    FOREIGN KEY (run_id) REFERENCES runs(run_id)
);

CREATE TABLE fills (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    ts_event_ns INTEGER NOT NULL,
    ts_created_ns INTEGER NOT NULL,
    ts_broker_ns INTEGER NOT NULL,
    associated_order_id TEXT NOT NULL,
    broker_order_id TEXT,
    symbol TEXT NOT NULL,
    fill_id TEXT NOT NULL,
    broker_fill_id TEXT,
    side TEXT NOT NULL,
    quantity_filled REAL NOT NULL,
    fill_price REAL NOT NULL,
    commission REAL NOT NULL,
    exchange TEXT NOT NULL,
    seq INTEGER,
    FOREIGN KEY (run_id) REFERENCES runs(run_id)
);

CREATE TABLE expirations (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    ts_event_ns INTEGER NOT NULL,
    ts_created_ns INTEGER NOT NULL,
    ts_broker_ns INTEGER NOT NULL,
    associated_order_id TEXT NOT NULL,
    broker_order_id TEXT,
    symbol TEXT NOT NULL,
    seq INTEGER,
    FOREIGN KEY (run_id) REFERENCES runs(run_id)
);

CREATE INDEX idx_bars_run_symbol_ts ON bars(run_id, symbol, ts_event_ns);
CREATE INDEX idx_bars_processed_run_symbol_ts ON bars_processed(run_id, symbol, ts_event_ns);
CREATE INDEX idx_order_submissions_run_ts ON order_submissions(run_id, ts_event_ns);
CREATE INDEX idx_order_submissions_order_id ON order_submissions(system_order_id);
CREATE INDEX idx_order_cancellations_run_ts ON order_cancellations(run_id, ts_event_ns);
CREATE INDEX idx_order_cancellations_order_id ON order_cancellations(system_order_id);
CREATE INDEX idx_order_modifications_run_ts ON order_modifications(run_id, ts_event_ns);
CREATE INDEX idx_order_modifications_order_id ON order_modifications(system_order_id);
CREATE INDEX idx_orders_accepted_run_ts ON orders_accepted(run_id, ts_event_ns);
CREATE INDEX idx_orders_accepted_order_id ON orders_accepted(associated_order_id);
CREATE INDEX idx_orders_rejected_run_ts ON orders_rejected(run_id, ts_event_ns);
CREATE INDEX idx_orders_rejected_order_id ON orders_rejected(associated_order_id);
CREATE INDEX idx_cancellations_accepted_run_ts ON cancellations_accepted(run_id, ts_event_ns);
CREATE INDEX idx_cancellations_accepted_order_id ON cancellations_accepted(associated_order_id);
CREATE INDEX idx_cancellations_rejected_run_ts ON cancellations_rejected(run_id, ts_event_ns);
CREATE INDEX idx_cancellations_rejected_order_id ON cancellations_rejected(associated_order_id);
CREATE INDEX idx_modifications_accepted_run_ts ON modifications_accepted(run_id, ts_event_ns);
CREATE INDEX idx_modifications_accepted_order_id ON modifications_accepted(associated_order_id);
CREATE INDEX idx_modifications_rejected_run_ts ON modifications_rejected(run_id, ts_event_ns);
CREATE INDEX idx_modifications_rejected_order_id ON modifications_rejected(associated_order_id);
CREATE INDEX idx_fills_run_ts ON fills(run_id, ts_event_ns);
CREATE INDEX idx_fills_run_symbol_ts ON fills(run_id, symbol, ts_event_ns);
CREATE INDEX idx_fills_order_id ON fills(associated_order_id);
CREATE INDEX idx_expirations_run_ts ON expirations(run_id, ts_event_ns);
CREATE INDEX idx_expirations_order_id ON expirations(associated_order_id);

-- runtape's additions to the Python layout (version 1 -> 2), all additive:
-- * every event table has a nullable `seq` column: the event's position in its run's
--   publication order (1, 2, 3, ... across all tables). Replay merges the tables on it, which is
--   the only exact order across tables; rows written by the Python recorder leave it NULL.
-- * idx_<table>_run_seq on (run_id, seq) reads one run in order without touching others.
-- * runtape_runs: per run, the recording process (pid, host) so that a run left 'running' by a dead
--   process can be told from a live one, and what spares inspect a scan of the event tables:
--   counters, the last event's time, the bar periods seen (no index covers bar_period).
CREATE TABLE runtape_runs (
    run_id TEXT PRIMARY KEY,
    pid INTEGER,
    host TEXT,
    events INTEGER NOT NULL DEFAULT 0,
    refused INTEGER NOT NULL DEFAULT 0,
    last_ts_event_ns INTEGER,
    bar_periods TEXT,
    FOREIGN KEY (run_id) REFERENCES runs(run_id)
);

CREATE INDEX idx_bars_run_seq ON bars(run_id, seq);
CREATE INDEX idx_bars_processed_run_seq ON bars_processed(run_id, seq);
CREATE INDEX idx_order_submissions_run_seq ON order_submissions(run_id, seq);
CREATE INDEX idx_order_cancellations_run_seq ON order_cancellations(run_id, seq);
CREATE INDEX idx_order_modifications_run_seq ON order_modifications(run_id, seq);
CREATE INDEX idx_orders_accepted_run_seq ON orders_accepted(run_id, seq);
CREATE INDEX idx_orders_rejected_run_seq ON orders_rejected(run_id, seq);
CREATE INDEX idx_cancellations_accepted_run_seq ON cancellations_accepted(run_id, seq);
CREATE INDEX idx_cancellations_rejected_run_seq ON cancellations_rejected(run_id, seq);
CREATE INDEX idx_modifications_accepted_run_seq ON modifications_accepted(run_id, seq);
CREATE INDEX idx_modifications_rejected_run_seq ON modifications_rejected(run_id, seq);
CREATE INDEX idx_fills_run_seq ON fills(run_id, seq);
CREATE INDEX idx_expirations_run_seq ON expirations(run_id, seq);

PRAGMA user_version = 2;
