package store

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"time"
)

// ErrBusy is returned when a password could not be hashed because every
// hashing slot stayed taken for HashWait: the caller should answer 503
// with a Retry-After and not count the attempt as a wrong password.
var ErrBusy = errors.New("too many password checks at once: try again in a moment")

// HashWait is how long a password check waits for a hashing slot.
const HashWait = 3 * time.Second

// hasher bounds how many Argon2 hashes run at once in the process. Each
// takes argonMemory (19 MiB) and ~30 ms of a core; unbounded, a few hundred
// concurrent sign-ins took gigabytes of heap. It is safe for concurrent
// use.
type hasher struct {
	slots chan struct{}
	wait  time.Duration

	runs   atomic.Int64 // hashes run
	active atomic.Int64 // hashes running now
	peak   atomic.Int64 // the most that ever ran at once
}

// newHasher allows n hashes at once; n < 1 means GOMAXPROCS.
func newHasher(n int, wait time.Duration) *hasher {
	if n < 1 {
		n = runtime.GOMAXPROCS(0)
	}
	return &hasher{slots: make(chan struct{}, n), wait: wait}
}

// do runs f, a password hash, once a slot is free: ErrBusy if none frees
// within the hasher's wait, ctx's error if ctx ends first.
func (h *hasher) do(ctx context.Context, f func()) error {
	t := time.NewTimer(h.wait)
	defer t.Stop()
	select {
	case h.slots <- struct{}{}:
	case <-t.C:
		return ErrBusy
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-h.slots }()
	n := h.active.Add(1)
	defer h.active.Add(-1)
	for p := h.peak.Load(); n > p && !h.peak.CompareAndSwap(p, n); p = h.peak.Load() {
	}
	h.runs.Add(1)
	f()
	return nil
}

// HashStats counts the password hashes a Store has run.
type HashStats struct {
	Runs  int64 // hashes run since the store was opened
	Peak  int64 // the most that ran at once
	Slots int   // the most that may run at once
}

// PasswordHashes reports the password hashes run so far (sign-ins,
// password changes, new users), for tests and monitoring.
func (s *Store) PasswordHashes() HashStats {
	return HashStats{Runs: s.hash.runs.Load(), Peak: s.hash.peak.Load(), Slots: cap(s.hash.slots)}
}
