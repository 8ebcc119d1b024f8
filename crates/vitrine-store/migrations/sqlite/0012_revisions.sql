-- Revisions of a live offering ride on the go-live submission: a submission whose
-- `revision` is set proposes these fields (vitrine_domain::revision::Revision, JSON) for
-- its public offering, which keeps its live rows untouched until the revision is
-- published. Appeals live in the rounds' JSON (the decision they appeal). NULL: a go-live
-- request.
ALTER TABLE submissions ADD COLUMN revision TEXT;
