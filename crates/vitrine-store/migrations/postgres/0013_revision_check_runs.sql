-- A run a revision queued for review starts checks the broker settings the revision
-- proposes when they differ from the registration's (vitrine_domain::checks::BrokerSettings,
-- JSON: url, username, api_version; the password stays the registered one). NULL: the
-- registration, as every run before.
ALTER TABLE check_runs ADD COLUMN broker TEXT;
