package api

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"paas/controller"
	"paas/controller/internal/routing"
)

// TestAppMetricsFromCreation: an app's request history shows the minute it
// was created in and those after; a minute that ended before its creation
// (only a former app of that name can have counted it) shows no requests.
func TestAppMetricsFromCreation(t *testing.T) {
	e := newEnv(t)
	if w := e.do("POST", "/v1/apps", `{"name":"shop"}`, e.tokens["admin"]); w.Code != http.StatusCreated {
		t.Fatalf("create shop = %d %s", w.Code, w.Body)
	}
	var app controller.App
	if w := e.do("GET", "/v1/apps/shop", "", e.tokens["admin"]); json.Unmarshal(w.Body.Bytes(), &app) != nil {
		t.Fatalf("GET /v1/apps/shop = %d %s", w.Code, w.Body)
	}
	created := app.CreatedAt.Truncate(time.Minute)
	minute := func(start time.Time) controller.MetricsMinute {
		return controller.MetricsMinute{Start: start, Requests: 3, Status: map[string]int64{"2xx": 3}, P95: 1.5}
	}
	e.h = New(Options{Store: e.st, Routes: routing.New("localhost"), BuildLogDir: e.buildLogs,
		Metrics: func(app string) (controller.AppMetrics, bool) {
			return controller.AppMetrics{App: app, Minutes: []controller.MetricsMinute{
				minute(created.Add(-time.Minute)), minute(created), minute(created.Add(time.Minute)),
			}}, true
		}})
	w := e.do("GET", "/v1/apps/shop/metrics", "", e.tokens["admin"])
	var got controller.AppMetrics
	if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &got) != nil {
		t.Fatalf("GET /v1/apps/shop/metrics = %d %s", w.Code, w.Body)
	}
	want := controller.AppMetrics{App: "shop", Minutes: []controller.MetricsMinute{
		{Start: created.Add(-time.Minute)}, minute(created), minute(created.Add(time.Minute)),
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("metrics of shop (-want +got):\n%s", diff)
	}
}
