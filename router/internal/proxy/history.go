package proxy

import (
	"sync"
	"time"
)

// HistoryMinutes is how many minutes of per-app request history are kept.
const HistoryMinutes = 60

// latencyBuckets are the upper bounds, in seconds, of the latency
// histogram: the Prometheus one and the per-minute history share them.
var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// minute is one minute of an app's requests.
type minute struct {
	unix    int64 // minutes since the epoch
	classes [5]uint64
	buckets [15]uint64 // per latencyBuckets, and one for longer
}

// history is a ring of an app's last HistoryMinutes minutes. It is safe
// for concurrent use; adding a request costs a lock and a few increments.
type history struct {
	mu   sync.Mutex
	ring [HistoryMinutes]minute
}

func (h *history) add(now time.Time, status int, d time.Duration) {
	m := now.Unix() / 60
	b := len(latencyBuckets)
	for i, ub := range latencyBuckets {
		if d.Seconds() <= ub {
			b = i
			break
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	s := &h.ring[m%HistoryMinutes]
	if s.unix != m {
		*s = minute{unix: m}
	}
	if c := status/100 - 1; c >= 0 && c < len(s.classes) {
		s.classes[c]++
	}
	s.buckets[b]++
}

// MinuteStats is one minute of an app's requests, for the dashboard.
type MinuteStats struct {
	Start   time.Time
	Classes [5]uint64     // 1xx..5xx
	P95     time.Duration // 0 without requests
}

// snapshot returns the last HistoryMinutes minutes up to now, oldest first.
func (h *history) snapshot(now time.Time) []MinuteStats {
	cur := now.Unix() / 60
	out := make([]MinuteStats, HistoryMinutes)
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range out {
		m := cur - int64(HistoryMinutes-1-i)
		out[i].Start = time.Unix(m*60, 0).UTC()
		s := h.ring[m%HistoryMinutes]
		if s.unix != m {
			continue
		}
		out[i].Classes = s.classes
		out[i].P95 = p95(s.buckets[:])
	}
	return out
}

// p95 estimates the 95th percentile from bucket counts, interpolating
// linearly inside the bucket it falls in (as Prometheus's
// histogram_quantile does).
func p95(buckets []uint64) time.Duration {
	var total uint64
	for _, n := range buckets {
		total += n
	}
	if total == 0 {
		return 0
	}
	rank := 0.95 * float64(total)
	var cum float64
	for i, n := range buckets {
		if n == 0 {
			continue
		}
		if cum+float64(n) >= rank {
			if i == len(latencyBuckets) {
				return secs(latencyBuckets[i-1]) // beyond the last bound: report the bound
			}
			lower := 0.0
			if i > 0 {
				lower = latencyBuckets[i-1]
			}
			upper := latencyBuckets[i]
			return secs(lower + (upper-lower)*(rank-cum)/float64(n))
		}
		cum += float64(n)
	}
	return secs(latencyBuckets[len(latencyBuckets)-1])
}

func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// History returns the last HistoryMinutes minutes of an app's requests,
// oldest first; all zero for an app with no requests yet.
func (m *Metrics) History(app string, now time.Time) []MinuteStats {
	m.mu.Lock()
	am := m.apps[app]
	m.mu.Unlock()
	if am == nil {
		return (&history{}).snapshot(now)
	}
	return am.hist.snapshot(now)
}
