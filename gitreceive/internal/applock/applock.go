// Package applock serializes work per key (an app name) inside one process:
// one holder at a time per key, any number of keys at once.
package applock

import (
	"context"
	"sync"
)

// Locks is a set of named locks. The zero value is ready to use; it must
// not be copied after first use. Entries exist only while a lock is held or
// awaited, so the set does not grow with the number of keys ever seen.
type Locks struct {
	mu sync.Mutex
	m  map[string]*entry
}

type entry struct {
	ch   chan struct{} // holds a token while the lock is held
	refs int           // holders and waiters
}

// TryLock takes the lock of key if it is free. It reports whether it did;
// if so, the caller must call the returned unlock exactly once.
func (l *Locks) TryLock(key string) (unlock func(), ok bool) {
	e := l.ref(key)
	select {
	case e.ch <- struct{}{}:
		return l.unlocker(key, e), true
	default:
		l.unref(key, e)
		return nil, false
	}
}

// Lock waits for the lock of key until ctx ends. On success the caller must
// call the returned unlock exactly once.
func (l *Locks) Lock(ctx context.Context, key string) (unlock func(), err error) {
	e := l.ref(key)
	select {
	case e.ch <- struct{}{}:
		return l.unlocker(key, e), nil
	case <-ctx.Done():
		l.unref(key, e)
		return nil, ctx.Err()
	}
}

func (l *Locks) ref(key string) *entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string]*entry{}
	}
	e := l.m[key]
	if e == nil {
		e = &entry{ch: make(chan struct{}, 1)}
		l.m[key] = e
	}
	e.refs++
	return e
}

func (l *Locks) unref(key string, e *entry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e.refs--
	if e.refs == 0 {
		delete(l.m, key)
	}
}

func (l *Locks) unlocker(key string, e *entry) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			<-e.ch
			l.unref(key, e)
		})
	}
}
