-- A Web Connector session whose remaining work is held by someone else for a moment (a row
-- locked by another transaction) is told "NoOp" (wait about 5 s and ask again) instead of
-- being ended; `waiting_since` bounds how long it waits (usecases/qbd/web_connector.py).
ALTER TABLE qbd_sessions ADD COLUMN waiting_since timestamptz;
