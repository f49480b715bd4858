package proxy

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the router's Prometheus metrics, in a registry of their own.
type Metrics struct {
	Registry *prometheus.Registry

	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	bytes       *prometheus.CounterVec
	retries     *prometheus.CounterVec
	unknownHost prometheus.Counter

	// RefusedConns counts connections refused because their client
	// address held its maximum already.
	RefusedConns prometheus.Counter

	// TableVersion, TableApps and TableBuild describe the table served.
	TableVersion prometheus.Gauge
	TableApps    prometheus.Gauge
	TableBuild   prometheus.Histogram

	mu   sync.Mutex
	apps map[string]*appMetrics
}

// NewMetrics returns the router's metrics, registered in a new registry.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paas_router_requests_total",
			Help: "Requests routed to an app, by status class (1xx..5xx).",
		}, []string{"app", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "paas_router_request_duration_seconds",
			Help:    "Time from a request's arrival to the end of its response.",
			Buckets: latencyBuckets,
		}, []string{"app"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paas_router_response_bytes_total",
			Help: "Response body bytes sent to clients.",
		}, []string{"app"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paas_router_retries_total",
			Help: "Requests retried on another endpoint after one refused the connection.",
		}, []string{"app"}),
		unknownHost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "paas_router_unknown_host_requests_total",
			Help: "Requests for a host that no app answers at.",
		}),
		RefusedConns: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "paas_router_refused_connections_total",
			Help: "Connections refused because their client address held its maximum already.",
		}),
		TableVersion: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "paas_router_table_version",
			Help: "Version of the routing table served.",
		}),
		TableApps: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "paas_router_table_apps",
			Help: "Apps in the routing table served.",
		}),
		TableBuild: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "paas_router_table_build_seconds",
			Help:    "Time to build a routing table's handler.",
			Buckets: prometheus.ExponentialBuckets(.0001, 4, 10),
		}),
		apps: make(map[string]*appMetrics),
	}
	m.Registry.MustRegister(m.requests, m.duration, m.bytes, m.retries, m.unknownHost, m.RefusedConns,
		m.TableVersion, m.TableApps, m.TableBuild)
	return m
}

// app returns the metrics of the named app; its series are created on the
// app's first request.
func (m *Metrics) app(name string) *appMetrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	am, ok := m.apps[name]
	if !ok {
		am = &appMetrics{m: m, name: name}
		m.apps[name] = am
	}
	return am
}

// Retain drops the series of every app not in keep.
func (m *Metrics) Retain(keep map[string]bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for name := range m.apps {
		if keep[name] {
			continue
		}
		delete(m.apps, name)
		l := prometheus.Labels{"app": name}
		m.requests.DeletePartialMatch(l)
		m.duration.DeletePartialMatch(l)
		m.bytes.DeletePartialMatch(l)
		m.retries.DeletePartialMatch(l)
	}
}

type appMetrics struct {
	m    *Metrics
	name string

	once     sync.Once
	classes  [5]prometheus.Counter // 1xx..5xx
	duration prometheus.Observer
	bytes    prometheus.Counter
	hist     history // the last hour, per minute, for the dashboard
}

func (a *appMetrics) init() {
	for i := range a.classes {
		a.classes[i] = a.m.requests.WithLabelValues(a.name, string(rune('1'+i))+"xx")
	}
	a.duration = a.m.duration.WithLabelValues(a.name)
	a.bytes = a.m.bytes.WithLabelValues(a.name)
}

func (a *appMetrics) observe(status int, bytes int64, d time.Duration) {
	a.observeAt(time.Now(), status, bytes, d)
}

// observeAt records a request that ended at now.
func (a *appMetrics) observeAt(now time.Time, status int, bytes int64, d time.Duration) {
	a.once.Do(a.init)
	if c := status/100 - 1; c >= 0 && c < len(a.classes) {
		a.classes[c].Inc()
	}
	a.duration.Observe(d.Seconds())
	a.bytes.Add(float64(bytes))
	a.hist.add(now, status, d)
}

func (a *appMetrics) retry() { a.m.retries.WithLabelValues(a.name).Inc() }
