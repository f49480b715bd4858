package applock

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestLocks(t *testing.T) {
	var l Locks
	unlockA, ok := l.TryLock("a")
	if !ok {
		t.Fatal("TryLock(a) on a free lock = false, want true")
	}
	if _, ok := l.TryLock("a"); ok {
		t.Error("TryLock(a) while held = true, want false")
	}
	unlockB, ok := l.TryLock("b")
	if !ok {
		t.Error("TryLock(b) while a is held = false, want true")
	}
	unlockB()

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := l.Lock(ctx, "a"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Lock(a) while held = %v, want %v", err, context.DeadlineExceeded)
	}

	got := make(chan func())
	go func() {
		unlock, err := l.Lock(context.Background(), "a")
		if err != nil {
			t.Errorf("Lock(a) = %v", err)
		}
		got <- unlock
	}()
	time.Sleep(20 * time.Millisecond)
	unlockA()
	unlockA() // a second call is a no-op
	(<-got)()
	if n := len(l.m); n != 0 {
		t.Errorf("%d entries left after every lock was released, want 0", n)
	}
}
