package api

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"paas/controller"
)

// TestUserLimitsAPI: an admin sets a user's app limit; the user's
// creations past it are refused with 403 and the reason; bad limits are
// 422 and change nothing; the user cannot raise their own.
func TestUserLimitsAPI(t *testing.T) {
	e := newEnv(t)
	admin, otto := e.tokens["admin"], e.tokens["other"]
	quota := func(body []byte) controller.UserQuota {
		t.Helper()
		var q controller.UserQuota
		if err := json.Unmarshal(body, &q); err != nil {
			t.Fatalf("limits answer %s: %v", body, err)
		}
		return q
	}
	w := e.do("PUT", "/v1/users/otto/limits", `{"apps":1}`, admin)
	if w.Code != http.StatusOK {
		t.Fatalf("PUT limits as admin = %d %s", w.Code, w.Body)
	}
	one := 1
	if diff := cmp.Diff(controller.UserQuota{User: "otto", Apps: &one, AppLimit: &one}, quota(w.Body.Bytes())); diff != "" {
		t.Errorf("PUT limits answer (-want +got):\n%s", diff)
	}
	if w := e.do("POST", "/v1/apps", `{"name":"otto-one"}`, otto); w.Code != http.StatusCreated {
		t.Fatalf("first app = %d %s", w.Code, w.Body)
	}
	w = e.do("POST", "/v1/apps", `{"name":"otto-two"}`, otto)
	var body struct{ Error string }
	_ = json.Unmarshal(w.Body.Bytes(), &body)
	if want := "you own 1 apps, the most you may (your limit is 1): destroy one, or ask an admin to raise your limit"; w.Code != http.StatusForbidden || body.Error != want {
		t.Errorf("app past the limit = %d %q, want 403 %q", w.Code, body.Error, want)
	}
	for _, c := range []struct{ body, msg string }{
		{`{"apps":-1}`, "app limit -1: must be between 0 and 100000"},
		{`{"apps":100001}`, "app limit 100001: must be between 0 and 100000"},
		{`{"apps":"5"}`, "invalid JSON body"},
		{`{"apps":1,"memory":5}`, `invalid JSON body: json: unknown field "memory"`},
	} {
		w := e.do("PUT", "/v1/users/otto/limits", c.body, admin)
		_ = json.Unmarshal(w.Body.Bytes(), &body)
		if w.Code != http.StatusUnprocessableEntity || len(body.Error) < len(c.msg) || body.Error[:len(c.msg)] != c.msg {
			t.Errorf("PUT limits %s = %d %q, want 422 %q", c.body, w.Code, body.Error, c.msg)
		}
	}
	if w := e.do("PUT", "/v1/users/otto/limits", `{"apps":50}`, otto); w.Code != http.StatusForbidden {
		t.Errorf("PUT own limits as otto = %d, want 403", w.Code)
	}
	if w := e.do("PUT", "/v1/users/nobody/limits", `{"apps":5}`, admin); w.Code != http.StatusNotFound {
		t.Errorf("PUT limits of an unknown user = %d, want 404", w.Code)
	}
	w = e.do("GET", "/v1/users/otto/limits", "", admin)
	if diff := cmp.Diff(controller.UserQuota{User: "otto", Apps: &one, AppLimit: &one, AppsOwned: 1}, quota(w.Body.Bytes())); diff != "" {
		t.Errorf("GET limits after refused changes (-want +got):\n%s", diff)
	}
	// Back to the server's default (none in this store).
	w = e.do("PUT", "/v1/users/otto/limits", `{"apps":null}`, admin)
	if diff := cmp.Diff(controller.UserQuota{User: "otto", AppsOwned: 1}, quota(w.Body.Bytes())); diff != "" {
		t.Errorf("PUT limits null (-want +got):\n%s", diff)
	}
	if w := e.do("POST", "/v1/apps", `{"name":"otto-two"}`, otto); w.Code != http.StatusCreated {
		t.Errorf("app under the default = %d %s", w.Code, w.Body)
	}
}
