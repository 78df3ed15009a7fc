"""The RESP replies the key-value service's Python side writes itself: errors (one per
reply owed for a batch that could not be committed or read), bulk strings. One mapping from
senate's exceptions to Redis's error codes, for the data path and the admin commands alike."""

from __future__ import annotations

from senate._core import batch_reply_count
from senate.errors import CallTimeout, NodeNotRunning, Overloaded, ProposalDropped


def bulk_reply(data: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(data), data)


def error_reply(message: str) -> bytes:
    """A RESP error; `message` starts with its code (ERR, TRYAGAIN, ...)."""
    return b"-" + message.replace("\r", " ").replace("\n", " ").encode() + b"\r\n"


def replies_for_error(error: BaseException, timeout_s: float, batch: bytes) -> bytes:
    """What a client gets when `batch` could not be committed or read: the error once per
    reply it waits for (per command; once for a transaction's EXEC, whatever it queued), so
    that a pipelining client (which counts replies) stays in step.
    A batch holds what one read of the socket brought: a mass insert that timed out gave one
    error for hundreds of SETs, and redis-cli --pipe counted 952,337 replies to 1,000,000."""
    return reply_for_error(error, timeout_s) * batch_reply_count(batch)


def reply_for_error(error: BaseException, timeout_s: float) -> bytes:
    """The RESP error for one command that could not be committed or read."""
    if isinstance(error, CallTimeout):
        return error_reply(f"TRYAGAIN not committed within {timeout_s:g} s (is there a leader?)")
    if isinstance(error, Overloaded):
        return error_reply("BUSY too many requests waiting for commit; try again")
    if isinstance(error, ProposalDropped):
        return error_reply(f"TRYAGAIN proposal dropped by the leader: {error}")
    if isinstance(error, NodeNotRunning):
        return error_reply("TRYAGAIN this node is shutting down; ask another")
    return error_reply(f"ERR {type(error).__name__}: {error}")
