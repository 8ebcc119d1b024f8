-- Where each tus upload into an S3 bucket stands between requests (vitrine-blob's S3
-- backend; the SQL is vitrine-jobs' `upload_states`): the multipart upload's id, the parts
-- stored, the running hash, as the backend's own JSON. One row read and one written per
-- request, by whichever server takes it; removed when the upload finishes or expires.
-- `saved_at` (microseconds since the epoch, the server's wall clock) finds abandoned ones.
-- Keyed by the blob store's upload key, with no foreign key: a single streamed upload has
-- a state for the length of its request and no `uploads` row.
CREATE TABLE s3_upload_states (
    upload_key TEXT   NOT NULL PRIMARY KEY,
    state      TEXT   NOT NULL,
    saved_at   BIGINT NOT NULL
);
CREATE INDEX s3_upload_states_by_age ON s3_upload_states (saved_at);
