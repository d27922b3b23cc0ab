//! Every documented input limit (SPEC §9), in one place; `GET /api/capabilities` reports them.

/// Longest job or step description, in characters, after trimming.
pub const MAX_DESCRIPTION_CHARS: usize = 4000;
/// Deepest step nesting: a step directly under its job is at depth 1.
pub const MAX_STEP_DEPTH: i32 = 32;
/// Most steps (at every level together) one job may hold.
pub const MAX_STEPS_PER_JOB: i32 = 100_000;
/// Largest request body the API reads, in bytes.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Largest page of a list.
pub const MAX_PAGE_SIZE: i64 = 500;
/// Page size when the caller names none.
pub const DEFAULT_PAGE_SIZE: i64 = 50;
/// Longest correlation id.
pub const MAX_CORRELATION_ID_CHARS: usize = 50;
/// Longest `Idempotency-Key`.
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;
/// How long an `Idempotency-Key` is remembered, in hours.
pub const IDEMPOTENCY_WINDOW_HOURS: i64 = 24;
