package tests

import (
	"net/http"
	"strings"
	"testing"
)

// TestReservedNames: with --api-hosts set, the API's host name and a
// wildcard over it cannot be added to an app, nor a name under another
// app's default domain, nor an app named after a stack; a request with
// the API's name as its Host reaches the API.
func TestReservedNames(t *testing.T) {
	s := startServer(t, serverOptions{extra: []string{"--api-hosts", "paas.e2e.test,127.0.0.1"}})
	admin, _ := loginAdmin(t, s)
	alice, _ := createUser(t, s, admin, "alice")
	mustCLI(t, alice, "apps:create", "shop")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"domains:add", "-a", "shop", "paas.e2e.test"}, "paas.e2e.test is reserved: it is a host name of this paas server's API and dashboard"},
		{[]string{"domains:add", "-a", "shop", "*.e2e.test"}, "*.e2e.test is reserved: it covers paas.e2e.test"},
		{[]string{"domains:add", "-a", "shop", "login.other.localhost"}, "other.localhost and every name under it belong to the app other"},
		{[]string{"apps:create", "stack-run"}, "app name stack-run is reserved"},
	} {
		wantCLIError(t, alice, c.want, c.args...)
	}
	code, body, err := getHost(s.url+"/v1/info", "paas.e2e.test")
	if err != nil || code != http.StatusOK || !strings.Contains(body, `"base_domain"`) {
		t.Errorf("GET /v1/info with Host: paas.e2e.test = %d %q, %v; want the API's answer", code, body, err)
	}
	if got := mustCLI(t, alice, "domains", "-a", "shop"); strings.Contains(got, "e2e.test") {
		t.Errorf("paas domains after refused adds = %q; want none of them", got)
	}
}
