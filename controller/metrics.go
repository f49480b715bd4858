package controller

import "time"

// AppMetrics are an app's request metrics as its router saw them: one
// sample per minute for the last hour, oldest first, minutes without
// requests included (with zero counts), so that a chart's x axis is even.
type AppMetrics struct {
	App     string          `json:"app"`
	Minutes []MetricsMinute `json:"minutes"`
}

// MetricsMinute is one minute of an app's requests.
type MetricsMinute struct {
	Start    time.Time `json:"start"`    // the minute's first instant
	Requests int64     `json:"requests"` // requests that ended in this minute
	// Status counts the requests by status class: "1xx" .. "5xx"; classes
	// with no requests are left out.
	Status map[string]int64 `json:"status,omitempty"`
	// P95 is the 95th percentile of the requests' durations, in
	// milliseconds, estimated from histogram buckets; 0 without requests.
	P95 float64 `json:"p95_ms"`
}
