package kcl

import (
	"errors"
	"fmt"

	"github.com/kclgo/kclgo/protocol"
)

// Errors a checkpoint can fail with. A failure reported by the daemon is a
// [*CheckpointError] that matches, with [errors.Is], [ErrCheckpointFailed]
// and the sentinel for its exception name.
var (
	// ErrCheckpointFailed matches every checkpoint the daemon refused,
	// whatever the reason.
	ErrCheckpointFailed = errors.New("kcl: checkpoint failed")
	// ErrThrottling: DynamoDB throttled the checkpoint write
	// (ThrottlingException). Retried by default.
	ErrThrottling = errors.New("kcl: checkpoint throttled")
	// ErrShutdown: this worker no longer holds the shard's lease
	// (ShutdownException). Not retryable: stop checkpointing.
	ErrShutdown = errors.New("kcl: lease no longer held")
	// ErrInvalidState: no checkpoint is possible now, or the lease table is
	// missing (InvalidStateException).
	ErrInvalidState = errors.New("kcl: invalid state for a checkpoint")
	// ErrDependency: the daemon could not reach DynamoDB
	// (KinesisClientLibDependencyException). Retried by default.
	ErrDependency = errors.New("kcl: checkpoint dependency failed")
	// ErrIllegalArgument: the position is below the last checkpoint, beyond
	// the last record delivered, or not a sequence number
	// (IllegalArgumentException).
	ErrIllegalArgument = errors.New("kcl: illegal checkpoint position")

	// ErrCheckpointNotAllowed is returned, without contacting the daemon,
	// when a Checkpointer is used where the protocol allows no checkpoint:
	// after the lease was lost, or after the method it was given to
	// returned.
	ErrCheckpointNotAllowed = errors.New("kcl: checkpoint not allowed here")
)

// Java exception names the daemon reports, mapped to their sentinels.
var exceptionSentinels = map[string]error{
	protocol.ExceptionThrottling:      ErrThrottling,
	protocol.ExceptionShutdown:        ErrShutdown,
	protocol.ExceptionInvalidState:    ErrInvalidState,
	protocol.ExceptionDependency:      ErrDependency,
	protocol.ExceptionIllegalArgument: ErrIllegalArgument,
}

// CheckpointError is a checkpoint the daemon refused.
type CheckpointError struct {
	// Name is the simple name of the Java exception the daemon reported,
	// e.g. "ThrottlingException"; any name is kept, known or not.
	Name string
	// Position is the position asked for: a sequence number, or "" for
	// "after the last record delivered".
	Position string
	// Attempts is how many times the checkpoint was tried.
	Attempts int
}

// Error implements error.
func (e *CheckpointError) Error() string {
	pos := e.Position
	if pos == "" {
		pos = "last record delivered"
	}
	s := fmt.Sprintf("kcl: checkpoint at %s failed: %s", pos, e.Name)
	if e.Attempts > 1 {
		s += fmt.Sprintf(" (gave up after %d attempts)", e.Attempts)
	}
	return s
}

// Is matches ErrCheckpointFailed and the sentinel of e.Name.
func (e *CheckpointError) Is(target error) bool {
	return target == ErrCheckpointFailed || (target != nil && exceptionSentinels[e.Name] == target)
}

// ErrProcessorFailed matches the error Run returns when the processor kept
// failing an action: the action was not acknowledged.
var ErrProcessorFailed = errors.New("kcl: record processor failed")

// ActionError is returned by Run when the processor failed an action after
// all retries. The action was not acknowledged to the daemon.
type ActionError struct {
	// Action is the protocol action that failed, e.g. "processRecords".
	Action string
	// ShardID is the shard being processed.
	ShardID string
	// Attempts is how many times the processor was called.
	Attempts int
	// Err is the last error (a [*PanicError] for a panic).
	Err error
}

// Error implements error.
func (e *ActionError) Error() string {
	return fmt.Sprintf("kcl: shard %s: %s failed after %d attempt(s), not acknowledged: %v", e.ShardID, e.Action, e.Attempts, e.Err)
}

// Unwrap returns the processor's error.
func (e *ActionError) Unwrap() error { return e.Err }

// Is matches ErrProcessorFailed.
func (e *ActionError) Is(target error) bool { return target == ErrProcessorFailed }

// PanicError is a panic recovered from the processor.
type PanicError struct {
	// Value is what was passed to panic.
	Value any
	// Stack is the goroutine's stack at the panic.
	Stack []byte
}

// Error implements error.
func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// Unwrap returns the panic value if it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// ErrProtocol matches the errors of a conversation with the daemon that
// cannot go on: the daemon's input ended or was malformed while a checkpoint
// waited for its reply, or the reply was not a checkpoint reply. A
// Checkpointer returns it; the processor should return at once (its records
// may no longer be valid), and Run returns it without acknowledging the
// action.
var ErrProtocol = errors.New("kcl: protocol failure")

// ErrShutdownGraceExpired is returned by Run when a signal asked the process
// to stop and the daemon did not close stdin within the grace period.
var ErrShutdownGraceExpired = errors.New("kcl: shutdown grace period expired before the daemon closed stdin")
