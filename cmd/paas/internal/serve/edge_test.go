package serve

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"paas/controller"
	"paas/router"
)

// oneTable is a router.TableSource that has one table and then waits.
type oneTable struct{ t controller.RoutingTable }

func (s oneTable) Table(ctx context.Context, after int64) (controller.RoutingTable, error) {
	if after < s.t.Version {
		return s.t, nil
	}
	<-ctx.Done()
	return controller.RoutingTable{}, ctx.Err()
}

// TestEdgeSendsAPIHostsToTheAPI runs the HTTP side as paas server does
// (the router's fast path, then the edge, the router and the API) with a
// routing table in which an app holds the API's host name and a wildcard
// over it, as a domain row slipped past the API's checks would give: every
// request for the API's name still reaches the API, in any spelling;
// the app keeps its other names.
func TestEdgeSendsAPIHostsToTheAPI(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "thief")
	}))
	defer app.Close()
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "api") })

	s := Settings{APIHosts: "paas.example.com", Listen: ":8000"}
	apiHosts, err := s.DeriveAPIHosts(func() (string, error) { return "box", nil })
	if err != nil {
		t.Fatal(err)
	}
	table := controller.RoutingTable{Version: 2, BaseDomain: "apps.example.com", APIHosts: apiHosts, Apps: []controller.AppRoute{{
		App:       "thief",
		Domains:   []string{"thief.apps.example.com", "paas.example.com", "*.example.com"},
		Endpoints: []controller.Endpoint{{Instance: "web.1", Release: 1, Address: strings.TrimPrefix(app.URL, "http://")}},
	}}}
	rtr, err := router.New(router.Options{BaseDomain: "apps.example.com", APIHosts: apiHosts})
	if err != nil {
		t.Fatal(err)
	}
	rtr.Update(table)
	front := newEdge("apps.example.com", apiHosts, rtr, api)
	ctx, cancel := context.WithCancel(context.Background())
	followed := make(chan struct{})
	go func() { front.follow(ctx, oneTable{table}); close(followed) }()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() {
		served <- rtr.ServeWith(ctx, ln, &http.Server{Handler: rtr.ACMEHandler(front), ReadHeaderTimeout: 5 * time.Second})
	}()
	defer func() {
		cancel()
		<-followed
		if err := <-served; err != nil {
			t.Errorf("ServeWith: %v", err)
		}
	}()
	// Wait until the edge has the table's custom domains.
	for deadline := time.Now().Add(5 * time.Second); !front.custom.Load().exact["paas.example.com"]; {
		if time.Now().After(deadline) {
			t.Fatal("the edge never took the table")
		}
		time.Sleep(10 * time.Millisecond)
	}

	client := &http.Client{Timeout: 5 * time.Second}
	for _, c := range []struct{ host, want string }{
		{"paas.example.com", "api"},
		{"paas.example.com:8000", "api"},
		{"PAAS.Example.COM.", "api"},
		{"127.0.0.1", "api"},
		{"thief.apps.example.com", "thief"},
		{"www.example.com", "thief"},
	} {
		for _, method := range []string{"GET", "POST"} { // POST with a body: the fast path's other branch
			req, err := http.NewRequest(method, "http://"+ln.Addr().String()+"/v1/me", strings.NewReader("{}"))
			if err != nil {
				t.Fatal(err)
			}
			req.Host = c.host
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("%s Host: %s: %v", method, c.host, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) != c.want {
				t.Errorf("%s Host: %s reached %q (%d); want %q", method, c.host, body, resp.StatusCode, c.want)
			}
		}
	}
}

// TestDeriveAPIHosts: the default is derived from the git host, the listen
// address and the machine's name; --api-hosts replaces it.
func TestDeriveAPIHosts(t *testing.T) {
	hostname := func() (string, error) { return "Box.Example.NET", nil }
	for _, c := range []struct {
		s    Settings
		want string
	}{
		{Settings{Listen: ":8000"}, "box.example.net,localhost"},
		{Settings{Listen: ":8000", GitHost: "paas.example.com"}, "paas.example.com,box.example.net,localhost"},
		{Settings{Listen: "10.0.0.5:8000", GitHost: "Paas.Example.com."}, "paas.example.com,10.0.0.5,box.example.net,localhost"},
		{Settings{Listen: "[::]:8000"}, "box.example.net,localhost"},
		{Settings{Listen: ":8000", GitHost: "paas.example.com", APIHosts: "api.example.com, PAAS.example.com:443"}, "api.example.com,paas.example.com"},
	} {
		got, err := c.s.DeriveAPIHosts(hostname)
		if err != nil || strings.Join(got, ",") != c.want {
			t.Errorf("DeriveAPIHosts(%+v) = %q, %v; want %q", c.s, got, err, c.want)
		}
	}
	got, err := routerAPIHosts("", "http://Paas.example.com:8000")
	if err != nil || strings.Join(got, ",") != "paas.example.com" {
		t.Errorf("routerAPIHosts(\"\", controller URL) = %q, %v; want paas.example.com", got, err)
	}
}
