package router

import (
	"time"

	"paas/controller"
)

// AppMetrics returns an app's requests over the last hour, per minute,
// oldest first: counts by status class and the 95th percentile latency.
// The controller serves them to the dashboard (it is the controller's
// server.MetricsSource). Safe for concurrent use.
func (r *Router) AppMetrics(app string) controller.AppMetrics {
	out := controller.AppMetrics{App: app}
	for _, m := range r.metrics.History(app, time.Now()) {
		mm := controller.MetricsMinute{Start: m.Start, P95: float64(m.P95.Microseconds()) / 1000}
		for i, n := range m.Classes {
			if n == 0 {
				continue
			}
			if mm.Status == nil {
				mm.Status = map[string]int64{}
			}
			mm.Status[string(rune('1'+i))+"xx"] = int64(n)
			mm.Requests += int64(n)
		}
		out.Minutes = append(out.Minutes, mm)
	}
	return out
}
