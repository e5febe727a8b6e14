-- FiLot core schema (seeds 000 section 5, 002 section 2): users, profiles, documents and their
-- status history, verification_results, manual_reviews. The status values are those of
-- filot_contract.documents.VerificationStatus (selftests/test_migrations.py keeps them equal).

CREATE TABLE users (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- the JWT "sub" of the account
    external_id   text NOT NULL UNIQUE CHECK (length(external_id) BETWEEN 1 AND 255),
    role          text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE profiles (
    user_id     uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    full_name   text CHECK (length(full_name) <= 200),
    nik         text CHECK (nik ~ '^[0-9]{16}$'),
    npwp        text CHECK (npwp ~ '^[0-9]{15,16}$'),
    phone       text CHECK (phone ~ '^\+?[0-9]{6,16}$'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE documents (
    id                   uuid PRIMARY KEY,
    user_id              uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    document_type        text NOT NULL CHECK (document_type IN ('KTP', 'NPWP')),
    bucket               text NOT NULL,
    object_key           text NOT NULL,
    content_type         text NOT NULL CHECK (content_type IN ('image/png', 'image/jpeg', 'image/webp')),
    size_bytes           integer NOT NULL CHECK (size_bytes > 0),
    -- the OCR job of this document (one per document); the worker's result names it
    job_id               uuid NOT NULL UNIQUE,
    trace_id             text NOT NULL,
    verification_status  text NOT NULL DEFAULT 'queued' CHECK (verification_status IN (
        'queued', 'processing', 'auto_approved', 'auto_rejected', 'manual_review',
        'approved', 'rejected', 'failed')),
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    UNIQUE (bucket, object_key)
);
CREATE INDEX documents_user_created_idx ON documents (user_id, created_at DESC);
-- /metrics counts documents by status; the gate looks for documents stuck in one
CREATE INDEX documents_status_idx ON documents (verification_status, updated_at);

-- Every status change of a document, timestamped (DESIGN.md section 3).
CREATE TABLE document_status_history (
    id           bigserial PRIMARY KEY,
    document_id  uuid NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    status       text NOT NULL CHECK (status IN (
        'queued', 'processing', 'auto_approved', 'auto_rejected', 'manual_review',
        'approved', 'rejected', 'failed')),
    changed_at   timestamptz NOT NULL DEFAULT now(),
    detail       text
);
CREATE INDEX document_status_history_document_idx ON document_status_history (document_id, changed_at, id);

-- One row per scoring: the OCR result's (source 'ocr', once per job) and each admin re-evaluation.
CREATE TABLE verification_results (
    id                bigserial PRIMARY KEY,
    document_id       uuid NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    job_id            uuid NOT NULL,
    source            text NOT NULL CHECK (source IN ('ocr', 'evaluate')),
    ocr_status        text NOT NULL CHECK (ocr_status IN ('succeeded', 'failed')),
    score             numeric(5, 2) CHECK (score BETWEEN 0 AND 100),
    decision          text NOT NULL CHECK (decision IN ('auto_approved', 'auto_rejected', 'manual_review', 'failed')),
    reasons           jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(reasons) = 'array'),
    fields            jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(fields) = 'object'),
    field_confidence  jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(field_confidence) = 'object'),
    confidence        real CHECK (confidence BETWEEN 0 AND 1),
    approve_threshold numeric(5, 2),
    reject_threshold  numeric(5, 2),
    engine            text,
    device            text,
    worker_id         text,
    duration_ms       integer CHECK (duration_ms >= 0),
    error             text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CHECK ((decision = 'failed') = (score IS NULL))
);
-- applying an OCR result twice is impossible, whatever the caller does
CREATE UNIQUE INDEX verification_results_one_per_job ON verification_results (job_id) WHERE source = 'ocr';
CREATE INDEX verification_results_document_idx ON verification_results (document_id, id DESC);

-- A document in manual review, its escalation to BULI2 and BULI2's decision.
CREATE TABLE manual_reviews (
    id                      bigserial PRIMARY KEY,
    -- our idempotency key towards BULI2 ("reviewRequestId")
    review_request_id       uuid NOT NULL UNIQUE,
    document_id             uuid NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    verification_result_id  bigint NOT NULL REFERENCES verification_results (id) ON DELETE CASCADE,
    -- pending: not accepted by BULI2 yet; escalated: BULI2 has it; approved/rejected: BULI2 decided
    state                   text NOT NULL DEFAULT 'pending'
                            CHECK (state IN ('pending', 'escalated', 'approved', 'rejected')),
    buli2_review_id         text UNIQUE,
    attempts                integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error              text,
    escalated_at            timestamptz,
    callback_id             text UNIQUE,
    reviewer                text,
    decided_at              timestamptz,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    CHECK ((state IN ('approved', 'rejected')) = (decided_at IS NOT NULL)),
    CHECK (state = 'pending' OR buli2_review_id IS NOT NULL)
);
CREATE UNIQUE INDEX manual_reviews_one_open_per_document
    ON manual_reviews (document_id) WHERE state IN ('pending', 'escalated');
-- the escalation sweep reads the pending ones
CREATE INDEX manual_reviews_pending_idx ON manual_reviews (created_at) WHERE state = 'pending';
