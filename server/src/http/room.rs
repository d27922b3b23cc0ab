//! An answer that keeps its room (`app::service::step_room`) until it has been sent: a large read's
//! memory is its written-out answer as much as its steps, and that lasts until the client has it.

use std::pin::Pin;
use std::task::{Context, Poll};

use app::service::step_room::Room;
use axum::body::{Body, Bytes};
use axum::response::Response;
use http_body::{Frame, SizeHint};

/// Written out in pieces of this size, so the room goes back once the last piece is handed to the
/// connection rather than when the whole answer is queued.
const PIECE: usize = 256 * 1024;

/// The same response, its body sent in pieces, its room released after the last.
pub async fn keep_room_until_sent(response: Response, room: Room) -> Response {
    if !room.is_held() {
        return response;
    }
    let (parts, body) = response.into_parts();
    match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => Response::from_parts(
            parts,
            Body::new(Pieces {
                rest: bytes,
                room: Some(room),
            }),
        ),
        // A body built in memory cannot fail to be read; should it, the answer stays whole.
        Err(_) => Response::from_parts(parts, Body::empty()),
    }
}

struct Pieces {
    rest: Bytes,
    room: Option<Room>,
}

impl http_body::Body for Pieces {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.rest.is_empty() {
            self.room = None;
            return Poll::Ready(None);
        }
        let n = self.rest.len().min(PIECE);
        let piece = self.rest.split_to(n);
        if self.rest.is_empty() {
            self.room = None;
        }
        Poll::Ready(Some(Ok(Frame::data(piece))))
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.rest.len() as u64)
    }
}
