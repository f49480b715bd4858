package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"paas/controller"
)

// TestCertNames: an app's certificate may name only the app's own names
// (and wildcards): a certificate that also names another app's domain, a
// name under another app's default domain or the API's host name is
// refused with a clear error and stores nothing.
func TestCertNames(t *testing.T) {
	e := newEnv(t)
	vars := e.fixture("owner")
	app, other := vars["app"], e.fixture("owner")["app"]
	for _, c := range []struct {
		name  string
		names []string
		msg   string // "" for accepted
	}{
		{"own names", []string{app + ".example.com", app + ".localhost"}, ""},
		{"wildcard over own name", []string{"*.example.com"}, ""},
		{"another app's custom domain", []string{app + ".example.com", other + ".example.com"},
			"the certificate names " + other + ".example.com, a domain of another app"},
		{"another app's default domain", []string{app + ".example.com", other + ".localhost"},
			"the certificate names " + other + ".localhost, which belongs to the app " + other},
		{"under another app's default domain", []string{app + ".example.com", "login." + other + ".localhost"},
			"which belongs to the app " + other},
		{"wildcard under another app's default domain", []string{app + ".example.com", "*." + other + ".localhost"},
			"which belongs to the app " + other},
		{"the API's name", []string{app + ".example.com", "paas.example.com"},
			"the certificate names paas.example.com, a host name of this paas server's API"},
	} {
		t.Run(c.name, func(t *testing.T) {
			certPEM, keyPEM := selfSigned(t, c.names[0], c.names[1:]...)
			body, _ := json.Marshal(controller.NewCert{CertPEM: certPEM, KeyPEM: keyPEM})
			before, _ := e.st.Certs(t.Context(), app)
			w := e.do("POST", "/v1/apps/"+app+"/certs", string(body), e.tokens["owner"])
			after, _ := e.st.Certs(t.Context(), app)
			if c.msg == "" {
				if w.Code != http.StatusCreated {
					t.Errorf("certs:add %v = %d %s; want 201", c.names, w.Code, w.Body)
				}
				return
			}
			var out struct{ Error string }
			_ = json.Unmarshal(w.Body.Bytes(), &out)
			if w.Code != http.StatusUnprocessableEntity || !strings.Contains(out.Error, c.msg) {
				t.Errorf("certs:add %v = %d %q; want 422 with %q", c.names, w.Code, out.Error, c.msg)
			}
			if len(after) != len(before) {
				t.Errorf("refused certificate changed the app's certificates: %d before, %d after", len(before), len(after))
			}
		})
	}
}

// TestDomainNamesAccepted: names near the reserved ones stay free: an
// app's own names under its default domain, a wildcard below the API's
// name, the apex and siblings of the API's name.
func TestDomainNamesAccepted(t *testing.T) {
	e := newEnv(t)
	app := e.fixture("owner")["app"]
	for _, name := range []string{
		"login." + app + ".localhost",
		"*." + app + ".localhost",
		"a.b." + app + ".localhost",
		"*.paas.example.com",
		"example.com",
		"www.example.com",
	} {
		w := e.do("POST", "/v1/apps/"+app+"/domains", `{"name":"`+name+`"}`, e.tokens["owner"])
		if w.Code != http.StatusCreated {
			t.Errorf("domains:add %s to %s = %d %s; want 201", name, app, w.Code, w.Body)
		}
	}
}
