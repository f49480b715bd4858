package tests

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestTwentyIdleApps deploys 20 small apps, checks that each answers
// through the router by its own Host, and reports the server's resident
// memory with them deployed and idle (a figure for the record: the
// machine's other load makes it no threshold).
func TestTwentyIdleApps(t *testing.T) {
	r := newAppRig(t)
	rss := func() int {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", r.s.cmd.Process.Pid))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
				kb, _ := strconv.Atoi(f[1])
				return kb
			}
		}
		t.Fatal("no VmRSS")
		return 0
	}
	before := rss()
	const n = 20
	for i := range n {
		app := fmt.Sprintf("idle%02d", i)
		mustCLI(t, r.admin, "apps:create", app)
		mustCLI(t, r.admin, "config:set", "-a", app, "GREETING=hi")
		mustCLI(t, r.admin, "releases:create", "-a", app, "--image", busyboxImage, "--process", "web="+webCommand)
	}
	for i := range n {
		app := fmt.Sprintf("idle%02d", i)
		waitUntil(t, app+" answering through the router", 60*time.Second, func() (bool, string) {
			code, body, err := getHost(r.s.url+"/", app+".localhost")
			return err == nil && code == 200 && strings.HasPrefix(body, app+" web.1 v"), fmt.Sprint(code, " ", body, " ", err)
		})
	}
	time.Sleep(10 * time.Second) // idle: reconcile loops and router only
	after := rss()
	t.Logf("paas server resident memory: %.1f MiB with no app, %.1f MiB with %d apps deployed and idle", float64(before)/1024, float64(after)/1024, n)
}
