package proxy

import (
	"testing"
	"time"
)

func TestHistory(t *testing.T) {
	var h history
	t0 := time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
	// Minute 0: 100 requests, 95 fast (≤1 ms), 5 slow (in 250–500 ms).
	for i := range 100 {
		d, status := 500*time.Microsecond, 200
		if i >= 95 {
			d, status = 300*time.Millisecond, 503
		}
		h.add(t0.Add(10*time.Second), status, d)
	}
	// Minute 2: one 404.
	h.add(t0.Add(2*time.Minute+time.Second), 404, 20*time.Millisecond)

	got := h.snapshot(t0.Add(2*time.Minute + 30*time.Second))
	if len(got) != HistoryMinutes {
		t.Fatalf("snapshot has %d minutes, want %d", len(got), HistoryMinutes)
	}
	last := got[len(got)-1]
	if !last.Start.Equal(t0.Add(2*time.Minute)) || last.Classes[3] != 1 {
		t.Errorf("last minute = %+v, want one 4xx at %v", last, t0.Add(2*time.Minute))
	}
	if got[len(got)-2].Classes != [5]uint64{} {
		t.Errorf("a minute with no requests = %+v, want zeros", got[len(got)-2])
	}
	first := got[len(got)-3]
	if first.Classes[1] != 95 || first.Classes[4] != 5 {
		t.Errorf("minute 0 classes = %v, want 95 2xx and 5 5xx", first.Classes)
	}
	if first.P95 <= 0 || first.P95 > time.Millisecond {
		t.Errorf("minute 0 p95 = %v, want at most 1ms (95 of 100 are)", first.P95)
	}
	// An hour later the old minutes are gone, not counted again.
	later := h.snapshot(t0.Add(HistoryMinutes*time.Minute + 30*time.Second))
	for _, m := range later {
		if m.Classes != [5]uint64{} && !m.Start.Equal(t0.Add(2*time.Minute)) {
			t.Errorf("an hour later, minute %v still has %v", m.Start, m.Classes)
		}
	}
}
