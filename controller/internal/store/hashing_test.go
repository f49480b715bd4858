package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestHasherBusy: with every slot taken, a hash waits the hasher's wait
// and gives up with ErrBusy (or ctx's error), running nothing.
func TestHasherBusy(t *testing.T) {
	h := newHasher(1, 50*time.Millisecond)
	held, release := make(chan struct{}), make(chan struct{})
	go h.do(context.Background(), func() { close(held); <-release })
	<-held
	ran := false
	start := time.Now()
	if err := h.do(context.Background(), func() { ran = true }); !errors.Is(err, ErrBusy) || ran {
		t.Errorf("do with the slot taken = %v (ran %v), want ErrBusy without running", err, ran)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("do gave up after %v, want the wait (50ms)", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.do(ctx, func() { ran = true }); !errors.Is(err, context.Canceled) || ran {
		t.Errorf("do with an ended context = %v (ran %v), want context.Canceled", err, ran)
	}
	close(release)
	for len(h.slots) != 0 {
		time.Sleep(time.Millisecond)
	}
	if err := h.do(context.Background(), func() { ran = true }); err != nil || !ran {
		t.Errorf("do with a free slot = %v (ran %v), want it run", err, ran)
	}
	if st := (&Store{hash: h}).PasswordHashes(); st != (HashStats{Runs: 2, Peak: 1, Slots: 1}) {
		t.Errorf("PasswordHashes() = %+v, want 2 runs, peak 1, 1 slot", st)
	}
}
