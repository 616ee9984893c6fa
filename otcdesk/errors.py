"""One error hierarchy: retryable infrastructure failures apart from permanent rejections.

`TransientError` means "try again later" (broker or ClickHouse unreachable); `RejectedError`
means the input itself is wrong and retrying cannot help (it becomes a reject event or a dlq
record); `UserError` is bad input at the CLI, printed as one line with a non-zero exit.
"""

from __future__ import annotations


class DeskError(Exception):
    """Root of every error otcdesk raises on purpose."""


class TransientError(DeskError):
    """Infrastructure not answering now; the operation may succeed when retried."""


class RejectedError(DeskError):
    """Permanently invalid input; carries a machine-readable reason code."""

    def __init__(self, reason: str, detail: str = "", replies: tuple[object, ...] = ()) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        #: Events a stage still sends for the refused input (e.g. a reject the client must get),
        #: before it dead-letters the input itself.
        self.replies = replies


class UserError(DeskError):
    """Bad input from a person at the CLI: one line, non-zero exit, no traceback."""


class TopicMissingError(DeskError):
    """A topic the command needs does not exist (`otcdesk init` creates the desk's topics)."""


class DeliveryError(DeskError):
    """The broker did not acknowledge every record produced: some failed or are still unanswered."""


class AuthenticationError(DeskError):
    """Kafka refused the desk's credentials: retrying with the same settings cannot help."""


class StackError(DeskError):
    """The local stack could not be installed, started, checked or stopped."""
