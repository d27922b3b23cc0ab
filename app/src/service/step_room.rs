//! Room in memory for reads of whole jobs' steps. One such read is bounded (a job holds at most
//! 100,000 steps; about 60 MB of native JSON or 230 MB of oVirt XML while its answer is written),
//! but many at once were not: eight full jobs read together took the server to 695 MB. A read of
//! more than [`SMALL_READ`] steps takes room for its steps here first and keeps it until its answer
//! is written; when [`ROOM`] steps are already being read, it waits its turn (first come, first
//! served). Smaller reads never wait: they are what the Tasks pane and most plug-ins make.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

use super::commands::MAX_STEPS_PER_LOAD;
use super::{Engine, Result};

/// Steps being read at once by the reads that wait their turn: two full jobs, one per core (more at
/// once only share the same two cores, each taking longer).
pub const ROOM: u32 = 2 * MAX_STEPS_PER_LOAD as u32;
/// Reads of at most this many steps never wait.
pub const SMALL_READ: i64 = 2_000;

/// The shared room; one per server process.
#[derive(Debug)]
pub(super) struct StepRoom(Arc<Semaphore>);

impl Default for StepRoom {
    fn default() -> StepRoom {
        StepRoom(Arc::new(Semaphore::new(ROOM as usize)))
    }
}

/// Room taken for one read; given back when dropped (after the answer is written). The default
/// holds none: a read that loads no steps.
#[derive(Debug, Default)]
pub struct Room(#[allow(dead_code)] Option<OwnedSemaphorePermit>);

impl Room {
    /// Whether this read took any room (small reads take none).
    pub fn is_held(&self) -> bool {
        self.0.is_some()
    }
}

/// Where a server function of the Tasks pane leaves the room its read took, for the HTTP layer to
/// keep until the answer has been sent (the function returns its value before it is written out).
#[derive(Clone, Debug, Default)]
pub struct RoomSlot(Arc<std::sync::Mutex<Room>>);

impl RoomSlot {
    /// Leave `room` here (replacing any room left before, which is given back).
    pub fn put(&self, room: Room) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = room;
    }

    /// The room left here, if any.
    pub fn take(&self) -> Room {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// The room a read of `steps` steps takes: none when small, at most all of it.
pub fn weight(steps: i64) -> Option<u32> {
    (steps > SMALL_READ).then(|| steps.min(i64::from(ROOM)) as u32)
}

impl Engine {
    /// Room for reading the steps of `job_ids` (together at most [`MAX_STEPS_PER_LOAD`], as every
    /// whole-steps read loads), waiting while other large reads fill it. Unknown jobs count as
    /// empty: the read itself answers that they are missing.
    pub async fn room_for_steps(&self, job_ids: &[Uuid]) -> Result<Room> {
        let steps: i64 = sqlx::query_scalar(
            "select coalesce(sum(step_count), 0)::bigint from job where id = any($1)",
        )
        .bind(job_ids)
        .fetch_one(&self.pool)
        .await?;
        let Some(weight) = weight(steps.min(MAX_STEPS_PER_LOAD)) else {
            return Ok(Room(None));
        };
        let permit = self
            .step_room
            .0
            .clone()
            .acquire_many_owned(weight)
            .await
            .map_err(|_| super::ServiceError::Internal("the step room was closed".into()))?;
        Ok(Room(Some(permit)))
    }

    /// Steps being read now by large reads (for tests and diagnostics).
    pub fn steps_in_room(&self) -> u32 {
        ROOM - self.step_room.0.available_permits() as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_reads_take_no_room_and_none_takes_more_than_all() {
        assert_eq!(weight(0), None);
        assert_eq!(weight(SMALL_READ), None);
        assert_eq!(weight(SMALL_READ + 1), Some(SMALL_READ as u32 + 1));
        assert_eq!(weight(MAX_STEPS_PER_LOAD), Some(MAX_STEPS_PER_LOAD as u32));
        assert_eq!(weight(i64::MAX), Some(ROOM));
    }
}
